/** The data files and volumes into the archive; a delta leaves out what its base placed unchanged. */
import { createReadStream } from "node:fs";
import type { BundleWriter } from "../../bundle/bundle-writer.js";
import { DATA_VOLUMES_DIR } from "../../bundle/layout.js";
import { dataBundlePath, type DataRecord } from "../../bundle/manifest.js";
import { SealiftError } from "../../errors.js";
import { formatBytes } from "../../util/format.js";
import { tarContentSha256 } from "../delta.js";
import { sha256File } from "../../util/hash-tap.js";
import { type DataSelection, type VolumeArchive } from "../data.js";
import { type PackOptions, type Project } from "./types.js";

/**
 * The data files and volumes, into the archive after the source; in a delta, what the base release
 * placed with the same content is left out. Returns the manifest's record.
 */
export async function addData(
  writer: BundleWriter,
  data: DataSelection,
  volumes: readonly VolumeArchive[],
  base: Project["base"],
  options: PackOptions,
): Promise<DataRecord | undefined> {
  if (!data.files.length && !volumes.length) return undefined;
  const { reporter } = options;
  const inBase = new Map((base?.manifest.data?.files ?? []).map((f) => [f.path, f]));
  const record: DataRecord = { files: [], volumes: [] };
  const total = data.files.reduce((sum, f) => sum + f.size, 0);
  const progress = reporter.progress("adding data", total);
  let done = 0;
  let leftBytes = 0;
  for (const file of data.files) {
    // Hashed first only where the base release has a file of that size at that path.
    const before = inBase.get(file.path);
    const known = before?.size === file.size ? await sha256File(file.absolute) : undefined;
    const shipped = !known || known !== before?.sha256;
    let sha256 = known;
    if (shipped) {
      const stream = createReadStream(file.absolute, { highWaterMark: 1024 * 1024 });
      const start = done;
      stream.on("data", () => progress.update(start + stream.bytesRead));
      const added = await writer.addStream(dataBundlePath(file.path), file.size, stream, 0o644);
      if (known && added.sha256 !== known)
        throw new SealiftError("DATA_NOT_FOUND", `data file ${file.path} changed while it was packed`, {
          hint: "stop whatever writes to it and pack again",
        });
      sha256 = added.sha256;
    } else leftBytes += file.size;
    done += file.size;
    progress.update(done);
    record.files.push({ path: file.path, size: file.size, sha256: sha256!, shipped });
  }
  const left = record.files.filter((f) => !f.shipped).length;
  progress.finish(
    `${data.files.length} files, ${formatBytes(total - leftBytes)}` +
      (left
        ? ` (${left} files, ${formatBytes(leftBytes)}, unchanged since release ${base!.manifest.project.release}, left out)`
        : ""),
  );
  for (const volume of volumes) {
    const contentSha256 = await tarContentSha256(volume.file);
    const unchanged =
      base?.manifest.data?.volumes.find((v) => v.key === volume.key)?.contentSha256 === contentSha256;
    const bundlePath = `${DATA_VOLUMES_DIR}${volume.key}.tar`;
    if (unchanged)
      reporter.info(
        `volume ${volume.key}: unchanged since release ${base!.manifest.project.release}, left out`,
      );
    else await writer.addStream(bundlePath, volume.bytes, createReadStream(volume.file), 0o644);
    record.volumes.push({
      key: volume.key,
      path: unchanged ? null : bundlePath,
      bytes: volume.bytes,
      contentSha256,
    });
  }
  return record;
}
