/**
 * The build cache on the target: put each cache-mount archive back into the builder under its id
 * (a helper build, ownership kept by tar), write compose.cache.yaml with build.cache_from, and say
 * what state the cache is in (`install cache status`).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import type { Manifest } from "../bundle/manifest.js";
import { CACHE_OVERRIDE_FILE } from "../bundle/layout.js";
import { loadComposeProject } from "../compose/compose-project.js";
import { contextSources, parseDockerfile } from "../compose/dockerfile.js";
import { buildImage, inspectImage } from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { runCommand } from "../docker/run-command.js";
import { mountSpec } from "../packager/build-cache.js";
import { formatBytes } from "../util/format.js";
import { RECORD_DIR, type InstallRecord } from "./install-record.js";

const SOURCE_HASHES = "source-hashes.json";

/** Imports one cache-mount archive (`tarFile`) into this host's BuildKit under its id. */
export async function importCacheMount(
  host: DockerHost,
  mount: NonNullable<Manifest["cache"]>["mounts"][number],
  tarFile: string,
  workdir: string,
  signal: AbortSignal,
): Promise<void> {
  const context = path.join(workdir, "context");
  await fs.mkdir(context, { recursive: true });
  await fs.rename(tarFile, path.join(context, "cache.tar"));
  await fs.writeFile(
    path.join(context, "Dockerfile"),
    [
      `FROM ${mount.helper} AS import`,
      "ARG SEALIFT_NONCE",
      `RUN --mount=${mountSpec(mount, "/sealift-cache")} --mount=type=bind,source=.,target=/sealift-in ` +
        `tar -xf /sealift-in/cache.tar -C /sealift-cache && echo "$SEALIFT_NONCE" > /sealift-imported`,
      // The final stage depends on the import, so BuildKit runs it; it exports one small file.
      "FROM scratch",
      "COPY --from=import /sealift-imported /",
      "",
    ].join("\n"),
  );
  await buildImage(host, {
    context,
    output: `type=local,dest=${path.join(workdir, "out")}`,
    args: { SEALIFT_NONCE: randomBytes(8).toString("hex") },
    signal,
  });
}

/** compose.cache.yaml: build.cache_from for every built service, so a plain rebuild uses the cache. */
export function cacheOverride(manifest: Manifest): string {
  const services: Record<string, { build: { cache_from: string[] } }> = {};
  for (const service of manifest.services.filter((s) => s.built)) {
    const stages = (manifest.cache?.images ?? [])
      .filter((c) => c.service === service.name)
      .map((c) => c.image);
    services[service.name] = { build: { cache_from: [...stages, service.image] } };
  }
  return `# Written by sealift: rebuilds reuse the build cache shipped with release ${manifest.project.release}.\n${toYaml({ services })}`;
}

export async function writeCacheOverride(dir: string, manifest: Manifest): Promise<void> {
  await fs.writeFile(path.join(dir, CACHE_OVERRIDE_FILE), cacheOverride(manifest));
}

/** sha256 of every file of the built services' contexts, to tell later which ones changed. */
async function hashContexts(dir: string, composeFiles: string[]): Promise<Record<string, string>> {
  const model = loadComposeProject(dir, { files: composeFiles });
  const hashes: Record<string, string> = {};
  const walk = async (absolute: string) => {
    for (const entry of await fs.readdir(absolute, { withFileTypes: true })) {
      const full = path.join(absolute, entry.name);
      if (entry.name === RECORD_DIR || entry.name === ".git") continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile())
        hashes[path.relative(dir, full)] = createHash("sha256")
          .update(await fs.readFile(full))
          .digest("hex");
    }
  };
  for (const context of new Set(model.services.flatMap((s) => (s.build ? [s.build.context] : []))))
    await walk(context);
  return hashes;
}

export async function recordSourceHashes(dir: string, composeFiles: string[]): Promise<void> {
  await fs.writeFile(
    path.join(dir, RECORD_DIR, SOURCE_HASHES),
    JSON.stringify(await hashContexts(dir, composeFiles), null, 1),
  );
}

export interface CacheStatus {
  images: Array<{
    service: string;
    stage: string;
    image: string;
    present: boolean;
    bytes: number | null;
    created: string | null;
  }>;
  mounts: Array<{ id: string; bytes: number; importedAt: string }>;
  dockerDiskUsage: string;
  changes: Array<{ file: string; service: string; stage: string; step: string; line: number }>;
}

/** Which installed files changed since install, and the first build step each one invalidates. */
async function staleSteps(dir: string, record: InstallRecord): Promise<CacheStatus["changes"]> {
  const file = path.join(dir, RECORD_DIR, SOURCE_HASHES);
  if (!existsSync(file)) return [];
  const before = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  const now = await hashContexts(dir, record.composeFiles);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(now)])].filter(
    (f) => before[f] !== now[f],
  );
  const model = loadComposeProject(dir, { files: record.composeFiles });
  const changes: CacheStatus["changes"] = [];
  for (const changedFile of changed) {
    for (const service of model.services) {
      if (!service.build || !existsSync(service.build.dockerfile)) continue;
      const inContext = path.relative(service.build.context, path.join(dir, changedFile));
      if (inContext.startsWith("..")) continue;
      for (const stage of parseDockerfile(readFileSync(service.build.dockerfile, "utf8")).stages) {
        const step = stage.instructions.find((i) =>
          contextSources(i).some((source) => {
            const s = source.replace(/^\.\/?/, "").replace(/\/$/, "");
            // A glob counts for everything under the folder before its first "*".
            const prefix = s.includes("*") ? s.slice(0, s.indexOf("*")) : null;
            if (prefix !== null) return inContext.startsWith(prefix);
            return s === "" || s === "." || inContext === s || inContext.startsWith(`${s}/`);
          }),
        );
        if (step)
          changes.push({
            file: changedFile,
            service: service.name,
            stage: stage.name,
            step: `${step.keyword} ${step.args}`,
            line: step.line,
          });
      }
    }
  }
  return changes;
}

export async function cacheStatus(
  host: DockerHost,
  dir: string,
  record: InstallRecord,
  signal: AbortSignal,
): Promise<CacheStatus> {
  const images: CacheStatus["images"] = [];
  for (const c of record.cache?.images ?? []) {
    const info = await inspectImage(host, c.hostId ?? c.imageId, signal);
    const created = info?.created || null;
    images.push({
      service: c.service,
      stage: c.stage,
      image: c.image,
      present: !!info,
      bytes: info?.size ?? null,
      created,
    });
  }
  const df = await runCommand(host.docker, ["system", "df"], { signal, allowFailure: true });
  return {
    images,
    mounts: record.cache?.mounts ?? [],
    dockerDiskUsage: df.stdout.trim(),
    changes: await staleSteps(dir, record),
  };
}

export function describeCacheStatus(status: CacheStatus): string {
  const lines = ["cache images (layer cache, used with --cache-from):"];
  if (!status.images.length) lines.push("  none");
  for (const i of status.images) {
    lines.push(
      `  ${i.service}/${i.stage}: ${i.image} ${i.present ? `present, ${formatBytes(i.bytes ?? 0)}, built ${i.created}` : "MISSING"}`,
    );
  }
  lines.push("cache mounts (RUN --mount=type=cache contents, imported into BuildKit):");
  if (!status.mounts.length) lines.push("  none");
  for (const m of status.mounts) lines.push(`  ${m.id}: ${formatBytes(m.bytes)}, imported ${m.importedAt}`);
  lines.push("installed source against the cache:");
  if (!status.changes.length)
    lines.push("  unchanged since install: a rebuild takes every step from the cache");
  for (const c of status.changes) {
    lines.push(
      `  ${c.file} changed: ${c.service} stage ${c.stage} runs again from line ${c.line} (${c.step.slice(0, 60)})`,
    );
  }
  lines.push("docker disk usage:", ...status.dockerDiskUsage.split("\n").map((l) => `  ${l}`));
  return lines.join("\n") + "\n";
}
