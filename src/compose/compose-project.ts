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

/**
 * The files each compose picks when none is named, in its order of preference (the first present
 * wins), and the override files (v2 takes the first present, whatever the main file's name; v1
 * refuses more than one). Checked against compose itself in test/e2e/plan.test.ts.
 */
export const DEFAULT_COMPOSE_FILES: Record<ComposeTool["flavour"], readonly string[]> = {
  v2: ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"],
  v1: ["docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"],
};
const OVERRIDE_FILES: Record<ComposeTool["flavour"], readonly string[]> = {
  v2: [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
  ],
  v1: [
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
    "compose.override.yml",
    "compose.override.yaml",
  ],
};

/**
 * A `.env` value with `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`
 * and `$VAR` replaced as compose v2 reads `.env` (the environment first, then earlier lines).
 */
export function expandDotEnvValue(value: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(value.slice(i + 1));
    if (bare) {
      out += lookup(bare[0]) ?? "";
      i += 1 + bare[0].length;
      continue;
    }
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+])?/.exec(value.slice(i + 1));
    if (!braced) {
      out += c;
      i++;
      continue;
    }
    // The word runs to the matching brace: defaults may hold references of their own.
    let depth = 1;
    let j = i + 1 + braced[0].length;
    const wordStart = j;
    while (j < value.length && depth > 0) {
      if (value[j] === "{") depth++;
      else if (value[j] === "}") depth--;
      if (depth > 0) j++;
    }
    const word = value.slice(wordStart, j);
    const current = lookup(braced[1]!);
    const op = braced[2];
    if (!op) out += current ?? "";
    else {
      const set = op.startsWith(":") ? !!current : current !== undefined;
      if (op.endsWith("-")) out += set ? current! : expandDotEnvValue(word, lookup);
      else out += set ? expandDotEnvValue(word, lookup) : "";
    }
    i = j + 1;
  }
  return out;
}

/** Compose v2's rule for project names: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normaliseProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[^a-z0-9]+/, "");
}

/** `.env` as compose reads it for its own settings: v2 expands references, v1 takes values as written. */
function dotEnvForCompose(
  dir: string,
  env: Record<string, string | undefined>,
  flavour: ComposeTool["flavour"],
): Record<string, string> {
  const file = path.join(dir, ".env");
  if (!existsSync(file)) return {};
  const values: Record<string, string> = {};
  for (const { name, value } of parseEnvFile(readFileSync(file, "utf8")))
    values[name] = flavour === "v2" ? expandDotEnvValue(value, (n) => env[n] ?? values[n]) : value;
  return values;
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
  env: Readonly<Record<string, string | undefined>>,
  flavour: ComposeTool["flavour"] = "v2",
): string[] {
  const dotEnv = dotEnvForCompose(dir, env, flavour);
  const fromEnv = env.COMPOSE_FILE ?? dotEnv.COMPOSE_FILE;
  const separator = env.COMPOSE_PATH_SEPARATOR ?? dotEnv.COMPOSE_PATH_SEPARATOR ?? ":";
  let files: string[];
  if (given.length) files = [...given];
  else if (fromEnv) files = fromEnv.split(separator).filter(Boolean);
  else {
    const names = DEFAULT_COMPOSE_FILES[flavour];
    const main = names.find((f) => existsSync(path.join(dir, f)));
    if (!main)
      throw new SealiftError("COMPOSE_NOT_FOUND", `no compose file in ${dir}`, {
        hint: `looked for ${names.join(", ")}; name one with -f FILE or run in the project's folder`,
      });
    const overrides = OVERRIDE_FILES[flavour].filter((f) => existsSync(path.join(dir, f)));
    if (flavour === "v1" && overrides.length > 1)
      throw new SealiftError("COMPOSE_INVALID", `several override files in ${dir}: ${overrides.join(", ")}`, {
        hint: "Compose v1 takes one override file: remove the others, or name the files with -f",
      });
    files = overrides[0] ? [main, overrides[0]] : [main];
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
  /**
   * The release engineer's environment (pack, plan), read as compose would in their shell: COMPOSE_FILE,
   * COMPOSE_PROFILES, COMPOSE_PROJECT_NAME and interpolation. None: only `.env` and `env` (the installer's view).
   */
  environment?: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}

/** The profiles in force: as given, else COMPOSE_PROFILES (environment, then `.env`). */
export function activeProfiles(dir: string, options: ResolveOptions): string[] {
  if (options.profiles?.length) return [...options.profiles];
  const fromEnv =
    options.env?.COMPOSE_PROFILES ??
    options.environment?.COMPOSE_PROFILES ??
    readDotEnv(dir).COMPOSE_PROFILES;
  return (fromEnv ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

function inputFor(tool: ComposeTool, dir: string, options: ResolveOptions): ComposeInput {
  if (!existsSync(dir))
    throw new SealiftError("COMPOSE_NOT_FOUND", `project folder ${dir} does not exist`, {
      hint: "give the folder that holds the compose file",
    });
  return {
    dir,
    files: findComposeFiles(dir, options.files ?? [], options.environment ?? {}, tool.flavour),
    profiles: activeProfiles(dir, options),
    ...(options.env ? { env: options.env } : {}),
    ...(options.environment ? { environment: options.environment } : {}),
  };
}

/** The project as `tool` resolves it (what `docker compose config` says), read into the model. */
export async function resolveComposeProject(
  tool: ComposeTool,
  projectDir: string,
  options: ResolveOptions = {},
): Promise<ComposeModel> {
  const dir = path.resolve(projectDir);
  const input = inputFor(tool, dir, options);
  const { model } = await composeConfig(tool, input, options.signal);
  const projectName =
    options.env?.COMPOSE_PROJECT_NAME ??
    options.environment?.COMPOSE_PROJECT_NAME ??
    readDotEnv(dir).COMPOSE_PROJECT_NAME;
  const resolved = modelFromCompose(model, {
    dir,
    files: [...input.files],
    profiles: [...(input.profiles ?? [])],
    ...(projectName ? { name: projectName } : {}),
    // v1's output leaves top-level extensions out: x-sealift is then read from the files as written.
    rawFiles: hasSealiftKey(model) ? [] : input.files.map((f) => readYamlQuietly(path.join(dir, f))),
  });
  return { ...resolved, name: normaliseProjectName(resolved.name) };
}

function hasSealiftKey(model: unknown): boolean {
  return !!model && typeof model === "object" && "x-sealift" in model;
}

function readYamlQuietly(file: string): unknown {
  try {
    return parseYaml(readFileSync(file, "utf8"), { merge: true }) as unknown;
  } catch {
    return null; // compose has read it already; what it could not read it said
  }
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
  const used = (await composeVariables(tool, inputFor(tool, dir, options), options.signal)) ?? [];
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

/**
 * With Compose v1, which cannot list the variables its files use: the names the compose files
 * refer to (`${NAME...}`, `$NAME`) that `.env` does not set, so they are not offered as settings.
 * A plain reading of the files, only to say what is missing; v2 makes it unnecessary.
 */
export function variablesNotOffered(
  dir: string,
  files: readonly string[],
  offered: readonly ProjectVariable[],
): string[] {
  const known = new Set(offered.map((v) => v.name));
  const found = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(path.resolve(dir, file), "utf8");
    } catch {
      continue;
    }
    for (const m of text.replace(/\$\$/g, "").matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g))
      if (!known.has(m[1]!) && !m[1]!.startsWith("COMPOSE_")) found.add(m[1]!);
  }
  return [...found].sort();
}

/** The warning for variablesNotOffered's names, the same at pack and in plan. */
export function describeNotOffered(names: readonly string[]): string {
  return (
    `Compose v1 here cannot list the variables the compose files use: ${names.join(", ")} will not be ` +
    "offered as settings; install Compose v2 on this machine, or give each a line in .env (until then " +
    "the installer refuses --set for them and they keep the defaults written in the files)"
  );
}
