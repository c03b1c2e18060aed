/**
 * `sealift pack` against the real Docker Engine, checked with the system's tar, sha256sum and docker load.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseManifest } from "../../src/bundle/manifest.js";
import { docker, imageId, projectImages, removeImages } from "../helpers/docker.js";
import { commitChange, ensureBaseImage, exampleProject, type ExampleProject } from "../helpers/example.js";
import { INSTALLER, SEALIFT_CLI, installer, interrupt, run, sealift } from "../helpers/run.js";
import { keygenJsonSchema, parsePackJson, type PackJson } from "../../src/packager/pack-json.js";

const today = new Date().toISOString().slice(0, 10).replace(/-/g, "");

describe("sealift pack", () => {
  let example: ExampleProject;
  let out: string;
  let packed: PackJson;

  before(async () => {
    example = await exampleProject("pack");
    out = path.join(example.workdir, "dist");
    const result = await sealift(["pack", example.dir, "--out", out, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    packed = parsePackJson(result.stdout);
  });

  after(() => example.dispose());

  test("writes NAME-complete-YYYYMMDD.tar.gz and a .sha256 that sha256sum -c accepts", async () => {
    const base = `${example.name}-complete-${today}`;
    assert.equal(packed.archive, path.join(out, `${base}.tar.gz`));
    assert.deepEqual(readdirSync(out).sort(), [`${base}.tar.gz`, `${base}.tar.gz.sha256`]);
    const check = await run("sha256sum", ["-c", `${base}.tar.gz.sha256`], { cwd: out });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /: OK$/m);
  });

  test("the archive lists with system tar under one top folder, with every part of format v1", async () => {
    const listing = await run("tar", ["tzf", packed.archive]);
    assert.equal(listing.code, 0, listing.stderr);
    const base = `${example.name}-complete-${today}/`;
    const names = listing.stdout.split("\n").filter(Boolean);
    assert.ok(
      names.every((n) => n.startsWith(base)),
      "every entry is under the top folder",
    );
    for (const part of [
      "README.txt",
      "manifest.json",
      "SHA256SUMS",
      "install",
      "source/source.tar",
      "compose/docker-compose.yml",
      "compose/compose.sealift.yaml",
      "compose/env.template",
      "images/manifest.json",
    ]) {
      assert.ok(names.includes(base + part), `${part} is in the archive`);
    }
  });

  test("SHA256SUMS inside checks with sha256sum -c, the manifest validates, the installer is the built one", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "sealift-unpack-"));
    try {
      assert.equal((await run("tar", ["xzf", packed.archive, "-C", dir])).code, 0);
      const top = path.join(dir, `${example.name}-complete-${today}`);
      const sums = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: top });
      assert.equal(sums.code, 0, sums.stdout + sums.stderr);
      const manifestJson = JSON.parse(readFileSync(path.join(top, "manifest.json"), "utf8"));
      const parsed = parseManifest(manifestJson);
      assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
      const manifest = parsed.manifest;
      const head = (await run("git", ["-C", example.dir, "rev-parse", "HEAD"])).stdout.trim();
      assert.equal(manifest.source.git?.commit, head);
      assert.equal(manifest.source.git?.dirty, false);
      assert.deepEqual(manifest.services.map((s) => [s.name, s.built]).sort(), [
        ["backend", true],
        ["frontend", true],
        ["model", false],
        ["store", false],
      ]);
      const backend = manifest.services.find((s) => s.name === "backend")!;
      assert.equal(backend.image, `${example.name}-backend:${packed.release}`);
      assert.ok(backend.layers.length >= 2);
      assert.equal(backend.platform.os, "linux");
      assert.deepEqual(manifest.services.find((s) => s.name === "frontend")!.ports, ["8080:80/tcp"]);
      const override = readFileSync(path.join(top, "compose/compose.sealift.yaml"), "utf8");
      assert.match(override, new RegExp(`image: ${example.name}-backend:${packed.release}`));
      assert.equal(
        (await run("cmp", [path.join(top, "install"), INSTALLER])).code,
        0,
        "the shipped installer is byte-identical to the built one",
      );
      const source = await run("tar", ["tf", path.join(top, "source/source.tar")]);
      assert.match(source.stdout, /^docker-compose\.yml$/m);
      assert.match(source.stdout, /^backend\/Dockerfile$/m);

      // The image payload is a docker-archive: loaded on a host without the images, IDs match the manifest.
      await removeImages(await projectImages(example.name));
      for (const s of manifest.services.filter((x) => x.built)) assert.equal(await imageId(s.image), null);
      const payload = path.join(dir, "images.tar");
      assert.equal((await run("tar", ["-C", path.join(top, "images"), "-cf", payload, "."])).code, 0);
      await docker(["load", "-i", payload]);
      for (const s of manifest.services)
        assert.equal(await imageId(s.image), s.imageId, `${s.name} loads with the manifest's image ID`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("refuses a dirty tree, listing the changed files; --allow-dirty packs it and records it", async () => {
    writeFileSync(path.join(example.dir, "backend/requirements.txt"), "numpy==2.0.0\n");
    try {
      const refused = await sealift(["pack", example.dir, "--out", path.join(example.workdir, "dirty")]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /error\[GIT_DIRTY\]: the project has uncommitted changes \(1 files\)/);
      assert.match(refused.stderr, /backend\/requirements\.txt/);
      assert.match(refused.stderr, /hint: .*--allow-dirty/);
      assert.equal(existsSync(path.join(example.workdir, "dirty")), false, "nothing was written");
      const allowed = await sealift([
        "pack",
        example.dir,
        "--out",
        path.join(example.workdir, "dirty"),
        "--allow-dirty",
        "--json",
      ]);
      assert.equal(allowed.code, 0, allowed.stderr);
      const result = parsePackJson(allowed.stdout);
      assert.match(result.release, /-dirty$/);
      const manifest = await run("tar", [
        "xzOf",
        result.archive,
        `${example.name}-complete-${today}/manifest.json`,
      ]);
      assert.equal(JSON.parse(manifest.stdout).source.git.dirty, true);
    } finally {
      await run("git", ["-C", example.dir, "checkout", "--", "."]);
      await removeImages((await projectImages(example.name)).filter((r) => r.endsWith("-dirty")));
    }
  });

  test("keygen, pack --sign, and the installer's --trust / --verify: a good signature passes, others exit 3", async () => {
    const keys = path.join(example.workdir, "keys");
    const made = await sealift(["keygen", "--out", keys, "--name", "release-team", "--json"]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await sealift(["keygen", "--out", keys, "--name", "other"])).code, 0);
    const keyId = keygenJsonSchema.parse(JSON.parse(made.stdout)).keyId;
    const signedOut = path.join(example.workdir, "signed");
    const signedPack = await sealift([
      "pack",
      example.dir,
      "--out",
      signedOut,
      "--sign",
      path.join(keys, "release-team.key"),
      "--json",
    ]);
    assert.equal(signedPack.code, 0, signedPack.stderr);
    const archive = parsePackJson(signedPack.stdout).archive;
    assert.match((await run("tar", ["tzf", archive])).stdout, /\/manifest\.json\.sig$/m);
    const good = await installer(INSTALLER, [
      archive,
      "--verify-only",
      "--trust",
      path.join(keys, "release-team.pub"),
      "--verify",
      "always",
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, new RegExp(`signed by trusted key ${keyId.slice(0, 16)}`));
    const wrongKey = await installer(INSTALLER, [
      archive,
      "--verify-only",
      "--trust",
      path.join(keys, "other.pub"),
    ]);
    assert.equal(wrongKey.code, 3, wrongKey.stderr);
    assert.match(
      wrongKey.stderr,
      new RegExp(
        `error\\[BUNDLE_SIGNATURE_UNTRUSTED\\]: the bundle is signed by key ${keyId.slice(0, 16)}, which is not trusted here`,
      ),
    );
    const unsigned = await sealift(["verify", packed.archive, "--verify", "always"]);
    assert.equal(unsigned.code, 3, unsigned.stderr);
    assert.match(unsigned.stderr, /error\[BUNDLE_UNSIGNED\]/);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`an interrupted pack (${signal}) exits 130 and leaves no archive, not even a partial one`, async () => {
      const dir = path.join(example.workdir, `interrupted-${signal}`);
      // Interrupted once the archive is being written.
      const { code, stderr, signalled } = await interrupt(
        process.execPath,
        [SEALIFT_CLI, "pack", example.dir, "--out", dir],
        {
          when: () => existsSync(dir) && readdirSync(dir).some((f) => f.includes(".partial-")),
          signal,
        },
      );
      assert.ok(signalled, `the archive was being written when the signal came:\n${stderr}`);
      assert.equal(code, 130, stderr);
      assert.match(stderr, /error\[CANCELLED\]/);
      assert.deepEqual(readdirSync(dir), [], "no archive and no partial file are left");
    });
  }
});

describe("sealift pack on bad input", () => {
  let workdir: string;
  before(async () => {
    workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-bad-"));
    await ensureBaseImage();
  });
  after(() => rmSync(workdir, { recursive: true, force: true }));

  async function project(name: string, files: Record<string, string>): Promise<string> {
    const dir = path.join(workdir, name);
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), content);
    }
    mkdirSync(dir, { recursive: true });
    await run("git", ["-C", dir, "init", "-q"]);
    await run("git", ["-C", dir, "add", "-A"]);
    await run("git", [
      "-C",
      dir,
      "-c",
      "user.email=t@t",
      "-c",
      "user.name=t",
      "commit",
      "-qm",
      "x",
      "--allow-empty",
    ]);
    return dir;
  }

  const cases: Array<{
    name: string;
    files: Record<string, string>;
    code: number;
    error: RegExp;
    hint: RegExp;
    env?: Record<string, string>;
  }> = [
    {
      name: "no compose file",
      files: { "README.md": "x" },
      code: 2,
      error: /error\[COMPOSE_NOT_FOUND\]: no compose file in /,
      hint: /looked for (compose\.yaml, compose\.yml, docker-compose\.yml, docker-compose\.yaml|docker-compose\.yml, docker-compose\.yaml, compose\.yml, compose\.yaml)/,
    },
    {
      name: "invalid YAML",
      files: { "compose.yaml": "services:\n  web:\n    image: a\n   ports: [1\n" },
      code: 2,
      // compose's own words, with the file and line (v1 here: this machine's docker-compose 1.29)
      error:
        /error\[COMPOSE_INVALID\]: compose \(v[12] [^)]*\) cannot read the project[\s\S]*compose\.yaml", line 4/,
      hint: /compose's own verdict/,
    },
    {
      name: "a service with neither image nor build",
      files: { "compose.yaml": "services:\n  web:\n    ports: ['80:80']\n" },
      code: 2,
      error:
        /error\[COMPOSE_INVALID\]: compose \(v[12] [^)]*\) cannot read the project[\s\S]*neither an image nor a build context/i,
      hint: /compose's own verdict/,
    },
    {
      name: "an image missing locally",
      files: { "compose.yaml": "services:\n  db:\n    image: sealift-test/not-here:1.0\n" },
      code: 1,
      error:
        /error\[IMAGE_MISSING\]: service "db" uses image sealift-test\/not-here:1\.0, which is not on this machine/,
      hint: /never pulls.*--pull/,
    },
    {
      name: "a Dockerfile missing",
      files: { "compose.yaml": "services:\n  app:\n    build: ./app\n", "app/main.sh": "echo" },
      code: 2,
      error: /error\[DOCKERFILE_MISSING\]: service "app": Dockerfile app\/Dockerfile does not exist/,
      hint: /add the Dockerfile/,
    },
    {
      name: "Docker not running",
      files: { "compose.yaml": "services:\n  db:\n    image: sealift-example/busybox:1.36\n" },
      env: { DOCKER_HOST: "unix:///tmp/sealift-no-daemon-here.sock" },
      code: 4,
      error: /error\[DOCKER_UNREACHABLE\]: the Docker daemon does not answer/,
      hint: /start the Docker daemon/,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: exit ${c.code} with what is wrong and what to do`, async () => {
      const dir = await project(c.name.replace(/\W+/g, "-"), c.files);
      const out = path.join(workdir, `out-${c.name.replace(/\W+/g, "-")}`);
      const result = await sealift(["pack", dir, "--out", out], { env: c.env });
      assert.equal(result.code, c.code, result.stderr);
      assert.match(result.stderr, c.error);
      assert.match(result.stderr, c.hint);
      assert.equal(existsSync(out) && readdirSync(out).length > 0, false, "nothing was written");
    });
  }

  test("Dockerfile lint: warnings with file and line; --strict makes them an error (exit 2) before any build", async () => {
    const dir = await project("lint", {
      "compose.yaml": "services:\n  api:\n    build: ./api\n  web:\n    build: ./web\n",
      "api/Dockerfile": [
        "# syntax=docker/dockerfile:1.7",
        "ARG NODE_MAJOR=20",
        "FROM node:${NODE_MAJOR}-slim",
        "RUN apt-get update && apt-get install -y curl",
        "ADD https://example.com/tool.tgz /opt/",
        "",
      ].join("\n"),
      "web/Dockerfile": [
        "ARG NODE_MAJOR=18",
        "FROM node:${NODE_MAJOR}-slim AS build",
        "RUN --mount=type=cache,target=/root/.npm npm ci",
        "FROM nginx",
        "",
      ].join("\n"),
    });
    const result = await sealift(["pack", dir, "--out", path.join(workdir, "out-lint"), "--strict"]);
    assert.equal(result.code, 2, result.stderr);
    for (const expected of [
      /warning\[SYNTAX_DIRECTIVE\]: api\/Dockerfile:1: "# syntax=docker\/dockerfile:1\.7" makes BuildKit pull that frontend image/,
      /warning\[NETWORK_STEP\]: api\/Dockerfile:4: RUN uses apt-get, which needs the network/,
      /warning\[ADD_URL\]: api\/Dockerfile:5: ADD from a URL/,
      /warning\[BASE_UNPINNED\]: web\/Dockerfile:4: FROM nginx: no tag/,
      /warning\[BASE_VERSION_SKEW\]: api\/Dockerfile:3, web\/Dockerfile:2: node is used at 20-slim and 18-slim/,
      /warning\[ARG_SKEW\]: api\/Dockerfile:2, web\/Dockerfile:1: ARG NODE_MAJOR defaults to 20 and 18/,
      /error\[LINT_FAILED\]: 6 Dockerfile problem\(s\) and --strict/,
    ]) {
      assert.match(result.stderr, expected);
    }
    assert.doesNotMatch(result.stderr, /NETWORK_STEP\]: web/, "a RUN with a cache mount is not flagged");
    assert.doesNotMatch(result.stderr, /building api/, "nothing was built");
  });

  test("--out not writable (a path through a file): exit 2, OUT_NOT_WRITABLE", async () => {
    const dir = await project("out-not-writable", {
      "compose.yaml": "services:\n  db:\n    image: sealift-example/busybox:1.36\n",
    });
    writeFileSync(path.join(workdir, "a-file"), "x");
    const result = await sealift(["pack", dir, "--out", path.join(workdir, "a-file", "dist")]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /error\[OUT_NOT_WRITABLE\]: cannot write to the output folder .*a-file\/dist/,
    );
    assert.match(result.stderr, /hint: choose another folder with --out/);
  });

  test("not enough free space in --out (a 1 MiB tmpfs): exit 4, DISK_FULL, nothing left there", async (t) => {
    const dir = await project("no-space", {
      "compose.yaml": "services:\n  db:\n    image: sealift-example/busybox:1.36\n",
    });
    const small = path.join(workdir, "small");
    mkdirSync(small);
    if ((await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small])).code !== 0) {
      t.skip("cannot mount a tmpfs here (needs root)");
      return;
    }
    try {
      const result = await sealift(["pack", dir, "--out", small]);
      assert.equal(result.code, 4, result.stderr);
      assert.match(
        result.stderr,
        /error\[DISK_FULL\]: not enough free space in .*small: the archive needs about .* is free/,
      );
      assert.deepEqual(readdirSync(small), []);
    } finally {
      await run("umount", [small]);
    }
  });
});

describe("sealift pack on an unfamiliar project", () => {
  test("compose.yaml + compose.override.yaml, a custom Dockerfile path and build args: an archive sha256sum and tar accept", async () => {
    await ensureBaseImage();
    const example = await exampleProject("other");
    const dir = example.dir;
    try {
      rmSync(path.join(dir, "docker-compose.yml"));
      writeFileSync(
        path.join(dir, "compose.yaml"),
        [
          "services:",
          "  api:",
          "    build:",
          "      context: .",
          "      dockerfile: deploy/api.Dockerfile",
          "      args:",
          "        GREETING: ${GREETING:-hello}",
          "  cache:",
          "    image: sealift-example/busybox:1.36",
          "    command: [sleep, '3600']",
          "",
        ].join("\n"),
      );
      writeFileSync(
        path.join(dir, "compose.override.yaml"),
        "services:\n  api:\n    ports:\n      - '127.0.0.1:${API_PORT:-9000}:9000'\n",
      );
      mkdirSync(path.join(dir, "deploy"));
      writeFileSync(
        path.join(dir, "deploy/api.Dockerfile"),
        'FROM sealift-example/busybox:1.36\nARG GREETING\nRUN echo "$GREETING" > /greeting\nCMD ["httpd", "-f", "-p", "9000"]\n',
      );
      await commitChange(dir, "compose.yaml", readFileSync(path.join(dir, "compose.yaml"), "utf8"));
      const out = path.join(example.workdir, "dist");
      const result = await sealift(["pack", dir, "--out", out, "--name", "Other App", "--json"]);
      assert.equal(result.code, 0, result.stderr);
      const packed = parsePackJson(result.stdout);
      assert.equal(path.basename(packed.archive), `otherapp-complete-${today}.tar.gz`);
      assert.equal((await run("sha256sum", ["-c", path.basename(packed.sidecar)], { cwd: out })).code, 0);
      const listing = await run("tar", ["tzf", packed.archive]);
      assert.match(listing.stdout, /^otherapp-complete-\d{8}\/compose\/compose\.override\.yaml$/m);
      assert.match(listing.stdout, /^otherapp-complete-\d{8}\/compose\/compose\.yaml$/m);
      assert.deepEqual(packed.images.map((i) => i.service).sort(), ["api", "cache"]);
    } finally {
      await removeImages([
        "otherapp-api:" + (await run("git", ["-C", dir, "rev-parse", "--short=7", "HEAD"])).stdout.trim(),
      ]);
      await removeImages(
        (await docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]))
          .split("\n")
          .filter((r) => r.startsWith("otherapp-")),
      );
      await example.dispose();
    }
  });
});
