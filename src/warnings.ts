/**
 * Every warning sealift gives, by its stable code (the --json `warnings` list carries them), each
 * with what it is about. A warning is a recoverable oddity; `pack --strict` turns the ones marked
 * `strict` into errors.
 */
export const WARNING_CODES = {
  // the project, at pack and plan
  DIRTY_TREE: "uncommitted changes (or a folder not in git) are packed",
  SECRET_IN_TEMPLATE: ".env sets a secret; its value travels as the default offered",
  HOST_ACCESS: "a service reaches beyond its container (host paths, privileged...)",
  SETTINGS_NOT_LISTED: "Compose v1 cannot list the variables the compose files use",
  NO_BUILDKIT: "no BuildKit: the legacy builder builds",
  DATA_NOT_SHIPPED: "a bind mount needs files git ignores that are not shipped",
  DATA_SKIPPED: "a symlink or special file under a data path does not travel",
  // Dockerfile lint (packager/lint.ts)
  SYNTAX_DIRECTIVE: "a # syntax= line makes BuildKit pull a frontend image",
  BASE_UNPINNED: "a base image by :latest or without a tag",
  BASE_VERSION_SKEW: "one base image at several versions",
  ARG_SKEW: "one ARG with different defaults across Dockerfiles",
  ADD_URL: "ADD from a URL",
  NETWORK_STEP: "a RUN step fetches from the network without a cache mount",
  // the build cache
  CACHE_MOUNTS_SKIPPED: "cache mounts cannot be exported without BuildKit",
  CACHE_MOUNT_EMPTY: "a cache mount is empty on the build machine",
  CACHE_MOUNT_FAILED: "a cache mount could not be exported",
  CACHE_FIT_FAILED: "the build cache could not be fitted to this engine (the app is up)",
  // the install
  UPGRADE_FAILED: "the new release failed; the one before is coming back",
} as const;

export type WarningCode = keyof typeof WARNING_CODES;

/**
 * The warnings `pack --strict` turns into errors, in the order they are checked: each rule's
 * warnings become one error with that code, listing them. Applied in one place (packager/strict.ts).
 */
export const STRICT_RULES = [
  {
    codes: ["DATA_NOT_SHIPPED"],
    error: "DATA_NOT_SHIPPED",
    what: (n: number) => `${n} bind mount(s) need data that is not shipped`,
    hint: "ship it with --data PATH or x-sealift: {data: [PATH]}, or pack without --strict",
  },
  {
    codes: ["SYNTAX_DIRECTIVE", "BASE_UNPINNED", "BASE_VERSION_SKEW", "ARG_SKEW", "ADD_URL", "NETWORK_STEP"],
    error: "LINT_FAILED",
    what: (n: number) => `${n} Dockerfile problem(s)`,
    hint: "fix them (see the warnings above) or pack without --strict",
  },
  {
    codes: ["CACHE_MOUNTS_SKIPPED", "CACHE_MOUNT_EMPTY", "CACHE_MOUNT_FAILED"],
    error: "BUILD_FAILED",
    what: (n: number) => `${n} cache mount problem(s)`,
    hint: "build the project here with BuildKit (the buildx plugin) first; helper images need sh and tar",
  },
] as const satisfies ReadonlyArray<{
  codes: readonly WarningCode[];
  error: string;
  what: (n: number) => string;
  hint: string;
}>;
