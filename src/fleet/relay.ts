/**
 * The release crosses the operator's link once: hosts that hold the bundle (checked by its sha256
 * there) pass it on to hosts that do not, over the hosts' own network, each serving a few at a time
 * (a tree). A relay uses a key made for this rollout only, which can do nothing but read the bundle:
 * on the holder, `authorized_keys` gets a line `restrict,command="..."` naming it and a script that
 * only streams that file from an offset; on the receiver, the private key and the holder's host key
 * (taken from the operator's own known_hosts: the operator's trust, nothing learnt on first use)
 * live in the staging folder for the copy only. No agent or key of the operator's is forwarded, no
 * service listens; the lines, scripts and keys are removed when the copy (or the rollout) ends,
 * `authorized_keys` left byte for byte as it was (authorized-keys.ts). What an interrupted rollout
 * left dies by itself (the line's `expiry-time`, where the holder's OpenSSH has it, and `from`, the
 * fleet's addresses) and is removed by the next rollout or `rollout status` (sweepRelayLeftovers).
 * A receiver takes at most the bundle's size from a holder. A relay that fails falls back to the
 * operator, and the report says where each copy came from.
 */
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { addRelayLine, optionValue, relayIds, removeRelayLines } from "./authorized-keys.js";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { runCommand } from "../process/run-command.js";
import type { InventoryHost } from "./inventory.js";
import { shellQuote, type SshConnection } from "./ssh.js";

/** Copies one host serves at once. */
const FANOUT = 2;

export interface RelayKey {
  id: string;
  privateKey: string;
  publicKey: string;
  /** The addresses the rollout's hosts are reached at (IP literals only): the line's `from=`, or none. */
  from: string[];
}

/** How long a relay line lives on a holder if nothing removes it (an interrupted rollout). */
const RELAY_LIFETIME_SECONDS = 6 * 3600;

/** Where a host's copy comes from: the operator, or a host that holds the bundle. */
export type CopySource = { kind: "operator" } | { kind: "host"; host: InventoryHost };

interface Holder {
  host: InventoryHost;
  active: number;
}

/** Makes the rollout's relay key in its private folder (ssh-keygen: the system's own tool). */
export async function makeRelayKey(controlDir: string, hosts: readonly InventoryHost[]): Promise<RelayKey> {
  const id = `sealift-relay-${randomBytes(6).toString("hex")}`;
  const file = path.join(controlDir, "relay_key");
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", id, "-f", file]);
  // sshd matches from= against the client's address (names only with UseDNS): IPs or nothing.
  const addresses = hosts.map((h) => h.address);
  return {
    id,
    privateKey: await fs.readFile(file, "utf8"),
    publicKey: (await fs.readFile(`${file}.pub`, "utf8")).trim(),
    from: addresses.every((a) => isIP(a)) ? [...new Set(addresses)] : [],
  };
}

const AUTHORIZED_KEYS = "~/.ssh/authorized_keys";

/**
 * The holder's authorized_keys (null: there is none), with what the edit needs to know: its sha256
 * (for the write's check that nobody changed it meanwhile) and the holder's OpenSSH version.
 */
async function readAuthorizedKeys(
  conn: SshConnection,
  signal?: AbortSignal,
): Promise<{ content: Buffer | null; sha256: string; openssh: number }> {
  const read = await conn.run(
    `f=${AUTHORIZED_KEYS}; v=$(ssh -V 2>&1 | grep -o "OpenSSH_[0-9]*[.][0-9]*" | cut -d_ -f2); echo "openssh=\${v:-0}"; ` +
      `if [ -f "$f" ]; then echo "sha256=$(sha256sum < "$f" | cut -c1-64)"; base64 < "$f"; else echo "sha256=absent"; fi`,
    signal ? { signal } : {},
  );
  const [versionLine, shaLine, ...body] = read.stdout.split("\n");
  const sha256 = shaLine?.replace(/^sha256=/, "") ?? "absent";
  return {
    content: sha256 === "absent" ? null : Buffer.from(body.join(""), "base64"),
    sha256,
    openssh: Number(versionLine?.replace(/^openssh=/, "")) || 0,
  };
}

/**
 * Rewrites the holder's authorized_keys as `edit` makes it from what is there, atomically (a file
 * beside it with its mode and owner, renamed over it; in place where it is a link), only if it did
 * not change since it was read (else read and edit again, once). `edit` returns null to remove a
 * file that was not there before, or the same bytes for no change.
 */
async function editAuthorizedKeys(
  conn: SshConnection,
  edit: (content: Buffer | null, openssh: number) => Buffer | null,
  signal?: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const before = await readAuthorizedKeys(conn, signal);
    const after = edit(before.content, before.openssh);
    if (after === null ? before.content === null : before.content?.equals(after)) return;
    const check =
      before.sha256 === "absent"
        ? `[ ! -e "$f" ]`
        : `[ "$(sha256sum < "$f" | cut -c1-64)" = ${before.sha256} ]`;
    const place =
      after === null
        ? `rm -f "$f" "$t"`
        : `if [ -L "$f" ]; then cat "$t" > "$f" && rm -f "$t"; else ` +
          `{ [ -f "$f" ] && chmod --reference="$f" "$t" && { chown --reference="$f" "$t" 2>/dev/null || true; }; } ; mv -f "$t" "$f"; fi`;
    const written = await conn.run(
      `umask 077; f=${AUTHORIZED_KEYS}; t=~/.ssh/.authorized_keys.sealift-$$; mkdir -p ~/.ssh && cat > "$t" && ` +
        `if ${check}; then ${place}; else rm -f "$t"; exit 3; fi`,
      { input: Readable.from([after ?? Buffer.alloc(0)]), allowFailure: true, ...(signal ? { signal } : {}) },
    );
    if (written.exitCode === 0) return;
    if (written.exitCode !== 3 || attempt > 0)
      throw new Error(`${conn.host.name}: could not rewrite ${AUTHORIZED_KEYS}: ${written.stderr.trim()}`);
  }
}

/**
 * Removes what interrupted rollouts left on a host: relay lines of other rollouts in its
 * authorized_keys (exactly as they were added) and their scripts and keys in its staging folder.
 * Run when a rollout (or `rollout status`) reaches a host.
 */
export async function sweepRelayLeftovers(
  conn: SshConnection,
  staging: string,
  current: string | null,
  signal?: AbortSignal,
): Promise<void> {
  await editAuthorizedKeys(
    conn,
    (content) => (content === null ? null : removeRelayLines(content, (id) => id !== current).content),
    signal,
  );
  await conn.run(
    `for f in ${shellQuote(staging)}/.sealift-relay-*; do case "$f" in *${current ?? "-none-"}*|*'*') ;; *) rm -f "$f";; esac; done`,
    { allowFailure: true, ...(signal ? { signal } : {}) },
  );
}

/**
 * The hosts that hold the bundle and who copies from whom: a host takes its copy from a holder with
 * a free slot, else waits for one; only when no host holds it yet does the operator send (one copy
 * at a time), so the operator's link carries it about once.
 */
export class RelayPool {
  private readonly holders: Holder[] = [];
  private operatorBusy = false;
  private waiting: Array<() => void> = [];
  /** Hosts whose holder line is in place (removed at the end). */
  readonly prepared = new Set<string>();

  /** The source for the next copy; release() it when the copy is done. */
  async acquire(signal?: AbortSignal): Promise<CopySource> {
    for (;;) {
      const free = this.holders.filter((h) => h.active < FANOUT).sort((a, b) => a.active - b.active)[0];
      if (free) {
        free.active++;
        return { kind: "host", host: free.host };
      }
      if (!this.holders.length && !this.operatorBusy) {
        this.operatorBusy = true;
        return { kind: "operator" };
      }
      if (signal?.aborted) return { kind: "operator" };
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(source: CopySource): void {
    if (source.kind === "operator") this.operatorBusy = false;
    else {
      const holder = this.holders.find((h) => h.host.name === source.host.name);
      if (holder) holder.active--;
    }
    this.wake();
  }

  /** A host that now holds the bundle (its sha256 checked there) serves the others. */
  add(host: InventoryHost): void {
    if (!this.holders.some((h) => h.host.name === host.name)) this.holders.push({ host, active: 0 });
    this.wake();
  }

  /** A holder that failed to serve (unreachable from others, no ssh client...) serves no more. */
  drop(host: InventoryHost): void {
    const i = this.holders.findIndex((h) => h.host.name === host.name);
    if (i >= 0) this.holders.splice(i, 1);
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** The holder's lines for `address` in the operator's known_hosts (as ssh -G resolves which file). */
async function knownHostLines(holder: InventoryHost, home: string): Promise<string> {
  const config = await runCommand(
    "ssh",
    ["-G", ...holder.sshArgs, ...(holder.port ? ["-p", String(holder.port)] : []), "--", holder.address],
    { allowFailure: true },
  );
  const files = (/^userknownhostsfile (.+)$/m.exec(config.stdout)?.[1] ?? "~/.ssh/known_hosts")
    .split(/\s+/)
    .map((f) => f.replace(/^~(?=\/)/, home));
  const pattern = holder.port && holder.port !== 22 ? `[${holder.address}]:${holder.port}` : holder.address;
  const lines: string[] = [];
  for (const file of files) {
    const found = await runCommand("ssh-keygen", ["-F", pattern, "-f", file], { allowFailure: true });
    for (const line of found.stdout.split("\n"))
      if (line && !line.startsWith("#")) lines.push(`${pattern} ${line.split(/\s+/).slice(1).join(" ")}`);
  }
  return lines.join("\n");
}

/**
 * Makes `holder` able to serve `remote` (its staging path) to the relay key: a script that streams
 * the file from an offset and nothing else, and the key's restricted line in authorized_keys.
 */
export async function prepareHolder(
  holder: SshConnection,
  key: RelayKey,
  remote: string,
  signal?: AbortSignal,
): Promise<void> {
  const script = `${path.posix.dirname(remote)}/.${key.id}.sh`;
  const body = [
    "#!/bin/sh",
    "# sealift relay: streams one file from an offset, for one rollout; removed when it ends.",
    'case "$SSH_ORIGINAL_COMMAND" in ""|*[!0-9]*) echo "sealift relay: an offset, nothing else" >&2; exit 2;; esac',
    `exec tail -c +$((SSH_ORIGINAL_COMMAND + 1)) -- "$(dirname "$0")"/${shellQuote(path.posix.basename(remote))}`,
    "",
  ].join("\n");
  await holder.run(`umask 077 && cat > ${shellQuote(script)}`, {
    input: Readable.from([Buffer.from(body)]),
    ...(signal ? { signal } : {}),
  });
  // The staging folder's absolute path, and the holder's local time RELAY_LIFETIME_SECONDS from now
  // as expiry-time reads it (YYYYMMDDHHMM; none where its `date` cannot say), in one round trip.
  const until = Math.floor(Date.now() / 1000) + RELAY_LIFETIME_SECONDS;
  const [dir = "", time = ""] = (
    await holder.run(
      `cd ${shellQuote(path.posix.dirname(remote))} && pwd && { date -d @${until} +%Y%m%d%H%M 2>/dev/null || true; }`,
      signal ? { signal } : {},
    )
  ).stdout.split("\n");
  const expiry = /^\d{12}$/.test(time.trim()) ? time.trim() : null;
  // The key may run that script and nothing else: no shell, no forwarding, no pty (restrict); it
  // dies by itself (expiry-time, OpenSSH 8.2+) and works only from the fleet's addresses (from).
  await editAuthorizedKeys(
    holder,
    (content, openssh) => {
      if (content && relayIds(content).includes(key.id)) return content;
      const options = [
        "restrict",
        ...(expiry && openssh >= 8.2 ? [`expiry-time=${optionValue(expiry)}`] : []),
        ...(key.from.length ? [`from=${optionValue(key.from.join(","))}`] : []),
        `command=${optionValue(`/bin/sh ${shellQuote(`${dir}/.${key.id}.sh`)}`)}`,
      ].join(",");
      return addRelayLine(content, { options, publicKey: key.publicKey, id: key.id });
    },
    signal,
  );
}

/**
 * Removes the holder's relay line (authorized_keys as it was before, byte for byte; a file the relay
 * made is removed) and script, at the rollout's end, whatever happened.
 */
export async function cleanHolder(holder: SshConnection, key: RelayKey, staging: string): Promise<void> {
  await editAuthorizedKeys(holder, (content) =>
    content === null ? null : removeRelayLines(content, (id) => id === key.id).content,
  ).catch(() => undefined);
  await holder.run(`rm -f ${shellQuote(staging)}/.${key.id}.sh`, { allowFailure: true });
}

/**
 * On `receiver`, appends the holder's copy of the bundle from `offset` to `partial` over the
 * hosts' own network; returns the bytes that came. The key and the holder's host key sit in the
 * receiver's staging folder for the copy only.
 */
export async function relayCopy(
  receiver: SshConnection,
  holder: InventoryHost,
  key: RelayKey,
  partial: string,
  offset: number,
  /** The most the holder may send: the bundle's size less what the partial holds. */
  maxBytes: number,
  operatorHome: string,
  signal?: AbortSignal,
): Promise<number> {
  const dir = path.posix.dirname(partial);
  const keyFile = `${dir}/.${key.id}.key`;
  const knownFile = `${dir}/.${key.id}.known`;
  const known = await knownHostLines(holder, operatorHome);
  try {
    await receiver.run(`umask 077 && cat > ${shellQuote(keyFile)}`, {
      input: Readable.from([Buffer.from(key.privateKey)]),
      ...(signal ? { signal } : {}),
    });
    await receiver.run(`umask 077 && cat > ${shellQuote(knownFile)}`, {
      input: Readable.from([Buffer.from(`${known}\n`)]),
      ...(signal ? { signal } : {}),
    });
    const command = [
      "ssh",
      "-i",
      keyFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${knownFile}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "ForwardAgent=no",
      "-o",
      "ConnectTimeout=10",
      ...(holder.port ? ["-p", String(holder.port)] : []),
      ...(holder.user ? ["-l", holder.user] : []),
      "--",
      holder.address,
      String(offset),
    ]
      .map(shellQuote)
      .join(" ");
    // A holder that sends more than the bundle (a compromised one) cannot fill the receiver's disk.
    await receiver.run(
      `${command} | head -c ${maxBytes} >> ${shellQuote(partial)}`,
      signal ? { signal } : {},
    );
    const after = await receiver.run(`stat -c %s ${shellQuote(partial)} 2>/dev/null || echo 0`);
    // The partial held `offset` bytes before (ensureFile reads its size, or removes it for 0).
    return Number(after.stdout.trim()) - offset;
  } finally {
    await receiver.run(`rm -f ${shellQuote(keyFile)} ${shellQuote(knownFile)}`, { allowFailure: true });
  }
}
