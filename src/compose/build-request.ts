/**
 * A service's build as compose would run it, as a request to the door to docker (docker/docker.ts
 * knows builds, not compose): context, Dockerfile, target, args, cache, named contexts.
 */
import type { BuildRequest } from "../docker/docker.js";
import type { ServiceBuild } from "./compose-model.js";

/** The build compose would run for a service: context, Dockerfile, target, args, cache, contexts. */
export function buildRequestFor(build: ServiceBuild, tag?: string): BuildRequest {
  return {
    context: build.context,
    ...(build.dockerfileInline !== null
      ? { dockerfileInline: build.dockerfileInline }
      : build.dockerfile
        ? { dockerfile: build.dockerfile }
        : {}),
    ...(Object.keys(build.additionalContexts).length ? { additionalContexts: build.additionalContexts } : {}),
    ...(tag ? { tag } : {}),
    ...(build.target ? { target: build.target } : {}),
    cacheFrom: build.cacheFrom,
    // Inline cache metadata lets another host reuse these layers with --cache-from.
    args: { BUILDKIT_INLINE_CACHE: "1", ...build.args },
  };
}
