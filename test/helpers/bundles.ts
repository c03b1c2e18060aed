/**
 * Bundles written by the real BundleWriter with a small made-up manifest, for the format tests
 * (no Docker involved).
 */
import assert from "node:assert/strict";
import { createWriteStream, writeFileSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import path from "node:path";
import type { Writable } from "node:stream";
import { BundleWriter, type WrittenArchive } from "../../src/bundle/bundle-writer.js";
import type { FileRecord, LinkRecord, Manifest } from "../../src/bundle/manifest.js";
import { SealiftError } from "../../src/errors.js";

export function manifestFor(files: FileRecord[], links: LinkRecord[], sums: string): Manifest {
  return {
    format: "sealift-bundle",
    formatVersion: 1,
    tool: { name: "sealift", version: "test" },
    createdAt: new Date().toISOString(),
    project: {
      name: "demo",
      release: "r1",
      composeFiles: ["compose.yaml"],
      composeInputs: [],
      buildContexts: [],
      profiles: [],
      override: "compose/compose.sealift.yaml",
      envTemplate: null,
      variables: [],
    },
    source: { path: "source/source.tar", git: null },
    build: { dockerClient: "x", dockerServer: "x", builder: "buildkit", compose: null },
    images: { format: "docker-archive", dir: "images/", bytes: 0 },
    services: [
      {
        name: "web",
        image: "demo-web:r1",
        imageId: `sha256:${"a".repeat(64)}`,
        built: true,
        platform: { os: "linux", architecture: "amd64" },
        layers: [],
        ports: [],
        healthcheck: false,
        hostAccess: [],
        devices: [],
      },
    ],
    installer: { path: "install", platform: "linux/amd64" },
    requirements: { dockerMinVersion: "20.10", dockerDataBytes: 0, installDirBytes: 0 },
    files,
    links,
    sha256sums: sums,
  };
}

/** Writes the test bundle to `out`; `layer` is the content of its one image layer. */
export async function writeTestBundleTo(
  out: Writable,
  options: { edit?: (m: Manifest) => Manifest; signer?: KeyObject; layer?: Buffer } = {},
): Promise<WrittenArchive> {
  const edit = options.edit ?? ((m: Manifest) => m);
  const writer = new BundleWriter(out, { topDir: "demo-complete-20260101", mtime: new Date() });
  await writer.addBuffer("compose/compose.yaml", "services:\n  web:\n    image: demo-web:r1\n");
  await writer.addBuffer("source/source.tar", Buffer.alloc(1024));
  await writer.addBuffer("images/layer/layer.tar", options.layer ?? Buffer.alloc(300_000, 7));
  await writer.addSymlink("images/other/layer.tar", "../layer/layer.tar");
  await writer.addBuffer("install", "#!/bin/sh\n", 0o755);
  return writer.finish((files, links, sums) => edit(manifestFor(files, links, sums)), options.signer);
}

/** The test bundle as FILE with its FILE.sha256. */
export async function writeBundle(
  file: string,
  edit: (m: Manifest) => Manifest = (m) => m,
  signer?: KeyObject,
): Promise<void> {
  const written = await writeTestBundleTo(createWriteStream(file), { edit, signer });
  writeFileSync(`${file}.sha256`, `${written.sha256}  ${path.basename(file)}\n`);
}

/** Awaits `promise` and asserts it failed with a SealiftError of `code` whose message matches. */
export async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SealiftError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}
