/**
 * The build cache on the target: put each cache-mount archive back into the builder under its id
 * (a helper build, ownership kept by tar), write compose.cache.yaml with build.cache_from in the
 * form this host's builder can import offline, fit the cache to this host's BuildKit when it is not
 * the build machine's, and say what state the cache is in (`install cache status`).
 *
 * The layer cache is the stage and service images' inline cache metadata. How a builder reads it
 * offline depends on the image store (measured on Docker 20.10 and 26):
 * - classic store: `--cache-from IMAGE` reads the local image's inline cache ("inline");
 * - containerd store: `--cache-from IMAGE` goes to a registry and fails offline; a `type=local`
 *   cache source that is an OCI layout of the image's index, manifests and config (a few KB, no
 *   layers: BuildKit takes those from the store) is read instead ("oci").
 * Cache keys hold the Dockerfile frontend's LLB, which changes between BuildKit versions: built on
 * Docker 20.10, a COPY step misses on Docker 26 (and the other way round). So where the engine is
 * not the build machine's, the install builds each service once with that cache ("fitting"): the
 * steps whose keys differ run here, with the cache mounts warm, and later rebuilds find them.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import type { Manifest } from "../bundle/manifest.js";
import { CACHE_OVERRIDE_FILE } from "../bundle/layout.js";
import { dockerfileText } from "../compose/compose-model.js";
import type { ComposeModel } from "../compose/compose-project.js";
import { contextSources, parseDockerfile } from "../compose/dockerfile.js";
import { imageDescriptors, OCI_INDEX, OCI_LAYOUT_FILE } from "../bundle/image-archive.js";
import type { ServiceModel } from "../compose/compose-project.js";
import { BuildStepTracker, type BuildStep } from "../docker/build-steps.js";
import {
  buildImage,
  diskUsage,
  inspectImage,
  saveImages,
  untagImage,
  type BuildRequest,
} from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { buildRequestFor } from "../compose/build-request.js";
import { formatBytes } from "../util/format.js";
import { installedModel, RECORD_DIR, type InstallRecord } from "./install-record.js";
import { walkTree } from "../util/walk-tree.js";
import { readStateJson } from "../util/read-bounded.js";
import { sha256File } from "../util/hash-tap.js";
import { writeDurably } from "../util/durable-write.js";
import { z } from "zod";
import type { CacheStatus } from "./install-json.js";

export type { CacheStatus };

const SOURCE_HASHES = "source-hashes.json";

/** How this host's builder reads the shipped layer cache offline (see the top of this file). */
export type CacheKind = NonNullable<CacheStatus["kind"]>;

export function cacheKindFor(host: DockerHost): CacheKind {
  return host.containerdImageStore ? "oci" : "inline";
}

export function describeCacheKind(kind: CacheKind): string {
  return kind === "oci"
    ? "OCI index of each cache image, read with --cache-from type=local (containerd store)"
    : "inline cache of each cache image, read with --cache-from IMAGE (classic store)";
}

/** The images whose cache a built service's rebuild uses: its stages', then its own. */
function cacheImagesOf(manifest: Manifest, service: string): string[] {
  const stages = (manifest.cache?.images ?? []).filter((c) => c.service === service).map((c) => c.image);
  const own = manifest.services.find((s) => s.name === service && s.built)?.image;
  return [...stages, ...(own ? [own] : [])];
}

const INDEX_DIR = "cache-index";
const INDEX_TAG = "cache";

function indexDirOf(dir: string, image: string): string {
  return path.join(dir, RECORD_DIR, INDEX_DIR, image.replace(/[^A-Za-z0-9_.-]+/g, "_"));
}

/** One `build.cache_from` entry for a cache image, in the form `kind` reads. */
function cacheSource(dir: string, image: string, kind: CacheKind): string {
  return kind === "oci" ? `type=local,src=${indexDirOf(dir, image)},tag=${INDEX_TAG}` : image;
}

/**
 * For the "oci" kind: writes DIR/.sealift/cache-index/IMAGE/, an OCI layout of each cache image's
 * descriptors taken from this host's own `docker save` (so the digests are the ones its store holds).
 * Indexes of other releases stay (a few KB each): a rollback's compose.cache.yaml names them.
 */
export async function writeCacheIndexes(
  host: DockerHost,
  dir: string,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<void> {
  const images = manifest.services.filter((s) => s.built).flatMap((s) => cacheImagesOf(manifest, s.name));
  if (!images.length) return;
  // One save for all: each call costs the engine a fixed while.
  const save = saveImages(host, images, signal);
  let found;
  try {
    found = await imageDescriptors(save.stdout, images, INDEX_TAG);
  } catch (error) {
    save.stdout.destroy();
    await save.done.catch(() => undefined);
    throw error;
  }
  await save.done;
  for (const [image, descriptors] of found) {
    const target = indexDirOf(dir, image);
    const next = `${target}.new`;
    await fs.rm(next, { recursive: true, force: true });
    await fs.mkdir(path.join(next, "blobs", "sha256"), { recursive: true });
    await fs.writeFile(path.join(next, OCI_LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    for (const [digest, blob] of descriptors.blobs)
      await fs.writeFile(path.join(next, "blobs", "sha256", digest.replace(/^sha256:/, "")), blob);
    await fs.writeFile(path.join(next, OCI_INDEX), JSON.stringify(descriptors.index));
    await fs.rm(target, { recursive: true, force: true });
    await fs.rename(next, target);
  }
}

/** compose.cache.yaml: build.cache_from for every built service, so a plain rebuild uses the cache. */
export function cacheOverride(manifest: Manifest, dir: string, kind: CacheKind): string {
  const services: Record<string, { build: { cache_from: string[] } }> = {};
  for (const service of manifest.services.filter((s) => s.built)) {
    const sources = cacheImagesOf(manifest, service.name).map((image) => cacheSource(dir, image, kind));
    services[service.name] = { build: { cache_from: sources } };
  }
  return `# Written by sealift: rebuilds reuse the build cache shipped with release ${manifest.project.release}.\n${toYaml({ services })}`;
}

export async function writeCacheOverride(dir: string, manifest: Manifest, kind: CacheKind): Promise<void> {
  await writeDurably(path.join(dir, CACHE_OVERRIDE_FILE), cacheOverride(manifest, dir, kind), 0o644);
}

/** The build of one service as a rebuild runs it (fitting the cache must build it the same way). */
export function serviceBuild(service: ServiceModel, tag?: string): BuildRequest {
  if (!service.build) throw new Error(`service ${service.name} is not built`);
  return buildRequestFor(service.build, tag);
}

export interface FittedService {
  service: string;
  steps: BuildStep[];
}

/**
 * Builds every built service once with the shipped cache, keeping only the build cache (no image of
 * the app is tagged or replaced): steps whose keys this BuildKit computes differently run now, with the cache
 * mounts warm, so that a rebuild after a code change finds every unchanged step cached.
 */
export async function fitBuildCache(
  host: DockerHost,
  project: string,
  services: ServiceModel[],
  options: { signal: AbortSignal; onLine?: (line: string) => void },
): Promise<FittedService[]> {
  const fitted: FittedService[] = [];
  for (const service of services.filter((s) => s.build)) {
    const tracker = new BuildStepTracker();
    const request = serviceBuild(service);
    const onLine = (line: string) => {
      tracker.onLine(line);
      options.onLine?.(line);
    };
    // Exported as an image under a tag of our own, removed again: the build cache keeps every step
    // (with `--output type=cacheonly` Docker 26 kept only the last stage's), and only this tag goes,
    // never an image another tag names.
    const tag = `${project}-sealift-fit-${service.name.toLowerCase().replace(/[^a-z0-9_.-]/g, "-")}:latest`;
    await buildImage(host, { ...request, tag, signal: options.signal, onLine });
    await untagImage(host, tag, options.signal);
    fitted.push({ service: service.name, steps: tracker.result() });
  }
  return fitted;
}

/** sha256 of every file of the built services' contexts, to tell later which ones changed. */
async function hashContexts(dir: string, model: ComposeModel): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const context of new Set(model.services.flatMap((s) => (s.build ? [s.build.context] : []))))
    for await (const { rel, dirent } of walkTree(context, { skip: new Set([RECORD_DIR, ".git"]) })) {
      if (!dirent.isFile()) continue;
      const full = path.join(context, rel);
      hashes[path.relative(dir, full)] = await sha256File(full);
    }
  return hashes;
}

export async function recordSourceHashes(dir: string, model: ComposeModel): Promise<void> {
  await writeDurably(
    path.join(dir, RECORD_DIR, SOURCE_HASHES),
    JSON.stringify(await hashContexts(dir, model), null, 1),
    0o600,
  );
}

/** Which installed files changed since install, and the first build step each one invalidates. */
async function staleSteps(dir: string, model: ComposeModel): Promise<CacheStatus["changes"]> {
  const file = path.join(dir, RECORD_DIR, SOURCE_HASHES);
  const before = z
    .record(z.string(), z.string())
    .nullable()
    .parse(readStateJson(file, "the source hashes", "install the release's bundle again to write them anew"));
  if (!before) return [];
  const now = await hashContexts(dir, model);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(now)])].filter(
    (f) => before[f] !== now[f],
  );
  const changes: CacheStatus["changes"] = [];
  for (const changedFile of changed) {
    for (const service of model.services) {
      const text = service.build && dockerfileText(service.build);
      if (!service.build || !text) continue;
      const inContext = path.relative(service.build.context, path.join(dir, changedFile));
      if (inContext.startsWith("..")) continue;
      for (const stage of parseDockerfile(text).stages) {
        const step = stage.instructions.find((i) =>
          contextSources(i).some((source) => {
            const s = source.replace(/^\.\/?/, "").replace(/\/$/, "");
            // A glob counts for everything under the folder before its first "*".
            const prefix = s.includes("*") ? s.slice(0, s.indexOf("*")) : null;
            if (prefix !== null) return inContext.startsWith(prefix);
            return s === "" || s === "." || inContext === s || inContext.startsWith(`${s}/`);
          }),
        );
        if (step)
          changes.push({
            file: changedFile,
            service: service.name,
            stage: stage.name,
            step: `${step.keyword} ${step.args}`,
            line: step.line,
          });
      }
    }
  }
  return changes;
}

export async function cacheStatus(
  host: DockerHost,
  dir: string,
  record: InstallRecord,
  signal: AbortSignal,
): Promise<CacheStatus> {
  const images: CacheStatus["images"] = [];
  for (const c of record.cache?.images ?? []) {
    const info = await inspectImage(host, c.hostId ?? c.imageId, signal);
    const created = info?.created || null;
    images.push({
      service: c.service,
      stage: c.stage,
      image: c.image,
      present: !!info,
      bytes: info?.size ?? null,
      created,
    });
  }
  const df = await diskUsage(host, signal);
  return {
    kind: record.cache?.kind ?? null,
    fitted: record.cache?.fitted ?? null,
    images,
    mounts: record.cache?.mounts ?? [],
    dockerDiskUsage: df,
    changes: await staleSteps(dir, await installedModel(host, dir, record, signal)),
  };
}

export function describeCacheStatus(status: CacheStatus): string {
  const lines = [
    `layer cache: ${status.kind ? describeCacheKind(status.kind) : "inline cache of each cache image (installed by an older sealift)"}`,
  ];
  if (status.fitted)
    lines.push(
      `  fitted to this host's BuildKit at install (Docker ${status.fitted.engine}; packed on ${status.fitted.packedOn}): ${status.fitted.ran} of ${status.fitted.steps} steps ran here`,
    );
  lines.push("cache images:");
  if (!status.images.length) lines.push("  none");
  for (const i of status.images) {
    lines.push(
      `  ${i.service}/${i.stage}: ${i.image} ${i.present ? `present, ${formatBytes(i.bytes ?? 0)}, built ${i.created}` : "MISSING"}`,
    );
  }
  lines.push("cache mounts (RUN --mount=type=cache contents, imported into BuildKit):");
  if (!status.mounts.length) lines.push("  none");
  for (const m of status.mounts) lines.push(`  ${m.id}: ${formatBytes(m.bytes)}, imported ${m.importedAt}`);
  lines.push("installed source against the cache:");
  if (!status.changes.length)
    lines.push("  unchanged since install: a rebuild takes every step from the cache");
  for (const c of status.changes) {
    lines.push(
      `  ${c.file} changed: ${c.service} stage ${c.stage} runs again from line ${c.line} (${c.step.slice(0, 60)})`,
    );
  }
  lines.push("docker disk usage:", ...status.dockerDiskUsage.split("\n").map((l) => `  ${l}`));
  return lines.join("\n") + "\n";
}
