/**
 * Runs compose for an installed project, whichever flavour the host has (v2 plugin or v1).
 */
import { SealiftError } from "../errors.js";
import type { DockerHost, ComposeTool } from "./docker-host.js";
import { runCommand, type CommandResult, type RunOptions } from "./run-command.js";

export interface ComposeProject {
  name: string;
  /** The project directory: relative paths and `.env` resolve against it. */
  dir: string;
  /** Compose files, relative to dir, in order (the override last). */
  files: readonly string[];
}

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
  const tool = requireCompose(host);
  const [file, ...lead] = tool.command;
  const fileArgs = project.files.flatMap((f) => ["-f", f]);
  return runCommand(
    file,
    [...lead, "-p", project.name, "--project-directory", project.dir, ...fileArgs, ...args],
    {
      cwd: project.dir,
      ...options,
    },
  );
}

/** `up -d` that never builds and never pulls. On v1 the caller must have checked the images exist. */
export async function composeUp(host: DockerHost, project: ComposeProject, options: RunOptions = {}) {
  const tool = requireCompose(host);
  const args = ["up", "-d", "--no-build", "--remove-orphans"];
  if (tool.flavour === "v2") args.push("--pull", "never");
  return compose(host, project, args, options);
}
