/**
 * Update bundles and split bundles on offline field hosts (Docker 20.10), with the example app
 * packed on this machine: release 1 installed; a code change packed with --base release 1 is a
 * small delta that the installation's kept installer installs (the change answers, the volume's
 * data stays); the same delta on another host, without release 1, is refused naming it. A bundle
 * split into parts installs from its index; a missing or damaged part is refused naming the part,
 * and the parts are never changed.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { commitChange, exampleProject, packed, type ExampleProject } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";
import { parsePackJson, type PackJson } from "../../src/packager/pack-json.js";

/** Copies FILES into the host's /tmp/SUB (as scp would), returning each one's path there. */
function deliverTo(host: FieldHost, sub: string, files: string[]): string[] {
  const dir = path.join(host.root, "tmp", sub);
  mkdirSync(dir, { recursive: true });
  return files.map((file) => {
    copyFileSync(file, path.join(dir, path.basename(file)));
    return `/tmp/${sub}/${path.basename(file)}`;
  });
}

const today = new Date().toISOString().slice(0, 10).replace(/-/g, "");

describe("delta bundles and bundles in parts (on offline Docker 20.10 hosts)", () => {
  let example: ExampleProject;
  let host: FieldHost;
  let full: { archive: string; manifest: Manifest };
  let fullBytes: number;
  const dir = () => `/opt/${example.name}`;
  const ask = async () =>
    JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=hi")) as {
      reply: string;
      store_boots: number;
    };

  before(async () => {
    host = fieldHost(FIELD_HOSTS.docker20);
    await host.reset();
    example = await exampleProject("delta");
    full = await packed(example, "dist-full");
    fullBytes = statSync(full.archive).size;
  });

  after(async () => {
    await host?.reset();
    await example?.dispose();
  });

  describe("a delta on top of release 1", () => {
    let delta: PackJson;
    let deltaManifest: Manifest;

    before(async () => {
      const first = await host.exec(host.installer(), [host.deliver(full.archive), "--yes", "--dir", dir()], {
        timeoutMs: 300_000,
      });
      assert.equal(first.code, 0, first.stderr);
      const reply = await ask();
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
      const backend = deltaManifest.services.find((s) => s.name === "backend")!;
      const store = await host.container(example.name, "store");
      await host.docker(["exec", store, "sh", "-c", "echo release-1 > /data/marker"]);
      const kept = `${dir()}/.sealift/install`;
      // No --dir: the kept installer installs into its own installation.
      const result = await host.exec(kept, [host.deliver(delta.archive), "--yes"], { timeoutMs: 300_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /loading images: \d+ images/);
      assert.match(result.stderr, /0 cache mounts imported, 2 kept from release/);
      const reply = await ask();
      assert.equal(reply.reply, "said: hi");
      assert.equal(reply.store_boots, 1, "the unchanged store was left running");
      assert.equal(
        await host.docker(["exec", await host.container(example.name, "store"), "cat", "/data/marker"]),
        "release-1",
        "the volume's data is still there",
      );
      const record = JSON.parse(readFileSync(path.join(host.root, dir(), ".sealift/install.json"), "utf8"));
      assert.equal(record.release, delta.release);
      assert.equal(record.previous.at(-1).release, full.manifest.project.release);
      assert.equal(
        await host.docker(["image", "inspect", "--format", "{{.Id}}", backend.image]),
        backend.imageId,
      );
    });

    test("rejects-delta-without-base: on a host without release 1, exit 4 naming the release it needs; nothing installed", async () => {
      const other = fieldHost(FIELD_HOSTS.docker26);
      await other.reset();
      const elsewhere = `/opt/${example.name}`;
      const result = await other.exec(other.installer(), [
        other.deliver(delta.archive),
        "--yes",
        "--dir",
        elsewhere,
      ]);
      await other.reset();
      assert.equal(result.code, 4, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `update bundle on top of release ${full.manifest.project.release} of ${example.name}; this host lacks \\d+ of the layers`,
        ),
      );
      assert.match(result.stderr, /install release .* first/);
      assert.equal((await other.exec("test", ["-e", elsewhere])).code, 1, "nothing was written");
    });
  });

  describe("a bundle in parts", () => {
    let split: PackJson;
    let top: string;
    let delivered: string[];

    before(async () => {
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
      // The parts, their index and sums, carried to the host together (as on one USB stick).
      delivered = deliverTo(host, "parts", [
        ...split.parts!,
        split.archive,
        path.join(path.dirname(split.archive), `${top}.tar.gz.SHA256SUMS`),
      ]);
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
      const index = delivered.at(-2)!;
      const result = await host.exec(host.installer(), [index, "--yes", "--dir", dir()], {
        timeoutMs: 300_000,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /checking .*index.json: manifest and SHA256SUMS/);
      assert.equal((await ask()).reply, "said: hi");
      const sums = await host.exec("sh", ["-c", `cd /tmp/parts && sha256sum -c ${top}.tar.gz.SHA256SUMS`]);
      assert.equal(sums.code, 0, sums.stdout + sums.stderr);
    });

    for (const fault of ["missing", "damaged"] as const) {
      test(`rejects-${fault}-part: exit 3 naming the part`, async () => {
        const sums = path.join(path.dirname(split.archive), `${top}.tar.gz.SHA256SUMS`);
        const files = [...split.parts!, sums, split.archive].filter(
          (f) => fault !== "missing" || !f.endsWith(".part002"),
        );
        const copies = deliverTo(host, `parts-${fault}`, files);
        if (fault === "damaged") {
          const second = path.join(host.root, "tmp", `parts-${fault}`, `${top}.tar.gz.part002`);
          const data = readFileSync(second);
          data[4096] = data[4096]! ^ 0x01;
          writeFileSync(second, data);
        }
        const result = await host.exec(host.installer(), [copies.at(-1)!, "--yes", "--dir", dir()]);
        assert.equal(result.code, 3, result.stderr);
        assert.match(
          result.stderr,
          fault === "missing"
            ? new RegExp(`part ${top}\\.tar\\.gz\\.part002 \\(2 of \\d+\\) is missing`)
            : new RegExp(`part ${top}\\.tar\\.gz\\.part002 does not match its checksum`),
        );
      });
    }
  });
});
