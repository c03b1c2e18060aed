/**
 * The installer's JSON documents, declared once: `install`, `status`, `rebuild`, `rollback`,
 * `uninstall` and `cache status` with --json, and every command's failure. The command layer prints
 * them through these schemas (cli/options.ts printJson), `sealift rollout` reads them back from each
 * host, the tests and the benchmark read them too.
 */
import { z } from "zod";
import { jsonDocuments } from "../util/json-output.js";
import { recordSchema } from "./install-record.js";

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

/** A command's answer on stdout: its success document (`schema`), its failure document, or null. */
function parseAnswer<T>(schema: z.ZodType<T>, stdout: string): T | FailureJson | null {
  for (const data of jsonDocuments(stdout)) {
    const ok = schema.safeParse(data);
    if (ok.success) return ok.data;
    const failed = failureJsonSchema.safeParse(data);
    if (failed.success) return failed.data;
  }
  return null;
}

/** The installer's answer to an install. */
export function parseInstallJson(stdout: string): InstallJson | FailureJson | null {
  return parseAnswer(installJsonSchema, stdout);
}

const portJson = z.object({ hostIp: z.string(), hostPort: z.string(), containerPort: z.string() });
export const containerJson = z.object({
  id: z.string(),
  name: z.string(),
  service: z.string(),
  image: z.string(),
  imageId: z.string(),
  workingDir: z.string().nullable(),
  status: z.string(),
  health: z.string().nullable(),
  exitCode: z.number(),
  ports: z.array(portJson),
});

/**
 * `status --json`: the installed release, its services (one container each), its images, any
 * cut-off install. Fields added after 0.1 have defaults, so an older kept installer's answer reads.
 */
export const statusJsonSchema = z.object({
  ok: z.literal(true),
  record: recordSchema,
  /** One container per service: the one that runs (or the newest). */
  containers: z.array(containerJson),
  /** Other containers of a service: ones compose was replacing when it was cut off. */
  replaced: z.array(containerJson).default([]),
  images: z.array(
    z.object({ service: z.string(), image: z.string(), imageId: z.string(), present: z.boolean() }),
  ),
  healthy: z.boolean(),
  /** An install that was cut off (a power cut, kill -9): what it was doing, and the fix. */
  interrupted: z
    .object({
      message: z.string(),
      hint: z.string(),
      stage: z.string(),
      from: z.string().nullable(),
      to: z.string(),
    })
    .nullable()
    .default(null),
  /** An install, rebuild, rollback or uninstall running on the folder now. */
  busy: z.string().nullable().default(null),
});
export type StatusJson = z.infer<typeof statusJsonSchema>;

/** The installer's answer to `status`. */
export function parseStatusJson(stdout: string): StatusJson | FailureJson | null {
  return parseAnswer(statusJsonSchema, stdout);
}

/** `rebuild --json`: each built service's build steps (cached or not) and where its log is. */
export const rebuildJsonSchema = z.object({
  ok: z.literal(true),
  project: z.string(),
  services: z.array(
    z.object({
      service: z.string(),
      image: z.string(),
      steps: z.array(z.object({ name: z.string(), cached: z.boolean(), seconds: z.number().nullable() })),
      durationMs: z.number(),
      /** The build's whole log, kept in DIR/.sealift/logs/. */
      log: z.string(),
    }),
  ),
  durationMs: z.number(),
});
export type RebuildJson = z.infer<typeof rebuildJsonSchema>;

/** `rollback --json`: the release running again, the one it left, and its containers. */
export const rollbackJsonSchema = z.object({
  ok: z.literal(true),
  dir: z.string(),
  release: z.string(),
  from: z.string(),
  containers: z.array(containerJson),
});
export type RollbackJson = z.infer<typeof rollbackJsonSchema>;

/** `uninstall --json`: the app stopped; its files stay, its volumes unless asked. */
export const uninstallJsonSchema = z.object({
  ok: z.literal(true),
  project: z.string(),
  dir: z.string(),
  volumesRemoved: z.boolean(),
});
export type UninstallJson = z.infer<typeof uninstallJsonSchema>;

/**
 * `cache status`: the build cache the install imported (cache images and mounts, present or not),
 * Docker's disk usage, and the installed files changed since (the first build step each one redoes).
 */
export const cacheStatusSchema = z.object({
  kind: z.enum(["inline", "oci"]).nullable(),
  fitted: recordSchema.shape.cache.unwrap().shape.fitted.unwrap().nullable(),
  images: z.array(
    z.object({
      service: z.string(),
      stage: z.string(),
      image: z.string(),
      present: z.boolean(),
      bytes: z.number().nullable(),
      created: z.string().nullable(),
    }),
  ),
  mounts: z.array(z.object({ id: z.string(), bytes: z.number(), importedAt: z.string() })),
  dockerDiskUsage: z.string(),
  changes: z.array(
    z.object({
      file: z.string(),
      service: z.string(),
      stage: z.string(),
      step: z.string(),
      line: z.number(),
    }),
  ),
});
export type CacheStatus = z.infer<typeof cacheStatusSchema>;
export const cacheStatusJsonSchema = cacheStatusSchema.extend({ ok: z.literal(true) });
export type CacheStatusJson = z.infer<typeof cacheStatusJsonSchema>;
