/**
 * arm64 edge hosts: the example packed for linux/arm64 on the Docker 26 build engine (buildx, QEMU's
 * binfmt handler from Debian's qemu-user-static: scripts/ensure-arm64.sh), carrying the arm64
 * installer; that installer, cut from the bundle, runs under qemu-user with an arm64 sysroot from
 * Debian's packages (there is no arm64 machine here) and verifies the bundle. A platform that does
 * not match is refused with the fix: an image of another CPU at pack, an arm64 bundle on an amd64 host.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { ARM64_ROOT, exampleProject, type ExampleProject } from "../helpers/example.js";
import { BUILD_ENGINE_26, FIELD_HOSTS, engineEnv, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

describe("arm64: pack --platform linux/arm64, its installer under emulation", () => {
  const engine = engineEnv(BUILD_ENGINE_26);
  let example: ExampleProject;
  let archive: string;
  let manifest: Manifest;
  let bundleDir: string;
  let amd64Host: FieldHost;

  before(async () => {
    example = await exampleProject("arm", engine, { platform: "linux/arm64" });
    const packed = await sealift(
      [
        "pack",
        example.dir,
        "--out",
        path.join(example.workdir, "dist"),
        "--platform",
        "linux/arm64",
        "--json",
      ],
      { env: engine },
    );
    assert.equal(packed.code, 0, packed.stderr);
    archive = parsePackJson(packed.stdout).archive;
    const top = path.basename(archive, ".tar.gz");
    const usb = path.join(example.workdir, "usb");
    mkdirSync(usb, { recursive: true });
    assert.equal(
      (await run("tar", ["xzf", archive, "-C", usb, `${top}/install`, `${top}/manifest.json`])).code,
      0,
    );
    bundleDir = path.join(usb, top);
    manifest = JSON.parse((await run("cat", [path.join(bundleDir, "manifest.json")])).stdout) as Manifest;
    amd64Host = fieldHost(FIELD_HOSTS.containerd26);
    await amd64Host.reset();
  });

  after(async () => {
    await amd64Host?.reset();
    await example?.dispose();
  });

  test("the bundle is for linux/arm64: every image, and the installer it carries", async () => {
    assert.equal(manifest.installer.platform, "linux/arm64");
    assert.deepEqual([...new Set(manifest.services.map((s) => s.platform.architecture))], ["arm64"]);
    const file = await run("file", ["-b", path.join(bundleDir, "install")]);
    assert.match(file.stdout, /ARM aarch64/);
  });

  test("the arm64 installer runs under qemu-user: --help, and --verify-only of the arm64 bundle", async () => {
    const env = { QEMU_LD_PREFIX: path.join(ARM64_ROOT, "sysroot") };
    const installer = path.join(bundleDir, "install");
    const help = await run("env", ["-i", `QEMU_LD_PREFIX=${env.QEMU_LD_PREFIX}`, installer, "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: install/);
    const verified = await run(
      "env",
      ["-i", `QEMU_LD_PREFIX=${env.QEMU_LD_PREFIX}`, installer, archive, "--verify-only"],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout + verified.stderr, /files verified .*nothing was changed/);
  });

  test("an arm64 bundle on an amd64 host: refused at preflight (exit 4) naming both platforms", async () => {
    const delivered = amd64Host.deliver(archive);
    const result = await amd64Host.exec(amd64Host.installer(), [
      delivered,
      "--yes",
      "--dir",
      `/opt/${example.name}`,
    ]);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /CPU architecture .*the images are for arm64, this host is amd64/);
    assert.equal(await amd64Host.docker(["images", "-q", `${example.name}-*`]), "");
  });

  test("an image of another CPU than the bundle's platform: pack refuses it (exit 2) with the fix", async () => {
    const dir = path.join(example.workdir, "mixed");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, "compose.yaml"),
      `services:\n  edge:\n    image: ${example.name}-base:1.36\n`,
    );
    for (const args of [
      ["init", "-q"],
      ["add", "-A"],
      ["-c", "user.email=t@s", "-c", "user.name=t", "commit", "-qm", "x"],
    ])
      assert.equal((await run("git", ["-C", dir, ...args])).code, 0);
    const result = await sealift(
      ["pack", dir, "--out", path.join(example.workdir, "dist-mixed"), "--platform", "linux/amd64"],
      {
        env: engine,
      },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /error\[PLATFORM_MISMATCH\]: 1 image\(s\) are not for linux\/amd64.*edge \(arm64\)/,
    );
    assert.match(
      result.stderr,
      /hint: .*docker pull --platform linux\/amd64 IMAGE.*or pack with --platform linux\/arm64/,
    );
  });
});
