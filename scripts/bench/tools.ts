/** What every section of the benchmark measures with: commands timed, RSS, disk, field hosts. */
import { readFileSync } from "node:fs";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseInstallJson } from "../../src/installer/install-json.js";
import { ROOT, run } from "../../test/helpers/run.js";

/** Rounds of each measure (BENCH_ROUNDS, default 3). */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export const FIELD_HOST = path.join(ROOT, "scripts", "field-host.sh");

/** What an install --json says it installed; throws when it says something else. */
export function installedOf(stdout: string) {
  const answer = parseInstallJson(stdout);
  if (!answer?.ok || !answer.installed) throw new Error(`install did not install: ${stdout}`);
  return answer.installed;
}

export async function must(promise: ReturnType<typeof run>, what: string) {
  const outcome = await promise;
  if (outcome.code !== 0) throw new Error(`${what} failed (${outcome.code}):\n${outcome.stderr}`);
  return outcome;
}

export async function machine() {
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

/** Runs a command under /usr/bin/time: wall milliseconds and peak RSS in MiB. */
export async function measured(file: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const rssFile = path.join(os.tmpdir(), `sealift-bench-rss-${process.pid}`);
  const t0 = performance.now();
  const outcome = await run("/usr/bin/time", ["-f", "%M", "-o", rssFile, file, ...args], options);
  const ms = performance.now() - t0;
  if (outcome.code !== 0)
    throw new Error(`${file} ${args.join(" ")} failed (${outcome.code}):\n${outcome.stderr}`);
  const rssMiB = Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) / 1024;
  return { ms, rssMiB, outcome };
}

export async function timedShell(script: string): Promise<number> {
  const t0 = performance.now();
  await must(run("sh", ["-c", script]), script);
  return performance.now() - t0;
}

export async function imageIds(refs: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of refs)
    ids.push(
      (await must(run("docker", ["image", "inspect", "--format", "{{.Id}}", ref]), "inspect")).stdout.trim(),
    );
  return ids;
}

/**
 * The most `work` added to the used bytes of `dir`'s filesystem (sampled every 100 ms): the disk
 * high-water mark of a load. The filesystem is shared, so this is an upper bound of the data root's.
 */
export async function diskHighWater<T>(
  dir: string,
  work: () => Promise<T>,
): Promise<{ result: T; bytes: number }> {
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

/** Bytes under `dir` (du -sb). */
export async function diskBytes(dir: string): Promise<number> {
  return Number((await must(run("du", ["-sb", dir]), "du")).stdout.split(/\s/)[0]);
}

/** Runs a shell script on a field host; returns its stdout. */
export async function onHost(host: string, script: string): Promise<string> {
  return (await must(run("bash", [FIELD_HOST, "exec", host, "--", "sh", "-c", script]), `${host}: ${script}`))
    .stdout;
}

/** Milliseconds a shell script takes on a field host, timed there (no cost of reaching it). */
export async function timedOnHost(host: string, script: string): Promise<number> {
  const out = await onHost(
    host,
    `a=$(date +%s%N); ${script}; b=$(date +%s%N); echo $(( (b - a) / 1000000 ))`,
  );
  return Number(out.trim().split("\n").pop());
}

export const dropAll = (host: string) =>
  onHost(
    host,
    'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null; ' +
      "docker system prune -af --volumes >/dev/null; docker builder prune -af >/dev/null 2>&1; rm -rf /opt/bench",
  );
