/**
 * The trust chain's rules on their own, without an engine (test/e2e/hostile-bundle.test.ts installs
 * crafted bundles on an offline field host): links judged by where the kernel lands them, nothing
 * written through a link, no planted state acted on, volume archives held to the source's rule,
 * signatures that cannot be stripped, the metadata member covered byte for byte, inputs bounded.
 * Every test makes what it uses.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  createWriteStream,
  statSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import tar from "tar-stream";
import { archiveSource } from "../../src/bundle/bundle-reader.js";
import { verifyBundle } from "../../src/bundle/verify.js";
import { volumeArchiveProblems } from "../../src/bundle/volume-archive.js";
import { LOCATOR_BYTES, parseLocator } from "../../src/bundle/tail.js";
import { checkPlacedLinks, extractTarSafely, pathInside } from "../../src/installer/safe-extract.js";
import { refuseDowngrade } from "../../src/installer/steps/preflight.js";
import type { InstallRecord } from "../../src/installer/install-record.js";
import { lockFolder } from "../../src/installer/folder-lock.js";
import { writeDurably } from "../../src/util/durable-write.js";
import { readBounded } from "../../src/util/read-bounded.js";
import { resolveInTree, type TreeNode } from "../../src/util/tree-links.js";
import { manifestFor, rejects, writeTestBundleTo } from "../helpers/bundles.js";

const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-trust-"));
after(() => rmSync(workdir, { recursive: true, force: true }));

/** A fresh folder of its own for one test. */
function folder(name: string): string {
  const dir = path.join(workdir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

type Entry = {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device" | "block-device";
  linkname?: string;
  body?: string;
  mode?: number;
};

function tarOf(entries: Entry[]): Readable {
  const pack = tar.pack();
  for (const e of entries) {
    const body = e.body ?? "";
    pack.entry(
      {
        name: e.name,
        type: e.type ?? "file",
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
        size: e.type === undefined || e.type === "file" ? Buffer.byteLength(body) : 0,
        ...(e.type === "block-device" || e.type === "character-device" ? { devmajor: 1, devminor: 1 } : {}),
      } as tar.Header,
      e.type === undefined || e.type === "file" ? body : "",
    );
  }
  pack.finalize();
  return pack as unknown as Readable;
}

describe("links are judged by where the kernel lands them", () => {
  const tree = (nodes: Record<string, TreeNode>) => (rel: string) => nodes[rel];

  test("a chain of links that each look inside and together climb out is outside", async () => {
    const lookup = tree({
      a: { type: "dir" },
      "a/b": { type: "dir" },
      "a/b/s": { type: "link", target: "../.." },
      esc: { type: "link", target: "a/b/s/../.." },
    });
    assert.deepEqual(await resolveInTree("a/b/s", lookup), { inside: true, path: "" });
    assert.equal((await resolveInTree("esc", lookup)).inside, false);
  });

  test("links through links stay inside when they do; loops, absolute targets and dangling climbs are outside", async () => {
    const lookup = tree({
      d: { type: "dir" },
      "d/x": { type: "link", target: "../y" },
      y: { type: "link", target: "d" },
      loop: { type: "link", target: "loop2" },
      loop2: { type: "link", target: "loop" },
      abs: { type: "link", target: "/etc" },
      dangling: { type: "link", target: "missing/../../x" },
    });
    assert.deepEqual(await resolveInTree("d/x", lookup), { inside: true, path: "d" });
    assert.equal((await resolveInTree("loop", lookup)).inside, false);
    assert.equal((await resolveInTree("abs", lookup)).inside, false);
    assert.equal((await resolveInTree("dangling", lookup)).inside, false);
  });

  for (const depth of [1, 2, 3, 5]) {
    test(`rejects-symlink-chain (depth ${depth}): links that reach DIR's parent through each other are refused, nothing else extracted counts`, async () => {
      const root = folder(`chain-${depth}/root`);
      const dirs = Array.from({ length: depth }, (_, i) => `d${i}`);
      const deep = dirs.join("/");
      const entries: Entry[] = dirs.map((_, i) => ({
        name: `${dirs.slice(0, i + 1).join("/")}/`,
        type: "directory",
      }));
      entries.push({ name: `${deep}/s`, type: "symlink", linkname: Array(depth).fill("..").join("/") });
      // As text: "d0/.../s/.." stays; through s (the root itself) it is the root's parent.
      entries.push({ name: "esc", type: "symlink", linkname: `${deep}/s/..` });
      await rejects(
        extractTarSafely(tarOf(entries), root),
        "BUNDLE_UNSAFE_ENTRY",
        /"esc" links to .*leaves the install folder/,
      );
    });
  }

  test("rejects-state-entry: nothing in the source may land in .sealift/", async () => {
    const root = folder("state/root");
    await rejects(
      extractTarSafely(tarOf([{ name: ".sealift/rollback/rollback.json", body: "{}" }]), root),
      "BUNDLE_UNSAFE_ENTRY",
      /is in \.sealift\/, the installer's own folder/,
    );
    await rejects(
      extractTarSafely(
        tarOf([{ name: "state", type: "symlink", linkname: ".sealift" }]),
        folder("state2/root"),
      ),
      "BUNDLE_UNSAFE_ENTRY",
      /lands in \.sealift\//,
    );
  });

  test("rejects-link-completed-by-earlier-release: a link the folder holds and one the bundle brings escape together", async () => {
    const dir = folder("overlay/dir");
    mkdirSync(path.join(dir, "a/b"), { recursive: true });
    symlinkSync("a/b/s/../..", path.join(dir, "esc")); // an earlier release's: dangling, harmless alone
    const staged = folder("overlay/staged");
    mkdirSync(path.join(staged, "a/b"), { recursive: true });
    symlinkSync("../..", path.join(staged, "a/b/s"));
    await rejects(
      checkPlacedLinks([staged], dir),
      "BUNDLE_UNSAFE_ENTRY",
      /"esc" links to a\/b\/s\/\.\.\/\.\./,
    );
    // The same link with a folder in its way instead of the climbing link: fine.
    rmSync(path.join(staged, "a/b/s"));
    mkdirSync(path.join(staged, "a/b/s"));
    await checkPlacedLinks([staged], dir);
  });
});

describe("nothing the installer keeps is written through a link", () => {
  test("rejects-write-through-link: a link planted at the file or its temporary is replaced, never followed", async () => {
    const dir = folder("durable");
    const victim = path.join(folder("durable-outside"), "victim");
    writeFileSync(victim, "untouched\n");
    symlinkSync(victim, path.join(dir, ".env.tmp"));
    symlinkSync(victim, path.join(dir, ".env"));
    await writeDurably(path.join(dir, ".env"), "A=1\n", 0o600);
    assert.equal(readFileSync(victim, "utf8"), "untouched\n");
    assert.equal(readFileSync(path.join(dir, ".env"), "utf8"), "A=1\n");
    assert.equal(statSync(path.join(dir, ".env")).mode & 0o777, 0o600);
    assert.equal(existsSync(path.join(dir, ".env.tmp")), false);
  });

  test("rejects-state-folder-link: a state folder that is a link is refused before anything is written; an install folder that is the operator's link is fine", async () => {
    const dir = folder("state-link");
    symlinkSync(folder("state-link-elsewhere"), path.join(dir, ".sealift"));
    await rejects(lockFolder(dir, "install"), "UNSAFE_PATH", /\.sealift is a link/);
    const linked = path.join(workdir, "linked-install-dir");
    symlinkSync(folder("real-install-dir"), linked);
    const lock = await lockFolder(linked, "install");
    await writeDurably(path.join(linked, ".env"), "A=1\n");
    await lock.release();
    assert.equal(readFileSync(path.join(workdir, "real-install-dir", ".env"), "utf8"), "A=1\n");
  });

  test("rejects-planted-rollback-path: paths read from state are held to the folder, links in their way refused", async () => {
    const dir = folder("planted");
    symlinkSync("/tmp", path.join(dir, "tmplink"));
    await rejects(pathInside(dir, "../../tmp/victim", "rollback.json"), "UNSAFE_PATH", /not a path inside/);
    await rejects(pathInside(dir, "tmplink/victim", "rollback.json"), "UNSAFE_PATH", /tmplink is a link/);
    assert.equal(await pathInside(dir, "app/x", "rollback.json"), path.join(dir, "app/x"));
  });
});

describe("a volume's archive holds files, folders and links that stay in the volume", () => {
  const cases: Array<[string, Entry[], RegExp]> = [
    ["rejects-volume-block-device", [{ name: "sda", type: "block-device" }], /is a block-device/],
    [
      "rejects-volume-char-device",
      [{ name: "mem", type: "character-device", mode: 0o666 }],
      /is a character-device/,
    ],
    ["rejects-volume-fifo", [{ name: "pipe", type: "fifo" }], /is a fifo/],
    ["rejects-volume-setuid", [{ name: "su", body: "x", mode: 0o4755 }], /setuid/],
    ["rejects-volume-setgid", [{ name: "sg", body: "x", mode: 0o2755 }], /setgid/],
    [
      "rejects-volume-absolute-link",
      [{ name: "shadow", type: "symlink", linkname: "/etc/shadow" }],
      /leaves the volume/,
    ],
    ["rejects-volume-dotdot", [{ name: "../escape", body: "x" }], /leaves its folder/],
    [
      "rejects-volume-link-chain",
      [
        { name: "a/", type: "directory" },
        { name: "a/up", type: "symlink", linkname: ".." },
        { name: "out", type: "symlink", linkname: "a/up/.." },
      ],
      /out: links to a\/up\/\.\./,
    ],
  ];
  for (const [name, entries, why] of cases)
    test(name, async () => {
      const problems = await volumeArchiveProblems(tarOf(entries));
      assert.ok(problems.length > 0, "refused");
      assert.match(problems.map((p) => `${p.name}: ${p.why}`).join("\n"), why);
    });

  test("files, folders, inside links and hard links to earlier files pass, owners and modes as they are", async () => {
    const problems = await volumeArchiveProblems(
      tarOf([
        { name: "db/", type: "directory" },
        { name: "db/data", body: "rows", mode: 0o600 },
        { name: "db/current", type: "symlink", linkname: "data" },
        { name: "db/copy", type: "link", linkname: "db/data" },
      ]),
    );
    assert.deepEqual(problems, []);
  });
});

describe("a signature means what the operator thinks", () => {
  const key = generateKeyPairSync("ed25519");

  async function bundle(name: string, signed: boolean): Promise<string> {
    const file = path.join(folder("sig"), `${name}.tar.gz`);
    await writeTestBundleTo(createWriteStream(file), signed ? { signer: key.privateKey } : {});
    return file;
  }

  test("rejects-stripped-signature: with a trusted key, an unsigned bundle is refused unless --verify never", async () => {
    const unsigned = await bundle("stripped", false);
    const policy = (mode: "always" | "if-signed" | "never") => ({
      signature: { mode, trusted: [key.publicKey] },
    });
    await rejects(
      verifyBundle(archiveSource(unsigned), policy("if-signed")),
      "BUNDLE_UNSIGNED",
      /a trusted key/,
    );
    const skipped = await verifyBundle(archiveSource(unsigned), policy("never"));
    assert.equal(skipped.signature.signed, false);
    // Without any trusted key an unsigned bundle reads as it always did.
    const plain = await verifyBundle(archiveSource(unsigned), {
      signature: { mode: "if-signed", trusted: [] },
    });
    assert.equal(plain.signature.signed, false);
  });

  test("rejects-swapped-key: a bundle signed by another key is untrusted, and the hint never says to turn checks off", async () => {
    const signed = await bundle("other", true);
    const other = generateKeyPairSync("ed25519");
    await assert.rejects(
      verifyBundle(archiveSource(signed), { signature: { mode: "if-signed", trusted: [other.publicKey] } }),
      (error: Error & { hint?: string; code?: string }) => {
        assert.equal(error.code, "BUNDLE_SIGNATURE_UNTRUSTED");
        assert.doesNotMatch(error.hint ?? "", /--verify never/);
        return true;
      },
    );
  });

  test("rejects-metadata-header-edit: the metadata member's gzip header bytes are covered, without a .sha256", async () => {
    const signed = await bundle("header", true);
    const ok = await verifyBundle(archiveSource(signed), {
      signature: { mode: "always", trusted: [key.publicKey] },
    });
    assert.equal(ok.signature.signed, true);
    const bytes = readFileSync(signed);
    const place = parseLocator(bytes.subarray(bytes.length - LOCATOR_BYTES), bytes.length);
    assert.ok(place && place !== "damaged");
    // mtime (4 bytes), xfl and OS: what gunzip ignores.
    for (const at of [4, 5, 6, 7, 8, 9]) bytes[place.offset + at] = bytes[place.offset + at]! ^ 0x5a;
    const edited = path.join(path.dirname(signed), "header-edited.tar.gz");
    writeFileSync(edited, bytes);
    assert.equal(
      execFileSync("sh", ["-c", `gzip -dc ${edited} | tar t | wc -l`])
        .toString()
        .trim() !== "0",
      true,
      "still reads as tar",
    );
    await rejects(
      verifyBundle(archiveSource(edited), { signature: { mode: "always", trusted: [key.publicKey] } }),
      "BUNDLE_CHECKSUM_MISMATCH",
      /metadata member .* is not byte for byte/,
    );
  });
});

describe("no downgrade without the operator's word", () => {
  const manifest = (createdAt: string) => ({ ...manifestFor([], [], "0".repeat(64)), createdAt });
  const record = {
    release: "r2",
    manifestSha256: "b".repeat(64),
    packedAt: "2026-12-02T00:00:00.000Z",
  } as InstallRecord;

  test("rejects-downgrade: an older release over a newer one is DOWNGRADE naming both; --allow-downgrade and newer pass", () => {
    assert.throws(
      () => refuseDowngrade(manifest("2026-12-01T00:00:00.000Z"), "c".repeat(64), record, false),
      (error: Error & { code?: string }) =>
        error.code === "DOWNGRADE" && /release r1 .* is older than release r2/.test(error.message),
    );
    refuseDowngrade(manifest("2026-12-01T00:00:00.000Z"), "c".repeat(64), record, true);
    refuseDowngrade(manifest("2026-12-03T00:00:00.000Z"), "c".repeat(64), record, false);
    refuseDowngrade(manifest("2026-12-01T00:00:00.000Z"), record.manifestSha256, record, false); // a re-install
  });
});

describe("every file a command reads is bounded before it is read", () => {
  const options = { maxBytes: 1024, what: "the inventory" };
  for (const [name, make, why] of [
    ["rejects-dev-zero", () => "/dev/zero", /not a regular file/],
    [
      "rejects-fifo",
      () => {
        const fifo = path.join(folder("fifo"), "pipe");
        execFileSync("mkfifo", [fifo]);
        return fifo;
      },
      /not a regular file/,
    ],
    ["rejects-folder", () => folder("a-folder"), /is a folder/],
    [
      "rejects-oversized",
      () => {
        const file = path.join(folder("big"), "big");
        writeFileSync(file, Buffer.alloc(4096));
        return file;
      },
      /more than the 1\.0 KiB/,
    ],
  ] as const)
    test(`${name}: refused at once with INPUT_INVALID`, () => {
      const file = make();
      const started = performance.now();
      assert.throws(
        () => readBounded(file, options),
        (error: Error & { code?: string }) => error.code === "INPUT_INVALID" && why.test(error.message),
      );
      assert.ok(performance.now() - started < 1000);
    });

  test("a regular file within its bound reads whole", () => {
    const file = path.join(folder("small"), "inv");
    writeFileSync(file, "host1\n");
    assert.equal(readBounded(file, options).toString(), "host1\n");
  });
});
