/**
 * The door to a fleet host: the system's OpenSSH, one multiplexed connection per host
 * (ControlMaster), BatchMode (a password or passphrase prompt is an error, never a hang), host
 * keys checked against the user's known_hosts (unknown keys refused unless accept-new is asked).
 * No agent of our own on the host: commands, and files streamed over the same connection.
 */
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { SealiftError } from "../errors.js";
import { runCommand, type CommandResult } from "../process/run-command.js";
import type { InventoryHost } from "./inventory.js";

export interface SshOptions {
  acceptNewHostKeys: boolean;
  connectTimeoutSeconds: number;
  /** The operator's home folder, for a "~" in ssh's own settings (its known_hosts files). */
  operatorHome: string;
}

const CONTROL_PREFIX = "sl-ssh-";

/** Removes this user's control folders whose rollout is gone (they may hold the relay's key). */
async function sweepControlDirs(): Promise<void> {
  const uid = process.getuid?.();
  for (const name of await fs.readdir(os.tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(CONTROL_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    const stat = await fs.lstat(dir).catch(() => null);
    if (!stat?.isDirectory() || stat.uid !== uid) continue;
    const pid = Number((await fs.readFile(path.join(dir, "pid"), "utf8").catch(() => "")).trim());
    const alive =
      pid > 0 &&
      (() => {
        try {
          process.kill(pid, 0);
          return true;
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === "EPERM";
        }
      })();
    // No pid file: an older sealift's, or one cut before it was written: gone after an hour.
    if (!alive && (pid > 0 || Date.now() - stat.mtimeMs > 3600_000))
      await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `use` with a private folder for the control sockets, removed afterwards: made by mkdtemp
 * (mode 0700, owned by this user, a name nobody could have planted beforehand) under the system's
 * temporary folder (short: a socket's path is limited to about 100 bytes).
 */
export async function withControlDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  await sweepControlDirs();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), CONTROL_PREFIX));
  // Who owns it: a folder whose process is gone (kill -9 of a rollout) is removed by the next one.
  await fs.writeFile(path.join(dir, "pid"), `${process.pid}\n`, { mode: 0o600 });
  try {
    return await use(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Single-quotes a word for the remote shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** What ssh's own failure (exit 255) means, with what to do. */
export function sshFailure(host: InventoryHost, stderr: string): SealiftError {
  const where = `${host.name} (${host.user ? `${host.user}@` : ""}${host.address}${host.port ? `:${host.port}` : ""})`;
  const port = host.port ? `-p ${host.port} ` : "";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr))
    return new SealiftError("SSH_HOST_KEY", `${where}: its host key has changed since it was recorded`, {
      hint: `if the server was reinstalled, remove the old key (ssh-keygen -R ${host.address}) and accept the new one after checking its fingerprint; otherwise do not connect`,
    });
  if (/Host key verification failed|No .* host key is known/.test(stderr))
    return new SealiftError("SSH_HOST_KEY", `${where}: its host key is not in known_hosts`, {
      hint: `check its fingerprint, then accept it: ssh-keyscan ${port}${host.address} >> ~/.ssh/known_hosts (or run with --accept-new-host-keys)`,
    });
  if (/Permission denied|Too many authentication failures/.test(stderr))
    return new SealiftError("SSH_AUTH", `${where}: the key was refused (no password prompt in batch mode)`, {
      hint: "set ansible_user and ansible_ssh_private_key_file for this host, or load the key into ssh-agent",
    });
  return new SealiftError(
    "HOST_UNREACHABLE",
    `${where}: cannot connect: ${stderr.trim().split("\n").pop() ?? "ssh failed"}`,
    {
      hint: "check that the host is up, its address and port in the inventory, and that sshd runs there",
    },
  );
}

export class SshConnection {
  private readonly base: string[];

  constructor(
    readonly host: InventoryHost,
    options: SshOptions,
    /** The private folder of withControlDir. */
    controlDir: string,
  ) {
    // One connection per inventory host, even where two names share an address, user and port
    // (ssh's %C would give them one socket, and one's `-O exit` would cut the other's session).
    const socket = createHash("sha256").update(host.name).digest("hex").slice(0, 16);
    this.base = [
      "-o",
      "BatchMode=yes",
      "-o",
      `StrictHostKeyChecking=${options.acceptNewHostKeys ? "accept-new" : "yes"}`,
      "-o",
      `ConnectTimeout=${options.connectTimeoutSeconds}`,
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ControlMaster=auto",
      "-o",
      `ControlPath=${controlDir}/${socket}`,
      "-o",
      "ControlPersist=120",
      ...(host.port ? ["-p", String(host.port)] : []),
      ...(host.user ? ["-l", host.user] : []),
      ...(host.keyFile ? ["-i", host.keyFile, "-o", "IdentitiesOnly=yes"] : []),
      ...host.sshArgs,
    ];
  }

  /** Runs a shell command on the host; an ssh failure (not the command's) is a typed error. */
  async run(
    command: string,
    options: { signal?: AbortSignal; input?: Readable; allowFailure?: boolean } = {},
  ): Promise<CommandResult> {
    // "--": nothing from the inventory can be read as an option after it.
    const result = await runCommand("ssh", [...this.base, "--", this.host.address, command], {
      allowFailure: true,
      ownProcessGroup: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.input ? { input: options.input } : {}),
    });
    if (result.exitCode === 255) throw sshFailure(this.host, result.stderr);
    if (result.exitCode !== 0 && !options.allowFailure)
      throw new SealiftError(
        "COMMAND_FAILED",
        `${this.host.name}: \`${command.slice(0, 80)}\` exited with ${result.exitCode}`,
        {
          details: result.stderr.trim().split("\n").slice(-8),
        },
      );
    return result;
  }

  /** Appends a local file's bytes from `offset` to a remote file; returns the bytes sent. */
  async append(local: string, offset: number, remote: string, signal?: AbortSignal): Promise<number> {
    let sent = 0;
    const stream = createReadStream(local, { start: offset });
    stream.on("data", (chunk) => (sent += chunk.length));
    await this.run(`cat >> ${shellQuote(remote)}`, { input: stream, ...(signal ? { signal } : {}) });
    return sent;
  }

  /** Ends the shared connection. */
  async close(): Promise<void> {
    await runCommand("ssh", [...this.base, "-O", "exit", "--", this.host.address], { allowFailure: true });
  }
}
