/**
 * Compose's model through pack and install, across the gap: a project with profile-gated services
 * packed on Docker 26 (Compose v2) with `--profile debug`, installed on an offline Docker 26
 * containerd field host: exactly the services compose starts with that profile are shipped,
 * started and waited for. Then the same project using `include:` (Compose v2 only) on the Docker
 * 20.10 + Compose v1 field host: refused at preflight with compose's reason, nothing installed.
 */
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { commitChange, type ExampleProject, exampleProject, packed } from "../helpers/example.js";
import { BUILD_ENGINE_26, FIELD_HOSTS, engineEnv, fieldHost, type FieldHost } from "../helpers/field-host.js";

describe("profiles and compose's own model, packed on Docker 26 and installed on field hosts", () => {
  let example: ExampleProject;
  let withProfile: { archive: string; manifest: Manifest };
  let v2Only: { archive: string; manifest: Manifest };
  let containerd: FieldHost;
  let v1: FieldHost;
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await exampleProject("pf", engineEnv(BUILD_ENGINE_26));
    const base = `${example.name}-base:1.36`;
    const compose = path.join(example.dir, "docker-compose.yml");
    const text = readFileSync(compose, "utf8").replace(
      "\nvolumes:",
      [
        "",
        "  debug:",
        `    image: ${base}`,
        "    profiles: [debug]",
        "    command: [sleep, '86400']",
        "    init: true",
        "  tools:",
        `    image: ${base}`,
        "    profiles: [tools]",
        "    command: [sleep, '86400']",
        "",
        "volumes:",
      ].join("\n"),
    );
    await commitChange(example.dir, "docker-compose.yml", text);
    withProfile = await packed(example, "dist-profile", ["--profile", "debug"]);
    // The same project split with include: (Compose v2 reads it; v1 does not).
    writeFileSync(
      path.join(example.dir, "extra.yaml"),
      `services:\n  extra:\n    image: ${base}\n    command: [sleep, '86400']\n    init: true\n`,
    );
    appendFileSync(compose, "include: [extra.yaml]\n");
    await commitChange(example.dir, "docker-compose.yml", readFileSync(compose, "utf8"));
    v2Only = await packed(example, "dist-include", []);
    containerd = fieldHost(FIELD_HOSTS.containerd26);
    v1 = fieldHost(FIELD_HOSTS.docker20);
    await containerd.reset();
    await v1.reset();
  });

  after(async () => {
    await containerd?.reset();
    await v1?.reset();
    await example?.dispose();
  });

  test("pack --profile debug ships the services compose starts with it, and records the profile", () => {
    assert.deepEqual(withProfile.manifest.project.profiles, ["debug"]);
    assert.deepEqual(withProfile.manifest.services.map((s) => s.name).sort(), [
      "backend",
      "debug",
      "frontend",
      "model",
      "store",
    ]);
    assert.deepEqual(v2Only.manifest.project.composeInputs, ["extra.yaml"]);
    assert.ok(v2Only.manifest.services.some((s) => s.name === "extra"));
  });

  test("installed on Docker 26 (containerd): exactly those services run, healthy, the app answers", async () => {
    const archive = containerd.deliver(withProfile.archive);
    containerd.deliver(`${withProfile.archive}.sha256`);
    const result = await containerd.exec(
      containerd.installer(),
      [archive, "--yes", "--dir", dir(), "--json"],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const running = (
      await containerd.docker([
        "ps",
        "--filter",
        `label=com.docker.compose.project=${example.name}`,
        "--format",
        '{{.Label "com.docker.compose.service"}}',
      ])
    )
      .split("\n")
      .sort();
    assert.deepEqual(running, ["backend", "debug", "frontend", "model", "store"]);
    const reply = JSON.parse(await containerd.get("http://127.0.0.1:8080/cgi-bin/api?q=hi")) as {
      reply: string;
    };
    assert.equal(reply.reply, "echo: hi");
    const status = await containerd.exec(`${dir()}/.sealift/install`, ["status", "--dir", dir(), "--json"]);
    assert.equal(status.code, 0, status.stderr);
  });

  test("a project only Compose v2 reads (include:) on a Compose v1 host: exit 4 with compose's reason, nothing installed", async () => {
    const archive = v1.deliver(v2Only.archive);
    v1.deliver(`${v2Only.archive}.sha256`);
    const result = await v1.exec(v1.installer(), [archive, "--yes", "--dir", dir()], { timeoutMs: 300_000 });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /error\[PREFLIGHT_FAILED\]: compose \(v1 [^)]+\) cannot read the project/);
    assert.match(result.stderr, /include/);
    assert.match(result.stderr, /hint: .*Compose v2/);
    const left = await v1.exec("sh", ["-c", `test -e ${dir()} && echo there || echo absent`]);
    assert.equal(left.stdout.trim(), "absent");
    assert.equal(await v1.docker(["images", "-q", `${example.name}-*`]), "");
  });
});
