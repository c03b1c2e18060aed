/**
 * The bundle format on its own (no Docker): what BundleWriter writes verifies, from the archive and
 * from the folder system tar extracts; anything damaged, extra or hostile is refused with its code.
 */
import assert from "node:assert/strict";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import { createGzip, gunzipSync, gzipSync } from "node:zlib";
import tar from "tar-stream";
import { archiveSource, directorySource } from "../../src/bundle/bundle-reader.js";
import type { Manifest } from "../../src/bundle/manifest.js";
import { rejects, writeBundle, writeTestBundleTo } from "../helpers/bundles.js";
import { verifyBundle } from "../../src/bundle/verify.js";
import { LOCATOR_BYTES, locatorMember, parseLocator, readTailMember } from "../../src/bundle/tail.js";
import type { SealiftError } from "../../src/errors.js";
import { generateKeys, loadPrivateKey, loadPublicKey } from "../../src/bundle/signature.js";
import { randomBytes, type KeyObject } from "node:crypto";
import { extractTarSafely } from "../../src/installer/safe-extract.js";
import { run } from "../helpers/run.js";

/** A tar header as written in the cases: only what each case needs. */
type RawEntry = { header: Partial<tar.Header> & { name: string }; body?: string };

const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-format-"));
after(() => rmSync(workdir, { recursive: true, force: true }));

/** A .tar.gz made entry by entry, for hostile archives. */
async function rawArchive(file: string, entries: RawEntry[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, createGzip(), createWriteStream(file));
  for (const { header, body } of entries) pack.entry(header as tar.Header, body ?? "");
  pack.finalize();
  await done;
}

describe("a bundle BundleWriter writes", () => {
  const file = path.join(workdir, "ok.tar.gz");
  // Made before any test, so that each one runs alone too (--test-name-pattern).
  before(() => writeBundle(file));

  test("verifies from the archive (with its .sha256) and from the folder system tar extracts", async () => {
    const fromArchive = await verifyBundle(archiveSource(file));
    assert.equal(fromArchive.sidecarChecked, true);
    assert.equal(fromArchive.filesChecked, 4);
    assert.equal((await run("sha256sum", ["-c", "ok.tar.gz.sha256"], { cwd: workdir })).code, 0);
    const out = path.join(workdir, "ok");
    mkdirSync(out);
    assert.equal((await run("tar", ["xzf", file, "-C", out])).code, 0);
    const fromFolder = await verifyBundle(directorySource(path.join(out, "demo-complete-20260101")));
    assert.equal(fromFolder.manifestDigest, fromArchive.manifestDigest);
    assert.equal(
      (await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: path.join(out, "demo-complete-20260101") })).code,
      0,
    );
  });

  test("an archive that does not match its .sha256 is refused, naming the archive", async () => {
    const other = path.join(workdir, "sidecar.tar.gz");
    await writeBundle(other);
    writeFileSync(`${other}.sha256`, `${"0".repeat(64)}  sidecar.tar.gz\n`);
    await rejects(
      verifyBundle(archiveSource(other)),
      "BUNDLE_CHECKSUM_MISMATCH",
      /sidecar\.tar\.gz: expected sha256 0{64}, got [0-9a-f]{64}/,
    );
  });

  test("a manifest that does not match its schema is refused, listing what is wrong", async () => {
    const bad = path.join(workdir, "schema.tar.gz");
    await writeBundle(bad, (m) => ({ ...m, services: [{ ...m.services[0]!, imageId: "latest" }] }));
    await assert.rejects(
      verifyBundle(archiveSource(bad)),
      (e: SealiftError) =>
        e.code === "BUNDLE_MANIFEST_INVALID" && e.details.some((d) => /^services\.0\.imageId: /.test(d)),
    );
  });

  test("a newer format version asks for the installer that came with it", async () => {
    const newer = path.join(workdir, "v3.tar.gz");
    await writeBundle(newer, (m) => ({ ...m, formatVersion: 3 }) as unknown as Manifest);
    await assert.rejects(
      verifyBundle(archiveSource(newer)),
      (e: SealiftError) =>
        e.code === "BUNDLE_MANIFEST_INVALID" &&
        /format v3; use the installer that came with it/.test(e.hint ?? ""),
    );
  });

  test("a file missing from the folder is refused", async () => {
    const out = path.join(workdir, "missing");
    mkdirSync(out);
    await run("tar", ["xzf", file, "-C", out]);
    rmSync(path.join(out, "demo-complete-20260101", "source/source.tar"));
    await rejects(
      verifyBundle(directorySource(path.join(out, "demo-complete-20260101"))),
      "BUNDLE_FILE_MISSING",
      /source\/source\.tar is listed in SHA256SUMS but missing/,
    );
  });
});

describe("the archive's index: members and entry offsets in the manifest", () => {
  const file = path.join(workdir, "indexed.tar.gz");
  // Text that compresses (so members are many) around bytes that do not.
  const layer = Buffer.concat([
    Buffer.from("layer line\n".repeat(300_000)),
    randomBytes(1_500_000),
    Buffer.from("x".repeat(2_000_000)),
  ]);
  let manifest: Manifest;
  before(async () => {
    const written = await writeTestBundleTo(createWriteStream(file), { layer });
    writeFileSync(`${file}.sha256`, `${written.sha256}  indexed.tar.gz\n`);
    manifest = written.manifest;
  });

  test("each entry's offset is where its header is in the tar; the members add up to the archive before its tail", async () => {
    const index = manifest.archive!;
    assert.ok(index.members.length >= 5, `several members: ${index.members.length}`);
    const whole = readFileSync(file);
    const tail = parseLocator(whole.subarray(whole.length - LOCATOR_BYTES), whole.length) as {
      offset: number;
    };
    assert.equal(
      index.members.reduce((sum, [c]) => sum + c, 0),
      tail.offset,
    );
    const tarBytes = gunzipSync(whole);
    assert.deepEqual(Object.keys(index.entries).sort(), [
      "compose/compose.yaml",
      "images/layer/layer.tar",
      "images/other/layer.tar",
      "install",
      "source/source.tar",
    ]);
    for (const [entry, offset] of Object.entries(index.entries)) {
      const name = tarBytes
        .subarray(offset, offset + 100)
        .toString("latin1")
        .replace(/\0.*$/s, "");
      assert.equal(name, `demo-complete-20260101/${entry}`);
    }
  });

  test("an indexed read yields only the entries wanted, byte-identical", async () => {
    const seen: Array<{ path: string; content: Buffer }> = [];
    for await (const entry of archiveSource(file).entries({
      index: manifest.archive!,
      want: (p) => p.startsWith("images/"),
    })) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry.stream) chunks.push(chunk as Buffer);
      seen.push({ path: entry.path, content: Buffer.concat(chunks) });
    }
    assert.deepEqual(
      seen.map((e) => e.path),
      ["images/layer/layer.tar", "images/other/layer.tar"],
    );
    assert.ok(seen[0]!.content.equals(layer), "the layer reads back byte-identical");
  });

  test("without a .sha256, the members of entries not wanted are read and checked by their digests, not yielded", async () => {
    const bare = path.join(workdir, "indexed-bare.tar.gz");
    writeFileSync(bare, readFileSync(file));
    let read = 0;
    const names: string[] = [];
    for await (const entry of archiveSource(bare).entries({
      index: manifest.archive!,
      want: (p) => p.startsWith("compose/"),
      onBytes: (bytes) => (read = bytes),
    }))
      names.push(entry.path);
    assert.deepEqual(names, ["compose/compose.yaml"]);
    const body = manifest.archive!.members.reduce((sum, [c]) => sum + c, 0);
    assert.equal(read, body, "every member before the tail is read");
    // An index without member digests (an older bundle): the members not wanted are not even read.
    const { memberSha256: _digests, ...older } = manifest.archive!;
    void _digests;
    for await (const entry of archiveSource(bare).entries({
      index: older,
      want: (p) => p.startsWith("compose/"),
      onBytes: (bytes) => (read = bytes),
    }))
      entry.stream.resume();
    assert.ok(read < statSync(bare).size / 10, `read ${read} of ${statSync(bare).size} bytes`);
  });

  test("one byte flipped in a member no entry wanted needs: exit-3 damage naming the member and what it holds", async () => {
    const damaged = path.join(workdir, "indexed-damaged.tar.gz");
    const bytes = readFileSync(file);
    const [c0, c1] = manifest.archive!.members.map(([c]) => c);
    // The middle of the second member (the first holds the compose file the read wants).
    bytes[c0! + Math.floor(c1! / 2)]! ^= 0xff;
    writeFileSync(damaged, bytes);
    await rejects(
      (async () => {
        for await (const entry of archiveSource(damaged).entries({
          index: manifest.archive!,
          want: (p) => p.startsWith("compose/"),
        }))
          entry.stream.resume();
      })(),
      "BUNDLE_CHECKSUM_MISMATCH",
      new RegExp(
        `damaged in gzip member 2 of ${manifest.archive!.members.length} \\(bytes ${c0}-${c0! + c1!}, holding `,
      ),
    );
  });

  test("verify agrees with the install: a flipped byte in a gzip member's header (its MTIME) is refused, without a .sha256", async () => {
    const damaged = path.join(workdir, "indexed-header.tar.gz");
    const bytes = readFileSync(file);
    bytes[4]! ^= 0x01; // MTIME of the first member: inflates the same, but it is not the bytes packed
    writeFileSync(damaged, bytes);
    await rejects(
      verifyBundle(archiveSource(damaged)),
      "BUNDLE_CHECKSUM_MISMATCH",
      /damaged in gzip member 1 of \d+/,
    );
  });

  test("rejects-appended-bytes: 512 zero bytes after the archive (a tar's end blocks) are refused, without a .sha256", async () => {
    const longer = path.join(workdir, "indexed-longer.tar.gz");
    writeFileSync(longer, Buffer.concat([readFileSync(file), Buffer.alloc(512)]));
    await rejects(
      verifyBundle(archiveSource(longer)),
      "BUNDLE_CHECKSUM_MISMATCH",
      /does not end where the bundle ends: bytes were added after it/,
    );
    const verified = await verifyBundle(archiveSource(file));
    assert.equal(verified.manifest.project.release, manifest.project.release);
  });

  test("rejects-lying-index: an index whose member sizes are wrong reads as a damaged archive, never as other data", async () => {
    const [first, ...rest] = manifest.archive!.members;
    const lying = {
      ...manifest.archive!,
      members: [[first![0] + 7, first![1]] as [number, number], ...rest],
    };
    const { memberSha256: _digests, ...lyingOlder } = lying;
    void _digests;
    await rejects(
      (async () => {
        const source = archiveSource(file);
        for await (const entry of source.entries({ index: lyingOlder, want: () => true }))
          entry.stream.resume();
      })(),
      "BUNDLE_UNREADABLE",
      /indexed\.tar\.gz is damaged or truncated/,
    );
    await rejects(
      (async () => {
        const source = archiveSource(file);
        for await (const entry of source.entries({ index: lying, want: () => true })) entry.stream.resume();
      })(),
      "BUNDLE_CHECKSUM_MISMATCH",
      /damaged in gzip member 1 /,
    );
  });
});

describe("hostile archives are refused before anything is written", () => {
  const top = "demo-complete-20260101";
  const cases: Array<{
    name: string;
    entries: RawEntry[];
    message: RegExp;
  }> = [
    {
      name: "rejects-path-traversal",
      entries: [
        { header: { name: `${top}/`, type: "directory" } },
        { header: { name: `${top}/../escape.txt`, size: 1 }, body: "x" },
      ],
      message: /leaves its folder/,
    },
    {
      name: "rejects-absolute-path",
      entries: [{ header: { name: "/etc/sealift-test", size: 1 }, body: "x" }],
      message: /is an absolute path|outside the bundle's top folder/,
    },
    {
      name: "rejects-second-top-folder",
      entries: [
        { header: { name: `${top}/a`, size: 1 }, body: "x" },
        { header: { name: "other/b", size: 1 }, body: "x" },
      ],
      message: /is outside the bundle's top folder/,
    },
    {
      name: "rejects-symlink-escape",
      entries: [{ header: { name: `${top}/images/x`, type: "symlink", linkname: "../../../etc/passwd" } }],
      message: /links to \.\.\/\.\.\/\.\.\/etc\/passwd, outside images\//,
    },
    {
      name: "rejects-symlink-outside-images",
      entries: [{ header: { name: `${top}/install`, type: "symlink", linkname: "images/x" } }],
      message: /is a link outside images\//,
    },
    {
      name: "rejects-hard-link",
      entries: [{ header: { name: `${top}/images/h`, type: "link", linkname: `${top}/manifest.json` } }],
      message: /is a link, which a bundle never holds/,
    },
    {
      name: "rejects-device-file",
      entries: [
        { header: { name: `${top}/images/dev`, type: "character-device", devmajor: 1, devminor: 3 } },
      ],
      message: /is a character-device/,
    },
    {
      name: "rejects-fifo",
      entries: [{ header: { name: `${top}/images/fifo`, type: "fifo" } }],
      message: /is a fifo/,
    },
    {
      name: "rejects-duplicate-entry",
      entries: [
        { header: { name: `${top}/install`, size: 1 }, body: "a" },
        { header: { name: `${top}/install`, size: 1 }, body: "b" },
      ],
      message: /appears twice/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const file = path.join(workdir, `${c.name}.tar.gz`);
      await rawArchive(file, c.entries);
      await rejects(verifyBundle(archiveSource(file)), "BUNDLE_UNSAFE_ENTRY", c.message);
    });
  }

  test("rejects-non-utf8-name: a name with bytes that are not UTF-8", async () => {
    const file = path.join(workdir, "latin1.tar.gz");
    await rawArchive(file, [
      { header: { name: `${top}/`, type: "directory" } },
      { header: { name: `${top}/images/caf\u00e9XX.txt`, size: 1 }, body: "x" },
    ]);
    // Replace the name's UTF-8 "é" and the "XX" with bytes no UTF-8 decoder accepts; fix the checksum.
    const plain = gunzipSync(readFileSync(file));
    const at = plain.indexOf(`${top}/images/caf`);
    const name = at + `${top}/images/caf`.length;
    plain[name] = 0xe9; // a latin-1 é
    plain[name + 1] = 0xff;
    plain[name + 2] = 0xfe;
    plain[name + 3] = 0x2e; // the names keep their length: "caf" + 3 bytes + ".txt" shifted by one
    plain.write("        ", at + 148, "latin1");
    const sum = plain.subarray(at, at + 512).reduce((a, b) => a + b, 0);
    plain.write(sum.toString(8).padStart(6, "0") + "\0 ", at + 148, "latin1");
    writeFileSync(file, gzipSync(plain));
    await rejects(verifyBundle(archiveSource(file)), "BUNDLE_UNSAFE_ENTRY", /invalid UTF-8/);
  });

  test("rejects-truncated-archive", async () => {
    const file = path.join(workdir, "whole.tar.gz");
    await writeBundle(file);
    const cut = path.join(workdir, "cut.tar.gz");
    const whole = readFileSync(file);
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await rejects(
      verifyBundle(archiveSource(cut)),
      "BUNDLE_UNREADABLE",
      /cut\.tar\.gz is damaged or truncated/,
    );
  });

  /**
   * A tail whose manifest has no archive index, as bundles written before the index have: the read
   * is then a stream from the start, and the headers against the manifest are what guards it.
   */
  async function tailWithoutIndex(tail: Buffer): Promise<Buffer> {
    const { files } = await readTailMember(tail);
    const manifestJson = JSON.parse(files.get("manifest.json")!.toString()) as Record<string, unknown>;
    delete manifestJson.archive;
    const pack = tar.pack();
    pack.entry({ name: "demo-complete-20260101/SHA256SUMS" }, files.get("SHA256SUMS")!);
    pack.entry({ name: "demo-complete-20260101/manifest.json" }, JSON.stringify(manifestJson));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
    return gzipSync(Buffer.concat(chunks));
  }

  /** The bundle with one tar header's size field set to `size` (its tail kept, so sizes are declared). */
  async function withHeaderSize(name: string, entryPath: string, size: number): Promise<string> {
    const file = path.join(workdir, `${name}-source.tar.gz`);
    await writeBundle(file);
    const bytes = readFileSync(file);
    const place = parseLocator(bytes.subarray(bytes.length - LOCATOR_BYTES), bytes.length) as {
      offset: number;
      length: number;
    };
    const plain = gunzipSync(bytes.subarray(0, place.offset));
    const at = plain.indexOf(`demo-complete-20260101/${entryPath}\0`);
    assert.ok(at >= 0 && at % 512 === 0, `the header of ${entryPath}`);
    plain.write(size.toString(8).padStart(11, "0") + "\0", at + 124, "latin1");
    plain.write("        ", at + 148, "latin1");
    const sum = plain.subarray(at, at + 512).reduce((a, b) => a + b, 0);
    plain.write(sum.toString(8).padStart(6, "0") + "\0 ", at + 148, "latin1");
    const main = gzipSync(plain);
    const tail = await tailWithoutIndex(bytes.subarray(place.offset, place.offset + place.length));
    const out = path.join(workdir, `${name}.tar.gz`);
    writeFileSync(out, Buffer.concat([main, tail, locatorMember(main.length, tail.length)]));
    return out;
  }

  test("rejects-gzip-bomb: a header claiming 8 GiB where the manifest declares 300 KB is refused at the header, before any of it is inflated", async () => {
    const bomb = await withHeaderSize("bomb", "images/layer/layer.tar", 8 * 1024 ** 3 - 1);
    await rejects(
      verifyBundle(archiveSource(bomb)),
      "BUNDLE_UNREADABLE",
      /images\/layer\/layer\.tar: its header says 8589934591 bytes, the manifest declares 300000/,
    );
  });

  test("rejects-lying-size: a header that says fewer bytes than the file has", async () => {
    const lying = await withHeaderSize("lying", "source/source.tar", 512);
    await rejects(
      verifyBundle(archiveSource(lying)),
      "BUNDLE_UNREADABLE",
      /source\/source\.tar: its header says 512 bytes, the manifest declares 1024/,
    );
  });
});

describe("the source tarball is extracted inside the install folder only", () => {
  async function extract(name: string, entries: RawEntry[]) {
    const root = path.join(workdir, name, "root");
    mkdirSync(root, { recursive: true });
    const pack = tar.pack();
    for (const { header, body } of entries) pack.entry(header as tar.Header, body ?? "");
    pack.finalize();
    return { root, result: extractTarSafely(pack as unknown as Readable, root) };
  }

  test("extracts files, folders, modes and links that stay inside", async () => {
    const { root, result } = await extract("good", [
      { header: { name: "app/", type: "directory" } },
      { header: { name: "app/run.sh", size: 5, mode: 0o755 }, body: "echo\n" },
      { header: { name: "current", type: "symlink", linkname: "app/run.sh" } },
    ]);
    assert.equal(await result, 1);
    assert.equal(readFileSync(path.join(root, "current"), "utf8"), "echo\n");
  });

  for (const [name, entries, message] of [
    [
      "rejects-symlink-escape-in-source",
      [{ header: { name: "evil", type: "symlink", linkname: "../../outside" } }],
      /links to \.\.\/\.\.\/outside, outside the install folder/,
    ],
    [
      "rejects-write-through-symlink",
      [
        { header: { name: "d", type: "symlink", linkname: "sub" } },
        { header: { name: "d/x", size: 1 }, body: "x" },
      ],
      /would be written through d, which is not a folder/,
    ],
    [
      "rejects-file-where-folder-expected",
      [
        { header: { name: "d", size: 1 }, body: "x" },
        { header: { name: "d/x", size: 1 }, body: "x" },
      ],
      /would be written through d, which is not a folder/,
    ],
    [
      "rejects-parent-path-in-source",
      [{ header: { name: "../x", size: 1 }, body: "x" }],
      /leaves its folder/,
    ],
    ["rejects-fifo-in-source", [{ header: { name: "f", type: "fifo" } }], /is a fifo/],
  ] as const) {
    test(name, async () => {
      const { root, result } = await extract(name, entries as unknown as RawEntry[]);
      await rejects(result, "BUNDLE_UNSAFE_ENTRY", message);
      assert.deepEqual(readdirSync(path.dirname(root)), ["root"], "nothing was written beside the root");
      assert.equal(existsSync(path.join(root, "sub", "x")), false);
    });
  }
});

describe("signatures: the signature covers the manifest, which covers SHA256SUMS, which covers every file", () => {
  const keys = path.join(workdir, "keys");
  let signer: KeyObject;
  let trusted: KeyObject;
  let stranger: KeyObject;
  const signed = path.join(workdir, "signed.tar.gz");
  let id: string;
  before(async () => {
    mkdirSync(keys);
    id = await generateKeys(path.join(keys, "team.key"), path.join(keys, "team.pub"));
    await generateKeys(path.join(keys, "other.key"), path.join(keys, "other.pub"));
    signer = loadPrivateKey(path.join(keys, "team.key"));
    trusted = loadPublicKey(path.join(keys, "team.pub"));
    stranger = loadPublicKey(path.join(keys, "other.pub"));
    await writeBundle(signed, undefined, signer);
  });

  test("sealift's keys sign, and a bundle signed with them verifies against the public key", async () => {
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(
      statSync(path.join(keys, "team.key")).mode & 0o777,
      0o600,
      "the private key is readable by its owner only",
    );
    await assert.rejects(
      generateKeys(path.join(keys, "team.key"), path.join(keys, "x.pub")),
      /already exists/,
    );
    const verified = await verifyBundle(archiveSource(signed), {
      signature: { mode: "always", trusted: [stranger, trusted] },
    });
    assert.equal(verified.signature.keyId, id);
  });

  test("rejects-unknown-signing-key: exit 3, naming the key", async () => {
    await rejects(
      verifyBundle(archiveSource(signed), { signature: { mode: "if-signed", trusted: [stranger] } }),
      "BUNDLE_SIGNATURE_UNTRUSTED",
      /the bundle is signed by key [0-9a-f]{16}, which is not trusted here/,
    );
    await rejects(verifyBundle(archiveSource(signed)), "BUNDLE_SIGNATURE_UNTRUSTED", /not trusted here/);
  });

  test("rejects-tampered-manifest: a manifest changed after signing fails the signature", async () => {
    const out = path.join(workdir, "tampered");
    mkdirSync(out);
    await run("tar", ["xzf", signed, "-C", out]);
    const top = path.join(out, "demo-complete-20260101");
    const manifest = JSON.parse(readFileSync(path.join(top, "manifest.json"), "utf8"));
    manifest.project.release = "r2";
    writeFileSync(path.join(top, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    await rejects(
      verifyBundle(directorySource(top), { signature: { mode: "if-signed", trusted: [trusted] } }),
      "BUNDLE_SIGNATURE_INVALID",
      /the signature of manifest\.json does not verify with key/,
    );
  });

  test("rejects-unsigned-when-always: --verify always refuses an unsigned bundle; never skips the check", async () => {
    const unsigned = path.join(workdir, "ok.tar.gz");
    await writeBundle(unsigned);
    await rejects(
      verifyBundle(archiveSource(unsigned), { signature: { mode: "always", trusted: [trusted] } }),
      "BUNDLE_UNSIGNED",
      /not signed/,
    );
    const skipped = await verifyBundle(archiveSource(signed), { signature: { mode: "never", trusted: [] } });
    assert.equal(skipped.signature.keyId, undefined);
  });
});

describe("a file spliced in as gzip members of its own (the installer)", () => {
  test("storedMembers gives the compressed range that gunzip alone turns back into the file; null for a file sharing members", async () => {
    const { BundleWriter } = await import("../../src/bundle/bundle-writer.js");
    const { storedMembers } = await import("../../src/bundle/manifest.js");
    const { manifestFor } = await import("../helpers/bundles.js");
    const { createHash } = await import("node:crypto");
    const content = randomBytes(3 * 1024 * 1024 + 1234);
    const blocks = [0, 1, 2, 3].map((i) => content.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const members = blocks.map((b) => gzipSync(b));
    const stored = Buffer.concat(members);
    const file = path.join(workdir, "spliced.tar.gz");
    const out = createWriteStream(file);
    const writer = new BundleWriter(out, { topDir: "demo-complete-20260101", mtime: new Date() });
    await writer.addBuffer("compose/compose.yaml", "services:\n  web:\n    image: demo-web:r1\n");
    await writer.addBuffer("source/source.tar", randomBytes(5000));
    const { Readable } = await import("node:stream");
    await writer.addStream("install", content.length, Readable.from([content]), 0o755, {
      members: members.map((m, i) => [m.length, blocks[i]!.length]),
      read: async (offset, length) => stored.subarray(offset, offset + length),
      sha256: createHash("sha256").update(content).digest("hex"),
    });
    const { manifest } = await writer.finish((files, links, sums) => manifestFor(files, links, sums));
    const range = storedMembers(manifest, "install");
    assert.ok(range, "the installer's members are found");
    const archive = readFileSync(file);
    assert.ok(gunzipSync(archive.subarray(range.offset, range.offset + range.length)).equals(content));
    assert.equal(storedMembers(manifest, "source/source.tar"), null, "a file compressed with others");
    assert.equal(storedMembers(manifest, "no/such/file"), null);
  });
});
