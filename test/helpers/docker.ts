/** The real Docker Engine, for the tests' setup, cleanup and assertions. */
import { run } from "./run.js";

export const BASE_IMAGE = "sealift-example/busybox:1.36";

export async function docker(args: string[]): Promise<string> {
  const outcome = await run("docker", args);
  if (outcome.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${outcome.stderr}`);
  return outcome.stdout.trim();
}

export async function imageId(ref: string): Promise<string | null> {
  const outcome = await run("docker", ["image", "inspect", "--format", "{{.Id}}", ref]);
  return outcome.code === 0 ? outcome.stdout.trim() : null;
}

export async function removeImages(refs: string[]): Promise<void> {
  if (refs.length) await run("docker", ["rmi", "-f", ...refs]);
}

/** IDs of a compose project's containers, volumes or networks (compose labels all three). */
async function projectObjects(project: string, list: string[]): Promise<string[]> {
  const outcome = await run("docker", [
    ...list,
    "-q",
    "--filter",
    `label=com.docker.compose.project=${project}`,
  ]);
  return outcome.stdout.split("\n").filter(Boolean);
}

/** Removes a compose project's containers, networks and volumes, whatever state it is in. */
export async function removeProject(project: string): Promise<void> {
  const containers = await projectObjects(project, ["ps", "-a"]);
  if (containers.length) await run("docker", ["rm", "-f", "-v", ...containers]);
  const volumes = await projectObjects(project, ["volume", "ls"]);
  if (volumes.length) await run("docker", ["volume", "rm", "-f", ...volumes]);
  const networks = await projectObjects(project, ["network", "ls"]);
  if (networks.length) await run("docker", ["network", "rm", ...networks]);
}

export async function projectImages(project: string): Promise<string[]> {
  const out = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
  return out.split("\n").filter((ref) => ref.startsWith(`${project}-`));
}

/** The running container of one compose service, by compose's labels ("" when there is none). */
export async function serviceContainer(project: string, service: string): Promise<string> {
  return (
    await run("docker", [
      "ps",
      "-q",
      "--filter",
      `label=com.docker.compose.project=${project}`,
      "--filter",
      `label=com.docker.compose.service=${service}`,
    ])
  ).stdout.trim();
}
