/**
 * The compiled installer, run as an operator runs it (env -i: no Node on PATH): install from the
 * extracted folder and from the archive, re-run, status, uninstall on an offline Docker 26 field
 * host; every bad input and fault the installer issue lists against this machine's engine (stand-in
 * clients, a private network namespace, small filesystems are set up around it here).
 */
import assert from "node:assert/strict";
import { installJsonSchema } from "../../src/installer/install-json.js";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { imageId, projectImages, removeImages, removeProject, serviceContainer } from "../helpers/docker.js";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { HOST_PATH, freePort, httpGet, installer, interrupt, run } from "../helpers/run.js";
import { statusJsonSchema } from "../../src/installer/install-json.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

describe("the installer", () => {
  let example: SharedExample;
  /** This suite's folder: its install folders, copies of the bundle, stand-in clients. */
  let work: string;
  let archive: string;
  let bundleDir: string;
  let binary: string;
  let manifest: Manifest;
  let frontendPort: number;
  let backendPort: number;

  const dirOf = (name: string) => path.join(work, name);
  const answers = () => ["--set", `FRONTEND_PORT=${frontendPort}`, "--set", `BACKEND_PORT=${backendPort}`];

  /** The host as the operator finds it: none of the app's images, an empty build cache. */
  async function pristineHost(): Promise<void> {
    await removeProject(example.name);
    // By ID, built ones first, then their base (the example's copy has images of its own).
    const ids = [
      ...new Set(manifest.services.sort((a, b) => Number(b.built) - Number(a.built)).map((s) => s.imageId)),
    ];
    for (const id of ids) await run("docker", ["rmi", "-f", id]);
    // And every other image of the project (a later release's, the build cache's stages).
    await removeImages(await projectImages(example.name));
    await run("docker", ["builder", "prune", "-af"]);
    for (const s of manifest.services)
      assert.equal(await imageId(s.imageId), null, `${s.image} is gone before the test`);
  }

  before(async () => {
    example = await sharedExample();
    ({ archive, bundleDir, manifest } = example.n);
    work = mkdtempSync(path.join(os.tmpdir(), "sealift-inst-"));
    binary = path.join(bundleDir, "install");
    frontendPort = await freePort();
    backendPort = await freePort();
  });

  after(async () => {
    await removeProject(example.name);
    await removeImages(await projectImages(example.name));
    rmSync(work, { recursive: true, force: true });
  });

  describe("a first install from the extracted folder on an offline Docker 26 host", () => {
    let host: FieldHost;
    /** The extracted bundle on the host, as an operator unpacks it from a USB stick. */
    let there: string;
    const dir = "/opt/app";
    const onHost = (file: string) => path.join(host.root, file);
    /** ./install from the extracted folder on the host (env cleared there: no Node on PATH). */
    const install = (args: string[]) =>
      host.exec("sh", ["-c", `cd ${there} && ./install "$@"`, "install", ...args], { timeoutMs: 300_000 });
    const containers = () =>
      host.docker(["ps", "-q", "--no-trunc", "--filter", `label=com.docker.compose.project=${example.name}`]);

    before(async () => {
      host = fieldHost(FIELD_HOSTS.docker26);
      await host.reset();
      const archiveThere = host.deliver(archive);
      const untar = await host.exec("tar", ["xzf", archiveThere, "-C", "/tmp/delivered"]);
      assert.equal(untar.code, 0, untar.stderr);
      there = archiveThere.replace(/\.tar\.gz$/, "");
    });

    after(() => host?.reset());

    test("./install --yes brings every service up healthy; they answer over HTTP with the answers given", async () => {
      const result = await install([
        "--yes",
        "--dir",
        dir,
        "--set",
        "FRONTEND_PORT=18080",
        "--set",
        "MODEL_NAME=field-model",
        "--set",
        "API_TOKEN=t0ps3cret",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`${example.name} release ${manifest.project.release} is installed in ${dir} and healthy`),
      );
      assert.match(result.stdout, /frontend +running \(healthy\) +http:\/\/127\.0\.0\.1:18080/);
      assert.match(
        result.stderr,
        /checking .*: manifest and SHA256SUMS, not signed; each file is checked against SHA256SUMS as it is read/,
      );
      assert.match(result.stderr, /CHECK +RESULT +DETAIL/);
      // 3 services and 2 build-cache stage images.
      assert.match(result.stderr, /loading images: 5 images/);
      assert.match(result.stderr, /build cache: 2 stage images, 2 cache mounts imported/);
      for (const s of manifest.services)
        assert.equal(
          await host.docker(["image", "inspect", "--format", "{{.Id}}", s.image]),
          s.imageId,
          `${s.image} is there with the manifest's ID`,
        );
      assert.deepEqual(JSON.parse(await host.get("http://127.0.0.1:18080/cgi-bin/api?q=hello")), {
        model: "field-model",
        reply: "echo: hello",
        store_boots: 1,
        packages: 3,
      });
      const env = readFileSync(onHost(`${dir}/.env`), "utf8");
      assert.match(env, /^FRONTEND_PORT=18080$/m);
      assert.match(env, /^API_TOKEN=t0ps3cret$/m);
      const record = JSON.parse(readFileSync(onHost(`${dir}/.sealift/install.json`), "utf8"));
      assert.equal(record.status, "installed");
      assert.equal(record.release, manifest.project.release);
      assert.equal(record.answers.env.API_TOKEN, "(secret)", "the record keeps no secret");
      assert.ok(existsSync(onHost(`${dir}/backend/Dockerfile`)), "the source is installed");
      assert.ok(existsSync(onHost(`${dir}/compose.sealift.yaml`)));
    });

    test("re-running the finished install changes nothing: no load, the same containers", async () => {
      const before = await containers();
      const result = await install(["--yes", "--dir", dir, "--set", "FRONTEND_PORT=18080"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /images: all 6 already present with the same ID, nothing to load/);
      assert.match(
        result.stderr,
        /nothing to change: release \S+ runs as installed, its \d+ files as the bundle has them/,
      );
      assert.match(
        result.stdout,
        new RegExp(
          `release ${manifest.project.release} was already installed in ${dir} and is healthy; nothing changed`,
        ),
      );
      assert.deepEqual((await containers()).split("\n").sort(), before.split("\n").sort());
      assert.match(
        readFileSync(onHost(`${dir}/.env`), "utf8"),
        /^MODEL_NAME=field-model$/m,
        "the existing .env is kept",
      );
    });

    test("a re-run puts back what changed: an edited source file, a stopped service", async () => {
      const file = onHost(`${dir}/backend/Dockerfile`);
      const shipped = readFileSync(file);
      writeFileSync(file, `${shipped.toString("utf8")}\n# edited on the host\n`);
      await host.docker(["stop", await host.container(example.name, "frontend")]);
      const result = await install(["--yes", "--dir", dir, "--set", "FRONTEND_PORT=18080", "--json"]);
      assert.equal(result.code, 0, result.stderr);
      const report = installJsonSchema.parse(JSON.parse(result.stdout));
      assert.equal(report.installed?.unchanged, false, "the install ran, not the nothing-to-change path");
      assert.doesNotMatch(result.stderr, /nothing to change/);
      assert.ok(readFileSync(file).equals(shipped), "the source file is the bundle's again");
      assert.match(
        await host.get("http://127.0.0.1:18080/cgi-bin/api?q=again"),
        /"reply"/,
        "it answers again",
      );
    });

    test("install status reports the release and healthy services; --json for scripts", async () => {
      const result = await host.exec(`${dir}/.sealift/install`, ["status", "--dir", dir, "--json"]);
      assert.equal(result.code, 0, result.stderr);
      const report = statusJsonSchema.parse(JSON.parse(result.stdout));
      assert.equal(report.healthy, true);
      assert.equal(report.record.release, manifest.project.release);
      assert.equal(report.images.length, manifest.services.length, "every service's image listed");
      assert.ok(report.images.every((i) => i.present));
    });

    test("install uninstall stops the app and keeps its volume; the next install finds the data", async () => {
      const kept = `${dir}/.sealift/install`;
      const result = await host.exec(kept, ["uninstall", "--dir", dir]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        await host.docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${example.name}`]),
        "",
      );
      assert.match(await host.docker(["volume", "ls", "-q"]), new RegExp(`${example.name}_store-data`));
      const again = await install(["--yes", "--dir", dir, "--set", "FRONTEND_PORT=18080"]);
      assert.equal(again.code, 0, again.stderr);
      const reply = JSON.parse(await host.get("http://127.0.0.1:18080/cgi-bin/api?q=x"));
      assert.equal(reply.store_boots, 2, "the store's volume kept the first boot's line");
      const removed = await host.exec(kept, ["uninstall", "--dir", dir, "--volumes", "--yes"]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.doesNotMatch(
        await host.docker(["volume", "ls", "-q"]),
        new RegExp(`${example.name}_store-data`),
      );
    });

    test("installs from the archive itself, streamed, on a host without the images; nothing is unpacked beside it", async () => {
      await host.reset();
      const archiveThere = host.deliver(archive);
      host.deliver(`${archive}.sha256`);
      const beside = readdirSync(onHost("/tmp/delivered")).sort();
      const result = await host.exec(
        host.installer(),
        [archiveThere, "--yes", "--dir", "/opt/from-archive", "--json"],
        { timeoutMs: 300_000 },
      );
      assert.equal(result.code, 0, result.stderr);
      const report = installJsonSchema.parse(JSON.parse(result.stdout));
      assert.equal(report.installed?.imagesLoaded.length, 5, "3 services and 2 build-cache stage images");
      assert.equal(report.installed?.services.length, manifest.services.length, "every service listed");
      assert.ok(report.installed?.services.every((s) => s.status === "running" && s.health === "healthy"));
      assert.equal(report.verified.archiveSidecar, true, "the archive was checked against its .sha256");
      assert.match(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=a"), /"reply"/);
      assert.deepEqual(readdirSync(onHost("/tmp/delivered")).sort(), beside);
    });
  });

  test("interrupted while starting (SIGINT): exit 130, not recorded as installed; a re-run completes", async () => {
    const dir = dirOf("opt-interrupted");
    await removeProject(example.name);
    const { code, stderr } = await interrupt(binary, ["--yes", "--dir", dir, ...answers()], {
      cwd: bundleDir,
      env: { PATH: HOST_PATH },
      when: "starting services",
      signal: "SIGINT",
    });
    assert.equal(code, 130, stderr);
    const record = JSON.parse(readFileSync(path.join(dir, ".sealift/install.json"), "utf8"));
    assert.equal(record.status, "failed");
    const again = await installer(binary, ["--yes", "--dir", dir, ...answers()], { cwd: bundleDir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      JSON.parse(readFileSync(path.join(dir, ".sealift/install.json"), "utf8")).status,
      "installed",
    );
    assert.equal((await installer(binary, ["uninstall", "--dir", dir, "--volumes", "--yes"])).code, 0);
  });

  test("interrupted while loading (SIGTERM while docker load runs: the real one, behind a stand-in that starts it 3 s late so that the signal surely lands then): exit 130, nothing loaded, the folder as found; a re-run completes", async () => {
    await pristineHost();
    const slow = dirOf("docker-slow-load");
    writeFileSync(
      slow,
      `#!/bin/sh\nif [ "$1" = load ]; then touch ${slow}.called; sleep 3; fi\nexec /usr/bin/docker "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const dir = dirOf("opt-sigterm");
    const { code, stderr } = await interrupt(binary, ["--yes", "--dir", dir, ...answers()], {
      cwd: bundleDir,
      env: { PATH: HOST_PATH, SEALIFT_DOCKER: slow },
      when: () => existsSync(`${slow}.called`),
      signal: "SIGTERM",
    });
    assert.equal(code, 130, stderr);
    for (const s of manifest.services)
      assert.equal(await imageId(s.imageId), null, `${s.image} was not loaded by the interrupted run`);
    assert.equal(existsSync(dir), false, "the install folder is as it was: not there");
    const again = await installer(binary, ["--yes", "--dir", dir, ...answers()], { cwd: bundleDir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await installer(binary, ["uninstall", "--dir", dir, "--volumes", "--yes"])).code, 0);
  });

  for (const [step, line, signal] of [
    ["the check", "checking ", "SIGTERM"],
    ["the build-cache import", "importing cache mount", "SIGTERM"],
    // A cut ssh session (a rollout's connection closed) hangs the installer up: the same as SIGTERM.
    ["the build-cache import", "importing cache mount", "SIGHUP"],
  ] as const) {
    test(`interrupted during ${step} (${signal}): exit 130, not recorded as installed; a re-run completes`, async () => {
      const dir = dirOf(`opt-${signal.toLowerCase()}-${step.split(" ").at(-1)}`);
      const { code, stderr, signalled } = await interrupt(binary, ["--yes", "--dir", dir, ...answers()], {
        cwd: bundleDir,
        env: { PATH: HOST_PATH },
        when: line,
        signal,
      });
      assert.ok(signalled, stderr);
      assert.equal(code, 130, stderr);
      assert.match(stderr, new RegExp(`${signal} received: stopping and cleaning up`));
      const recordFile = path.join(dir, ".sealift/install.json");
      if (existsSync(recordFile))
        assert.notEqual(JSON.parse(readFileSync(recordFile, "utf8")).status, "installed");
      const again = await installer(binary, ["--yes", "--dir", dir, ...answers()], { cwd: bundleDir });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(readFileSync(recordFile, "utf8")).status, "installed");
      assert.equal((await installer(binary, ["uninstall", "--dir", dir, "--volumes", "--yes"])).code, 0);
    });
  }

  test("an upgrade to a release with one changed layer feeds docker load only that layer; settings are kept", async () => {
    const dir = dirOf("opt-upgrade");
    const first = await installer(
      binary,
      ["--yes", "--dir", dir, ...answers(), "--set", "MODEL_NAME=kept-model"],
      { cwd: bundleDir },
    );
    assert.equal(first.code, 0, first.stderr);
    // N+1: one line of the backend's code changed, so one of its layers. Packed on this engine, it
    // was removed from it after: the host has what N brought and lacks N+1's new layer.
    const v2 = example.n1;
    const v2Manifest = v2.manifest;
    assert.notEqual(v2.release, manifest.project.release);
    const result = await installer(binary, [v2.archive, "--yes", "--dir", dir, ...answers()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`release ${v2.release} is installed in ${dir} and healthy`));
    assert.match(result.stderr, /images: \d+ layers \(.*\) are already on this host, not loaded again/);
    const skipped = /images: (\d+) layers \(([\d.]+) (B|KiB|MiB)\) are already on this host/.exec(
      result.stderr,
    )!;
    const loaded = /loading images: \d+ images, ([\d.]+) (B|KiB|MiB)\b/.exec(result.stderr)!;
    const bytes = (n: string, unit: string) => Number(n) * { B: 1, KiB: 1024, MiB: 2 ** 20 }[unit as "B"];
    assert.ok(Number(skipped[1]) >= 1);
    // What v1 already has (at least the base layer) is not fed again: less than the whole payload goes in.
    assert.ok(
      bytes(loaded[1]!, loaded[2]!) + bytes(skipped[2]!, skipped[3]!) * 0.9 <= v2Manifest.images.bytes,
      `loaded ${loaded[0]} + skipped ${skipped[0]} of ${v2Manifest.images.bytes} bytes`,
    );
    const chat = await run("docker", [
      "exec",
      await serviceContainer(example.name, "backend"),
      "tail",
      "-n",
      "1",
      "/srv/cgi-bin/chat",
    ]);
    assert.equal(chat.stdout.trim(), "# N+1", "the backend runs N+1's code");
    assert.equal(
      JSON.parse((await httpGet(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=u`)).body).model,
      "kept-model",
    );
    const record = JSON.parse(readFileSync(path.join(dir, ".sealift/install.json"), "utf8"));
    assert.equal(
      record.previous.at(-1).release,
      manifest.project.release,
      "the record keeps the release it replaced",
    );
    assert.equal((await installer(binary, ["uninstall", "--dir", dir, "--volumes", "--yes"])).code, 0);
  });

  test("installs with no network at all: a network namespace with only loopback and the Docker socket", async (t) => {
    if ((await run("unshare", ["-n", "true"])).code !== 0) {
      t.skip("cannot make a network namespace here (needs root)");
      return;
    }
    await pristineHost();
    const dir = dirOf("opt-offline");
    const result = await installer("unshare", [
      "-n",
      "--",
      binary,
      archive,
      "--yes",
      "--dir",
      dir,
      ...answers(),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /is installed in .* and healthy/);
    for (const s of manifest.services) assert.equal(await imageId(s.image), s.imageId);
    assert.equal((await installer(binary, ["uninstall", "--dir", dir, "--volumes", "--yes"])).code, 0);
  });

  test("no terminal and no --yes: exits 2 at once, naming the flags to pass", async () => {
    // stdin is a pipe that stays open: a prompt here would hang until the timeout kills it.
    const result = await installer(binary, ["--dir", dirOf("never")], {
      cwd: bundleDir,
      input: "",
      timeoutMs: 10_000,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /error\[NO_TTY\]: there is no terminal to ask the installation questions on/);
    assert.match(result.stderr, /hint: pass --yes .* --answers FILE/);
    assert.equal(existsSync(dirOf("never")), false);
  });

  test("--verify-only checks every file and changes nothing", async () => {
    const result = await installer(binary, ["--verify-only", "--dir", dirOf("never")], { cwd: bundleDir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`ok: ${example.name} release .*: ${manifest.files.length} files verified`),
    );
    assert.equal(existsSync(dirOf("never")), false);
  });

  describe("refuses bad input with a documented exit code and changes nothing", () => {
    const dir = () => dirOf("never");

    async function expectRefused(
      args: string[],
      code: number,
      error: RegExp,
      hint: RegExp,
      options: Parameters<typeof installer>[2] = {},
    ) {
      const result = await installer(binary, [...args, "--dir", dir()], options);
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, error);
      assert.match(result.stderr, hint);
      assert.equal(existsSync(dir()), false, "the install folder was not created");
    }

    test("a missing bundle: exit 3", () =>
      expectRefused(
        [dirOf("nothing-here.tar.gz"), "--yes"],
        3,
        /error\[BUNDLE_NOT_FOUND\]: no bundle at /,
        /hint: give the path of NAME-complete-YYYYMMDD\.tar\.gz/,
      ));

    test("an archive with one byte changed where the source is: exit 3", async () => {
      const damaged = dirOf("damaged.tar.gz");
      copyFileSync(archive, damaged);
      const bytes = readFileSync(damaged);
      // In the gzip member that holds the source, which every install reads (the images are on this
      // host by now, so with the archive's index their members are not read; no .sha256 beside it).
      const index = manifest.archive!;
      const sourceAt = index.entries["source/source.tar"]! + 512;
      let compressed = 0;
      let uncompressed = 0;
      for (const [c, u] of index.members) {
        if (uncompressed + u > sourceAt) break;
        compressed += c;
        uncompressed += u;
      }
      const inSource = compressed + 100;
      bytes[inSource] = bytes[inSource]! ^ 0xff;
      writeFileSync(damaged, bytes);
      await expectRefused(
        [damaged, "--yes", ...answers()],
        3,
        /error\[BUNDLE_(UNREADABLE|CHECKSUM_MISMATCH)\]/,
        /copy it again and re-run/,
      );
    });

    test("a truncated archive: exit 3", async () => {
      const truncated = dirOf("truncated.tar.gz");
      writeFileSync(truncated, readFileSync(archive).subarray(0, 4_000_000));
      await expectRefused(
        [truncated, "--yes"],
        3,
        /error\[BUNDLE_UNREADABLE\]: .*truncated\.tar\.gz is damaged or truncated/,
        /copy it again/,
      );
    });

    test("a damaged file in the extracted folder: exit 3 naming the file and both digests", async () => {
      const copy = dirOf("usb-damaged");
      cpSync(bundleDir, copy, { recursive: true, verbatimSymlinks: true });
      // The source is read by every install (a layer the host has would not be).
      const layer = manifest.files.find((f) => f.path === "source/source.tar")!;
      const bytes = readFileSync(path.join(copy, layer.path));
      bytes[100] = bytes[100]! ^ 1;
      writeFileSync(path.join(copy, layer.path), bytes);
      await expectRefused(
        [copy, "--yes", ...answers()],
        3,
        new RegExp(
          `error\\[BUNDLE_CHECKSUM_MISMATCH\\]: ${layer.path.replace(/\./g, "\\.")}: expected sha256 ${layer.sha256}, got [0-9a-f]{64}`,
        ),
        /the file was damaged in transfer/,
      );
      rmSync(copy, { recursive: true });
    });

    test("a damaged layer on a host without the images: exit 3 naming it, and docker load registered nothing", async () => {
      await pristineHost();
      const copy = dirOf("usb-damaged-layer");
      cpSync(bundleDir, copy, { recursive: true, verbatimSymlinks: true });
      // The backend's own top layer: no other image has it, so it is loaded (and read) for sure.
      const backend = manifest.services.find((s) => s.name === "backend")!;
      const layer = manifest.files.find((f) => `sha256:${f.sha256}` === backend.layers.at(-1))!;
      const bytes = readFileSync(path.join(copy, layer.path));
      bytes[bytes.length - 2000] = bytes[bytes.length - 2000]! ^ 1;
      writeFileSync(path.join(copy, layer.path), bytes);
      await expectRefused(
        [copy, "--yes", ...answers()],
        3,
        new RegExp(
          `error\\[BUNDLE_CHECKSUM_MISMATCH\\]: ${layer.path.replace(/\./g, "\\.")}: expected sha256`,
        ),
        /the file was damaged in transfer/,
      );
      for (const s of manifest.services)
        assert.equal(
          await imageId(s.imageId),
          null,
          `${s.image} was not loaded from a bundle that failed its check`,
        );
      rmSync(copy, { recursive: true });
    });

    test("docker load failing half-way (a stand-in client that reads part of its input and exits 1, as when the daemon dies; the shared engine cannot be killed in a test): exit 1 LOAD_FAILED, nothing loaded, the folder as found; a re-run completes", async () => {
      await pristineHost();
      const dying = dirOf("docker-dying-load");
      writeFileSync(
        dying,
        '#!/bin/sh\nif [ "$1" = load ]; then head -c 200000 >/dev/null; echo "error during connect: unexpected EOF" >&2; exit 1; fi\nexec /usr/bin/docker "$@"\n',
        { mode: 0o755 },
      );
      const target = dirOf("opt-dying");
      const failed = await installer(binary, ["--yes", "--dir", target, ...answers()], {
        env: { SEALIFT_DOCKER: dying },
      });
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /error\[LOAD_FAILED\]: .*docker-dying-load load exited with 1/);
      assert.match(
        failed.stderr,
        /hint: check the daemon's log and its free space, then run the installer again/,
      );
      for (const s of manifest.services)
        assert.equal(await imageId(s.imageId), null, `${s.image} was not loaded by the failed run`);
      assert.equal(existsSync(target), false, "the install folder is as it was: not there");
      const again = await installer(binary, ["--yes", "--dir", target, ...answers()]);
      assert.equal(again.code, 0, again.stderr);
      for (const s of manifest.services) assert.equal(await imageId(s.image), s.imageId);
      assert.equal((await installer(binary, ["uninstall", "--dir", target, "--volumes", "--yes"])).code, 0);
    });

    test("a file added to the extracted folder: exit 3", async () => {
      const copy = dirOf("usb-extra");
      cpSync(bundleDir, copy, { recursive: true, verbatimSymlinks: true });
      writeFileSync(path.join(copy, "images", "evil.sh"), "rm -rf /");
      await expectRefused(
        [copy, "--yes"],
        3,
        /error\[BUNDLE_FILE_EXTRA\]: the bundle holds files it does not list: images\/evil\.sh/,
        /remove those files or copy the bundle again/,
      );
      rmSync(copy, { recursive: true });
    });

    test("a bundle for another CPU architecture (its manifest edited to arm64: no such host here): exit 4", async () => {
      const copy = dirOf("usb-arm64");
      cpSync(bundleDir, copy, { recursive: true, verbatimSymlinks: true });
      const edited = {
        ...manifest,
        services: manifest.services.map((s) => ({
          ...s,
          platform: { ...s.platform, architecture: "arm64" },
        })),
      };
      writeFileSync(path.join(copy, "manifest.json"), JSON.stringify(edited));
      await expectRefused(
        [copy, "--yes"],
        4,
        /error\[PREFLIGHT_FAILED\]: preflight failed: CPU architecture \(the images are for arm64, this host is amd64\)/,
        /--force goes on anyway/,
      );
      rmSync(copy, { recursive: true });
    });

    test("Docker not running: exit 4 with how to start it", () =>
      expectRefused(
        ["--yes"],
        4,
        /error\[DOCKER_UNREACHABLE\]: the Docker daemon does not answer/,
        /hint: start the Docker daemon/,
        {
          cwd: bundleDir,
          env: { DOCKER_HOST: "unix:///tmp/sealift-no-daemon.sock" },
        },
      ));

    test("compose missing (a PATH with docker only): exit 4", async () => {
      const bin = dirOf("docker-only-bin");
      mkdirSync(bin, { recursive: true });
      if (!existsSync(path.join(bin, "docker"))) symlinkSync("/usr/bin/docker", path.join(bin, "docker"));
      await expectRefused(
        ["--yes"],
        4,
        /error\[PREFLIGHT_FAILED\]: preflight failed: Compose \(neither `docker compose` nor `docker-compose` was found\)/,
        /install the Docker Compose plugin/,
        {
          cwd: bundleDir,
          env: { PATH: bin },
        },
      );
    });

    test("a published port already taken: exit 4 naming the port", async () => {
      const server = net.createServer();
      const port = await freePort();
      await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
      try {
        await expectRefused(
          ["--yes", "--set", `FRONTEND_PORT=${port}`, "--set", `BACKEND_PORT=${backendPort}`],
          4,
          new RegExp(`Port ${port} \\(already in use by another program\\)`),
          new RegExp(`stop what uses port ${port}`),
          {
            cwd: bundleDir,
          },
        );
      } finally {
        server.close();
      }
    });

    test("not enough disk in the install folder (a 16 KiB tmpfs): exit 4", async (t) => {
      const small = dirOf("small-disk");
      mkdirSync(small, { recursive: true });
      if ((await run("mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", small])).code !== 0) {
        t.skip("cannot mount a tmpfs here (needs root)");
        return;
      }
      try {
        const result = await installer(binary, ["--yes", "--dir", path.join(small, "app"), ...answers()], {
          cwd: bundleDir,
        });
        assert.equal(result.code, 4, result.stderr);
        assert.match(
          result.stderr,
          /error\[PREFLIGHT_FAILED\]: preflight failed: Install dir space \(.* free in .*small-disk\/app, .* needed\)/,
        );
        assert.deepEqual(readdirSync(small), []);
      } finally {
        await run("umount", [small]);
      }
    });

    test("an answers file with an unknown key: exit 2 naming it", async () => {
      const file = dirOf("answers.yaml");
      writeFileSync(file, "dir: /opt/x\nenv:\n  MODEL_NAME: m\nimportcache: false\n");
      await expectRefused(
        ["--answers", file],
        2,
        /error\[ANSWERS_INVALID\]: .*answers\.yaml: \(top level\): unknown key\(s\) importcache/,
        /the answers file takes: dir, importCache, keepEnv, env/,
        { cwd: bundleDir },
      );
    });

    test("an answers file with a bad value or an unknown setting: exit 2", async () => {
      const file = dirOf("answers.json");
      writeFileSync(file, JSON.stringify({ importCache: "yes" }));
      await expectRefused(
        ["--answers", file],
        2,
        /error\[ANSWERS_INVALID\]: .*answers\.json: importCache: /,
        /the answers file takes/,
        { cwd: bundleDir },
      );
      await expectRefused(
        ["--yes", "--set", "NO_SUCH=1"],
        2,
        /error\[ANSWERS_INVALID\]: --set: NO_SUCH is not a setting of /,
        /its settings are: FRONTEND_PORT, BACKEND_PORT, MODEL_NAME, API_TOKEN/,
        { cwd: bundleDir },
      );
    });
  });
});
