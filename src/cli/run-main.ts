/**
 * The top-level handler both CLIs share: turns SIGINT/SIGTERM into an AbortSignal, runs the
 * command, and turns any error into its message, hint and documented exit code. Nothing else in
 * sealift prints errors or calls process.exit.
 */
import { CommanderError, type Command } from "commander";
import { ExitCode, SealiftError, isSealiftError } from "../errors.js";
import type { FailureJson } from "../installer/install-json.js";
import { traceCommandsTo } from "../process/run-command.js";
import { ANSWERS_BOUND } from "../installer/answers.js";
import { readBoundedFd } from "../util/read-bounded.js";

export interface MainContext {
  signal: AbortSignal;
}

function toSealiftError(error: unknown): SealiftError {
  if (isSealiftError(error)) return error;
  if (error instanceof CommanderError)
    return new SealiftError("USAGE", error.message.replace(/^error: /, ""), {
      hint: "run the command with --help for its usage",
    });
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC") {
    return new SealiftError("DISK_FULL", `no space left on the device: ${(error as Error).message}`, {
      hint: "free some space (or choose another folder) and run the command again",
      cause: error,
    });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new SealiftError("OUT_NOT_WRITABLE", `permission denied: ${(error as Error).message}`, {
      hint: "choose a folder you can write to, or run as a user who can",
      cause: error,
    });
  }
  if ((error as Error)?.name === "AbortError") {
    return new SealiftError("CANCELLED", "cancelled", { hint: "run the command again to start over" });
  }
  return new SealiftError("INTERNAL", (error as Error)?.stack ?? String(error), {
    hint: "this is a bug in sealift; please report it with the output above",
  });
}

export function formatError(error: SealiftError): string {
  const lines = [`error[${error.code}]: ${error.message}`];
  for (const detail of error.details) lines.push(`  ${detail}`);
  if (error.hint) lines.push(`hint: ${error.hint}`);
  return lines.join("\n") + "\n";
}

/** Prints an error (and in --json mode a JSON line on stdout) and sets the exit code. */
export function reportError(raw: unknown, options: { json: boolean; cancelled?: boolean }): void {
  if (raw instanceof CommanderError && (raw.exitCode === 0 || raw.code === "commander.helpDisplayed")) {
    process.exitCode = 0;
    return;
  }
  let error = toSealiftError(raw);
  if (options.cancelled && error.code !== "CANCELLED") {
    error = new SealiftError("CANCELLED", `cancelled while: ${error.message}`, {
      hint: "run the command again",
    });
  }
  process.stderr.write(formatError(error));
  if (options.json) {
    const { code, message, hint, exitCode } = error;
    const failure: FailureJson = { ok: false, error: { code, message, ...(hint ? { hint } : {}), exitCode } };
    process.stdout.write(JSON.stringify(failure) + "\n");
  }
  process.exitCode = error.exitCode;
}

export async function runMain(
  command: (context: MainContext) => Promise<number | void>,
  options: { json?: () => boolean } = {},
): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCode.cancelled); // a second Ctrl-C: leave now
    process.stderr.write(`\n${signal} received: stopping and cleaning up ...\n`);
    controller.abort(new SealiftError("CANCELLED", `cancelled by ${signal}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A closed terminal or ssh session (a rollout's connection cut): as SIGTERM, nothing left half-done.
  process.on("SIGHUP", onSignal);
  // A promise that never settles lets Node's event loop drain and exit 0 as if all was done: never.
  const unfinished = () => {
    reportError(
      new SealiftError("INTERNAL", "the command stopped before it finished (nothing was left to wait for)", {
        hint: "this is a bug in sealift; please report it with the output above",
      }),
      {
        json: options.json?.() ?? false,
      },
    );
  };
  process.once("beforeExit", unfinished);
  try {
    process.exitCode = (await command({ signal: controller.signal })) ?? ExitCode.ok;
  } catch (raw) {
    reportError(raw, { json: options.json?.() ?? false, cancelled: controller.signal.aborted });
  } finally {
    process.off("beforeExit", unfinished);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
  }
}

/**
 * `--answers -`: the settings on standard input (no file to leave behind, nothing on a command
 * line), read here, bounded, for the core.
 */
export function answersFromStdin(answers: string | undefined): { answersStdin?: string } {
  return answers === "-" ? { answersStdin: readBoundedFd(0, ANSWERS_BOUND).toString("utf8") } : {};
}

/** Commander's collector for repeatable options (-f FILE -f FILE, --set K=V --set K=V). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Commander's usage errors through the one handler, once, for every command and subcommand: it
 * throws instead of exiting (exit 2 with a hint, JSON with --json), and does not print them itself.
 */
export function handleUsageErrors(command: Command): Command {
  command.exitOverride().configureOutput({ outputError: () => undefined });
  for (const sub of command.commands) handleUsageErrors(sub);
  return command;
}

/**
 * A CLI's entry point: SEALIFT_TRACE=1 traces every external command to stderr; a usage error from
 * commander gets the same treatment as any other error.
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  const traced = process.env.SEALIFT_TRACE;
  if (traced && traced !== "0") traceCommandsTo((line) => process.stderr.write(line));
  try {
    await handleUsageErrors(program).parseAsync(argv);
  } catch (error) {
    reportError(error, { json: argv.includes("--json") });
  }
}
