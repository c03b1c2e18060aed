/**
 * A trusted key built into the installer (SEALIFT_TRUSTED_KEYS at build time): an installer built
 * that way accepts bundles signed with it without --trust, refuses unsigned ones by default
 * (--verify always), and still refuses other keys. The installer is built into a folder of its own
 * and run as its bundled script (the single executable holds the same script).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { generateKeys, loadPrivateKey } from "../../src/bundle/signature.js";
import { writeBundle } from "../helpers/bundles.js";
import { ROOT, run } from "../helpers/run.js";

describe("an installer built with a trusted key", () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-baked-"));
  const out = path.join(workdir, "build");
  const installer = (args: string[]) => run(process.execPath, [path.join(out, "install.cjs"), ...args]);
  const bundles = { signed: "", unsigned: "", stranger: "" };

  before(async () => {
    await generateKeys(path.join(workdir, "team.key"), path.join(workdir, "team.pub"));
    await generateKeys(path.join(workdir, "other.key"), path.join(workdir, "other.pub"));
    const built = await run(process.execPath, [path.join(ROOT, "scripts/build.mjs")], {
      env: {
        SEALIFT_BUILD_OUT: out,
        SEALIFT_ARCHES: "", // the bundled script is enough here; no executables
        SEALIFT_TRUSTED_KEYS: path.join(workdir, "team.pub"),
      },
    });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /the installer trusts 1 built-in key/);
    bundles.signed = path.join(workdir, "signed.tar.gz");
    bundles.unsigned = path.join(workdir, "unsigned.tar.gz");
    bundles.stranger = path.join(workdir, "stranger.tar.gz");
    await writeBundle(bundles.signed, undefined, loadPrivateKey(path.join(workdir, "team.key")));
    await writeBundle(bundles.unsigned);
    await writeBundle(bundles.stranger, undefined, loadPrivateKey(path.join(workdir, "other.key")));
  });

  after(() => rmSync(workdir, { recursive: true, force: true }));

  test("a bundle signed with the built-in key verifies without --trust", async () => {
    const result = await installer([bundles.signed, "--verify-only"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /signed by trusted key [0-9a-f]{16}/);
  });

  test("rejects-unsigned-by-default: a built-in key asks for a signature, exit 3, even with --verify if-signed; only --verify never goes without", async () => {
    const refused = await installer([bundles.unsigned, "--verify-only"]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /error\[BUNDLE_UNSIGNED\]/);
    const ifSigned = await installer([bundles.unsigned, "--verify-only", "--verify", "if-signed"]);
    assert.equal(ifSigned.code, 3, ifSigned.stderr);
    assert.match(ifSigned.stderr, /error\[BUNDLE_UNSIGNED\]/);
    assert.doesNotMatch(ifSigned.stderr, /--verify never/);
    const never = await installer([bundles.unsigned, "--verify-only", "--verify", "never"]);
    assert.equal(never.code, 0, never.stderr);
  });

  test("rejects-other-key: a bundle signed by a key that is not built in, exit 3 naming it", async () => {
    const result = await installer([bundles.stranger, "--verify-only"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /error\[BUNDLE_SIGNATURE_UNTRUSTED\]: the bundle is signed by key [0-9a-f]{16}/,
    );
  });

  test("--help says so", async () => {
    const help = await installer(["--help"]);
    assert.match(help.stdout, /--verify <mode>[\s\S]*default: "always"/);
    assert.match(help.stdout, /1 built in/);
  });
});
