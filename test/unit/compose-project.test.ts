import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { loadComposeProject, normaliseProjectName } from "../../src/compose/compose-project.js";
import { formatEnvFile, parseEnvFile } from "../../src/compose/env-file.js";
import { interpolate } from "../../src/compose/interpolate.js";
import type { SealiftError } from "../../src/errors.js";
import type { Manifest } from "../../src/bundle/manifest.js";
import { hostAccessChecks, shippedServiceChecks } from "../../src/installer/preflight.js";

describe("compose variable interpolation", () => {
  const vars = { SET: "value", EMPTY: "" };
  const cases: Array<[string, string]> = [
    ["$SET and ${SET}", "value and value"],
    ["${UNSET:-fallback} ${EMPTY:-fallback} ${EMPTY-kept}", "fallback fallback "],
    ["${SET:+alt} ${UNSET:+alt} ${EMPTY+alt}", "alt  alt"],
    ["$$SET costs $$5", "$SET costs $5"],
    ["${UNSET:-${SET}}", "value"],
  ];
  for (const [input, expected] of cases)
    test(`${input} -> ${expected}`, () => assert.equal(interpolate(input, vars), expected));
  test("${VAR:?message} fails when unset", () =>
    assert.throws(
      () => interpolate("${NOPE:?set NOPE}", vars),
      /required variable NOPE is not set: set NOPE/,
    ));
});

describe(".env files", () => {
  test("reads comments, export, quotes; marks secret-looking names", () => {
    const vars = parseEnvFile(
      "# c\nexport A=1\nB='two words'\nC=\"x\\ny\"\nD=plain # note\nDB_PASSWORD=pw\n\nnot a line\n",
    );
    assert.deepEqual(
      vars.map((v) => [v.name, v.value, v.secret]),
      [
        ["A", "1", false],
        ["B", "two words", false],
        ["C", "x\ny", false],
        ["D", "plain", false],
        ["DB_PASSWORD", "pw", true],
      ],
    );
  });
  test("what sealift writes reads back the same", () => {
    const values = [
      { name: "A", value: "with space" },
      { name: "B", value: "" },
      { name: "C", value: "x#y" },
    ];
    assert.deepEqual(
      parseEnvFile(formatEnvFile(values, "header")).map((v) => [v.name, v.value]),
      values.map((v) => [v.name, v.value]),
    );
  });
});

describe("reading a compose project", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  function project(files: Record<string, string>, name = "My_App.v2"): string {
    const root = mkdtempSync(path.join(os.tmpdir(), "sealift-compose-"));
    dirs.push(root);
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content);
    return dir;
  }

  test("picks compose.yaml over docker-compose.yml, merges its override, reads .env and ports", () => {
    const dir = project({
      "compose.yaml":
        "services:\n  web:\n    build: ./web\n    ports: ['${WEB_PORT:-80}:80', '127.0.0.1:9000-9001:9000-9001/tcp', '53:53/udp', '8080']\n  db:\n    image: postgres:${PG:-15}\n",
      "compose.override.yaml":
        "services:\n  db:\n    ports:\n      - target: 5432\n        published: 5433\n",
      "docker-compose.yml": "services: {ignored: {image: x}}\n",
      ".env": "WEB_PORT=8081\nPG=16\n",
    });
    const model = loadComposeProject(dir);
    assert.equal(model.name, "my_appv2");
    assert.deepEqual(model.files, ["compose.yaml", "compose.override.yaml"]);
    const web = model.services.find((s) => s.name === "web")!;
    assert.equal(web.build?.context, path.join(dir, "web"));
    assert.equal(web.build?.dockerfile, path.join(dir, "web", "Dockerfile"));
    assert.deepEqual(
      web.ports.map((p) => `${p.hostIp}:${p.port}/${p.protocol}`),
      [":8081/tcp", "127.0.0.1:9000/tcp", "127.0.0.1:9001/tcp", ":53/udp"],
    );
    const db = model.services.find((s) => s.name === "db")!;
    assert.equal(db.image, "postgres:16");
    assert.deepEqual(
      db.ports.map((p) => p.port),
      [5433],
    );
  });

  test("answers override .env (the installer's --set)", () => {
    const dir = project({
      "compose.yaml": "services:\n  web:\n    image: x\n    ports: ['${P:-1}:80']\n",
      ".env": "P=2\n",
    });
    assert.equal(loadComposeProject(dir, { overrides: { P: "3" } }).services[0]!.ports[0]!.port, 3);
  });

  test("invalid YAML names the file, line and column", () => {
    const dir = project({ "compose.yaml": "services:\n  web:\n    image: x\n  - broken\n" });
    assert.throws(
      () => loadComposeProject(dir),
      (e: SealiftError) =>
        e.code === "COMPOSE_INVALID" && /^compose\.yaml:4:\d+: invalid YAML/.test(e.message),
    );
  });

  test("a published port that is not a number is refused", () => {
    const dir = project({
      "compose.yaml": "services:\n  web:\n    image: x\n    ports: ['${P}:80']\n",
      ".env": "P=abc\n",
    });
    assert.throws(() => loadComposeProject(dir), /published port "abc" is not a port number/);
  });

  test("project names follow compose's rule", () => {
    assert.equal(normaliseProjectName("-My App!"), "myapp");
    assert.equal(normaliseProjectName("llm-chat"), "llm-chat");
  });
});

test("an override's build map merges with a short `build: ./dir` (the cache override on the target)", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-compose-"));
  try {
    writeFileSync(path.join(root, "compose.yaml"), "services:\n  web:\n    build: ./web\n");
    writeFileSync(
      path.join(root, "cache.yaml"),
      "services:\n  web:\n    build:\n      cache_from: [web-cache:1]\n",
    );
    const web = loadComposeProject(root, { files: ["compose.yaml", "cache.yaml"] }).services[0]!;
    assert.equal(web.build?.context, path.join(root, "web"));
    assert.deepEqual(web.build?.cacheFrom, ["web-cache:1"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a service's reach beyond its container: host paths outside the project, privileged, host network", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-compose-"));
  try {
    writeFileSync(
      path.join(root, "compose.yaml"),
      [
        "services:",
        "  agent:",
        "    image: a",
        "    privileged: true",
        "    network_mode: host",
        "    volumes: ['/var/run/docker.sock:/var/run/docker.sock', './config:/etc/app:ro', 'data:/data', '../outside:/x']",
        "  web:",
        "    image: b",
        "    volumes: [{type: bind, source: ./html, target: /www}]",
        "",
      ].join("\n"),
    );
    const [agent, web] = loadComposeProject(root).services;
    assert.deepEqual(agent!.hostAccess, [
      "mounts host path /var/run/docker.sock",
      "mounts host path ../outside",
      "runs privileged",
      "uses the host's network",
    ]);
    assert.deepEqual(web!.hostAccess, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("preflight shows declared host access as a warning and refuses what the bundle did not declare", () => {
  const manifest = { services: [{ name: "agent", hostAccess: ["runs privileged"] }] } as unknown as Manifest;
  assert.deepEqual(hostAccessChecks(manifest, [{ name: "agent", hostAccess: ["runs privileged"] }]), [
    { name: "Host access", status: "warn", detail: "agent runs privileged" },
  ]);
  assert.throws(
    () =>
      hostAccessChecks(manifest, [
        { name: "agent", hostAccess: ["runs privileged", "mounts host path /etc"] },
      ]),
    (e: SealiftError) =>
      e.code === "BUNDLE_MANIFEST_INVALID" &&
      /mounts host path \/etc, which the bundle did not declare/.test(e.message),
  );
});

test("preflight refuses a service the bundle carries no image for (it would be pulled or built), naming it", () => {
  const manifest = { services: [{ name: "web" }] } as unknown as Manifest;
  assert.deepEqual(shippedServiceChecks(manifest, [{ name: "web", image: "app-web:1" }]), []);
  const [check] = shippedServiceChecks(manifest, [{ name: "web" }, { name: "cache", image: "redis:7" }]);
  assert.equal(check!.status, "fail");
  assert.match(
    check!.detail,
    /service cache \(image redis:7\) is not in the bundle: compose would pull or build it/,
  );
});
