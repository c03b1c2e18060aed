/**
 * imageDescriptors(): what the installer keeps of `docker save` (OCI layout) as a BuildKit cache
 * source on the containerd store: each image's index, manifests and config, never its layers.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import tar from "tar-stream";
import { imageDescriptors, UnpackedSize } from "../../src/bundle/image-archive.js";
import { gzipSync } from "node:zlib";

const digest = (content: Buffer) => `sha256:${createHash("sha256").update(content).digest("hex")}`;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** An OCI layout as docker save writes it for `refs`: per image an index, a manifest, a config, a layer. */
function savedLayout(refs: string[], layerFirst = true): { tar: Readable; layers: string[] } {
  const pack = tar.pack();
  const entries: Array<[string, Buffer]> = [];
  const layers: string[] = [];
  const manifests = refs.map((ref, n) => {
    const layer = Buffer.from(`layer of ${ref} `.repeat(1000));
    const config = json({ architecture: "amd64", rootfs: { diff_ids: [digest(layer)] }, n });
    const manifest = json({
      schemaVersion: 2,
      config: { digest: digest(config), size: config.length },
      layers: [{ digest: digest(layer), size: layer.length }],
    });
    const imageIndex = json({ schemaVersion: 2, manifests: [{ digest: digest(manifest) }] });
    layers.push(digest(layer));
    for (const blob of layerFirst
      ? [layer, config, manifest, imageIndex]
      : [imageIndex, manifest, config, layer])
      entries.push([`blobs/sha256/${digest(blob).slice(7)}`, blob]);
    return {
      mediaType: "application/vnd.oci.image.index.v1+json",
      digest: digest(imageIndex),
      annotations: { "io.containerd.image.name": `docker.io/library/${ref}` },
    };
  });
  entries.push(["index.json", json({ schemaVersion: 2, manifests })]);
  for (const [name, content] of entries) pack.entry({ name }, content);
  pack.finalize();
  return { tar: Readable.from(pack), layers };
}

describe("image descriptors for a BuildKit cache source", () => {
  test("keeps each image's index, manifest and config, in any order, and none of its layers", async () => {
    for (const layerFirst of [true, false]) {
      const { tar: archive, layers } = savedLayout(["app:1", "app-cache:1"], layerFirst);
      const found = await imageDescriptors(archive, ["app:1", "app-cache:1"], "cache");
      assert.deepEqual([...found.keys()], ["app:1", "app-cache:1"]);
      for (const [, descriptors] of found) {
        assert.equal(descriptors.blobs.size, 3);
        for (const layer of layers) assert.ok(!descriptors.blobs.has(layer), "no layer is kept");
        for (const [name, blob] of descriptors.blobs) assert.equal(digest(blob), name, "named by its digest");
        const [entry] = descriptors.index.manifests;
        assert.deepEqual(entry?.annotations, { "org.opencontainers.image.ref.name": "cache" });
        assert.ok(descriptors.blobs.has(entry?.digest as string));
      }
    }
  });

  test("an image the save does not hold, or a docker-archive without index.json, is an error naming it", async () => {
    await assert.rejects(
      imageDescriptors(savedLayout(["app:1"]).tar, ["other:2"], "cache"),
      /no index\.json entry for other:2/,
    );
    const pack = tar.pack();
    pack.entry({ name: "manifest.json" }, json([]));
    pack.finalize();
    await assert.rejects(imageDescriptors(Readable.from(pack), ["app:1"], "cache"), /wrote no index\.json/);
  });
});

describe("a blob's unpacked size, from the bytes that pass", () => {
  const feed = (data: Buffer, chunk = 7) => {
    const probe = new UnpackedSize();
    for (let i = 0; i < data.length; i += chunk) probe.push(data.subarray(i, i + chunk));
    return probe.size;
  };
  test("a gzip'd layer: its trailer's size; an uncompressed one: its own", () => {
    const text = Buffer.from("a layer of text that compresses well\n".repeat(5000));
    assert.equal(feed(gzipSync(text)), text.length);
    assert.equal(feed(text), text.length);
    const random = randomBytes(100_000);
    assert.equal(feed(gzipSync(random), 4096), random.length, "stored data grows a little when gzip'd");
  });
  test("past 4 GiB the trailer wraps: the smallest size that fits the compressed bytes is taken", () => {
    // A gzip header, 4.5 GiB of "compressed" bytes stood in by a counter, and a trailer of 0.5 GiB.
    const probe = new UnpackedSize();
    probe.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
    const block = Buffer.alloc(2 ** 20);
    for (let i = 0; i < 4.5 * 1024; i++) probe.push(block);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(2 ** 29, 4);
    probe.push(trailer);
    assert.equal(probe.size, 2 ** 32 + 2 ** 29);
  });
});
