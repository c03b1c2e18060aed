/**
 * The build cache that travels in the bundle:
 * - layer cache: every intermediate stage of every built service, built with inline cache metadata
 *   and tagged NAME-cache-SERVICE-STAGE:RELEASE (its layers are stored once, shared with the images);
 * - cache mounts: the contents of each `RUN --mount=type=cache` id, taken out of this machine's
 *   BuildKit with a helper build into one tar per id (ownership kept by tar).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Reporter } from "../report.js";
import type { ComposeModel } from "../compose/compose-project.js";
import { dockerfileCache, type CacheMount } from "../compose/dockerfile.js";
import { exportCacheMount } from "../compose/cache-mount.js";
import { dockerfilePath, dockerfileText } from "../compose/compose-model.js";
import { buildImage, inspectImage, type ImageInfo } from "../docker/docker.js";
import { buildRequestFor } from "../compose/build-request.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { formatBytes } from "../util/format.js";
import type { ResolvedService } from "./images.js";

export interface StageImage {
  service: string;
  stage: string;
  ref: string;
  image: ImageInfo;
}

export interface MountArchive {
  id: string;
  target: string;
  options: Record<string, string>;
  service: string;
  stage: string;
  /** The image the helper build runs in (the stage's cache image, or the service's image). */
  helper: string;
  /** The tar file on this machine (in the scratch folder). */
  file: string;
  bytes: number;
  entries: number;
}

function tagPart(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");
}

export function cacheImageTag(project: string, service: string, stage: string, release: string): string {
  return `${project}-cache-${tagPart(service)}-${tagPart(stage)}:${release}`;
}

/** A file name for a cache id ("/root/.cache/pip" -> "root-.cache-pip"), unique within the bundle. */
export function mountFileName(id: string, taken: Set<string>): string {
  const base = id.replace(/^\/+/, "").replace(/[^A-Za-z0-9_.-]+/g, "-") || "cache";
  let name = `${base}.tar`;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}.tar`;
  taken.add(name);
  return name;
}

/** Builds every intermediate stage with inline cache and tags it; the final stage is the service image. */
export async function buildStageImages(
  host: DockerHost,
  model: ComposeModel,
  resolved: ResolvedService[],
  release: string,
  options: { reporter: Reporter; signal: AbortSignal },
): Promise<StageImage[]> {
  const stages: StageImage[] = [];
  for (const r of resolved) {
    const build = r.service.build;
    const text = build && dockerfileText(build);
    if (!build || !text) continue;
    const cache = dockerfileCache(text, build.target);
    for (const stage of cache.unnamed)
      options.reporter.info(
        `build cache: ${r.service.name}'s stage ${stage.index} has no name (FROM ... AS NAME), so it cannot be built alone; its layers travel only in what is built from it`,
      );
    for (const stage of cache.stages) {
      const ref = cacheImageTag(model.name, r.service.name, stage.name, release);
      const status = options.reporter.status(`caching ${r.service.name} stage ${stage.name}`);
      await buildImage(host, {
        ...buildRequestFor(build, ref),
        target: stage.name,
        signal: options.signal,
        onLine: (line) => status.line(line),
      });
      const image = await inspectImage(host, ref, options.signal);
      if (!image)
        throw new SealiftError(
          "BUILD_FAILED",
          `stage ${stage.name} of ${r.service.name} left no image ${ref}`,
        );
      status.finish(ref);
      stages.push({ service: r.service.name, stage: stage.name, ref, image });
    }
  }
  return stages;
}

/** Finds the cache mounts of every built service, first occurrence of each id winning. */
export function findCacheMounts(
  resolved: ResolvedService[],
  stageImages: StageImage[],
): Array<{ mount: CacheMount; service: string; stage: string; helper: string; dockerfile: string }> {
  const found = new Map<
    string,
    { mount: CacheMount; service: string; stage: string; helper: string; dockerfile: string }
  >();
  for (const r of resolved) {
    const build = r.service.build;
    const text = build && dockerfileText(build);
    if (!build || !text) continue;
    for (const { mount, stage } of dockerfileCache(text, build.target).mounts) {
      const helper =
        stageImages.find((s) => s.service === r.service.name && s.stage === stage.name)?.ref ?? r.ref;
      if (!found.has(mount.id))
        found.set(mount.id, {
          mount,
          service: r.service.name,
          stage: stage.name,
          helper,
          dockerfile: dockerfilePath(build) ?? `${r.service.name} (dockerfile_inline)`,
        });
    }
  }
  return [...found.values()];
}

/** Exports every cache mount; a failure is a clear warning (an error with --strict: strict.ts), never a silent empty cache. */
export async function exportCacheMounts(
  host: DockerHost,
  resolved: ResolvedService[],
  stageImages: StageImage[],
  scratch: string,
  options: { reporter: Reporter; signal: AbortSignal },
): Promise<MountArchive[]> {
  const mounts = findCacheMounts(resolved, stageImages);
  if (mounts.length && host.builder === "legacy") {
    const message = `${mounts.length} cache mount(s) cannot be exported without BuildKit (no buildx and a docker client of 23.0 or newer): left out`;
    options.reporter.warn("CACHE_MOUNTS_SKIPPED", message);
    return [];
  }
  const archives: MountArchive[] = [];
  for (const [index, found] of mounts.entries()) {
    const progress = options.reporter.status(`exporting cache mount ${found.mount.id}`);
    try {
      const { file, entries } = await exportCacheMount(
        host,
        { id: found.mount.id, options: found.mount.options, helper: found.helper },
        path.join(scratch, `mount-${index}`),
        options.signal,
      );
      // "." alone: BuildKit had nothing under that id on this machine.
      if (entries <= 1) {
        const message = `cache mount ${found.mount.id} (${path.basename(found.dockerfile)}:${found.mount.line}) is empty on this machine; the target will rebuild that step from nothing`;
        options.reporter.warn("CACHE_MOUNT_EMPTY", message);
      }
      const bytes = (await fs.stat(file)).size;
      progress.finish(`${formatBytes(bytes)}, ${entries} entries`);
      archives.push({
        id: found.mount.id,
        target: found.mount.target,
        options: found.mount.options,
        service: found.service,
        stage: found.stage,
        helper: found.helper,
        file,
        bytes,
        entries,
      });
    } catch (error) {
      if (options.signal.aborted || error instanceof SealiftError) throw error;
      const message = `cache mount ${found.mount.id} could not be exported: ${(error as Error).message.split("\n")[0]}`;
      options.reporter.warn("CACHE_MOUNT_FAILED", message);
    }
  }
  return archives;
}
