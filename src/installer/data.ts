/**
 * The bundle's data at install: files not in git (model weights...) land at their path in the
 * install folder, read from the bundle only where the folder does not already hold them (a size,
 * time and recorded digest check, as rsync's); named volumes are filled only where they do not
 * exist yet or are empty, never over data the app wrote (upgrades keep it).
 */
import {
  VOLUME_MOUNT,
  copyInto,
  copyOutOf,
  createVolume,
  volumeMountpoint,
  withVolumeContainer,
} from "../docker/docker.js";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import tar from "tar-stream";
import { dataBundlePath, type Manifest } from "../bundle/manifest.js";
import type { ComposeModel } from "../compose/compose-model.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { sha256File } from "../util/hash-tap.js";
import type { Reporter } from "../report.js";
import { formatBytes } from "../util/format.js";
import type { InstallRecord } from "./install-record.js";

export interface DataPlan {
  /** Bundle paths of the data files to read and place (the others are in place already). */
  files: Set<string>;
  /** Bundle paths of the volume archives to read: volumes missing or possibly empty here. */
  volumes: Set<string>;
  /** The engine's name of each shipped volume on this host, by key. */
  volumeNames: Map<string, string>;
  /** Data files already in the folder as the bundle has them. */
  inPlace: number;
}

/** Each placed data file as the record keeps it: what it held and its size and time then. */
export type PlacedData = NonNullable<InstallRecord["data"]>["files"];

async function inPlace(
  dir: string,
  file: NonNullable<Manifest["data"]>["files"][number],
  recorded: PlacedData | undefined,
): Promise<boolean> {
  const stat = await fs.lstat(path.join(dir, file.path)).catch(() => null);
  if (!stat?.isFile() || stat.size !== file.size) return false;
  const known = recorded?.[file.path];
  if (known && known.sha256 === file.sha256 && known.size === stat.size && known.mtimeMs === stat.mtimeMs)
    return true;
  return (await sha256File(path.join(dir, file.path))) === file.sha256;
}

/**
 * Which data files and volumes this install reads from the bundle. A delta's data left to its base
 * must be in the folder already: otherwise DATA_MISSING (exit 4), before anything changes.
 */
export async function planData(
  host: DockerHost,
  manifest: Manifest,
  dir: string,
  record: InstallRecord | null,
  model: ComposeModel | null,
  signal: AbortSignal,
): Promise<DataPlan> {
  const plan: DataPlan = { files: new Set(), volumes: new Set(), volumeNames: new Map(), inPlace: 0 };
  const data = manifest.data;
  if (!data) return plan;
  const missing: string[] = [];
  for (const file of data.files) {
    if (await inPlace(dir, file, record?.data?.files)) plan.inPlace++;
    else if (file.shipped) plan.files.add(dataBundlePath(file.path));
    else missing.push(file.path);
  }
  if (missing.length)
    throw new SealiftError(
      "DATA_MISSING",
      `${missing.length} data file(s) this update leaves to release ${manifest.base?.release ?? "(its base)"} are not in ${dir} as that release placed them`,
      {
        hint: `install release ${manifest.base?.release ?? "its base"} there first, or the complete bundle of ${manifest.project.release}`,
        details: missing.slice(0, 10),
      },
    );
  for (const volume of data.volumes) {
    const name = model?.volumes[volume.key]?.name ?? `${manifest.project.name}_${volume.key}`;
    plan.volumeNames.set(volume.key, name);
    if (!volume.path) continue; // unchanged since the base release: filled then, if it was empty
    if ((await volumeState(host, name, signal)) !== "full") plan.volumes.add(volume.path);
  }
  return plan;
}

/**
 * "missing", "empty", "full", or "unknown" (it exists; its mount point cannot be read from here, so
 * emptiness is asked of the engine once the images are loaded).
 */
async function volumeState(
  host: DockerHost,
  name: string,
  signal: AbortSignal,
): Promise<"missing" | "empty" | "full" | "unknown"> {
  const mountpoint = await volumeMountpoint(host, name, signal);
  if (mountpoint === null) return "missing";
  const entries = await fs.readdir(mountpoint).catch(() => null);
  if (!entries) return "unknown";
  return entries.length ? "full" : "empty";
}

/** True when the volume holds any file, asked through a container created (not started) on it. */
async function volumeHoldsData(host: DockerHost, container: string, signal: AbortSignal): Promise<boolean> {
  const copy = copyOutOf(host, container, VOLUME_MOUNT, signal);
  const extract = tar.extract();
  copy.stdout.pipe(extract as unknown as NodeJS.WritableStream);
  let found = false;
  try {
    for await (const entry of extract) {
      const rel = entry.header.name.replace(/^\.?\/?sealift-volume\/?/, "");
      entry.resume();
      if (rel) {
        found = true;
        break;
      }
    }
  } finally {
    copy.stdout.destroy();
    await copy.done.catch(() => undefined);
  }
  return found;
}

/**
 * Fills each shipped volume that does not exist yet or is empty from its staged archive (created
 * with compose's labels, so compose takes it as its own); a volume that holds data is kept as it is.
 */
export async function fillVolumes(
  host: DockerHost,
  manifest: Manifest,
  plan: DataPlan,
  staging: string,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<void> {
  for (const volume of manifest.data?.volumes ?? []) {
    const name = plan.volumeNames.get(volume.key)!;
    if (!volume.path || !plan.volumes.has(volume.path)) {
      reporter.info(`volume ${volume.key} (${name}): kept as it is${volume.path ? " (it holds data)" : ""}`);
      continue;
    }
    const exists = (await volumeMountpoint(host, name, signal)) !== null;
    if (!exists)
      await createVolume(
        host,
        name,
        { "com.docker.compose.project": manifest.project.name, "com.docker.compose.volume": volume.key },
        signal,
      );
    const image = manifest.services[0]!.image;
    await withVolumeContainer(
      host,
      { name, image, readOnly: false, purpose: "volume-fill" },
      async (container) => {
        if (exists && (await volumeHoldsData(host, container, signal))) {
          reporter.info(`volume ${volume.key} (${name}): kept as it is (it holds data)`);
          return;
        }
        const status = reporter.status(`filling volume ${volume.key}`);
        await copyInto(host, container, VOLUME_MOUNT, createReadStream(path.join(staging, volume.path!)), {
          signal,
          failureCode: "LOAD_FAILED",
          failureHint: "check the engine's free space and log, then run the installer again",
        });
        status.finish(`${formatBytes(volume.bytes)} into ${name}`);
      },
      signal,
    );
  }
}

/** What the record keeps of each data file placed: its digest, size and time, for the next quick check. */
export async function placedData(manifest: Manifest, dir: string): Promise<PlacedData> {
  const placed: PlacedData = {};
  for (const file of manifest.data?.files ?? []) {
    const stat = await fs.stat(path.join(dir, file.path)).catch(() => null);
    if (stat) placed[file.path] = { sha256: file.sha256, size: stat.size, mtimeMs: stat.mtimeMs };
  }
  return placed;
}
