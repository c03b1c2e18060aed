/**
 * Reads a compose project the way `docker compose` would: which files, which project name, the
 * `.env` variables, and for each service what sealift needs (image, build, published ports).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { SealiftError } from "../errors.js";
import { envToRecord, parseEnvFile, type EnvVariable } from "./env-file.js";
import { interpolateDeep, InterpolationError } from "./interpolate.js";

/** The files compose v2 picks, in its order of preference; the first one present wins. */
export const DEFAULT_COMPOSE_FILES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yaml",
  "docker-compose.yml",
];
const OVERRIDE_FOR: Record<string, string[]> = {
  "compose.yaml": ["compose.override.yaml", "compose.override.yml"],
  "compose.yml": ["compose.override.yml", "compose.override.yaml"],
  "docker-compose.yaml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
  "docker-compose.yml": ["docker-compose.override.yml", "docker-compose.override.yaml"],
};

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const buildSchema = z.union([
  z.string(),
  z.looseObject({
    context: z.string().optional(),
    dockerfile: z.string().optional(),
    target: z.string().optional(),
    cache_from: z.array(z.string()).optional(),
    args: z.union([z.record(z.string(), scalar), z.array(z.string())]).optional(),
  }),
]);
const portSchema = z.union([
  z.string(),
  z.number(),
  z.looseObject({
    target: z.union([z.number(), z.string()]),
    published: z.union([z.number(), z.string()]).optional(),
    host_ip: z.string().optional(),
    protocol: z.string().optional(),
  }),
]);
const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: buildSchema.optional(),
  ports: z.array(portSchema).optional(),
  healthcheck: z.looseObject({}).optional(),
  volumes: z
    .array(
      z.union([z.string(), z.looseObject({ type: z.string().optional(), source: z.string().optional() })]),
    )
    .optional(),
  privileged: z.boolean().optional(),
  network_mode: z.string().optional(),
  pid: z.string().optional(),
  cap_add: z.array(z.string()).optional(),
  devices: z.array(z.unknown()).optional(),
});
const composeSchema = z.looseObject({
  name: z.string().optional(),
  services: z.record(z.string(), serviceSchema.nullable()),
});

export interface PublishedPort {
  hostIp: string;
  port: number;
  protocol: string;
}

export interface ServiceModel {
  name: string;
  image?: string;
  build?: {
    context: string;
    dockerfile: string;
    target?: string;
    args: Record<string, string>;
    cacheFrom: string[];
  };
  ports: PublishedPort[];
  hasHealthcheck: boolean;
  /** What the service may do to the host beyond its own container (host paths, privileged...). */
  hostAccess: string[];
}

export interface ComposeModel {
  dir: string;
  name: string;
  /** Compose files, relative to dir. */
  files: string[];
  /** The `.env` file's variables in their order, or [] when there is none. */
  env: EnvVariable[];
  services: ServiceModel[];
}

/** Compose v2's rule for project names: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normaliseProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[^a-z0-9]+/, "");
}

export function findComposeFiles(dir: string): string[] {
  const main = DEFAULT_COMPOSE_FILES.find((f) => existsSync(path.join(dir, f)));
  if (!main) {
    throw new SealiftError("COMPOSE_NOT_FOUND", `no compose file in ${dir}`, {
      hint: `looked for ${DEFAULT_COMPOSE_FILES.join(", ")}; name one with -f FILE or run in the project's folder`,
    });
  }
  const override = OVERRIDE_FOR[main]!.find((f) => existsSync(path.join(dir, f)));
  return override ? [main, override] : [main];
}

function parseYamlText(text: string, label: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `${label}:${pos.line}:${pos.col}` : label;
    throw new SealiftError("COMPOSE_INVALID", `${where}: invalid YAML: ${first.message.split("\n")[0]}`, {
      hint: "fix the YAML at that line (`docker compose config` shows the same error)",
    });
  }
  return doc.toJS();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** Compose's merge of several files: maps merge key by key, later files win; lists of ports add up. */
function merge(base: unknown, over: unknown, key = ""): unknown {
  // `build: ./dir` is short for `build: {context: ./dir}`: merge it as that.
  if (key === "build") {
    if (typeof base === "string") base = { context: base };
    if (typeof over === "string") over = { context: over };
  }
  if (isRecord(base) && isRecord(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v, k) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over) && (key === "ports" || key === "volumes")) {
    return [...base, ...over];
  }
  return over;
}

function parsePorts(raw: z.infer<typeof portSchema>[] | undefined, where: string): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const entry of raw ?? []) {
    if (typeof entry === "number") continue; // a container port only: nothing is published
    if (typeof entry === "object") {
      if (entry.published === undefined || entry.published === "") continue;
      ports.push(
        ...expandRange(String(entry.published), entry.host_ip ?? "", entry.protocol ?? "tcp", where),
      );
      continue;
    }
    const [spec, protocol = "tcp"] = entry.split("/");
    // [host_ip:]published:target, where host_ip may be [v6]
    const match = /^(?:(\[[^\]]+\]|[^:]*):)?([^:]*):([^:]+)$/.exec(spec!);
    if (!match) continue; // "80": container port only
    const published = match[2]!;
    if (!published) continue;
    ports.push(...expandRange(published, (match[1] ?? "").replace(/^\[|\]$/g, ""), protocol, where));
  }
  return ports;
}

function expandRange(published: string, hostIp: string, protocol: string, where: string): PublishedPort[] {
  const [from, to = from] = published.split("-").map(Number);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from! < 1 || to! > 65535 || to! < from!) {
    throw new SealiftError(
      "SERVICE_INVALID",
      `${where}: published port "${published}" is not a port number`,
      {
        hint: "use HOST:CONTAINER with numbers from 1 to 65535, or a variable with a numeric value",
      },
    );
  }
  const out: PublishedPort[] = [];
  for (let p = from!; p <= to!; p++) out.push({ hostIp, port: p, protocol });
  return out;
}

function stringArgs(args: Record<string, unknown> | string[] | undefined): Record<string, string> {
  if (!args) return {};
  if (Array.isArray(args)) {
    return Object.fromEntries(
      args.map((a) => {
        const i = a.indexOf("=");
        return i < 0 ? [a, process.env[a] ?? ""] : [a.slice(0, i), a.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

/**
 * A service's reach beyond its container: bind mounts of host paths outside the project folder,
 * privileged mode, the host's network or PID namespace, added capabilities, devices.
 */
function hostAccess(service: z.infer<typeof serviceSchema>, projectDir: string): string[] {
  const access: string[] = [];
  for (const volume of service.volumes ?? []) {
    const source =
      typeof volume === "string"
        ? /^[./~]/.test(volume)
          ? volume.split(":")[0]
          : undefined
        : volume.type === "bind"
          ? volume.source
          : undefined;
    if (!source) continue;
    const resolved = path.resolve(projectDir, source.replace(/^~/, "/root"));
    if (resolved !== projectDir && !resolved.startsWith(`${projectDir}/`))
      access.push(`mounts host path ${source}`);
  }
  if (service.privileged) access.push("runs privileged");
  if (service.network_mode === "host") access.push("uses the host's network");
  if (service.pid === "host") access.push("sees the host's processes (pid: host)");
  if (service.cap_add?.length) access.push(`adds capabilities ${service.cap_add.join(", ")}`);
  if (service.devices?.length) access.push("uses host devices");
  return access;
}

export interface LoadOptions {
  /** Compose files as given with -f (relative to the project directory), or the defaults. */
  files?: string[];
  /** Values that win over `.env` (the installer's answers); the process environment wins over both at pack time. */
  overrides?: Record<string, string>;
  useProcessEnv?: boolean;
}

export function loadComposeProject(dir: string, options: LoadOptions = {}): ComposeModel {
  const projectDir = path.resolve(dir);
  if (!existsSync(projectDir)) {
    throw new SealiftError("COMPOSE_NOT_FOUND", `project folder ${dir} does not exist`, {
      hint: "give the folder that holds the compose file",
    });
  }
  const files = (options.files?.length ? options.files : findComposeFiles(projectDir)).map((f) =>
    path.relative(projectDir, path.resolve(projectDir, f)),
  );
  for (const f of files) {
    if (f.startsWith("..") || path.isAbsolute(f)) {
      throw new SealiftError("USAGE", `compose file ${f} is outside the project folder ${projectDir}`, {
        hint: "keep the compose files inside the project so they travel with its source",
      });
    }
    if (!existsSync(path.join(projectDir, f))) {
      throw new SealiftError("COMPOSE_NOT_FOUND", `compose file ${f} does not exist in ${projectDir}`, {
        hint: "check the name given with -f",
      });
    }
  }
  const envPath = path.join(projectDir, ".env");
  const env = existsSync(envPath) ? parseEnvFile(readFileSync(envPath, "utf8")) : [];
  const texts = files.map((name) => {
    try {
      return { name, text: readFileSync(path.join(projectDir, name), "utf8") };
    } catch (error) {
      throw new SealiftError("COMPOSE_NOT_FOUND", `cannot read compose file ${name}`, {
        hint: "check the path given with -f",
        cause: error,
      });
    }
  });
  const vars = { ...envToRecord(env), ...(options.useProcessEnv ? process.env : {}), ...options.overrides };
  return buildComposeModel(projectDir, texts, env, vars);
}

/** The model from compose files' texts (as read from disk, or from a bundle before install). */
export function buildComposeModel(
  projectDir: string,
  texts: ReadonlyArray<{ name: string; text: string }>,
  env: EnvVariable[],
  vars: Record<string, string | undefined>,
): ComposeModel {
  const files = texts.map((t) => t.name);
  let merged: unknown = {};
  for (const { name, text } of texts) merged = merge(merged, parseYamlText(text, name));
  let interpolated: unknown;
  try {
    interpolated = interpolateDeep(merged, vars);
  } catch (error) {
    if (error instanceof InterpolationError) {
      throw new SealiftError("COMPOSE_INVALID", `${files.join(", ")}: ${error.message}`, {
        hint: "set the variable in .env or the environment",
      });
    }
    throw error;
  }
  const parsed = composeSchema.safeParse(interpolated);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SealiftError(
      "COMPOSE_INVALID",
      `${files.join(", ")}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`,
      { hint: "the file must have a `services:` map; see `docker compose config` for the full check" },
    );
  }
  const doc = parsed.data;
  const name = normaliseProjectName(vars.COMPOSE_PROJECT_NAME ?? doc.name ?? path.basename(projectDir));
  const services: ServiceModel[] = Object.entries(doc.services).map(([serviceName, raw]) => {
    const where = `${files.join(", ")}: service "${serviceName}"`;
    const service = raw ?? {};
    if (!service.image && !service.build) {
      throw new SealiftError("SERVICE_INVALID", `${where} has neither \`image:\` nor \`build:\``, {
        hint: "give it an image to run or a build context to build from",
      });
    }
    const model: ServiceModel = {
      name: serviceName,
      ports: parsePorts(service.ports, where),
      hasHealthcheck: !!service.healthcheck,
      hostAccess: hostAccess(service, projectDir),
    };
    if (service.image) model.image = service.image;
    if (service.build) {
      const b = typeof service.build === "string" ? { context: service.build } : service.build;
      const context = path.resolve(projectDir, b.context ?? ".");
      model.build = {
        context,
        dockerfile: path.resolve(context, b.dockerfile ?? "Dockerfile"),
        args: stringArgs(b.args),
        cacheFrom: "cache_from" in b ? (b.cache_from ?? []) : [],
        ...(b.target ? { target: b.target } : {}),
      };
    }
    return model;
  });
  if (services.length === 0) {
    throw new SealiftError("COMPOSE_INVALID", `${files.join(", ")}: no services`, {
      hint: "a compose project needs at least one service",
    });
  }
  return { dir: projectDir, name, files, env, services };
}
