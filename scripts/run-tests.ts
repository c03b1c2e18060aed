/**
 * Runs test files with Node's test runner, a few at once (SEALIFT_TEST_JOBS, default 2), never two
 * that hold the same field host or change the same engine (test/suites.ts says what each holds):
 * the longest first, each file in a process of its own, its output printed whole when it ends. The
 * last line counts every test of every file: "N passed, N failed". Exit 1 when any file failed.
 *
 *   node --import tsx scripts/run-tests.ts [FILE...]     (scripts/test.sh runs it)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SUITES, type Hold, type Suite } from "../test/suites.js";
import { packSharedExample } from "../test/helpers/shared-example.js";

interface Job {
  files: string[];
  suite: Suite;
}

interface Finished {
  job: Job;
  code: number;
  output: string;
  seconds: number;
}

/** Everything, exclusively: a suite nobody described runs alone. */
const EVERYTHING: Suite = { holds: { "*": "exclusive" }, seconds: 60 };

function jobsFor(files: readonly string[]): Job[] {
  const unit = files.filter((f) => f.startsWith("test/unit/"));
  const jobs: Job[] = unit.length ? [{ files: unit, suite: { holds: {}, seconds: 15 } }] : [];
  for (const file of files.filter((f) => !f.startsWith("test/unit/"))) {
    const suite = SUITES[file];
    if (!suite) process.stderr.write(`run-tests: ${file} is not in test/suites.ts: it runs alone\n`);
    jobs.push({ files: [file], suite: suite ?? EVERYTHING });
  }
  return jobs.sort((a, b) => b.suite.seconds - a.suite.seconds);
}

/** Can `job` start while `running` hold what they hold? */
function fits(job: Job, running: readonly Job[]): boolean {
  for (const other of running) {
    if ("*" in job.suite.holds || "*" in other.suite.holds) return false;
    for (const [name, hold] of Object.entries(job.suite.holds)) {
      const theirs: Hold | undefined = other.suite.holds[name];
      if (theirs && (hold === "exclusive" || theirs === "exclusive")) return false;
    }
  }
  return true;
}

function runJob(job: Job): Promise<Finished> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...job.files],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...sharedEnv } },
    );
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("close", (code) =>
      resolve({ job, code: code ?? 1, output, seconds: (performance.now() - started) / 1000 }),
    );
  });
}

/** The runner's own counts at the end of a file's output ("ℹ pass 12"). */
function count(output: string, what: string): number {
  return Number(new RegExp(`^ℹ ${what} (\\d+)$`, "m").exec(output)?.[1] ?? 0);
}

/** What every suite's process is given: the run's shared example's folder, once packed. */
const sharedEnv: Record<string, string> = {};

async function main(files: string[]): Promise<number> {
  const jobs = jobsFor(files);
  if (jobs.some((j) => j.suite.example)) {
    const shared = mkdtempSync(path.join(os.tmpdir(), "sealift-shared-"));
    process.on("exit", () => rmSync(shared, { recursive: true, force: true }));
    const t0 = performance.now();
    await packSharedExample(shared);
    sharedEnv.SEALIFT_TEST_SHARED = shared;
    process.stdout.write(
      `run-tests: the shared example (releases N and N+1) packed in ${((performance.now() - t0) / 1000).toFixed(0)} s\n\n`,
    );
  }
  const parallel = Math.max(1, Number(process.env.SEALIFT_TEST_JOBS ?? 2));
  const running = new Map<Job, Promise<Finished>>();
  const finished: Finished[] = [];
  const started = performance.now();
  while (jobs.length || running.size) {
    const next = running.size < parallel ? jobs.findIndex((j) => fits(j, [...running.keys()])) : -1;
    if (next >= 0) {
      const [job] = jobs.splice(next, 1);
      running.set(job!, runJob(job!));
      continue;
    }
    const done = await Promise.race(running.values());
    running.delete(done.job);
    finished.push(done);
    process.stdout.write(done.output);
    process.stdout.write(
      `run-tests: ${done.job.files.length > 1 ? `${done.job.files.length} unit files` : done.job.files[0]}: exit ${done.code} in ${done.seconds.toFixed(0)} s\n\n`,
    );
  }
  const passed = finished.reduce((sum, f) => sum + count(f.output, "pass"), 0);
  const failed = finished.reduce(
    (sum, f) => sum + count(f.output, "fail") + (f.code !== 0 && !count(f.output, "fail") ? 1 : 0),
    0,
  );
  const failedFiles = finished.filter((f) => f.code !== 0).flatMap((f) => f.job.files);
  process.stdout.write(
    `run-tests: ${finished.length} jobs, ${parallel} at once, in ${((performance.now() - started) / 60_000).toFixed(1)} min` +
      (failedFiles.length ? `; failed: ${failedFiles.join(", ")}` : "") +
      `\n${passed} passed, ${failed} failed\n`,
  );
  return failedFiles.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`run-tests: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
