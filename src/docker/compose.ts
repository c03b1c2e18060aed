/**
 * Runs compose for an installed project, whichever flavour the host has (v2 plugin or v1).
 */
import { parse as parseYaml } from "yaml";
import { SealiftError } from "../errors.js";
import type { DockerHost, ComposeTool } from "./docker-host.js";
import { settleCutRecreate } from "./docker.js";
import {
  programEnvironment,
  runCommand,
  type CommandResult,
  type RunOptions,
} from "../process/run-command.js";

/** An installed project: compose runs it under its name. */
export type ComposeProject = ComposeInput & { name: string };

export function requireCompose(host: DockerHost): ComposeTool {
  if (!host.compose) {
    throw new SealiftError(
      "COMPOSE_MISSING",
      "neither `docker compose` (v2) nor `docker-compose` (v1) was found",
      {
        hint: "install the Docker Compose plugin or docker-compose, then run this again",
      },
    );
  }
  return host.compose;
}

export async function compose(
  host: DockerHost,
  project: ComposeProject,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const [file, ...lead] = requireCompose(host).command;
  return runCommand(file, [...lead, ...composeArgs(project), ...args], {
    cwd: project.dir,
    env: composeEnvironment(project),
    extendEnv: false,
    ...options,
  });
}

/**
 * `up -d` that never builds and never pulls, from whatever state an earlier `up` was cut off in
 * (settleCutRecreate: `onSettled` hears what it put back). On v1 the caller must have checked the
 * images exist.
 */
export async function composeUp(
  host: DockerHost,
  project: ComposeProject,
  options: RunOptions & { onSettled?: (line: string) => void } = {},
) {
  const tool = requireCompose(host);
  const { onSettled, ...runOptions } = options;
  for (const line of await settleCutRecreate(host, project.name, options.signal))
    onSettled?.(`an earlier start was cut off: ${line}`);
  const args = ["up", "-d", "--no-build", "--remove-orphans"];
  if (tool.flavour === "v2") args.push("--pull", "never");
  return compose(host, project, args, runOptions);
}

/** Where and how compose is to read a project: the same flags every compose command gets. */
export interface ComposeInput {
  /** The project name (-p); none: compose's own (COMPOSE_PROJECT_NAME, .env, the folder's name). */
  name?: string;
  /** The project directory: relative paths and `.env` resolve against it. */
  dir: string;
  /** Compose files (-f), relative to dir; none: compose's own discovery (and COMPOSE_FILE). */
  files: readonly string[];
  /** Profiles (--profile); none: COMPOSE_PROFILES if set, else only services without profiles. */
  profiles?: readonly string[];
  /** Variables that win over `.env` (the operator's answers). */
  env?: Record<string, string>;
  /**
   * The caller's whole environment, which compose reads as it would in their shell (the release
   * engineer's, at pack and plan). None: only `.env` and `env` count (the installer's view: the
   * operator's shell never changes what an installed project means).
   */
  environment?: Readonly<Record<string, string | undefined>>;
}

/** The flags every compose command gets: -p, --project-directory, -f, --profile. */
function composeArgs(input: ComposeInput): string[] {
  return [
    ...(input.name ? ["-p", input.name] : []),
    "--project-directory",
    input.dir,
    ...input.files.flatMap((f) => ["-f", f]),
    ...(input.profiles ?? []).flatMap((p) => ["--profile", p]),
  ];
}

function composeEnvironment(input: ComposeInput): Record<string, string | undefined> {
  return { ...(input.environment ?? programEnvironment()), ...input.env };
}

async function runConfig(tool: ComposeTool, input: ComposeInput, args: string[], signal?: AbortSignal) {
  const [file, ...lead] = tool.command;
  const result = await runCommand(file, [...lead, ...composeArgs(input), "config", ...args], {
    cwd: input.dir,
    env: composeEnvironment(input),
    extendEnv: false,
    signal,
    timeoutMs: 60_000,
    allowFailure: true,
  });
  if (result.exitCode === 0) return result;
  // Compose's own words (file, line and what is wrong), without its log prefixes.
  const said = result.stderr
    .split("\n")
    .map((line) => line.replace(/^(time=\S+ )?level=\w+ msg=/, "").trim())
    .filter(Boolean);
  throw new SealiftError(
    "COMPOSE_INVALID",
    `compose (${tool.flavour} ${tool.version}) cannot read the project in ${input.dir}: ${said.at(-1) ?? `exit ${result.exitCode}`}`,
    {
      hint: "this is compose's own verdict on the files; fix what it names (`docker compose config` shows the same) and run this again",
      details: said.slice(-12),
    },
  );
}

/**
 * The project as compose itself resolves it: files merged, anchors and merge keys, `extends`,
 * `include`, profiles, `.env` and interpolation applied. v2: `config --format json`; v1 (YAML
 * only): `config`. The caller normalises the two shapes (compose/compose-model.ts).
 */
export async function composeConfig(
  tool: ComposeTool,
  input: ComposeInput,
  signal?: AbortSignal,
): Promise<{ flavour: "v1" | "v2"; model: unknown }> {
  if (tool.flavour === "v2") {
    const result = await runConfig(tool, input, ["--format", "json"], signal);
    return { flavour: "v2", model: JSON.parse(result.stdout) as unknown };
  }
  const result = await runConfig(tool, input, [], signal);
  return { flavour: "v1", model: parseYaml(result.stdout) as unknown };
}

export interface ComposeVariable {
  name: string;
  required: boolean;
  /** The default written in the compose files (`${X:-default}`), or "" when none. */
  default: string;
}

/**
 * The variables the project's compose files use, with their defaults, as compose reads them
 * (v2's `config --variables`); null where compose cannot say (v1).
 */
export async function composeVariables(
  tool: ComposeTool,
  input: ComposeInput,
  signal?: AbortSignal,
): Promise<ComposeVariable[] | null> {
  if (tool.flavour !== "v2") return null;
  const result = await runConfig(tool, input, ["--variables"], signal);
  return parseVariablesTable(result.stdout);
}

/** `config --variables` prints a table (NAME REQUIRED DEFAULT VALUE ALTERNATE VALUE) even with --format json in 2.26. */
export function parseVariablesTable(text: string): ComposeVariable[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    const parsed = JSON.parse(trimmed) as Record<
      string,
      { Name?: string; Required?: boolean; DefaultValue?: string }
    >;
    return Object.entries(parsed).map(([name, v]) => ({
      name: v.Name ?? name,
      required: !!v.Required,
      default: v.DefaultValue ?? "",
    }));
  }
  const [header, ...lines] = text.split("\n");
  if (!header) return [];
  const col = (title: string) => header.indexOf(title);
  const required = col("REQUIRED");
  const defaults = col("DEFAULT VALUE");
  const alternate = col("ALTERNATE VALUE");
  return lines
    .filter((line) => line.trim())
    .map((line) => ({
      name: line.slice(0, required).trim(),
      required: line.slice(required, defaults).trim() === "true",
      default: line.slice(defaults, alternate === -1 ? undefined : alternate).trim(),
    }));
}
