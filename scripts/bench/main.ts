/**
 * npm run bench [-- SECTION ...] [--check] [--save-baseline]: sealift against the users' current
 * way and the physical floor, side by side in one run, several rounds each (BENCH_ROUNDS, default
 * 3), alternately. Not a test: it prints a table (min / median / max of every row, its ratio, its
 * goal met or missed, the committed baseline's ratio beside it) and keeps the whole run, every
 * round, in bench-results/RUN.json and bench-results/latest.json.
 *
 * Sections (default all): pack and install (pack-install.ts), engines (the first installs on each
 * engine's offline field host; install runs them too), rebuild, rollout.
 *
 *   --check           exit 1 when a goal is missed (for a run that must hold them)
 *   --save-baseline   also write this run as scripts/bench/baseline.json, the one later runs compare with
 *
 * BENCH_SCALE=small|full|large picks the fixture's size (fixture.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../../test/helpers/run.js";
import { benchEngines } from "./engines.js";
import { SCALE } from "./fixture.js";
import { resultSchema, table, verdict, type BenchResult, type Row } from "./harness.js";
import { benchPackAndInstall } from "./pack-install.js";
import { benchRebuild } from "./rebuild.js";
import { benchRollout } from "./rollout.js";
import { machine, ROUNDS } from "./tools.js";

const SECTIONS = ["pack", "install", "engines", "rebuild", "rollout"];
const BASELINE = path.join(ROOT, "scripts", "bench", "baseline.json");

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith("--")));
const asked = args.filter((a) => !a.startsWith("--"));
for (const unknown of [
  ...asked.filter((s) => !SECTIONS.includes(s)),
  ...[...flags].filter((f) => !["--check", "--save-baseline"].includes(f)),
]) {
  process.stderr.write(
    `bench: unknown section or flag ${unknown} (sections: ${SECTIONS.join(", ")}; flags: --check, --save-baseline)\n`,
  );
  process.exit(2);
}
const sections = new Set(asked.length ? asked : ["pack", "install", "rebuild", "rollout"]);

const rows: Row[] = [];
const notes: string[] = [];
const rss: Record<string, number> = {};
if (sections.has("pack") || sections.has("install")) {
  const measured = await benchPackAndInstall(sections);
  rows.push(...measured.rows);
  notes.push(...measured.notes);
  Object.assign(rss, measured.rss);
}
if (sections.has("install") || sections.has("engines")) {
  const engines = await benchEngines();
  rows.push(...engines.rows);
  notes.push(...engines.notes);
  rss.install = Math.max(rss.install ?? 0, engines.rss);
}
if (sections.has("rebuild")) rows.push(...(await benchRebuild()));
if (sections.has("rollout")) {
  const rolled = await benchRollout();
  rows.push(...rolled.rows);
  notes.push(...rolled.notes);
}

const result: BenchResult = resultSchema.parse({
  date: new Date().toISOString(),
  commit: execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
  machine: await machine(),
  scale: SCALE,
  rounds: ROUNDS,
  rows,
  notes,
  peakRssMiB: rss,
});
const baseline = existsSync(BASELINE) ? resultSchema.parse(JSON.parse(readFileSync(BASELINE, "utf8"))) : null;
const results = path.join(ROOT, "bench-results");
mkdirSync(results, { recursive: true });
const text = JSON.stringify(result, null, 2) + "\n";
writeFileSync(path.join(results, `${result.date.replace(/[:.]/g, "-")}.json`), text);
writeFileSync(path.join(results, "latest.json"), text);
if (flags.has("--save-baseline")) {
  mkdirSync(path.dirname(BASELINE), { recursive: true });
  writeFileSync(BASELINE, text);
}
process.stdout.write(table(result, baseline && baseline.scale === result.scale ? baseline : null));
if (flags.has("--check") && rows.some((r) => verdict(r) === "MISSED")) process.exit(1);
