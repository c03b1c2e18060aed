/**
 * `install rollout`: one release to many offline servers over SSH. The per-host procedure is one
 * function (rolloutHost: connect -> what is installed -> send what is missing -> install -> result);
 * the fan-out around it runs batches (Ansible's serial), a few hosts at once, stops past --max-fail
 * or when a batch fails, and reports every host, the ones not attempted as such.
 */
import { sha256File } from "../util/sha256-file.js";
import { createReadStream, existsSync, promises as fs, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { isSea } from "node:sea";
import { openBundle } from "../bundle/bundle-reader.js";
import { PARTS_SUMS_SUFFIX, readPartsIndex } from "../bundle/parts.js";
import { storedMembers, type Manifest } from "../bundle/manifest.js";
import { verifyBundle, type VerifyOptions } from "../bundle/verify.js";
import { SealiftError } from "../errors.js";
import type { InventoryHost } from "./inventory.js";
import { shellQuote, SshConnection, withControlDir, type SshOptions } from "./ssh.js";

export type HostOutcome = "installed" | "already" | "failed" | "refused" | "unreachable" | "not-attempted";

export interface HostResult {
  host: string;
  address: string;
  outcome: HostOutcome;
  release: string | null;
  exitCode: number | null;
  error: { code: string; message: string; hint?: string } | null;
  bytesSent: number;
  durationMs: number;
  step: string;
}

export interface RolloutBundle {
  /** The archive (or a split bundle's index) on this machine; checked once before anything is sent. */
  archive: string;
  /** The archive's sha256 (the .sha256 line written beside it on each host). */
  sha256: string;
  /** The files each host is sent, as they are: the archive, or the parts with their index and sums. */
  files: Array<{ local: string; sha256: string }>;
  manifest: Manifest;
  /** This installer binary, to run on the hosts, and its sha256. */
  installer: string;
  installerSha256: string;
  /**
   * Where the archive holds this very installer as whole gzip members (manifest.storedMembers): a
   * host that has the archive cuts it out with tail, head and gunzip instead of being sent it.
   */
  installerInArchive: { offset: number; length: number } | null;
}

export interface RolloutOptions {
  /** Install folder on the hosts (default /opt/NAME). */
  dir: string | null;
  /** Folder on the hosts where bundles are kept (relative: under the login's home). */
  staging: string;
  parallel: number;
  /** Batch sizes: numbers or "N%"; the last repeats (Ansible's serial). */
  serial: string[];
  /** Stop when more hosts than this have failed (a number or "N%"). */
  maxFail: string | null;
  /** Settings for every host (--set, --answers), under the host's own. */
  settings: Record<string, string>;
  /** The answers file's importCache and keepEnv (null: the installer's default). */
  importCache: boolean | null;
  keepEnv: boolean | null;
  ssh: SshOptions;
  timeoutSeconds: number;
  onProgress?: (host: string, step: string, bytesSent: number) => void;
  /** Ctrl-C: no new host is started; the ones running finish (or roll back) and are reported. */
  signal: AbortSignal;
}

/** The installer's --json output: one JSON document (pretty-printed, or one line after others). */
function parseJsonOutput<T>(stdout: string): T | null {
  const text = stdout.trim();
  for (const candidate of [text, text.split("\n").pop() ?? ""]) {
    try {
      return JSON.parse(candidate) as T;
    } catch {
      // try the next form
    }
  }
  return null;
}

/**
 * Makes sure `remote` on the host holds `local` (digest `sha256`): nothing is sent when it does; an
 * interrupted copy (REMOTE.partial) resumes where it stopped; the file takes its name only once
 * its digest matches there.
 */
async function sendFile(
  ssh: SshConnection,
  local: string,
  sha256: string,
  remote: string,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<number> {
  const q = shellQuote(remote);
  const state = await ssh.run(
    `mkdir -p "$(dirname ${q})" && { [ -f ${q} ] && sha256sum ${q} | cut -c1-64 || echo none; } && { stat -c %s ${q}.partial 2>/dev/null || echo 0; }`,
    { signal },
  );
  const [have, partial] = state.stdout.trim().split("\n");
  if (have === sha256) return 0;
  const size = statSync(local).size;
  let offset = Number(partial ?? 0);
  if (!(offset <= size)) offset = 0;
  if (offset === 0) await ssh.run(`rm -f ${q}.partial`, { signal });
  const sent = await ssh.append(local, offset, `${remote}.partial`, signal);
  onBytes(sent);
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

interface RemoteStatus {
  release: string | null;
  healthy: boolean;
}

async function installedStatus(ssh: SshConnection, dir: string, signal: AbortSignal): Promise<RemoteStatus> {
  const installer = shellQuote(`${dir}/.sealift/install`);
  const result = await ssh.run(
    `[ -x ${installer} ] && ${installer} status --dir ${shellQuote(dir)} --json || true`,
    {
      signal,
    },
  );
  const parsed = parseJsonOutput<{ record?: { release?: string; status?: string }; healthy?: boolean }>(
    result.stdout,
  );
  return {
    release: parsed?.record?.status === "installed" ? (parsed.record.release ?? null) : null,
    healthy: !!parsed?.healthy,
  };
}

/** The installer's gzip'd copy (about a third of its size on the wire). */
async function compressedInstaller(installer: string): Promise<{ file: string; sha256: string }> {
  const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), "sealift-rollout-")), "install.gz");
  await pipeline(
    createReadStream(installer),
    createGzip({ level: 6 }),
    (await fs.open(file, "w")).createWriteStream(),
  );
  return { file, sha256: await sha256File(file) };
}

/** The gzip'd installer, made the first time a host needs it sent, once per rollout. */
export interface InstallerCopy {
  get(): Promise<{ file: string; sha256: string }>;
  dispose(): Promise<void>;
}

function installerCopy(installer: string): InstallerCopy {
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
async function placeInstaller(
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

/** The one host's procedure: connect, look, send what is missing, install, report. */
export async function rolloutHost(
  host: InventoryHost,
  bundle: RolloutBundle,
  installerGz: InstallerCopy,
  options: RolloutOptions,
  /** The rollout's private folder for ssh's control sockets (withControlDir). */
  controlDir: string,
): Promise<HostResult> {
  const started = performance.now();
  const { manifest } = bundle;
  const dir = options.dir ?? `/opt/${manifest.project.name}`;
  const result: HostResult = {
    host: host.name,
    address: host.address,
    outcome: "failed",
    release: null,
    exitCode: null,
    error: null,
    bytesSent: 0,
    durationMs: 0,
    step: "connect",
  };
  const step = (name: string) => {
    result.step = name;
    options.onProgress?.(host.name, name, result.bytesSent);
  };
  const ssh = new SshConnection(host, options.ssh, controlDir);
  try {
    step("connect");
    await ssh.run("true", { signal: options.signal });
    step("check");
    const before = await installedStatus(ssh, dir, options.signal);
    result.release = before.release;
    if (before.release === manifest.project.release && before.healthy) {
      result.outcome = "already";
      step("done");
      return result;
    }
    if (
      manifest.base &&
      before.release !== manifest.base.release &&
      before.release !== manifest.project.release
    ) {
      result.outcome = "refused";
      result.exitCode = 4;
      result.error = {
        code: "BASE_MISSING",
        message: `this is an update on top of release ${manifest.base.release}; ${host.name} has ${before.release ? `release ${before.release}` : "no release of it"} installed`,
        hint: `send it the complete bundle of release ${manifest.project.release} (or ${manifest.base.release} first)`,
      };
      step("refused");
      return result;
    }
    step("send");
    const staging = options.staging.replace(/\/+$/, "");
    const remoteArchive = `${staging}/${path.basename(bundle.archive)}`;
    const remoteInstaller = `${staging}/sealift-install-${bundle.installerSha256.slice(0, 12)}`;
    const count = (n: number) => {
      result.bytesSent += n;
      options.onProgress?.(host.name, "send", result.bytesSent);
    };
    for (const file of bundle.files)
      await sendFile(
        ssh,
        file.local,
        file.sha256,
        `${staging}/${path.basename(file.local)}`,
        options.signal,
        count,
      );
    if (bundle.files.length === 1)
      await ssh.run(
        `printf '%s  %s\\n' ${bundle.sha256} ${shellQuote(path.basename(remoteArchive))} > ${shellQuote(`${remoteArchive}.sha256`)}`,
        { signal: options.signal },
      );
    const hasInstaller = await ssh.run(`[ -x ${shellQuote(remoteInstaller)} ] && echo yes || echo no`, {
      signal: options.signal,
    });
    if (hasInstaller.stdout.trim() !== "yes")
      await placeInstaller(ssh, bundle, remoteArchive, remoteInstaller, installerGz, options.signal, count);
    step("install");
    const settings = { ...options.settings, ...host.settings };
    const args = [
      remoteArchive,
      "--yes",
      "--json",
      "--dir",
      dir,
      "--timeout",
      String(options.timeoutSeconds),
      ...(options.importCache === false ? ["--no-cache-import"] : []),
      ...(options.keepEnv === null ? [] : [options.keepEnv ? "--keep-env" : "--replace-env"]),
      ...Object.entries(settings).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
    ];
    const installed = await ssh.run([remoteInstaller, ...args].map(shellQuote).join(" "), {
      signal: options.signal,
      allowFailure: true,
    });
    result.exitCode = installed.exitCode;
    // Not JSON (a crash): the error below names the exit code and the end of its stderr.
    const json =
      parseJsonOutput<{
        ok?: boolean;
        release?: string;
        error?: { code: string; message: string; hint?: string };
      }>(installed.stdout) ?? {};
    if (installed.exitCode === 0 && json.ok) {
      result.outcome = "installed";
      result.release = json.release ?? manifest.project.release;
      step("done");
    } else {
      result.outcome = "failed";
      result.error = json.error ?? {
        code: "ROLLOUT_FAILED",
        message: `the installer exited with ${installed.exitCode}: ${installed.stderr.trim().split("\n").pop() ?? ""}`,
      };
      step("failed");
    }
    return result;
  } catch (error) {
    const e =
      error instanceof SealiftError ? error : new SealiftError("ROLLOUT_FAILED", (error as Error).message);
    result.outcome =
      ["HOST_UNREACHABLE", "SSH_HOST_KEY", "SSH_AUTH"].includes(e.code) && result.step === "connect"
        ? "unreachable"
        : "failed";
    result.error = { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
    return result;
  } finally {
    result.durationMs = Math.round(performance.now() - started);
    await ssh.close();
  }
}

function count(spec: string, total: number): number {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  const n = pct ? Math.floor((Number(pct[1]) / 100) * total) : Number(spec);
  if (!Number.isFinite(n) || n < 0)
    throw new SealiftError("USAGE", `"${spec}" is neither a number nor a percentage`, {
      hint: "e.g. 1, 5, 30%",
    });
  return Math.max(pct ? 1 : 0, Math.floor(n));
}

/** Ansible's serial: batch sizes, the last repeating, until every host is in one. */
export function batches<T>(hosts: readonly T[], serial: readonly string[]): T[][] {
  if (!serial.length) return hosts.length ? [[...hosts]] : [];
  const out: T[][] = [];
  let i = 0;
  let k = 0;
  while (i < hosts.length) {
    const size = Math.max(1, count(serial[Math.min(k, serial.length - 1)]!, hosts.length));
    out.push(hosts.slice(i, i + size));
    i += size;
    k++;
  }
  return out;
}

/** Runs `work` on each item, at most `limit` at once; stops starting new ones when `stop()` says so. */
async function fanOut<T>(
  items: readonly T[],
  limit: number,
  stop: () => boolean,
  work: (item: T) => Promise<void>,
) {
  let next = 0;
  const runners = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length && !stop()) await work(items[next++]!);
  });
  await Promise.all(runners);
}

export async function rollout(
  hosts: readonly InventoryHost[],
  bundle: RolloutBundle,
  options: RolloutOptions,
): Promise<HostResult[]> {
  return withControlDir((controlDir) => rolloutIn(controlDir, hosts, bundle, options));
}

async function rolloutIn(
  controlDir: string,
  hosts: readonly InventoryHost[],
  bundle: RolloutBundle,
  options: RolloutOptions,
): Promise<HostResult[]> {
  const installerGz = installerCopy(bundle.installer);
  const results = new Map<string, HostResult>();
  const maxFail = options.maxFail === null ? Infinity : count(options.maxFail, hosts.length);
  const failed = () =>
    [...results.values()].filter((r) => !["installed", "already"].includes(r.outcome)).length;
  let stopped = false;
  try {
    for (const batch of batches(hosts, options.serial)) {
      if (stopped || options.signal.aborted) break;
      await fanOut(
        batch,
        options.parallel,
        () => options.signal.aborted || failed() > maxFail,
        async (host) => {
          // Not cancelled with the rollout: a host once started finishes (a second Ctrl-C leaves at once).
          const running = { ...options, signal: new AbortController().signal };
          results.set(host.name, await rolloutHost(host, bundle, installerGz, running, controlDir));
        },
      );
      // A batch with a failure stops the rollout (a canary of 1 first, then the rest), as does --max-fail.
      if (
        batch.some((h) => !["installed", "already"].includes(results.get(h.name)?.outcome ?? "")) ||
        failed() > maxFail
      )
        stopped = true;
    }
  } finally {
    await installerGz.dispose();
  }
  return hosts.map(
    (h) =>
      results.get(h.name) ?? {
        host: h.name,
        address: h.address,
        outcome: "not-attempted",
        release: null,
        exitCode: null,
        error: null,
        bytesSent: 0,
        durationMs: 0,
        step: "-",
      },
  );
}

/** The rollout's exit code: 0 all healthy on the release, 4 none reached, 1 otherwise. */
export function rolloutExitCode(results: readonly HostResult[]): number {
  if (results.every((r) => r.outcome === "installed" || r.outcome === "already")) return 0;
  if (results.every((r) => r.outcome === "unreachable" || r.outcome === "not-attempted")) return 4;
  return 1;
}

/**
 * The bundle to roll out, checked once here before anything is sent (a damaged one: exit 3), with
 * the archive's sha256 (its .sha256 when beside it and matching, else computed).
 */
export async function prepareRollout(
  archive: string,
  options: { signal: AbortSignal; signature?: VerifyOptions["signature"] },
): Promise<RolloutBundle> {
  if (!isSea())
    throw new SealiftError(
      "USAGE",
      "install rollout runs from the compiled installer (the `install` binary of a bundle)",
      {
        hint: "run ./install rollout from an extracted bundle, or the installer kept in /opt/NAME/.sealift/",
      },
    );
  const source = await openBundle(path.resolve(archive));
  if (source.kind === "directory")
    throw new SealiftError(
      "USAGE",
      `${archive} is a folder; rollout sends the archive (or the parts) as packed`,
      {
        hint: "give NAME-complete-YYYYMMDD.tar.gz, or a split bundle's NAME.tar.gz.index.json",
      },
    );
  const verified = await verifyBundle(source, {
    signal: options.signal,
    ...(options.signature ? { signature: options.signature } : {}),
  });
  const installerSha256 = await sha256File(process.execPath);
  if (source.kind === "parts") {
    // The parts as they are, with their index and sums: each host joins them as the installer reads.
    const { index, dir } = readPartsIndex(source.location);
    const sums = `${path.join(dir, index.archive)}${PARTS_SUMS_SUFFIX}`;
    const files = [
      ...index.parts.map((p) => ({ local: path.join(dir, p.name), sha256: p.sha256 })),
      { local: source.location, sha256: await sha256File(source.location) },
      ...(existsSync(sums) ? [{ local: sums, sha256: await sha256File(sums) }] : []),
    ];
    return {
      archive: source.location,
      sha256: index.sha256,
      files,
      manifest: verified.manifest,
      installer: process.execPath,
      installerSha256,
      installerInArchive: null, // the parts are joined only as the installer reads them
    };
  }
  const sha256 = verified.sidecarChecked ? source.expectedDigest()! : await sha256File(source.location);
  const shipped = verified.manifest.installer.path;
  // Only the very binary that runs this rollout is cut out of the bundle (the JSON it prints).
  const same =
    !!shipped && verified.manifest.files.find((f) => f.path === shipped)?.sha256 === installerSha256;
  return {
    archive: source.location,
    sha256,
    files: [{ local: source.location, sha256 }],
    manifest: verified.manifest,
    installer: process.execPath,
    installerSha256,
    installerInArchive: same ? storedMembers(verified.manifest, shipped) : null,
  };
}

export interface FleetStatus {
  host: string;
  reachable: boolean;
  release: string | null;
  healthy: boolean;
  bundles: string[];
  error: { code: string; message: string; hint?: string } | null;
}

/** Each host's installed release, its health, and the bundles it holds: the fleet at a glance. */
export async function fleetStatus(
  hosts: readonly InventoryHost[],
  options: { dir: string; staging: string; parallel: number; ssh: SshOptions; signal: AbortSignal },
): Promise<FleetStatus[]> {
  return withControlDir(async (controlDir) => {
    const found = new Map<string, FleetStatus>();
    await fanOut(
      hosts,
      options.parallel,
      () => options.signal.aborted,
      async (host) => {
        const ssh = new SshConnection(host, options.ssh, controlDir);
        try {
          const status = await installedStatus(ssh, options.dir, options.signal);
          const listing = await ssh.run(
            `ls -1 ${shellQuote(options.staging)} 2>/dev/null | grep '\\.tar\\.gz$' || true`,
            {
              signal: options.signal,
            },
          );
          found.set(host.name, {
            host: host.name,
            reachable: true,
            release: status.release,
            healthy: status.healthy,
            bundles: listing.stdout.split("\n").filter(Boolean),
            error: null,
          });
        } catch (error) {
          const e = error instanceof SealiftError ? error : new SealiftError("ROLLOUT_FAILED", String(error));
          found.set(host.name, {
            host: host.name,
            reachable: false,
            release: null,
            healthy: false,
            bundles: [],
            error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
          });
        } finally {
          await ssh.close();
        }
      },
    );
    return hosts.map((h) => found.get(h.name)!);
  });
}
