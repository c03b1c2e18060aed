/** The real Docker Engine, for the tests' setup, cleanup and assertions. */
import { run } from "./run.js";

export const BASE_IMAGE = "sealift-example/busybox:1.36";

/** Environment naming another engine (engineEnv of a field host); this machine's engine by default. */
type Engine = Record<string, string> | undefined;

export async function docker(args: string[], engine?: Engine): Promise<string> {
  const outcome = await run("docker", args, { env: engine });
  if (outcome.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${outcome.stderr}`);
  return outcome.stdout.trim();
}

export async function imageId(ref: string): Promise<string | null> {
  const outcome = await run("docker", ["image", "inspect", "--format", "{{.Id}}", ref]);
  return outcome.code === 0 ? outcome.stdout.trim() : null;
}

export async function removeImages(refs: string[], engine?: Engine): Promise<void> {
  if (refs.length) await run("docker", ["rmi", "-f", ...refs], { env: engine });
}

/** IDs of a compose project's containers, volumes or networks (compose labels all three). */
async function projectObjects(project: string, list: string[], engine?: Engine): Promise<string[]> {
  const outcome = await run(
    "docker",
    [...list, "-q", "--filter", `label=com.docker.compose.project=${project}`],
    { env: engine },
  );
  return outcome.stdout.split("\n").filter(Boolean);
}

/** Removes a compose project's containers, networks and volumes, whatever state it is in. */
export async function removeProject(project: string, engine?: Engine): Promise<void> {
  const containers = await projectObjects(project, ["ps", "-a"], engine);
  if (containers.length) await run("docker", ["rm", "-f", "-v", ...containers], { env: engine });
  const volumes = await projectObjects(project, ["volume", "ls"], engine);
  if (volumes.length) await run("docker", ["volume", "rm", "-f", ...volumes], { env: engine });
  const networks = await projectObjects(project, ["network", "ls"], engine);
  if (networks.length) await run("docker", ["network", "rm", ...networks], { env: engine });
}

export async function projectImages(project: string, engine?: Engine): Promise<string[]> {
  const out = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}"], engine);
  return out.split("\n").filter((ref) => ref.startsWith(`${project}-`));
}

/** `docker ps` arguments for the running container of one compose service, by compose's labels. */
export function serviceContainerArgs(project: string, service: string): string[] {
  return [
    "ps",
    "-q",
    "--filter",
    `label=com.docker.compose.project=${project}`,
    "--filter",
    `label=com.docker.compose.service=${service}`,
  ];
}

/** The running container of one compose service, by compose's labels ("" when there is none). */
export async function serviceContainer(project: string, service: string): Promise<string> {
  return (await run("docker", serviceContainerArgs(project, service))).stdout.trim();
}
