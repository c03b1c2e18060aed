/**
 * How the core tells the user what it is doing: log lines, warnings with a stable code, progress for
 * long steps. The core receives one (dependencies point down); the command layer implements it for a
 * terminal or for --json (cli/reporter.ts), a test may implement it to collect what was said.
 */

import type { WarningCode } from "./warnings.js";

export interface Warning {
  code: WarningCode;
  message: string;
}

/** A step measured in bytes. */
export interface Progress {
  update(done: number): void;
  /** Ends the step: "label: summary (time, rate)". */
  finish(summary?: string): void;
}

/** A step measured in lines of output (docker build). */
export interface Status {
  line(text: string): void;
  finish(summary: string): void;
}

export interface Reporter {
  /** The warnings said so far (the --json result lists them). */
  readonly warnings: readonly Warning[];
  info(message: string): void;
  warn(code: WarningCode, message: string): void;
  /** A step with a known (or unknown: 0) total of bytes. */
  progress(label: string, total?: number): Progress;
  status(label: string): Status;
}
