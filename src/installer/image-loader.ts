/**
 * Feeds the bundle's images/ entries, as they are read, to one `docker load`: the image payload
 * goes from the bundle into the daemon without being written out first.
 */
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { IMAGES_DIR } from "../bundle/layout.js";
import {
  OCI_INDEX,
  OCI_LAYOUT_FILE,
  SAVE_MANIFEST,
  digestOfName,
  layerFiles,
  layersByTag,
  ociLayoutFor,
  parseSaveManifest,
  resolveLink,
} from "../bundle/image-archive.js";
import type { BundleEntry } from "../bundle/bundle-reader.js";
import type { Manifest } from "../bundle/manifest.js";
import { chainIds, findImage, imageUsable, loadImages, tagImage, type ImageInfo } from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";

export interface ImagePlan {
  /** Services whose image (same identity) is already on the host. */
  present: string[];
  /** Services whose image must be loaded. */
  missing: string[];
  /** What the host said of each image already there, by reference (checkLoadedImages reuses it). */
  found: Map<string, ImageInfo>;
}

/** Every image the bundle ships: the services' and the build cache's stage images. */
export function shippedImages(
  manifest: Manifest,
): Array<{ name: string; image: string; imageId: string; layers: string[] }> {
  return [
    ...manifest.services.map((s) => ({ name: s.name, image: s.image, imageId: s.imageId, layers: s.layers })),
    ...(manifest.cache?.images ?? []).map((c) => ({
      name: `cache ${c.service}/${c.stage}`,
      image: c.image,
      imageId: c.imageId,
      layers: c.layers,
    })),
  ];
}

/**
 * The layer files (images/X/layer.tar, images/blobs/sha256/D) that `docker load` does not need
 * because the host already has that layer on top of the same layers below it: such a layer is
 * skipped by the classic store anyway, and an archive without its file still loads there. Not for
 * the containerd image store, which needs every blob it does not hold.
 */
export function layersHostHas(manifest: Manifest, hostChains: Set<string>): Set<string> {
  const positions = new Map<string, boolean>(); // diffID -> present at every place it is used
  for (const image of shippedImages(manifest)) {
    const chains = chainIds(image.layers);
    image.layers.forEach((diffId, i) => {
      positions.set(diffId, (positions.get(diffId) ?? true) && hostChains.has(chains[i]!));
    });
  }
  const skip = new Set<string>();
  for (const [file, diffId] of layerFiles(manifest, IMAGES_DIR))
    if (positions.get(diffId) === true) skip.add(file);
  return skip;
}

/**
 * A delta bundle leaves layers to its base release: the ones this host lacks (at the place the
 * images use them, i.e. by chain ID). Empty when the host has everything the bundle does not carry.
 */
export function layersLeftToBase(manifest: Manifest, hostChains: Set<string>): string[] {
  const carried = new Set(layerFiles(manifest, IMAGES_DIR).values());
  const missing = new Set<string>();
  for (const image of shippedImages(manifest)) {
    const chains = chainIds(image.layers);
    image.layers.forEach((diffId, i) => {
      if (!carried.has(diffId) && !hostChains.has(chains[i]!)) missing.add(diffId);
    });
  }
  return [...missing];
}

export async function planImages(
  host: DockerHost,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<ImagePlan> {
  const plan: ImagePlan = { present: [], missing: [], found: new Map() };
  const shipped = shippedImages(manifest);
  const found = await Promise.all(shipped.map((s) => findImage(host, s, signal)));
  shipped.forEach((s, i) => {
    const info = found[i];
    (info ? plan.present : plan.missing).push(s.name);
    if (info) plan.found.set(s.image, info);
  });
  return plan;
}

/** Files that make `docker load` register images (docker-archive, OCI): written only by finish(). */
const REGISTERS = new Set([SAVE_MANIFEST, "repositories", OCI_INDEX]);

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of stream) void chunk;
}

/**
 * The bundle's read stopped under an image entry (a read error beneath it, the medium gone
 * mid-file), as opposed to docker load failing: the caller asks the bundle's source what broke.
 */
export class EntryReadStopped extends Error {}

export class ImageLoader {
  private readonly pack = tar.pack();
  private readonly loading: Promise<string[]>;
  private readonly stop = new AbortController();
  private readonly held = new Map<string, Buffer>();
  /** Each images/ file's sha256 and size, by its name in the save (links resolved). */
  private readonly files = new Map<string, { sha256: string; size: number }>();
  /**
   * The containerd store imports a docker-archive only with every layer file in it and no links:
   * there a docker-archive goes in as an OCI layout, its layers named by digest.
   */
  private readonly toOci: boolean;
  bytes = 0;

  constructor(
    host: DockerHost,
    private readonly manifest: Manifest,
    signal?: AbortSignal,
  ) {
    const saved = (p: string) => p.slice(IMAGES_DIR.length);
    for (const f of manifest.files)
      if (f.path.startsWith(IMAGES_DIR)) this.files.set(saved(f.path), { sha256: f.sha256, size: f.size });
    const links = new Map(
      manifest.links.filter((l) => l.path.startsWith(IMAGES_DIR)).map((l) => [saved(l.path), l.target]),
    );
    for (const link of links.keys()) {
      const target = this.files.get(resolveLink(link, links));
      if (target) this.files.set(link, target);
    }
    this.toOci = host.containerdImageStore && !this.files.has(OCI_INDEX);
    signal?.addEventListener("abort", () => this.stop.abort(), { once: true });
    this.loading = loadImages(host, this.pack as unknown as Readable, this.stop.signal);
    this.loading.catch(() => this.pack.destroy());
  }

  async add(entry: BundleEntry, onBytes?: (bytes: number) => void): Promise<void> {
    let name = entry.path.slice(IMAGES_DIR.length);
    if (entry.type === "directory") return;
    if (this.toOci && name !== SAVE_MANIFEST) {
      if (entry.type === "symlink") return; // its target is carried under its digest
      const digest =
        digestOfName(name) ?? (name.endsWith("/layer.tar") ? this.files.get(name)?.sha256 : null);
      if (!digest) return drain(entry.stream); // v1 metadata (json, VERSION, repositories)
      name = `blobs/sha256/${digest.replace(/^sha256:/, "")}`;
    }
    if (entry.type === "file" && REGISTERS.has(name)) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry.stream as AsyncIterable<Buffer>) chunks.push(chunk);
      this.held.set(name, Buffer.concat(chunks));
      return;
    }
    const written = new Promise<void>((resolve, reject) => {
      // The bundle's side failed (a read error, the medium gone mid-file), not docker load's.
      const readFailure = (error: unknown) =>
        reject(
          error instanceof SealiftError
            ? error
            : new EntryReadStopped(`the bundle's read stopped under ${entry.path}`, { cause: error }),
        );
      if (entry.type === "symlink") {
        this.pack.entry({ name, type: "symlink", linkname: entry.linkTarget ?? "" }, (e) =>
          e ? reject(e) : resolve(),
        );
        return;
      }
      const sink = this.pack.entry({ name, size: entry.size, mode: 0o644 }, (e) =>
        e ? reject(e) : resolve(),
      );
      entry.stream.on("data", (chunk: Buffer) => {
        this.bytes += chunk.length;
        onBytes?.(this.bytes);
        if (!sink.write(chunk)) entry.stream.pause();
      });
      sink.on("drain", () => entry.stream.resume());
      sink.on("error", reject);
      let ended = false;
      entry.stream.on("end", () => {
        ended = true;
        (sink as unknown as NodeJS.WritableStream).end();
      });
      entry.stream.on("error", readFailure);
      // Closed before its end without an error of its own (the read beneath it stopped): a cut.
      entry.stream.on("close", () => {
        if (!ended) readFailure(new Error(`the read of ${entry.path} stopped before its end`));
      });
    });
    try {
      // If docker load dies, stop waiting for it to read.
      await Promise.race([written, this.loading.then(() => written)]);
    } catch (error) {
      // Our own check failed (a checksum) or our read did: docker load is still waiting for
      // input; stop it.
      if (error instanceof SealiftError || error instanceof EntryReadStopped) {
        await this.abort();
        throw error;
      }
      // The pipe broke because docker load stopped: its own error says more.
      throw await this.loading.then(
        () => error,
        (failure: unknown) => failure,
      );
    }
  }

  /** Everything checked: the files that make docker load register images, then the tar's end. */
  async finish(): Promise<string[]> {
    if (this.toOci) {
      const saved = parseSaveManifest(this.held.get(SAVE_MANIFEST) ?? "[]");
      const oci = ociLayoutFor(
        saved,
        this.files,
        this.manifest.images.blobs,
        layersByTag(shippedImages(this.manifest).map((s) => [s.image, s.layers])),
      );
      this.held.clear();
      for (const blob of oci.blobs) this.held.set(blob.name, blob.content);
      this.held.set(OCI_LAYOUT_FILE, oci.layout);
      this.held.set(OCI_INDEX, oci.index);
    }
    for (const [name, content] of this.held)
      await new Promise<void>((resolve, reject) =>
        this.pack.entry({ name, size: content.length, mode: 0o644 }, content, (e) =>
          e ? reject(e) : resolve(),
        ),
      );
    this.pack.finalize();
    return this.loading;
  }

  /**
   * Stops docker load before it could register anything: its manifest.json was never sent, and
   * the client is killed while its input is still open, so the daemon sees a request cut off.
   */
  async abort(): Promise<void> {
    this.stop.abort();
    await this.loading.catch(() => undefined);
    this.pack.destroy();
  }
}

/**
 * After loading: every image is there with the manifest's identity, under its reference, and (on
 * the containerd store, where a failed unpack can still exit 0) a container can be made from each
 * one loaded now. Images the plan found before loading are not asked about again.
 * Returns the host's own ID of each image, by reference.
 */
export async function checkLoadedImages(
  host: DockerHost,
  manifest: Manifest,
  plan: ImagePlan,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const shipped = shippedImages(manifest);
  const found = await Promise.all(
    shipped.map(async (image) => plan.found.get(image.image) ?? (await findImage(host, image, signal))),
  );
  const hostIds = new Map<string, string>();
  for (const [i, image] of shipped.entries()) {
    const info = found[i];
    if (!info) {
      throw new SealiftError(
        "LOAD_FAILED",
        `image ${image.image} (${image.imageId.slice(7, 19)}) of ${image.name} is not on the host after loading`,
        {
          hint: "check the Docker daemon's log and free space, then run the installer again",
        },
      );
    }
    hostIds.set(image.image, info.id);
    // The classic store finds it by ID: make sure the reference points at it too.
    if (!host.containerdImageStore && !info.repoTags.includes(image.image))
      await tagImage(host, info.id, image.image, signal);
  }
  if (host.containerdImageStore) {
    const loadedNow = manifest.services.filter((s) => !plan.found.has(s.image));
    const problems = await Promise.all(
      loadedNow.map(async (s) => [s, await imageUsable(host, s.image, signal)] as const),
    );
    const broken = problems.filter(([, problem]) => problem);
    if (broken.length)
      throw new SealiftError(
        "LOAD_FAILED",
        `docker load reported success, but ${broken.map(([s]) => s.image).join(", ")} cannot run: its layers were not unpacked`,
        {
          details: broken.map(([s, problem]) => `${s.name}: ${problem}`),
          hint: "check the Docker daemon's log and free space, then run the installer again",
        },
      );
  }
  return hostIds;
}
