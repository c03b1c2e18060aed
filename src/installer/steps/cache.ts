/** The cache step: every loaded image checked, then the build cache imported. */
import path from "node:path";
import { type VerifiedBundle } from "../../bundle/verify.js";
import type { Reporter } from "../../report.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { formatBytes } from "../../util/format.js";
import { checkLoadedImages } from "../image-loader.js";
import { cacheKindFor, writeCacheIndexes } from "../build-cache.js";
import { importCacheMount } from "../../compose/cache-mount.js";
import { type InstallRecord } from "../install-record.js";
import { untagImage } from "../../docker/docker.js";
import type { Cached, InstallOptions, InstallPlan, Loaded } from "./types.js";

/**
 * The build cache step: cache images are loaded with the others; here each cache mount goes into
 * BuildKit under its id. Declined: the cache images' tags are removed again.
 */
export async function applyBuildCache(
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
    for (const c of shipped.images) await untagImage(host, c.image, signal);
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

/** Every image really there (and usable on the containerd store), then the build cache. */
export async function cacheStep(
  verified: VerifiedBundle,
  plan: InstallPlan,
  loaded: Loaded,
  options: InstallOptions,
): Promise<Cached> {
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
