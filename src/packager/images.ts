/**
 * Turns the compose services into images on this machine: builds every `build:` service with
 * BuildKit under a pinned tag, checks every `image:` service is present (never pulls unless asked).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Reporter } from "../report.js";
import type { ComposeModel, ServiceModel } from "../compose/compose-project.js";
import { dockerfilePath } from "../compose/compose-model.js";
import { buildImage, inspectImage, pullImage, type ImageInfo } from "../docker/docker.js";
import { buildRequestFor } from "../compose/build-request.js";
import type { DockerHost } from "../docker/docker-host.js";
import { SealiftError } from "../errors.js";

export interface ResolvedService {
  service: ServiceModel;
  /** The reference compose runs on the target. */
  ref: string;
  built: boolean;
  image: ImageInfo;
}

export function pinnedTag(project: string, service: string, release: string): string {
  return `${project}-${service.toLowerCase().replace(/[^a-z0-9_.-]/g, "-")}:${release}`;
}

/** Checks every build has its context and Dockerfile before the first (long) build starts. */
export function checkDockerfiles(model: ComposeModel): void {
  for (const service of model.services) {
    const build = service.build;
    if (!build || !path.isAbsolute(build.context)) continue; // a URL: the builder fetches it
    if (!existsSync(build.context)) {
      throw new SealiftError(
        "DOCKERFILE_MISSING",
        `service "${service.name}": build context ${build.context} does not exist`,
        {
          hint: "fix `build.context` in the compose file",
        },
      );
    }
    const dockerfile = dockerfilePath(build);
    if (dockerfile && !existsSync(dockerfile)) {
      throw new SealiftError(
        "DOCKERFILE_MISSING",
        `service "${service.name}": Dockerfile ${path.relative(model.dir, dockerfile)} does not exist`,
        { hint: "add the Dockerfile or fix `build.dockerfile` in the compose file" },
      );
    }
  }
}

/** The CPU architecture the bundle is for: pack --platform's, else this engine's. */
export function targetArchitecture(host: DockerHost): string {
  return host.buildPlatform ? host.buildPlatform.split("/")[1]! : host.architecture;
}

export async function resolveImages(
  host: DockerHost,
  model: ComposeModel,
  release: string,
  options: { pull: boolean; reporter: Reporter; signal?: AbortSignal },
): Promise<ResolvedService[]> {
  const { reporter, signal } = options;
  if (model.services.some((s) => s.build) && host.builder === "legacy") {
    reporter.warn(
      "NO_BUILDKIT",
      `${host.docker} ${host.clientVersion} has no buildx and cannot drive BuildKit; building with the legacy builder (RUN --mount and cache export will not work)`,
    );
  }
  const resolved: ResolvedService[] = [];
  for (const service of model.services) {
    if (service.build) {
      const tag = pinnedTag(model.name, service.name, release);
      const status = reporter.status(`building ${service.name}`);
      const recent: string[] = [];
      try {
        await buildImage(host, {
          ...buildRequestFor(service.build, tag),
          signal,
          onLine: (line) => {
            recent.push(line);
            if (recent.length > 40) recent.shift();
            status.line(line);
          },
        });
      } catch (error) {
        if (error instanceof SealiftError && error.code === "BUILD_FAILED") {
          throw new SealiftError("BUILD_FAILED", `building service "${service.name}" failed`, {
            hint: `fix the build (try: cd ${service.build.context} && docker build .) and pack again`,
            details: recent.slice(-15),
            cause: error,
          });
        }
        throw error;
      }
      const image = await inspectImage(host, tag, signal);
      if (!image)
        throw new SealiftError("BUILD_FAILED", `service "${service.name}": the build left no image ${tag}`);
      status.finish(`built ${tag}`);
      resolved.push({ service, ref: tag, built: true, image });
      continue;
    }
    const ref = service.image!;
    let image = await inspectImage(host, ref, signal);
    if (!image && options.pull) {
      reporter.info(`pulling ${ref} for service ${service.name} (--pull)`);
      await pullImage(host, ref, signal);
      image = await inspectImage(host, ref, signal);
    }
    if (!image) {
      throw new SealiftError(
        "IMAGE_MISSING",
        `service "${service.name}" uses image ${ref}, which is not on this machine`,
        {
          hint: `sealift never pulls by itself: \`docker pull ${ref}\` (or build/load it) first, or pass --pull`,
        },
      );
    }
    resolved.push({ service, ref, built: false, image });
  }
  const wanted = targetArchitecture(host);
  const other = resolved.filter((r) => r.image.architecture !== wanted);
  if (other.length) {
    throw new SealiftError(
      "PLATFORM_MISMATCH",
      `${other.length} image(s) are not for linux/${wanted}, the platform this bundle is for: ${other.map((r) => `${r.service.name} (${r.image.architecture})`).join(", ")}`,
      {
        hint: `a bundle installs on one kind of host: get each image: service for linux/${wanted} on this machine (\`docker pull --platform linux/${wanted} IMAGE\`, or build it with --platform), or pack with --platform linux/${other[0]!.image.architecture}`,
        details: resolved.map((r) => `${r.service.name}: ${r.ref} (${r.image.os}/${r.image.architecture})`),
      },
    );
  }
  return resolved;
}

/** The images' sizes as Docker reports them, each image once (layers shared between images count twice). */
export function imagesSize(images: ReadonlyArray<{ image: ImageInfo }>): number {
  return [...new Map(images.map((r) => [r.image.id, r.image.size])).values()].reduce((a, b) => a + b, 0);
}
