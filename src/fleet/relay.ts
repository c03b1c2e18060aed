/**
 * The release crosses the operator's link once: hosts that hold the bundle (checked by its sha256
 * there) pass it on to hosts that do not, over the hosts' own network, each serving a few at a time
 * (a tree). A relay uses a key made for this rollout only, which can do nothing but read the bundle:
 * on the holder, `authorized_keys` gets a line `restrict,command="..."` naming it and a script that
 * only streams that file from an offset; on the receiver, the private key and the holder's host key
 * (taken from the operator's own known_hosts: the operator's trust, nothing learnt on first use)
 * live in the staging folder for the copy only. No agent or key of the operator's is forwarded, no
 * service listens; the lines, scripts and keys are removed when the copy (or the rollout) ends.
 * A relay that fails falls back to the operator, and the report says where each copy came from.
 */
import { randomBytes } from "node:crypto";
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
}

/** Where a host's copy comes from: the operator, or a host that holds the bundle. */
export type CopySource = { kind: "operator" } | { kind: "host"; host: InventoryHost };

interface Holder {
  host: InventoryHost;
  active: number;
}

/** Makes the rollout's relay key in its private folder (ssh-keygen: the system's own tool). */
export async function makeRelayKey(controlDir: string): Promise<RelayKey> {
  const id = `sealift-relay-${randomBytes(6).toString("hex")}`;
  const file = path.join(controlDir, "relay_key");
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", id, "-f", file]);
  return {
    id,
    privateKey: await fs.readFile(file, "utf8"),
    publicKey: (await fs.readFile(`${file}.pub`, "utf8")).trim(),
  };
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
  // The key may run that script and nothing else: no shell, no forwarding, no pty (restrict).
  await holder.run(
    `umask 077 && d=$(cd ${shellQuote(path.posix.dirname(remote))} && pwd) && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && ` +
      `{ grep -qF ${shellQuote(key.id)} ~/.ssh/authorized_keys || printf '%s\\n' "restrict,command=\\"/bin/sh $d/.${key.id}.sh\\" ${key.publicKey}" >> ~/.ssh/authorized_keys; }`,
    signal ? { signal } : {},
  );
}

/** Removes the holder's relay line and script (at the rollout's end, whatever happened). */
export async function cleanHolder(holder: SshConnection, key: RelayKey, staging: string): Promise<void> {
  await holder.run(
    `if [ -f ~/.ssh/authorized_keys ]; then grep -vF ${shellQuote(key.id)} ~/.ssh/authorized_keys > ~/.ssh/.authorized_keys.sealift; cat ~/.ssh/.authorized_keys.sealift > ~/.ssh/authorized_keys; rm -f ~/.ssh/.authorized_keys.sealift; fi; rm -f ${shellQuote(staging)}/.${key.id}.sh`,
    { allowFailure: true },
  );
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
    await receiver.run(`${command} >> ${shellQuote(partial)}`, signal ? { signal } : {});
    const after = await receiver.run(`stat -c %s ${shellQuote(partial)} 2>/dev/null || echo 0`);
    // The partial held `offset` bytes before (ensureFile reads its size, or removes it for 0).
    return Number(after.stdout.trim()) - offset;
  } finally {
    await receiver.run(`rm -f ${shellQuote(keyFile)} ${shellQuote(knownFile)}`, { allowFailure: true });
  }
}
