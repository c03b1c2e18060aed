/**
 * What a rollout does on one host, over its ssh connection: send a file (resumable, checked there),
 * put the installer in place, ask what is installed.
 */
import { parseStatusJson } from "../installer/install-json.js";
import { sha256File } from "../util/hash-tap.js";
import { createReadStream, promises as fs, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { SealiftError } from "../errors.js";
import type { SshConnection } from "./ssh.js";
import { shellQuote } from "./ssh.js";
import { type InstallerCopy, type RolloutBundle } from "./rollout-types.js";

/**
 * Makes sure `remote` on the host holds `local` (digest `sha256`): nothing is sent when it does; an
 * interrupted copy (REMOTE.partial) resumes where it stopped; the file takes its name only once
 * its digest matches there.
 */
export async function sendFile(
  ssh: SshConnection,
  local: string,
  sha256: string,
  remote: string,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<number> {
  const size = statSync(local).size;
  return ensureFile(
    ssh,
    sha256,
    remote,
    signal,
    async (offset, partial) => {
      const sent = await ssh.append(local, offset, partial, signal);
      onBytes(sent);
      return sent;
    },
    size,
  );
}

/** Whether the host holds `remote` with this sha256 already (then nothing needs to come). */
export async function holds(ssh: SshConnection, sha256: string, remote: string, signal: AbortSignal) {
  const q = shellQuote(remote);
  const state = await ssh.run(`[ -f ${q} ] && sha256sum ${q} | cut -c1-64 || echo none`, { signal });
  return state.stdout.trim() === sha256;
}

/**
 * Makes sure `remote` on the host holds the file of digest `sha256`: nothing comes when it does;
 * else `transfer` appends to REMOTE.partial from the offset an interrupted copy reached, and the
 * copy takes its name only when its sha256 matches there. Returns the bytes that came.
 */
export async function ensureFile(
  ssh: SshConnection,
  sha256: string,
  remote: string,
  signal: AbortSignal,
  transfer: (offset: number, partial: string) => Promise<number>,
  size?: number,
): Promise<number> {
  const q = shellQuote(remote);
  const state = await ssh.run(
    `mkdir -p "$(dirname ${q})" && { [ -f ${q} ] && sha256sum ${q} | cut -c1-64 || echo none; } && { stat -c %s ${q}.partial 2>/dev/null || echo 0; }`,
    { signal },
  );
  const [have, partial] = state.stdout.trim().split("\n");
  if (have === sha256) return 0;
  let offset = Number(partial ?? 0);
  if (!(offset >= 0) || (size !== undefined && offset > size)) offset = 0;
  if (offset === 0) await ssh.run(`rm -f ${q}.partial`, { signal });
  const sent = await transfer(offset, `${remote}.partial`);
  const check = await ssh.run(`sha256sum ${q}.partial | cut -c1-64`, { signal });
  if (check.stdout.trim() !== sha256) {
    await ssh.run(`rm -f ${q}.partial`, { signal });
    throw new SealiftError(
      "ROLLOUT_FAILED",
      `${ssh.host.name}: ${path.basename(remote)} arrived damaged (its sha256 differs there)`,
      {
        hint: "run the rollout again: the copy starts over",
      },
    );
  }
  await ssh.run(`mv -f ${q}.partial ${q}`, { signal });
  return sent;
}

export interface RemoteStatus {
  release: string | null;
  healthy: boolean;
  /** An install cut off there (a power cut, a kill): what it was doing. */
  interrupted: string | null;
}

export async function installedStatus(
  ssh: SshConnection,
  dir: string,
  signal: AbortSignal,
): Promise<RemoteStatus> {
  const installer = shellQuote(`${dir}/.sealift/install`);
  const result = await ssh.run(
    `[ -x ${installer} ] && ${installer} status --dir ${shellQuote(dir)} --json || true`,
    {
      signal,
    },
  );
  const parsed = parseStatusJson(result.stdout);
  if (!parsed) return { release: null, healthy: false, interrupted: null };
  if (!parsed.ok)
    return {
      release: null,
      healthy: false,
      interrupted: parsed.error.code === "INSTALL_INTERRUPTED" ? parsed.error.message : null,
    };
  return {
    release: parsed.record.status === "installed" ? parsed.record.release : null,
    healthy: parsed.healthy,
    interrupted: parsed.interrupted?.message ?? null,
  };
}

/** The installer's gzip'd copy (about a third of its size on the wire). */
export async function compressedInstaller(installer: string): Promise<{ file: string; sha256: string }> {
  const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), "sealift-rollout-")), "install.gz");
  await pipeline(
    createReadStream(installer),
    createGzip({ level: 6 }),
    (await fs.open(file, "w")).createWriteStream(),
  );
  return { file, sha256: await sha256File(file) };
}

export function installerCopy(installer: string): InstallerCopy {
  let made: Promise<{ file: string; sha256: string }> | undefined;
  return {
    get: () => (made ??= compressedInstaller(installer)),
    async dispose() {
      const copy = await made?.catch(() => undefined);
      if (copy) await fs.rm(path.dirname(copy.file), { recursive: true, force: true });
    },
  };
}

/**
 * The installer on the host at `remote`: cut out of the archive the host holds when that has it
 * whole (checked against its sha256 there), else sent gzip'd (resumable like the bundle).
 */
export async function placeInstaller(
  ssh: SshConnection,
  bundle: RolloutBundle,
  remoteArchive: string,
  remote: string,
  copy: InstallerCopy,
  signal: AbortSignal,
  count: (bytes: number) => void,
): Promise<void> {
  const q = shellQuote(remote);
  const place = `[ "$(sha256sum < ${q}.tmp | cut -d' ' -f1)" = ${bundle.installerSha256} ] && chmod 755 ${q}.tmp && mv -f ${q}.tmp ${q}`;
  const stored = bundle.installerInArchive;
  if (stored) {
    const cut = await ssh.run(
      `tail -c +${stored.offset + 1} ${shellQuote(remoteArchive)} | head -c ${stored.length} | gunzip -c > ${q}.tmp && ${place}`,
      { signal, allowFailure: true },
    );
    if (cut.exitCode === 0) return;
  }
  const gz = await copy.get();
  await sendFile(ssh, gz.file, gz.sha256, `${remote}.gz`, signal, count);
  await ssh.run(`gunzip -c ${q}.gz > ${q}.tmp && ${place} && rm -f ${q}.gz`, { signal });
}
