/**
 * Delta bundles (`pack --base PREVIOUS`): what an earlier release already put on the target, the
 * new bundle leaves out. A layer is left out when every place the new images use it sits on the
 * same layers below as in the base release (same chain ID), so that `docker load` on a host with
 * the base release finds it; cache-mount archives and the installer when their sha256 is the base's.
 */
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { openBundle } from "../bundle/bundle-reader.js";
import { MANIFEST_PATH } from "../bundle/layout.js";
import { parseManifest, type Manifest } from "../bundle/manifest.js";
import { verifyBundle } from "../bundle/verify.js";
import type { Reporter } from "../report.js";
import { chainIds } from "../docker/docker.js";
import { SealiftError } from "../errors.js";

export interface BaseRelease {
  location: string;
  manifest: Manifest;
  /** sha256 of the base's manifest.json: what the delta records and the installer matches. */
  manifestSha256: string;
}

function invalidBase(location: string, why: string, hint: string, cause?: unknown): SealiftError {
  return new SealiftError("BASE_INVALID", `--base ${location}: ${why}`, { hint, cause });
}

/**
 * The base release from its bundle (archive, parts or folder: verified, since a delta trusts it)
 * or from its manifest.json alone.
 */
export async function readBase(
  location: string,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<BaseRelease> {
  const resolved = path.resolve(location);
  const stat = await fs.stat(resolved).catch(() => null);
  if (!stat)
    throw invalidBase(
      location,
      "no such file or folder",
      "give the earlier release's bundle (.tar.gz, its parts' index or extracted folder) or its manifest.json",
    );
  if (stat.isFile() && path.basename(resolved).endsWith(".json") && !resolved.endsWith(".index.json")) {
    const bytes = await fs.readFile(resolved);
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (error) {
      throw invalidBase(location, "is not JSON", `give the base release's ${MANIFEST_PATH}`, error);
    }
    const parsed = parseManifest(json);
    if (!parsed.ok)
      throw invalidBase(
        location,
        `is not a sealift manifest (${parsed.problems[0]})`,
        `give the base release's ${MANIFEST_PATH} or its bundle`,
      );
    return {
      location: resolved,
      manifest: parsed.manifest,
      manifestSha256: createHash("sha256").update(bytes).digest("hex"),
    };
  }
  const source = await openBundle(resolved);
  const progress = reporter.progress(`reading base ${path.basename(resolved)}`, await source.totalBytes());
  const verified = await verifyBundle(source, {
    signal,
    // The base is read for its list of layers only; its own signature was checked where it was installed.
    signature: { mode: "never", trusted: [] },
    onBytes: (b) => progress.update(b),
  });
  progress.finish(`release ${verified.manifest.project.release}`);
  return { location: resolved, manifest: verified.manifest, manifestSha256: verified.manifestDigest };
}

/** The base must be the same project on the same platform. */
export function checkBase(base: BaseRelease, project: string, architecture: string): void {
  const m = base.manifest;
  if (m.project.name !== project)
    throw invalidBase(
      base.location,
      `is a release of "${m.project.name}", not of "${project}"`,
      "give an earlier bundle of this project, or --name to pack under the base's name",
    );
  const baseArch = m.services[0]?.platform.architecture;
  if (baseArch && baseArch !== architecture)
    throw invalidBase(
      base.location,
      `holds linux/${baseArch} images, these are linux/${architecture}`,
      "give an earlier bundle for the same platform",
    );
}

/** Every image of a bundle with its layers: services' and the build cache's stage images. */
function imageLayers(manifest: Manifest): string[][] {
  return [...manifest.services.map((s) => s.layers), ...(manifest.cache?.images ?? []).map((c) => c.layers)];
}

/**
 * diffIDs the delta can leave out: at every position the new images use them, the layers below
 * are those of an image in the base release (same chain ID).
 */
export function layersInBase(base: Manifest, newImages: readonly string[][]): Set<string> {
  const baseChains = new Set(imageLayers(base).flatMap((layers) => chainIds(layers)));
  const everywhere = new Map<string, boolean>();
  for (const layers of newImages) {
    const chains = chainIds(layers);
    layers.forEach((diffId, i) =>
      everywhere.set(diffId, (everywhere.get(diffId) ?? true) && baseChains.has(chains[i]!)),
    );
  }
  return new Set([...everywhere].filter(([, inBase]) => inBase).map(([diffId]) => diffId));
}

/**
 * The blobs (sha256) the delta can leave out, each with its layer's diffID: the layers of
 * layersInBase, held in the blob the base release named for them (on the containerd store a
 * compressed one; in older bundles the layer.tar, whose sha256 is the diffID).
 */
export function blobsInBase(base: Manifest, newImages: readonly string[][]): Map<string, string> {
  const blobs = new Map<string, string>();
  for (const diffId of layersInBase(base, newImages))
    blobs.set(base.images.blobs?.[diffId]?.sha256 ?? diffId.slice(7), diffId);
  return blobs;
}

/** sha256 of a file in the base bundle, by its path there. */
export function baseFileSha256(base: Manifest, bundlePath: string | null): string | undefined {
  return bundlePath ? base.files.find((f) => f.path === bundlePath)?.sha256 : undefined;
}

/**
 * sha256 of a tar's content, whatever its entries' order and times: names, types, modes, owners,
 * link targets and data. Two exports of an unchanged cache mount have the same one even when the
 * folder's times moved (an import into the same builder touches them).
 */
export async function tarContentSha256(file: string): Promise<string> {
  const extract = tar.extract();
  const reading = pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), extract);
  const entries: string[] = [];
  for await (const entry of extract) {
    const h = entry.header;
    const data = createHash("sha256");
    for await (const chunk of entry as AsyncIterable<Buffer>) data.update(chunk);
    entries.push(
      JSON.stringify([
        h.name.replace(/^\.\//, ""),
        h.type,
        h.mode,
        h.uid,
        h.gid,
        h.linkname ?? "",
        data.digest("hex"),
      ]),
    );
  }
  await reading;
  return createHash("sha256").update(entries.sort().join("\n")).digest("hex");
}
