/**
 * Upgrades and rollback on an offline field host (Docker 20.10, Compose v1), with the example app:
 * release N runs with data in its volume; release N+1, whose backend dies at start, is installed
 * over it: the installer rolls back by itself, N answers again, the data is there, exit 1 with
 * UPGRADE_ROLLED_BACK. Then a good N+1 is installed, and `install rollback` brings N back on
 * request; interrupted while it starts, an upgrade also brings N back.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { commitChange, exampleProject, packed, type ExampleProject } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

describe("upgrades that fail are rolled back (on an offline Docker 20.10 host)", () => {
  let example: ExampleProject;
  let host: FieldHost;
  let releaseN: Manifest;
  let dockerfileN: string;
  let goodArchive: string;
  const dir = () => `/opt/${example.name}`;
  const install = (archive: string, more: string[] = []) =>
    host.exec(host.installer(), [archive, "--yes", "--dir", dir(), ...more], { timeoutMs: 300_000 });
  const kept = (args: string[]) => host.exec(`${dir()}/.sealift/install`, [...args, "--dir", dir()]);
  const ask = async () =>
    JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=hi")) as {
      reply: string;
      store_boots: number;
    };
  const marker = async () =>
    host.docker(["exec", await host.container(example.name, "store"), "cat", "/data/marker"]);
  const record = () =>
    JSON.parse(readFileSync(path.join(host.root, dir(), ".sealift/install.json"), "utf8")) as {
      release: string;
      status: string;
      lastFailure: { release: string };
    };

  /** Commits a change to the example, packs it and hands the archive to the host: its path there. */
  async function release(label: string, file: string, edit: (text: string) => string) {
    await commitChange(example.dir, file, edit(readFileSync(path.join(example.dir, file), "utf8")));
    const { archive, manifest } = await packed(example, `dist-${label}`, [
      "--output-template",
      `{name}-${label}-{date}`,
    ]);
    return { archive: host.deliver(archive), manifest };
  }

  before(async () => {
    host = fieldHost(FIELD_HOSTS.docker20);
    await host.reset();
    example = await exampleProject("upg");
    const n = await packed(example, "dist-n", ["--output-template", "{name}-n-{date}"]);
    releaseN = n.manifest;
    const first = await install(host.deliver(n.archive));
    assert.equal(first.code, 0, first.stderr);
    await host.docker([
      "exec",
      await host.container(example.name, "store"),
      "sh",
      "-c",
      "echo release-N > /data/marker",
    ]);
  });

  after(async () => {
    await host?.reset();
    await example?.dispose();
  });

  test("a release whose backend dies at start: rolled back by itself, N answers again with its data, exit 1 UPGRADE_ROLLED_BACK", async () => {
    dockerfileN = readFileSync(path.join(example.dir, "backend/Dockerfile"), "utf8");
    const broken = await release("broken", "backend/Dockerfile", (text) =>
      text.replace(/^CMD .*$/m, 'CMD ["sh", "-c", "echo this release is broken; exit 3"]'),
    );
    const result = await install(broken.archive, ["--timeout", "30"]);
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
    assert.equal(
      await host.docker(["image", "inspect", "--format", "{{.Id}}", backend.image]),
      backend.imageId,
      "N's image is still tagged",
    );
  });

  test("install rollback: after a good upgrade, brings N back on request; the data stays; a second rollback has nothing to go to", async () => {
    // The backend fixed again (the Dockerfile as in N), and a visible change in its reply.
    writeFileSync(path.join(example.dir, "backend/Dockerfile"), dockerfileN);
    const good = await release("good", "backend/app/cgi-bin/chat", (text) =>
      text.replace('"echo: %s"', '"said: %s"'),
    );
    const upgraded = await install(good.archive);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.equal((await ask()).reply, "said: hi");
    const back = await kept(["rollback"]);
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
    const again = await kept(["rollback"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /error\[NO_ROLLBACK\]: there is no earlier release to roll back to/);
    goodArchive = good.archive;
  });

  test("interrupted (SIGTERM) while the new release starts: exit 130, and the release that ran before is running again with its data", async () => {
    // On the host: the install in the background, SIGTERM once it says it is starting the services.
    const script = [
      `${host.installer()} ${goodArchive} --yes --dir ${dir()} > /tmp/upgrade.log 2>&1 &`,
      "pid=$!",
      "for i in $(seq 1 2400); do grep -q 'starting services' /tmp/upgrade.log && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done",
      "kill -TERM $pid; wait $pid; echo EXIT=$?; cat /tmp/upgrade.log",
    ].join("\n");
    const outcome = await host.exec("sh", ["-c", script], { timeoutMs: 300_000 });
    assert.match(outcome.stdout, /^EXIT=130$/m, outcome.stdout + outcome.stderr);
    assert.match(
      outcome.stdout,
      new RegExp(`rolled back: release ${releaseN.project.release} is running again`),
    );
    assert.equal((await ask()).reply, "echo: hi");
    assert.equal(await marker(), "release-N");
    assert.equal(record().release, releaseN.project.release);
  });
});
