/**
 * The images/ folder: what `docker save` wrote, as it wrote it. Docker 20.10 writes a
 * docker-archive (`ID/layer.tar`, `CONFIG.json`, `manifest.json`, links for repeated layers);
 * Docker 25+ writes an OCI layout (`blobs/sha256/DIGEST`, `index.json`, `oci-layout`) with the same
 * `manifest.json` beside it, and on the containerd store the layer blobs are compressed. Both
 * sides read the layout through here: the packer to name images and layers independently of the
 * store, the installer to hand `docker load` what the host's store can import.
 */
import { SealiftError } from "../errors.js";
import { createHash } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import type { Manifest } from "./manifest.js";

/** One image in `manifest.json` of a docker-archive. */
/** docker save's output that sealift cannot read: the engine's doing, said as such (not a bug of ours). */
export function saveUnreadable(message: string): SealiftError {
  return new SealiftError("IMAGE_SAVE_UNREADABLE", message, {
    hint: "docker save wrote what sealift cannot read; check the engine (docker version, its log) and pack again, or report it with the engine's version",
  });
}

export interface SavedImage {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

export const SAVE_MANIFEST = "manifest.json";
export const OCI_INDEX = "index.json";
export const OCI_LAYOUT_FILE = "oci-layout";

export function parseSaveManifest(content: Buffer | string): SavedImage[] {
  const parsed = JSON.parse(content.toString()) as SavedImage[];
  if (!Array.isArray(parsed)) throw saveUnreadable("docker save's manifest.json is not a list");
  return parsed;
}

/** The layers (diffIDs) of a saved image, looked up by any of its tags among (reference, layers). */
export function layersByTag(
  images: ReadonlyArray<readonly [string, readonly string[]]>,
): (image: SavedImage) => readonly string[] | undefined {
  const byRef = new Map(images);
  return (image) => (image.RepoTags ?? []).map((tag) => byRef.get(tag)).find(Boolean);
}

/** sha256:HEX of a file named by its digest (`blobs/sha256/HEX`, `HEX.json`), else null. */
export function digestOfName(name: string): string | null {
  const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
  if (blob) return `sha256:${blob[1]}`;
  const config = /^([0-9a-f]{64})\.json$/.exec(name);
  return config ? `sha256:${config[1]}` : null;
}

/** A layer's file in the archive: the blob that holds it (maybe compressed) and its size. */
export interface LayerBlob {
  sha256: string;
  size: number;
}

/**
 * For each layer (diffID) of the saved images, the blob that holds it. A docker-archive's
 * `layer.tar` is the uncompressed layer, so its sha256 is the diffID; an OCI blob is named by its
 * own digest. `sizes` holds every file's size by name, `links` each link's target.
 */
export function layerBlobs(
  saved: readonly SavedImage[],
  diffIds: (image: SavedImage) => readonly string[] | undefined,
  sizes: ReadonlyMap<string, number>,
  links: ReadonlyMap<string, string>,
): Record<string, LayerBlob> {
  const blobs: Record<string, LayerBlob> = {};
  for (const image of saved) {
    const layers = diffIds(image);
    if (!layers || layers.length !== image.Layers.length) continue;
    image.Layers.forEach((file, i) => {
      const diffId = layers[i]!;
      const real = resolveLink(file, links);
      const digest = digestOfName(real) ?? diffId;
      blobs[diffId] = { sha256: digest.slice(7), size: sizes.get(real) ?? 0 };
    });
  }
  return blobs;
}

/** Follows a docker-archive link (`A/layer.tar -> ../B/layer.tar`) to the file it names. */
export function resolveLink(name: string, links: ReadonlyMap<string, string>): string {
  let current = name;
  for (let i = 0; i < 8 && links.has(current); i++)
    current = path.posix.normalize(path.posix.join(path.posix.dirname(current), links.get(current)!));
  return current;
}

/**
 * The diffID of each layer file the bundle carries, by bundle path. Bundles from before the
 * manifest named the blobs carry docker-archive `layer.tar` files, whose sha256 is the diffID.
 */
export function layerFiles(manifest: Manifest, imagesDir: string): Map<string, string> {
  const byDigest = new Map(
    Object.entries(manifest.images.blobs ?? {}).map(([diffId, blob]) => [blob.sha256, diffId]),
  );
  const files = new Map<string, string>();
  for (const file of manifest.files) {
    if (!file.path.startsWith(imagesDir)) continue;
    const diffId =
      byDigest.get(file.sha256) ?? (file.path.endsWith("/layer.tar") ? `sha256:${file.sha256}` : undefined);
    if (diffId) files.set(file.path, diffId);
  }
  return files;
}

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";

/** The full reference containerd names an image by: `busybox:1` is `docker.io/library/busybox:1`. */
export function fullReference(ref: string): string {
  const slash = ref.indexOf("/");
  const first = slash === -1 ? "" : ref.slice(0, slash);
  const hasRegistry = first.includes(".") || first.includes(":") || first === "localhost";
  if (hasRegistry) return ref;
  return slash === -1 ? `docker.io/library/${ref}` : `docker.io/${ref}`;
}

/**
 * A docker-archive's images as an OCI layout, for the containerd store: its docker-archive import
 * needs every layer file in the archive, while its OCI import takes blobs it already holds from the
 * content store (what a delta leaves to its base release). Layers are named by their digest (the
 * diffID: docker-archive layers are uncompressed); each image gets a manifest blob and an entry in
 * index.json under its tags.
 */
export function ociLayoutFor(
  saved: readonly SavedImage[],
  files: ReadonlyMap<string, { sha256: string; size: number }>,
  blobs: Manifest["images"]["blobs"],
  diffIds: (image: SavedImage) => readonly string[] | undefined,
): { blobs: Array<{ name: string; content: Buffer }>; index: Buffer; layout: Buffer } {
  const out: Array<{ name: string; content: Buffer }> = [];
  const manifests: unknown[] = [];
  for (const image of saved) {
    const config = files.get(image.Config);
    if (!config)
      throw saveUnreadable(`docker save's manifest.json names ${image.Config}, which is not in the bundle`);
    const layers = diffIds(image) ?? [];
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: DOCKER_CONFIG, digest: `sha256:${config.sha256}`, size: config.size },
        layers: image.Layers.map((file, i) => {
          const carried = files.get(file);
          const blob = carried ?? blobs?.[layers[i] ?? ""];
          if (!blob) throw saveUnreadable(`layer ${file} is neither in the bundle nor named in its manifest`);
          return { mediaType: DOCKER_LAYER, digest: `sha256:${blob.sha256}`, size: blob.size };
        }),
      }),
    );
    const digest = createHash("sha256").update(manifest).digest("hex");
    out.push({ name: `blobs/sha256/${digest}`, content: manifest });
    for (const tag of image.RepoTags ?? [])
      manifests.push({
        mediaType: DOCKER_MANIFEST,
        digest: `sha256:${digest}`,
        size: manifest.length,
        annotations: {
          "io.containerd.image.name": fullReference(tag),
          "org.opencontainers.image.ref.name": tag.slice(tag.lastIndexOf(":") + 1),
        },
      });
  }
  return {
    blobs: out,
    index: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })),
    layout: Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })),
  };
}

/** What a BuildKit `type=local` cache import reads of an image: its index, manifests and configs. */
export interface ImageDescriptors {
  /** An index.json naming the image's own entry by `tag`. */
  index: { schemaVersion: 2; mediaType: string; manifests: Array<Record<string, unknown>> };
  /** The JSON blobs the entry reaches (image indexes, manifests, configs), by digest; no layers. */
  blobs: Map<string, Buffer>;
}

/** JSON blobs above this size are not descriptors; layers never start with "{". */
const DESCRIPTOR_MAX_BYTES = 4 * 1024 * 1024;
const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";

/**
 * Reads `docker save` of some images in the OCI layout (Docker 25+) and keeps, for each reference
 * asked for, what describes the image, not its layers (drained unread): BuildKit finds the layers
 * in the store where the image is, so a few kilobytes stand for the image as a cache source.
 * `tag` names the entry in each index.json.
 */
export async function imageDescriptors(
  archive: Readable,
  refs: readonly string[],
  tag: string,
): Promise<Map<string, ImageDescriptors>> {
  const candidates = new Map<string, Buffer>();
  type Index = { manifests?: Array<Record<string, unknown>> };
  let index = null as Index | null;
  const extract = tar.extract();
  archive.on("error", (error) => extract.destroy(error));
  archive.pipe(extract);
  for await (const entry of extract) {
    const digest = digestOfName(entry.header.name);
    const wanted =
      entry.header.name === OCI_INDEX ||
      (digest && entry.header.name.startsWith("blobs/") && (entry.header.size ?? 0) <= DESCRIPTOR_MAX_BYTES);
    if (!wanted) {
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const content = Buffer.concat(chunks);
    if (entry.header.name === OCI_INDEX) index = JSON.parse(content.toString()) as Index;
    else if (content[0] === 0x7b) candidates.set(digest!, content);
  }
  if (!index?.manifests)
    throw saveUnreadable("docker save wrote no index.json (an OCI layout: Docker 25 or newer writes one)");
  const found = new Map<string, ImageDescriptors>();
  for (const ref of refs) {
    const entry = index.manifests.find((m) => {
      const annotations = (m.annotations ?? {}) as Record<string, string>;
      return annotations[IMAGE_NAME_ANNOTATION] === fullReference(ref);
    });
    if (!entry || typeof entry.digest !== "string")
      throw saveUnreadable(`docker save wrote no index.json entry for ${ref}`);
    const blobs = new Map<string, Buffer>();
    const take = (digest: unknown) => {
      if (typeof digest !== "string" || blobs.has(digest)) return;
      const blob = candidates.get(digest);
      if (!blob) throw saveUnreadable(`docker save of ${ref} lacks its descriptor ${digest}`);
      blobs.set(digest, blob);
      const parsed = JSON.parse(blob.toString()) as {
        manifests?: Array<{ digest?: unknown }>;
        config?: { digest?: unknown };
      };
      for (const m of parsed.manifests ?? []) take(m.digest);
      if (parsed.config) take(parsed.config.digest);
    };
    take(entry.digest);
    found.set(ref, {
      index: {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ ...entry, annotations: { "org.opencontainers.image.ref.name": tag } }],
      },
      blobs,
    });
  }
  return found;
}

/**
 * How big a blob is unpacked, from its first two and last four bytes as they pass: a gzip stream's
 * trailer holds its size modulo 4 GiB (the smallest size that fits at least 95% of the compressed
 * one is taken: a stored layer of weights grows a little when gzip'd); anything else is its own size.
 */
export class UnpackedSize {
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private bytes = 0;

  push(chunk: Buffer): void {
    if (this.head.length < 2) this.head = Buffer.concat([this.head, chunk.subarray(0, 2 - this.head.length)]);
    this.tail = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - 4))]).subarray(-4);
    this.bytes += chunk.length;
  }

  get size(): number {
    if (this.bytes < 18 || this.head[0] !== 0x1f || this.head[1] !== 0x8b) return this.bytes;
    let size = this.tail.readUInt32LE(0);
    while (size < this.bytes * 0.95) size += 2 ** 32;
    return size;
  }
}
