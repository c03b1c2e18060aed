/**
 * The build cache across the air gap: pack (this machine's Docker 20.10) exports stage images and
 * cache mounts; on an offline field host of the same engine (f20: its own engine and network, no
 * images, an empty builder cache, no Node) the installer imports them from the archive; then
 * (a) a code change rebuilds with the dependency step CACHED and its slow command not run,
 * (b) one new dependency is the only one fetched slowly, (c) the rebuilt app is healthy and changed.
 */
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { run } from "../helpers/run.js";
import { rebuildJsonSchema } from "../../src/installer/install-json.js";

describe("build cache that survives the air gap", () => {
  let example: SharedExample;
  let archive: string;
  let bundleDir: string;
  let manifest: Manifest;
  let host: FieldHost;
  /** The install folder on the host, and the same folder seen from this machine. */
  let dir: string;
  let here: string;
  const frontendPort = 8080;
  /** The installer the install keeps on the host, as an operator runs it there. */
  const kept = (args: string[], timeoutMs?: number) =>
    host.exec(`${dir}/.sealift/install`, args, timeoutMs ? { timeoutMs } : {});
  const onHost = (file: string) => path.join(host.root, file.slice(1));
  const hostImageId = async (ref: string) =>
    (await host.exec("docker", ["image", "inspect", "--format", "{{.Id}}", ref])).stdout.trim() || null;

  before(async () => {
    example = await sharedExample();
    ({ archive, bundleDir, manifest } = example.n);
    host = fieldHost(FIELD_HOSTS.docker20);
    dir = `/opt/${example.name}`;
    here = onHost(dir);
  });

  after(async () => {
    await host?.reset();
  });

  test("pack ships a cache image per intermediate stage and one archive per cache mount id, with its files", async () => {
    assert.deepEqual(manifest.cache?.images.map((c) => `${c.service}/${c.stage}`).sort(), [
      "backend/deps",
      "frontend/build",
    ]);
    assert.deepEqual(manifest.cache?.mounts.map((m) => m.id).sort(), [
      `${example.name}-npm`,
      `${example.name}-pip`,
    ]);
    const pip = manifest.cache!.mounts.find((m) => m.id === `${example.name}-pip`)!;
    assert.equal(pip.target, "/root/.cache/pip");
    const listing = await run("tar", ["tf", path.join(bundleDir, pip.path!)]);
    assert.equal(listing.stdout.split("\n").filter((l) => l.endsWith(".whl")).length, 3, listing.stdout);
    for (const wheel of ["tokenizers--0.15.2.whl", "numpy--1.26.4.whl", "fastapi--0.110.0.whl"]) {
      assert.match(
        listing.stdout,
        new RegExp(wheel.replace(/\./g, "\\.")),
        `${wheel} is in the pip cache archive`,
      );
    }
  });

  test("install on a host with no images and an empty builder cache imports it", async () => {
    await host.reset();
    for (const s of [...manifest.services, ...manifest.cache!.images])
      assert.equal(await hostImageId(s.imageId), null, `${s.image} is not on the host before`);
    const result = await host.exec(
      host.installer(),
      [host.deliver(archive), "--yes", "--dir", dir, "--set", `FRONTEND_PORT=${frontendPort}`],
      { timeoutMs: 600_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /build cache: 2 stage images, 2 cache mounts imported/);
    for (const c of manifest.cache!.images) assert.equal(await hostImageId(c.image), c.imageId);
    assert.match(
      readFileSync(path.join(here, "compose.cache.yaml"), "utf8"),
      new RegExp(`cache_from:\\n\\s+- ${example.name}-cache-backend-deps:`),
    );
    const status = await kept(["cache", "status", "--dir", dir]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /unchanged since install: a rebuild takes every step from the cache/);
    assert.match(status.stdout, new RegExp(`${example.name}-pip: .* imported`));
  });

  test("(a) a code change: rebuild reports the dependency step CACHED, its slow command does not run; (c) the change answers", async () => {
    const chat = path.join(here, "backend/app/cgi-bin/chat");
    writeFileSync(chat, readFileSync(chat, "utf8").replace('"echo: %s"', '"said: %s"'));
    const status = await kept(["cache", "status", "--dir", dir]);
    assert.match(
      status.stdout,
      /backend\/app\/cgi-bin\/chat changed: backend stage 1 runs again from line \d+ \(COPY app\/ \/srv\/\)/,
    );
    const result = await kept(["rebuild", "--dir", dir, "--json"], 600_000);
    assert.equal(result.code, 0, result.stderr);
    const report = rebuildJsonSchema.parse(JSON.parse(result.stdout));
    const backend = report.services.find((s) => s.service === "backend")!;
    const pipStep = backend.steps.find((s) => s.name.includes("fake-pip.sh"))!;
    assert.equal(pipStep.cached, true, `the dependency step is CACHED: ${JSON.stringify(backend.steps)}`);
    assert.equal(
      backend.steps.find((s) => s.name.includes("COPY app/"))!.cached,
      false,
      "the changed code is copied anew",
    );
    assert.doesNotMatch(readFileSync(onHost(backend.log), "utf8"), /fake-pip: downloading/);
    assert.ok(
      report.services.find((s) => s.service === "frontend")!.steps.every((s) => s.cached),
      "the unchanged frontend is all cached",
    );
    const reply = JSON.parse(await host.get(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=hi`));
    assert.equal(reply.reply, "said: hi");
  });

  test("(b) one more dependency: only it is fetched slowly, the others come from the imported cache mount; (c) healthy", async () => {
    appendFileSync(path.join(here, "backend/requirements.txt"), "pydantic==2.6.0\n");
    const status = await kept(["cache", "status", "--dir", dir]);
    assert.match(
      status.stdout,
      /backend\/requirements\.txt changed: backend stage deps runs again from line \d+ \(COPY requirements\.txt fake-pip\.sh/,
    );
    const result = await kept(["rebuild", "--dir", dir, "--json"], 600_000);
    assert.equal(result.code, 0, result.stderr);
    const backend = rebuildJsonSchema
      .parse(JSON.parse(result.stdout))
      .services.find((s) => s.service === "backend")!;
    assert.equal(backend.steps.find((s) => s.name.includes("fake-pip.sh"))!.cached, false);
    const log = readFileSync(onHost(backend.log), "utf8");
    assert.deepEqual(log.match(/fake-pip: downloading \S+/g), ["fake-pip: downloading pydantic==2.6.0"], log);
    for (const dep of ["tokenizers==0.15.2", "numpy==1.26.4", "fastapi==0.110.0"])
      assert.match(log, new RegExp(`fake-pip: using cached ${dep}`));
    const reply = JSON.parse(await host.get(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=x`));
    assert.equal(reply.packages, 4);
  });
});
