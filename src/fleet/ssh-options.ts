/**
 * What an inventory may hand to ssh (ansible_ssh_common_args): the options a fleet needs and
 * nothing else. A one-line inventory can also be a valid ssh config (`-F` pointing at itself), and
 * ssh has many ways to run a command, write a file or open a tunnel on the operator's machine
 * (ProxyCommand, LocalCommand, KnownHostsCommand, Match exec, -E, -R/-L/-D, -A, SendEnv,
 * PKCS11Provider...). So this is an allow-list: port, user, identity, known hosts and their
 * checking, timeouts and keep-alives, address family, compression, and a jump host that is itself a
 * plain host. Words are split as Ansible splits them (Python's shlex: `-F my\ config` is one word).
 */
import { split } from "shlex";

/**
 * `-o` keys an inventory may set, as ssh_config(5) spells them, with the values each takes (ssh
 * compares keys without case).
 */
const ALLOWED_OPTIONS: Record<string, RegExp> = {
  Port: /^\d{1,5}$/,
  User: /^[A-Za-z0-9._][A-Za-z0-9._@-]*$/,
  IdentityFile: /^[^\0\r\n]+$/,
  IdentitiesOnly: /^(yes|no)$/i,
  UserKnownHostsFile: /^[^\s]+( [^\s]+)*$/,
  GlobalKnownHostsFile: /^[^\s]+( [^\s]+)*$/,
  StrictHostKeyChecking: /^(yes|accept-new)$/i,
  HostKeyAlias: /^[A-Za-z0-9._:[\]-]+$/,
  CheckHostIP: /^(yes|no)$/i,
  ConnectTimeout: /^\d{1,5}$/,
  ConnectionAttempts: /^\d{1,3}$/,
  ServerAliveInterval: /^\d{1,5}$/,
  ServerAliveCountMax: /^\d{1,5}$/,
  TCPKeepAlive: /^(yes|no)$/i,
  AddressFamily: /^(any|inet|inet6)$/i,
  Compression: /^(yes|no)$/i,
  ProxyJump: /.*/, // checked by plainJumpHosts
};
const ALLOWED_KEYS = new Map(Object.entries(ALLOWED_OPTIONS).map(([key, rule]) => [key.toLowerCase(), rule]));

/** Flags without a value an inventory may give. */
const ALLOWED_FLAGS = new Set(["-4", "-6", "-C"]);
/** Flags with a value, and the -o key each stands for. */
const VALUE_FLAGS: Record<string, string> = {
  "-p": "port",
  "-l": "user",
  "-i": "identityfile",
  "-J": "proxyjump",
};

/** What may pass, for messages. */
export const ALLOWED_SSH_OPTIONS = `${[...ALLOWED_FLAGS, ...Object.keys(VALUE_FLAGS)].join(" ")} -o ${Object.keys(ALLOWED_OPTIONS).join(", ")} (StrictHostKeyChecking yes or accept-new; ProxyJump a plain [user@]host[:port])`;

/** A jump host spec that is a plain host: [user@]host[:port], comma-separated, never "-..." or a URI with options. */
function plainJumpHosts(value: string): boolean {
  if (!value || value.toLowerCase() === "none") return false;
  return value
    .split(",")
    .every((hop) =>
      /^(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(
        hop,
      ),
    );
}

function allowedSetting(key: string, value: string): boolean {
  const rule = ALLOWED_KEYS.get(key.toLowerCase());
  if (!rule || !rule.test(value)) return false;
  return key.toLowerCase() === "proxyjump" ? plainJumpHosts(value) : true;
}

export type SshArgsCheck = { ok: true; args: string[] } | { ok: false; word: string; why: string };

/**
 * The ssh arguments of `common` (ansible_ssh_common_args) split as Ansible does, each checked
 * against the allow-list; the first one refused, with why.
 */
export function checkSshArgs(common: string): SshArgsCheck {
  let words: string[];
  try {
    words = split(common);
  } catch (error) {
    return { ok: false, word: common, why: `does not split into words (${(error as Error).message})` };
  }
  const refuse = (word: string, why: string): SshArgsCheck => ({ ok: false, word, why });
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (ALLOWED_FLAGS.has(word)) continue;
    const flag = word.slice(0, 2);
    if (flag === "-o" || VALUE_FLAGS[flag]) {
      const value = word.length > 2 ? word.slice(2) : words[++i];
      if (value === undefined) return refuse(word, "has no value");
      if (flag === "-o") {
        const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/.exec(value);
        if (!m) return refuse(`-o ${value}`, "is not KEY=VALUE");
        if (!allowedSetting(m[1]!, m[2]!.trim()))
          return refuse(
            `-o ${value}`,
            ALLOWED_KEYS.has(m[1]!.toLowerCase())
              ? "has a value sealift does not take"
              : "is not an option sealift lets an inventory set",
          );
      } else if (!allowedSetting(VALUE_FLAGS[flag]!, value))
        return refuse(`${flag} ${value}`, "has a value sealift does not take");
      continue;
    }
    return refuse(
      word,
      word.startsWith("-")
        ? "is not an option sealift lets an inventory set"
        : "is not an option (a word ssh would take as the host or a command)",
    );
  }
  return { ok: true, args: words };
}
