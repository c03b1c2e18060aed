/**
 * Waits until every service of the project runs and, where it has a healthcheck, is healthy.
 * On failure it reports each bad service with the end of its log.
 */
import { containerLogs, projectContainers, type ContainerState } from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError, cancelled } from "../errors.js";

export function isReady(c: ContainerState): boolean {
  return c.status === "running" && (c.health === null || c.health === "healthy");
}

function isBroken(c: ContainerState): boolean {
  return c.status === "exited" || c.status === "dead" || c.health === "unhealthy";
}

/** How often the services' state is asked while waiting (one `docker ps` and inspect a time). */
const HEALTH_POLL_MS = 500;

export async function waitHealthy(
  host: DockerHost,
  project: string,
  services: string[],
  options: { timeoutMs: number; signal?: AbortSignal; onStatus?: (text: string) => void },
): Promise<ContainerState[]> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw cancelled("cancelled while waiting for the services");
    const containers = (await projectContainers(host, project, options.signal)).filter((c) =>
      services.includes(c.service),
    );
    const ready = containers.filter(isReady);
    const broken = containers.filter(isBroken);
    const missing = services.filter((s) => !containers.some((c) => c.service === s));
    options.onStatus?.(`${ready.length}/${services.length} healthy`);
    if (missing.length === 0 && ready.length === containers.length) return containers;
    if (broken.length > 0 || Date.now() > deadline) {
      const bad = [...broken, ...containers.filter((c) => !isReady(c) && !broken.includes(c))];
      const details: string[] = [];
      for (const s of missing) details.push(`${s}: no container`);
      for (const c of bad) {
        details.push(
          `${c.service}: ${c.status}${c.health ? ` (${c.health})` : ""}${c.status === "exited" ? `, exit code ${c.exitCode}` : ""}; last log lines:`,
        );
        const logs = await containerLogs(host, c.id, 15);
        details.push(...(logs ? logs.split("\n").map((l) => `  | ${l}`) : ["  | (no output)"]));
      }
      const why = broken.length
        ? "a service failed"
        : `not healthy within ${Math.round(options.timeoutMs / 1000)} s`;
      throw new SealiftError(
        "UNHEALTHY",
        `${project}: ${why}: ${bad
          .map((c) => c.service)
          .concat(missing)
          .join(", ")}`,
        {
          hint: "fix the settings (.env) or the host and run the installer again; `--timeout SECONDS` gives slow services longer",
          details,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
}
