/**
 * Preflight: can this host run the bundle as the operator asked? Every check gives ok, warn or
 * fail with a detail and a hint; failures stop the install (exit 4) unless the check is one that
 * --force may override.
 */
import { existsSync, promises as fs, constants as fsConstants } from "node:fs";
import net from "node:net";
import type { Manifest } from "../bundle/manifest.js";
import type { PublishedPort } from "../compose/compose-project.js";
import { projectContainers } from "../docker/docker.js";
import { versionAtLeast, type DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { formatBytes } from "../util/format.js";
import { freeBytes, nearestExisting } from "../util/disk.js";

export interface Check {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  hint?: string;
  /** --force lets the install go on despite this failure. */
  overridable?: boolean;
}

export function hostChecks(host: DockerHost, manifest: Manifest): Check[] {
  const checks: Check[] = [];
  const minimum = manifest.requirements.dockerMinVersion;
  checks.push(
    versionAtLeast(host.serverVersion, minimum)
      ? {
          name: "Docker Engine",
          status: "ok",
          detail: `${host.serverVersion} (client ${host.clientVersion})`,
        }
      : {
          name: "Docker Engine",
          status: "fail",
          detail: `${host.serverVersion} is older than ${minimum}`,
          hint: `upgrade Docker to ${minimum} or newer`,
        },
  );
  checks.push(
    host.builder === "legacy"
      ? {
          name: "BuildKit",
          status: "warn",
          detail: "not available to this client (no buildx); rebuilds here use the legacy builder",
          hint: "install the buildx plugin to rebuild with the build cache",
        }
      : {
          name: "BuildKit",
          status: "ok",
          detail: host.builder === "buildx" ? "buildx" : "built into the engine",
        },
  );
  checks.push(
    host.compose
      ? { name: "Compose", status: "ok", detail: `${host.compose.flavour} ${host.compose.version}` }
      : {
          name: "Compose",
          status: "fail",
          detail: "neither `docker compose` nor `docker-compose` was found",
          hint: "install the Docker Compose plugin (v2) or docker-compose (v1)",
        },
  );
  const arches = [...new Set(manifest.services.map((s) => s.platform.architecture))];
  checks.push(
    arches.every((a) => a === host.architecture)
      ? { name: "CPU architecture", status: "ok", detail: host.architecture }
      : {
          name: "CPU architecture",
          status: "fail",
          detail: `the images are for ${arches.join(", ")}, this host is ${host.architecture}`,
          hint: "use a bundle packed for this host's architecture (or --force where emulation is set up)",
          overridable: true,
        },
  );
  checks.push({
    name: "Image store",
    status: "ok",
    detail: host.containerdImageStore
      ? "containerd (a complete bundle loads every layer)"
      : `classic (${host.storageDriver || "unknown driver"})`,
  });
  checks.push(...deviceChecks(host, manifest, existsSync(NVIDIA_HOOK)));
  return checks;
}

/** What Docker's `nvidia` device driver runs (the NVIDIA Container Toolkit installs it here). */
const NVIDIA_HOOK = "/usr/bin/nvidia-container-runtime-hook";

/** One line a person reads for a device request: "GPU (nvidia, count all)". */
function describeDevice(d: Manifest["services"][number]["devices"][number]): string {
  const what = d.capabilities.includes("gpu") || d.driver === "nvidia" ? "GPU" : "device";
  const how = [
    d.driver,
    d.count ? `count ${d.count}` : "",
    d.deviceIds.length ? `ids ${d.deviceIds.join(",")}` : "",
  ];
  return `${what} (${how.filter(Boolean).join(", ") || "any"})`;
}

/**
 * The devices the services reserve, against what this engine reports: a GPU needs the NVIDIA
 * runtime, its hook, or CDI GPU devices; CDI devices named by id must be ones the engine lists
 * (Docker 28+ lists them; an older engine cannot be asked: a warning).
 */
export function deviceChecks(host: DockerHost, manifest: Manifest, nvidiaHook: boolean): Check[] {
  const checks: Check[] = [];
  for (const service of manifest.services) {
    for (const device of service.devices) {
      const gpu = device.driver === "nvidia" || device.capabilities.includes("gpu");
      const name = `Devices: ${service.name}`;
      if (gpu) {
        const cdiGpus = host.cdiDevices.filter((id) => id.includes("/gpu"));
        const has = host.runtimes.includes("nvidia") || nvidiaHook || cdiGpus.length > 0;
        checks.push(
          has
            ? {
                name,
                status: "ok",
                detail: `${describeDevice(device)}: ${host.runtimes.includes("nvidia") ? "the engine has the nvidia runtime" : nvidiaHook ? "the NVIDIA Container Toolkit's hook is installed" : `CDI devices ${cdiGpus.join(", ")}`}`,
              }
            : {
                name,
                status: "fail",
                detail: `${describeDevice(device)} reserved, but this engine has no NVIDIA runtime (runtimes: ${host.runtimes.join(", ") || "none listed"}) and no CDI GPU device`,
                hint: "install the NVIDIA driver and the NVIDIA Container Toolkit (`nvidia-ctk runtime configure --runtime=docker`), restart Docker and run this again; or pack without the GPU services' profile",
                overridable: true,
              },
        );
      } else if (device.driver === "cdi" || device.deviceIds.some((id) => id.includes("="))) {
        const missing = device.deviceIds.filter((id) => !host.cdiDevices.includes(id));
        checks.push(
          !host.cdiDevices.length
            ? {
                name,
                status: "warn",
                detail: `${describeDevice(device)}: this engine does not list its CDI devices (Docker 28+ does); compose will say if one is missing`,
              }
            : missing.length
              ? {
                  name,
                  status: "fail",
                  detail: `CDI device(s) ${missing.join(", ")} not on this host (it has ${host.cdiDevices.join(", ")})`,
                  hint: "generate the CDI specification for the device (e.g. `nvidia-ctk cdi generate`) and run this again",
                  overridable: true,
                }
              : { name, status: "ok", detail: describeDevice(device) },
        );
      } else
        checks.push({
          name,
          status: "warn",
          detail: `${describeDevice(device)}: sealift cannot check this driver; compose will say if the host lacks it`,
        });
    }
  }
  return checks;
}

/**
 * What the engine's data root takes at its peak while the bundle's images load, on this host's
 * store: the classic store (overlay2) first unpacks docker load's whole input into a temporary
 * folder of the data root, then each layer into its own; the containerd store keeps every layer
 * for good as the blob it was given and unpacked. Both: the input plus the layers unpacked, and a
 * tenth for the stores' own records (`npm run bench -- engines` measures the high-water mark on
 * each store against this), plus the volumes' data.
 */
export function dataRootNeed(
  host: Pick<DockerHost, "containerdImageStore">,
  manifest: Manifest,
  imagesMissing: boolean,
): { bytes: number; why: string; how: string } {
  const volumes = Math.max(0, manifest.requirements.dockerDataBytes - manifest.images.bytes);
  if (!imagesMissing) return { bytes: volumes, why: volumes ? "volumes' data" : "", how: "" };
  const input = manifest.images.bytes;
  const unpacked = manifest.requirements.imagesUnpackedBytes ?? input;
  const how = host.containerdImageStore
    ? "the containerd store keeps each layer as given and unpacked"
    : "docker load unpacks its input in a temporary folder, then each layer";
  return {
    bytes: Math.round(DATA_ROOT_MARGIN * (input + unpacked)) + volumes,
    why: `images ${formatBytes(input)} + ${formatBytes(unpacked)} unpacked${volumes ? ", volumes" : ""}`,
    how: `on this host ${how}`,
  };
}

/** The stores' own records over input + unpacked layers (measured by the benchmark: up to 1.05). */
export const DATA_ROOT_MARGIN = 1.1;

/** Free space in `dir` against `needed`; `why` says what the need is made of, `how` (in the hint) why so much. */
export async function diskCheck(
  name: string,
  dir: string,
  needed: number,
  why = "",
  how = "",
): Promise<Check> {
  const free = await freeBytes(dir);
  if (free === null) return { name, status: "warn", detail: `cannot read free space of ${dir}` };
  const detail = `${formatBytes(free)} free in ${dir}, ${formatBytes(needed)} needed${why ? ` (${why})` : ""}`;
  return free >= needed
    ? { name, status: "ok", detail }
    : {
        name,
        status: "fail",
        detail,
        hint: `free ${formatBytes(needed - free)} in ${dir} (or choose another folder)${how ? `; ${how}` : ""}`,
        overridable: true,
      };
}

export async function writableCheck(dir: string): Promise<Check> {
  const existing = await nearestExisting(dir);
  try {
    const stat = await fs.stat(existing);
    if (!stat.isDirectory()) throw new Error("not a folder");
    await fs.access(existing, fsConstants.W_OK);
    return { name: "Install directory", status: "ok", detail: `${dir} is writable` };
  } catch (error) {
    return {
      name: "Install directory",
      status: "fail",
      detail: `${existing === dir ? dir : `${existing} (parent of ${dir})`} is not writable: ${(error as Error).message}`,
      hint: "choose another folder with --dir, or run as a user who can write there",
    };
  }
}

function portFree(port: number, hostIp: string): Promise<true | string> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host: hostIp || "0.0.0.0", exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}

/**
 * Published ports must be free, or held by this same app (a re-run or an upgrade). A range
 * ("8000-8010") needs one free port of it: docker takes the first it can bind.
 */
export async function portChecks(
  host: DockerHost,
  project: string,
  ports: PublishedPort[],
): Promise<Check[]> {
  const ours = new Set(
    (await projectContainers(host, project)).flatMap((c) => c.ports.map((p) => Number(p.hostPort))),
  );
  const checks: Check[] = [];
  for (const port of ports.filter((p) => p.protocol === "tcp")) {
    const label = `Port ${port.hostIp ? `${port.hostIp}:` : ""}${port.published}`;
    const [from, to = from] = port.published.split("-").map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to)) {
      checks.push({ name: label, status: "warn", detail: "not a port number compose gave; not checked" });
      continue;
    }
    const candidates = Array.from({ length: Math.max(1, to! - from! + 1) }, (_, i) => from! + i);
    if (candidates.some((p) => ours.has(p))) {
      checks.push({ name: label, status: "ok", detail: `used by ${project} itself` });
      continue;
    }
    let result: true | string = "EADDRINUSE";
    for (const candidate of candidates) {
      result = await portFree(candidate, port.hostIp);
      if (result === true || result === "EACCES") break;
    }
    if (result === true) checks.push({ name: label, status: "ok", detail: "free" });
    else if (result === "EACCES")
      checks.push({ name: label, status: "warn", detail: "cannot check (needs root)" });
    else {
      checks.push({
        name: label,
        status: "fail",
        detail:
          result === "EADDRINUSE"
            ? candidates.length > 1
              ? "every port of the range is in use"
              : "already in use by another program"
            : `cannot bind: ${result}`,
        hint: `stop what uses port ${port.published}, or choose another port for the setting that sets it (--set KEY=PORT)`,
      });
    }
  }
  return checks;
}

/** Throws PREFLIGHT_FAILED listing every failure that --force does not cover. */
export function enforce(checks: Check[], force: boolean): void {
  const blocking = checks.filter((c) => c.status === "fail" && !(force && c.overridable));
  if (blocking.length === 0) return;
  const first = blocking[0]!;
  const overridable = blocking.every((c) => c.overridable);
  throw new SealiftError(
    "PREFLIGHT_FAILED",
    `preflight failed: ${blocking.map((c) => `${c.name} (${c.detail})`).join("; ")}`,
    {
      hint: `${first.hint ?? "fix it and run again"}${overridable ? "; --force goes on anyway" : ""}`,
      details: blocking.slice(1).map((c) => `${c.name}: ${c.hint ?? c.detail}`),
    },
  );
}

/**
 * What the compose files let services do to the host. Declared at pack time: shown as a warning.
 * Not declared (the compose files say more than the manifest): refused, the bundle is not what was packed.
 */
export function hostAccessChecks(
  manifest: Manifest,
  services: ReadonlyArray<{ name: string; hostAccess: string[] }>,
): Check[] {
  const checks: Check[] = [];
  for (const service of services) {
    const declared = new Set(manifest.services.find((s) => s.name === service.name)?.hostAccess ?? []);
    for (const access of service.hostAccess) {
      if (!declared.has(access)) {
        throw new SealiftError(
          "BUNDLE_MANIFEST_INVALID",
          `service ${service.name} ${access}, which the bundle did not declare when it was packed`,
          {
            hint: "the compose files were changed after packing; do not install this bundle, get a fresh copy",
          },
        );
      }
      checks.push({ name: "Host access", status: "warn", detail: `${service.name} ${access}` });
    }
  }
  return checks;
}

/**
 * Never the network: every service compose would run must be one the bundle carries an image for
 * (compose.sealift.yaml pins each to it); anything else would be pulled or built, and is refused.
 */
export function shippedServiceChecks(
  manifest: Manifest,
  services: ReadonlyArray<{ name: string; image?: string | null }>,
): Check[] {
  const shipped = new Set(manifest.services.map((s) => s.name));
  const strays = services.filter((s) => !shipped.has(s.name));
  if (!strays.length) return [];
  return strays.map((s) => ({
    name: "Images",
    status: "fail",
    detail: `service ${s.name}${s.image ? ` (image ${s.image})` : ""} is not in the bundle: compose would pull or build it`,
    hint: "the compose files do not match the bundle's images; install a bundle packed from these compose files",
  }));
}
