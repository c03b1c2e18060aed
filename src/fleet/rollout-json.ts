/**
 * `rollout --json` and `rollout status --json`: one JSON record per host on its own line, declared
 * once. The command layer prints them through these schemas; the tests and the benchmark read them
 * back with parseRolloutJson and parseFleetStatusJson.
 */
import { z } from "zod";
import { failureJsonSchema } from "../installer/install-json.js";

const hostError = z.object({ code: z.string(), message: z.string(), hint: z.string().optional() });

export const hostOutcomeSchema = z.enum([
  "installed",
  "already",
  /** --copy-only: the host holds the bundle (sha256 checked there); nothing was installed. */
  "copied",
  "failed",
  "refused",
  "unreachable",
  "not-attempted",
]);
export type HostOutcome = z.infer<typeof hostOutcomeSchema>;

export const hostResultSchema = z.object({
  host: z.string(),
  address: z.string(),
  outcome: hostOutcomeSchema,
  release: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  error: hostError.nullable(),
  /** Bytes the operator sent this host (a copy relayed from another host costs the operator none). */
  bytesSent: z.number(),
  /** Where its copy of the bundle came from: "operator", another host's name, or "held already". */
  copiedFrom: z.string().nullable(),
  durationMs: z.number(),
  step: z.string(),
});
export type HostResult = z.infer<typeof hostResultSchema>;

export const fleetStatusSchema = z.object({
  host: z.string(),
  reachable: z.boolean(),
  release: z.string().nullable(),
  healthy: z.boolean(),
  /** An install cut off there (a power cut, a kill of the rollout): what it was doing. */
  interrupted: z.string().nullable(),
  bundles: z.array(z.string()),
  error: hostError.nullable(),
});
export type FleetStatus = z.infer<typeof fleetStatusSchema>;

/** One record per line, each through `schema` (what the command prints). */
export function jsonLines<T>(schema: z.ZodType<T>, records: readonly T[]): string {
  return records.map((r) => JSON.stringify(schema.parse(r)) + "\n").join("");
}

/** Each line's record; a failure document (the command's error, with --json) is not one. */
function parseLines<T>(schema: z.ZodType<T>, stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as unknown)
    .filter((document) => !failureJsonSchema.safeParse(document).success)
    .map((document) => schema.parse(document));
}

/** `rollout --json`'s records from its stdout; throws (saying what is off) on a line of another shape. */
export function parseRolloutJson(stdout: string): HostResult[] {
  return parseLines(hostResultSchema, stdout);
}

/** `rollout status --json`'s records from its stdout. */
export function parseFleetStatusJson(stdout: string): FleetStatus[] {
  return parseLines(fleetStatusSchema, stdout);
}
