/**
 * The install record, DIR/.sealift/install.json: which release is installed from which bundle,
 * with which answers (secrets left out). Written only once the app is healthy (or marked failed).
 */
import { promises as fs } from "node:fs";
import { readStateJson } from "../util/read-bounded.js";
import path from "node:path";
import { z } from "zod";
import { resolveComposeProject, type ComposeModel } from "../compose/compose-project.js";
import { requireCompose } from "../docker/compose.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { STATE_DIR } from "../bundle/layout.js";
import { cacheImageSchema } from "../bundle/manifest.js";
import { requireRealFolder, writeDurably } from "../util/durable-write.js";

export const RECORD_DIR = STATE_DIR;
export const RECORD_FILE = "install.json";

export const recordSchema = z.object({
  project: z.string(),
  release: z.string(),
  manifestSha256: z.string(),
  /** When the release was packed (its manifest's createdAt): a release packed earlier is a downgrade. */
  packedAt: z.string().optional(),
  status: z.enum(["installed", "failed"]),
  installedAt: z.string(),
  bundle: z.string(),
  dir: z.string(),
  composeFiles: z.array(z.string()),
  /** The profiles it runs with (as packed). */
  profiles: z.array(z.string()).default([]),
  composeFlavour: z.string(),
  services: z.array(
    z.object({
      name: z.string(),
      image: z.string(),
      /** The config digest: the image's identity on any host. */
      imageId: z.string(),
      /** The ID this host's Docker gives it (a manifest digest on the containerd store). */
      hostId: z.string().optional(),
      built: z.boolean(),
    }),
  ),
  answers: z.object({ importCache: z.boolean(), env: z.record(z.string(), z.string()) }),
  cache: z
    .object({
      images: z.array(
        cacheImageSchema.extend({
          /** The ID this host's Docker gives it (a manifest digest on the containerd store). */
          hostId: z.string().optional(),
        }),
      ),
      mounts: z.array(z.object({ id: z.string(), bytes: z.number(), importedAt: z.string() })),
      /** How rebuilds read the layer cache here (absent: installed by an older sealift, "inline"). */
      kind: z.enum(["inline", "oci"]).optional(),
      /** The install built each service once to fit the cache to this engine's BuildKit. */
      fitted: z
        .object({
          engine: z.string(),
          packedOn: z.string(),
          at: z.string(),
          steps: z.number(),
          ran: z.number(),
        })
        .optional(),
    })
    .optional(),
  /** The data files placed (by path): what they held, their size and time then (a quick check). */
  data: z
    .object({
      files: z.record(z.string(), z.object({ sha256: z.string(), size: z.number(), mtimeMs: z.number() })),
    })
    .optional(),
  previous: z.array(z.object({ release: z.string(), manifestSha256: z.string(), installedAt: z.string() })),
  /** The last release that was rolled back (it did not become healthy, or on request). */
  lastFailure: z.object({ release: z.string(), at: z.string(), message: z.string() }).optional(),
});
export type InstallRecord = z.infer<typeof recordSchema>;

/** Where an install keeps its installer (DIR/.sealift/install): the one its hints and summary name. */
export function keptInstallerPath(dir: string): string {
  return path.join(dir, RECORD_DIR, "install");
}

export function recordPath(dir: string): string {
  return path.join(dir, RECORD_DIR, RECORD_FILE);
}

export function readRecord(dir: string): InstallRecord | null {
  const file = recordPath(dir);
  const hint =
    "it was edited or damaged; install the release's bundle again to write it anew (status still shows what the engine runs)";
  const json = readStateJson(file, "the install record", hint);
  if (json === null) return null;
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success)
    throw new SealiftError("STATE_DAMAGED", `the install record ${file} is not one sealift wrote`, {
      hint,
      details: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`),
    });
  return parsed.data;
}

export function requireRecord(dir: string): InstallRecord {
  const record = readRecord(dir);
  if (!record) {
    throw new SealiftError(
      "NOT_INSTALLED",
      `nothing is installed in ${dir} (no ${path.join(RECORD_DIR, RECORD_FILE)})`,
      {
        hint: "give the install folder with --dir",
      },
    );
  }
  return record;
}

export async function writeRecord(dir: string, record: InstallRecord): Promise<string> {
  const file = recordPath(dir);
  await requireRealFolder(path.dirname(file));
  await fs.mkdir(path.dirname(file), { recursive: true });
  return writeDurably(file, JSON.stringify(record, null, 2) + "\n", 0o600);
}

/** The installed project as this host's compose reads it (its files, `.env` and profiles). */
export function installedModel(
  host: DockerHost,
  dir: string,
  record: Pick<InstallRecord, "composeFiles" | "profiles">,
  signal?: AbortSignal,
): Promise<ComposeModel> {
  return resolveComposeProject(requireCompose(host), dir, {
    files: record.composeFiles,
    profiles: record.profiles,
    ...(signal ? { signal } : {}),
  });
}
