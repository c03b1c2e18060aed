import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { checkBundleLink, entryPathProblem, linkStaysInside } from "../../src/bundle/entry-path.js";
import { filesBelow, walkTree } from "../../src/util/walk-tree.js";

describe("entry paths (one rule for bundles and the tarballs they carry)", () => {
  it("accepts normalised relative paths, with or without a trailing slash", () => {
    for (const name of ["src/app.py", "images/blobs/sha256/ab", "data/files/models/w.bin", "src/"])
      assert.equal(entryPathProblem(name), null, name);
  });
  it("refuses absolute, escaping, unnormalised and oddly encoded names, saying why", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /empty/],
      ["/etc/passwd", /absolute/],
      ["../x", /leaves its folder/],
      ["src/../../x", /leaves its folder/],
      ["src/./x", /not normalised/],
      ["src//x", /not normalised/],
      ["src\\x", /backslash/],
      ["a\0b", /NUL/],
      ["bad\uFFFD", /invalid UTF-8/],
    ];
    for (const [name, why] of cases)
      assert.match(entryPathProblem(name) ?? "(accepted)", why, JSON.stringify(name));
  });
  it("keeps links inside their root, and bundle links inside images/", () => {
    assert.equal(linkStaysInside("a/b", "c"), true);
    assert.equal(linkStaysInside("a/b", "../c"), true);
    assert.equal(linkStaysInside("a/b", "../../c"), false);
    assert.equal(linkStaysInside("a/b", "/etc/passwd"), false);
    assert.equal(linkStaysInside("a/b", ""), false);
    assert.doesNotThrow(() => checkBundleLink("images/x/layer.tar", "../y/layer.tar"));
    assert.throws(() => checkBundleLink("images/x/layer.tar", "../../src/app.py"), /outside images\//);
    assert.throws(() => checkBundleLink("src/link", "app.py"), /a link outside images\//);
  });
});

describe("walkTree (the one directory walker)", () => {
  it("yields a folder before its content, in name order, skips named folders and never follows links", async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "sealift-walk-"));
    mkdirSync(path.join(root, "b/.git"), { recursive: true });
    mkdirSync(path.join(root, "a"));
    writeFileSync(path.join(root, "a/z.txt"), "z");
    writeFileSync(path.join(root, "b/.git/HEAD"), "ref");
    writeFileSync(path.join(root, "b/y.txt"), "y");
    symlinkSync("/etc", path.join(root, "c-link"));
    const seen: string[] = [];
    for await (const { rel, dirent } of walkTree(root, { skip: new Set([".git"]) }))
      seen.push(`${rel}${dirent.isDirectory() ? "/" : dirent.isSymbolicLink() ? "@" : ""}`);
    assert.deepEqual(seen, ["a/", "a/z.txt", "b/", "b/y.txt", "c-link@"]);
    assert.deepEqual(await filesBelow(root), ["a/z.txt", "b/.git/HEAD", "b/y.txt", "c-link"]);
  });
});
