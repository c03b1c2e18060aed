/**
 * `pack --json`: the one JSON document `sealift pack` prints on stdout, declared once. The command
 * layer prints it; release scripts and the tests read it with parsePackJson.
 */
import { z } from "zod";
import { jsonDocuments } from "../util/json-output.js";

export const packJsonSchema = z.object({
  ok: z.literal(true),
  /** The .tar.gz; for a split bundle, the parts' index (what the installer takes). */
  archive: z.string(),
  sidecar: z.string(),
  /** The parts, in order, when packed with --split. */
  parts: z.array(z.string()).optional(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  release: z.string(),
  images: z.array(z.object({ service: z.string(), image: z.string(), id: z.string() })),
  durationsMs: z.object({ build: z.number(), write: z.number(), total: z.number() }),
  warnings: z.array(z.object({ code: z.string(), message: z.string() })),
});
export type PackJson = z.infer<typeof packJsonSchema>;

/** pack's success document from its stdout; throws (saying what is off) when it is not one. */
export function parsePackJson(stdout: string): PackJson {
  const [document] = jsonDocuments(stdout);
  return packJsonSchema.parse(document);
}

/** `keygen --json`: where the key pair was written, and the key's id. */
export const keygenJsonSchema = z.object({
  ok: z.literal(true),
  privateKey: z.string(),
  publicKey: z.string(),
  keyId: z.string(),
});
export type KeygenJson = z.infer<typeof keygenJsonSchema>;
