/**
 * The benchmark's harness: rounds where sealift and the users' way (and the floor) run alternately,
 * each row typed by its unit, kept with every round (min, median, max: these machines are shared and
 * noisy, the spread is the figure), its goal checked, and the run compared with a committed baseline.
 * The sections (pack-install.ts, engines.ts, rebuild.ts, rollout.ts) measure; this file only counts.
 */
import { z } from "zod";

export const unitSchema = z.enum(["ms", "bytes"]);
export type Unit = z.infer<typeof unitSchema>;

export const seriesSchema = z.object({
  rounds: z.array(z.number()),
  min: z.number(),
  median: z.number(),
  max: z.number(),
});
export type Series = z.infer<typeof seriesSchema>;

/** A row's goal: its ratio (the medians: sealift / the other way) at most this. */
export const goalSchema = z.object({ ratioAtMost: z.number() });
export type Goal = z.infer<typeof goalSchema>;

export const rowSchema = z.object({
  section: z.string(),
  measure: z.string(),
  unit: unitSchema,
  sealift: seriesSchema,
  /** What sealift is measured against: `against` names it (the users' way, the floor...). */
  other: seriesSchema,
  against: z.string(),
  ratio: z.number(),
  goal: goalSchema.nullable(),
  note: z.string().optional(),
});
export type Row = z.infer<typeof rowSchema>;

export const resultSchema = z.object({
  date: z.string(),
  commit: z.string(),
  machine: z.object({ cores: z.number(), memory: z.string(), disk: z.string(), docker: z.string() }),
  scale: z.string(),
  rounds: z.number(),
  rows: z.array(rowSchema),
  notes: z.array(z.string()),
  peakRssMiB: z.record(z.string(), z.number()),
});
export type BenchResult = z.infer<typeof resultSchema>;

export function series(values: readonly number[]): Series {
  if (values.length === 0) throw new Error("a series of no rounds");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return {
    rounds: [...values],
    min: sorted[0]!,
    median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    max: sorted.at(-1)!,
  };
}

export const median = (values: readonly number[]) => series(values).median;

/** A row from the rounds of both sides; a single figure (a size) is a series of one. */
export function row(
  fields: Omit<Row, "sealift" | "other" | "ratio" | "goal"> & {
    sealift: readonly number[];
    other: readonly number[];
    /** The ratio's bound ("<= 0.5" in the table), or none: a row that only informs. */
    goal?: number;
  },
): Row {
  const sealift = series(fields.sealift);
  const other = series(fields.other);
  return {
    ...fields,
    sealift,
    other,
    ratio: sealift.median / other.median,
    goal: fields.goal === undefined ? null : { ratioAtMost: fields.goal },
  };
}

/**
 * `rounds` rounds of the named ways, each round in another order (the first way first in round 1,
 * the second in round 2...), so that neither side always runs on a warm or a cold machine. Each
 * way measures itself and returns its figure; `prepare` runs before each way (a fresh host). Their
 * figures by name, a round each, and a line per round on stderr.
 */
export async function alternately<K extends string>(
  label: string,
  rounds: number,
  ways: Record<K, () => Promise<number>>,
  options: { prepare?: (way: K) => Promise<void>; unit?: Unit } = {},
): Promise<Record<K, number[]>> {
  const names = Object.keys(ways) as K[];
  const figures = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    for (const name of order) {
      await options.prepare?.(name);
      figures[name].push(await ways[name]());
    }
    process.stderr.write(
      `${label} round ${round + 1}: ${names.map((n) => `${n} ${formatValue(figures[n].at(-1)!, options.unit ?? "ms")}`).join(", ")}\n`,
    );
  }
  return figures;
}

/** Whether the row meets its goal: "met", "MISSED", or "-" (no goal). */
export function verdict(r: Row): "met" | "MISSED" | "-" {
  if (!r.goal) return "-";
  return r.ratio <= r.goal.ratioAtMost ? "met" : "MISSED";
}

export function formatValue(value: number, unit: Unit): string {
  if (unit === "ms") return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
  if (value < 2 ** 20) return `${(value / 2 ** 10).toFixed(1)} KiB`;
  return `${(value / 2 ** 20).toFixed(1)} MiB`;
}

const formatRatio = (ratio: number) => (ratio < 0.01 ? ratio.toPrecision(2) : ratio.toFixed(2));

/** min / median / max, or the one figure. */
function spread(s: Series, unit: Unit): string {
  if (s.rounds.length === 1) return formatValue(s.median, unit);
  return `${formatValue(s.min, unit)} / **${formatValue(s.median, unit)}** / ${formatValue(s.max, unit)}`;
}

/**
 * The run as markdown: each row's spread on both sides, its ratio and goal and whether it is met,
 * and, with a baseline, the ratio then (a row whose ratio grew by more than the spread of its
 * rounds is marked).
 */
export function table(result: BenchResult, baseline: BenchResult | null): string {
  const before = new Map(baseline?.rows.map((r) => [`${r.section}/${r.measure}`, r]) ?? []);
  const lines = [
    `Machine: ${result.machine.cores} cores, ${result.machine.memory}, disk ${result.machine.disk}, Docker ${result.machine.docker}; ` +
      `fixture ${result.scale}; ${result.rounds} rounds (min / **median** / max); commit ${result.commit}.` +
      (baseline ? ` Baseline: ${baseline.date.slice(0, 10)}, commit ${baseline.commit}.` : ""),
    "",
    "| measure | sealift | the other way | against | ratio | goal | | baseline ratio |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...result.rows.map((r) => {
      const then = before.get(`${r.section}/${r.measure}`);
      const worse = then && r.ratio > then.ratio * (r.sealift.max / Math.max(r.sealift.min, 1e-9));
      return (
        `| ${r.measure} | ${spread(r.sealift, r.unit)} | ${spread(r.other, r.unit)} | ${r.against} | ${formatRatio(r.ratio)} | ` +
        `${r.goal ? `<= ${r.goal.ratioAtMost}` : "-"} | ${verdict(r)} | ${then ? `${formatRatio(then.ratio)}${worse ? " (worse beyond the spread)" : ""}` : "-"} |`
      );
    }),
    "",
    ...result.rows.filter((r) => r.note).map((r) => `- ${r.measure}: ${r.note}`),
    ...result.notes.map((n) => `- ${n}`),
    ...Object.entries(result.peakRssMiB).map(
      ([step, mib]) => `- peak RSS of sealift ${step}: ${mib.toFixed(0)} MiB`,
    ),
  ];
  const missed = result.rows.filter((r) => verdict(r) === "MISSED");
  lines.push(
    "",
    missed.length
      ? `Goals missed (${missed.length} of ${result.rows.filter((r) => r.goal).length}): ${missed.map((r) => r.measure).join("; ")}`
      : `Every goal met (${result.rows.filter((r) => r.goal).length}).`,
  );
  return lines.join("\n") + "\n";
}
