/** `docker save` of every image into the bundle's images/ folder, streamed entry by entry. */
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createHashTap } from "../../util/hash-tap.js";
import path from "node:path";
import type { Readable } from "node:stream";
import tar from "tar-stream";
import type { BundleWriter } from "../../bundle/bundle-writer.js";
import { checkRelativePath } from "../../bundle/entry-path.js";
import { IMAGES_DIR } from "../../bundle/layout.js";
import { type Manifest } from "../../bundle/manifest.js";
import type { Reporter } from "../../report.js";
import { saveImages, type ImageInfo } from "../../docker/docker.js";
import { formatBytes } from "../../util/format.js";
import {
  OCI_INDEX,
  SAVE_MANIFEST,
  digestOfName,
  layerBlobs,
  layersByTag,
  parseSaveManifest,
  type LayerBlob,
  saveUnreadable,
  UnpackedSize,
} from "../../bundle/image-archive.js";
import { imagesSize } from "../images.js";

export interface SavedImages {
  bytes: number;
  /** diffIDs left out (the base release has them). */
  omitted: string[];
  omittedBytes: number;
  format: Manifest["images"]["format"];
  /** Each image's config digest (its identity on any store), by reference. */
  configs: Map<string, string>;
  blobs: Record<string, LayerBlob>;
  /** What the written files take unpacked (gzip'd layers by their trailer). */
  unpackedBytes: number;
}

/** Streams `docker save` of all images into the bundle's images/ folder, entry by entry. */
export async function addImages(
  writer: BundleWriter,
  resolved: Array<{ ref: string; image: ImageInfo }>,
  options: {
    reporter: Reporter;
    signal: AbortSignal;
    docker: Parameters<typeof saveImages>[0];
    /** Blobs (sha256) to leave out (a delta's base has them); a layer.tar is hashed on the way to tell. */
    omit: Map<string, string>;
    scratch: string;
  },
): Promise<SavedImages> {
  const refs = [...new Set(resolved.map((r) => r.ref))];
  const estimate = imagesSize(resolved);
  const progress = options.reporter.progress("saving images", estimate);
  const save = saveImages(options.docker, refs, options.signal);
  const extract = tar.extract();
  save.stdout.on("error", (error) => extract.destroy(error));
  save.stdout.pipe(extract as unknown as NodeJS.WritableStream);
  let bytes = 0;
  let unpackedBytes = 0;
  const omitted: string[] = [];
  let omittedBytes = 0;
  const sizes = new Map<string, number>();
  const links = new Map<string, string>();
  let saveManifest: Buffer | undefined;
  const ticker = setInterval(() => progress.update(bytes), 200);
  try {
    for await (const entry of extract) {
      const name = checkRelativePath(entry.header.name);
      const target = `${IMAGES_DIR}${name}`;
      if (entry.header.type === "directory") {
        entry.resume();
        continue;
      }
      if (entry.header.type === "symlink") {
        links.set(name, entry.header.linkname ?? "");
        await writer.addSymlink(target, entry.header.linkname ?? "");
        entry.resume();
        continue;
      }
      if (entry.header.type !== "file")
        throw saveUnreadable(`docker save wrote a ${entry.header.type} entry: ${name}`);
      const stream = entry as unknown as Readable;
      const size = entry.header.size ?? 0;
      sizes.set(name, size);
      if (name === SAVE_MANIFEST) {
        // Kept: it names each image's config and layer files.
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        saveManifest = Buffer.concat(chunks);
        bytes += saveManifest.length;
        unpackedBytes += saveManifest.length;
        await writer.addBuffer(target, saveManifest);
        continue;
      }
      const unpacked = new UnpackedSize();
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        unpacked.push(chunk);
      });
      const named = digestOfName(name);
      if (named && options.omit.has(named.slice(7))) {
        // An OCI blob is named by its digest: left out unread.
        omitted.push(options.omit.get(named.slice(7))!);
        omittedBytes += size;
        stream.resume();
        continue;
      }
      if (options.omit.size && name.endsWith("/layer.tar")) {
        // docker save names layer folders by v1 ID: only the content's sha256 (the diffID) tells.
        const spool = path.join(options.scratch, "layer.tar");
        const tap = createHashTap();
        await pipeline(stream, tap, createWriteStream(spool));
        const digest = tap.digest();
        if (options.omit.has(digest)) {
          omitted.push(options.omit.get(digest)!);
          omittedBytes += size;
        } else {
          await writer.addStream(target, size, createReadStream(spool), 0o644);
          unpackedBytes += size;
        }
        await fs.rm(spool);
        continue;
      }
      await writer.addStream(target, size, stream, 0o644);
      unpackedBytes += unpacked.size;
    }
    await save.done;
  } catch (error) {
    save.stdout.destroy();
    await save.done.catch(() => undefined);
    throw error;
  } finally {
    clearInterval(ticker);
  }
  progress.finish(
    `${refs.length} images, ${formatBytes(bytes - omittedBytes)}` +
      (omitted.length
        ? ` (${omitted.length} layers, ${formatBytes(omittedBytes)}, left to the base release)`
        : ""),
  );
  if (!saveManifest) throw saveUnreadable("docker save wrote no manifest.json");
  const saved = parseSaveManifest(saveManifest);
  const configs = new Map<string, string>();
  for (const image of saved) {
    const config = digestOfName(image.Config);
    for (const tag of image.RepoTags ?? []) if (config) configs.set(tag, config);
  }
  const blobs = layerBlobs(saved, layersByTag(resolved.map((r) => [r.ref, r.image.layers])), sizes, links);
  return {
    bytes: bytes - omittedBytes,
    omitted,
    omittedBytes,
    format: sizes.has(OCI_INDEX) ? "oci-layout" : "docker-archive",
    configs,
    blobs,
    unpackedBytes,
  };
}
