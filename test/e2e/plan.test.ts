/**
 * Compose is the authority: for each kind of compose feature, a fixture project; `sealift plan
 * --json` must say what `docker compose config` (v2, from Debian 13's packages: the build engine's
 * client; compose config needs no daemon) says of the same files: project name, services, images,
 * builds, ports, volumes. Plus what each fixture is about, asserted by hand.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { envFileText } from "../../src/compose/env-file.js";
import { modelFromCompose } from "../../src/compose/compose-model.js";
import { parsePlanJson, type Plan } from "../../src/packager/plan-json.js";
import { BUILD_ENGINE_26, engineEnv } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";

/** What `sealift plan --json` prints: the plan itself. */

interface ComposeJson {
  name: string;
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; target?: string };
      ports?: Array<{ host_ip?: string; published?: string; target: number; protocol?: string }>;
      volumes?: Array<{ type: string; source?: string; target: string }>;
    }
  >;
}

/**
 * What compose's output says that the plan must carry as it is: names, images, build contexts and
 * targets, published ports, volumes. How the plan reads the rest ($$, args without a value, inline
 * Dockerfiles) each fixture states in its own check, not by a copy of the mapping under test.
 */
function expectedFrom(compose: ComposeJson) {
  return {
    project: compose.name,
    services: Object.entries(compose.services)
      .map(([name, s]) => ({
        name,
        image: s.image ?? null,
        build: s.build ? { context: s.build.context, target: s.build.target ?? null } : null,
        ports: (s.ports ?? [])
          .filter((p) => p.published)
          .map((p) => ({
            hostIp: p.host_ip ?? "",
            published: p.published!,
            target: p.target,
            protocol: p.protocol ?? "tcp",
          })),
        volumes: (s.volumes ?? []).map((v) => ({ type: v.type, source: v.source ?? "", target: v.target })),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** A project folder under ROOT named after TITLE, holding FILES (paths relative to it); its path. */
function writeProject(root: string, title: string, files: Record<string, string>): string {
  const dir = path.join(
    root,
    title
      .replace(/[^a-z0-9]+/gi, "-")
      .slice(0, 40)
      .toLowerCase(),
  );
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

const FIXTURES: Record<
  string,
  {
    files: Record<string, string>;
    args?: string[];
    env?: Record<string, string>;
    check: (plan: Plan, dir: string) => void;
  }
> = {
  "compose's file rules: compose.yaml beside docker-compose.override.yml": {
    files: {
      "compose.yaml": "services:\n  main: {image: busybox:1.36}\n",
      "docker-compose.override.yml": "services:\n  extra: {image: busybox:1.36}\n",
    },
    check(plan) {
      assert.deepEqual(plan.files, ["compose.yaml", "docker-compose.override.yml"]);
    },
  },
  "compose's file rules: docker-compose.yml and docker-compose.yaml both there": {
    files: {
      "docker-compose.yml": "services:\n  from-yml: {image: busybox:1.36}\n",
      "docker-compose.yaml": "services:\n  from-yaml: {image: busybox:1.36}\n",
    },
    check(plan) {
      assert.deepEqual(plan.files, ["docker-compose.yml"]);
    },
  },
  "compose's file rules: COMPOSE_FILE in .env with an interpolation, and COMPOSE_PATH_SEPARATOR": {
    files: {
      ".env":
        "COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE=${COMPOSE_FILE:-development/compose.yaml;development/${EXTRA:-more}.yaml}\n",
      "compose.yaml": "services:\n  root: {image: busybox:1.36}\n",
      "development/compose.yaml": "services:\n  dev: {image: busybox:1.36}\n",
      "development/more.yaml": "services:\n  more: {image: busybox:1.36}\n",
    },
    check(plan) {
      assert.deepEqual(plan.files, ["development/compose.yaml", "development/more.yaml"]);
    },
  },
  "YAML anchors and merge keys, and more than 100 alias uses": {
    files: {
      "compose.yaml": [
        "x-base: &base",
        "  image: nginx:1.25",
        "  ports: ['8080:80']",
        "  volumes: [data:/usr/share/nginx/html]",
        "x-env: &env {A: '1'}",
        "services:",
        "  web:",
        "    <<: *base",
        "  api:",
        "    <<: *base",
        "    image: nginx:1.27",
        "    ports: ['8081:80']",
        ...Array.from({ length: 110 }, (_, i) => `  s${i}: {image: busybox:1.36, environment: *env}`),
        "volumes: {data: {}}",
        "",
      ].join("\n"),
    },
    check(plan) {
      const web = plan.services.find((s) => s.name === "web")!;
      assert.equal(web.image, "nginx:1.25");
      assert.deepEqual(web.ports, [{ hostIp: "", published: "8080", target: 80, protocol: "tcp" }]);
      assert.equal(plan.services.find((s) => s.name === "api")!.image, "nginx:1.27");
      assert.equal(plan.services.length, 112);
    },
  },
  "extends (same file and another file) and include": {
    files: {
      "compose.yaml": [
        "include: [db/compose.yaml]",
        "services:",
        "  base: {image: busybox:1.36, ports: ['7000:7000']}",
        "  worker: {extends: {service: base}, command: [sleep, '1']}",
        "  web: {extends: {file: common.yaml, service: web}}",
        "",
      ].join("\n"),
      "common.yaml": "services:\n  web: {image: nginx:1.25, ports: ['8080:80'], env_file: web.env}\n",
      "web.env": "GREETING=hi\n",
      "db/compose.yaml":
        "services:\n  db: {image: postgres:16, volumes: ['./init:/docker-entrypoint-initdb.d']}\n",
      "db/init/.keep": "",
    },
    check(plan, dir) {
      assert.equal(plan.services.find((s) => s.name === "worker")!.image, "busybox:1.36");
      assert.equal(plan.services.find((s) => s.name === "web")!.image, "nginx:1.25");
      const db = plan.services.find((s) => s.name === "db")!;
      assert.deepEqual(db.volumes, [
        { type: "bind", source: path.join(dir, "db/init"), target: "/docker-entrypoint-initdb.d" },
      ]);
      assert.deepEqual(plan.composeInputs, ["common.yaml", "db/compose.yaml", "web.env"]);
    },
  },
  "profiles, asked for with --profile": {
    files: {
      "compose.yaml":
        "services:\n  app: {image: busybox:1.36}\n  debug: {image: busybox:1.36, profiles: [debug], ports: ['9229:9229']}\n  tools: {image: alpine:3, profiles: [tools]}\n",
    },
    args: ["--profile", "debug"],
    check(plan) {
      assert.deepEqual(
        plan.services.map((s) => s.name),
        ["app", "debug"],
      );
      assert.deepEqual(plan.profiles, ["debug"]);
    },
  },
  "profiles from COMPOSE_PROFILES in .env": {
    files: {
      "compose.yaml":
        "services:\n  app: {image: busybox:1.36}\n  tools: {image: alpine:3, profiles: [tools]}\n",
      ".env": "COMPOSE_PROFILES=tools\n",
    },
    check(plan) {
      assert.deepEqual(
        plan.services.map((s) => s.name),
        ["app", "tools"],
      );
    },
  },
  ".env quoting, comments, interpolation and multi-line values": {
    files: {
      "compose.yaml": [
        "services:",
        "  app:",
        "    image: ${IMAGE}",
        "    ports: ['${PORT:-80}:80']",
        "    environment: {NOTE: '${NOTE}'}",
        "  pinned:",
        "    image: nginx:${TAG}",
        "",
      ].join("\n"),
      ".env": [
        "REGISTRY=registry.local:5000",
        "IMAGE=${REGISTRY}/app:1",
        'TAG="1.25" # pinned',
        "PORT=8088 # the public port",
        'NOTE="line one',
        'line two"',
        "",
      ].join("\n"),
    },
    check(plan) {
      assert.equal(plan.services.find((s) => s.name === "app")!.image, "registry.local:5000/app:1");
      assert.equal(plan.services.find((s) => s.name === "pinned")!.image, "nginx:1.25");
      assert.equal(plan.services.find((s) => s.name === "app")!.ports[0]!.published, "8088");
    },
  },
  "COMPOSE_FILE in .env picks the files, with its override": {
    files: {
      "compose.yaml": "services: {ignored: {image: busybox:1.36}}\n",
      "deploy/base.yaml": "services:\n  app: {image: nginx:1.25, ports: ['8080:80']}\n",
      "deploy/prod.yaml": "services:\n  app: {ports: !override ['9090:80']}\n",
      ".env": "COMPOSE_FILE=deploy/base.yaml:deploy/prod.yaml\n",
    },
    check(plan) {
      assert.deepEqual(
        plan.services.map((s) => s.name),
        ["app"],
      );
      assert.deepEqual(plan.services[0]!.ports, [
        { hostIp: "", published: "9090", target: 80, protocol: "tcp" },
      ]);
    },
  },
  "several -f files: !reset, !override, volumes merged by target, args as list and map": {
    files: {
      "compose.yaml": [
        "services:",
        "  app:",
        "    build: {context: ., args: [A=1, B=2]}",
        "    image: app:1",
        "    ports: ['8080:80', '8443:443']",
        "    volumes: ['./a:/data', 'logs:/logs']",
        "volumes: {logs: {}}",
        "",
      ].join("\n"),
      "compose.prod.yaml": [
        "services:",
        "  app:",
        "    build: {args: {B: '3', C: '4'}}",
        "    ports: !reset []",
        "    volumes: ['./b:/data']",
        "",
      ].join("\n"),
      Dockerfile: "FROM busybox:1.36\n",
    },
    args: ["-f", "compose.yaml", "-f", "compose.prod.yaml"],
    check(plan, dir) {
      const app = plan.services[0]!;
      assert.deepEqual(app.ports, []);
      assert.deepEqual(app.build!.args, { A: "1", B: "3", C: "4" });
      assert.deepEqual(app.volumes.map((v) => `${v.source}:${v.target}`).sort(), [
        `${path.join(dir, "b")}:/data`,
        "logs:/logs",
      ]);
    },
  },
  "build attributes: args without a value, dockerfile_inline, target, a git URL context": {
    files: {
      "compose.yaml": [
        "services:",
        "  inline:",
        "    build:",
        "      context: .",
        "      dockerfile_inline: |",
        "        FROM busybox:1.36",
        "        RUN echo $$HOME",
        "      args: [FROM_ENV, UNSET_ARG, SET=x]",
        "      target: final",
        "  remote:",
        "    build: https://github.com/docker/getting-started.git#main:app",
        "    image: remote:1",
        "",
      ].join("\n"),
    },
    env: { FROM_ENV: "from the environment" },
    check(plan) {
      const inline = plan.services.find((s) => s.name === "inline")!;
      assert.equal(inline.image, null);
      assert.equal(inline.build!.dockerfile, null);
      assert.equal(inline.build!.dockerfileInline, "FROM busybox:1.36\nRUN echo $HOME\n");
      assert.deepEqual(inline.build!.args, { FROM_ENV: "from the environment", SET: "x" });
      assert.equal(inline.build!.target, "final");
      assert.equal(
        plan.services.find((s) => s.name === "remote")!.build!.context,
        "https://github.com/docker/getting-started.git#main:app",
      );
    },
  },
  "typed fields after interpolation, ${A:-{x}, anonymous volumes, a published port range": {
    files: {
      "compose.yaml": [
        "services:",
        "  app:",
        "    image: busybox:1.36",
        "    privileged: ${P:-false}",
        "    command: ['echo', '${A:-{x}']",
        "    ports: ['8000-8010:80']",
        "    volumes: [/data, cache:/cache]",
        "volumes: {cache: {}}",
        "",
      ].join("\n"),
    },
    check(plan) {
      const app = plan.services[0]!;
      assert.deepEqual(app.hostAccess, [], "privileged: false is not host access");
      assert.deepEqual(app.ports, [{ hostIp: "", published: "8000-8010", target: 80, protocol: "tcp" }]);
      assert.deepEqual(app.volumes, [
        { type: "volume", source: "", target: "/data" },
        { type: "volume", source: "cache", target: "/cache" },
      ]);
    },
  },
};

describe("sealift plan agrees with docker compose config (v2)", () => {
  const engine = engineEnv(BUILD_ENGINE_26);
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-plan-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const [title, fixture] of Object.entries(FIXTURES)) {
    test(title, async () => {
      const dir = writeProject(root, title, fixture.files);
      // compose config needs no daemon: point DOCKER_HOST nowhere to show it.
      const env = { ...engine, ...fixture.env, DOCKER_HOST: "unix:///nonexistent.sock" };
      const composeArgs = (fixture.args ?? []).filter((a) => a !== "--json");
      const composed = await run(
        "docker",
        ["compose", "--project-directory", dir, ...composeArgs, "config", "--format", "json"],
        { env, cwd: dir },
      );
      assert.equal(composed.code, 0, composed.stderr);
      const planned = await sealift(["plan", dir, ...(fixture.args ?? []), "--json"], { env, cwd: dir });
      assert.equal(planned.code, 0, planned.stderr);
      const plan = parsePlanJson(planned.stdout);
      const expected = expectedFrom(JSON.parse(composed.stdout) as ComposeJson);
      assert.equal(plan.project, expected.project);
      assert.deepEqual(
        plan.services.map((s) => ({
          name: s.name,
          image: s.image,
          build: s.build ? { context: s.build.context, target: s.build.target } : null,
          ports: s.ports,
          volumes: s.volumes,
        })),
        expected.services,
      );
      fixture.check(plan, dir);
    });
  }

  test("the .env the installer writes reads back in compose as meant: template lines as written, answers literally", async () => {
    const dir = path.join(root, "env-round-trip");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, "compose.yaml"),
      "services:\n  app:\n    image: ${IMAGE}\n    environment: {TAG: '${TAG}', NOTE: '${NOTE}', PASSWORD: '${PASSWORD}', QUOTED: '${QUOTED}'}\n",
    );
    const template =
      'REGISTRY=registry.local:5000\nIMAGE=${REGISTRY}/app:1\nTAG="1.25" # pinned\nNOTE="one\ntwo"\n';
    const answers = [
      { name: "REGISTRY", value: "registry.local:5000" },
      { name: "IMAGE", value: "${REGISTRY}/app:1" },
      { name: "TAG", value: "1.25" },
      { name: "NOTE", value: "one\ntwo" },
      { name: "PASSWORD", value: "pa$$ word" },
      { name: "QUOTED", value: `it's "$HOME"` },
    ];
    writeFileSync(path.join(dir, ".env"), envFileText(template, answers, "test"));
    const composed = await run(
      "docker",
      ["compose", "--project-directory", dir, "config", "--format", "json"],
      {
        env: engine,
        cwd: dir,
      },
    );
    assert.equal(composed.code, 0, composed.stderr);
    const app = (
      JSON.parse(composed.stdout) as {
        services: { app: { image: string; environment: Record<string, string> } };
      }
    ).services.app;
    assert.equal(app.image, "registry.local:5000/app:1");
    const literal = (v: string) => v.replace(/\$\$/g, "$");
    assert.deepEqual(Object.fromEntries(Object.entries(app.environment).map(([k, v]) => [k, literal(v)])), {
      TAG: "1.25",
      NOTE: "one\ntwo",
      PASSWORD: "pa$$ word",
      QUOTED: `it's "$HOME"`,
    });
  });

  test("what compose refuses is refused with compose's own message, exit 2", async () => {
    const dir = path.join(root, "refused");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "compose.yaml"), "services:\n  app:\n    image: busybox\n    ports: 80\n");
    const planned = await sealift(["plan", dir], { env: engine });
    assert.equal(planned.code, 2, planned.stderr);
    assert.match(planned.stderr, /error\[COMPOSE_INVALID\]/);
    assert.match(planned.stderr, /services\.app\.ports must be a (list|array)/);
  });
});

describe("compose's file rules agree with Compose v1 (docker-compose 1.29, this machine's)", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-plan-v1-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const cases: Record<string, Record<string, string>> = {
    "docker-compose.yml wins over docker-compose.yaml, compose.yml and compose.yaml": {
      "docker-compose.yaml": "services:\n  from-dc-yaml: {image: busybox:1.36}\n",
      "docker-compose.yml": "services:\n  from-dc-yml: {image: busybox:1.36}\n",
      "compose.yaml": "services:\n  from-compose-yaml: {image: busybox:1.36}\n",
    },
    "compose.yaml with compose.override.yml": {
      "compose.yaml": "services:\n  main: {image: busybox:1.36}\n",
      "compose.override.yml": "services:\n  extra: {image: busybox:1.36}\n",
    },
    "COMPOSE_FILE in .env, taken as written": {
      ".env": "COMPOSE_FILE=other.yml\n",
      "docker-compose.yml": "services:\n  default: {image: busybox:1.36}\n",
      "other.yml": "services:\n  other: {image: busybox:1.36}\n",
    },
  };
  for (const [title, files] of Object.entries(cases)) {
    test(title, async () => {
      const dir = writeProject(root, title, files);
      const env = { DOCKER_HOST: "unix:///nonexistent.sock", PATH: "/usr/bin:/bin" };
      const composed = await run("docker-compose", ["config", "--services"], { env, cwd: dir });
      assert.equal(composed.code, 0, composed.stderr);
      const planned = await sealift(["plan", dir, "--json"], { env, cwd: dir });
      assert.equal(planned.code, 0, planned.stderr);
      const plan = parsePlanJson(planned.stdout);
      assert.equal(plan.compose.flavour, "v1");
      assert.deepEqual(plan.services.map((s) => s.name).sort(), composed.stdout.trim().split("\n").sort());
    });
  }
});

describe("the model read from Compose v1's own output (docker-compose 1.29 config)", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-model-v1-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  test("ports as strings and maps, volumes as strings, args as v1 resolves them, host access", async () => {
    const dir = writeProject(root, "app", {
      "docker-compose.yml": [
        "version: '3.9'",
        "services:",
        "  web:",
        "    build: {context: ./web, args: {A: '1', EMPTY: null}}",
        "    image: x:1",
        "    ports:",
        "    - published: 8080",
        "      target: 80",
        "    - 127.0.0.1:9000-9010:90/udp",
        "    - '5000'",
        "    volumes: [/data, './here:/x', 'named:/y', '../shared:/s:ro', '/var/run/docker.sock:/d.sock']",
        "    privileged: true",
        "volumes: {named: {}}",
        "",
      ].join("\n"),
      "web/Dockerfile": "FROM busybox:1.36\n",
    });
    const env = { DOCKER_HOST: "unix:///nonexistent.sock", PATH: "/usr/bin:/bin" };
    const composed = await run("docker-compose", ["config"], { env, cwd: dir });
    assert.equal(composed.code, 0, composed.stderr);
    const model = modelFromCompose(parseYaml(composed.stdout), {
      dir,
      files: ["docker-compose.yml"],
      profiles: [],
    });
    const [web] = model.services;
    assert.equal(model.name, "app");
    assert.equal(web!.build?.context, path.join(dir, "web"));
    assert.deepEqual(web!.ports, [
      { hostIp: "", published: "8080", target: 80, protocol: "tcp" },
      { hostIp: "127.0.0.1", published: "9000-9010", target: 90, protocol: "udp" },
    ]);
    assert.deepEqual(
      web!.volumes.map((v) => `${v.type} ${v.source} ${v.target}`),
      [
        "volume  /data",
        `bind ${path.join(dir, "here")} /x`,
        "volume named /y",
        `bind ${path.join(root, "shared")} /s`,
        "bind /var/run/docker.sock /d.sock",
      ],
    );
    // v1 (unlike v2, which leaves it out) resolves an arg without a value to "" when the
    // environment has none: the hand-written fixture this test replaced had it wrong.
    assert.deepEqual(web!.build?.args, { A: "1", EMPTY: "" }, "as docker-compose 1.29 config says");
    assert.deepEqual(web!.hostAccess, [
      "mounts host path ../shared",
      "mounts host path /var/run/docker.sock",
      "runs privileged",
    ]);
  });
});

describe("variables Compose v1 cannot list", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-plan-v1vars-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  test("plan on a Compose v1 machine names the variables of the compose files that will not be offered", async () => {
    const dir = path.join(root, "app");
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, "docker-compose.yml"),
      "services:\n  api:\n    image: busybox:1.36\n    ports: ['${API_PORT:-18181}:80']\n    environment: {NAME: $$LITERAL, TOKEN: '${TOKEN}'}\n",
    );
    writeFileSync(path.join(dir, ".env"), "TOKEN=abc\n");
    const env = { DOCKER_HOST: "unix:///nonexistent.sock", PATH: "/usr/bin:/bin" };
    const planned = await sealift(["plan", dir], { env, cwd: dir });
    assert.equal(planned.code, 0, planned.stderr);
    assert.match(
      planned.stdout,
      /warning\[SETTINGS_NOT_LISTED\] Compose v1 here cannot list the variables the compose files use: API_PORT will not be offered as settings; install Compose v2 on this machine, or give each a line in .env/,
    );
    const json = parsePlanJson((await sealift(["plan", dir, "--json"], { env, cwd: dir })).stdout);
    assert.deepEqual(json.settingsNotOffered, ["API_PORT"]);
  });
});
