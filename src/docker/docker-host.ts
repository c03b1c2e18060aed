/**
 * What this host's Docker is and can do, detected rather than assumed: which client to call, how it
 * builds (buildx, built-in BuildKit, or the legacy builder), which compose it has, and the engine.
 */
import semver from "semver";
import { realpathSync, accessSync, constants, statSync } from "node:fs";
import path from "node:path";
import { SealiftError } from "../errors.js";
import { runCommand } from "../process/run-command.js";

export type Builder = "buildx" | "buildkit" | "legacy";

export interface ComposeTool {
  flavour: "v2" | "v1";
  version: string;
  /** Program and leading arguments: ["docker", "compose"] or ["docker-compose"]. */
  command: readonly [string, ...string[]];
}

export interface DockerHost {
  /** The docker client every call goes through. */
  docker: string;
  clientVersion: string;
  serverVersion: string;
  builder: Builder;
  /** Normalised like image platforms: amd64, arm64, ... */
  architecture: string;
  os: string;
  dockerRootDir: string;
  storageDriver: string;
  /** Docker 24+ can keep images in containerd's store; layer-level tricks differ there. */
  containerdImageStore: boolean;
  /** The engine's container runtimes by name (docker info). */
  runtimes: string[];
  /** CDI device names the engine reports (Docker 28+; empty elsewhere). */
  cdiDevices: string[];
  compose: ComposeTool | null;
  /** Set by `pack --platform`: every build on this host is for that platform (e.g. linux/arm64). */
  buildPlatform?: string;
  /** Environment to pass to docker build for the chosen builder. */
  buildEnv: Record<string, string>;
}

const DOCKER_START_HINT =
  "start the Docker daemon (`systemctl start docker`, or `dockerd &` where there is no systemd) and run this again; " +
  "if the daemon is elsewhere, set DOCKER_HOST";

export function normaliseArch(arch: string): string {
  const map: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", armv7l: "arm", i386: "386" };
  return map[arch] ?? arch;
}

/** Engine and compose versions as semver reads them: "20.10.24+dfsg1" >= "20.10" -> true. */
export function versionAtLeast(version: string, minimum: string): boolean {
  return semver.gte(semver.coerce(version) ?? "0.0.0", semver.coerce(minimum) ?? "0.0.0");
}

/**
 * Every distinct `docker` executable on PATH, in PATH order, or the one SEALIFT_DOCKER names. The
 * same file twice (a link, or a bind mount: same device and inode) is one client.
 */
function dockerCandidates(): string[] {
  if (process.env.SEALIFT_DOCKER) return [process.env.SEALIFT_DOCKER];
  const seen = new Set<string>();
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "docker");
    try {
      accessSync(candidate, constants.X_OK);
      const { dev, ino } = statSync(candidate);
      const file = `${dev}:${ino}`;
      const real = realpathSync(candidate);
      if (!seen.has(real) && !seen.has(file)) {
        seen.add(real).add(file);
        found.push(candidate);
      }
    } catch {
      // not here
    }
  }
  return found;
}

interface EngineInfo {
  Architecture?: string;
  OSType?: string;
  DockerRootDir?: string;
  Driver?: string;
  DriverStatus?: [string, string][];
  /** The container runtimes the engine has (runc, and e.g. nvidia with the NVIDIA Container Toolkit). */
  Runtimes?: Record<string, unknown>;
  /** CDI devices the engine found (Docker 28+), e.g. {Source: "cdi", ID: "nvidia.com/gpu=0"}. */
  DiscoveredDevices?: Array<{ Source?: string; ID?: string }> | null;
  /** The client's side: its CLI plugins (listed by clients since 19.03), each with its version. */
  ClientInfo?: { Plugins?: Array<{ Name?: string; Version?: string; Err?: string }> };
}

interface ClientProbe {
  docker: string;
  clientVersion: string;
  serverVersion: string | null;
  serverError: string;
  buildx: boolean;
  composeV2: string | null;
  /** `docker info` through this client, when the engine answered it. */
  info: EngineInfo | null;
  infoError: string;
}

function parseInfo(stdout: string): EngineInfo | null {
  try {
    const parsed = JSON.parse(stdout.trim().split("\n")[0] ?? "") as EngineInfo | null;
    return parsed && typeof parsed === "object" ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * One client: `docker version` (client and engine versions) and `docker info` (the engine's store
 * and data root, and the client's plugins with their versions) side by side. Only a client whose
 * `docker info` lists no plugins section is asked `buildx version` and `compose version` one by one
 * (each a plugin process started: about 0.2 s).
 */
async function probeClient(docker: string, signal?: AbortSignal): Promise<ClientProbe> {
  const [version, infoResult] = await Promise.all([
    runCommand(docker, ["version", "--format", "{{json .}}"], {
      allowFailure: true,
      signal,
      timeoutMs: 20_000,
    }),
    runCommand(docker, ["info", "--format", "{{json .}}"], { allowFailure: true, signal, timeoutMs: 30_000 }),
  ]);
  const info = infoResult.exitCode === 0 ? parseInfo(infoResult.stdout) : null;
  let clientVersion = "";
  let serverVersion: string | null = null;
  try {
    const parsed = JSON.parse(version.stdout.trim().split("\n")[0] ?? "{}") as {
      Client?: { Version?: string };
      Server?: { Version?: string } | null;
    };
    clientVersion = parsed.Client?.Version ?? "";
    serverVersion = parsed.Server?.Version ?? null;
  } catch {
    // an old client or garbage: treated as no server below
  }
  const common = {
    docker,
    clientVersion,
    serverVersion,
    serverError: version.stderr.trim(),
    info,
    infoError: infoResult.stderr.trim(),
  };
  const plugins = info?.ClientInfo?.Plugins;
  if (Array.isArray(plugins)) {
    const plugin = (name: string) => plugins.find((p) => p.Name === name && !p.Err);
    const compose = plugin("compose");
    return {
      ...common,
      buildx: !!plugin("buildx"),
      composeV2: compose ? (compose.Version ?? "").replace(/^v/, "") || "unknown" : null,
    };
  }
  const [buildx, compose] = await Promise.all([
    runCommand(docker, ["buildx", "version"], { allowFailure: true, signal, timeoutMs: 10_000 }),
    runCommand(docker, ["compose", "version", "--short"], { allowFailure: true, signal, timeoutMs: 10_000 }),
  ]);
  return {
    ...common,
    buildx: buildx.exitCode === 0,
    composeV2: compose.exitCode === 0 ? compose.stdout.trim().replace(/^v/, "") : null,
  };
}

/**
 * The client used for building: one with buildx first; else one older than 23.0, which still
 * drives the engine's built-in BuildKit with DOCKER_BUILDKIT=1 (newer clients refuse without
 * buildx); else the first, with the legacy builder.
 */
function chooseClient(probes: ClientProbe[]): { probe: ClientProbe; builder: Builder } {
  const withBuildx = probes.find((p) => p.buildx);
  if (withBuildx) return { probe: withBuildx, builder: "buildx" };
  const classic = probes.find((p) => p.clientVersion && !versionAtLeast(p.clientVersion, "23.0"));
  if (classic) return { probe: classic, builder: "buildkit" };
  return { probe: probes[0]!, builder: "legacy" };
}

interface StandaloneProbe {
  result: Promise<{ exitCode: number | undefined; stdout: string } | null>;
  cancel: () => void;
}

/**
 * `docker-compose version`, started at once beside the clients' probes (a Python docker-compose
 * takes about 300 ms to answer) and stopped when a client turns out to have the compose plugin.
 */
function probeStandaloneCompose(signal?: AbortSignal): StandaloneProbe {
  const stop = new AbortController();
  const result = runCommand("docker-compose", ["version", "--short"], {
    allowFailure: true,
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
    timeoutMs: 20_000,
  }).catch(() => null);
  return { result, cancel: () => stop.abort() };
}

async function detectCompose(
  probes: ClientProbe[],
  standalone: StandaloneProbe,
): Promise<ComposeTool | null> {
  const plugin = probes.find((p) => p.composeV2);
  if (plugin) {
    standalone.cancel();
    return { flavour: "v2", version: plugin.composeV2!, command: [plugin.docker, "compose"] };
  }
  const answer = await standalone.result;
  if (!answer || answer.exitCode !== 0) return null;
  const version = answer.stdout.trim().replace(/^v/, "");
  return { flavour: versionAtLeast(version, "2.0") ? "v2" : "v1", version, command: ["docker-compose"] };
}

export async function detectDockerHost(signal?: AbortSignal): Promise<DockerHost> {
  const candidates = dockerCandidates();
  if (candidates.length === 0) {
    throw new SealiftError("DOCKER_UNREACHABLE", "no `docker` command was found on PATH", {
      hint: "install Docker (20.10 or newer) or put its client on PATH; SEALIFT_DOCKER may name it",
    });
  }
  const standalone = probeStandaloneCompose(signal);
  const probes = await Promise.all(candidates.map((c) => probeClient(c, signal)));
  const reachable = probes.filter((p) => p.serverVersion);
  if (reachable.length === 0) {
    standalone.cancel();
    const first = probes[0]!;
    throw new SealiftError("DOCKER_UNREACHABLE", "the Docker daemon does not answer", {
      hint: DOCKER_START_HINT,
      details: first.serverError ? first.serverError.split("\n").slice(-3) : [],
    });
  }
  const { probe, builder } = chooseClient(reachable);
  const compose = await detectCompose(reachable, standalone);
  const parsed = probe.info;
  if (!parsed)
    throw new SealiftError("DOCKER_UNREACHABLE", "the Docker daemon does not answer `docker info`", {
      hint: DOCKER_START_HINT,
      details: probe.infoError.split("\n").slice(-3),
    });
  const driverStatus = JSON.stringify(parsed.DriverStatus ?? []);
  return {
    docker: probe.docker,
    clientVersion: probe.clientVersion,
    serverVersion: probe.serverVersion!,
    builder,
    architecture: normaliseArch(parsed.Architecture ?? "unknown"),
    os: parsed.OSType ?? "linux",
    dockerRootDir: parsed.DockerRootDir ?? "/var/lib/docker",
    storageDriver: parsed.Driver ?? "",
    containerdImageStore: driverStatus.includes("io.containerd.snapshotter"),
    runtimes: Object.keys(parsed.Runtimes ?? {}).sort(),
    cdiDevices: (parsed.DiscoveredDevices ?? []).flatMap((d) => (d.ID ? [d.ID] : [])),
    compose,
    buildEnv:
      builder === "buildkit"
        ? { DOCKER_BUILDKIT: "1" }
        : builder === "legacy"
          ? { DOCKER_BUILDKIT: "0" }
          : {},
  };
}

/** The compose this machine has, whether or not a Docker daemon answers (compose config needs none). */
export async function detectComposeTool(signal?: AbortSignal): Promise<ComposeTool> {
  const standalone = probeStandaloneCompose(signal);
  const probes = await Promise.all(dockerCandidates().map((c) => probeClient(c, signal)));
  const tool = await detectCompose(probes, standalone);
  if (!tool)
    throw new SealiftError(
      "COMPOSE_MISSING",
      "neither `docker compose` (v2) nor `docker-compose` (v1) was found",
      {
        hint: "install the Docker Compose plugin or docker-compose: compose reads the project for sealift",
      },
    );
  return tool;
}
