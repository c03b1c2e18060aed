/** The compare step of a re-install: nothing to change when every placed file is as the bundle has it. */
import { keptInstallerPath } from "../install-record.js";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { CACHE_OVERRIDE_FILE } from "../../bundle/layout.js";
import { type VerifiedBundle } from "../../bundle/verify.js";
import { type ContainerState } from "../../docker/docker.js";
import { cacheOverride } from "../build-cache.js";
import { filesBelow } from "../../util/walk-tree.js";
import { runningFromFolder, stagedPlacements } from "./installed-state.js";
import { type InstallOptions, type InstallPlan, type Loaded } from "./types.js";

/**
 * After the checked read, for a release installed and running as it would be (InstallPlan's
 * asInstalled): every file the install would place is in the folder with the same bytes, and the
 * services still run. Then nothing is changed and the containers are returned; else null, and the
 * install goes on from the staged files.
 */
export async function keptAsIs(
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
    ? await filesBelow(path.join(staging, "src"))
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
  if (options.self.executable && !existsSync(keptInstallerPath(dir))) return null;
  const containers = await runningFromFolder(plan.host, manifest, plan.images, dir, options.signal);
  if (!containers) return null;
  await fs.rm(staging, { recursive: true, force: true });
  options.reporter.info(
    `nothing to change: release ${manifest.project.release} runs as installed, its ${pairs.length} files as the bundle has them`,
  );
  return containers;
}
