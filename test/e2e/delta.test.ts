/**
 * Update bundles and split bundles on the real engine, with the example app:
 * release 1 installed; a code change packed with --base release 1 is a small delta that the
 * installation's kept installer installs (the change answers, the volume's data stays); the same
 * delta on a host without release 1 is refused naming it. A bundle split into parts installs from
 * its index; a missing or damaged part is refused naming the part, and the parts are never changed.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { imageId, projectImages, removeImages, removeProject, serviceContainer } from "../helpers/docker.js";
import {
  commitChange,
  ensureBaseImage,
  exampleProject,
  packAndExtract,
  type ExampleProject,
} from "../helpers/example.js";
import { freePort, httpGet, installer, run, sealift } from "../helpers/run.js";
import { parsePackJson, type PackJson } from "../../src/packager/pack-json.js";

const today = new Date().toISOString().slice(0, 10).replace(/-/g, "");

describe("delta bundles and bundles in parts", () => {
  let example: ExampleProject;
  let full: { archive: string; bundleDir: string; manifest: Manifest };
  let fullBytes: number;
  let frontendPort: number;
  let backendPort: number;
  const dir = () => path.join(example.workdir, "opt");
  const ports = () => ["--set", `FRONTEND_PORT=${frontendPort}`, "--set", `BACKEND_PORT=${backendPort}`];

  before(async () => {
    example = await exampleProject("delta");
    full = await packAndExtract(example);
    fullBytes = statSync(full.archive).size;
    frontendPort = await freePort();
    backendPort = await freePort();
  });

  after(() => example.dispose());

  describe("a delta on top of release 1", () => {
    let delta: PackJson;
    let deltaManifest: Manifest;

    before(async () => {
      const first = await installer(
        path.join(full.bundleDir, "install"),
        ["--yes", "--dir", dir(), ...ports()],
        { cwd: full.bundleDir },
      );
      assert.equal(first.code, 0, first.stderr);
      const reply = JSON.parse((await httpGet(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=hi`)).body);
      assert.equal(reply.reply, "echo: hi");
      assert.equal(reply.store_boots, 1);
    });

    test("a code change packed with --base release 1: NAME-delta-DATE, under 5% of the full bundle, no installer, the unchanged layers left out", async () => {
      const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
      await commitChange(
        example.dir,
        "backend/app/cgi-bin/chat",
        readFileSync(chat, "utf8").replace('"echo: %s"', '"said: %s"'),
      );
      const result = await sealift([
        "pack",
        example.dir,
        "--out",
        path.join(example.workdir, "dist"),
        "--base",
        full.archive,
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      delta = parsePackJson(result.stdout);
      assert.equal(path.basename(delta.archive), `${example.name}-delta-${today}.tar.gz`);
      assert.ok(
        delta.bytes < fullBytes * 0.05,
        `the delta is ${delta.bytes} bytes, the full bundle ${fullBytes}: ${((100 * delta.bytes) / fullBytes).toFixed(1)}%`,
      );
      const listing = (await run("tar", ["tzf", delta.archive])).stdout.split("\n");
      assert.ok(!listing.some((l) => l.endsWith("/install")), "the installer is the base's: left out");
      assert.ok(
        listing.some((l) => l.endsWith("/source/source.tar")),
        "the source is always carried",
      );
      const fullLayers = (await run("tar", ["tzf", full.archive])).stdout
        .split("\n")
        .filter((l) => l.endsWith("/layer.tar"));
      const deltaLayers = listing.filter((l) => l.endsWith("/layer.tar"));
      assert.ok(deltaLayers.length >= 1, "the changed backend layer is carried");
      assert.ok(
        deltaLayers.length < fullLayers.length,
        `${deltaLayers.length} of ${fullLayers.length} layers`,
      );
      deltaManifest = JSON.parse(
        (await run("tar", ["xzOf", delta.archive, `${example.name}-delta-${today}/manifest.json`])).stdout,
      ) as Manifest;
      assert.equal(deltaManifest.base?.release, full.manifest.project.release);
      assert.equal(deltaManifest.installer.path, null);
      assert.ok(
        deltaManifest.cache!.mounts.every((m) => m.path === null),
        "unchanged cache mounts left out",
      );
    });

    test("the installation's kept installer installs it: the change answers, the volume's data stays, both releases recorded", async () => {
      // The packing machine is this host too: take release 2's new backend image away again, so
      // that the delta's own layers must be loaded on top of release 1's.
      const backend = deltaManifest.services.find((s) => s.name === "backend")!;
      await run("docker", ["rmi", "-f", backend.imageId]);
      await run("docker", ["builder", "prune", "-af"]);
      assert.equal(await imageId(backend.imageId), null);
      const store = () => serviceContainer(example.name, "store");
      const written = await run("docker", [
        "exec",
        await store(),
        "sh",
        "-c",
        "echo release-1 > /data/marker",
      ]);
      assert.equal(written.code, 0, written.stderr);
      const kept = path.join(dir(), ".sealift/install");
      assert.ok(existsSync(kept), "the installer keeps a copy of itself in the install folder");
      // No --dir: the kept installer installs into its own installation.
      const result = await installer(kept, [delta.archive, "--yes", ...ports()]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /loading images: \d+ images/);
      assert.match(result.stderr, /0 cache mounts imported, 2 kept from release/);
      const reply = JSON.parse((await httpGet(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=hi`)).body);
      assert.equal(reply.reply, "said: hi");
      assert.equal(reply.store_boots, 1, "the unchanged store was left running");
      const marker = await run("docker", ["exec", await store(), "cat", "/data/marker"]);
      assert.equal(marker.stdout.trim(), "release-1", "the volume's data is still there");
      const record = JSON.parse(readFileSync(path.join(dir(), ".sealift/install.json"), "utf8"));
      assert.equal(record.release, delta.release);
      assert.equal(record.previous.at(-1).release, full.manifest.project.release);
      assert.equal(await imageId(backend.image), backend.imageId);
    });

    test("rejects-delta-without-base: on a host without release 1, exit 4 naming the release it needs; nothing installed", async () => {
      await removeProject(example.name);
      await removeImages(await projectImages(example.name));
      await run("docker", ["builder", "prune", "-af"]);
      const elsewhere = path.join(example.workdir, "elsewhere");
      const result = await installer(path.join(dir(), ".sealift/install"), [
        delta.archive,
        "--yes",
        "--dir",
        elsewhere,
        ...ports(),
      ]);
      assert.equal(result.code, 4, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `update bundle on top of release ${full.manifest.project.release} of ${example.name}; this host lacks \\d+ of the layers`,
        ),
      );
      assert.match(result.stderr, /install release .* first/);
      assert.ok(!existsSync(elsewhere), "nothing was written");
    });
  });

  describe("a bundle in parts", () => {
    let split: PackJson;
    let top: string;
    let binary: string;

    before(async () => {
      await ensureBaseImage(`${example.name}-base:1.36`, example.name); // the refusal above removed it
      const result = await sealift([
        "pack",
        example.dir,
        "--out",
        path.join(example.workdir, "parts"),
        "--split",
        "16M",
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      split = parsePackJson(result.stdout);
      top = path.basename(split.archive).replace(/\.tar\.gz\.index\.json$/, "");
      // The operator's one step before installing: the installer out of the joined parts.
      const cwd = path.dirname(split.archive);
      const untar = await run("sh", ["-c", `cat ${top}.tar.gz.part* | tar xz ${top}/install`], { cwd });
      assert.equal(untar.code, 0, untar.stderr);
      binary = path.join(cwd, top, "install");
    });

    test("pack --split 16M writes parts of 16 MiB, an index and a SHA256SUMS; joined, they are the archive tar reads", async () => {
      assert.ok(split.parts!.length >= 2, `${split.parts!.length} parts`);
      for (const part of split.parts!.slice(0, -1)) assert.equal(statSync(part).size, 16 * 1024 * 1024);
      const cwd = path.dirname(split.archive);
      assert.equal((await run("sha256sum", ["-c", `${top}.tar.gz.SHA256SUMS`], { cwd })).code, 0);
      const index = JSON.parse(readFileSync(split.archive, "utf8")) as { sha256: string };
      const joined = await run("sh", ["-c", `cat ${top}.tar.gz.part* | sha256sum`], { cwd });
      assert.equal(joined.stdout.split(" ")[0], index.sha256);
    });

    test("installs from the index; the parts are not changed", async () => {
      const result = await installer(binary, [split.archive, "--yes", "--dir", dir(), ...ports()]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /checking .*index.json: manifest and SHA256SUMS/);
      const reply = JSON.parse((await httpGet(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=hi`)).body);
      assert.equal(reply.reply, "said: hi");
      const cwd = path.dirname(split.archive);
      assert.equal((await run("sha256sum", ["-c", `${top}.tar.gz.SHA256SUMS`], { cwd })).code, 0);
    });

    for (const fault of ["missing", "damaged"] as const) {
      test(`rejects-${fault}-part: exit 3 naming the part`, async () => {
        const copy = path.join(example.workdir, `parts-${fault}`);
        cpSync(path.dirname(split.archive), copy, { recursive: true });
        const second = path.join(copy, `${top}.tar.gz.part002`);
        if (fault === "missing") rmSync(second);
        else {
          const data = readFileSync(second);
          data[4096] = data[4096]! ^ 0x01;
          writeFileSync(second, data);
        }
        const result = await installer(binary, [
          path.join(copy, path.basename(split.archive)),
          "--yes",
          "--dir",
          dir(),
          ...ports(),
        ]);
        assert.equal(result.code, 3, result.stderr);
        assert.match(
          result.stderr,
          fault === "missing"
            ? new RegExp(`part ${top}\\.tar\\.gz\\.part002 \\(2 of \\d+\\) is missing`)
            : new RegExp(`part ${top}\\.tar\\.gz\\.part002 does not match its checksum`),
        );
        rmSync(copy, { recursive: true, force: true });
      });
    }
  });
});
