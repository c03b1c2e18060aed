/**
 * `sealift pack`: compose project -> NAME-complete-YYYYMMDD.tar.gz (+ .sha256), in one stream.
 * The archive is written under a temporary name and renamed only when complete.
 */
import { createReadStream, createWriteStream, existsSync, promises as fs, readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createHashTap } from "../util/hash-tap.js";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { stringify as toYaml } from "yaml";
import tar from "tar-stream";
import { BundleWriter } from "../bundle/bundle-writer.js";
import { installerMembers } from "./installer-members.js";
import { PartsWriter } from "../bundle/parts.js";
import { checkRelativePath } from "../bundle/bundle-reader.js";
import {
  CACHE_MOUNTS_DIR,
  COMPOSE_DIR,
  DATA_VOLUMES_DIR,
  ENV_TEMPLATE_PATH,
  IMAGES_DIR,
  INSTALLER_PATH,
  OVERRIDE_PATH,
  README_PATH,
  SOURCE_PATH,
  BUNDLE_FORMAT,
  FORMAT_VERSION,
  DELTA_FORMAT_VERSION,
  bundleBaseName,
} from "../bundle/layout.js";
import { dataBundlePath, type DataRecord, type Manifest } from "../bundle/manifest.js";
import type { Reporter } from "../report.js";
import {
  composeInputs,
  normaliseProjectName,
  projectVariables,
  resolveComposeProject,
  type ComposeModel,
  type ProjectVariable,
} from "../compose/compose-project.js";
import { requireCompose } from "../docker/compose.js";
import { saveImages, type ImageInfo } from "../docker/docker.js";
import { detectDockerHost, type DockerHost } from "../docker/docker-host.js";
import { SealiftError, cancelled } from "../errors.js";
import { formatBytes } from "../util/format.js";
import { packageRoot } from "../util/package-root.js";
import { TOOL_VERSION } from "../version.js";
import {
  buildStageImages,
  exportCacheMounts,
  mountFileName,
  type MountArchive,
  type StageImage,
} from "./build-cache.js";
import { checkDockerfiles, resolveImages, targetArchitecture, type ResolvedService } from "./images.js";
import { lintProject } from "./lint.js";
import { baseFileSha256, blobsInBase, checkBase, readBase, tarContentSha256 } from "./delta.js";
import { sha256File } from "../util/sha256-file.js";
import {
  OCI_INDEX,
  SAVE_MANIFEST,
  digestOfName,
  layerBlobs,
  layersByTag,
  parseSaveManifest,
  type LayerBlob,
} from "../bundle/image-archive.js";
import { loadPrivateKey } from "../bundle/signature.js";
import { inspectGit, requireClean, writeSourceTar } from "./source.js";
import {
  describeUnshipped,
  exportVolume,
  selectData,
  type DataSelection,
  type VolumeArchive,
} from "./data.js";

export interface PackOptions {
  projectDir: string;
  /** -f files, relative to the project folder; default: the ones compose would pick. */
  composeFiles?: string[];
  /** --profile names; default COMPOSE_PROFILES (environment, then .env). */
  profiles?: string[];
  /** Output folder; default ./dist. */
  outDir: string;
  /** Bundle name; default the compose project name. */
  name?: string;
  /** File name template; default "{name}-complete-{date}" ("{name}-delta-{date}" with a base). */
  outputTemplate?: string;
  allowDirty: boolean;
  pull: boolean;
  /** Ship the build cache (stage images and cache mounts); default true. */
  cache?: boolean;
  /** Lint warnings and cache-export problems become errors. */
  strict?: boolean;
  /** A private key file (sealift keygen) to sign manifest.json with. */
  sign?: string;
  /** An installer binary to ship instead of build/sealift-install-linux-ARCH. */
  installer?: string;
  gzipLevel?: number;
  /** The platform to build for and ship (linux/amd64 or linux/arm64); default this engine's. */
  platform?: string;
  /** Files and folders of the project that travel as data (besides x-sealift.data). */
  data?: string[];
  /** Named volumes (compose file keys) that travel with their content (besides x-sealift.volumes). */
  volumes?: string[];
  /** An earlier release (bundle, parts' index, folder or manifest.json): write a delta on top of it. */
  base?: string;
  /** Write the archive as parts of at most this many bytes, with an index (see bundle/parts.ts). */
  splitBytes?: number;
  reporter: Reporter;
  signal: AbortSignal;
  /** The clock, for tests; default now. */
  now?: Date;
}

export interface PackResult {
  /** The .tar.gz; for a split bundle, the parts' index (what the installer takes). */
  archive: string;
  /** NAME.tar.gz.sha256; for a split bundle, NAME.tar.gz.SHA256SUMS. */
  sidecar: string;
  /** The part files of a split bundle, in order. */
  parts?: string[];
  bytes: number;
  sha256: string;
  release: string;
  images: Array<{ service: string; image: string; id: string }>;
  durationsMs: { build: number; write: number; total: number };
  manifest: Manifest;
}

const INSTALLER_ARCH: Record<string, string> = { amd64: "x64", arm64: "arm64" };

export function installerFor(arch: string, explicit?: string): string {
  if (explicit) {
    if (!existsSync(explicit)) {
      throw new SealiftError("INSTALLER_MISSING", `installer ${explicit} does not exist`, {
        hint: "check --installer",
      });
    }
    return explicit;
  }
  const nodeArch = INSTALLER_ARCH[arch];
  if (!nodeArch) {
    throw new SealiftError("INSTALLER_MISSING", `sealift has no installer for linux/${arch}`, {
      hint: "installers exist for linux/amd64 and linux/arm64",
    });
  }
  const file = path.join(packageRoot(), "build", `sealift-install-linux-${nodeArch}`);
  if (!existsSync(file)) {
    throw new SealiftError("INSTALLER_MISSING", `the installer for linux/${arch} is not built (${file})`, {
      hint: "run `npm run build` in the sealift folder first; a bundle without its installer cannot be installed",
    });
  }
  return file;
}

function releaseId(now: Date, commit: string | null, dirty: boolean): string {
  const stamp = now
    .toISOString()
    .replace(/[-:T]/g, "")
    .slice(0, commit ? 8 : 14);
  return commit ? `${stamp}-${commit.slice(0, 7)}${dirty ? "-dirty" : ""}` : stamp;
}

async function checkOutDir(outDir: string): Promise<void> {
  try {
    await fs.mkdir(outDir, { recursive: true });
    await fs.access(outDir, fs.constants.W_OK);
  } catch (error) {
    throw new SealiftError("OUT_NOT_WRITABLE", `cannot write to the output folder ${outDir}`, {
      hint: "choose another folder with --out, or fix its permissions",
      cause: error,
    });
  }
}

async function checkFreeSpace(outDir: string, needed: number): Promise<void> {
  const stat = await fs.statfs(outDir);
  const free = stat.bavail * stat.bsize;
  if (free < needed) {
    throw new SealiftError(
      "DISK_FULL",
      `not enough free space in ${outDir}: the archive needs about ${formatBytes(needed)}, ${formatBytes(free)} is free`,
      { hint: "free some space or choose another folder with --out" },
    );
  }
}

function deltaReadme(baseRelease: string, name: string, archive: string, noInstaller: boolean): string {
  return [
    "",
    "",
    `THIS IS AN UPDATE on top of release ${baseRelease}: it carries only what changed since then, and`,
    `installs only on a host where release ${baseRelease} (or a later one built on it) is installed.`,
    ...(noInstaller
      ? [
          "It has no installer of its own: use the one the installation keeps, for example",
          "",
          `    /opt/${name}/.sealift/install /path/to/${archive}`,
        ]
      : []),
    "",
  ].join("\n");
}

function renderTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? "");
}

function overrideYaml(release: string, resolved: ResolvedService[]): string {
  const services: Record<string, { image: string }> = {};
  for (const r of resolved) services[r.service.name] = { image: r.ref };
  return (
    `# Written by sealift for release ${release}: every service runs the image shipped in the bundle,\n` +
    `# so compose neither builds nor pulls by accident.\n` +
    toYaml({ services })
  );
}

/** The images' sizes as Docker reports them, each image once (layers shared between images count twice). */
function imagesSize(images: ReadonlyArray<{ image: ImageInfo }>): number {
  return [...new Map(images.map((r) => [r.image.id, r.image.size])).values()].reduce((a, b) => a + b, 0);
}

interface SavedImages {
  bytes: number;
  /** diffIDs left out (the base release has them). */
  omitted: string[];
  omittedBytes: number;
  format: Manifest["images"]["format"];
  /** Each image's config digest (its identity on any store), by reference. */
  configs: Map<string, string>;
  blobs: Record<string, LayerBlob>;
}

/** Streams `docker save` of all images into the bundle's images/ folder, entry by entry. */
async function addImages(
  writer: BundleWriter,
  resolved: Array<{ ref: string; image: ImageInfo }>,
  options: {
    reporter: Reporter;
    signal: AbortSignal;
    docker: Parameters<typeof saveImages>[0];
    /** Blobs (sha256) to leave out (a delta's base has them); a layer.tar is hashed on the way to tell. */
    omit: Map<string, string>;
    scratch: string;
  },
): Promise<SavedImages> {
  const refs = [...new Set(resolved.map((r) => r.ref))];
  const estimate = imagesSize(resolved);
  const progress = options.reporter.progress("saving images", estimate);
  const save = saveImages(options.docker, refs, options.signal);
  const extract = tar.extract();
  save.stdout.on("error", (error) => extract.destroy(error));
  save.stdout.pipe(extract as unknown as NodeJS.WritableStream);
  let bytes = 0;
  const omitted: string[] = [];
  let omittedBytes = 0;
  const sizes = new Map<string, number>();
  const links = new Map<string, string>();
  let saveManifest: Buffer | undefined;
  const ticker = setInterval(() => progress.update(bytes), 200);
  try {
    for await (const entry of extract) {
      const name = checkRelativePath(entry.header.name);
      const target = `${IMAGES_DIR}${name}`;
      if (entry.header.type === "directory") {
        entry.resume();
        continue;
      }
      if (entry.header.type === "symlink") {
        links.set(name, entry.header.linkname ?? "");
        await writer.addSymlink(target, entry.header.linkname ?? "");
        entry.resume();
        continue;
      }
      if (entry.header.type !== "file")
        throw new Error(`docker save wrote a ${entry.header.type} entry: ${name}`);
      const stream = entry as unknown as Readable;
      const size = entry.header.size ?? 0;
      sizes.set(name, size);
      if (name === SAVE_MANIFEST) {
        // Kept: it names each image's config and layer files.
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        saveManifest = Buffer.concat(chunks);
        bytes += saveManifest.length;
        await writer.addBuffer(target, saveManifest);
        continue;
      }
      stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
      const named = digestOfName(name);
      if (named && options.omit.has(named.slice(7))) {
        // An OCI blob is named by its digest: left out unread.
        omitted.push(options.omit.get(named.slice(7))!);
        omittedBytes += size;
        stream.resume();
        continue;
      }
      if (options.omit.size && name.endsWith("/layer.tar")) {
        // docker save names layer folders by v1 ID: only the content's sha256 (the diffID) tells.
        const spool = path.join(options.scratch, "layer.tar");
        const tap = createHashTap();
        await pipeline(stream, tap, createWriteStream(spool));
        const digest = tap.digest();
        if (options.omit.has(digest)) {
          omitted.push(options.omit.get(digest)!);
          omittedBytes += size;
        } else await writer.addStream(target, size, createReadStream(spool), 0o644);
        await fs.rm(spool);
        continue;
      }
      await writer.addStream(target, size, stream, 0o644);
    }
    await save.done;
  } catch (error) {
    save.stdout.destroy();
    await save.done.catch(() => undefined);
    throw error;
  } finally {
    clearInterval(ticker);
  }
  progress.finish(
    `${refs.length} images, ${formatBytes(bytes - omittedBytes)}` +
      (omitted.length
        ? ` (${omitted.length} layers, ${formatBytes(omittedBytes)}, left to the base release)`
        : ""),
  );
  if (!saveManifest) throw new Error("docker save wrote no manifest.json");
  const saved = parseSaveManifest(saveManifest);
  const configs = new Map<string, string>();
  for (const image of saved) {
    const config = digestOfName(image.Config);
    for (const tag of image.RepoTags ?? []) if (config) configs.set(tag, config);
  }
  const blobs = layerBlobs(saved, layersByTag(resolved.map((r) => [r.ref, r.image.layers])), sizes, links);
  return {
    bytes: bytes - omittedBytes,
    omitted,
    omittedBytes,
    format: sizes.has(OCI_INDEX) ? "oci-layout" : "docker-archive",
    configs,
    blobs,
  };
}

/** The built services' contexts inside the project, relative to it (a v1 host's compose checks they exist). */
function buildContexts(model: ComposeModel): string[] {
  const inside = model.services.flatMap((s) => {
    if (!s.build || !path.isAbsolute(s.build.context)) return [];
    const relative = path.relative(model.dir, s.build.context);
    return relative.startsWith("..") ? [] : [relative || "."];
  });
  return [...new Set(inside)].sort();
}

/**
 * The pack, as its steps: read the project (compose's model, git, lint, the base release) -> build
 * the images -> the build cache -> write the archive (entries, then the manifest with its index) ->
 * commit it under its final name. Nothing is left under a final name unless it is complete.
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  const started = performance.now();
  const project = await readProject(options);
  const buildStarted = performance.now();
  const built = await buildImages(project, options);
  const buildMs = performance.now() - buildStarted;
  const target = await archiveTarget(project, built, options);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), "sealift-pack-"));
  const parts = options.splitBytes
    ? new PartsWriter(target.outDir, `${target.topDir}.tar.gz`, options.splitBytes)
    : undefined;
  try {
    const cache = await buildCache(project, built, scratch, options);
    const volumes = await exportVolumes(project, built, scratch, options);
    const writeStarted = performance.now();
    const { written, images } = await writeArchive(
      project,
      built,
      { ...cache, volumes },
      target,
      parts,
      scratch,
      options,
    );
    const committed = await commitArchive(target, parts, written.sha256, options.signal);
    return {
      ...committed,
      bytes: written.bytes,
      sha256: written.sha256,
      release: project.release,
      images: built.resolved.map((r) => ({
        service: r.service.name,
        image: r.ref,
        id: images.configs.get(r.ref) ?? r.image.id,
      })),
      durationsMs: {
        build: Math.round(buildMs),
        write: Math.round(performance.now() - writeStarted),
        total: Math.round(performance.now() - started),
      },
      manifest: written.manifest,
    };
  } catch (error) {
    await parts?.abort();
    await fs.rm(target.partial, { force: true });
    await fs.rm(`${target.partial}.sha256`, { force: true });
    if (options.signal.aborted) throw cancelled("pack was cancelled; no archive was written");
    throw error;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** The project as compose resolves it, its settings, git state, lint, and the base release. */
interface Project {
  host: DockerHost;
  dir: string;
  model: ComposeModel;
  variables: ProjectVariable[];
  composeReads: string[];
  name: string;
  git: Awaited<ReturnType<typeof inspectGit>>;
  signer: ReturnType<typeof loadPrivateKey> | undefined;
  base: Awaited<ReturnType<typeof readBase>> | undefined;
  /** Data not in git that travels (files, volumes). */
  data: DataSelection;
  release: string;
  now: Date;
}

/** Everything that can refuse the project, before the first (long) build. */
async function readProject(options: PackOptions): Promise<Project> {
  const { reporter, signal } = options;
  const now = options.now ?? new Date();
  const projectDir = path.resolve(options.projectDir);
  const host = withPlatform(await detectDockerHost(signal), options.platform);
  const compose = requireCompose(host);
  const resolveOptions = { files: options.composeFiles ?? [], profiles: options.profiles ?? [], signal };
  const model = await resolveComposeProject(compose, projectDir, resolveOptions);
  const variables = await projectVariables(compose, projectDir, resolveOptions);
  const name = options.name ? normaliseProjectName(options.name) : model.name;
  if (!name)
    throw new SealiftError("USAGE", `"${options.name}" is not a usable bundle name`, {
      hint: "use letters, digits, - and _",
    });
  checkDockerfiles(model);
  const composeReads = composeInputs(projectDir, model.files);
  const git = await inspectGit(projectDir, signal);
  requireClean(projectDir, git, options.allowDirty);
  if (git.dirty)
    reporter.warn(
      "DIRTY_TREE",
      git.commit === null && !git.changedFiles.length
        ? "packing a folder that is not in git (as it is); the manifest records it"
        : `packing uncommitted changes (${git.changedFiles.length} files); the manifest records it`,
    );
  for (const v of variables) {
    if (v.secret && v.default) {
      reporter.warn(
        "SECRET_IN_TEMPLATE",
        `.env sets ${v.name}; its value travels in the bundle as the default the installer offers`,
      );
    }
  }
  const data = await readData(model, git, options);
  const signer = options.sign ? loadPrivateKey(options.sign) : undefined;
  for (const service of model.services) {
    for (const access of service.hostAccess)
      reporter.warn(
        "HOST_ACCESS",
        `service ${service.name} ${access}; the installer will show it to the operator`,
      );
  }
  const findings = lintProject(model);
  for (const f of findings) reporter.warn(f.code, `${f.where}: ${f.message}`);
  if (options.strict && findings.length) {
    throw new SealiftError("LINT_FAILED", `${findings.length} Dockerfile problem(s) and --strict`, {
      hint: "fix them (see the warnings above) or pack without --strict",
      details: findings.map((f) => `${f.code} ${f.where}`),
    });
  }
  await checkOutDir(path.resolve(options.outDir));
  installerFor(targetArchitecture(host), options.installer); // fail before the long builds
  const base = options.base ? await readBase(options.base, reporter, signal) : undefined;
  if (base) checkBase(base, name, targetArchitecture(host));
  const release = releaseId(now, git.commit, git.dirty);
  return {
    host,
    dir: projectDir,
    model,
    variables,
    composeReads,
    name,
    git,
    signer,
    base,
    data,
    release,
    now,
  };
}

/** PLATFORMS sealift has installers for. */
const PLATFORMS = ["linux/amd64", "linux/arm64"];

/** The host with every build made for `platform` (pack --platform); another CPU needs BuildKit. */
function withPlatform(host: DockerHost, platform: string | undefined): DockerHost {
  if (!platform) return host;
  if (!PLATFORMS.includes(platform))
    throw new SealiftError("USAGE", `--platform ${platform} is not one sealift ships an installer for`, {
      hint: `use ${PLATFORMS.join(" or ")}`,
    });
  if (host.builder === "legacy" && platform !== `linux/${host.architecture}`)
    throw new SealiftError(
      "PLATFORM_MISMATCH",
      `building for ${platform} needs BuildKit, which ${host.docker} cannot drive`,
      {
        hint: "install the buildx plugin (or use a docker client of 23.0 or newer against this engine) and pack again",
      },
    );
  return { ...host, buildPlatform: platform };
}

/** The data that travels, and a warning (an error with --strict) for bind-mount data that would not. */
async function readData(
  model: ComposeModel,
  git: Project["git"],
  options: PackOptions,
): Promise<DataSelection> {
  const { reporter, signal } = options;
  const data = await selectData(
    model,
    {
      data: options.data ?? [],
      volumes: options.volumes ?? [],
      inGit: git.commit !== null || git.changedFiles.includes("(no commit yet)"),
    },
    (code, message) => reporter.warn(code, message),
    signal,
  );
  for (const u of data.unshipped) reporter.warn("DATA_NOT_SHIPPED", describeUnshipped(u));
  if (options.strict && data.unshipped.length)
    throw new SealiftError(
      "DATA_NOT_SHIPPED",
      `${data.unshipped.length} bind mount(s) need data that is not shipped, and --strict`,
      {
        hint: "ship it with --data PATH or x-sealift: {data: [PATH]}, or pack without --strict",
        details: data.unshipped.map((u) => `${u.service}: ./${u.source}`),
      },
    );
  const lfs = data.files.filter((f) => f.reason === "lfs");
  if (lfs.length)
    reporter.info(`data: ${lfs.length} Git LFS file(s) travel with their content, not their pointers`);
  return data;
}

/** The services' images on this machine (built under pinned tags), and the installer to ship. */
async function buildImages(project: Project, options: PackOptions) {
  const { reporter, signal } = options;
  const resolved = await resolveImages(project.host, project.model, project.release, {
    pull: options.pull,
    reporter,
    signal,
  });
  const arch = resolved[0]!.image.architecture;
  const installer = installerFor(arch, options.installer);
  const installerSize = (await fs.stat(installer)).size;
  return { resolved, arch, installer, installerSize };
}
type Built = Awaited<ReturnType<typeof buildImages>>;

/** Where the archive goes: its final name, its partial name, and room for it there. */
async function archiveTarget(project: Project, built: Built, options: PackOptions) {
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
type Target = Awaited<ReturnType<typeof archiveTarget>>;

/** The build cache: each built service's intermediate stages as images, and its cache mounts. */
async function buildCache(project: Project, built: Built, scratch: string, options: PackOptions) {
  const { reporter, signal } = options;
  if (options.cache === false) {
    reporter.info("build cache: left out (--no-cache)");
    return { stageImages: [] as StageImage[], mounts: [] as MountArchive[] };
  }
  const stageImages = await buildStageImages(project.host, project.model, built.resolved, project.release, {
    reporter,
    signal,
  });
  const mounts = await exportCacheMounts(project.host, built.resolved, stageImages, scratch, {
    reporter,
    signal,
    strict: !!options.strict,
  });
  if (project.host.builder !== "buildx") {
    reporter.info(
      "build cache: no buildx here, so no BuildKit type=local export; stage images and cache mounts carry it",
    );
  }
  return { stageImages, mounts };
}
type Cache = Awaited<ReturnType<typeof buildCache>> & { volumes: VolumeArchive[] };

/** The named volumes that travel, out of this machine's engine (each through a service's image). */
async function exportVolumes(
  project: Project,
  built: Built,
  scratch: string,
  options: PackOptions,
): Promise<VolumeArchive[]> {
  const archives: VolumeArchive[] = [];
  for (const volume of project.data.volumes) {
    const user =
      built.resolved.find((r) =>
        r.service.volumes.some((m) => m.type === "volume" && m.source === volume.key),
      ) ?? built.resolved[0]!;
    const status = options.reporter.status(`volume ${volume.key}`);
    const archive = await exportVolume(project.host, volume, user.ref, scratch, options.signal);
    status.finish(`${formatBytes(archive.bytes)} from ${volume.engineName}`);
    archives.push(archive);
  }
  return archives;
}

/**
 * The data files and volumes, into the archive after the source; in a delta, what the base release
 * placed with the same content is left out. Returns the manifest's record.
 */
async function addData(
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

/**
 * The archive, entry by entry (README, compose files, pins, .env template, source, images, cache
 * mounts, installer), then the manifest with its index, SHA256SUMS and signature as its tail.
 */
async function writeArchive(
  project: Project,
  built: Built,
  cache: Cache,
  target: Target,
  parts: PartsWriter | undefined,
  scratch: string,
  options: PackOptions,
) {
  const { reporter, signal } = options;
  const { host, model, composeReads, name, git, base, release, now } = project;
  const { resolved, arch, installer, installerSize } = built;
  const { stageImages, mounts } = cache;
  const projectDir = project.dir;
  const topDir = target.topDir;
  const sourceTar = path.join(scratch, "source.tar");
  const sourceBytes = await writeSourceTar(
    projectDir,
    git,
    sourceTar,
    signal,
    new Set(project.data.files.map((f) => f.path)),
  );
  const out = parts ?? createWriteStream(target.partial, { flags: "wx" });
  const writer = new BundleWriter(out, {
    topDir,
    mtime: now,
    gzipLevel: options.gzipLevel,
    signal,
  });
  try {
    // A delta leaves out the installer when the base shipped the same one (it is kept on the target).
    const installerInBase =
      !!base && baseFileSha256(base.manifest, base.manifest.installer.path) === (await sha256File(installer));
    let readme = renderTemplate(readFileSync(path.join(packageRoot(), "templates", "README.txt"), "utf8"), {
      name,
      release,
      version: TOOL_VERSION,
      createdAt: now.toISOString(),
      archive: `${topDir}.tar.gz`,
      arch,
      commit: git.commit
        ? `${git.commit.slice(0, 12)}${git.dirty ? " (with uncommitted changes)" : ""}`
        : "(none: not in git)",
      services: resolved.map((r) => r.service.name).join(", "),
    });
    if (base) readme += deltaReadme(base.manifest.project.release, name, `${topDir}.tar.gz`, installerInBase);
    await writer.addBuffer(README_PATH, readme);
    let composeBytes = 0;
    for (const file of [...model.files, ...composeReads]) {
      const content = readFileSync(path.join(projectDir, file));
      composeBytes += content.length;
      await writer.addBuffer(`${COMPOSE_DIR}${file}`, content);
    }
    await writer.addBuffer(OVERRIDE_PATH, overrideYaml(release, resolved));
    const envPath = path.join(projectDir, ".env");
    const hasEnv = existsSync(envPath);
    if (hasEnv) await writer.addBuffer(ENV_TEMPLATE_PATH, readFileSync(envPath));
    await writer.addStream(SOURCE_PATH, sourceBytes, createReadStream(sourceTar));
    const data = await addData(writer, project.data, cache.volumes, base, options);
    const shipped = [
      ...resolved.map((r) => ({ ref: r.ref, image: r.image })),
      ...stageImages.map((s) => ({ ref: s.ref, image: s.image })),
    ];
    const images = await addImages(writer, shipped, {
      reporter,
      signal,
      docker: host,
      omit: base
        ? blobsInBase(
            base.manifest,
            shipped.map((i) => i.image.layers),
          )
        : new Map(),
      scratch,
    });
    const imageBytes = images.bytes;
    const taken = new Set<string>();
    const mountRecords: NonNullable<Manifest["cache"]>["mounts"] = [];
    for (const m of mounts) {
      const bundlePath = `${CACHE_MOUNTS_DIR}${mountFileName(m.id, taken)}`;
      const contentSha256 = await tarContentSha256(m.file);
      const inBase = base?.manifest.cache?.mounts.find((b) => b.id === m.id);
      const unchanged =
        !!inBase &&
        (inBase.contentSha256
          ? inBase.contentSha256 === contentSha256
          : baseFileSha256(base!.manifest, inBase.path) === (await sha256File(m.file)));
      if (!unchanged) await writer.addStream(bundlePath, m.bytes, createReadStream(m.file));
      else
        reporter.info(
          `cache mount ${m.id}: unchanged since release ${base!.manifest.project.release}, left out`,
        );
      mountRecords.push({
        id: m.id,
        target: m.target,
        options: m.options,
        service: m.service,
        stage: m.stage,
        helper: m.helper,
        path: unchanged ? null : bundlePath,
        bytes: m.bytes,
        contentSha256,
      });
    }
    if (installerInBase) reporter.info("installer: the same as in the base release, left out");
    else {
      const installerProgress = reporter.progress("adding installer", installerSize);
      // Compressed once at build time when its members are beside it (installer-members.ts).
      const members = await installerMembers(installer);
      const installerStream = createReadStream(installer, { highWaterMark: 1024 * 1024 });
      installerStream.on("data", () => installerProgress.update(installerStream.bytesRead));
      await writer.addStream(INSTALLER_PATH, installerSize, installerStream, 0o755, members);
      installerProgress.finish(`${formatBytes(installerSize)}${members ? ", compressed at build time" : ""}`);
    }
    const written = await writer.finish(
      (files, links, sumsSha256) => ({
        format: BUNDLE_FORMAT,
        formatVersion: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
        ...(base
          ? {
              base: {
                project: base.manifest.project.name,
                release: base.manifest.project.release,
                manifestSha256: base.manifestSha256,
                layers: images.omitted,
                bytesLeftOut: images.omittedBytes,
              },
            }
          : {}),
        tool: { name: "sealift", version: TOOL_VERSION },
        createdAt: now.toISOString(),
        project: {
          name,
          release,
          composeFiles: model.files,
          composeInputs: composeReads,
          buildContexts: buildContexts(model),
          profiles: model.profiles,
          override: OVERRIDE_PATH,
          envTemplate: hasEnv ? ENV_TEMPLATE_PATH : null,
          variables: project.variables,
        },
        source: { path: SOURCE_PATH, git: git.commit || git.changedFiles.length ? git : null },
        build: {
          dockerClient: host.clientVersion,
          dockerServer: host.serverVersion,
          builder: host.builder,
          imageStore: host.containerdImageStore ? "containerd" : "classic",
          compose: host.compose ? { flavour: host.compose.flavour, version: host.compose.version } : null,
        },
        images: { format: images.format, dir: IMAGES_DIR, bytes: imageBytes, blobs: images.blobs },
        services: resolved.map((r) => ({
          name: r.service.name,
          image: r.ref,
          imageId: images.configs.get(r.ref) ?? r.image.id,
          built: r.built,
          platform: {
            os: r.image.os,
            architecture: r.image.architecture,
            ...(r.image.variant ? { variant: r.image.variant } : {}),
          },
          layers: r.image.layers,
          ports: r.service.ports.map(
            (p) => `${p.hostIp ? `${p.hostIp}:` : ""}${p.published}:${p.target}/${p.protocol}`,
          ),
          healthcheck: r.service.hasHealthcheck,
          hostAccess: r.service.hostAccess,
          devices: r.service.devices,
        })),
        installer: { path: installerInBase ? null : INSTALLER_PATH, platform: `linux/${arch}` },
        ...(options.cache !== false
          ? {
              cache: {
                images: stageImages.map((s) => ({
                  service: s.service,
                  stage: s.stage,
                  image: s.ref,
                  imageId: images.configs.get(s.ref) ?? s.image.id,
                  layers: s.image.layers,
                })),
                mounts: mountRecords,
              },
            }
          : {}),
        requirements: {
          dockerMinVersion: "20.10",
          dockerDataBytes: imageBytes + (data?.volumes.reduce((sum, v) => sum + v.bytes, 0) ?? 0),
          installDirBytes:
            sourceBytes * 2 +
            composeBytes +
            (data?.files.filter((f) => f.shipped).reduce((sum, f) => sum + f.size, 0) ?? 0),
        },
        ...(data ? { data } : {}),
        files,
        links,
        sha256sums: sumsSha256,
      }),
      project.signer,
    );
    if (signal.aborted) throw cancelled("pack was cancelled");
    return { written, images };
  } catch (error) {
    writer.abort(error);
    throw error;
  }
}

/** The archive (or its parts) under its final name, with its .sha256 (or SHA256SUMS). */
async function commitArchive(
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
