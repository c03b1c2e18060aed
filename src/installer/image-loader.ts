/**
 * Feeds the bundle's images/ entries, as they are read, to one `docker load`: the image payload
 * goes from the bundle into the daemon without being written out first.
 */
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { IMAGES_DIR } from "../bundle/layout.js";
import type { BundleEntry } from "../bundle/bundle-reader.js";
import type { Manifest } from "../bundle/manifest.js";
import { chainIds, inspectImage, loadImages, tagImage } from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";

export interface ImagePlan {
  /** Services whose image (same ID) is already on the host. */
  present: string[];
  /** Services whose image must be loaded. */
  missing: string[];
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
 * The layer files (images/X/layer.tar) that `docker load` does not need because the host already
 * has that layer on top of the same layers below it: such a layer is skipped by the classic store
 * anyway, and a docker-archive without its file still loads there. A layer file's sha256 in the
 * manifest is its diffID. Not for the containerd image store, which needs every blob.
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
  for (const file of manifest.files) {
    if (!file.path.startsWith(IMAGES_DIR) || !file.path.endsWith("/layer.tar")) continue;
    if (positions.get(`sha256:${file.sha256}`) === true) skip.add(file.path);
  }
  return skip;
}

/**
 * A delta bundle leaves layers to its base release: the ones this host lacks (at the place the
 * images use them, i.e. by chain ID). Empty when the host has everything the bundle does not carry.
 */
export function layersLeftToBase(manifest: Manifest, hostChains: Set<string>): string[] {
  const carried = new Set(
    manifest.files
      .filter((f) => f.path.startsWith(IMAGES_DIR) && f.path.endsWith("/layer.tar"))
      .map((f) => `sha256:${f.sha256}`),
  );
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
  const plan: ImagePlan = { present: [], missing: [] };
  const shipped = shippedImages(manifest);
  const found = await Promise.all(shipped.map((s) => inspectImage(host, s.imageId, signal)));
  shipped.forEach((s, i) => (found[i] ? plan.present : plan.missing).push(s.name));
  return plan;
}

/** docker-archive files that make `docker load` register images: written only by finish(). */
const REGISTERS = new Set(["manifest.json", "repositories"]);

export class ImageLoader {
  private readonly pack = tar.pack();
  private readonly loading: Promise<string[]>;
  private readonly stop = new AbortController();
  private readonly held = new Map<string, Buffer>();
  bytes = 0;

  constructor(host: DockerHost, signal?: AbortSignal) {
    signal?.addEventListener("abort", () => this.stop.abort(), { once: true });
    this.loading = loadImages(host, this.pack as unknown as Readable, this.stop.signal);
    this.loading.catch(() => this.pack.destroy());
  }

  async add(entry: BundleEntry, onBytes?: (bytes: number) => void): Promise<void> {
    const name = entry.path.slice(IMAGES_DIR.length);
    if (entry.type === "directory") return;
    if (entry.type === "file" && REGISTERS.has(name)) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry.stream as AsyncIterable<Buffer>) chunks.push(chunk);
      this.held.set(name, Buffer.concat(chunks));
      return;
    }
    const written = new Promise<void>((resolve, reject) => {
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
      entry.stream.on("end", () => (sink as unknown as NodeJS.WritableStream).end());
      entry.stream.on("error", reject);
    });
    try {
      // If docker load dies, stop waiting for it to read.
      await Promise.race([written, this.loading.then(() => written)]);
    } catch (error) {
      // Our own check failed (a checksum): docker load is still waiting for input; stop it.
      if (error instanceof SealiftError) {
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

/** After loading: every service's image is there with the manifest's ID, under its reference. */
export async function checkLoadedImages(
  host: DockerHost,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<void> {
  for (const service of shippedImages(manifest)) {
    const byId = await inspectImage(host, service.imageId, signal);
    if (!byId) {
      throw new SealiftError(
        "LOAD_FAILED",
        `image ${service.image} (${service.imageId.slice(7, 19)}) of ${service.name} is not on the host after loading`,
        {
          hint: "check the Docker daemon's log and free space, then run the installer again",
        },
      );
    }
    const byRef = await inspectImage(host, service.image, signal);
    if (byRef?.id !== service.imageId) await tagImage(host, service.imageId, service.image, signal);
  }
}
