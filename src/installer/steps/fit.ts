/** The fit step: on another engine than the build machine's, one build to fit the cache to its BuildKit. */
import type { Reporter } from "../../report.js";
import { type ComposeModel } from "../../compose/compose-project.js";
import { type DockerHost } from "../../docker/docker-host.js";
import type { Manifest } from "../../bundle/manifest.js";
import { fitBuildCache } from "../build-cache.js";
import { type InstallRecord } from "../install-record.js";

/**
 * On an engine that is not the build machine's, the shipped cache keys partly differ from the ones
 * its BuildKit computes (see installer/build-cache.ts): build once now, with the cache mounts warm,
 * so that a rebuild after a code change finds every unchanged step. The app is up already; a
 * failure here is a warning.
 */
export async function fitCache(
  host: DockerHost,
  manifest: Manifest,
  model: ComposeModel,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<NonNullable<InstallRecord["cache"]>["fitted"]> {
  if (host.builder === "legacy" || manifest.build.dockerServer === host.serverVersion) return undefined;
  const status = reporter.status(
    `fitting the build cache to Docker ${host.serverVersion} (packed on Docker ${manifest.build.dockerServer})`,
  );
  try {
    const steps = (
      await fitBuildCache(host, manifest.project.name, model.services, {
        signal,
        onLine: (line) => status.line(line),
      })
    ).flatMap((f) => f.steps);
    const ran = steps.filter((s) => !s.cached).length;
    status.finish(
      `${steps.length - ran} of ${steps.length} build steps found in the shipped cache, ${ran} run here`,
    );
    return {
      engine: host.serverVersion,
      packedOn: manifest.build.dockerServer,
      at: new Date().toISOString(),
      steps: steps.length,
      ran,
    };
  } catch (error) {
    if (signal.aborted) throw error;
    status.finish("failed");
    reporter.warn(
      "CACHE_FIT_FAILED",
      `the build cache could not be fitted to this engine (${(error as Error).message.split("\n")[0]}); ` +
        "the app is installed; a rebuild may run dependency steps again",
    );
    return undefined;
  }
}
