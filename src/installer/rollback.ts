/**
 * Rollback of an upgrade. Before release N+1's files replace release N's in the install folder,
 * the files it is about to overwrite are saved in DIR/.sealift/rollback/ with N's install record,
 * and the paths it adds are listed. Rolling back puts N's files back, removes the added ones,
 * re-tags N's images by ID (they are kept: each release has tags of its own), runs compose up with
 * N's compose files and waits until N is healthy. Named volumes are never touched, and nothing
 * the app wrote outside the bundle's files is either.
 */
import { clearJournal, readJournal } from "./journal.js";
import { promises as fs } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Reporter } from "../report.js";
import { composeUp } from "../docker/compose.js";
import { inspectImage, projectContainers, tagImage, type ContainerState } from "../docker/docker.js";
import { detectDockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { writeDurably } from "../util/durable-write.js";
import { pathInside } from "./safe-extract.js";
import { inStateDir } from "../bundle/layout.js";
import { entryPathProblem } from "../bundle/entry-path.js";
import { readStateJson } from "../util/read-bounded.js";
import { waitHealthy } from "./health.js";
import { RECORD_DIR, readRecord, recordSchema, writeRecord, type InstallRecord } from "./install-record.js";

const ROLLBACK_DIR = "rollback";
const FILES_DIR = "files";
const PLAN_FILE = "rollback.json";

/** A path of the install folder, never of the installer's own state (checked again before use). */
const folderPath = z
  .string()
  .refine((p) => entryPathProblem(p) === null && !inStateDir(p), "must be a path inside the install folder");

const planSchema = z.object({
  /** The release to go back to, as its install record was. */
  record: recordSchema,
  /** The release that replaced it. */
  replacedBy: z.string(),
  savedAt: z.string(),
  /** Paths (relative to DIR) the new release added: removed on rollback. */
  added: z.array(folderPath),
  /** Paths saved under files/: put back on rollback. */
  saved: z.array(folderPath),
});
export type RollbackPlan = z.infer<typeof planSchema>;

function rollbackDir(dir: string): string {
  return path.join(dir, RECORD_DIR, ROLLBACK_DIR);
}

/**
 * Saves what installing `replacedBy` over `record`'s release will overwrite among `paths`
 * (relative to dir); replaces any earlier rollback point.
 */
export async function saveRollbackPoint(
  dir: string,
  record: InstallRecord,
  replacedBy: string,
  paths: readonly string[],
): Promise<RollbackPlan> {
  const target = rollbackDir(dir);
  await fs.rm(target, { recursive: true, force: true });
  await fs.mkdir(path.join(target, FILES_DIR), { recursive: true });
  const plan: RollbackPlan = {
    record,
    replacedBy,
    savedAt: new Date().toISOString(),
    added: [],
    saved: [],
  };
  for (const rel of new Set(paths)) {
    const source = path.join(dir, rel);
    const stat = await fs.lstat(source).catch(() => null);
    if (!stat) {
      plan.added.push(rel);
      continue;
    }
    if (stat.isDirectory()) continue; // a folder the new release replaces with a file: not saved (bundles never do that)
    const copy = path.join(target, FILES_DIR, rel);
    await fs.mkdir(path.dirname(copy), { recursive: true });
    if (stat.isSymbolicLink()) await fs.symlink(await fs.readlink(source), copy);
    else await fs.copyFile(source, copy);
    plan.saved.push(rel);
  }
  await writeDurably(path.join(target, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n", 0o600);
  return plan;
}

export function readRollbackPlan(dir: string): RollbackPlan | null {
  const file = path.join(rollbackDir(dir), PLAN_FILE);
  const json = readStateJson(
    file,
    "the rollback point",
    "install the earlier release's bundle again instead",
  );
  if (json === null) return null;
  const parsed = planSchema.safeParse(json);
  if (!parsed.success)
    throw new SealiftError("NO_ROLLBACK", `${file} is damaged`, {
      hint: "install the earlier release's bundle again instead",
    });
  return parsed.data;
}

export interface RollbackResult {
  release: string;
  from: string;
  containers: ContainerState[];
}

/** Goes back to the release saved by the last upgrade and waits until it is healthy. */
export async function rollback(
  dir: string,
  options: { timeoutMs: number; reporter: Reporter; signal: AbortSignal; reason?: string },
): Promise<RollbackResult> {
  const plan = readRollbackPlan(dir);
  const interrupted = readJournal(dir);
  if (interrupted?.stage === "loading" && interrupted.from) {
    // Cut before it changed anything: the release before still runs as it was; only the journal goes.
    await clearJournal(dir);
    const host = await detectDockerHost(options.signal);
    options.reporter.info(
      `the upgrade to ${interrupted.to.release} was cut while loading images, before it changed anything: release ${interrupted.from.release} is in place`,
    );
    return {
      release: interrupted.from.release,
      from: interrupted.to.release,
      containers: await projectContainers(host, readRecord(dir)?.project ?? "", options.signal),
    };
  }
  if (interrupted && plan && plan.replacedBy !== interrupted.to.release)
    throw new SealiftError(
      "NO_ROLLBACK",
      `the rollback point in ${dir} is not the one of the interrupted upgrade to ${interrupted.to.release}`,
      { hint: `install release ${interrupted.from?.release ?? "the earlier one"}'s bundle again instead` },
    );
  if (!plan)
    throw new SealiftError("NO_ROLLBACK", `there is no earlier release to roll back to in ${dir}`, {
      hint: "a rollback point is saved when one release is installed over another; install the earlier bundle again instead",
    });
  const { signal, reporter } = options;
  const previous = plan.record;
  const host = await detectDockerHost(signal);
  // Its images are kept under their own tags; put the tags back by ID in case a later release moved one.
  for (const service of previous.services) {
    const id = service.hostId ?? service.imageId;
    if (!(await inspectImage(host, id, signal)))
      throw new SealiftError(
        "NO_ROLLBACK",
        `release ${previous.release}'s image ${service.image} (${service.imageId.slice(7, 19)}) is no longer on this host`,
        { hint: `install release ${previous.release}'s bundle again instead` },
      );
    const byRef = await inspectImage(host, service.image, signal);
    if (byRef?.id !== id) await tagImage(host, id, service.image, signal);
  }
  const status = reporter.status(`rolling back to release ${previous.release}`);
  // The plan is a file on disk: each of its paths is held to the folder before anything is removed.
  const what = path.join(RECORD_DIR, ROLLBACK_DIR, PLAN_FILE);
  const added = await Promise.all(plan.added.map((rel) => pathInside(dir, rel, what)));
  const saved = path.join(rollbackDir(dir), FILES_DIR);
  const restored = await Promise.all(plan.saved.map((rel) => pathInside(dir, rel, what)));
  for (const target of added) await fs.rm(target, { force: true });
  for (const [i, rel] of plan.saved.entries()) {
    const target = restored[i]!;
    await fs.mkdir(path.dirname(target), { recursive: true });
    await pathInside(dir, rel, what); // again: a path restored just before may be a link on its way
    await fs.rm(target, { force: true, recursive: true });
    await fs.rename(path.join(saved, rel), target);
  }
  await composeUp(
    host,
    { name: previous.project, dir, files: previous.composeFiles, profiles: previous.profiles },
    {
      signal,
      onSettled: (line) => reporter.info(line),
      failureHint: `release ${previous.release}'s compose files are back in ${dir}; see the error above`,
    },
  );
  const containers = await waitHealthy(
    host,
    previous.project,
    previous.services.map((s) => s.name),
    { timeoutMs: options.timeoutMs, signal, onStatus: (text) => status.line(text) },
  );
  status.finish(`release ${previous.release} is running again`);
  await writeRecord(dir, {
    ...previous,
    lastFailure: {
      release: plan.replacedBy,
      at: new Date().toISOString(),
      message: options.reason ?? "rolled back on request",
    },
  });
  await fs.rm(rollbackDir(dir), { recursive: true, force: true });
  await clearJournal(dir);
  return { release: previous.release, from: plan.replacedBy, containers };
}
