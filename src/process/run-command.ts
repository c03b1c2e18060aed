/**
 * The one place that starts external programs (docker, docker compose, docker-compose, git).
 * Every call returns a result object; a failure becomes a COMMAND_FAILED error that names the
 * command, its exit code and the end of its stderr, with the original error as `cause`.
 */
import { execa, type ResultPromise } from "execa";
import type { Readable } from "node:stream";
import { SealiftError, cancelled, type ErrorCode } from "../errors.js";

export interface CommandResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /**
   * In a process group of its own: a Ctrl-C at the terminal does not reach it (a rollout lets the
   * hosts it started finish).
   */
  ownProcessGroup?: boolean;
  /** Start from this process's environment (default), or from `env` alone. */
  extendEnv?: boolean;
  /** Text or a stream fed to the command's standard input. */
  input?: string | Readable;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** Called with every line the command writes to stdout or stderr, as it comes. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** The signal that stops the command when `signal` aborts (default SIGTERM). */
  killSignal?: NodeJS.Signals;
  /** The error code to throw on failure (default COMMAND_FAILED) and a hint for the user. */
  failureCode?: ErrorCode;
  failureHint?: string;
}

const STDERR_TAIL_LINES = 12;

let traceSink: ((line: string) => void) | undefined;

/**
 * Where a line for every command goes, with when it started (ms since this process began), how long
 * it took and its exit code; for finding where the time goes and what was run. The command layer
 * sets it (SEALIFT_TRACE=1); by default nothing is traced.
 */
export function traceCommandsTo(sink: ((line: string) => void) | undefined): void {
  traceSink = sink;
}

function trace(outcome: CommandResult, started: number): void {
  traceSink?.(
    `sealift-trace: +${Math.round(started)}ms ${outcome.durationMs}ms exit ${outcome.exitCode}: ${outcome.command.slice(0, 300)}\n`,
  );
}

/**
 * What docker and compose need of this process's environment to run and reach the engine (where
 * programs are, the user's docker config, which engine) and nothing else: no other variable of the
 * operator's shell reaches an installed project's interpolation.
 */
export function programEnvironment(): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of [
    "PATH",
    "HOME",
    "TMPDIR",
    "DOCKER_CONFIG",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
  ]) {
    const value = process.env[name];
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

export function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

export function tail(text: string, lines = STDERR_TAIL_LINES): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export async function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const started = performance.now();
  const command = describeCommand(file, args);
  const subprocess = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: options.extendEnv ?? true,
    // Text is given as execa's input; a stream is piped below; no input: stdin closed.
    ...(typeof options.input === "string"
      ? { input: options.input }
      : { stdin: options.input ? ("pipe" as const) : ("ignore" as const) }),
    cancelSignal: options.signal,
    ...(options.killSignal ? { killSignal: options.killSignal } : {}),
    ...(options.ownProcessGroup ? { detached: true } : {}),
    timeout: options.timeoutMs,
    reject: false,
    stripFinalNewline: false,
    lines: false,
  });
  if (options.input && typeof options.input !== "string") {
    options.input.on("error", (error) => subprocess.stdin?.destroy(error));
    subprocess.stdin?.on("error", () => undefined);
    options.input.pipe(subprocess.stdin!);
  }
  if (options.onLine) forwardLines(subprocess, options.onLine);
  const result = await subprocess;
  return settle(command, started, result, String(result.stdout ?? ""), String(result.stderr ?? ""), options);
}

/** The result object of a finished command; throws when it was cancelled or failed (unless allowed). */
function settle(
  command: string,
  started: number,
  result: {
    exitCode?: number;
    failed: boolean;
    isCanceled: boolean;
    signal?: string;
    timedOut?: boolean;
    code?: string;
  },
  stdout: string,
  stderr: string,
  options: RunOptions,
): CommandResult {
  const outcome: CommandResult = {
    command,
    exitCode: result.exitCode ?? -1,
    stdout,
    stderr,
    durationMs: Math.round(performance.now() - started),
  };
  trace(outcome, started);
  if (result.isCanceled || options.signal?.aborted) throw cancelled(`${command} was cancelled`);
  if (result.failed && !options.allowFailure) throw commandFailed(outcome, result, options);
  return outcome;
}

function forwardLines(
  subprocess: ResultPromise,
  onLine: (line: string, stream: "stdout" | "stderr") => void,
): void {
  for (const name of ["stdout", "stderr"] as const) {
    let pending = "";
    subprocess[name]?.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines) if (line) onLine(line, name);
    });
    subprocess[name]?.on("end", () => {
      if (pending) onLine(pending, name);
    });
  }
}

function commandFailed(
  outcome: CommandResult,
  result: { exitCode?: number; signal?: string; timedOut?: boolean; code?: string; cause?: unknown },
  options: RunOptions,
): SealiftError {
  const how = result.timedOut
    ? `timed out after ${options.timeoutMs} ms`
    : result.code === "ENOENT"
      ? "could not be started (not found on PATH)"
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with ${outcome.exitCode}`;
  const stderr = tail(outcome.stderr || outcome.stdout);
  return new SealiftError(options.failureCode ?? "COMMAND_FAILED", `${outcome.command} ${how}`, {
    hint: options.failureHint,
    details: stderr ? stderr.split("\n") : [],
    cause: result,
  });
}

export interface StreamingCommand {
  /** The command's stdout, to be consumed by the caller. */
  stdout: Readable;
  /** Resolves when the command ended well; rejects like runCommand on failure. */
  done: Promise<CommandResult>;
}

/** Starts a command whose standard output is a large stream (docker save, git archive). */
export function streamCommand(
  file: string,
  args: readonly string[],
  options: Omit<RunOptions, "input" | "onLine" | "allowFailure"> = {},
): StreamingCommand {
  const started = performance.now();
  const command = describeCommand(file, args);
  const subprocess = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    stdin: "ignore",
    buffer: { stdout: false, stderr: true },
    cancelSignal: options.signal,
    reject: false,
    encoding: "buffer",
  });
  const done = subprocess.then((result) =>
    settle(command, started, result, "", Buffer.from(result.stderr ?? "").toString("utf8"), options),
  );
  return { stdout: subprocess.stdout, done };
}
