/**
 * A compose project as the compose that runs it resolves it: which files (as compose discovers
 * them, or -f, or COMPOSE_FILE), which services with which profiles, which variables. Compose is
 * the authority (docker/compose.ts runs it); here are only the choices compose leaves to its caller.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { composeConfig, composeVariables, type ComposeInput } from "../docker/compose.js";
import type { ComposeTool } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";
import { modelFromCompose, type ComposeModel } from "./compose-model.js";
import { envToRecord, isSecretName, parseEnvFile } from "./env-file.js";

export type { ComposeModel, ServiceModel, PublishedPort, ServiceBuild } from "./compose-model.js";

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

/** Compose v2's rule for project names: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normaliseProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[^a-z0-9]+/, "");
}

/** The project's `.env` as KEY -> VALUE ({} when there is none). */
export function readDotEnv(dir: string): Record<string, string> {
  const file = path.join(dir, ".env");
  return existsSync(file) ? envToRecord(parseEnvFile(readFileSync(file, "utf8"))) : {};
}

/**
 * The compose files of a project, as compose chooses them: -f as given; else COMPOSE_FILE (from
 * the environment, then `.env`; separated by COMPOSE_PATH_SEPARATOR or ":"); else the first of
 * compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml and its override.
 */
export function findComposeFiles(
  dir: string,
  given: readonly string[] = [],
  env: Record<string, string | undefined> = process.env,
): string[] {
  const dotEnv = readDotEnv(dir);
  const fromEnv = env.COMPOSE_FILE ?? dotEnv.COMPOSE_FILE;
  const separator = env.COMPOSE_PATH_SEPARATOR ?? dotEnv.COMPOSE_PATH_SEPARATOR ?? ":";
  let files: string[];
  if (given.length) files = [...given];
  else if (fromEnv) files = fromEnv.split(separator).filter(Boolean);
  else {
    const main = DEFAULT_COMPOSE_FILES.find((f) => existsSync(path.join(dir, f)));
    if (!main)
      throw new SealiftError("COMPOSE_NOT_FOUND", `no compose file in ${dir}`, {
        hint: `looked for ${DEFAULT_COMPOSE_FILES.join(", ")}; name one with -f FILE or run in the project's folder`,
      });
    const override = OVERRIDE_FOR[main]!.find((f) => existsSync(path.join(dir, f)));
    files = override ? [main, override] : [main];
  }
  return files.map((f) => {
    const relative = path.relative(dir, path.resolve(dir, f));
    if (relative.startsWith("..") || path.isAbsolute(relative))
      throw new SealiftError("USAGE", `compose file ${f} is outside the project folder ${dir}`, {
        hint: "keep the compose files inside the project so they travel with its source",
      });
    if (!existsSync(path.join(dir, relative)))
      throw new SealiftError("COMPOSE_NOT_FOUND", `compose file ${f} does not exist in ${dir}`, {
        hint: "check the name given with -f or COMPOSE_FILE",
      });
    return relative;
  });
}

export interface ResolveOptions {
  /** Compose files as given with -f (relative to dir); none: as compose would find them. */
  files?: readonly string[];
  /** Profiles as given with --profile; none: COMPOSE_PROFILES from the environment or `.env`. */
  profiles?: readonly string[];
  /** Variables that win over `.env` (the operator's answers at install). */
  env?: Record<string, string>;
  /** Only `.env` and `env`, not this process's environment (the installer's view). */
  cleanEnv?: boolean;
  signal?: AbortSignal;
}

/** The profiles in force: as given, else COMPOSE_PROFILES (environment, then `.env`). */
export function activeProfiles(dir: string, options: ResolveOptions): string[] {
  if (options.profiles?.length) return [...options.profiles];
  const fromEnv =
    options.env?.COMPOSE_PROFILES ??
    (options.cleanEnv ? undefined : process.env.COMPOSE_PROFILES) ??
    readDotEnv(dir).COMPOSE_PROFILES;
  return (fromEnv ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

function inputFor(dir: string, options: ResolveOptions): ComposeInput {
  if (!existsSync(dir))
    throw new SealiftError("COMPOSE_NOT_FOUND", `project folder ${dir} does not exist`, {
      hint: "give the folder that holds the compose file",
    });
  return {
    dir,
    files: findComposeFiles(dir, options.files ?? [], options.cleanEnv ? {} : process.env),
    profiles: activeProfiles(dir, options),
    ...(options.env ? { env: options.env } : {}),
    ...(options.cleanEnv ? { cleanEnv: true } : {}),
  };
}

/** The project as `tool` resolves it (what `docker compose config` says), read into the model. */
export async function resolveComposeProject(
  tool: ComposeTool,
  projectDir: string,
  options: ResolveOptions = {},
): Promise<ComposeModel> {
  const dir = path.resolve(projectDir);
  const input = inputFor(dir, options);
  const { model } = await composeConfig(tool, input, options.signal);
  const projectName =
    options.env?.COMPOSE_PROJECT_NAME ??
    (options.cleanEnv ? undefined : process.env.COMPOSE_PROJECT_NAME) ??
    readDotEnv(dir).COMPOSE_PROJECT_NAME;
  const resolved = modelFromCompose(model, {
    dir,
    files: [...input.files],
    profiles: [...input.profiles],
    ...(projectName ? { name: projectName } : {}),
  });
  return { ...resolved, name: normaliseProjectName(resolved.name) };
}

export interface ProjectVariable {
  name: string;
  /** The value the installer offers: `.env`'s, else the default written in the compose files. */
  default: string;
  secret: boolean;
}

/**
 * The settings an operator is asked for: the variables the compose files use, as compose lists
 * them with their defaults (v2), and every variable `.env` sets (its values win as defaults).
 * Compose's own COMPOSE_* settings are not asked.
 */
export async function projectVariables(
  tool: ComposeTool,
  projectDir: string,
  options: ResolveOptions = {},
): Promise<ProjectVariable[]> {
  const dir = path.resolve(projectDir);
  const envFile = path.join(dir, ".env");
  const dotEnv = existsSync(envFile) ? parseEnvFile(readFileSync(envFile, "utf8")) : [];
  const used = (await composeVariables(tool, inputFor(dir, options), options.signal)) ?? [];
  const variables: ProjectVariable[] = dotEnv.map((v) => ({
    name: v.name,
    default: v.value,
    secret: v.secret,
  }));
  for (const v of used)
    if (!variables.some((known) => known.name === v.name))
      variables.push({ name: v.name, default: v.default, secret: isSecretName(v.name) });
  return variables.filter((v) => !v.name.startsWith("COMPOSE_"));
}

/**
 * Files compose reads besides the -f files: `include`d and `extends`ed compose files and
 * `env_file`s, found by those keys alone (compose decides what they mean), followed through
 * includes. Paths are relative to dir; ones outside it, or written with variables, are left out.
 */
export function composeInputs(dir: string, files: readonly string[]): string[] {
  const found = new Set<string>();
  const visit = (file: string) => {
    const absolute = path.resolve(dir, file);
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(absolute, "utf8"), { merge: true });
    } catch {
      return; // compose reports unreadable files itself
    }
    const base = path.dirname(absolute);
    const add = (reference: unknown, follow: boolean) => {
      if (typeof reference !== "string" || reference.includes("$")) return;
      const target = path.resolve(base, reference);
      const relative = path.relative(dir, target);
      if (relative.startsWith("..") || path.isAbsolute(relative) || !existsSync(target)) return;
      if (found.has(relative) || files.includes(relative)) return;
      found.add(relative);
      if (follow) visit(relative);
    };
    if (!doc || typeof doc !== "object") return;
    const top = doc as { include?: unknown; services?: Record<string, unknown> };
    for (const entry of Array.isArray(top.include) ? top.include : []) {
      if (typeof entry === "string") add(entry, true);
      else if (entry && typeof entry === "object") {
        const spec = entry as { path?: unknown; env_file?: unknown };
        for (const p of [spec.path].flat()) add(p, true);
        for (const e of [spec.env_file].flat()) add(e, false);
      }
    }
    for (const service of Object.values(top.services ?? {})) {
      if (!service || typeof service !== "object") continue;
      const s = service as { extends?: { file?: unknown }; env_file?: unknown };
      if (s.extends && typeof s.extends === "object") add(s.extends.file, true);
      for (const e of [s.env_file].flat())
        add(e && typeof e === "object" ? (e as { path?: unknown }).path : e, false);
    }
  };
  for (const file of files) visit(file);
  return [...found].sort();
}
