/**
 * What the user sees while a command runs (the core's Reporter, src/report.ts, for a terminal or
 * --json): plain log lines, warnings with a code, and progress for long steps. All of it goes to
 * stderr, so that stdout holds only the result (or JSON). On a terminal progress redraws one line;
 * elsewhere it prints a line when a step ends.
 */
import type { Progress, Reporter as CoreReporter, Status, Warning } from "../report.js";
import type { WarningCode } from "../warnings.js";
import { formatBytes, formatDuration } from "../util/format.js";

export type { Progress, Warning } from "../report.js";

export class Reporter implements CoreReporter {
  readonly warnings: Warning[] = [];
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** In --json mode nothing but warnings goes to stderr. */
    private readonly quiet = false,
  ) {
    this.tty = !!stream.isTTY && !quiet && process.env.TERM !== "dumb";
  }

  get interactive(): boolean {
    return this.tty;
  }

  info(message: string): void {
    if (!this.quiet) this.stream.write(`${message}\n`);
  }

  warn(code: WarningCode, message: string): void {
    this.warnings.push({ code, message });
    this.stream.write(`warning[${code}]: ${message}\n`);
  }

  /** A step with a known (or unknown: 0) total of bytes. */
  progress(label: string, total = 0): Progress {
    const started = performance.now();
    let last = 0;
    let current = 0;
    const line = () => {
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? current / seconds : 0;
      const amount = total ? `${formatBytes(current)} / ${formatBytes(total)}` : formatBytes(current);
      const eta =
        total && rate > 0 && current < total ? `  ${Math.ceil((total - current) / rate)} s left` : "";
      return `${label}  ${amount}  ${formatBytes(rate)}/s${eta}`;
    };
    return {
      update: (done: number) => {
        current = done;
        if (this.quiet) return;
        const now = performance.now();
        // A terminal redraws the line; a log (a pipe, a rollout's ssh) gets a line every 10 s of a long step.
        if (now - last < (this.tty ? 100 : 10_000)) return;
        if (!this.tty && now - started < 10_000) return;
        last = now;
        this.stream.write(this.tty ? `\r\x1b[2K${line()}` : `${line()}\n`);
      },
      finish: (summary?: string) => {
        if (this.quiet) return;
        const elapsed = performance.now() - started;
        const rate = elapsed > 0 && current ? `, ${formatBytes((current * 1000) / elapsed)}/s` : "";
        const text = `${label}: ${summary ?? formatBytes(current)} (${formatDuration(elapsed)}${rate})`;
        this.stream.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
      },
    };
  }

  /** A status line for steps measured in lines of output (docker build). */
  status(label: string): Status {
    const started = performance.now();
    let last = 0;
    if (!this.tty) this.info(`${label} ...`);
    return {
      line: (text: string) => {
        if (!this.tty) return;
        const now = performance.now();
        if (now - last < 100) return;
        last = now;
        const width = Math.max(20, (this.stream.columns ?? 100) - label.length - 4);
        this.stream.write(`\r\x1b[2K${label}: ${text.slice(0, width)}`);
      },
      finish: (summary: string) => {
        if (this.quiet) return;
        const text = `${label}: ${summary} (${formatDuration(performance.now() - started)})`;
        this.stream.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
      },
    };
  }
}
