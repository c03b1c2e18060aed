/**
 * Fuzzing the readers with random mutations of valid input (seeded, so a failure can be replayed:
 * SEALIFT_FUZZ_SEED=N, SEALIFT_FUZZ_ROUNDS=N). A mutated bundle may be refused, but only with a
 * SealiftError (a documented code and exit code), never an unhandled exception; a mutated source
 * tarball may be refused, but nothing may be written outside the folder it is extracted into.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { after, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import tar from "tar-stream";
import { archiveSource } from "../../src/bundle/bundle-reader.js";
import { verifyBundle } from "../../src/bundle/verify.js";
import { SealiftError } from "../../src/errors.js";
import { extractTarSafely } from "../../src/installer/safe-extract.js";
import { writeTestBundleTo } from "../helpers/bundles.js";

const SEED = Number(process.env.SEALIFT_FUZZ_SEED ?? 20261122);
const ROUNDS = Number(process.env.SEALIFT_FUZZ_ROUNDS ?? 150);
const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-fuzz-"));
after(() => rmSync(workdir, { recursive: true, force: true }));

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A copy of `data` with a few bytes changed, a slice cut out, or a slice repeated. */
function mutate(data: Buffer, random: () => number): Buffer {
  const copy = Buffer.from(data);
  const at = () => Math.floor(random() * copy.length);
  switch (Math.floor(random() * 4)) {
    case 0:
      for (let i = 0; i < 1 + Math.floor(random() * 8); i++) copy[at()] = Math.floor(random() * 256);
      return copy;
    case 1: {
      const start = at();
      return Buffer.concat([copy.subarray(0, start), copy.subarray(start + 1 + Math.floor(random() * 600))]);
    }
    case 2: {
      const start = at();
      const piece = copy.subarray(start, start + 1 + Math.floor(random() * 600));
      return Buffer.concat([copy.subarray(0, start), piece, piece, copy.subarray(start)]);
    }
    default: {
      // Header fields: a 512-byte block boundary, and a byte inside its first 160 (name, mode, size...).
      const block = Math.floor(random() * Math.floor(copy.length / 512)) * 512;
      copy[block + Math.floor(random() * 160)] = Math.floor(random() * 256);
      return copy;
    }
  }
}

async function collect(write: (out: Writable) => Promise<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await write(sink);
  return Buffer.concat(chunks);
}

test(`fuzz: ${ROUNDS} mutations of a valid bundle's tar are refused with a SealiftError, never a crash (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const archive = await collect((out) => writeTestBundleTo(out, { layer: Buffer.alloc(20_000, 3) }));
  const plainTar = gunzipSync(archive);
  const codes = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    // Half mutate the tar and compress it again (reaches the tar and bundle checks), half the gzip bytes.
    const mutated = round % 2 ? gzipSync(mutate(plainTar, random)) : mutate(archive, random);
    const file = path.join(workdir, "fuzzed.tar.gz");
    writeFileSync(file, mutated);
    try {
      await verifyBundle(archiveSource(file));
      codes.set("accepted", (codes.get("accepted") ?? 0) + 1);
    } catch (error) {
      assert.ok(
        error instanceof SealiftError,
        `round ${round} (seed ${SEED}): not a SealiftError: ${(error as Error)?.stack ?? String(error)}`,
      );
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
    }
  }
  // Padding or an unused header byte may change harmlessly; anything else is refused.
  assert.ok((codes.get("accepted") ?? 0) < ROUNDS / 10, JSON.stringify([...codes]));
  assert.ok(codes.size >= 3, `several checks were reached: ${JSON.stringify([...codes])}`);
});

test(`fuzz: ${ROUNDS} mutations of a source tarball never write outside the target folder (seed ${SEED})`, async () => {
  const random = prng(SEED + 1);
  const pack = tar.pack();
  pack.entry({ name: "app/", type: "directory", mode: 0o755 });
  pack.entry({ name: "app/main.sh", mode: 0o755 }, "#!/bin/sh\necho hi\n");
  pack.entry({ name: "app/link", type: "symlink", linkname: "main.sh" });
  pack.entry({ name: "app/conf/settings.ini", mode: 0o644 }, "a=1\n".repeat(50));
  pack.entry({ name: "README", mode: 0o644 }, "readme\n");
  pack.finalize();
  const valid = await collect(async (out) => {
    for await (const chunk of pack as unknown as AsyncIterable<Buffer>) out.write(chunk);
  });
  for (let round = 0; round < ROUNDS; round++) {
    const box = path.join(workdir, `box-${round}`);
    const target = path.join(box, "target");
    mkdirSync(target, { recursive: true });
    try {
      await extractTarSafely(Readable.from([mutate(valid, random)]), target);
    } catch (error) {
      // Refusing is fine (a SealiftError, or tar-stream's own header error); a programming error is not.
      assert.ok(
        error instanceof Error && !(error instanceof TypeError) && !(error instanceof ReferenceError),
        `round ${round} (seed ${SEED}): ${(error as Error)?.stack ?? String(error)}`,
      );
    }
    assert.deepEqual(readdirSync(box), ["target"], `round ${round} (seed ${SEED}) wrote outside the target`);
    assert.ok(!existsSync(path.join(workdir, "README")), "nothing in the folder above either");
    rmSync(box, { recursive: true, force: true });
  }
});
