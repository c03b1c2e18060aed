/** The build cache (each built service's stages and cache mounts) and the shipped volumes' content. */
import { formatBytes } from "../../util/format.js";
import { buildStageImages, exportCacheMounts, type MountArchive, type StageImage } from "../build-cache.js";
import { exportVolume, type VolumeArchive } from "../data.js";
import { type Built, type PackOptions, type Project } from "./types.js";

/** The build cache: each built service's intermediate stages as images, and its cache mounts. */
export async function buildCache(project: Project, built: Built, scratch: string, options: PackOptions) {
  const { reporter, signal } = options;
  if (options.cache === false) {
    reporter.info("build cache: left out (--no-cache)");
    return { stageImages: [] as StageImage[], mounts: [] as MountArchive[] };
  }
  const stageImages = await buildStageImages(project.host, project.model, built.resolved, project.release, {
    reporter,
    signal,
  });
  const mounts = await exportCacheMounts(project.host, built.resolved, stageImages, scratch, {
    reporter,
    signal,
  });
  if (project.host.builder !== "buildx") {
    reporter.info(
      "build cache: no buildx here, so no BuildKit type=local export; stage images and cache mounts carry it",
    );
  }
  return { stageImages, mounts };
}

/** The named volumes that travel, out of this machine's engine (each through a service's image). */
export async function exportVolumes(
  project: Project,
  built: Built,
  scratch: string,
  options: PackOptions,
): Promise<VolumeArchive[]> {
  const archives: VolumeArchive[] = [];
  for (const volume of project.data.volumes) {
    const user =
      built.resolved.find((r) =>
        r.service.volumes.some((m) => m.type === "volume" && m.source === volume.key),
      ) ?? built.resolved[0]!;
    const status = options.reporter.status(`volume ${volume.key}`);
    const archive = await exportVolume(project.host, volume, user.ref, scratch, options.signal);
    status.finish(`${formatBytes(archive.bytes)} from ${volume.engineName}`);
    archives.push(archive);
  }
  return archives;
}
