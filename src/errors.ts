/**
 * Typed errors with stable codes. Only the top-level handler (src/cli/run-main.ts) turns them into
 * a message and an exit code; everything else throws them.
 */

/** Exit codes, documented in both CLIs' --help and in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  integrity: 3,
  preflight: 4,
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const ERROR_CODES = {
  // usage and input
  USAGE: ExitCode.usage,
  NO_TTY: ExitCode.usage,
  ANSWERS_INVALID: ExitCode.usage,
  COMPOSE_NOT_FOUND: ExitCode.usage,
  COMPOSE_INVALID: ExitCode.usage,
  SERVICE_INVALID: ExitCode.usage,
  DOCKERFILE_MISSING: ExitCode.usage,
  GIT_DIRTY: ExitCode.usage,
  LINT_FAILED: ExitCode.usage,
  GIT_MISSING: ExitCode.usage,
  OUT_NOT_WRITABLE: ExitCode.usage,
  BASE_INVALID: ExitCode.usage,
  INVENTORY_INVALID: ExitCode.usage,
  DATA_NOT_FOUND: ExitCode.usage,
  DATA_NOT_SHIPPED: ExitCode.usage,
  DATA_LFS_POINTER: ExitCode.usage,
  DATA_TOO_MANY_FILES: ExitCode.usage,
  DATA_VOLUME_MISSING: ExitCode.usage,
  PLATFORM_MISMATCH: ExitCode.usage,
  /** A file given to a command that is not a regular file of a sane size (a FIFO, /dev/zero, a folder). */
  INPUT_INVALID: ExitCode.usage,
  /** A path that would leave the folder it belongs to (a link on the way, a planted state file). */
  DATA_OUTSIDE_PROJECT: ExitCode.usage,
  DATA_VOLUME_UNSAFE: ExitCode.usage,
  // integrity
  BUNDLE_NOT_FOUND: ExitCode.integrity,
  BUNDLE_UNREADABLE: ExitCode.integrity,
  BUNDLE_CHECKSUM_MISMATCH: ExitCode.integrity,
  BUNDLE_FILE_MISSING: ExitCode.integrity,
  BUNDLE_FILE_EXTRA: ExitCode.integrity,
  BUNDLE_MANIFEST_INVALID: ExitCode.integrity,
  BUNDLE_UNSAFE_ENTRY: ExitCode.integrity,
  BUNDLE_UNSIGNED: ExitCode.integrity,
  BUNDLE_SIGNATURE_INVALID: ExitCode.integrity,
  BUNDLE_SIGNATURE_UNTRUSTED: ExitCode.integrity,
  BUNDLE_PART_INVALID: ExitCode.integrity,
  UNSAFE_PATH: ExitCode.integrity,
  // preflight and host
  DOCKER_UNREACHABLE: ExitCode.preflight,
  DOCKER_TOO_OLD: ExitCode.preflight,
  COMPOSE_MISSING: ExitCode.preflight,
  PREFLIGHT_FAILED: ExitCode.preflight,
  DISK_FULL: ExitCode.preflight,
  BASE_MISSING: ExitCode.preflight,
  DATA_MISSING: ExitCode.preflight,
  DEVICE_MISSING: ExitCode.preflight,
  FOLDER_IN_USE: ExitCode.preflight,
  DOWNGRADE: ExitCode.preflight,
  NO_HOST_REACHED: ExitCode.preflight,
  ROLLOUT_FAILED: ExitCode.failed,
  SSH_HOST_KEY: ExitCode.failed,
  SSH_AUTH: ExitCode.failed,
  HOST_UNREACHABLE: ExitCode.failed,
  INSTALLER_MISSING: ExitCode.failed,
  // runtime failures
  IMAGE_MISSING: ExitCode.failed,
  IMAGE_SAVE_UNREADABLE: ExitCode.failed,
  BUILD_FAILED: ExitCode.failed,
  COMMAND_FAILED: ExitCode.failed,
  LOAD_FAILED: ExitCode.failed,
  UNHEALTHY: ExitCode.failed,
  NOT_INSTALLED: ExitCode.failed,
  /** The installer's own state (install.json, journal.json, rollback.json) does not read. */
  STATE_DAMAGED: ExitCode.failed,
  NO_ROLLBACK: ExitCode.failed,
  UPGRADE_ROLLED_BACK: ExitCode.failed,
  INSTALL_INTERRUPTED: ExitCode.failed,
  CANCELLED: ExitCode.cancelled,
  INTERNAL: ExitCode.failed,
} as const satisfies Record<string, ExitCode>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SealiftError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Extra lines shown under the message (a table of failed checks, log tails). */
  readonly details: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: readonly string[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "SealiftError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }

  get exitCode(): ExitCode {
    return ERROR_CODES[this.code];
  }
}

export function isSealiftError(error: unknown): error is SealiftError {
  return error instanceof SealiftError;
}

/** The error an AbortSignal carries when the user pressed Ctrl-C or the process got SIGTERM. */
export function cancelled(what = "cancelled"): SealiftError {
  return new SealiftError("CANCELLED", what, { hint: "nothing was left half-done; run the command again" });
}
