/**
 * The write step: the archive entry by entry (README, compose files, pins, .env template, source,
 * data, images, cache mounts, installer), then the manifest with its index, SHA256SUMS and signature.
 */
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { BundleWriter } from "../../bundle/bundle-writer.js";
import { installerMembers } from "../installer-members.js";
import type { PartsWriter } from "../../bundle/parts.js";
import {
  CACHE_MOUNTS_DIR,
  COMPOSE_DIR,
  ENV_TEMPLATE_PATH,
  IMAGES_DIR,
  INSTALLER_PATH,
  OVERRIDE_PATH,
  README_PATH,
  SOURCE_PATH,
  BUNDLE_FORMAT,
  FORMAT_VERSION,
  DELTA_FORMAT_VERSION,
} from "../../bundle/layout.js";
import { type Manifest } from "../../bundle/manifest.js";
import { type ComposeModel } from "../../compose/compose-project.js";
import { cancelled } from "../../errors.js";
import { formatBytes } from "../../util/format.js";
import { packageRoot } from "../../util/package-root.js";
import { TOOL_VERSION } from "../../version.js";
import { mountFileName } from "../build-cache.js";
import { type ResolvedService } from "../images.js";
import { baseFileSha256, blobsInBase, tarContentSha256 } from "../delta.js";
import { sha256File } from "../../util/hash-tap.js";
import { writeSourceTar } from "../source.js";
import { addData } from "./add-data.js";
import { addImages } from "./save-images.js";
import { type Built, type Cache, type PackOptions, type Project, type Target } from "./types.js";

export function deltaReadme(
  baseRelease: string,
  name: string,
  archive: string,
  noInstaller: boolean,
): string {
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

export function renderTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? "");
}

export function overrideYaml(release: string, resolved: ResolvedService[]): string {
  const services: Record<string, { image: string }> = {};
  for (const r of resolved) services[r.service.name] = { image: r.ref };
  return (
    `# Written by sealift for release ${release}: every service runs the image shipped in the bundle,\n` +
    `# so compose neither builds nor pulls by accident.\n` +
    toYaml({ services })
  );
}

/** The built services' contexts inside the project, relative to it (a v1 host's compose checks they exist). */
export function buildContexts(model: ComposeModel): string[] {
  const inside = model.services.flatMap((s) => {
    if (!s.build || !path.isAbsolute(s.build.context)) return [];
    const relative = path.relative(model.dir, s.build.context);
    return relative.startsWith("..") ? [] : [relative || "."];
  });
  return [...new Set(inside)].sort();
}

/**
 * The archive, entry by entry (README, compose files, pins, .env template, source, images, cache
 * mounts, installer), then the manifest with its index, SHA256SUMS and signature as its tail.
 */
export async function writeArchive(
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
          imagesUnpackedBytes: images.unpackedBytes,
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
