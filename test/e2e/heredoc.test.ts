/**
 * A Dockerfile with heredocs (a SQL `... FROM models;` inside one) packed on today's Docker (26,
 * buildx): the stages and cache mounts sealift derives are the real ones, `docker build` and
 * `sealift pack` both build it, and the plan shows no phantom stage or bogus lint warning.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { parsePlanJson } from "../../src/packager/plan-json.js";
import { ensureBaseImage } from "../helpers/example.js";
import { BUILD_ENGINE_26, engineEnv } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

describe("a heredoc Dockerfile, packed on Docker 26 with buildx", () => {
  const engine = engineEnv(BUILD_ENGINE_26);
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-heredoc-"));
  const name = `slhd${Math.random().toString(36).slice(2, 7)}`;
  const dir = path.join(workdir, name);
  const base = `${name}-base:1.36`;

  before(async () => {
    await ensureBaseImage(base, name, engine);
    mkdirSync(path.join(dir, "db"), { recursive: true });
    writeFileSync(
      path.join(dir, "db", "Dockerfile"),
      [
        "# escape=\\",
        `ARG BASE=${base}`,
        "FROM ${BASE} AS seed",
        `RUN --mount=type=cache,id=${name}-seed,target=/var/cache/seed <<EOF`,
        "set -e",
        "echo 'rows' > /var/cache/seed/rows.txt",
        "cp /var/cache/seed/rows.txt /rows.txt",
        "EOF",
        "COPY <<SQL /init.sql",
        "SELECT name, size FROM models;",
        "FROM nowhere",
        "SQL",
        "FROM ${BASE}",
        "COPY --from=seed /rows.txt /init.sql /srv/",
        'CMD ["sleep", "3600"]',
        "",
      ].join("\n"),
    );
    writeFileSync(path.join(dir, "compose.yaml"), "services:\n  db:\n    build: ./db\n    init: true\n");
    for (const args of [
      ["init", "-q"],
      ["add", "-A"],
      ["-c", "user.email=t@s", "-c", "user.name=t", "commit", "-qm", "heredoc"],
    ])
      assert.equal((await run("git", ["-C", dir, ...args])).code, 0);
  });

  after(async () => {
    await run(
      "sh",
      ["-c", `docker images --format '{{.Repository}}:{{.Tag}}' | grep '^${name}' | xargs -r docker rmi -f`],
      { env: engine },
    );
    rmSync(workdir, { recursive: true, force: true });
  });

  test("plan: one cache stage, its cache mount, no phantom stage or BASE_UNPINNED", async () => {
    const planned = await sealift(["plan", dir, "--json"], { env: engine });
    assert.equal(planned.code, 0, planned.stderr);
    const plan = parsePlanJson(planned.stdout);
    assert.deepEqual(plan.cache, { stages: [{ service: "db", stage: "seed" }], mounts: [`${name}-seed`] });
    assert.deepEqual(
      plan.lint.map((f) => f.code),
      [],
    );
  });

  test("docker build builds it, and so does sealift pack: the stage image and the cache mount travel", async () => {
    const built = await run("docker", ["build", "-q", "-t", `${name}-check:1`, path.join(dir, "db")], {
      env: engine,
    });
    assert.equal(built.code, 0, built.stderr);
    const packed = await sealift(["pack", dir, "--out", path.join(workdir, "dist"), "--json"], {
      env: engine,
    });
    assert.equal(packed.code, 0, packed.stderr);
    const archive = parsePackJson(packed.stdout).archive;
    const manifestText = await run("tar", [
      "xzOf",
      archive,
      `${path.basename(archive, ".tar.gz")}/manifest.json`,
    ]);
    const manifest = JSON.parse(manifestText.stdout) as Manifest;
    assert.deepEqual(
      manifest.cache?.images.map((c) => [c.service, c.stage]),
      [["db", "seed"]],
    );
    assert.deepEqual(
      manifest.cache?.mounts.map((m) => [m.id, m.stage]),
      [[`${name}-seed`, "seed"]],
    );
  });
});
