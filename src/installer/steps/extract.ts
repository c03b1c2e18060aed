/**
 * The extract step: the staged files into the install folder (after saving, on an upgrade, what
 * they replace), the .env, the data, the cache override, the kept installer; the record to write.
 */
import { keptInstallerPath } from "../install-record.js";
import { readRollbackPlan } from "../rollback.js";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import type { InstallerSelf } from "../self.js";
import { type BundleSource } from "../../bundle/bundle-reader.js";
import { CACHE_OVERRIDE_FILE, DATA_FILES_DIR, OVERRIDE_FILE } from "../../bundle/layout.js";
import { type VerifiedBundle } from "../../bundle/verify.js";
import { recordSourceHashes, writeCacheOverride } from "../build-cache.js";
import { installedModel } from "../install-record.js";
import { moveTree, pathInside } from "../safe-extract.js";
import { saveRollbackPoint } from "../rollback.js";
import { filesBelow } from "../../util/walk-tree.js";
import { copyDurably, writeDurably } from "../../util/durable-write.js";
import { placedData } from "../data.js";
import { stagedPlacements } from "./installed-state.js";
import type { Cached, InstallOptions, InstallPlan, Loaded, Placed } from "./types.js";

/**
 * The installer keeps a copy of itself in DIR/.sealift/install: updates that leave the installer
 * to their base release, status, rebuild and uninstall run it from there.
 */
export async function keepInstaller(dir: string, self: InstallerSelf): Promise<void> {
  if (!self.executable) return;
  const target = keptInstallerPath(dir);
  if (path.resolve(self.executable) === target) return;
  await copyDurably(self.executable, target, 0o755);
}

/** Writes .env (see envToInstall), readable by its owner only. */
export async function writeEnv(dir: string, text: string): Promise<void> {
  await writeDurably(path.join(dir, ".env"), text, 0o600);
}

/**
 * The staged files into the install folder (on an upgrade, after saving what they replace), the
 * .env, the cache override, the source hashes, the kept installer; the record to write.
 */
export async function extractStep(
  source: BundleSource,
  verified: VerifiedBundle,
  plan: InstallPlan,
  loaded: Loaded,
  { hostIds, cache }: Cached,
  options: InstallOptions,
  /** Called once the files it replaces are saved, before the first is replaced. */
  beforePlacing: () => Promise<void>,
): Promise<Placed> {
  const manifest = verified.manifest;
  const { answers } = plan;
  const { staging, previous } = loaded;
  const dir = answers.dir;
  // An upgrade: save what the new release's files replace, so that the running one can come back.
  // Finishing an upgrade that was cut while placing files: the point saved before it is the one.
  const resumed = readRollbackPlan(dir);
  const resuming =
    !!plan.interrupted &&
    plan.interrupted.stage !== "loading" &&
    plan.interrupted.to.manifestSha256 === verified.manifestDigest &&
    resumed?.replacedBy === manifest.project.release &&
    resumed.record.manifestSha256 === previous?.manifestSha256;
  const rollbackPoint =
    previous?.status === "installed" && previous.manifestSha256 !== verified.manifestDigest
      ? resuming
        ? resumed!
        : await saveRollbackPoint(dir, previous, manifest.project.release, [
            ...(await filesBelow(path.join(staging, "src"))),
            ...(existsSync(path.join(staging, DATA_FILES_DIR))
              ? await filesBelow(path.join(staging, DATA_FILES_DIR))
              : []),
            ...manifest.project.composeFiles,
            OVERRIDE_FILE,
            CACHE_OVERRIDE_FILE,
            ".env",
          ])
      : undefined;
  await beforePlacing();
  await moveTree(path.join(staging, "src"), dir);
  // The data after the source: a Git LFS file's content replaces its pointer.
  if (existsSync(path.join(staging, DATA_FILES_DIR))) await moveTree(path.join(staging, DATA_FILES_DIR), dir);
  for (const [staged, placed] of stagedPlacements(manifest, staging, dir))
    await fs.rename(staged, await pathInside(dir, path.relative(dir, placed), "the bundle's compose files"));
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
  await keepInstaller(dir, options.self);
  const record = {
    project: manifest.project.name,
    release: manifest.project.release,
    manifestSha256: verified.manifestDigest,
    packedAt: manifest.createdAt,
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
