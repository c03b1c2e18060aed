/** The commit step: the archive (or its parts) under its final name, with its .sha256. */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { PartsWriter } from "../../bundle/parts.js";
import { cancelled } from "../../errors.js";
import { type PackResult, type Target } from "./types.js";

/** The archive (or its parts) under its final name, with its .sha256 (or SHA256SUMS). */
export async function commitArchive(
  target: Target,
  parts: PartsWriter | undefined,
  sha256: string,
  signal: AbortSignal,
): Promise<Pick<PackResult, "archive" | "sidecar" | "parts">> {
  if (signal.aborted) throw cancelled("pack was cancelled");
  if (parts) {
    const split = await parts.commit();
    return { archive: split.index, sidecar: split.sums, parts: split.parts };
  }
  await fs.rename(target.partial, target.archive);
  const sidecarPartial = `${target.partial}.sha256`;
  await fs.writeFile(sidecarPartial, `${sha256}  ${path.basename(target.archive)}\n`);
  await fs.rename(sidecarPartial, target.sidecar);
  return { archive: target.archive, sidecar: target.sidecar };
}
