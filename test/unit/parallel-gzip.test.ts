import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { createParallelGzip, looksIncompressible } from "../../src/bundle/parallel-gzip.js";
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

test("a precompressed stretch is spliced in: its members are copied as they are, and the whole reads back byte-identical", async () => {
  const before = Buffer.from("header bytes before the stretch\n".repeat(5_000));
  const stretch = Buffer.concat([randomBytes(700_000), Buffer.from("stretch text\n".repeat(100_000))]);
  const after = Buffer.from("and after it\n".repeat(3_000));
  const members: Array<[number, number]> = [];
  const made = await compress(stretch, {
    blockSize: 256 * 1024,
    level: 9,
    onMember: (c, u) => members.push([c, u]),
  });
  const written: Array<[number, number]> = [];
  const gzip = createParallelGzip({
    blockSize: 256 * 1024,
    level: 1,
    onMember: (c, u) => written.push([c, u]),
  });
  gzip.splice(before.length, stretch.length, {
    members,
    read: async (at, length) => made.subarray(at, at + length),
  });
  const whole = Buffer.concat([before, stretch, after]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < whole.length; i += 70_001) chunks.push(whole.subarray(i, i + 70_001));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), gzip, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  const gz = Buffer.concat(out);
  assert.deepEqual(gunzipSync(gz), whole);
  assert.ok(gz.includes(made), "the precompressed members are in the output as they were made");
  // The input before the stretch ends in a member of its own; the stretch's members follow it.
  const first = written.findIndex(([c]) => c === members[0]![0]);
  assert.deepEqual(written.slice(first, first + members.length), members);
  assert.equal(
    written.slice(0, first).reduce((sum, [, u]) => sum + u, 0),
    before.length,
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-gz-"));
  try {
    writeFileSync(path.join(dir, "x.gz"), gz);
    assert.equal((await run("gzip", ["-t", path.join(dir, "x.gz")])).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bytes that do not compress (weights, media) are stored, text is deflated: each member as it fits, still one standard gzip", async () => {
  const text = Buffer.from("layer line of text with some words 12345\n".repeat(50_000));
  const weights = randomBytes(3 * 1024 * 1024);
  assert.equal(looksIncompressible(weights.subarray(0, 1024 * 1024)), true);
  assert.equal(looksIncompressible(text.subarray(0, 1024 * 1024)), false);
  const data = Buffer.concat([text, weights]);
  const sizes: Array<[number, number]> = [];
  const gz = await compress(data, { level: 6, onMember: (c, u) => sizes.push([c, u]) });
  // The random megabytes are stored: a member a few bytes larger than its input, not a deflate try.
  const stored = sizes.filter(([c, u]) => c > u);
  assert.ok(stored.length >= 3, `stored members: ${JSON.stringify(sizes)}`);
  for (const [c, u] of stored) assert.ok(c - u < 200, `a stored member costs ${c - u} bytes more`);
  assert.ok(
    sizes.some(([c, u]) => c < u / 10),
    "the text is deflated",
  );
  assert.deepEqual(gunzipSync(gz), data);
  const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-gz-"));
  try {
    writeFileSync(path.join(dir, "x.gz"), gz);
    assert.equal((await run("gzip", ["-t", path.join(dir, "x.gz")])).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
