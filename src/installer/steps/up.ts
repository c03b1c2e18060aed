/** The up step: compose up and the wait for health; a failed upgrade rolls back. */
import { type VerifiedBundle } from "../../bundle/verify.js";
import { composeUp } from "../../docker/compose.js";
import { type ContainerState } from "../../docker/docker.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { SealiftError } from "../../errors.js";
import { waitHealthy } from "../health.js";
import { writeRecord } from "../install-record.js";
import { rollback } from "../rollback.js";
import { type InstallOptions, type Placed } from "./types.js";

/** compose up and the wait for health; on failure the record says so and an upgrade rolls back. */
export async function upStep(
  verified: VerifiedBundle,
  host: DockerHost,
  placed: Placed,
  options: InstallOptions,
): Promise<ContainerState[]> {
  const { signal } = options;
  const { project, record, rollbackPoint } = placed;
  const manifest = verified.manifest;
  const status = options.reporter.status("starting services");
  try {
    await composeUp(host, project, {
      signal,
      onSettled: (line) => options.reporter.info(line),
      failureHint:
        "see the compose error above; fix the settings in .env or the host and run the installer again",
    });
    const containers = await waitHealthy(
      host,
      project.name,
      manifest.services.map((s) => s.name),
      {
        timeoutMs: options.timeoutMs,
        signal,
        onStatus: (text) => status.line(text),
      },
    );
    status.finish(`${containers.length} services healthy`);
    return containers;
  } catch (error) {
    await writeRecord(project.dir, { ...record, status: "failed" });
    if (!rollbackPoint) throw error;
    throw await rollBackAfter(error, project.dir, rollbackPoint.record.release, manifest.project.release, {
      ...options,
      // Interrupted while the new release was starting: the one that ran before comes back (a second
      // Ctrl-C leaves at once).
      signal: signal.aborted ? new AbortController().signal : signal,
      interrupted: signal.aborted,
    });
  }
}

/** The upgrade failed: back to the release that ran before; the error says what happened to both. */
export async function rollBackAfter(
  failure: unknown,
  dir: string,
  from: string,
  to: string,
  options: InstallOptions & { interrupted: boolean },
): Promise<SealiftError> {
  const why = options.interrupted
    ? "interrupted while it was starting"
    : failure instanceof Error
      ? failure.message
      : String(failure);
  const details = failure instanceof SealiftError ? failure.details : [];
  options.reporter.warn("UPGRADE_FAILED", `release ${to} failed: ${why}; rolling back to release ${from}`);
  try {
    await rollback(dir, { ...options, reason: why });
  } catch (rollbackError) {
    return new SealiftError(
      "UNHEALTHY",
      `release ${to} failed (${why}), and rolling back to release ${from} failed too: ${(rollbackError as Error).message}`,
      {
        hint: `see the errors above; \`install rollback --dir ${dir}\` tries again, or install release ${from}'s bundle`,
        details,
        cause: failure,
      },
    );
  }
  if (options.interrupted)
    return new SealiftError(
      "CANCELLED",
      `release ${to} was ${why}; rolled back: release ${from} is running again`,
      {
        hint: "install it again when ready",
        cause: failure,
      },
    );
  return new SealiftError(
    "UPGRADE_ROLLED_BACK",
    `release ${to} failed (${why}); rolled back: release ${from} is running again`,
    {
      hint: "the failing release's logs are above; fix the bundle or the settings and install it again",
      details,
      cause: failure,
    },
  );
}
