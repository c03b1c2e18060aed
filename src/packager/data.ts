/**
 * Data that is not in git: the files a project's bind mounts need (model weights in a gitignored
 * folder, Git LFS files) and named volumes filled on this machine. What travels is what the project
 * asks for (`pack --data` / `--volume`, or `x-sealift: {data, volumes}` in its compose file); what a
 * bind mount needs and is not shipped is named in a warning.
 */
import { VOLUME_MOUNT, copyOutOf, volumeMountpoint, withVolumeContainer } from "../docker/docker.js";
import { git } from "./source.js";
import type { WarningCode } from "../warnings.js";
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { volumeArchiveProblems } from "../bundle/volume-archive.js";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import type { ComposeModel } from "../compose/compose-model.js";
import type { DockerHost } from "../docker/docker-host.js";
import { inStateDir } from "../bundle/layout.js";
import { SealiftError } from "../errors.js";
import { formatBytes } from "../util/format.js";
import { walkTree } from "../util/walk-tree.js";

/** A file that travels as data: its path in the project (and in the install folder). */
export interface DataFile {
  path: string;
  size: number;
  /** Where it is on this machine. */
  absolute: string;
  /** Why it travels: asked for (--data, x-sealift) or found as a Git LFS file. */
  reason: "asked" | "lfs";
}

/** A bind mount's files that git does not hold and that are not shipped. */
export interface UnshippedData {
  service: string;
  /** The mount's source, relative to the project. */
  source: string;
  files: number;
  bytes: number;
  examples: string[];
}

export interface DataVolumeSpec {
  /** The volume's key in the compose file. */
  key: string;
  /** The engine's name for it on this machine (compose names it for the project). */
  engineName: string;
}

export interface DataSelection {
  files: DataFile[];
  volumes: DataVolumeSpec[];
  unshipped: UnshippedData[];
}

/** More files than this is a folder to pack as one archive of the app's own, not file by file. */
const MAX_DATA_FILES = 50_000;
const LFS_POINTER = "version https://git-lfs.github.com/spec/v1";
const VOLUME_KEY = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function insideProject(dir: string, given: string, what: string): string {
  const relative = path.relative(dir, path.resolve(dir, given)).split(path.sep).join("/");
  if (!relative || relative.startsWith("..") || path.isAbsolute(relative) || inStateDir(relative))
    throw new SealiftError(
      "USAGE",
      `${what} ${JSON.stringify(given)} is not inside the project folder ${dir}`,
      {
        hint: "name a file or folder of the project, relative to it (e.g. --data models)",
      },
    );
  return relative;
}

/**
 * Refuses a data path that the kernel resolves outside the project (a committed `etc -> /etc`
 * makes `etc/shadow` read the build machine's). A path the kernel lands inside passes, however it
 * went; else each longer part of it is resolved (realpath) until one lands outside: that link is
 * named. A part that does not exist ends the walk (filesAt says what is missing).
 */
async function requireResolvedInside(dir: string, relative: string): Promise<void> {
  const root = await fs.realpath(dir);
  const inside = (p: string) => p === root || p.startsWith(`${root}${path.sep}`);
  const whole = await fs.realpath(path.join(dir, relative)).catch(() => null);
  if (whole !== null && inside(whole)) return;
  const parts = relative.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const at = parts.slice(0, i).join("/");
    const real = await fs.realpath(path.join(dir, at)).catch(() => null);
    if (real === null) return;
    if (!inside(real)) return refuseOutside(dir, relative, at, whole ?? real);
  }
}

function refuseOutside(dir: string, relative: string, link: string, lands: string): never {
  throw new SealiftError(
    "DATA_OUTSIDE_PROJECT",
    `data path ${relative} leaves the project folder ${dir}: ${link} is a link, and the path lands at ${lands}`,
    {
      hint: "only files of the project travel as data: copy what the app needs into the project (e.g. models/), or drop the path from --data / x-sealift.data",
    },
  );
}

/** Every regular file at or below `relative` (a file or folder of the project); symlinks are left out. */
async function filesAt(dir: string, relative: string, skipped: string[]): Promise<string[]> {
  await requireResolvedInside(dir, relative);
  const absolute = path.join(dir, relative);
  const stat = await fs.lstat(absolute).catch(() => null);
  if (!stat)
    throw new SealiftError("DATA_NOT_FOUND", `data path ${relative} does not exist in ${dir}`, {
      hint: "create it on this machine first (e.g. download or generate the model files), or drop it from --data / x-sealift.data",
    });
  if (stat.isSymbolicLink()) {
    skipped.push(relative);
    return [];
  }
  if (stat.isFile()) return [relative];
  if (!stat.isDirectory()) {
    skipped.push(relative);
    return [];
  }
  const found: string[] = [];
  for await (const { rel, dirent } of walkTree(absolute, { skip: new Set([".git"]) })) {
    if (dirent.isDirectory() || dirent.name === ".git") continue;
    (dirent.isFile() ? found : skipped).push(`${relative}/${rel}`);
  }
  return found;
}

/** Git LFS files of the project (its `filter=lfs` paths), relative to the project. */
async function lfsFiles(dir: string, signal?: AbortSignal): Promise<string[]> {
  const listed = await git(dir, ["ls-files", "-z", "--", "."], signal);
  if (listed.exitCode !== 0 || !listed.stdout) return [];
  const attrs = await git(dir, ["check-attr", "-z", "--stdin", "filter"], signal, listed.stdout);
  if (attrs.exitCode !== 0) return [];
  const fields = attrs.stdout.split("\0");
  const found: string[] = [];
  for (let i = 0; i + 2 < fields.length; i += 3) if (fields[i + 2] === "lfs") found.push(fields[i]!);
  return found;
}

async function isLfsPointer(file: string): Promise<boolean> {
  const handle = await fs.open(file, "r").catch(() => null);
  if (!handle) return false;
  try {
    const head = Buffer.alloc(LFS_POINTER.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.toString("latin1") === LFS_POINTER;
  } finally {
    await handle.close();
  }
}

/** Files under a bind mount's source that git ignores (and so leaves out of the source). */
async function ignoredFiles(dir: string, source: string, signal?: AbortSignal): Promise<string[]> {
  const listed = await git(
    dir,
    ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", source],
    signal,
  );
  return listed.exitCode === 0 ? listed.stdout.split("\0").filter(Boolean) : [];
}

/**
 * What travels as data, and what a bind mount needs that does not: the paths asked for (flags and
 * x-sealift), Git LFS files (their content, never their pointers), the volumes asked for.
 */
export async function selectData(
  model: ComposeModel,
  asked: { data: readonly string[]; volumes: readonly string[]; inGit: boolean },
  warn: (code: WarningCode, message: string) => void,
  signal?: AbortSignal,
): Promise<DataSelection> {
  const dir = model.dir;
  const roots = [
    ...new Set([...asked.data, ...model.sealift.data].map((p) => insideProject(dir, p, "data path"))),
  ];
  const skipped: string[] = [];
  const chosen = new Map<string, DataFile["reason"]>();
  for (const root of roots) for (const file of await filesAt(dir, root, skipped)) chosen.set(file, "asked");
  for (const s of skipped)
    warn("DATA_SKIPPED", `data ${s} is a symlink or special file; only regular files travel as data`);

  if (asked.inGit) {
    const pointers: string[] = [];
    for (const file of await lfsFiles(dir, signal)) {
      if (await isLfsPointer(path.join(dir, file))) pointers.push(file);
      else if (!chosen.has(file)) chosen.set(file, "lfs");
    }
    if (pointers.length)
      throw new SealiftError(
        "DATA_LFS_POINTER",
        `${pointers.length} Git LFS file(s) hold only their pointer here, not their content`,
        {
          hint: "fetch their content first (`git lfs pull`, with git-lfs installed), then pack again",
          details: pointers.slice(0, 10),
        },
      );
  }
  if (chosen.size > MAX_DATA_FILES)
    throw new SealiftError(
      "DATA_TOO_MANY_FILES",
      `${chosen.size} data files; sealift ships at most ${MAX_DATA_FILES}`,
      {
        hint: "ship a folder of many small files as one archive the app unpacks, or as a named volume (--volume)",
      },
    );
  const files: DataFile[] = [];
  for (const [file, reason] of [...chosen].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const absolute = path.join(dir, file);
    files.push({ path: file, size: (await fs.stat(absolute)).size, absolute, reason });
  }

  const unshipped: UnshippedData[] = [];
  if (asked.inGit) {
    for (const service of model.services) {
      for (const mount of service.volumes.filter((m) => m.type === "bind")) {
        const source = path.relative(dir, path.resolve(dir, mount.source)).split(path.sep).join("/");
        if (source.startsWith("..") || path.isAbsolute(source)) continue; // host access, not data
        const missing = (await ignoredFiles(dir, source || ".", signal)).filter((f) => !chosen.has(f));
        if (!missing.length) continue;
        let bytes = 0;
        for (const f of missing) bytes += (await fs.stat(path.join(dir, f)).catch(() => null))?.size ?? 0;
        unshipped.push({
          service: service.name,
          source: source || ".",
          files: missing.length,
          bytes,
          examples: missing.slice(0, 3),
        });
      }
    }
  }

  const volumes: DataVolumeSpec[] = [];
  for (const key of new Set([...asked.volumes, ...model.sealift.volumes])) {
    const declared = model.volumes[key];
    if (!VOLUME_KEY.test(key) || !declared)
      throw new SealiftError("USAGE", `volume ${JSON.stringify(key)} is not a named volume of the project`, {
        hint: `name it as the compose file's top-level volumes: do (${Object.keys(model.volumes).join(", ") || "none"})`,
      });
    volumes.push({ key, engineName: declared.name });
  }
  return { files, volumes, unshipped };
}

/** The warning (or, strict, the error) for bind-mount data that would not travel. */
export function describeUnshipped(u: UnshippedData): string {
  return (
    `service ${u.service} mounts ./${u.source}, where ${u.files} file(s) (${formatBytes(u.bytes)}: ` +
    `${u.examples.join(", ")}${u.files > u.examples.length ? ", ..." : ""}) are not in git and not shipped; ` +
    `on the target the service would find them missing: ship them with --data ${u.source} or ` +
    `x-sealift: {data: [${u.source}]} in the compose file`
  );
}

export interface VolumeArchive {
  key: string;
  engineName: string;
  /** The content as a tar (paths relative to the volume's root), in the scratch folder. */
  file: string;
  bytes: number;
}

/**
 * A named volume's content, out of this machine's engine: a container that is created (never
 * started) from `image` with the volume mounted, and `docker cp` of its mount point as a tar.
 */
export async function exportVolume(
  host: DockerHost,
  volume: DataVolumeSpec,
  image: string,
  scratch: string,
  signal?: AbortSignal,
): Promise<VolumeArchive> {
  if ((await volumeMountpoint(host, volume.engineName, signal)) === null)
    throw new SealiftError(
      "DATA_VOLUME_MISSING",
      `volume ${volume.key} (${volume.engineName}) does not exist on this machine's engine`,
      {
        hint: "fill it on this machine first (run the app once, or copy the data in), or drop it from --volume / x-sealift.volumes",
      },
    );
  const file = path.join(scratch, `volume-${volume.key}.tar`);
  await withVolumeContainer(
    host,
    { name: volume.engineName, image, readOnly: true, purpose: "volume-export" },
    async (container) => {
      const copy = copyOutOf(host, container, VOLUME_MOUNT, signal);
      await Promise.all([
        rebaseTar(copy.stdout, `${VOLUME_MOUNT.slice(1)}/`, createWriteStream(file), signal),
        copy.done,
      ]);
    },
    signal,
  );
  // The installer refuses what it would not unpack as root into a volume: said here, at pack.
  const problems = await volumeArchiveProblems(createReadStream(file), signal);
  if (problems.length)
    throw new SealiftError(
      "DATA_VOLUME_UNSAFE",
      `volume ${volume.key} (${volume.engineName}) holds what an install will not unpack into a volume`,
      {
        hint: "only files, folders and links that stay inside the volume travel, without setuid or setgid bits: remove the others from the volume (or ship them in an image)",
        details: problems.slice(0, 10).map((p) => `${p.name}: ${p.why}`),
      },
    );
  return { key: volume.key, engineName: volume.engineName, file, bytes: (await fs.stat(file)).size };
}

/** Rewrites a tar with every path below `prefix` made relative to it (the folder entry itself dropped). */
async function rebaseTar(
  input: Readable,
  prefix: string,
  output: NodeJS.WritableStream,
  signal?: AbortSignal,
) {
  const extract = tar.extract();
  const pack = tar.pack();
  const written = pipeline(pack as unknown as Readable, output, { signal });
  input.pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const name = entry.header.name.replace(/^\.\//, "");
    const rel = name.startsWith(prefix) ? name.slice(prefix.length) : "";
    if (!rel) {
      entry.resume();
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const out = pack.entry({ ...entry.header, name: rel }, (error) => (error ? reject(error) : resolve()));
      (entry as unknown as Readable).pipe(out as unknown as NodeJS.WritableStream);
    });
  }
  pack.finalize();
  await written;
}
