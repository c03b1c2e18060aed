/**
 * The load step: one checked read of the bundle, images into docker load (let finish only when
 * every byte matched), the source, compose files, data and cache mounts into the staging folder.
 */
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import {
  CACHE_MOUNTS_DIR,
  COMPOSE_DIR,
  DATA_VOLUMES_DIR,
  IMAGES_DIR,
  SOURCE_PATH,
  entryRank,
} from "../../bundle/layout.js";
import { damaged } from "../../bundle/bundle-reader.js";
import { unsafeEntry } from "../../bundle/entry-path.js";
import { volumeArchiveProblems } from "../../bundle/volume-archive.js";
import { type VerifiedBundle } from "../../bundle/verify.js";
import type { Reporter } from "../../report.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { formatBytes } from "../../util/format.js";
import { EntryReadStopped, ImageLoader, layersHostHas } from "../image-loader.js";
import { localLayerChains } from "../../docker/docker.js";
import { RECORD_DIR, readRecord } from "../install-record.js";
import { extractTarSafely } from "../safe-extract.js";
import { ReadChecks } from "../read-checks.js";
import { type DataPlan } from "../data.js";
import { type FolderLock } from "../folder-lock.js";
import { type InstallOptions, type InstallPlan, type Loaded } from "./types.js";

/** One read of the bundle: images to docker load, source and compose files into a staging folder. */
export async function loadAndStage(
  host: DockerHost,
  verified: VerifiedBundle,
  staging: string,
  needLoad: boolean,
  wantMounts: boolean,
  data: DataPlan,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<{ loaded: string[]; filesChecked: number; registerMs: number }> {
  const manifest = verified.manifest;
  // On the classic image store, layers the host has need not be fed to docker load at all.
  const skip =
    needLoad && !host.containerdImageStore
      ? layersHostHas(manifest, await localLayerChains(host, signal))
      : new Set<string>();
  const skippedBytes = manifest.files.filter((f) => skip.has(f.path)).reduce((sum, f) => sum + f.size, 0);
  if (skip.size)
    reporter.info(
      `images: ${skip.size} layers (${formatBytes(skippedBytes)}) are already on this host, not loaded again`,
    );
  const loader = needLoad ? new ImageLoader(host, manifest, signal) : undefined;
  // Each long step shows its own bytes, rate and time: the data first (it comes first), then the
  // images, whose clock starts with their first byte.
  let progress: ReturnType<Reporter["progress"]> | undefined;
  const imagesProgress = () =>
    (progress ??= needLoad
      ? reporter.progress("loading images", manifest.images.bytes - skippedBytes)
      : undefined);
  const wantData = (entryPath: string) => data.files.has(entryPath) || data.volumes.has(entryPath);
  const wantedData = manifest.files.filter((f) => wantData(f.path));
  let dataProgress = wantedData.length
    ? reporter.progress(
        "placing data",
        wantedData.reduce((sum, f) => sum + f.size, 0),
      )
    : undefined;
  let dataBytes = 0;
  const finishData = () => {
    dataProgress?.finish(`${wantedData.length} files, ${formatBytes(dataBytes)}`);
    dataProgress = undefined;
  };
  const reading = new ReadChecks(verified);
  try {
    // With the archive's index, what this install does not use is not even inflated (the layers
    // the host has, the installer). Without one every entry passes by and is held against the list.
    const wanted = (entryPath: string) =>
      wantData(entryPath) ||
      entryPath.startsWith(COMPOSE_DIR) ||
      entryPath === SOURCE_PATH ||
      (entryPath.startsWith(IMAGES_DIR) && !!loader && !skip.has(entryPath)) ||
      (entryPath.startsWith(CACHE_MOUNTS_DIR) && wantMounts);
    const index = manifest.archive;
    for await (const entry of verified.source.entries({
      signal,
      ...(index ? { index, want: wanted } : {}),
    })) {
      if (entryRank(entry.path) > entryRank(CACHE_MOUNTS_DIR)) break; // the installer binary and metadata: done
      // Nothing to load and no cache mount wanted: the rest of the bundle need not be read.
      if (!loader && !wantMounts && entryRank(entry.path) >= entryRank(IMAGES_DIR)) break;
      reading.listed(entry);
      if (entry.path.startsWith(IMAGES_DIR)) {
        if (!loader || skip.has(entry.path)) continue;
        finishData();
        const images = imagesProgress();
        await loader.add(reading.use(entry), (b) => images?.update(b));
      } else if (entry.path === SOURCE_PATH) {
        // Checked whole before it is unpacked: a damaged tar must read as damaged, not as a bad header.
        const sourceTar = path.join(staging, "source.tar");
        await fs.writeFile(sourceTar, reading.use(entry).stream);
        // Before any image loads: every link the folder will hold, followed through the others
        // (staging is DIR/.sealift/staging).
        const dir = path.dirname(path.dirname(staging));
        await extractTarSafely(createReadStream(sourceTar), path.join(staging, "src"), signal, dir);
        await fs.rm(sourceTar);
      } else if (
        (entry.path.startsWith(COMPOSE_DIR) ||
          entry.path.startsWith(CACHE_MOUNTS_DIR) ||
          wantData(entry.path)) &&
        entry.type === "file"
      ) {
        const target = path.join(staging, entry.path);
        await fs.mkdir(path.dirname(target), { recursive: true });
        const counted = new Transform({
          transform: (chunk: Buffer, _encoding, callback) => {
            if (wantData(entry.path)) dataProgress?.update((dataBytes += chunk.length));
            callback(null, chunk);
          },
        });
        await pipeline(reading.use(entry).stream, counted, createWriteStream(target), { signal });
        // docker cp unpacks it as root: what it holds is judged before any image loads.
        if (entry.path.startsWith(DATA_VOLUMES_DIR)) {
          const [first] = await volumeArchiveProblems(createReadStream(target), signal);
          if (first) throw unsafeEntry(`${entry.path}: ${first.name}`, first.why, "volume");
        }
      }
    }
    // Only now, with every file read checked, may docker load see the end of its input.
    reading.requireAll(needLoad ? skip : null, wantMounts, new Set([...data.files, ...data.volumes]));
    await reading.wholeArchive();
    if (!needLoad && !wantMounts && verified.sums && !verified.sidecarChecked)
      reporter.info(
        "checked: what this install uses (compose files, source); the rest of the bundle was not read: " +
          (verified.source.kind === "directory"
            ? "--verify-only checks every file"
            : "a .sha256 beside it, or --verify-only, checks every byte"),
      );
    const inputEnded = performance.now();
    const loaded = loader ? await loader.finish() : [];
    finishData();
    imagesProgress()?.finish(`${loaded.length} images, ${formatBytes(loader?.bytes ?? 0)}`);
    return { loaded, filesChecked: reading.checked, registerMs: Math.round(performance.now() - inputEnded) };
  } catch (error) {
    // A cut-off input: docker load registers nothing from it.
    if (loader) await loader.abort();
    if (!(error instanceof EntryReadStopped) || signal.aborted) throw error;
    // The read failed under an image entry (a part of a split bundle gone short, the medium
    // removed): the source names the part when it can, else the bundle is said to be damaged or cut.
    throw (
      (await verified.source.explainFailure?.().catch(() => undefined)) ??
      damaged(verified.source.location, error.cause)
    );
  }
}

/**
 * One checked read of the bundle: images into `docker load` (let finish only when every byte
 * matched), the source, compose files and cache mounts into DIR/.sealift/staging. On failure the
 * folder is left as it was found.
 */
export async function loadStep(
  verified: VerifiedBundle,
  plan: InstallPlan,
  lock: FolderLock,
  options: InstallOptions,
): Promise<Loaded> {
  const { reporter, signal } = options;
  const manifest = verified.manifest;
  const dir = plan.answers.dir;
  const created = lock.created;
  const staging = path.join(dir, RECORD_DIR, "staging");
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging);
  if (!plan.images.missing.length)
    reporter.info(
      `images: all ${plan.images.present.length} already present with the same ID, nothing to load`,
    );
  const previous = readRecord(dir);
  const reuseMounts =
    previous?.status === "installed" &&
    previous.manifestSha256 === verified.manifestDigest &&
    (manifest.cache?.mounts ?? []).every((m) => previous.cache?.mounts.some((p) => p.id === m.id));
  const wantMounts = plan.answers.importCache && (manifest.cache?.mounts.length ?? 0) > 0 && !reuseMounts;
  try {
    const { loaded, filesChecked, registerMs } = await loadAndStage(
      plan.host,
      verified,
      staging,
      plan.images.missing.length > 0,
      wantMounts,
      plan.data,
      reporter,
      signal,
    );
    if (verified.sums) verified.filesChecked += filesChecked;
    // .env belongs to the operator (the answers): a copy in the source is never placed.
    await fs.rm(path.join(staging, "src", ".env"), { force: true });
    return { staging, loaded, previous, reuseMounts, registerMs };
  } catch (error) {
    // Nothing was installed yet: leave the folder as it was found (or not there at all).
    await fs.rm(created ? dir : staging, { recursive: true, force: true });
    throw error;
  }
}
