import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { composeInputs, normaliseProjectName } from "../../src/compose/compose-project.js";
import { modelFromCompose } from "../../src/compose/compose-model.js";
import { parseVariablesTable } from "../../src/docker/compose.js";
import { envFileText, formatEnvFile, parseEnvFile } from "../../src/compose/env-file.js";
import type { SealiftError } from "../../src/errors.js";
import type { Manifest } from "../../src/bundle/manifest.js";
import { hostAccessChecks, shippedServiceChecks } from "../../src/installer/preflight.js";

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
  test("a comment after a quoted value, multi-line double quotes, ${REF} kept as written", () => {
    const vars = parseEnvFile(
      'TAG="1.0" # pinned\nIMAGE=${REGISTRY}/app:1\nNOTE="one\ntwo" # x\nQ=\'a # b\'\n',
    );
    assert.deepEqual(
      vars.map((v) => [v.name, v.value]),
      [
        ["TAG", "1.0"],
        ["IMAGE", "${REGISTRY}/app:1"],
        ["NOTE", "one\ntwo"],
        ["Q", "a # b"],
      ],
    );
    assert.equal(vars[2]!.raw, 'NOTE="one\ntwo" # x');
  });

  test("the installed .env keeps the template's lines for defaults and writes answers literally", () => {
    const template = "# settings\nREGISTRY=registry.local\nIMAGE=${REGISTRY}/app:1\nPORT=80 # public\n";
    const text = envFileText(
      template,
      [
        { name: "REGISTRY", value: "registry.local" },
        { name: "IMAGE", value: "${REGISTRY}/app:1" },
        { name: "PORT", value: "8080" },
        { name: "PASSWORD", value: "pa$$ 'word" },
      ],
      "header",
    );
    assert.equal(
      text,
      '# header\n# settings\nREGISTRY=registry.local\nIMAGE=${REGISTRY}/app:1\nPORT=8080\nPASSWORD="pa\\$\\$ \'word"\n',
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

test("project names follow compose's rule", () => {
  assert.equal(normaliseProjectName("-My App!"), "myapp");
  assert.equal(normaliseProjectName("llm-chat"), "llm-chat");
});

// Compose v1's output is read from docker-compose 1.29 itself: test/e2e/plan.test.ts.
describe("compose's resolved output read into the model", () => {
  test("v2's JSON: $$ is a literal $, dockerfile_inline, additional contexts; no service is refused", () => {
    const model = modelFromCompose(
      {
        name: "p",
        services: {
          api: {
            build: {
              context: "/p/api",
              dockerfile_inline: "FROM busybox\nRUN echo $$HOME\n",
              args: { PRICE: "$$5" },
              additional_contexts: { base: "docker-image://busybox" },
            },
          },
        },
      },
      { dir: "/p", files: ["compose.yaml"], profiles: ["debug"] },
    );
    const api = model.services[0]!;
    assert.equal(api.image, null);
    assert.equal(api.build?.dockerfile, null);
    assert.equal(api.build?.dockerfileInline, "FROM busybox\nRUN echo $HOME\n");
    assert.deepEqual(api.build?.args, { PRICE: "$5" });
    assert.deepEqual(api.build?.additionalContexts, { base: "docker-image://busybox" });
    assert.throws(
      () => modelFromCompose({ services: {} }, { dir: "/p", files: [], profiles: [] }),
      (e: SealiftError) => e.code === "COMPOSE_INVALID" && /starts no service/.test(e.message),
    );
  });

  test("`config --variables` as Compose 2.26 prints it (a table, even when JSON is asked for)", () => {
    const table = [
      "NAME                REQUIRED            DEFAULT VALUE       ALTERNATE VALUE",
      "FRONTEND_PORT       false               8080                ",
      "GREETING            true                hello world         ",
      "",
    ].join("\n");
    assert.deepEqual(parseVariablesTable(table), [
      { name: "FRONTEND_PORT", required: false, default: "8080" },
      { name: "GREETING", required: true, default: "hello world" },
    ]);
  });

  test("the files compose reads besides -f: include, extends and env_file, followed through includes", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-inputs-"));
    try {
      mkdirSync(path.join(dir, "inc"));
      writeFileSync(
        path.join(dir, "compose.yaml"),
        "include: [inc/more.yaml]\nservices:\n  a: {image: x, env_file: [a.env, {path: missing.env, required: false}]}\n  b: {extends: {file: common.yaml, service: c}}\n",
      );
      writeFileSync(path.join(dir, "inc/more.yaml"), "services:\n  m: {image: y, env_file: m.env}\n");
      for (const f of ["a.env", "common.yaml", "inc/m.env"]) writeFileSync(path.join(dir, f), "");
      assert.deepEqual(composeInputs(dir, ["compose.yaml"]), [
        "a.env",
        "common.yaml",
        "inc/m.env",
        "inc/more.yaml",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
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
