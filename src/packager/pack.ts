/**
 * `sealift pack`: compose project -> NAME-complete-YYYYMMDD.tar.gz (+ .sha256), in one stream.
 * The archive is written under a temporary name and renamed only when complete.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PartsWriter } from "../bundle/parts.js";
import { cancelled } from "../errors.js";
import { enforceStrict } from "./strict.js";
import { buildImages } from "./steps/build.js";
import { buildCache, exportVolumes } from "./steps/cache.js";
import { commitArchive } from "./steps/commit.js";
import { readProject } from "./steps/read-project.js";
import { archiveTarget } from "./steps/target.js";
import { type PackOptions, type PackResult } from "./steps/types.js";
import { writeArchive } from "./steps/write-archive.js";

export type { PackOptions, PackResult } from "./steps/types.js";
export { installerFor } from "./installer-binary.js";

/**
 * The pack, as its steps: read the project (compose's model, git, lint, the base release) -> build
 * the images -> the build cache -> write the archive (entries, then the manifest with its index) ->
 * commit it under its final name. Nothing is left under a final name unless it is complete.
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  const started = performance.now();
  const project = await readProject(options);
  enforceStrict(options);
  const buildStarted = performance.now();
  const built = await buildImages(project, options);
  const buildMs = performance.now() - buildStarted;
  const target = await archiveTarget(project, built, options);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), "sealift-pack-"));
  const parts = options.splitBytes
    ? new PartsWriter(target.outDir, `${target.topDir}.tar.gz`, options.splitBytes)
    : undefined;
  try {
    const cache = await buildCache(project, built, scratch, options);
    enforceStrict(options);
    const volumes = await exportVolumes(project, built, scratch, options);
    const writeStarted = performance.now();
    const { written, images } = await writeArchive(
      project,
      built,
      { ...cache, volumes },
      target,
      parts,
      scratch,
      options,
    );
    const committed = await commitArchive(target, parts, written.sha256, options.signal);
    return {
      ...committed,
      bytes: written.bytes,
      sha256: written.sha256,
      release: project.release,
      images: built.resolved.map((r) => ({
        service: r.service.name,
        image: r.ref,
        id: images.configs.get(r.ref) ?? r.image.id,
      })),
      durationsMs: {
        build: Math.round(buildMs),
        write: Math.round(performance.now() - writeStarted),
        total: Math.round(performance.now() - started),
      },
      manifest: written.manifest,
    };
  } catch (error) {
    await parts?.abort();
    await fs.rm(target.partial, { force: true });
    await fs.rm(`${target.partial}.sha256`, { force: true });
    if (options.signal.aborted) throw cancelled("pack was cancelled; no archive was written");
    throw error;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
