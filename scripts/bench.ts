/**
 * npm run bench [-- SECTION ...]: sealift against the users' current way, measured side by side in
 * one run, several rounds, medians and ratios. Not a test: it prints a table and writes
 * bench-results/latest.json. Sections (default all): pack, install, rebuild, rollout.
 *
 * pack/install: a fixture of four images sharing a base layer, made of real files copied from this
 * machine (about 600 MB; BENCH_SCALE=small for about 250 MB; BENCH_SCALE=large adds a model image with
 * BENCH_WEIGHTS_MIB, default 1536, of random "weights": about 2.1 GB, the users' size and shape).
 * pack against `docker save | gzip -6`
 * (and bare `docker save`, the floor); a first install on a host without the images against
 * `sha256sum` + `gunzip -c | docker load` (and bare `docker load -i` of the plain tar); a re-install
 * and an upgrade where one small layer changed against the same users' way. Peak RSS by /usr/bin/time.
 *
 * rebuild: on the example app, a rebuild on the offline host after a code change, with the build
 * cache sealift imported, against a cold build (empty builder cache, no cache images) of the same
 * services. Goal: 0.15 or less.
 *
 * engines: only the install rows on the offline field hosts (Docker 20.10, 26, 26 containerd),
 * which `install` also runs after its rows on this machine.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBaseImage, exampleProject, packAndExtract } from "../test/helpers/example.js";
import { projectImages, removeImages, removeProject } from "../test/helpers/docker.js";
import { engineEnv, fieldHost } from "../test/helpers/field-host.js";
import { dataRootNeed } from "../src/installer/preflight.js";
import type { Manifest } from "../src/bundle/manifest.js";
import { parsePackJson } from "../src/packager/pack-json.js";
import { parseInstallJson, rebuildJsonSchema } from "../src/installer/install-json.js";
import { parseRolloutJson } from "../src/fleet/rollout-json.js";
import { INSTALLER, ROOT, SEALIFT_CLI, freePort, installer, run, sealift } from "../test/helpers/run.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const sections = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ["pack", "install", "rebuild", "rollout"];
const SCALE: "small" | "full" | "large" =
  process.env.BENCH_SCALE === "small" ? "small" : process.env.BENCH_SCALE === "large" ? "large" : "full";
/** The large fixture's model weights: random bytes, which do not compress (BENCH_WEIGHTS_MIB). */
const WEIGHTS_MIB = Number(process.env.BENCH_WEIGHTS_MIB ?? 1536);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What an install --json says it installed; throws when it says something else. */
function installedOf(stdout: string) {
  const answer = parseInstallJson(stdout);
  if (!answer?.ok || !answer.installed) throw new Error(`install did not install: ${stdout}`);
  return answer.installed;
}

async function must(promise: ReturnType<typeof run>, what: string) {
  const outcome = await promise;
  if (outcome.code !== 0) throw new Error(`${what} failed (${outcome.code}):\n${outcome.stderr}`);
  return outcome;
}

async function machine() {
  const docker = (await run("docker", ["info", "--format", "{{.ServerVersion}} {{.Driver}}"])).stdout.trim();
  const disk = (await run("df", ["-h", "--output=size,avail", os.tmpdir()])).stdout
    .trim()
    .split("\n")[1]
    ?.trim();
  return {
    cores: os.availableParallelism(),
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    disk: `${disk} (size, free) in ${os.tmpdir()}`,
    docker,
  };
}

interface Row {
  measure: string;
  sealiftMs: number;
  usersMs: number;
  ratio: number;
  goal: string;
  note?: string;
}

async function benchRebuild(): Promise<Row[]> {
  const example = await exampleProject("bench", undefined, { depsDelay: "as-shipped" });
  try {
    const { bundleDir: bundle, manifest } = await packAndExtract(example);
    const built = manifest.services.filter((s) => s.built);
    const dropBuilt = async () => {
      await removeProject(example.name);
      for (const image of [...built, ...(manifest.cache?.images ?? [])])
        await run("docker", ["rmi", "-f", image.imageId]);
      await must(run("docker", ["builder", "prune", "-af"]), "builder prune");
    };
    const cold: number[] = [];
    const cached: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // The users' way: the installed source rebuilt with nothing cached (what a fresh offline host does).
      await dropBuilt();
      let t0 = performance.now();
      for (const service of built) {
        await must(
          run(
            "/usr/bin/docker",
            ["build", "-q", "-t", `${service.image}-cold`, path.join(example.dir, service.name)],
            { env: { DOCKER_BUILDKIT: "1" } },
          ),
          `cold build of ${service.name}`,
        );
      }
      cold.push(performance.now() - t0);
      await removeImages(built.map((s) => `${s.image}-cold`));

      // sealift: the bundle installed with its cache, a code change, install rebuild (build time only).
      await dropBuilt();
      const dir = path.join(example.workdir, `opt-${round}`);
      await must(
        installer(path.join(bundle, "install"), [
          "--yes",
          "--dir",
          dir,
          "--set",
          `FRONTEND_PORT=${await freePort()}`,
          "--set",
          `BACKEND_PORT=${await freePort()}`,
        ]),
        "install",
      );
      const chat = path.join(dir, "backend/app/cgi-bin/chat");
      writeFileSync(chat, readFileSync(chat, "utf8").replace("echo:", `round ${round}:`));
      t0 = performance.now();
      const rebuilt = await must(
        installer(path.join(bundle, "install"), ["rebuild", "--dir", dir, "--json"]),
        "rebuild",
      );
      const services = rebuildJsonSchema.parse(JSON.parse(rebuilt.stdout)).services;
      cached.push(services.reduce((sum, s) => sum + s.durationMs, 0));
      process.stderr.write(
        `rebuild round ${round}: cold ${Math.round(cold.at(-1)!)} ms, with sealift's cache ${cached.at(-1)} ms\n`,
      );
    }
    const sealiftMs = median(cached);
    const usersMs = median(cold);
    return [
      {
        measure: "rebuild after a code change (build time)",
        sealiftMs,
        usersMs,
        ratio: sealiftMs / usersMs,
        goal: "<= 0.15",
      },
    ];
  } finally {
    await example.dispose();
  }
}

// Real directories of this kind of machine; the first that exists of each list is used.
const FULL = {
  base: ["/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/x86_64-linux-gnu"],
  apps: [
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/scipy", "/usr/lib/gcc"],
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/sympy", "/usr/share/doc"],
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/cfnlint", "/usr/share/perl"],
    ["/usr/lib/gcc", "/usr/share/locale"],
  ],
};
const FIXTURE = {
  large: FULL,
  full: FULL,
  small: {
    base: ["/usr/lib/gcc", "/usr/share/doc"],
    apps: [
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/jedi", "/usr/share/locale"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/botocore", "/usr/share/perl"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/awscli", "/usr/share/man"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/networkx", "/usr/share/zoneinfo"],
    ],
  },
};

const pick = (candidates: string[]) => {
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`none of ${candidates.join(", ")} exists on this machine`);
  return found;
};

interface Fixture {
  dir: string;
  name: string;
  images: string[];
  workdir: string;
}

/** A compose project of four `image:` services built on one big shared base layer. */
async function buildFixture(engine?: Record<string, string>, suffix = ""): Promise<Fixture> {
  await ensureBaseImage(undefined, "", engine);
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-bench-"));
  const name = `slbench${SCALE}${suffix}`;
  const dir = path.join(workdir, name);
  mkdirSync(dir);
  const layer = async (tag: string, from: string, source: string, target: string) => {
    const context = path.join(workdir, `ctx-${tag.replace(/\W/g, "-")}`);
    mkdirSync(context);
    // Hard links: the build context costs no copy.
    if ((await run("cp", ["-al", source, path.join(context, "data")])).code !== 0)
      await must(run("cp", ["-a", source, path.join(context, "data")]), "cp");
    writeFileSync(path.join(context, "Dockerfile"), `FROM ${from}\nCOPY data/ ${target}/\n`);
    // This machine's 20.10 client with its built-in BuildKit, or the engine's own client (buildx).
    await must(
      run(engine ? "docker" : "/usr/bin/docker", ["build", "-q", "-t", tag, context], {
        env: { DOCKER_BUILDKIT: "1", ...engine },
      }),
      `build ${tag}`,
    );
    rmSync(context, { recursive: true, force: true });
  };
  const spec = FIXTURE[SCALE];
  await layer(`${name}-base:1`, "sealift-example/busybox:1.36", pick(spec.base), "/opt/base");
  const images: string[] = [];
  for (const [i, candidates] of spec.apps.entries()) {
    await layer(`${name}-app${i + 1}:1`, `${name}-base:1`, pick(candidates), `/opt/app${i + 1}`);
    images.push(`${name}-app${i + 1}:1`);
  }
  if (SCALE === "large") {
    // A model server's image: the shared base and a layer of weights that do not compress.
    const weights = path.join(workdir, "weights");
    mkdirSync(weights);
    await must(
      run("sh", ["-c", `head -c ${WEIGHTS_MIB * 1024 * 1024} /dev/urandom > ${weights}/model.safetensors`]),
      "weights",
    );
    await layer(`${name}-model:1`, `${name}-base:1`, weights, "/models");
    rmSync(weights, { recursive: true, force: true });
    images.push(`${name}-model:1`);
  }
  writeFileSync(
    path.join(dir, "compose.yaml"),
    "services:\n" +
      images
        .map(
          (image, i) =>
            `  app${i + 1}:\n    image: ${image}\n    init: true\n    command: [sleep, "86400"]\n`,
        )
        .join(""),
  );
  await must(run("git", ["-C", dir, "init", "-q"]), "git init");
  await must(run("git", ["-C", dir, "add", "-A"]), "git add");
  await must(
    run("git", ["-C", dir, "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "fixture"]),
    "git commit",
  );
  return { dir, name, images, workdir };
}

/** Runs a command under /usr/bin/time: wall milliseconds and peak RSS in MiB. */
async function measured(file: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const rssFile = path.join(os.tmpdir(), `sealift-bench-rss-${process.pid}`);
  const t0 = performance.now();
  const outcome = await run("/usr/bin/time", ["-f", "%M", "-o", rssFile, file, ...args], options);
  const ms = performance.now() - t0;
  if (outcome.code !== 0)
    throw new Error(`${file} ${args.join(" ")} failed (${outcome.code}):\n${outcome.stderr}`);
  const rssMiB = Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024;
  return { ms, rssMiB, outcome };
}

async function timedShell(script: string): Promise<number> {
  const t0 = performance.now();
  await must(run("sh", ["-c", script]), script);
  return performance.now() - t0;
}

async function imageIds(refs: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of refs)
    ids.push(
      (await must(run("docker", ["image", "inspect", "--format", "{{.Id}}", ref]), "inspect")).stdout.trim(),
    );
  return ids;
}

/** Bytes under `dir` (du -sb). */
/**
 * The most `work` added to the used bytes of `dir`'s filesystem (sampled every 100 ms): the disk
 * high-water mark of a load. The filesystem is shared, so this is an upper bound of the data root's.
 */
async function diskHighWater<T>(dir: string, work: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const used = async () => {
    const s = await fsp.statfs(dir);
    return (s.blocks - s.bfree) * s.bsize;
  };
  const base = await used();
  let peak = base;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await used());
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    const result = await work();
    peak = Math.max(peak, await used());
    return { result, bytes: peak - base };
  } finally {
    done = true;
    await sampler;
  }
}

async function diskBytes(dir: string): Promise<number> {
  return Number((await must(run("du", ["-sb", dir]), "du")).stdout.split(/\s/)[0]);
}

interface Disk {
  /** What the first install left in its folder: source, compose files, record, the kept installer. */
  installFolderMiB: number;
  keptInstallerMiB: number;
}

async function benchPackAndInstall(
  want: Set<string>,
): Promise<{ rows: Row[]; rss: Record<string, number>; disk?: Disk }> {
  const fixture = await buildFixture();
  const rows: Row[] = [];
  const rss: Record<string, number> = {};
  let disk: Disk | undefined;
  const out = path.join(fixture.workdir, "out");
  mkdirSync(out);
  const imgs = fixture.images.join(" ");
  try {
    // pack
    const packS: number[] = [];
    const packU: number[] = [];
    const packFloor: number[] = [];
    let archive = "";
    let sizes = { sealift: 0, users: 0, installer: statSync(INSTALLER).size };
    for (let round = 1; round <= (want.has("pack") ? ROUNDS : 1); round++) {
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      const s = await measured(process.execPath, [SEALIFT_CLI, "pack", fixture.dir, "--out", out, "--json"]);
      packS.push(s.ms);
      rss.pack = Math.max(rss.pack ?? 0, s.rssMiB);
      const packed = parsePackJson(s.outcome.stdout);
      archive = packed.archive;
      packU.push(await timedShell(`docker save ${imgs} | gzip -6 > ${out}/users.tar.gz`));
      packFloor.push(await timedShell(`docker save ${imgs} > /dev/null`));
      sizes = { ...sizes, sealift: packed.bytes, users: statSync(`${out}/users.tar.gz`).size };
      process.stderr.write(
        `pack round ${round}: sealift ${Math.round(packS.at(-1)!)} ms, save|gzip ${Math.round(packU.at(-1)!)} ms, save ${Math.round(packFloor.at(-1)!)} ms\n`,
      );
    }
    if (want.has("pack")) {
      rows.push({
        measure: "pack (time)",
        sealiftMs: median(packS),
        usersMs: median(packU),
        ratio: median(packS) / median(packU),
        goal: "<= 0.5",
      });
      rows.push({
        measure: "pack vs bare docker save (the floor)",
        sealiftMs: median(packS),
        usersMs: median(packFloor),
        ratio: median(packS) / median(packFloor),
        goal: "-",
      });
      rows.push({
        measure: "archive size",
        sealiftMs: sizes.sealift,
        usersMs: sizes.users,
        ratio: sizes.sealift / sizes.users,
        goal: "<= 1.05",
        note: `sizes in bytes; sealift's archive also carries the ${Math.round(sizes.installer / 2 ** 20)} MiB installer (about a third of that compressed)`,
      });
    }
    if (!want.has("install")) return { rows, rss };

    // install
    await must(run("sh", ["-c", `gunzip -c ${out}/users.tar.gz > ${out}/users.tar`]), "gunzip");
    const ids = await imageIds([...fixture.images, `${fixture.name}-base:1`]);
    const dropImages = async () => {
      await removeProject(fixture.name);
      for (const id of ids) await run("docker", ["rmi", "-f", id]);
      // Layers a build made stay referenced by the build cache after rmi: let them go too.
      await must(run("docker", ["builder", "prune", "-af"]), "builder prune");
    };
    const dir = path.join(fixture.workdir, "opt");
    /** sealift's install of `bundle`: check + load + cache in ms, and the whole run. */
    const sealiftInstall = async (bundle = archive) => {
      const s = await measured(INSTALLER, [bundle, "--yes", "--dir", dir, "--json"], {
        cleanEnv: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      rss.install = Math.max(rss.install ?? 0, s.rssMiB);
      const steps = installedOf(s.outcome.stdout).stepsMs;
      return {
        ms: (steps.verify ?? 0) + (steps.load ?? 0) + (steps.cache ?? 0),
        /** Check and load only: what an upgrade of these image-only services takes before compose up. */
        checkAndLoadMs: (steps.verify ?? 0) + (steps.load ?? 0),
        total: s.ms,
      };
    };
    // What the first install leaves on disk (its time, per engine, is measured on the field hosts).
    await dropImages();
    await sealiftInstall();
    disk = {
      installFolderMiB: (await diskBytes(dir)) / 2 ** 20,
      keptInstallerMiB: (await diskBytes(path.join(dir, ".sealift", "install"))) / 2 ** 20,
    };

    // upgrade: one small layer changed on app1
    await dropImages();
    await sealiftInstall();
    const upgradeS: number[] = [];
    const upgradeU: number[] = [];
    const app1v1 = ids[0]!;
    await must(
      run("sh", [
        "-c",
        `printf 'FROM ${fixture.images[0]}\nRUN echo v2 > /opt/v2\n' | DOCKER_BUILDKIT=1 /usr/bin/docker build -q -t ${fixture.images[0]} - > /dev/null`,
      ]),
      "build v2",
    );
    writeFileSync(path.join(fixture.dir, "CHANGES"), "v2\n");
    await must(run("git", ["-C", fixture.dir, "add", "-A"]), "git add");
    await must(
      run("git", ["-C", fixture.dir, "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "v2"]),
      "git commit",
    );
    const out2 = path.join(fixture.workdir, "out2");
    const v2 = parsePackJson(
      (await must(sealift(["pack", fixture.dir, "--out", out2, "--json"]), "pack v2")).stdout,
    );
    await must(run("sh", ["-c", `docker save ${imgs} | gzip -6 > ${out2}/users.tar.gz`]), "users v2");
    const delta = parsePackJson(
      (
        await must(
          sealift([
            "pack",
            fixture.dir,
            "--out",
            path.join(fixture.workdir, "out3"),
            "--base",
            archive,
            "--json",
          ]),
          "pack delta",
        )
      ).stdout,
    );
    const app1v2 = (await imageIds([fixture.images[0]!]))[0]!;
    const upgradeDelta: number[] = [];
    // The host has v1 and lacks v2's new layer.
    const backToV1 = async () => {
      await removeProject(fixture.name);
      await run("docker", ["rmi", "-f", app1v2]);
      await must(run("docker", ["tag", app1v1, fixture.images[0]!]), "tag v1");
    };
    for (let round = 1; round <= ROUNDS; round++) {
      await backToV1();
      upgradeS.push((await sealiftInstall(v2.archive)).checkAndLoadMs);
      // The same upgrade from the delta bundle (pack --base v1).
      await backToV1();
      upgradeDelta.push((await sealiftInstall(delta.archive)).checkAndLoadMs);
      await backToV1();
      const t0 = performance.now();
      await must(
        run("sh", [
          "-c",
          `sha256sum ${out2}/users.tar.gz > /dev/null && gunzip -c ${out2}/users.tar.gz | docker load -q > /dev/null`,
        ]),
        "users upgrade",
      );
      upgradeU.push(performance.now() - t0);
      process.stderr.write(
        `upgrade round ${round}: sealift ${upgradeS.at(-1)} ms, with the delta ${upgradeDelta.at(-1)} ms, users ${Math.round(upgradeU.at(-1)!)} ms\n`,
      );
    }
    rows.push({
      measure: "upgrade where one small layer changed (build machine's engine)",
      sealiftMs: median(upgradeS),
      usersMs: median(upgradeU),
      ratio: median(upgradeS) / median(upgradeU),
      goal: "<= 0.25",
      note: "the complete bundle of the new release; the row below is the same upgrade from a delta",
    });
    rows.push({
      measure: "upgrade from the delta bundle (pack --base; build machine's engine)",
      sealiftMs: median(upgradeDelta),
      usersMs: median(upgradeU),
      ratio: median(upgradeDelta) / median(upgradeU),
      goal: "<= 0.25",
    });
    const full2 = statSync(v2.archive).size;
    rows.push({
      measure: "update size: delta / complete bundle",
      sealiftMs: delta.bytes,
      usersMs: full2,
      ratio: delta.bytes / full2,
      goal: "<= 0.05",
      note: "one small layer changed on one of four images; sizes in bytes (users' way column: the complete bundle)",
    });
    return { rows, rss, ...(disk ? { disk } : {}) };
  } finally {
    await removeProject(fixture.name);
    await removeImages(await projectImages(fixture.name));
    rmSync(fixture.workdir, { recursive: true, force: true });
  }
}

/** The engines the install rows are measured on: offline field hosts of their own (field-host.sh). */
const BENCH_ENGINES = [
  { label: "Docker 20.10, classic store", host: "bench20", profile: "docker20", builder: null },
  { label: "Docker 26, classic store", host: "bench26", profile: "docker26", builder: "b26c" },
  { label: "Docker 26, containerd store", host: "bench26c", profile: "docker26-containerd", builder: "b26c" },
] as const;

const FIELD_HOST = path.join(ROOT, "scripts", "field-host.sh");

/** Runs a shell script on a field host; returns its stdout. */
async function onHost(host: string, script: string): Promise<string> {
  return (await must(run("bash", [FIELD_HOST, "exec", host, "--", "sh", "-c", script]), `${host}: ${script}`))
    .stdout;
}

/** Milliseconds a shell script takes on a field host, timed there (no cost of reaching it). */
async function timedOnHost(host: string, script: string): Promise<number> {
  const out = await onHost(
    host,
    `a=$(date +%s%N); ${script}; b=$(date +%s%N); echo $(( (b - a) / 1000000 ))`,
  );
  return Number(out.trim().split("\n").pop());
}

const dropAll = (host: string) =>
  onHost(
    host,
    'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null; ' +
      "docker system prune -af --volumes >/dev/null; docker builder prune -af >/dev/null 2>&1; rm -rf /opt/bench",
  );

/**
 * First install and re-install on each engine, each on an offline field host: the fixture built
 * and packed on a build machine of the same family (this machine's 20.10, or Docker 26 with the
 * containerd store: a 20.10 docker-archive does not `docker load` into a containerd store), the
 * users' way being `sha256sum` + `gunzip -c | docker load` of `docker save | gzip -6` from there.
 */
async function benchEngines(): Promise<{ rows: Row[]; notes: string[]; rss: number }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  let peak = 0;
  const packed = new Map<
    string | null,
    { archive: string; users: string; plain: string; fixture: Fixture }
  >();
  try {
    for (const engine of BENCH_ENGINES) {
      await must(run("bash", [FIELD_HOST, "start", engine.host, engine.profile]), `start ${engine.host}`);
      if (!packed.has(engine.builder)) {
        if (engine.builder)
          await must(
            run("bash", [FIELD_HOST, "start", engine.builder, "docker26-containerd"]),
            "start builder",
          );
        const env = engine.builder ? engineEnv(engine.builder) : undefined;
        const fixture = await buildFixture(env, engine.builder ? "b" : "e");
        const out = path.join(fixture.workdir, "out");
        mkdirSync(out);
        const pack = await must(
          run(process.execPath, [SEALIFT_CLI, "pack", fixture.dir, "--out", out, "--json"], { env }),
          "pack",
        );
        const archive = parsePackJson(pack.stdout).archive;
        const save = `docker save ${fixture.images.join(" ")}`;
        await must(
          run(
            "sh",
            [
              "-c",
              `${save} | gzip -6 > ${out}/users.tar.gz && gunzip -c ${out}/users.tar.gz > ${out}/users.tar`,
            ],
            {
              env,
            },
          ),
          "users' archive",
        );
        packed.set(engine.builder, {
          archive,
          users: `${out}/users.tar.gz`,
          plain: `${out}/users.tar`,
          fixture,
        });
      }
      // Carried into the host's own /tmp, as scp would (hard links: no copy).
      const made = packed.get(engine.builder)!;
      const deliver = fieldHost(engine.host).deliver;
      deliver(`${made.archive}.sha256`);
      const bundle = {
        archive: deliver(made.archive),
        users: deliver(made.users),
        plain: deliver(made.plain),
      };
      const installerThere = fieldHost(engine.host).installer();
      // The users' compose file in a folder of its own on the host; their project is "users".
      const usersDir = path.join(fieldHost(engine.host).root, "opt", "users");
      mkdirSync(usersDir, { recursive: true });
      writeFileSync(
        path.join(usersDir, "compose.yaml"),
        readFileSync(path.join(made.fixture.dir, "compose.yaml")),
      );
      const usersUp = `${engine.profile === "docker20" ? "docker-compose" : "docker compose"} -p users -f /opt/users/compose.yaml up -d 2>/dev/null >/dev/null`;
      const first: number[] = [];
      const whole: number[] = [];
      const again: number[] = [];
      const usersFirst: number[] = [];
      const usersAgain: number[] = [];
      const floor: number[] = [];
      const stepTimes: Array<Record<string, number>> = [];
      // The same archive without its .sha256 beside it (a hard link under another folder).
      const bare = `/tmp/bench-no-sidecar/${path.basename(bundle.archive)}`;
      await onHost(engine.host, `mkdir -p /tmp/bench-no-sidecar && ln -f ${bundle.archive} ${bare}`);
      const install = async (archive = bundle.archive) => {
        const s = await measured("bash", [
          FIELD_HOST,
          "exec",
          engine.host,
          "--",
          installerThere,
          archive,
          "--yes",
          "--dir",
          "/opt/bench",
          "--json",
        ]);
        peak = Math.max(peak, s.rssMiB);
        const installed = installedOf(s.outcome.stdout);
        const steps = installed.stepsMs;
        return {
          ms: (steps.verify ?? 0) + (steps.load ?? 0) + (steps.cache ?? 0),
          steps,
          total: installed.durationMs,
        };
      };
      const againSteps: Array<Record<string, number>> = [];
      const againBare: number[] = [];
      const againWhole: number[] = [];
      const usersAgainWhole: number[] = [];
      const usersWay = `sha256sum ${bundle.users} > /dev/null && gunzip -c ${bundle.users} | docker load -q > /dev/null`;
      const manifest = JSON.parse(
        (
          await must(
            run("tar", ["xzOf", made.archive, `${path.basename(made.archive, ".tar.gz")}/manifest.json`]),
            "manifest",
          )
        ).stdout,
      ) as Manifest;
      const hostRoot = fieldHost(engine.host).root;
      const highWater = { sealift: 0, users: 0 };
      for (let round = 1; round <= ROUNDS; round++) {
        await dropAll(engine.host);
        // The disk the first install takes at its peak, less what it leaves in its folder (the kept installer, source).
        const watched = await diskHighWater(hostRoot, () => install());
        const s = watched.result;
        const folder = await diskBytes(path.join(hostRoot, "opt", "bench"));
        highWater.sealift = Math.max(highWater.sealift, watched.bytes - folder);
        first.push(s.ms);
        whole.push(s.total);
        stepTimes.push(s.steps);
        const reinstall = await install();
        again.push(reinstall.ms);
        againWhole.push(reinstall.total);
        againSteps.push(reinstall.steps);
        againBare.push((await install(bare)).total);
        usersAgain.push(await timedOnHost(engine.host, usersWay));
        // Their whole way again with their project up already, as sealift's re-install finds its own.
        await timedOnHost(engine.host, `${usersWay} && ${usersUp}`);
        usersAgainWhole.push(await timedOnHost(engine.host, `${usersWay} && ${usersUp}`));
        await dropAll(engine.host);
        const users = await diskHighWater(hostRoot, () => timedOnHost(engine.host, usersWay));
        highWater.users = Math.max(highWater.users, users.bytes);
        usersFirst.push(users.result);
        await dropAll(engine.host);
        floor.push(await timedOnHost(engine.host, `docker load -q -i ${bundle.plain} > /dev/null`));
        process.stderr.write(
          `${engine.label}, round ${round}: first install ${Math.round(s.ms)} ms (whole ${s.total} ms), users ${usersFirst.at(-1)} ms, docker load -i ${floor.at(-1)} ms; re-install ${Math.round(again.at(-1)!)} ms (whole ${againWhole.at(-1)} ms), users ${usersAgain.at(-1)} ms (with compose up ${usersAgainWhole.at(-1)} ms)\n`,
        );
      }
      await dropAll(engine.host);
      rows.push(
        {
          measure: `first install on ${engine.label}: verify + load`,
          sealiftMs: median(first),
          usersMs: median(usersFirst),
          ratio: median(first) / median(usersFirst),
          goal: "<= 0.8",
          note: `the whole install, compose up and health included: ${(median(whole) / 1000).toFixed(1)} s`,
        },
        {
          measure: `first install on ${engine.label} vs bare docker load -i (the floor)`,
          sealiftMs: median(first),
          usersMs: median(floor),
          ratio: median(first) / median(floor),
          goal: "<= 1.15",
        },
        {
          measure: `re-install on ${engine.label}: the whole install vs check + load + compose up`,
          sealiftMs: median(againWhole),
          usersMs: median(usersAgainWhole),
          ratio: median(againWhole) / median(usersAgainWhole),
          goal: "<= 0.25",
          note:
            `verify + load alone: ${(median(again) / 1000).toFixed(2)} s against the users' check + load ${(median(usersAgain) / 1000).toFixed(2)} s (${(median(again) / median(usersAgain)).toFixed(2)}); ` +
            `the cost of checking every byte: ${(median(againWhole) / 1000).toFixed(2)} s with the .sha256 beside the archive, ${(median(againBare) / 1000).toFixed(2)} s without it (only what the install uses is read)`,
        },
      );
      const spent = (times: Array<Record<string, number>>) =>
        Object.keys(times[0] ?? {})
          .map((k) => `${k} ${(median(times.map((t) => t[k] ?? 0)) / 1000).toFixed(2)} s`)
          .join(", ");
      const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
      const asked = dataRootNeed(
        { containerdImageStore: engine.profile === "docker26-containerd" },
        manifest,
        true,
      ).bytes;
      notes.push(
        `disk high-water in the data root during a first install on ${engine.label}: ${mib(highWater.sealift)}, ` +
          `${(highWater.sealift / asked).toFixed(2)} of the ${mib(asked)} the preflight asks (the images ${mib(manifest.images.bytes)} as shipped, ` +
          `${mib(manifest.requirements.imagesUnpackedBytes ?? manifest.images.bytes)} unpacked); the users' gunzip | docker load: ${mib(highWater.users)}`,
        `where a first install's time goes on ${engine.label} (medians): ${spent(stepTimes)}`,
        `where a re-install's time goes on ${engine.label} (medians): ${spent(againSteps)}`,
      );
    }
  } finally {
    for (const [builder, { fixture }] of packed) {
      const env = builder ? engineEnv(builder) : undefined;
      const images = (
        await run(
          "docker",
          ["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", `reference=${fixture.name}*`],
          {
            env,
          },
        )
      ).stdout
        .split("\n")
        .filter(Boolean);
      if (images.length) await run("docker", ["rmi", "-f", ...images], { env });
      rmSync(fixture.workdir, { recursive: true, force: true });
    }
  }
  return { rows, notes, rss: peak };
}

/**
 * install rollout of the example (packed on Docker 26) to three field hosts reached over SSH
 * against the same to one of them: the wall time of each, and the bytes each host was sent.
 */
async function benchRollout(): Promise<{ rows: Row[]; notes: string[] }> {
  // Six servers on one LAN; the operator's link to them limited (tc on the bridge shapes only what
  // this machine sends: the operator's), the hosts' own links not (BENCH_OPERATOR_RATE, default 200mbit).
  const hosts = [1, 2, 3, 4, 5, 6].map((i) => ({
    name: `n${i}`,
    ip: `10.77.0.${20 + i}`,
    profile: i % 2 ? "docker26" : "docker26-containerd",
  }));
  const rate = process.env.BENCH_OPERATOR_RATE ?? "200mbit";
  await must(run("bash", [FIELD_HOST, "start", "b26c", "docker26-containerd"]), "start b26c");
  for (const h of hosts)
    await must(run("bash", [FIELD_HOST, "start", h.name, h.profile, "--ip", h.ip]), `start ${h.name}`);
  const example = await exampleProject("bro", engineEnv("b26c"));
  try {
    const packed = await must(
      sealift(["pack", example.dir, "--out", path.join(example.workdir, "dist"), "--json"], {
        env: example.engine,
      }),
      "pack",
    );
    const archive = parsePackJson(packed.stdout).archive;
    const key = path.join(example.workdir, "key");
    await must(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]), "ssh-keygen");
    const known: string[] = [];
    for (const h of hosts) {
      await must(run("bash", [FIELD_HOST, "authorize", h.name, `${key}.pub`]), "authorize");
      known.push(
        `${h.ip} ${(await must(run("bash", [FIELD_HOST, "hostkey", h.name]), "hostkey")).stdout.trim()}`,
      );
    }
    writeFileSync(path.join(example.workdir, "known_hosts"), known.join("\n") + "\n");
    const inventory = path.join(example.workdir, "hosts.ini");
    writeFileSync(
      inventory,
      [
        "[fleet]",
        ...hosts.map((h) => `${h.name} ansible_host=${h.ip}`),
        "[fleet:vars]",
        "ansible_user=root",
        `ansible_ssh_private_key_file=${key}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${path.join(example.workdir, "known_hosts")}'`,
        "",
      ].join("\n"),
    );
    const reset = async () => {
      for (const h of hosts)
        await dropAll(h.name).then(() => onHost(h.name, "rm -rf /opt/bundles /opt/slbro*"));
    };
    const roll = async (limit: string) => {
      const t0 = performance.now();
      const outcome = await must(
        installer(
          INSTALLER,
          ["rollout", archive, "--hosts", inventory, "--limit", limit, "--staging", "/opt/bundles", "--json"],
          {
            timeoutMs: 900_000,
          },
        ),
        `rollout ${limit}`,
      );
      const records = parseRolloutJson(outcome.stdout);
      return {
        ms: performance.now() - t0,
        bytes: records.map((r) => r.bytesSent),
        from: records.map((r) => `${r.host} from ${r.copiedFrom}`),
      };
    };
    /** Bytes this machine (the operator) sent into the bridge so far (its counters). */
    const operatorTx = async () => {
      const shown = await must(run("ip", ["-s", "-j", "link", "show", "sl-br0"]), "ip -s link");
      return (JSON.parse(shown.stdout) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;
    };
    await must(
      run("sh", ["-c", `tc qdisc replace dev sl-br0 root tbf rate ${rate} burst 256kb latency 50ms`]),
      "tc",
    );
    const one: number[] = [];
    const six: number[] = [];
    const onOperator: number[] = [];
    let from: string[] = [];
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        await reset();
        one.push((await roll("n1")).ms);
        await reset();
        const before = await operatorTx();
        const all = await roll("fleet");
        onOperator.push((await operatorTx()) - before);
        six.push(all.ms);
        from = all.from;
        process.stderr.write(
          `rollout round ${round}: one host ${Math.round(one.at(-1)!)} ms, six hosts ${Math.round(all.ms)} ms, the operator sent ${(onOperator.at(-1)! / 2 ** 20).toFixed(1)} MiB\n`,
        );
      }
    } finally {
      await run("tc", ["qdisc", "del", "dev", "sl-br0", "root"]);
    }
    await reset();
    const archiveBytes = statSync(archive).size;
    return {
      rows: [
        {
          measure: `rollout to six hosts vs to one (time), the operator's link at ${rate}`,
          sealiftMs: median(six),
          usersMs: median(one),
          ratio: median(six) / median(one),
          goal: "<= 1.5",
          note: "the example packed on Docker 26, to field hosts over SSH (4 at once), relayed between hosts; the users' way column is sealift's own rollout to one host",
        },
      ],
      notes: [
        `rollout to six hosts: the operator's interface sent ${(median(onOperator) / 2 ** 20).toFixed(1)} MiB (median) for a ${(archiveBytes / 2 ** 20).toFixed(1)} MiB bundle: ${(median(onOperator) / archiveBytes).toFixed(2)} bundles; copies: ${from.join(", ")}`,
      ],
    };
  } finally {
    await example.dispose();
  }
}

const rows: Row[] = [];
const notes: string[] = [];
let rss: Record<string, number> = {};
let disk: Disk | undefined;
if (sections.includes("pack") || sections.includes("install")) {
  const measuredRows = await benchPackAndInstall(new Set(sections));
  rows.push(...measuredRows.rows);
  rss = measuredRows.rss;
  disk = measuredRows.disk;
}
if (sections.includes("install") || sections.includes("engines")) {
  const engines = await benchEngines();
  rows.push(...engines.rows);
  notes.push(...engines.notes);
  rss.install = Math.max(rss.install ?? 0, engines.rss);
}
if (sections.includes("rebuild")) rows.push(...(await benchRebuild()));
if (sections.includes("rollout")) {
  const rolled = await benchRollout();
  rows.push(...rolled.rows);
  notes.push(...rolled.notes);
}
const result = {
  date: new Date().toISOString(),
  machine: await machine(),
  scale: SCALE,
  rounds: ROUNDS,
  rows,
  notes,
  peakRssMiB: rss,
  ...(disk ? { installDiskMiB: disk } : {}),
};
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
writeFileSync(path.join(ROOT, "bench-results", "latest.json"), JSON.stringify(result, null, 2) + "\n");
const table = [
  `Machine: ${result.machine.cores} cores, ${result.machine.memory}, disk ${result.machine.disk}, Docker ${result.machine.docker}; fixture ${SCALE}; ${ROUNDS} rounds, medians.`,
  "",
  "| measure | sealift | users' way | ratio | goal |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map((r) => {
    const cell = (v: number) =>
      !r.measure.includes("size")
        ? `${(v / 1000).toFixed(1)} s`
        : v < 2 ** 20
          ? `${(v / 2 ** 10).toFixed(1)} KiB`
          : `${(v / 2 ** 20).toFixed(1)} MiB`;
    const ratio = r.ratio < 0.01 ? r.ratio.toPrecision(2) : r.ratio.toFixed(2);
    return `| ${r.measure} | ${cell(r.sealiftMs)} | ${cell(r.usersMs)} | ${ratio} | ${r.goal} |`;
  }),
  "",
  ...rows.filter((r) => r.note).map((r) => `- ${r.measure}: ${r.note}`),
  ...notes.map((n) => `- ${n}`),
  ...Object.entries(result.peakRssMiB).map(
    ([step, mib]) => `- peak RSS of sealift ${step}: ${mib.toFixed(0)} MiB`,
  ),
  ...(disk
    ? [
        `- disk the first install wrote outside Docker: ${disk.installFolderMiB.toFixed(0)} MiB in the install folder, ${disk.keptInstallerMiB.toFixed(0)} MiB of it the kept installer; the image payload is never written out (docker load's own temporary copy in its data root is the same for the users' way)`,
      ]
    : []),
];
process.stdout.write(table.join("\n") + "\n");
