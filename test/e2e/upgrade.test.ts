/**
 * Upgrades and rollback on the real engine, with the example app: release N runs with data in its
 * volume; release N+1, whose backend dies at start, is installed over it: the installer rolls back
 * by itself, N answers again, the data is there, exit 1 with UPGRADE_ROLLED_BACK. Then a good N+1
 * is installed, and `install rollback` brings N back on request; interrupted while it starts, an
 * upgrade also brings N back.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { imageId, serviceContainer } from "../helpers/docker.js";
import { commitChange, exampleProject, packAndExtract, type ExampleProject } from "../helpers/example.js";
import { HOST_PATH, freePort, httpGet, installer, interrupt, run } from "../helpers/run.js";

describe("upgrades that fail are rolled back", () => {
  let example: ExampleProject;
  let releaseN: Manifest;
  let binary: string;
  let frontendPort: number;
  let backendPort: number;
  let dockerfileN: string;
  let goodBundle: string;
  const dir = () => path.join(example.workdir, "opt");
  const ports = () => ["--set", `FRONTEND_PORT=${frontendPort}`, "--set", `BACKEND_PORT=${backendPort}`];
  const ask = async () =>
    JSON.parse((await httpGet(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=hi`)).body) as {
      reply: string;
      store_boots: number;
    };
  const store = () => serviceContainer(example.name, "store");
  const marker = async () =>
    (await run("docker", ["exec", await store(), "cat", "/data/marker"])).stdout.trim();
  const record = () => JSON.parse(readFileSync(path.join(dir(), ".sealift/install.json"), "utf8"));

  /** Commits a change to the example and packs it: the new release's extracted bundle. */
  async function release(label: string, file: string, edit: (text: string) => string) {
    await commitChange(example.dir, file, edit(readFileSync(path.join(example.dir, file), "utf8")));
    return packAndExtract(example, label);
  }

  before(async () => {
    example = await exampleProject("upg");
    const packed = await packAndExtract(example);
    releaseN = packed.manifest;
    binary = path.join(packed.bundleDir, "install");
    frontendPort = await freePort();
    backendPort = await freePort();
    const first = await installer(binary, ["--yes", "--dir", dir(), ...ports()]);
    assert.equal(first.code, 0, first.stderr);
    const written = await run("docker", ["exec", await store(), "sh", "-c", "echo release-N > /data/marker"]);
    assert.equal(written.code, 0, written.stderr);
  });

  after(() => example.dispose());

  test("a release whose backend dies at start: rolled back by itself, N answers again with its data, exit 1 UPGRADE_ROLLED_BACK", async () => {
    dockerfileN = readFileSync(path.join(example.dir, "backend/Dockerfile"), "utf8");
    const broken = await release("broken", "backend/Dockerfile", (text) =>
      text.replace(/^CMD .*$/m, 'CMD ["sh", "-c", "echo this release is broken; exit 3"]'),
    );
    const result = await installer(path.join(broken.bundleDir, "install"), [
      "--yes",
      "--dir",
      dir(),
      "--timeout",
      "30",
      ...ports(),
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `error\\[UPGRADE_ROLLED_BACK\\]: release ${broken.manifest.project.release} failed .*; rolled back: release ${releaseN.project.release} is running again`,
      ),
    );
    assert.equal((await ask()).reply, "echo: hi", "release N answers");
    assert.equal(await marker(), "release-N", "the volume's data is there");
    assert.equal(record().release, releaseN.project.release);
    assert.equal(record().status, "installed");
    assert.equal(record().lastFailure.release, broken.manifest.project.release);
    const backend = releaseN.services.find((s) => s.name === "backend")!;
    assert.equal(await imageId(backend.image), backend.imageId, "N's image is still tagged");
  });

  test("install rollback: after a good upgrade, brings N back on request; the data stays; a second rollback has nothing to go to", async () => {
    // The backend fixed again (the Dockerfile as in N), and a visible change in its reply.
    writeFileSync(path.join(example.dir, "backend/Dockerfile"), dockerfileN);
    const good = await release("good", "backend/app/cgi-bin/chat", (text) =>
      text.replace('"echo: %s"', '"said: %s"'),
    );
    const upgraded = await installer(path.join(good.bundleDir, "install"), [
      "--yes",
      "--dir",
      dir(),
      ...ports(),
    ]);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.equal((await ask()).reply, "said: hi");
    const back = await installer(binary, ["rollback", "--dir", dir()]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(
      back.stdout,
      new RegExp(
        `rolled back from release ${good.manifest.project.release}: release ${releaseN.project.release} is running again`,
      ),
    );
    assert.equal((await ask()).reply, "echo: hi");
    assert.equal(await marker(), "release-N");
    assert.equal(record().release, releaseN.project.release);
    const again = await installer(binary, ["rollback", "--dir", dir()]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /error\[NO_ROLLBACK\]: there is no earlier release to roll back to/);
    goodBundle = good.bundleDir;
  });

  test("interrupted (SIGTERM) while the new release starts: exit 130, and the release that ran before is running again with its data", async () => {
    const { code, stderr } = await interrupt(
      path.join(goodBundle, "install"),
      ["--yes", "--dir", dir(), ...ports()],
      {
        env: { PATH: HOST_PATH },
        when: "starting services",
        signal: "SIGTERM",
      },
    );
    assert.equal(code, 130, stderr);
    assert.match(stderr, new RegExp(`rolled back: release ${releaseN.project.release} is running again`));
    assert.equal((await ask()).reply, "echo: hi");
    assert.equal(await marker(), "release-N");
    assert.equal(record().release, releaseN.project.release);
  });
});
