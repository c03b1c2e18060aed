/**
 * The installer's commands for an installed app: status, rebuild, uninstall. They work from the
 * install record in DIR/.sealift/install.json.
 */
import { describeInterrupted, readJournal } from "./journal.js";
import type { StatusJson } from "./install-json.js";
import { checkFolderFree } from "./folder-lock.js";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { keptInstallerDir, selfFolder, type InstallerSelf } from "./self.js";
import type { Reporter } from "../report.js";
import { compose, composeUp } from "../docker/compose.js";
import { buildImage, inspectImage, projectContainers, type ContainerState } from "../docker/docker.js";
import { detectDockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { formatDuration } from "../util/format.js";
import { waitHealthy, isReady } from "./health.js";
import {
  installedModel,
  RECORD_DIR,
  recordPath,
  readRecord,
  requireRecord,
  type InstallRecord,
} from "./install-record.js";
import { cacheStatus, serviceBuild, type CacheStatus } from "./build-cache.js";
import { BuildStepTracker, type BuildStep } from "../docker/build-steps.js";
import { askYesNo, canPrompt, noTerminal, type PromptIO } from "./prompts.js";

/** --dir; DIR when this is the installer's copy in DIR/.sealift; /opt/NAME when it sits in a bundle folder. */
export function resolveDir(given: string | undefined, self: InstallerSelf): string {
  if (given) return path.resolve(given);
  const kept = keptInstallerDir(self);
  if (kept) return kept;
  const beside = selfFolder(self);
  const manifest = beside && path.join(beside, "manifest.json");
  if (manifest && existsSync(manifest)) {
    const name = (JSON.parse(readFileSync(manifest, "utf8")) as { project?: { name?: string } }).project
      ?.name;
    if (name) return `/opt/${name}`;
  }
  throw new SealiftError("USAGE", "which installation? no --dir given", {
    hint: "pass --dir DIR, the folder the app was installed into",
  });
}

/** What `status` finds: the `status --json` document without its `ok` (declared once, in install-json.ts). */
export type StatusReport = Omit<StatusJson, "ok">;

/**
 * The installed release, its services' state (each service once), its images, and any install that
 * was cut off there (its journal), said with the fix. `installer` is how hints name this installer.
 */
export async function status(dir: string, signal: AbortSignal, installer = "install"): Promise<StatusReport> {
  let busy: string | null = null;
  try {
    checkFolderFree(dir);
  } catch (error) {
    if (!(error instanceof SealiftError)) throw error;
    busy = error.message;
  }
  const journal = busy ? null : readJournal(dir);
  const said = journal ? describeInterrupted(journal, dir, installer) : null;
  const found = readRecord(dir);
  if (!found && said) throw new SealiftError("INSTALL_INTERRUPTED", said.message, { hint: said.hint });
  const record = requireRecord(dir);
  const host = await detectDockerHost(signal);
  const { current: containers, replaced } = onePerService(
    await projectContainers(host, record.project, signal),
  );
  const images = [];
  for (const s of record.services) {
    images.push({
      service: s.name,
      image: s.image,
      imageId: s.imageId,
      present: !!(await inspectImage(host, s.hostId ?? s.imageId, signal)),
    });
  }
  const healthy =
    !said &&
    record.status === "installed" &&
    record.services.every((s) => containers.some((c) => c.service === s.name && isReady(c)));
  return {
    record,
    containers,
    replaced,
    images,
    healthy,
    interrupted:
      journal && said
        ? { ...said, stage: journal.stage, from: journal.from?.release ?? null, to: journal.to.release }
        : null,
    busy,
  };
}

/** Each service's container that runs (else the newest); the others are being replaced. */
function onePerService(all: ContainerState[]): { current: ContainerState[]; replaced: ContainerState[] } {
  const current: ContainerState[] = [];
  const replaced: ContainerState[] = [];
  for (const service of [...new Set(all.map((c) => c.service))]) {
    const mine = all.filter((c) => c.service === service);
    const chosen = mine.find(isReady) ?? mine.find((c) => c.status === "running") ?? mine[0]!;
    current.push(chosen);
    replaced.push(...mine.filter((c) => c !== chosen));
  }
  return { current, replaced };
}

export async function uninstall(
  dir: string,
  options: { volumes: boolean; yes: boolean; reporter: Reporter; signal: AbortSignal; io: PromptIO },
): Promise<InstallRecord> {
  const record = requireRecord(dir);
  if (options.volumes && !options.yes) {
    if (!canPrompt(options.io)) throw noTerminal();
    const sure = await askYesNo(
      `Delete ${record.project}'s volumes and all the data in them? This cannot be undone.`,
      false,
      options.io,
    );
    if (!sure)
      throw new SealiftError("CANCELLED", "not confirmed; nothing was removed", {
        hint: "without --volumes the data is kept",
      });
  }
  const host = await detectDockerHost(options.signal);
  const status = options.reporter.status(`stopping ${record.project}`);
  await compose(
    host,
    { name: record.project, dir, files: record.composeFiles, profiles: record.profiles },
    ["down", "--remove-orphans", ...(options.volumes ? ["-v"] : [])],
    {
      signal: options.signal,
    },
  );
  status.finish(
    options.volumes
      ? "containers, networks and volumes removed"
      : "containers and networks removed; volumes kept",
  );
  await fs.rm(recordPath(dir), { force: true });
  return record;
}

export interface RebuildResult {
  record: InstallRecord;
  services: Array<{ service: string; image: string; steps: BuildStep[]; durationMs: number; log: string }>;
  containers: ContainerState[];
  durationMs: number;
}

/**
 * Rebuilds every built service from the installed source, offline, with the imported cache
 * (compose.cache.yaml's cache_from), then brings the app up again. Each build's log is kept in
 * DIR/.sealift/logs/.
 */
export async function rebuild(
  dir: string,
  options: { timeoutMs: number; reporter: Reporter; signal: AbortSignal },
): Promise<RebuildResult> {
  const started = performance.now();
  const record = requireRecord(dir);
  const host = await detectDockerHost(options.signal);
  const model = await installedModel(host, dir, record, options.signal);
  const logs = path.join(dir, RECORD_DIR, "logs");
  await fs.mkdir(logs, { recursive: true });
  const services: RebuildResult["services"] = [];
  for (const service of model.services.filter((s) => s.build)) {
    const tag = service.image ?? record.services.find((s) => s.name === service.name)?.image;
    if (!tag)
      throw new SealiftError("SERVICE_INVALID", `service ${service.name} has no pinned image to rebuild`);
    const status = options.reporter.status(`rebuilding ${service.name}`);
    const t0 = performance.now();
    const tracker = new BuildStepTracker();
    const lines: string[] = [];
    const log = path.join(logs, `rebuild-${service.name}.log`);
    try {
      await buildImage(host, {
        ...serviceBuild(service, tag),
        signal: options.signal,
        onLine: (line) => {
          lines.push(line);
          tracker.onLine(line);
          status.line(line);
        },
      });
    } finally {
      await fs.writeFile(log, lines.join("\n") + "\n");
    }
    const steps = tracker.result();
    const cached = steps.filter((s) => s.cached).length;
    status.finish(`${cached} of ${steps.length} steps cached`);
    for (const step of steps) {
      options.reporter.info(
        `  ${step.cached ? "CACHED" : `ran ${step.seconds ?? 0}s`.padEnd(6)}  ${step.name.slice(0, 100)}`,
      );
    }
    services.push({
      service: service.name,
      image: tag,
      steps,
      durationMs: Math.round(performance.now() - t0),
      log,
    });
  }
  const project = { name: record.project, dir, files: record.composeFiles, profiles: record.profiles };
  await composeUp(host, project, {
    signal: options.signal,
    onSettled: (line) => options.reporter.info(line),
  });
  const containers = await waitHealthy(
    host,
    record.project,
    record.services.map((s) => s.name),
    {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    },
  );
  return { record, services, containers, durationMs: Math.round(performance.now() - started) };
}

export async function cacheReport(dir: string, signal: AbortSignal): Promise<CacheStatus> {
  const record = requireRecord(dir);
  return cacheStatus(await detectDockerHost(signal), dir, record, signal);
}

export function describeRebuild(result: RebuildResult): string {
  return (
    [
      `${result.record.project} rebuilt and healthy (${formatDuration(result.durationMs)})`,
      ...result.services.map(
        (s) =>
          `  ${s.service}: ${s.steps.filter((x) => x.cached).length} of ${s.steps.length} steps cached (${formatDuration(s.durationMs)}); log: ${s.log}`,
      ),
    ].join("\n") + "\n"
  );
}
