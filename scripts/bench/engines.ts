/**
 * engines: first install and re-install of the fixture on each engine, each on an offline field
 * host of its own (field-host.sh): the fixture built and packed on a build machine of the same
 * family (this machine's 20.10, or Docker 26 with the containerd store: a 20.10 docker-archive does
 * not `docker load` into a containerd store); the users' way is `sha256sum` + `gunzip -c | docker
 * load` of `docker save | gzip -6` from there, the floor a bare `docker load -i` of the plain tar.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Manifest } from "../../src/bundle/manifest.js";
import { dataRootNeed } from "../../src/installer/preflight.js";
import { parsePackJson } from "../../src/packager/pack-json.js";
import { engineEnv, fieldHost } from "../../test/helpers/field-host.js";
import { SEALIFT_CLI, run } from "../../test/helpers/run.js";
import { buildFixture, type Fixture } from "./fixture.js";
import { alternately, median, row, type Row } from "./harness.js";
import {
  diskBytes,
  diskHighWater,
  dropAll,
  FIELD_HOST,
  installedOf,
  measured,
  must,
  onHost,
  ROUNDS,
  timedOnHost,
} from "./tools.js";

/** The engines the install rows are measured on: offline field hosts of their own. */
const BENCH_ENGINES = [
  { label: "Docker 20.10, classic store", host: "bench20", profile: "docker20", builder: null },
  { label: "Docker 26, classic store", host: "bench26", profile: "docker26", builder: "b26c" },
  { label: "Docker 26, containerd store", host: "bench26c", profile: "docker26-containerd", builder: "b26c" },
] as const;
type BenchEngine = (typeof BENCH_ENGINES)[number];

interface Packed {
  archive: string;
  users: string;
  plain: string;
  fixture: Fixture;
}

/** The fixture packed by sealift and by the users' way on the engine's build machine. */
async function packOn(builder: string | null): Promise<Packed> {
  if (builder)
    await must(run("bash", [FIELD_HOST, "start", builder, "docker26-containerd"]), "start builder");
  const env = builder ? engineEnv(builder) : undefined;
  const fixture = await buildFixture(env, builder ? "b" : "e");
  const out = path.join(fixture.workdir, "out");
  mkdirSync(out);
  const pack = await must(
    run(process.execPath, [SEALIFT_CLI, "pack", fixture.dir, "--out", out, "--json"], { env }),
    "pack",
  );
  const save = `docker save ${fixture.images.join(" ")}`;
  await must(
    run(
      "sh",
      ["-c", `${save} | gzip -6 > ${out}/users.tar.gz && gunzip -c ${out}/users.tar.gz > ${out}/users.tar`],
      {
        env,
      },
    ),
    "users' archive",
  );
  return {
    archive: parsePackJson(pack.stdout).archive,
    users: `${out}/users.tar.gz`,
    plain: `${out}/users.tar`,
    fixture,
  };
}

/** The rows and notes of one engine. */
async function benchEngine(engine: BenchEngine, made: Packed, rss: { peak: number }) {
  const host = fieldHost(engine.host);
  // Carried into the host's own /tmp, as scp would.
  host.deliver(`${made.archive}.sha256`);
  const bundle = {
    archive: host.deliver(made.archive),
    users: host.deliver(made.users),
    plain: host.deliver(made.plain),
  };
  const installerThere = host.installer();
  // The users' compose file in a folder of its own on the host; their project is "users".
  const usersDir = path.join(host.root, "opt", "users");
  mkdirSync(usersDir, { recursive: true });
  writeFileSync(
    path.join(usersDir, "compose.yaml"),
    readFileSync(path.join(made.fixture.dir, "compose.yaml")),
  );
  const compose = engine.profile === "docker20" ? "docker-compose" : "docker compose";
  const usersUp = `${compose} -p users -f /opt/users/compose.yaml up -d 2>/dev/null >/dev/null`;
  const usersWay = `sha256sum ${bundle.users} > /dev/null && gunzip -c ${bundle.users} | docker load -q > /dev/null`;
  // The same archive without its .sha256 beside it (a hard link under another folder).
  const bare = `/tmp/bench-no-sidecar/${path.basename(bundle.archive)}`;
  await onHost(engine.host, `mkdir -p /tmp/bench-no-sidecar && ln -f ${bundle.archive} ${bare}`);
  /** sealift's install: verify + load + cache (ms), the steps, and the whole install. */
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
    rss.peak = Math.max(rss.peak, s.rssMiB);
    const installed = installedOf(s.outcome.stdout);
    const steps = installed.stepsMs;
    return {
      ms: (steps.verify ?? 0) + (steps.load ?? 0) + (steps.cache ?? 0),
      steps,
      total: installed.durationMs,
    };
  };
  const manifest = JSON.parse(
    (
      await must(
        run("tar", ["xzOf", made.archive, `${path.basename(made.archive, ".tar.gz")}/manifest.json`]),
        "manifest",
      )
    ).stdout,
  ) as Manifest;

  // First installs on an empty host: sealift, the users' way and the floor, alternately.
  const highWater = { sealift: 0, users: 0 };
  const whole: number[] = [];
  const steps: Array<Record<string, number>> = [];
  const first = await alternately(
    `${engine.label}, first install`,
    ROUNDS,
    {
      sealift: async () => {
        // The disk the first install takes at its peak, less what it leaves in its folder.
        const watched = await diskHighWater(host.root, () => install());
        const folder = await diskBytes(path.join(host.root, "opt", "bench"));
        highWater.sealift = Math.max(highWater.sealift, watched.bytes - folder);
        whole.push(watched.result.total);
        steps.push(watched.result.steps);
        return watched.result.ms;
      },
      users: async () => {
        const users = await diskHighWater(host.root, () => timedOnHost(engine.host, usersWay));
        highWater.users = Math.max(highWater.users, users.bytes);
        return users.result;
      },
      floor: () => timedOnHost(engine.host, `docker load -q -i ${bundle.plain} > /dev/null`),
    },
    { prepare: () => dropAll(engine.host).then(() => undefined) },
  );

  // Re-installs onto the host as each way left it (installed and running).
  const againSteps: Array<Record<string, number>> = [];
  const againLoad: number[] = [];
  const usersAgainLoad: number[] = [];
  const again = await alternately(
    `${engine.label}, re-install`,
    ROUNDS,
    {
      sealift: async () => {
        const reinstall = await install();
        againSteps.push(reinstall.steps);
        againLoad.push(reinstall.ms);
        return reinstall.total;
      },
      "sealift without .sha256": async () => (await install(bare)).total,
      users: async () => {
        usersAgainLoad.push(await timedOnHost(engine.host, usersWay));
        return timedOnHost(engine.host, `${usersWay} && ${usersUp}`);
      },
    },
    {
      // Each way finds its own project up already, as a re-install does.
      prepare: async (way) => {
        if (way === "users") await timedOnHost(engine.host, `${usersWay} && ${usersUp}`);
        else await install();
      },
    },
  );
  await dropAll(engine.host);

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
  const section = "engines";
  return {
    rows: [
      row({
        section,
        measure: `first install on ${engine.label}: verify + load`,
        unit: "ms",
        sealift: first.sealift,
        other: first.users,
        against: "users",
        goal: 0.8,
        note: `the whole install, compose up and health included: ${(median(whole) / 1000).toFixed(1)} s`,
      }),
      row({
        section,
        measure: `first install on ${engine.label} vs bare docker load -i (the floor)`,
        unit: "ms",
        sealift: first.sealift,
        other: first.floor,
        against: "floor",
        goal: 1.15,
      }),
      row({
        section,
        measure: `re-install on ${engine.label}: the whole install vs check + load + compose up`,
        unit: "ms",
        sealift: again.sealift,
        other: again.users,
        against: "users",
        goal: 0.25,
        note:
          `verify + load alone: ${(median(againLoad) / 1000).toFixed(2)} s against the users' check + load ${(median(usersAgainLoad) / 1000).toFixed(2)} s; ` +
          `the cost of checking every byte: ${(median(again.sealift) / 1000).toFixed(2)} s with the .sha256 beside the archive, ` +
          `${(median(again["sealift without .sha256"]) / 1000).toFixed(2)} s without it (only what the install uses is read)`,
      }),
    ],
    notes: [
      `disk high-water in the data root during a first install on ${engine.label}: ${mib(highWater.sealift)}, ` +
        `${(highWater.sealift / asked).toFixed(2)} of the ${mib(asked)} the preflight asks (the images ${mib(manifest.images.bytes)} as shipped, ` +
        `${mib(manifest.requirements.imagesUnpackedBytes ?? manifest.images.bytes)} unpacked); the users' gunzip | docker load: ${mib(highWater.users)}`,
      `where a first install's time goes on ${engine.label} (medians): ${spent(steps)}`,
      `where a re-install's time goes on ${engine.label} (medians): ${spent(againSteps)}`,
    ],
  };
}

export async function benchEngines(): Promise<{ rows: Row[]; notes: string[]; rss: number }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const rss = { peak: 0 };
  const packed = new Map<string | null, Packed>();
  try {
    for (const engine of BENCH_ENGINES) {
      await must(run("bash", [FIELD_HOST, "start", engine.host, engine.profile]), `start ${engine.host}`);
      if (!packed.has(engine.builder)) packed.set(engine.builder, await packOn(engine.builder));
      const measured = await benchEngine(engine, packed.get(engine.builder)!, rss);
      rows.push(...measured.rows);
      notes.push(...measured.notes);
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
  return { rows, notes, rss: rss.peak };
}
