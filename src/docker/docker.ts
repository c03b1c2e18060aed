/**
 * Docker operations sealift needs, all through the host's chosen client (see docker-host.ts).
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import { SealiftError, type ErrorCode } from "../errors.js";
import type { DockerHost } from "./docker-host.js";
import { normaliseArch } from "./docker-host.js";
import { runCommand, streamCommand, type StreamingCommand } from "../process/run-command.js";

export interface ImageInfo {
  /** The host's own ID: the config digest on the classic store, a manifest digest on containerd's. */
  id: string;
  repoTags: string[];
  architecture: string;
  os: string;
  variant?: string;
  /** diffIDs of the image's layers, base first. */
  layers: string[];
  size: number;
  created: string;
}

/** `docker image inspect` of one reference, or null when the host does not have it. */
export async function inspectImage(
  host: DockerHost,
  ref: string,
  signal?: AbortSignal,
): Promise<ImageInfo | null> {
  const result = await runCommand(host.docker, ["image", "inspect", ref], { allowFailure: true, signal });
  if (result.exitCode !== 0) return null;
  const [raw] = JSON.parse(result.stdout) as Array<{
    Id: string;
    RepoTags?: string[] | null;
    Architecture?: string;
    Os?: string;
    Variant?: string;
    RootFS?: { Layers?: string[] };
    Size?: number;
    Created?: string;
  }>;
  if (!raw) return null;
  return {
    id: raw.Id,
    repoTags: raw.RepoTags ?? [],
    architecture: normaliseArch(raw.Architecture ?? "unknown"),
    os: raw.Os ?? "linux",
    ...(raw.Variant ? { variant: raw.Variant } : {}),
    layers: raw.RootFS?.Layers ?? [],
    size: raw.Size ?? 0,
    created: raw.Created ?? "",
  };
}

/** What identifies an image on any host: its config digest and its layers (diffIDs). */
export interface ImageIdentity {
  /** The reference it is loaded under. */
  image: string;
  /** The config digest (`docker image inspect .Id` on the classic store only). */
  imageId: string;
  layers: readonly string[];
}

/**
 * The host's image that is `identity`, or null. On the classic store the config digest is the
 * image's ID. On the containerd store the ID is a manifest digest, which differs with the archive
 * the image came in: there it is the image under its reference with the same layers.
 */
export async function findImage(
  host: DockerHost,
  identity: ImageIdentity,
  signal?: AbortSignal,
): Promise<ImageInfo | null> {
  if (!host.containerdImageStore) return inspectImage(host, identity.imageId, signal);
  const found = await inspectImage(host, identity.image, signal);
  const same =
    found &&
    found.layers.length === identity.layers.length &&
    found.layers.every((layer, i) => layer === identity.layers[i]);
  return same ? found : null;
}

/**
 * Whether a container can be made from the image: on the containerd store `docker load` can exit 0
 * with an image whose layers were not unpacked; creating a container unpacks them or fails.
 */
export async function imageUsable(
  host: DockerHost,
  ref: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const created = await runCommand(
    host.docker,
    ["create", "--pull", "never", "--entrypoint", "/sealift-check", ref],
    { signal, allowFailure: true },
  );
  if (created.exitCode !== 0) return created.stderr.trim().split("\n").slice(-2).join(" ");
  await runCommand(host.docker, ["rm", created.stdout.trim()], { signal, allowFailure: true });
  return null;
}

export interface BuildRequest {
  context: string;
  /** A path (absolute, or relative to the context as compose names it). */
  dockerfile?: string;
  /** The Dockerfile's text (compose's dockerfile_inline), given on stdin. */
  dockerfileInline?: string;
  /** Named contexts (compose's additional_contexts): --build-context NAME=VALUE. */
  additionalContexts?: Record<string, string>;
  /** The tag to give the result; none with `output`. */
  tag?: string;
  target?: string;
  args: Record<string, string>;
  /** Images whose (inline) cache the build may use. */
  cacheFrom?: string[];
  /** A BuildKit exporter instead of an image, e.g. "type=local,dest=DIR". */
  output?: string;
  /** Progress lines from the builder, as they come. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

export async function buildImage(host: DockerHost, request: BuildRequest) {
  const args = host.builder === "buildx" ? ["buildx", "build", "--progress=plain"] : ["build"];
  if (host.builder === "buildx" && !request.output) args.push("--load");
  if (host.builder === "buildkit") args.push("--progress=plain");
  if (request.tag) args.push("-t", request.tag);
  if (request.output) args.push("--output", request.output);
  if (request.dockerfileInline !== undefined) args.push("-f", "-");
  else if (request.dockerfile)
    args.push(
      "-f",
      path.isAbsolute(request.dockerfile) || !path.isAbsolute(request.context)
        ? request.dockerfile
        : path.join(request.context, request.dockerfile),
    );
  for (const [name, value] of Object.entries(request.additionalContexts ?? {}))
    args.push("--build-context", `${name}=${value}`);
  if (request.target) args.push("--target", request.target);
  if (host.buildPlatform) args.push("--platform", host.buildPlatform);
  for (const ref of request.cacheFrom ?? []) args.push("--cache-from", ref);
  for (const [key, value] of Object.entries(request.args)) args.push("--build-arg", `${key}=${value}`);
  args.push(request.context);
  try {
    return await runCommand(host.docker, args, {
      env: host.buildEnv,
      ...(request.dockerfileInline !== undefined ? { input: request.dockerfileInline } : {}),
      signal: request.signal,
      onLine: request.onLine ? (line) => request.onLine!(line) : undefined,
      failureCode: "BUILD_FAILED",
    });
  } catch (error) {
    if (error instanceof SealiftError && STALE_BUILD_RECORD.test(error.details.join("\n")))
      throw new SealiftError("BUILD_FAILED", error.message, {
        details: error.details,
        hint:
          "the engine's build cache holds a record whose files it has removed (a BuildKit fault, not your " +
          "Dockerfile): `docker builder prune` drops the unused records; then build again",
        cause: error,
      });
    throw error;
  }
}

/** BuildKit's error when a cache record outlived its snapshot on disk (moby/buildkit#5469). */
const STALE_BUILD_RECORD = /failed to prepare \S+: open \S+: no such file or directory/;

/** `docker save` of all the images in one stream: each shared layer is written once. */
export function saveImages(
  host: DockerHost,
  refs: readonly string[],
  signal?: AbortSignal,
): StreamingCommand {
  return streamCommand(host.docker, ["save", ...refs], { signal });
}

/** Feeds a docker-archive stream to `docker load`; returns the references it loaded. */
export async function loadImages(
  host: DockerHost,
  archive: Readable,
  signal?: AbortSignal,
): Promise<string[]> {
  const result = await runCommand(host.docker, ["load"], {
    input: archive,
    signal,
    // Stopped at once, its request cut off mid-body: the daemon then loads nothing. (A client left
    // to end its input cleanly could have its cut-off archive loaded.)
    killSignal: "SIGKILL",
    failureCode: "LOAD_FAILED",
    failureHint: "check the daemon's log and its free space, then run the installer again: it resumes",
  });
  return [...result.stdout.matchAll(/Loaded image(?: ID)?: (\S+)/g)].map((m) => m[1]!);
}

export async function tagImage(host: DockerHost, source: string, target: string, signal?: AbortSignal) {
  await runCommand(host.docker, ["tag", source, target], { signal });
}

export async function pullImage(host: DockerHost, ref: string, signal?: AbortSignal) {
  await runCommand(host.docker, ["pull", ref], { signal, failureCode: "IMAGE_MISSING" });
}

export interface ContainerState {
  id: string;
  name: string;
  service: string;
  image: string;
  /** The ID of the image it runs, as this host's Docker names it (ImageInfo.id). */
  imageId: string;
  /** The folder compose ran the project from (its label), when compose set one. */
  workingDir: string | null;
  status: string;
  health: string | null;
  exitCode: number;
  ports: Array<{ hostIp: string; hostPort: string; containerPort: string }>;
}

/** The containers compose made for a project, with their state and health. */
export async function projectContainers(
  host: DockerHost,
  project: string,
  signal?: AbortSignal,
): Promise<ContainerState[]> {
  const ids = await runCommand(
    host.docker,
    ["ps", "-aq", "--no-trunc", "--filter", `label=com.docker.compose.project=${project}`],
    { signal },
  );
  const list = ids.stdout.split("\n").filter(Boolean);
  if (list.length === 0) return [];
  const inspected = await runCommand(host.docker, ["inspect", ...list], { signal, allowFailure: true });
  const raw = JSON.parse(inspected.stdout || "[]") as Array<{
    Id: string;
    Name: string;
    Image: string;
    Config: { Image: string; Labels?: Record<string, string> };
    State: { Status: string; ExitCode: number; Health?: { Status: string } };
    NetworkSettings?: { Ports?: Record<string, Array<{ HostIp: string; HostPort: string }> | null> };
  }>;
  return raw.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ""),
    service: c.Config.Labels?.["com.docker.compose.service"] ?? "",
    image: c.Config.Image,
    imageId: c.Image,
    workingDir: c.Config.Labels?.["com.docker.compose.project.working_dir"] ?? null,
    status: c.State.Status,
    health: c.State.Health?.Status ?? null,
    exitCode: c.State.ExitCode,
    ports: Object.entries(c.NetworkSettings?.Ports ?? {}).flatMap(([containerPort, bindings]) =>
      (bindings ?? []).map((b) => ({ hostIp: b.HostIp, hostPort: b.HostPort, containerPort })),
    ),
  }));
}

/**
 * Puts back a state compose can go on from after a `compose up` was cut off mid-recreate (a power
 * cut, kill -9, the engine restarted); else the next `up` fails: "the container name ... is already
 * in use". Compose recreates a container under a temporary name, `<12 hex of the old one's id>_NAME`:
 * v2 creates the new one so, stops and removes the old one, then renames the new one to NAME; v1
 * renames the old one so, creates and starts the new one as NAME, then removes the old one. Here,
 * for each container under such a name: when nothing else holds NAME it takes NAME back (compose
 * then goes on as usual, carrying its anonymous volumes); when something does, the one that never
 * started goes (a v2 successor, or a v1 successor cut before its start), else the old one. No volume
 * is removed. Returns what was done, a line each, for the log.
 */
export async function settleCutRecreate(
  host: DockerHost,
  project: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const done: string[] = [];
  const remove = async (c: ContainerState, why: string) => {
    await runCommand(host.docker, ["rm", "-f", c.id], { signal });
    done.push(`removed ${c.name} (${why})`);
  };
  const containers = await projectContainers(host, project, signal);
  const byName = new Map(containers.map((c) => [c.name, c]));
  for (const c of containers) {
    const name = /^[0-9a-f]{12}_(.+)$/.exec(c.name)?.[1];
    if (!name) continue;
    const holder = byName.get(name);
    if (holder && (c.status === "created" || holder.status !== "created")) {
      await remove(c, `left by a recreate of ${name} that was cut off`);
      continue;
    }
    if (holder) await remove(holder, "created by a recreate that was cut off, never started");
    await runCommand(host.docker, ["rename", c.id, name], { signal });
    byName.set(name, c);
    done.push(`renamed ${c.name} back to ${name}`);
  }
  return done;
}

export async function containerLogs(host: DockerHost, id: string, lines: number, signal?: AbortSignal) {
  const result = await runCommand(host.docker, ["logs", "--tail", String(lines), id], {
    signal,
    allowFailure: true,
  });
  return (result.stdout + result.stderr).trimEnd();
}

/** Docker's chain ID of a layer: the identity of "this layer on top of exactly those below it". */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = [];
  for (const diffId of diffIds) {
    const below = chains.at(-1);
    chains.push(below ? `sha256:${createHash("sha256").update(`${below} ${diffId}`).digest("hex")}` : diffId);
  }
  return chains;
}

/** Every layer chain the host's images hold (classic image store). */
export async function localLayerChains(host: DockerHost, signal?: AbortSignal): Promise<Set<string>> {
  const ids = (await runCommand(host.docker, ["image", "ls", "-aq", "--no-trunc"], { signal })).stdout
    .split("\n")
    .filter(Boolean);
  const chains = new Set<string>();
  if (ids.length === 0) return chains;
  const inspected = await runCommand(
    host.docker,
    ["image", "inspect", "--format", "{{json .RootFS.Layers}}", ...new Set(ids)],
    {
      signal,
      allowFailure: true,
    },
  );
  for (const line of inspected.stdout.split("\n").filter(Boolean)) {
    for (const chain of chainIds((JSON.parse(line) as string[] | null) ?? [])) chains.add(chain);
  }
  return chains;
}

/** Where withVolumeContainer mounts the volume in its container. */
export const VOLUME_MOUNT = "/sealift-volume";

/**
 * Runs `use` with a container created (never started: any image will do, even one without a shell)
 * from `image` with volume `name` at VOLUME_MOUNT, for `docker cp` in or out; removed afterwards.
 * `purpose` labels it (sealift.helper=...) so that a leftover one says what it was.
 */
export async function withVolumeContainer<T>(
  host: DockerHost,
  volume: { name: string; image: string; readOnly: boolean; purpose: string },
  use: (container: string) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const created = await runCommand(
    host.docker,
    [
      "create",
      "--label",
      `sealift.helper=${volume.purpose}`,
      "-v",
      `${volume.name}:${VOLUME_MOUNT}${volume.readOnly ? ":ro" : ""}`,
      volume.image,
      `sealift-${volume.purpose}`,
    ],
    { signal },
  );
  const container = created.stdout.trim();
  try {
    return await use(container);
  } finally {
    await runCommand(host.docker, ["rm", "-f", container], { allowFailure: true });
  }
}

/** Removes one tag (the image stays while another tag names it); a tag already gone is fine. */
export async function untagImage(host: DockerHost, ref: string, signal?: AbortSignal): Promise<void> {
  await runCommand(host.docker, ["rmi", ref], { allowFailure: true, ...(signal ? { signal } : {}) });
}

/** `docker system df`, as the engine words it (for a status page). */
export async function diskUsage(host: DockerHost, signal?: AbortSignal): Promise<string> {
  const df = await runCommand(host.docker, ["system", "df"], {
    allowFailure: true,
    ...(signal ? { signal } : {}),
  });
  return df.stdout.trim();
}

/** A named volume's mount point on the engine's host, or null when there is no such volume. */
export async function volumeMountpoint(
  host: DockerHost,
  name: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const inspect = await runCommand(host.docker, ["volume", "inspect", "--format", "{{.Mountpoint}}", name], {
    allowFailure: true,
    ...(signal ? { signal } : {}),
  });
  return inspect.exitCode === 0 ? inspect.stdout.trim() : null;
}

/** Creates a named volume with these labels (compose's, so that compose takes it as its own). */
export async function createVolume(
  host: DockerHost,
  name: string,
  labels: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const flags = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await runCommand(host.docker, ["volume", "create", ...flags, name], signal ? { signal } : {});
}

/** `docker cp CONTAINER:PATH -` as a stream: a tar of that path. */
export function copyOutOf(host: DockerHost, container: string, from: string, signal?: AbortSignal) {
  return streamCommand(host.docker, ["cp", `${container}:${from}`, "-"], signal ? { signal } : {});
}

/** `docker cp -a - CONTAINER:PATH`: a tar unpacked there, owners kept. */
export async function copyInto(
  host: DockerHost,
  container: string,
  to: string,
  input: Readable,
  options: { signal?: AbortSignal; failureCode?: ErrorCode; failureHint?: string },
): Promise<void> {
  await runCommand(host.docker, ["cp", "-a", "-", `${container}:${to}`], { ...options, input });
}
