/**
 * Data paths through links, as a contributor to the app's repository can commit them: nothing
 * outside the project travels, whichever component of the path is the link (the last, its parent,
 * its grandparent); a link into the project, or out of it and back in, is followed. `plan` and
 * `pack` read the data the same way (selectData); pack is run once to show that it writes nothing.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { run, sealift } from "../helpers/run.js";
import { parsePlanJson } from "../../src/packager/plan-json.js";

describe("data paths that leave the project through a link are refused at pack", () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-links-"));
  const project = path.join(workdir, "app");
  const outside = path.join(workdir, "outside");
  after(() => rmSync(workdir, { recursive: true, force: true }));

  before(async () => {
    mkdirSync(path.join(project, "models"), { recursive: true });
    mkdirSync(path.join(outside, "keys", "ssh"), { recursive: true });
    writeFileSync(path.join(outside, "keys", "secret"), "the build machine's secret\n");
    writeFileSync(path.join(outside, "keys", "ssh", "host_key"), "PRIVATE\n");
    writeFileSync(path.join(project, "models", "w.bin"), "weights\n");
    writeFileSync(
      path.join(project, "compose.yaml"),
      "services:\n  app:\n    image: sealift-example/busybox:1.36\n    volumes: [./models:/models:ro]\n",
    );
    writeFileSync(path.join(project, ".gitignore"), "models/\n");
    symlinkSync(outside, path.join(project, "etclink")); // the parent of the data path
    symlinkSync(path.join(outside, "keys", "secret"), path.join(project, "secretlink")); // the last component
    mkdirSync(path.join(project, "deep"));
    symlinkSync(outside, path.join(project, "deep", "gp")); // the grandparent
    symlinkSync("models", path.join(project, "inlink")); // into the project
    symlinkSync(path.join("..", "app"), path.join(project, "roundtrip")); // out and back in
    for (const args of [
      ["init", "-q"],
      ["add", "-A"],
      ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "app"],
    ])
      assert.equal((await run("git", ["-C", project, ...args])).code, 0);
  });

  const plan = (data: string) => sealift(["plan", project, "--data", data, "--json"]);

  for (const [position, data, link] of [
    ["last component", "secretlink", "secretlink"],
    ["parent", "etclink/secret", "etclink"],
    ["parent, a folder", "etclink/keys/ssh", "etclink"],
    ["grandparent", "deep/gp/keys/secret", "deep/gp"],
  ] as const)
    test(`rejects-data-link-out (${position}): ${data}`, async () => {
      const outcome = await plan(data);
      assert.equal(outcome.code, 2, outcome.stderr);
      assert.match(
        outcome.stderr,
        new RegExp(
          `error\\[DATA_OUTSIDE_PROJECT\\]: data path ${data} leaves the project folder .*: ${link} is a link`,
        ),
      );
      assert.match(outcome.stderr, /^hint: only files of the project travel as data/m);
    });

  for (const [position, data] of [
    ["into the project", "inlink/w.bin"],
    ["out and back in", "roundtrip/models/w.bin"],
  ] as const)
    test(`a link ${position} is followed: ${data} travels`, async () => {
      const outcome = await plan(data);
      assert.equal(outcome.code, 0, outcome.stderr);
      const json = parsePlanJson(outcome.stdout);
      assert.deepEqual(
        json.data.files.map((f) => f.path),
        [data],
      );
    });

  test("pack refuses the same (exit 2) and writes no archive", async () => {
    const out = path.join(workdir, "dist");
    const outcome = await sealift(["pack", project, "--data", "etclink/keys", "--out", out]);
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.match(outcome.stderr, /error\[DATA_OUTSIDE_PROJECT\]: data path etclink\/keys/);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, "no archive written");
  });
});
