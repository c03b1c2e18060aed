/**
 * The installer's main job, in order: check the chain's head (signature, manifest, SHA256SUMS, from
 * the archive's tail) -> preflight -> questions -> one read of the bundle: load and stage, every file
 * checked as it is read, docker load let finish only when all matched -> (cache) -> extract ->
 * compose up -> wait healthy -> record. A failed check leaves no image and the folder as found; the
 * install record says "installed" only once every service is healthy.
 */
import type { ContainerState } from "../docker/docker.js";
import { journalFor, type Journal, type JournalStage } from "./journal.js";
import { rollback } from "./rollback.js";
import { existsSync } from "node:fs";
import path from "node:path";
import { openBundle, directorySource, type BundleSource } from "../bundle/bundle-reader.js";
import { type VerifiedBundle } from "../bundle/verify.js";
import { SealiftError } from "../errors.js";
import { checkAnswerInputs, readAnswerInputs } from "./answers.js";
import { recordPath, writeRecord } from "./install-record.js";
import { canPrompt, noTerminal } from "./prompts.js";
import { fillVolumes } from "./data.js";
import { lockFolder, type FolderLock } from "./folder-lock.js";
import { cacheStep } from "./steps/cache.js";
import { keptAsIs } from "./steps/compare.js";
import { extractStep } from "./steps/extract.js";
import { fitCache } from "./steps/fit.js";
import { loadStep } from "./steps/load.js";
import { preflight } from "./steps/preflight.js";
import type { InstallOptions, InstallPlan, InstallResult } from "./steps/types.js";

export type { InstallOptions, InstallResult } from "./steps/types.js";
import { upStep } from "./steps/up.js";
import { verify } from "./steps/verify.js";
import { selfFolder, type InstallerSelf } from "./self.js";

export async function locateBundle(given: string | undefined, self: InstallerSelf): Promise<BundleSource> {
  if (given) return openBundle(path.resolve(given));
  const beside = selfFolder(self);
  if (beside && existsSync(path.join(beside, "manifest.json"))) return directorySource(beside);
  throw new SealiftError("USAGE", "no bundle given, and this installer is not inside an extracted bundle", {
    hint: "run ./install from the extracted NAME-complete-YYYYMMDD folder, or give the archive: install NAME-complete-YYYYMMDD.tar.gz",
  });
}

/**
 * The install, as its steps: verify -> preflight (checks, questions, confirmation) -> load ->
 * cache -> extract -> up (rolled back on failure) -> fit -> record. Each step is a function below
 * with its inputs and outputs named; nothing on the host changes before the operator confirms.
 */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const started = performance.now();
  // Without a terminal and without --yes/--answers the questions cannot be asked: say so at once.
  if (!options.verifyOnly && !options.yes && !options.answersFile && !canPrompt(options.io))
    throw noTerminal();
  // Every input is checked before anything moves: the answers file and --set now (exit 2), their
  // names against the bundle's settings once its head is read, all before the engine is asked.
  const inputs = readAnswerInputs(options);
  const { step, stepsMs } = stepTimer();
  const source = await locateBundle(options.bundle, options.self);
  const verified = await step("verify", () =>
    verify(source, options.reporter, options.signal, options.signature, options.verifyOnly),
  );
  checkAnswerInputs(verified.manifest, inputs, options.answersFile);
  if (options.verifyOnly) return { verified };
  const plan = await step("preflight", () => preflight(verified, options, inputs));
  if (options.check) return { verified, check: { changes: !plan.asInstalled || !!plan.interrupted } };
  // One command at a time on the folder: a second install, rebuild, rollback or uninstall is refused.
  const lock = await lockFolder(plan.answers.dir, "install");
  try {
    return await installLocked(source, verified, plan, lock, options, { step, stepsMs, started });
  } finally {
    await lock.release();
  }
}

/** The install's steps after preflight, holding the folder's lock. */
async function installLocked(
  source: BundleSource,
  verified: VerifiedBundle,
  plan: InstallPlan,
  lock: FolderLock,
  options: InstallOptions,
  { step, stepsMs, started }: ReturnType<typeof stepTimer> & { started: number },
): Promise<InstallResult> {
  const dir = plan.answers.dir;
  const manifest = verified.manifest;
  // Before the first change to the host: the journal says what is under way (journal.ts).
  const previous = plan.record;
  const journal = journalFor(dir, {
    from:
      previous?.status === "installed"
        ? { release: previous.release, manifestSha256: previous.manifestSha256 }
        : (plan.interrupted?.from ?? null),
    to: { release: manifest.project.release, manifestSha256: verified.manifestDigest },
    bundle: source.location,
  });
  const stage = async (name: JournalStage) => {
    await journal.stage(name);
    await options.onStage?.(name);
  };
  // Back to the release the cut upgrade came from: its files and images first (rollback.ts).
  if (
    plan.interrupted &&
    plan.interrupted.to.manifestSha256 !== verified.manifestDigest &&
    previous?.manifestSha256 === verified.manifestDigest
  )
    await step("rollback", () => finishInterrupted(dir, plan.interrupted!, options));
  await stage("loading");
  try {
    const loaded = await step("load", () => loadStep(verified, plan, lock, options));
    stepsMs.loadRegister = loaded.registerMs;
    // A re-install that would change nothing (same release, settings and files, running): done.
    const running =
      plan.asInstalled && (await step("compare", () => keptAsIs(verified, plan, loaded, options)));
    // What the result says of this install, given what it did.
    const result = (
      record: string,
      containers: ContainerState[],
      imagesLoaded: string[],
      unchanged: boolean,
    ) => ({
      verified,
      installed: {
        dir,
        release: manifest.project.release,
        record,
        containers,
        imagesLoaded,
        imagesPresent: plan.images.present,
        stepsMs,
        durationMs: Math.round(performance.now() - started),
        unchanged,
      },
    });
    if (running) {
      await journal.done();
      return result(recordPath(dir), running, [], true);
    }
    const cached = await step("cache", () => cacheStep(verified, plan, loaded, options));
    await step("volumes", () =>
      fillVolumes(plan.host, manifest, plan.data, loaded.staging, options.reporter, options.signal),
    );
    const placed = await step("extract", () =>
      extractStep(source, verified, plan, loaded, cached, options, () => stage("placing")),
    );
    await stage("starting");
    const containers = await step("up", () => upStep(verified, plan.host, placed, options));
    await stage("fitting");
    const fitted = await step("fit", async () =>
      cached.cache
        ? fitCache(plan.host, manifest, placed.model, options.reporter, options.signal)
        : undefined,
    );
    const record = { ...placed.record, status: "installed" as const };
    if (fitted && record.cache) record.cache = { ...record.cache, fitted };
    const written = await writeRecord(dir, record);
    await journal.done();
    return result(written, containers, loaded.loaded, false);
  } catch (error) {
    // Said and recorded (the folder as found, a failed record, a rollback done): not interrupted.
    await journal.done();
    throw error;
  }
}

/**
 * Installing the release an interrupted upgrade came from: the upgrade is undone first, as
 * `install rollback` would (its files put back, the ones it added removed, its images re-tagged).
 */
async function finishInterrupted(dir: string, interrupted: Journal, options: InstallOptions): Promise<void> {
  if (interrupted.stage === "loading") return; // nothing of the folder was touched
  options.reporter.info(
    `an upgrade to ${interrupted.to.release} was interrupted here: putting ${interrupted.from?.release} back first`,
  );
  await rollback(dir, { ...options, reason: `interrupted upgrade to ${interrupted.to.release}` });
}

/** Runs named steps and keeps how long each took (the --json result's stepsMs). */
function stepTimer() {
  const stepsMs: Record<string, number> = {};
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      stepsMs[name] = Math.round(performance.now() - t0);
    }
  };
  return { step, stepsMs };
}
