/** Where the archive goes, and room for it there. */
import path from "node:path";
import { bundleBaseName } from "../../bundle/layout.js";
import { SealiftError } from "../../errors.js";
import { formatBytes } from "../../util/format.js";
import { freeBytes } from "../../util/disk.js";
import { imagesSize } from "../images.js";
import { type Built, type PackOptions, type Project } from "./types.js";

export async function checkFreeSpace(outDir: string, needed: number): Promise<void> {
  const free = await freeBytes(outDir);
  if (free !== null && free < needed) {
    throw new SealiftError(
      "DISK_FULL",
      `not enough free space in ${outDir}: the archive needs about ${formatBytes(needed)}, ${formatBytes(free)} is free`,
      { hint: "free some space or choose another folder with --out" },
    );
  }
}

/** Where the archive goes: its final name, its partial name, and room for it there. */
export async function archiveTarget(project: Project, built: Built, options: PackOptions) {
  const outDir = path.resolve(options.outDir);
  const topDir = bundleBaseName(
    project.name,
    project.now,
    options.outputTemplate ?? (project.base ? "{name}-delta-{date}" : "{name}-complete-{date}"),
  );
  const archive = path.join(outDir, `${topDir}.tar.gz`);
  // gzip keeps about half of typical image data; the installer compresses to about a third.
  const dataBytes = project.data.files.reduce((sum, f) => sum + f.size, 0);
  await checkFreeSpace(
    outDir,
    Math.round(imagesSize(built.resolved) * 0.5 + built.installerSize * 0.4 + dataBytes),
  );
  return {
    outDir,
    topDir,
    archive,
    sidecar: `${archive}.sha256`,
    partial: path.join(outDir, `.${topDir}.tar.gz.partial-${process.pid}`),
  };
}
