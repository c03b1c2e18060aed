/**
 * The project as sealift uses it, taken from what compose itself resolved (`docker compose config`,
 * see docker/compose.ts): compose is the authority on what the files mean (merge keys, `extends`,
 * `include`, profiles, `.env`, interpolation, several -f files, `!reset`/`!override`); this module
 * only reads compose's canonical output, v2's JSON or v1's YAML, into the few fields sealift needs.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SealiftError } from "../errors.js";

export interface PublishedPort {
  /** "" when the port is published on every address. */
  hostIp: string;
  /** A port ("8080") or a range ("8000-8010"): docker takes one free port of a range. */
  published: string;
  target: number;
  protocol: string;
}

export interface VolumeMount {
  type: string;
  /** A host path (bind), a volume name (volume; "" for an anonymous one), "" for tmpfs. */
  source: string;
  target: string;
}

export interface ServiceBuild {
  /** An absolute path, or a URL (git, https) compose passes on as it is. */
  context: string;
  /** The Dockerfile as compose names it, relative to the context; null with dockerfile_inline. */
  dockerfile: string | null;
  dockerfileInline: string | null;
  /** Build args with a value (compose leaves out the ones it has no value for). */
  args: Record<string, string>;
  target: string | null;
  cacheFrom: string[];
  additionalContexts: Record<string, string>;
}

/** A device request (deploy.resources.reservations.devices, or `gpus:`): what the host must provide. */
export interface DeviceRequest {
  /** "nvidia", "cdi"... ("" when only capabilities are given). */
  driver: string;
  capabilities: string[];
  /** "all", a number, or "" when device_ids name them. */
  count: string;
  deviceIds: string[];
}

/** A top-level named volume: the name the engine knows it by for this project. */
export interface NamedVolume {
  name: string;
  external: boolean;
}

/** The project's own sealift settings: the top-level `x-sealift` extension. */
export interface SealiftExtension {
  /** Files and folders of the project that travel as data (not in git: model weights...). */
  data: string[];
  /** Named volumes (as the compose file names them) that travel with their content. */
  volumes: string[];
}

export interface ServiceModel {
  name: string;
  /** The image compose names; null where the service is built and compose names none. */
  image: string | null;
  build: ServiceBuild | null;
  ports: PublishedPort[];
  volumes: VolumeMount[];
  hasHealthcheck: boolean;
  /** What the service may do to the host beyond its own container (host paths, privileged...). */
  hostAccess: string[];
  /** Devices it reserves (GPUs): the host must have a runtime or CDI devices for them. */
  devices: DeviceRequest[];
}

export interface ComposeModel {
  /** The project directory. */
  dir: string;
  name: string;
  /** Compose files as given (relative to dir), or the ones compose found. */
  files: string[];
  /** The profiles asked for; the services are the ones compose starts with them. */
  profiles: string[];
  services: ServiceModel[];
  /** Top-level named volumes by the key the compose files use. */
  volumes: Record<string, NamedVolume>;
  sealift: SealiftExtension;
}

const text = z.union([z.string(), z.number()]).transform(String);
const portSchema = z.union([
  text,
  z.looseObject({
    target: z.union([z.number(), z.string()]),
    published: z.union([z.number(), z.string()]).nullish(),
    host_ip: z.string().nullish(),
    protocol: z.string().nullish(),
  }),
]);
const volumeSchema = z.union([
  z.string(),
  z.looseObject({
    type: z.string().nullish(),
    source: z.string().nullish(),
    target: z.string().nullish(),
  }),
]);
const buildSchema = z.union([
  z.string(),
  z.looseObject({
    context: z.string().nullish(),
    dockerfile: z.string().nullish(),
    dockerfile_inline: z.string().nullish(),
    args: z.union([z.record(z.string(), text.nullable()), z.array(z.string())]).nullish(),
    target: z.string().nullish(),
    cache_from: z.array(z.string()).nullish(),
    additional_contexts: z.union([z.record(z.string(), z.string()), z.array(z.string())]).nullish(),
  }),
]);
const serviceSchema = z.looseObject({
  image: z.string().nullish(),
  profiles: z.array(z.string()).nullish(),
  build: buildSchema.nullish(),
  ports: z.array(portSchema).nullish(),
  volumes: z.array(volumeSchema).nullish(),
  healthcheck: z.looseObject({ disable: z.boolean().nullish() }).nullish(),
  privileged: z.boolean().nullish(),
  network_mode: z.string().nullish(),
  pid: z.string().nullish(),
  ipc: z.string().nullish(),
  cap_add: z.array(z.string()).nullish(),
  devices: z.array(z.unknown()).nullish(),
  gpus: z.union([z.string(), z.array(z.looseObject({}))]).nullish(),
  deploy: z
    .looseObject({
      resources: z
        .looseObject({
          reservations: z
            .looseObject({
              devices: z
                .array(
                  z.looseObject({
                    driver: z.string().nullish(),
                    capabilities: z.array(z.string()).nullish(),
                    count: z.union([z.number(), z.string()]).nullish(),
                    device_ids: z.array(z.string()).nullish(),
                  }),
                )
                .nullish(),
            })
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
});
const pathList = z.array(z.string()).nullish();
const sealiftSchema = z.looseObject({ data: pathList, volumes: pathList });
const configSchema = z.looseObject({
  name: z.string().nullish(),
  services: z.record(z.string(), serviceSchema.nullable()).nullish(),
  volumes: z
    .record(
      z.string(),
      z
        .looseObject({
          name: z.string().nullish(),
          external: z.union([z.boolean(), z.looseObject({ name: z.string().nullish() })]).nullish(),
        })
        .nullable(),
    )
    .nullish(),
  "x-sealift": sealiftSchema.nullish(),
});

/** compose writes a literal `$` as `$$` in its output (so that the output reads back the same). */
function unescape(value: string): string {
  return value.replace(/\$\$/g, "$");
}

function ports(raw: z.infer<typeof portSchema>[]): PublishedPort[] {
  const found: PublishedPort[] = [];
  for (const port of raw) {
    if (typeof port === "string") {
      // v1's canonical form: "HOST_IP:PUBLISHED:TARGET/PROTOCOL" (an unpublished port: "TARGET").
      const [spec, protocol = "tcp"] = port.split("/");
      const parts = spec!.split(":");
      if (parts.length < 2) continue;
      const target = Number(parts.at(-1)!.split("-")[0]);
      found.push({
        hostIp:
          parts.length > 2
            ? parts
                .slice(0, -2)
                .join(":")
                .replace(/^\[|\]$/g, "")
            : "",
        published: parts.at(-2)!,
        target,
        protocol,
      });
      continue;
    }
    if (port.published === undefined || port.published === null || port.published === "") continue;
    found.push({
      hostIp: port.host_ip ?? "",
      published: String(port.published),
      target: Number(port.target),
      protocol: port.protocol ?? "tcp",
    });
  }
  return found;
}

function mounts(raw: z.infer<typeof volumeSchema>[]): VolumeMount[] {
  return raw.map((volume) => {
    if (typeof volume !== "string")
      return {
        type: volume.type ?? "volume",
        source: volume.source ?? "",
        target: volume.target ?? "",
      };
    // v1's canonical form: "SOURCE:TARGET[:MODE]" or "TARGET" (anonymous).
    const [source, target] = volume.split(":");
    if (target === undefined) return { type: "volume", source: "", target: source! };
    return { type: source!.startsWith("/") ? "bind" : "volume", source: source!, target };
  });
}

function keyValues(raw: Record<string, string | null> | string[] | null | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf("=");
      if (eq > 0) values[entry.slice(0, eq)] = unescape(entry.slice(eq + 1));
    }
  } else {
    for (const [key, value] of Object.entries(raw ?? {})) if (value !== null) values[key] = unescape(value);
  }
  return values;
}

function build(raw: z.infer<typeof buildSchema>, dir: string): ServiceBuild {
  const spec = typeof raw === "string" ? { context: raw } : raw;
  const context = spec.context ?? ".";
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\/|^git@|^github\.com\//i.test(context);
  return {
    context: isUrl ? context : path.resolve(dir, context),
    dockerfile: spec.dockerfile_inline ? null : (spec.dockerfile ?? "Dockerfile"),
    dockerfileInline: spec.dockerfile_inline ? unescape(spec.dockerfile_inline) : null,
    args: keyValues(spec.args),
    target: spec.target ?? null,
    cacheFrom: spec.cache_from ?? [],
    additionalContexts: keyValues(spec.additional_contexts),
  };
}

/**
 * A service's reach beyond its container: bind mounts of host paths outside the project folder,
 * privileged mode, the host's network or PID namespace, added capabilities, devices.
 */
function hostAccess(service: z.infer<typeof serviceSchema>, mounts: VolumeMount[], dir: string): string[] {
  const access: string[] = [];
  for (const m of mounts.filter((m) => m.type === "bind")) {
    const resolved = path.resolve(dir, m.source);
    if (resolved === dir || resolved.startsWith(`${dir}/`)) continue;
    // Beside the project: relative to it ("../shared"), the same on the build machine and on the
    // host; elsewhere: the absolute path.
    const parent = path.dirname(dir);
    access.push(
      `mounts host path ${resolved.startsWith(`${parent}/`) ? path.relative(dir, resolved) : resolved}`,
    );
  }
  if (service.privileged) access.push("runs privileged");
  if (service.network_mode === "host") access.push("uses the host's network");
  if (service.pid === "host") access.push("sees the host's processes (pid: host)");
  if (service.cap_add?.length) access.push(`adds capabilities ${service.cap_add.join(", ")}`);
  if (service.devices?.length) access.push("uses host devices");
  return access;
}

/** The devices a service reserves: deploy.resources.reservations.devices and `gpus:`. */
function devices(service: z.infer<typeof serviceSchema>): DeviceRequest[] {
  const requests = (service.deploy?.resources?.reservations?.devices ?? []).map((d) => ({
    driver: d.driver ?? "",
    capabilities: d.capabilities ?? [],
    count: d.count === undefined || d.count === null ? "" : String(d.count),
    deviceIds: d.device_ids ?? [],
  }));
  if (service.gpus) {
    const gpus = typeof service.gpus === "string" ? [{ count: service.gpus }] : service.gpus;
    for (const g of gpus as Array<Record<string, unknown>>)
      requests.push({
        driver: typeof g.driver === "string" ? g.driver : "",
        capabilities: ["gpu"],
        count: g.count === undefined ? "all" : String(g.count),
        deviceIds: Array.isArray(g.device_ids) ? g.device_ids.map(String) : [],
      });
  }
  return requests;
}

/** Whether a device request asks for a GPU (the nvidia driver, or the gpu capability). */
export function isGpuRequest(request: DeviceRequest): boolean {
  return request.driver === "nvidia" || request.capabilities.includes("gpu");
}

/** The x-sealift extension, from compose's output or (v1 leaves extensions out) the files as written. */
function sealiftExtension(
  resolved: z.infer<typeof sealiftSchema> | null | undefined,
  raw: readonly unknown[],
): SealiftExtension {
  const found = [
    resolved,
    ...raw.map((doc) => sealiftSchema.safeParse((doc as Record<string, unknown>)?.["x-sealift"]).data),
  ];
  const data = new Set<string>();
  const volumes = new Set<string>();
  // Compose merges the files in order; a list later in the files adds to the earlier ones here.
  for (const ext of found) {
    for (const d of ext?.data ?? []) data.add(d);
    for (const v of ext?.volumes ?? []) volumes.add(v);
    if (ext === resolved && resolved) break; // compose's own merge is the authority when it kept the key
  }
  return { data: [...data], volumes: [...volumes] };
}

/**
 * Reads compose's resolved output into the model. `dir` is the project directory compose was
 * given (v1 leaves some paths relative to it); `files` and `profiles` are recorded as asked.
 */
export function modelFromCompose(
  resolved: unknown,
  input: { dir: string; files: string[]; profiles: string[]; name?: string; rawFiles?: readonly unknown[] },
): ComposeModel {
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SealiftError(
      "COMPOSE_INVALID",
      `compose's resolved project has an unexpected ${issue.path.join(".") || "shape"}: ${issue.message}`,
      { hint: "check `docker compose config` on the project; if compose accepts it, report this" },
    );
  }
  const config = parsed.data;
  // v2 leaves out the services of profiles not asked for; v1's `config` lists them all.
  const started = Object.entries(config.services ?? {}).filter(
    ([, raw]) => !raw?.profiles?.length || raw.profiles.some((p) => input.profiles.includes(p)),
  );
  const services = started.map(([name, raw]): ServiceModel => {
    const service = raw ?? {};
    const serviceMounts = mounts(service.volumes ?? []);
    return {
      name,
      image: service.image ? unescape(service.image) : null,
      build: service.build ? build(service.build, input.dir) : null,
      ports: ports(service.ports ?? []),
      volumes: serviceMounts,
      hasHealthcheck: !!service.healthcheck && !service.healthcheck.disable,
      hostAccess: hostAccess(service, serviceMounts, input.dir),
      devices: devices(service),
    };
  });
  if (!services.length)
    throw new SealiftError("COMPOSE_INVALID", "compose starts no service in this project", {
      hint: "a profile may gate every service: name it with --profile, or set COMPOSE_PROFILES",
    });
  for (const s of services)
    if (!s.image && !s.build)
      throw new SealiftError("COMPOSE_INVALID", `service ${s.name} has neither an image nor a build`, {
        hint: "give it `image:` or `build:`",
      });
  const name = input.name ?? config.name ?? path.basename(input.dir);
  const volumes: Record<string, NamedVolume> = {};
  for (const [key, raw] of Object.entries(config.volumes ?? {})) {
    const external = !!raw?.external;
    const externalName = raw?.external && typeof raw.external === "object" ? raw.external.name : undefined;
    // v2 writes the engine's name; v1 leaves it to be made from the project's name.
    volumes[key] = {
      name:
        raw?.name ??
        externalName ??
        (external ? key : `${name.toLowerCase().replace(/[^a-z0-9_-]/g, "")}_${key}`),
      external,
    };
  }
  return {
    dir: input.dir,
    name,
    files: input.files,
    profiles: input.profiles,
    services: services.sort((a, b) => a.name.localeCompare(b.name)),
    volumes,
    sealift: sealiftExtension(config["x-sealift"], input.rawFiles ?? []),
  };
}

/** The Dockerfile a service builds from, as a path on this machine; null when inline or remote. */
export function dockerfilePath(build: ServiceBuild): string | null {
  if (!build.dockerfile || !path.isAbsolute(build.context)) return null;
  return path.resolve(build.context, build.dockerfile);
}

/** The Dockerfile's text (inline, or read from the context); null where it cannot be read here. */
export function dockerfileText(build: ServiceBuild): string | null {
  if (build.dockerfileInline !== null) return build.dockerfileInline;
  const file = dockerfilePath(build);
  return file && existsSync(file) ? readFileSync(file, "utf8") : null;
}
