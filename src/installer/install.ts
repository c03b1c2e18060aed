/**
 * The installer's main job, in order: check the chain's head (signature, manifest, SHA256SUMS, from
 * the archive's tail) -> preflight -> questions -> one read of the bundle: load and stage, every file
 * checked as it is read, docker load let finish only when all matched -> (cache) -> extract ->
 * compose up -> wait healthy -> record. A failed check leaves no image and the folder as found; the
 * install record says "installed" only once every service is healthy.
 */
import { createReadStream, existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isSea } from "node:sea";
import { openBundle, directorySource, type BundleSource } from "../bundle/bundle-reader.js";
import {
  CACHE_MOUNTS_DIR,
  CACHE_OVERRIDE_FILE,
  COMPOSE_DIR,
  DATA_FILES_DIR,
  ENV_TEMPLATE_PATH,
  IMAGES_DIR,
  OVERRIDE_FILE,
  OVERRIDE_PATH,
  SOURCE_PATH,
  entryRank,
} from "../bundle/layout.js";
import { verifyBundle, verifyHead, type VerifiedBundle, type VerifyOptions } from "../bundle/verify.js";
import type { Reporter } from "../report.js";
import { readDotEnv, resolveComposeProject, type ComposeModel } from "../compose/compose-project.js";
import { envFileText, envToRecord, formatEnvFile, parseEnvFile } from "../compose/env-file.js";
import { composeUp, requireCompose } from "../docker/compose.js";
import { projectContainers, type ContainerState } from "../docker/docker.js";
import { detectDockerHost, type DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { formatBytes, formatDuration, formatTable } from "../util/format.js";
import {
  checkAnswerInputs,
  readAnswerInputs,
  resolveAnswers,
  type AnswerFlags,
  type AnswerInputs,
  type Answers,
} from "./answers.js";
import { isReady, waitHealthy } from "./health.js";
import {
  ImageLoader,
  checkLoadedImages,
  layersHostHas,
  layersLeftToBase,
  planImages,
} from "./image-loader.js";
import type { Manifest } from "../bundle/manifest.js";
import { localLayerChains } from "../docker/docker.js";
import {
  cacheKindFor,
  cacheOverride,
  fitBuildCache,
  importCacheMount,
  recordSourceHashes,
  writeCacheIndexes,
  writeCacheOverride,
} from "./build-cache.js";
import {
  installedModel,
  RECORD_DIR,
  readRecord,
  recordPath,
  writeRecord,
  type InstallRecord,
} from "./install-record.js";
import { runCommand } from "../process/run-command.js";
import {
  checksTable,
  diskCheck,
  enforce,
  hostAccessChecks,
  hostChecks,
  shippedServiceChecks,
  portChecks,
  writableCheck,
} from "./preflight.js";
import { askYesNo, canPrompt, noTerminal, type PromptIO } from "./prompts.js";
import { extractTarSafely, moveTree } from "./safe-extract.js";
import { filesUnder, rollback, saveRollbackPoint } from "./rollback.js";
import { ReadChecks, membersChecked } from "./read-checks.js";
import { fillVolumes, placedData, planData, type DataPlan } from "./data.js";
import { checkFolderFree, lockFolder, type FolderLock } from "./folder-lock.js";

export interface InstallOptions extends AnswerFlags {
  /** The archive or folder; default: the folder this installer binary sits in. */
  bundle?: string;
  verifyOnly: boolean;
  /** Signature policy and trusted keys. */
  signature: NonNullable<VerifyOptions["signature"]>;
  force: boolean;
  timeoutMs: number;
  reporter: Reporter;
  signal: AbortSignal;
  io: PromptIO;
}

export interface InstallResult {
  verified: VerifiedBundle;
  installed?: {
    dir: string;
    release: string;
    record: string;
    containers: ContainerState[];
    imagesLoaded: string[];
    imagesPresent: string[];
    durationMs: number;
    /**
     * Milliseconds per step: verify, preflight (with the questions), load (loadRegister: of it, what
     * docker load took after its input ended), compare (a re-install), cache, extract, up, fit.
     */
    stepsMs: Record<string, number>;
    /**
     * The release was installed and running with these settings, its files as the bundle has them:
     * nothing was changed (no compose up), the record kept.
     */
    unchanged: boolean;
  };
}

/** How the operator calls this installer again (for hints): ./install, or its path. */
export function selfCommand(): string {
  if (!isSea()) return "sealift-install";
  const rel = path.relative(process.cwd(), process.execPath);
  // "./tmp/usb/install", not "tmp/usb/install": a path that reads as one to run.
  return rel.startsWith(".") ? rel : `./${rel}`;
}

export async function locateBundle(given?: string): Promise<BundleSource> {
  if (given) return openBundle(path.resolve(given));
  const beside = path.dirname(process.execPath);
  if (isSea() && existsSync(path.join(beside, "manifest.json"))) return directorySource(beside);
  throw new SealiftError("USAGE", "no bundle given, and this installer is not inside an extracted bundle", {
    hint: "run ./install from the extracted NAME-complete-YYYYMMDD folder, or give the archive: install NAME-complete-YYYYMMDD.tar.gz",
  });
}

async function verify(
  source: BundleSource,
  reporter: Reporter,
  signal: AbortSignal,
  signature: InstallOptions["signature"],
  everything: boolean,
): Promise<VerifiedBundle> {
  if (!everything) {
    // The chain's head from the bundle's tail; every other file is checked as it is read, once.
    const status = reporter.status(`checking ${path.basename(source.location)}`);
    const head = await verifyHead(source, { signal, signature });
    if (head) {
      status.finish(
        `manifest and SHA256SUMS${head.signature.keyId ? `, signed by trusted key ${head.signature.keyId.slice(0, 16)}` : head.signature.signed ? "" : ", not signed"}; ${
          membersChecked(head)
            ? "every byte is checked as it is read (gzip members against the manifest's digests, files against SHA256SUMS)"
            : "each file is checked against SHA256SUMS as it is read"
        }`,
      );
      return head;
    }
    status.finish("a bundle without a tail index: checking every file first");
  }
  const progress = reporter.progress(
    `verifying ${path.basename(source.location)}`,
    await source.totalBytes(),
  );
  const verified = await verifyBundle(source, { signal, signature, onBytes: (b) => progress.update(b) });
  progress.finish(
    `${verified.filesChecked} files match SHA256SUMS${verified.sidecarChecked ? `, archive matches ${verified.source.expectedFrom}` : ""}` +
      (verified.signature.keyId
        ? `, signed by trusted key ${verified.signature.keyId.slice(0, 16)}`
        : verified.signature.signed
          ? ""
          : ", not signed"),
  );
  return verified;
}

/** A delta installs only on a host that has what it leaves to its base release. */
async function checkBaseRelease(host: DockerHost, manifest: Manifest, signal: AbortSignal): Promise<void> {
  const base = manifest.base!;
  const release = `release ${base.release} of ${base.project}`;
  // On either store: the containerd store imports the layers left out from its content store.
  const missing = layersLeftToBase(manifest, await localLayerChains(host, signal));
  if (missing.length)
    throw new SealiftError(
      "BASE_MISSING",
      `this is an update bundle on top of ${release}; this host lacks ${missing.length} of the layers it leaves to that release`,
      {
        hint: `install ${release} first (or a later release built on it), then this update; or install the complete bundle of release ${manifest.project.release}`,
        details: missing.slice(0, 5).map((d) => `missing layer ${d.slice(7, 19)}`),
      },
    );
}

/**
 * The installer keeps a copy of itself in DIR/.sealift/install: updates that leave the installer
 * to their base release, status, rebuild and uninstall run it from there.
 */
async function keepInstaller(dir: string): Promise<void> {
  if (!isSea()) return;
  const target = path.join(dir, RECORD_DIR, "install");
  if (path.resolve(process.execPath) === target) return;
  await fs.copyFile(process.execPath, `${target}.tmp`);
  await fs.chmod(`${target}.tmp`, 0o755);
  await fs.rename(`${target}.tmp`, target);
}

function existingEnv(dir: string): Record<string, string> | null {
  return existsSync(path.join(dir, ".env")) ? readDotEnv(dir) : null;
}

/**
 * The project as this host's compose reads it with the operator's answers, before anything on the
 * host changes: the bundle's compose files (and the files they include), its pins and a `.env` of
 * the answers in a private temporary folder, the build contexts as empty folders (v1's compose
 * wants them to exist). What this compose cannot read is a preflight failure with its own words.
 */
async function bundleModel(
  host: DockerHost,
  verified: VerifiedBundle,
  dir: string,
  envText: string,
  signal: AbortSignal,
): Promise<ComposeModel> {
  const project = verified.manifest.project;
  const tool = requireCompose(host);
  const temporary = await fs.mkdtemp(path.join(os.tmpdir(), "sealift-compose-"));
  // One level down: "../x" beside the project resolves inside the temporary folder.
  const scratch = path.join(temporary, "project");
  try {
    await fs.mkdir(scratch);
    for (const file of [...project.composeFiles, ...project.composeInputs, OVERRIDE_FILE]) {
      const content = verified.composeFiles.get(`${COMPOSE_DIR}${file}`);
      if (!content) continue;
      await fs.mkdir(path.dirname(path.join(scratch, file)), { recursive: true });
      await fs.writeFile(path.join(scratch, file), content);
    }
    for (const context of project.buildContexts)
      await fs.mkdir(path.join(scratch, context), { recursive: true });
    await fs.writeFile(path.join(scratch, ".env"), envText);
    const model = await resolveComposeProject(tool, scratch, {
      files: [...project.composeFiles, OVERRIDE_FILE],
      profiles: project.profiles,
      // The name compose runs it under (volume and network names are made from it).
      env: { COMPOSE_PROJECT_NAME: project.name },
      cleanEnv: true,
      signal,
    });
    return { ...model, dir, name: project.name };
  } catch (error) {
    if (!(error instanceof SealiftError) || error.code !== "COMPOSE_INVALID") throw error;
    const said = (text: string) => text.split(scratch).join(dir);
    throw new SealiftError("PREFLIGHT_FAILED", said(error.message), {
      hint:
        tool.flavour === "v1"
          ? "the project uses what only Compose v2 reads (include:, !reset, ...): install the Docker Compose v2 plugin on this host, then run the installer again"
          : "check the answers given (--set) against what compose says, then run the installer again",
      details: error.details.map(said),
    });
  } finally {
    await fs.rm(temporary, { recursive: true, force: true });
  }
}

/**
 * The .env the install leaves: on an upgrade that keeps it, the operator's file with the settings it
 * lacks added; else the shipped template's own lines where a setting keeps its default, literal
 * lines for the answers (see compose/env-file.ts). Preflight reads the project with the same text.
 */
async function envToInstall(dir: string, answers: Answers, verified: VerifiedBundle): Promise<string> {
  const { project } = verified.manifest;
  const file = path.join(dir, ".env");
  const values = project.variables.map((v) => ({ name: v.name, value: answers.env[v.name] ?? v.default }));
  if (answers.keepEnv && existsSync(file)) {
    const text = await fs.readFile(file, "utf8");
    const current = envToRecord(parseEnvFile(text));
    const added = values.filter((v) => !(v.name in current));
    return added.length
      ? `${text}${text.endsWith("\n") ? "" : "\n"}${formatEnvFile(added, `added by sealift for release ${project.release}`)}`
      : text;
  }
  const template = verified.composeFiles.get(ENV_TEMPLATE_PATH)?.toString("utf8") ?? null;
  return envFileText(
    template,
    values,
    `settings of ${project.name}, written by sealift for release ${project.release}`,
  );
}

/** Writes .env (see envToInstall), readable by its owner only. */
async function writeEnv(dir: string, text: string): Promise<void> {
  const file = path.join(dir, ".env");
  await fs.writeFile(`${file}.tmp`, text, { mode: 0o600 });
  await fs.rename(`${file}.tmp`, file);
}

/**
 * The build cache step: cache images are loaded with the others; here each cache mount goes into
 * BuildKit under its id. Declined: the cache images' tags are removed again.
 */
async function applyBuildCache(
  host: DockerHost,
  manifest: VerifiedBundle["manifest"],
  options: {
    importCache: boolean;
    /** The mounts were imported when this same release was installed: keep them. */
    reuseMounts: boolean;
    staging: string;
    /** The install folder (its .sealift holds the cache indexes). */
    dir: string;
    previous: InstallRecord | null;
    hostIds: Map<string, string>;
    reporter: Reporter;
    signal: AbortSignal;
  },
): Promise<InstallRecord["cache"] | undefined> {
  const { importCache, staging, previous, reporter, signal } = options;
  const shipped = manifest.cache;
  if (!shipped || shipped.images.length + shipped.mounts.length === 0) {
    reporter.info("build cache: none in this bundle");
    return undefined;
  }
  if (!importCache) {
    for (const c of shipped.images)
      await runCommand(host.docker, ["rmi", c.image], { signal, allowFailure: true });
    reporter.info("build cache: not imported (as asked)");
    return undefined;
  }
  const mounts: NonNullable<InstallRecord["cache"]>["mounts"] = [];
  for (const [index, mount] of shipped.mounts.entries()) {
    if (!mount.path || options.reuseMounts) {
      // A delta (unchanged since the base release) or a re-install: imported before, if it was.
      const kept = previous?.cache?.mounts.find((m) => m.id === mount.id);
      if (kept) mounts.push(kept);
      else
        reporter.info(
          `cache mount ${mount.id}: left to release ${manifest.base?.release}, not imported here`,
        );
      continue;
    }
    const status = reporter.status(`importing cache mount ${mount.id}`);
    await importCacheMount(
      host,
      mount,
      path.join(staging, mount.path),
      path.join(staging, `mount-${index}`),
      signal,
    );
    status.finish(formatBytes(mount.bytes));
    mounts.push({ id: mount.id, bytes: mount.bytes, importedAt: new Date().toISOString() });
  }
  const kind = cacheKindFor(host);
  if (kind === "oci") {
    const status = reporter.status("indexing cache images for BuildKit");
    await writeCacheIndexes(host, options.dir, manifest, signal);
    status.finish(`${shipped.images.length + manifest.services.filter((s) => s.built).length} images`);
  }
  const imported = options.reuseMounts ? 0 : shipped.mounts.filter((m) => m.path).length;
  reporter.info(
    `build cache: ${shipped.images.length} stage images, ${imported} cache mounts imported` +
      (imported < mounts.length
        ? `, ${mounts.length - imported} kept from release ${previous?.release ?? manifest.base?.release}`
        : ""),
  );
  return {
    images: shipped.images.map((c) => ({
      service: c.service,
      stage: c.stage,
      image: c.image,
      imageId: c.imageId,
      hostId: options.hostIds.get(c.image),
    })),
    mounts,
    kind,
  };
}

/** One read of the bundle: images to docker load, source and compose files into a staging folder. */
async function loadAndStage(
  host: DockerHost,
  verified: VerifiedBundle,
  staging: string,
  needLoad: boolean,
  wantMounts: boolean,
  data: DataPlan,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<{ loaded: string[]; filesChecked: number; registerMs: number }> {
  const manifest = verified.manifest;
  // On the classic image store, layers the host has need not be fed to docker load at all.
  const skip =
    needLoad && !host.containerdImageStore
      ? layersHostHas(manifest, await localLayerChains(host, signal))
      : new Set<string>();
  const skippedBytes = manifest.files.filter((f) => skip.has(f.path)).reduce((sum, f) => sum + f.size, 0);
  if (skip.size)
    reporter.info(
      `images: ${skip.size} layers (${formatBytes(skippedBytes)}) are already on this host, not loaded again`,
    );
  const loader = needLoad ? new ImageLoader(host, manifest, signal) : undefined;
  const progress = needLoad
    ? reporter.progress("loading images", manifest.images.bytes - skippedBytes)
    : undefined;
  const reading = new ReadChecks(verified);
  try {
    // With the archive's index, what this install does not use is not even inflated (the layers
    // the host has, the installer). Without one every entry passes by and is held against the list.
    const wantData = (entryPath: string) => data.files.has(entryPath) || data.volumes.has(entryPath);
    const wanted = (entryPath: string) =>
      wantData(entryPath) ||
      entryPath.startsWith(COMPOSE_DIR) ||
      entryPath === SOURCE_PATH ||
      (entryPath.startsWith(IMAGES_DIR) && !!loader && !skip.has(entryPath)) ||
      (entryPath.startsWith(CACHE_MOUNTS_DIR) && wantMounts);
    const index = manifest.archive;
    for await (const entry of verified.source.entries({
      signal,
      ...(index ? { index, want: wanted } : {}),
    })) {
      if (entryRank(entry.path) > entryRank(CACHE_MOUNTS_DIR)) break; // the installer binary and metadata: done
      // Nothing to load and no cache mount wanted: the rest of the bundle need not be read.
      if (!loader && !wantMounts && entryRank(entry.path) >= entryRank(IMAGES_DIR)) break;
      reading.listed(entry);
      if (entry.path.startsWith(IMAGES_DIR)) {
        if (!loader || skip.has(entry.path)) continue;
        await loader.add(reading.use(entry), (b) => progress?.update(b));
      } else if (entry.path === SOURCE_PATH) {
        // Checked whole before it is unpacked: a damaged tar must read as damaged, not as a bad header.
        const sourceTar = path.join(staging, "source.tar");
        await fs.writeFile(sourceTar, reading.use(entry).stream);
        await extractTarSafely(createReadStream(sourceTar), path.join(staging, "src"), signal);
        await fs.rm(sourceTar);
      } else if (
        (entry.path.startsWith(COMPOSE_DIR) ||
          entry.path.startsWith(CACHE_MOUNTS_DIR) ||
          wantData(entry.path)) &&
        entry.type === "file"
      ) {
        const target = path.join(staging, entry.path);
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(target, reading.use(entry).stream);
      }
    }
    // Only now, with every file read checked, may docker load see the end of its input.
    reading.requireAll(needLoad ? skip : null, wantMounts, new Set([...data.files, ...data.volumes]));
    await reading.wholeArchive();
    if (!needLoad && !wantMounts && verified.sums && !verified.sidecarChecked)
      reporter.info(
        "checked: what this install uses (compose files, source); the rest of the bundle was not read: " +
          (verified.source.kind === "directory"
            ? "--verify-only checks every file"
            : "a .sha256 beside it, or --verify-only, checks every byte"),
      );
    const inputEnded = performance.now();
    const loaded = loader ? await loader.finish() : [];
    progress?.finish(`${loaded.length} images, ${formatBytes(loader?.bytes ?? 0)}`);
    return { loaded, filesChecked: reading.checked, registerMs: Math.round(performance.now() - inputEnded) };
  } catch (error) {
    // A cut-off input: docker load registers nothing from it.
    if (loader) await loader.abort();
    throw error;
  }
}

function serviceRows(containers: ContainerState[]): string[] {
  return formatTable([
    ["SERVICE", "STATE", "ANSWERS AT"],
    ...containers
      .sort((a, b) => a.service.localeCompare(b.service))
      .map((c) => [
        c.service,
        `${c.status}${c.health ? ` (${c.health})` : ""}`,
        [
          ...new Set(
            c.ports.map(
              (p) =>
                `http://${["0.0.0.0", "::", ""].includes(p.hostIp) ? "127.0.0.1" : p.hostIp}:${p.hostPort}`,
            ),
          ),
        ].join(" ") || "-",
      ]),
  ]);
}

/**
 * The install, as its steps: verify -> preflight (checks, questions, confirmation) -> load ->
 * cache -> extract -> up (rolled back on failure) -> fit -> record. Each step is a function below
 * with its inputs and outputs named; nothing on the host changes before the operator confirms.
 */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const started = performance.now();
  // Without a terminal and without --yes/--answers the questions cannot be asked: say so at once.
  if (!options.verifyOnly && !options.yes && !options.answersFile && !canPrompt()) throw noTerminal();
  // Every input is checked before anything moves: the answers file and --set now (exit 2), their
  // names against the bundle's settings once its head is read, all before the engine is asked.
  const inputs = readAnswerInputs(options);
  const { step, stepsMs } = stepTimer();
  const source = await locateBundle(options.bundle);
  const verified = await step("verify", () =>
    verify(source, options.reporter, options.signal, options.signature, options.verifyOnly),
  );
  checkAnswerInputs(verified.manifest, inputs, options.answersFile);
  if (options.verifyOnly) return { verified };
  const plan = await step("preflight", () => preflight(verified, options, inputs));
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
  const loaded = await step("load", () => loadStep(verified, plan, lock, options));
  stepsMs.loadRegister = loaded.registerMs;
  // A re-install that would change nothing (same release, settings and files, running): done.
  const running =
    plan.asInstalled && (await step("compare", () => keptAsIs(verified, plan, loaded, options)));
  if (running)
    return {
      verified,
      installed: {
        dir: plan.answers.dir,
        release: verified.manifest.project.release,
        record: recordPath(plan.answers.dir),
        containers: running,
        imagesLoaded: [],
        imagesPresent: plan.images.present,
        stepsMs,
        durationMs: Math.round(performance.now() - started),
        unchanged: true,
      },
    };
  const cached = await step("cache", () => cacheStep(verified, plan, loaded, options));
  await step("volumes", () =>
    fillVolumes(plan.host, verified.manifest, plan.data, loaded.staging, options.reporter, options.signal),
  );
  const placed = await step("extract", () => extractStep(source, verified, plan, loaded, cached, options));
  const containers = await step("up", () => upStep(verified, plan.host, placed, options));
  const fitted = await step("fit", async () =>
    cached.cache
      ? fitCache(plan.host, verified.manifest, placed.model, options.reporter, options.signal)
      : undefined,
  );
  const record = { ...placed.record, status: "installed" as const };
  if (fitted && record.cache) record.cache = { ...record.cache, fitted };
  return {
    verified,
    installed: {
      dir: plan.answers.dir,
      release: verified.manifest.project.release,
      record: await writeRecord(plan.answers.dir, record),
      containers,
      imagesLoaded: loaded.loaded,
      imagesPresent: plan.images.present,
      stepsMs,
      durationMs: Math.round(performance.now() - started),
      unchanged: false,
    },
  };
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

/** What preflight decided: the host, which images to load, the answers and the .env they make. */
interface InstallPlan {
  host: DockerHost;
  images: Awaited<ReturnType<typeof planImages>>;
  answers: Answers;
  envText: string;
  /** The data files to place and the volumes to fill (the rest is in place). */
  data: DataPlan;
  /**
   * This release is installed in the folder with the same settings and runs from the same images:
   * a re-install that changes nothing if the files match too (see keptAsIs). Its record.
   */
  asInstalled: InstallRecord | null;
}

/**
 * The host checks, the questions, the checks that need the answers (the project as this host's
 * compose reads it: ports, host access), the confirmation. Changes nothing on the host.
 */
async function preflight(
  verified: VerifiedBundle,
  options: InstallOptions,
  inputs: AnswerInputs,
): Promise<InstallPlan> {
  const { reporter, signal } = options;
  const manifest = verified.manifest;
  reporter.info(
    `\n${manifest.project.name} release ${manifest.project.release} (${manifest.services.length} services)`,
  );
  const host = await detectDockerHost(signal);
  if (manifest.base) await checkBaseRelease(host, manifest, signal);
  const images = await planImages(host, manifest, signal);
  const checks = hostChecks(host, manifest);
  checks.push(
    await diskCheck(
      "Docker data root",
      host.dockerRootDir,
      images.missing.length ? manifest.requirements.dockerDataBytes : 0,
    ),
  );
  reporter.info(checksTable(checks).join("\n"));
  enforce(checks, options.force);

  const answers = await resolveAnswers(
    options,
    {
      manifest,
      hasCache: !!manifest.cache && manifest.cache.images.length + manifest.cache.mounts.length > 0,
      existingEnv,
      io: options.io,
    },
    inputs,
  );
  checkFolderFree(answers.dir);
  const envText = await envToInstall(answers.dir, answers, verified);
  const asInstalled = await runningAsInstalled(host, verified, answers, envText, images, signal);
  // Installed and running as it would be: the checks on the project passed when it was, its
  // containers hold its ports. Else the project as this host's compose reads it, checked.
  const model = asInstalled ? null : await bundleModel(host, verified, answers.dir, envText, signal);
  const data = await planData(host, manifest, answers.dir, readRecordQuietly(answers.dir), model, signal);
  const planChecks = [
    ...(model ? hostAccessChecks(manifest, model.services) : []),
    ...(model ? shippedServiceChecks(manifest, model.services) : []),
    await writableCheck(answers.dir),
    await diskCheck("Install dir space", answers.dir, manifest.requirements.installDirBytes),
    ...(model
      ? await portChecks(
          host,
          manifest.project.name,
          model.services.flatMap((s) => s.ports),
        )
      : []),
  ];
  reporter.info(
    checksTable(planChecks)
      .join("\n")
      .replace(/^CHECK.*\n/, ""),
  );
  enforce(planChecks, options.force);

  if (!options.yes && !options.answersFile) {
    reporter.info(
      [
        "",
        `Install ${manifest.project.name} ${manifest.project.release} into ${answers.dir}`,
        `  images: ${images.missing.length ? `load ${images.missing.join(", ")}` : "all present"}${images.present.length && images.missing.length ? `; present: ${images.present.join(", ")}` : ""}`,
        ...(asInstalled
          ? [
              "  already installed and running with these settings: nothing changes where its files match the bundle's",
            ]
          : []),
        `  settings: ${Object.entries(answers.env)
          .map(
            ([k, v]) =>
              `${k}=${manifest.project.variables.find((x) => x.name === k)?.secret ? "********" : v}`,
          )
          .join(" ")}`,
      ].join("\n"),
    );
    if (!(await askYesNo("Go ahead?", true, options.io))) {
      throw new SealiftError("CANCELLED", "not confirmed; nothing was installed", {
        hint: "run the installer again when ready",
      });
    }
  }
  if (asInstalled)
    reporter.info(
      `release ${manifest.project.release} is installed in ${answers.dir} and running with these settings: checking its files against the bundle`,
    );
  return { host, images, answers, envText, data, asInstalled };
}

/** The install record, or null where there is none or it is damaged (the install writes it anew). */
function readRecordQuietly(dir: string): InstallRecord | null {
  try {
    return readRecord(dir);
  } catch {
    return null;
  }
}

/**
 * The record, when this very release is installed in the folder with the same answers (the same
 * .env, the same build cache choice), every image present with its ID and every service running
 * (healthy where it has a check) from that image, started from this folder; else null.
 */
async function runningAsInstalled(
  host: DockerHost,
  verified: VerifiedBundle,
  answers: Answers,
  envText: string,
  images: InstallPlan["images"],
  signal: AbortSignal,
): Promise<InstallRecord | null> {
  const manifest = verified.manifest;
  const record = readRecordQuietly(answers.dir);
  if (
    record?.status !== "installed" ||
    record.manifestSha256 !== verified.manifestDigest ||
    record.answers.importCache !== answers.importCache ||
    images.missing.length > 0
  )
    return null;
  const env = await fs.readFile(path.join(answers.dir, ".env"), "utf8").catch(() => null);
  if (env !== envText) return null;
  return (await runningFromFolder(host, manifest, images, answers.dir, signal)) ? record : null;
}

/**
 * The project's containers, when every service runs (healthy where it has a check) from the image
 * preflight found for it and was started from `dir`; else null.
 */
async function runningFromFolder(
  host: DockerHost,
  manifest: Manifest,
  images: InstallPlan["images"],
  dir: string,
  signal: AbortSignal,
): Promise<ContainerState[] | null> {
  const containers = (await projectContainers(host, manifest.project.name, signal)).filter((c) =>
    manifest.services.some((s) => s.name === c.service),
  );
  const runs = (service: Manifest["services"][number]) =>
    containers.some(
      (c) =>
        c.service === service.name &&
        isReady(c) &&
        c.imageId === images.found.get(service.image)?.id &&
        (c.workingDir === null || path.resolve(c.workingDir) === path.resolve(dir)),
    );
  return manifest.services.every(runs) ? containers : null;
}

/** The staged files the install places besides the source, each with where it goes. */
function stagedPlacements(
  manifest: Manifest,
  staging: string,
  dir: string,
): Array<[staged: string, placed: string]> {
  const placements: Array<[string, string]> = manifest.project.composeFiles.map((f) => [
    path.join(staging, COMPOSE_DIR, f),
    path.join(dir, f),
  ]);
  placements.push([path.join(staging, OVERRIDE_PATH), path.join(dir, OVERRIDE_FILE)]);
  if (manifest.project.envTemplate)
    placements.push([path.join(staging, ENV_TEMPLATE_PATH), path.join(dir, RECORD_DIR, "env.template")]);
  return placements;
}

/**
 * After the checked read, for a release installed and running as it would be (InstallPlan's
 * asInstalled): every file the install would place is in the folder with the same bytes, and the
 * services still run. Then nothing is changed and the containers are returned; else null, and the
 * install goes on from the staged files.
 */
async function keptAsIs(
  verified: VerifiedBundle,
  plan: InstallPlan,
  loaded: Loaded,
  options: InstallOptions,
): Promise<ContainerState[] | null> {
  const manifest = verified.manifest;
  const { dir } = plan.answers;
  const { staging } = loaded;
  // Data to place or a volume to fill: something changes.
  if (plan.data.files.size || plan.data.volumes.size) return null;
  const same = async (staged: string | Buffer, placed: string) => {
    const [a, b] = await Promise.all([
      typeof staged === "string" ? fs.readFile(staged).catch(() => null) : staged,
      fs.readFile(placed).catch(() => null),
    ]);
    return !!a && !!b && a.equals(b);
  };
  const sourceFiles = existsSync(path.join(staging, "src"))
    ? await filesUnder(path.join(staging, "src"))
    : [];
  const recordCache = plan.asInstalled?.cache;
  // What the install would place (staged, or the text it would write) and where.
  const pairs: Array<[staged: string | Buffer, placed: string]> = [
    ...sourceFiles.map((f): [string, string] => [path.join(staging, "src", f), path.join(dir, f)]),
    ...stagedPlacements(manifest, staging, dir),
  ];
  if (recordCache)
    pairs.push([
      Buffer.from(cacheOverride(manifest, dir, recordCache.kind ?? "inline")),
      path.join(dir, CACHE_OVERRIDE_FILE),
    ]);
  for (const [staged, placed] of pairs) if (!(await same(staged, placed))) return null;
  if (isSea() && !existsSync(path.join(dir, RECORD_DIR, "install"))) return null;
  const containers = await runningFromFolder(plan.host, manifest, plan.images, dir, options.signal);
  if (!containers) return null;
  await fs.rm(staging, { recursive: true, force: true });
  options.reporter.info(
    `nothing to change: release ${manifest.project.release} runs as installed, its ${pairs.length} files as the bundle has them`,
  );
  return containers;
}

/** What the load step leaves: the staged files, the images loaded, the record it found. */
interface Loaded {
  staging: string;
  loaded: string[];
  previous: InstallRecord | null;
  /** A re-install of the installed release: its cache mounts are in the builder already. */
  reuseMounts: boolean;
  /** Of the step's time, what docker load took after its input ended (registering the layers). */
  registerMs: number;
}

/**
 * One checked read of the bundle: images into `docker load` (let finish only when every byte
 * matched), the source, compose files and cache mounts into DIR/.sealift/staging. On failure the
 * folder is left as it was found.
 */
async function loadStep(
  verified: VerifiedBundle,
  plan: InstallPlan,
  lock: FolderLock,
  options: InstallOptions,
): Promise<Loaded> {
  const { reporter, signal } = options;
  const manifest = verified.manifest;
  const dir = plan.answers.dir;
  const created = lock.created;
  const staging = path.join(dir, RECORD_DIR, "staging");
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging);
  if (!plan.images.missing.length)
    reporter.info(
      `images: all ${plan.images.present.length} already present with the same ID, nothing to load`,
    );
  const previous = readRecord(dir);
  const reuseMounts =
    previous?.status === "installed" &&
    previous.manifestSha256 === verified.manifestDigest &&
    (manifest.cache?.mounts ?? []).every((m) => previous.cache?.mounts.some((p) => p.id === m.id));
  const wantMounts = plan.answers.importCache && (manifest.cache?.mounts.length ?? 0) > 0 && !reuseMounts;
  try {
    const { loaded, filesChecked, registerMs } = await loadAndStage(
      plan.host,
      verified,
      staging,
      plan.images.missing.length > 0,
      wantMounts,
      plan.data,
      reporter,
      signal,
    );
    if (verified.sums) verified.filesChecked += filesChecked;
    // .env belongs to the operator (the answers): a copy in the source is never placed.
    await fs.rm(path.join(staging, "src", ".env"), { force: true });
    return { staging, loaded, previous, reuseMounts, registerMs };
  } catch (error) {
    // Nothing was installed yet: leave the folder as it was found (or not there at all).
    await fs.rm(created ? dir : staging, { recursive: true, force: true });
    throw error;
  }
}

/** Every image really there (and usable on the containerd store), then the build cache. */
async function cacheStep(
  verified: VerifiedBundle,
  plan: InstallPlan,
  loaded: Loaded,
  options: InstallOptions,
): Promise<{ hostIds: Map<string, string>; cache: InstallRecord["cache"] | undefined }> {
  const hostIds = await checkLoadedImages(plan.host, verified.manifest, plan.images, options.signal);
  const cache = await applyBuildCache(plan.host, verified.manifest, {
    importCache: plan.answers.importCache,
    reuseMounts: loaded.reuseMounts,
    staging: loaded.staging,
    dir: plan.answers.dir,
    previous: loaded.previous,
    hostIds,
    reporter: options.reporter,
    signal: options.signal,
  });
  return { hostIds, cache };
}

/** What the extract step leaves: the project compose runs, its model, the record to write. */
interface Placed {
  project: { name: string; dir: string; files: string[]; profiles: string[] };
  model: ComposeModel;
  record: Omit<InstallRecord, "status">;
  rollbackPoint: Awaited<ReturnType<typeof saveRollbackPoint>> | undefined;
}

/**
 * The staged files into the install folder (on an upgrade, after saving what they replace), the
 * .env, the cache override, the source hashes, the kept installer; the record to write.
 */
async function extractStep(
  source: BundleSource,
  verified: VerifiedBundle,
  plan: InstallPlan,
  loaded: Loaded,
  { hostIds, cache }: Awaited<ReturnType<typeof cacheStep>>,
  options: InstallOptions,
): Promise<Placed> {
  const manifest = verified.manifest;
  const { answers } = plan;
  const { staging, previous } = loaded;
  const dir = answers.dir;
  // An upgrade: save what the new release's files replace, so that the running one can come back.
  const rollbackPoint =
    previous?.status === "installed" && previous.manifestSha256 !== verified.manifestDigest
      ? await saveRollbackPoint(dir, previous, manifest.project.release, [
          ...(await filesUnder(path.join(staging, "src"))),
          ...(existsSync(path.join(staging, DATA_FILES_DIR))
            ? await filesUnder(path.join(staging, DATA_FILES_DIR))
            : []),
          ...manifest.project.composeFiles,
          OVERRIDE_FILE,
          CACHE_OVERRIDE_FILE,
          ".env",
        ])
      : undefined;
  await moveTree(path.join(staging, "src"), dir);
  // The data after the source: a Git LFS file's content replaces its pointer.
  if (existsSync(path.join(staging, DATA_FILES_DIR))) await moveTree(path.join(staging, DATA_FILES_DIR), dir);
  for (const [staged, placed] of stagedPlacements(manifest, staging, dir)) await fs.rename(staged, placed);
  await fs.rm(staging, { recursive: true, force: true });
  await writeEnv(dir, plan.envText);
  if (cache) await writeCacheOverride(dir, manifest, cache.kind ?? "inline");

  const project = {
    name: manifest.project.name,
    dir,
    files: [...manifest.project.composeFiles, OVERRIDE_FILE, ...(cache ? [CACHE_OVERRIDE_FILE] : [])],
    profiles: manifest.project.profiles,
  };
  const model = await installedModel(
    plan.host,
    dir,
    { composeFiles: project.files, profiles: project.profiles },
    options.signal,
  );
  await recordSourceHashes(dir, model);
  await keepInstaller(dir);
  const record = {
    project: manifest.project.name,
    release: manifest.project.release,
    manifestSha256: verified.manifestDigest,
    installedAt: new Date().toISOString(),
    bundle: source.location,
    dir,
    composeFiles: project.files,
    profiles: project.profiles,
    composeFlavour: plan.host.compose ? `${plan.host.compose.flavour} ${plan.host.compose.version}` : "none",
    services: manifest.services.map((s) => ({
      name: s.name,
      image: s.image,
      imageId: s.imageId,
      hostId: hostIds.get(s.image),
      built: s.built,
    })),
    answers: {
      importCache: answers.importCache,
      env: Object.fromEntries(
        Object.entries(answers.env).map(([k, v]) => [
          k,
          manifest.project.variables.find((x) => x.name === k)?.secret ? "(secret)" : v,
        ]),
      ),
    },
    ...(cache ? { cache } : {}),
    ...(manifest.data ? { data: { files: await placedData(manifest, dir) } } : {}),
    previous: [
      ...(previous?.previous ?? []),
      ...(previous && previous.manifestSha256 !== verified.manifestDigest
        ? [
            {
              release: previous.release,
              manifestSha256: previous.manifestSha256,
              installedAt: previous.installedAt,
            },
          ]
        : []),
    ],
  };
  return { project, model, record, rollbackPoint };
}

/** compose up and the wait for health; on failure the record says so and an upgrade rolls back. */
async function upStep(
  verified: VerifiedBundle,
  host: DockerHost,
  placed: Placed,
  options: InstallOptions,
): Promise<ContainerState[]> {
  const { signal } = options;
  const { project, record, rollbackPoint } = placed;
  const manifest = verified.manifest;
  const status = options.reporter.status("starting services");
  try {
    await composeUp(host, project, {
      signal,
      failureHint:
        "see the compose error above; fix the settings in .env or the host and run the installer again",
    });
    const containers = await waitHealthy(
      host,
      project.name,
      manifest.services.map((s) => s.name),
      {
        timeoutMs: options.timeoutMs,
        signal,
        onStatus: (text) => status.line(text),
      },
    );
    status.finish(`${containers.length} services healthy`);
    return containers;
  } catch (error) {
    await writeRecord(project.dir, { ...record, status: "failed" });
    if (!rollbackPoint) throw error;
    throw await rollBackAfter(error, project.dir, rollbackPoint.record.release, manifest.project.release, {
      ...options,
      // Interrupted while the new release was starting: the one that ran before comes back (a second
      // Ctrl-C leaves at once).
      signal: signal.aborted ? new AbortController().signal : signal,
      interrupted: signal.aborted,
    });
  }
}

/**
 * On an engine that is not the build machine's, the shipped cache keys partly differ from the ones
 * its BuildKit computes (see installer/build-cache.ts): build once now, with the cache mounts warm,
 * so that a rebuild after a code change finds every unchanged step. The app is up already; a
 * failure here is a warning.
 */
async function fitCache(
  host: DockerHost,
  manifest: Manifest,
  model: ComposeModel,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<NonNullable<InstallRecord["cache"]>["fitted"]> {
  if (host.builder === "legacy" || manifest.build.dockerServer === host.serverVersion) return undefined;
  const status = reporter.status(
    `fitting the build cache to Docker ${host.serverVersion} (packed on Docker ${manifest.build.dockerServer})`,
  );
  try {
    const steps = (
      await fitBuildCache(host, manifest.project.name, model.services, {
        signal,
        onLine: (line) => status.line(line),
      })
    ).flatMap((f) => f.steps);
    const ran = steps.filter((s) => !s.cached).length;
    status.finish(
      `${steps.length - ran} of ${steps.length} build steps found in the shipped cache, ${ran} run here`,
    );
    return {
      engine: host.serverVersion,
      packedOn: manifest.build.dockerServer,
      at: new Date().toISOString(),
      steps: steps.length,
      ran,
    };
  } catch (error) {
    if (signal.aborted) throw error;
    status.finish("failed");
    reporter.warn(
      "CACHE_FIT_FAILED",
      `the build cache could not be fitted to this engine (${(error as Error).message.split("\n")[0]}); ` +
        "the app is installed; a rebuild may run dependency steps again",
    );
    return undefined;
  }
}

/** The upgrade failed: back to the release that ran before; the error says what happened to both. */
async function rollBackAfter(
  failure: unknown,
  dir: string,
  from: string,
  to: string,
  options: InstallOptions & { interrupted: boolean },
): Promise<SealiftError> {
  const why = options.interrupted
    ? "interrupted while it was starting"
    : failure instanceof Error
      ? failure.message
      : String(failure);
  const details = failure instanceof SealiftError ? failure.details : [];
  options.reporter.warn("UPGRADE_FAILED", `release ${to} failed: ${why}; rolling back to release ${from}`);
  try {
    await rollback(dir, { ...options, reason: why });
  } catch (rollbackError) {
    return new SealiftError(
      "UNHEALTHY",
      `release ${to} failed (${why}), and rolling back to release ${from} failed too: ${(rollbackError as Error).message}`,
      {
        hint: `see the errors above; \`install rollback --dir ${dir}\` tries again, or install release ${from}'s bundle`,
        details,
        cause: failure,
      },
    );
  }
  if (options.interrupted)
    return new SealiftError(
      "CANCELLED",
      `release ${to} was ${why}; rolled back: release ${from} is running again`,
      {
        hint: "install it again when ready",
        cause: failure,
      },
    );
  return new SealiftError(
    "UPGRADE_ROLLED_BACK",
    `release ${to} failed (${why}); rolled back: release ${from} is running again`,
    {
      hint: "the failing release's logs are above; fix the bundle or the settings and install it again",
      details,
      cause: failure,
    },
  );
}

export function installSummary(result: InstallResult): string {
  const m = result.verified.manifest;
  const i = result.installed;
  if (!i) {
    return `ok: ${m.project.name} release ${m.project.release}: ${result.verified.filesChecked} files verified (${formatBytes(result.verified.bytesChecked)}); nothing was changed\n`;
  }
  const self = selfCommand();
  return (
    [
      i.unchanged
        ? `${m.project.name} release ${i.release} was already installed in ${i.dir} and is healthy; nothing changed (checked in ${formatDuration(i.durationMs)})`
        : `${m.project.name} release ${i.release} is installed in ${i.dir} and healthy (${formatDuration(i.durationMs)})`,
      ...serviceRows(i.containers).map((l) => `  ${l}`),
      `record:    ${i.record}`,
      `status:    ${self} status --dir ${i.dir}`,
      `rebuild:   ${self} rebuild --dir ${i.dir}`,
      `uninstall: ${self} uninstall --dir ${i.dir}`,
    ].join("\n") + "\n"
  );
}

export { serviceRows };
