/**
 * `install --json`: the one JSON document the installer prints on stdout, declared once. The
 * command layer prints it, `install rollout` reads it back from each host, the tests read it too.
 */
import { z } from "zod";
import { jsonDocuments } from "../util/json-output.js";

const errorJson = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  exitCode: z.number().int(),
});

export const installJsonSchema = z.object({
  ok: z.literal(true),
  project: z.string(),
  release: z.string(),
  manifestSha256: z.string(),
  verified: z.object({ files: z.number(), bytes: z.number(), archiveSidecar: z.boolean() }),
  /** With --check: whether an install would change anything (nothing was changed). */
  check: z.object({ changes: z.boolean() }).optional(),
  /** null with --verify-only and --check. */
  installed: z
    .object({
      dir: z.string(),
      /** Already installed and running as the bundle has it: nothing was changed. */
      unchanged: z.boolean(),
      record: z.string(),
      durationMs: z.number(),
      stepsMs: z.record(z.string(), z.number()),
      imagesLoaded: z.array(z.string()),
      imagesAlreadyPresent: z.array(z.string()),
      services: z.array(
        z.object({
          service: z.string(),
          status: z.string(),
          health: z.string().nullable(),
          ports: z.array(z.object({ hostIp: z.string(), hostPort: z.string(), containerPort: z.string() })),
        }),
      ),
    })
    .nullable(),
  warnings: z.array(z.object({ code: z.string(), message: z.string() })),
});
export type InstallJson = z.infer<typeof installJsonSchema>;

/** What every command prints with --json when it fails (cli/run-main.ts). */
export const failureJsonSchema = z.object({ ok: z.literal(false), error: errorJson });
export type FailureJson = z.infer<typeof failureJsonSchema>;

/** The installer's answer: its success document, its failure document, or null for anything else. */
export function parseInstallJson(stdout: string): InstallJson | FailureJson | null {
  for (const data of jsonDocuments(stdout)) {
    const ok = installJsonSchema.safeParse(data);
    if (ok.success) return ok.data;
    const failed = failureJsonSchema.safeParse(data);
    if (failed.success) return failed.data;
  }
  return null;
}
