/**
 * The installer's only door to the terminal. Every prompt takes injectable I/O and a signal;
 * Ctrl-C at a prompt becomes a CANCELLED error (exit 130). Nothing here runs without a terminal:
 * callers check `canPrompt(io)` first (a prompt on a pipe would hang or read garbage).
 */
import { confirm, input, password } from "@inquirer/prompts";
import { SealiftError, cancelled } from "../errors.js";

export interface PromptIO {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** Whether there is a terminal to ask on (the command layer knows: stdin and stdout are TTYs). */
  terminal: boolean;
}

/** Questions only where there is a terminal: without one they would hang or read garbage. */
export function canPrompt(io: PromptIO): boolean {
  return io.terminal;
}

function context(io: PromptIO) {
  return {
    input: io.input,
    output: io.output ?? process.stderr,
    signal: io.signal,
    clearPromptOnDone: false,
  };
}

async function guard<T>(prompt: Promise<T>): Promise<T> {
  try {
    return await prompt;
  } catch (error) {
    const name = (error as Error)?.name;
    if (name === "ExitPromptError" || name === "AbortPromptError" || name === "CancelPromptError") {
      throw cancelled("cancelled at a question; nothing was installed");
    }
    throw error;
  }
}

export function askText(
  message: string,
  options: { default?: string; secret?: boolean; validate?: (value: string) => string | true },
  io: PromptIO,
): Promise<string> {
  if (options.secret) {
    return guard(
      password(
        {
          message: options.default ? `${message} (Enter keeps the default)` : message,
          mask: "*",
          validate: options.validate,
        },
        context(io),
      ),
    ).then((value) => value || options.default || "");
  }
  return guard(input({ message, default: options.default, validate: options.validate }, context(io)));
}

export function askYesNo(message: string, defaultValue: boolean, io: PromptIO): Promise<boolean> {
  return guard(confirm({ message, default: defaultValue }, context(io)));
}

export function noTerminal(): SealiftError {
  return new SealiftError("NO_TTY", "there is no terminal to ask the installation questions on", {
    hint: "pass --yes to take the defaults (with --dir DIR and --set KEY=VALUE for any answer), or --answers FILE",
  });
}
