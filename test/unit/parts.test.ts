/**
 * Split bundles on their own (no Docker): the parts joined with `cat` are exactly the archive, they
 * verify through the index, and a missing, extra, swapped or damaged part is refused by name.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { openBundle } from "../../src/bundle/bundle-reader.js";
import { PartsWriter, parseSize, type PartsIndex } from "../../src/bundle/parts.js";
import { verifyBundle } from "../../src/bundle/verify.js";
import { SealiftError } from "../../src/errors.js";
import { rejects, writeTestBundleTo } from "../helpers/bundles.js";
import { run } from "../helpers/run.js";

const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-parts-"));
after(() => rmSync(workdir, { recursive: true, force: true }));

const ARCHIVE = "demo-complete-20260101.tar.gz";
const PART = 64 * 1024;

/** A fresh copy of the split bundle in its own folder (each case damages its copy). */
function copyOfParts(source: string, name: string): string {
  const dir = path.join(workdir, name);
  cpSync(source, dir, { recursive: true });
  return dir;
}

describe("a bundle split into parts", () => {
  const split = path.join(workdir, "split");
  let index: PartsIndex;
  let whole: Buffer;

  before(async () => {
    mkdirSync(split);
    // Random layer data does not compress: the archive is about 300 KiB, five parts of 64 KiB.
    const parts = new PartsWriter(split, ARCHIVE, PART);
    const written = await writeTestBundleTo(parts, { layer: randomBytes(300_000) });
    const committed = await parts.commit();
    index = committed.indexData;
    assert.equal(index.sha256, written.sha256);
    whole = Buffer.concat(index.parts.map((p) => readFileSync(path.join(split, p.name))));
  });

  test("parts of the given size whose `cat` is the archive (sha256 of the whole in the index); sha256sum -c accepts them", async () => {
    assert.ok(index.parts.length >= 5, `${index.parts.length} parts`);
    for (const part of index.parts.slice(0, -1))
      assert.equal(statSync(path.join(split, part.name)).size, PART);
    assert.equal(index.parts[0]!.name, `${ARCHIVE}.part001`);
    const cat = await run("sh", ["-c", `cat ${ARCHIVE}.part* | sha256sum`], { cwd: split });
    assert.equal(cat.stdout.split(" ")[0], index.sha256);
    assert.equal(whole.length, index.bytes);
    const sums = await run("sha256sum", ["-c", `${ARCHIVE}.SHA256SUMS`], { cwd: split });
    assert.equal(sums.code, 0, sums.stderr);
    const listing = await run("sh", ["-c", `cat ${ARCHIVE}.part* | tar tz`], { cwd: split });
    assert.match(listing.stdout, /demo-complete-20260101\/manifest\.json/);
  });

  test("verifies from the index or from the first part, the whole checked against the index", async () => {
    for (const given of [`${ARCHIVE}.index.json`, `${ARCHIVE}.part001`]) {
      const source = await openBundle(path.join(split, given));
      assert.equal(source.kind, "parts");
      const verified = await verifyBundle(source);
      assert.equal(verified.sidecarChecked, true);
      assert.equal(source.archiveDigest(), index.sha256);
      assert.equal(verified.filesChecked, 4);
    }
  });

  test("rejects-missing-part: names the part and how many there are", async () => {
    const dir = copyOfParts(split, "missing");
    rmSync(path.join(dir, `${ARCHIVE}.part003`));
    await rejects(
      openBundle(path.join(dir, `${ARCHIVE}.index.json`)),
      "BUNDLE_PART_INVALID",
      new RegExp(`part ${ARCHIVE}\\.part003 \\(3 of ${index.parts.length}\\) is missing`),
    );
  });

  test("rejects-extra-part: a part the index does not list", async () => {
    const dir = copyOfParts(split, "extra");
    writeFileSync(path.join(dir, `${ARCHIVE}.part0${index.parts.length + 10}`), "x");
    await rejects(
      openBundle(path.join(dir, `${ARCHIVE}.index.json`)),
      "BUNDLE_PART_INVALID",
      /is a part the index does not list/,
    );
  });

  test("rejects-damaged-part: one byte changed in the second part is named at verify", async () => {
    const dir = copyOfParts(split, "damaged");
    const file = path.join(dir, `${ARCHIVE}.part002`);
    const data = readFileSync(file);
    data[1000] = data[1000]! ^ 0xff;
    writeFileSync(file, data);
    await rejects(
      openBundle(path.join(dir, `${ARCHIVE}.index.json`)).then((s) => verifyBundle(s)),
      "BUNDLE_PART_INVALID",
      new RegExp(`part ${ARCHIVE}\\.part002 does not match its checksum`),
    );
  });

  test("rejects-reordered-parts: two parts of the same size swapped", async () => {
    const dir = copyOfParts(split, "swapped");
    const a = path.join(dir, `${ARCHIVE}.part002`);
    const b = path.join(dir, `${ARCHIVE}.part003`);
    renameSync(a, `${a}.tmp`);
    renameSync(b, a);
    renameSync(`${a}.tmp`, b);
    await rejects(
      openBundle(path.join(dir, `${ARCHIVE}.index.json`)).then((s) => verifyBundle(s)),
      "BUNDLE_PART_INVALID",
      new RegExp(`part ${ARCHIVE}\\.part002 does not match its checksum .* or parts were swapped`),
    );
  });

  test("rejects-part-without-index: a part alone says the index is needed", async () => {
    const dir = copyOfParts(split, "noindex");
    rmSync(path.join(dir, `${ARCHIVE}.index.json`));
    await rejects(
      openBundle(path.join(dir, `${ARCHIVE}.part001`)),
      "BUNDLE_PART_INVALID",
      /its index .*\.index\.json is not beside it/,
    );
  });

  test("a failed pack leaves no part under its final name", async () => {
    const dir = path.join(workdir, "aborted");
    mkdirSync(dir);
    const parts = new PartsWriter(dir, ARCHIVE, PART);
    await new Promise((resolve) => parts.write(randomBytes(3 * PART + 10), resolve));
    assert.equal(readdirSync(dir).length, 4, "parts are being written under temporary names");
    assert.ok(readdirSync(dir).every((name) => name.startsWith(".")));
    await parts.abort();
    parts.destroy();
    assert.deepEqual(readdirSync(dir), []);
  });
});

test("part sizes: K, M, G units (powers of 1024); nonsense and tiny sizes are usage errors", () => {
  assert.equal(parseSize("3900M"), 3900 * 1024 ** 2);
  assert.equal(parseSize("4G"), 4 * 1024 ** 3);
  assert.equal(parseSize("64k"), 64 * 1024);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  for (const bad of ["", "big", "10", "-5M", "5X"])
    assert.throws(
      () => parseSize(bad),
      (e: unknown) => e instanceof SealiftError && e.code === "USAGE",
    );
});
