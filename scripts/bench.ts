/**
 * npm run bench [-- SECTION ...]: sealift against the users' current way, measured side by side in
 * one run, several rounds, medians and ratios. Not a test: it prints a table and writes
 * bench-results/latest.json. Sections: rebuild (build cache), more to come.
 *
 * rebuild: on the example app, a rebuild on the offline host after a code change, with the build
 * cache sealift imported, against a cold build (empty builder cache, no cache images) of the same
 * services. Goal: 0.15 or less.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { exampleProject } from "../test/helpers/example.js";
import { projectImages, removeImages, removeProject } from "../test/helpers/docker.js";
import { ROOT, freePort, installer, run, sealift } from "../test/helpers/run.js";
import type { Manifest } from "../src/bundle/manifest.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const sections = process.argv.slice(2).length ? process.argv.slice(2) : ["rebuild"];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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
}

async function benchRebuild(): Promise<Row[]> {
  const example = await exampleProject("bench");
  try {
    const out = path.join(example.workdir, "dist");
    const packed = await must(sealift(["pack", example.dir, "--out", out, "--json"]), "pack");
    const archive = (JSON.parse(packed.stdout) as { archive: string }).archive;
    const usb = path.join(example.workdir, "usb");
    mkdirSync(usb);
    await must(run("tar", ["xzf", archive, "-C", usb]), "tar");
    const bundle = path.join(usb, path.basename(archive, ".tar.gz"));
    const manifest = JSON.parse(readFileSync(path.join(bundle, "manifest.json"), "utf8")) as Manifest;
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
      const services = (JSON.parse(rebuilt.stdout) as { services: Array<{ durationMs: number }> }).services;
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
    await removeProject(example.name);
    await removeImages(await projectImages(example.name));
    example.cleanup();
  }
}

const rows: Row[] = [];
if (sections.includes("rebuild")) rows.push(...(await benchRebuild()));
const result = { date: new Date().toISOString(), machine: await machine(), rounds: ROUNDS, rows };
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
writeFileSync(path.join(ROOT, "bench-results", "latest.json"), JSON.stringify(result, null, 2) + "\n");
const table = [
  `Machine: ${result.machine.cores} cores, ${result.machine.memory}, disk ${result.machine.disk}, Docker ${result.machine.docker}; ${ROUNDS} rounds, medians.`,
  "",
  "| measure | sealift | users' way | ratio | goal |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      `| ${r.measure} | ${(r.sealiftMs / 1000).toFixed(1)} s | ${(r.usersMs / 1000).toFixed(1)} s | ${r.ratio.toFixed(2)} | ${r.goal} |`,
  ),
];
process.stdout.write(table.join("\n") + "\n");
