import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { createParallelGzip } from "../../src/bundle/parallel-gzip.js";
import { run } from "../helpers/run.js";

async function compress(data: Buffer, options: Parameters<typeof createParallelGzip>[0]): Promise<Buffer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-gz-"));
  const file = path.join(dir, "out.gz");
  try {
    // Uneven chunks, as a real stream delivers them.
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 70_001) chunks.push(data.subarray(i, i + 70_001));
    await pipeline(Readable.from(chunks), createParallelGzip(options), createWriteStream(file));
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("parallel gzip output is a standard multi-member gzip that the system gzip reads back byte-identical", async () => {
  const text = Buffer.from("the quick brown fox jumps over the lazy dog\n".repeat(40_000));
  const data = Buffer.concat([text, randomBytes(1_500_000), text]);
  const gz = await compress(data, { blockSize: 256 * 1024, level: 6, concurrency: 3 });
  const members = gz.reduce(
    (n, byte, i) => n + (byte === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8 ? 1 : 0),
    0,
  );
  assert.ok(
    members >= Math.floor(data.length / (256 * 1024)),
    `expected many gzip members, found ${members}`,
  );
  assert.ok(gz.length < data.length, "it compresses");
  const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-gz-"));
  try {
    const file = path.join(dir, "x.gz");
    writeFileSync(file, gz);
    assert.equal((await run("gzip", ["-t", file])).code, 0);
    const out = await run("sh", ["-c", `gzip -dc ${file} | sha256sum`]);
    const expected = createHash("sha256").update(data).digest("hex");
    assert.equal(out.stdout.split(" ")[0], expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(gunzipSync(gz), data, "zlib reads every member too");
});

test("parallel gzip of an empty stream is still a valid gzip file", async () => {
  const gz = await compress(Buffer.alloc(0), {});
  assert.deepEqual(gunzipSync(gz), Buffer.alloc(0));
});
