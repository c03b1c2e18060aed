/**
 * What the user sees while a command runs (the core's Reporter, src/report.ts, for a terminal or
 * --json): plain log lines, warnings with a code, and progress for long steps. All of it goes to
 * stderr, so that stdout holds only the result (or JSON). On a terminal a step redraws its line in
 * place (log-update: lines wider than the terminal wrap and are cleared whole, and a message said
 * meanwhile is written above the line, never onto it); elsewhere a long step prints a line every
 * 10 s and one when it ends.
 */
import { createLogUpdate } from "log-update";
import type { Progress, Reporter as CoreReporter, Status, Warning } from "../report.js";
import type { WarningCode } from "../warnings.js";
import { formatBytes, formatDuration, formatEta, formatRate } from "../util/format.js";

export type { Progress, Warning } from "../report.js";

/** How often a terminal line is redrawn, and how often a log gets a line, in ms. */
const REDRAW_MS = 100;
const LOG_EVERY_MS = 10_000;

export class Reporter implements CoreReporter {
  readonly warnings: Warning[] = [];
  private readonly tty: boolean;
  /** The line being redrawn on a terminal, and what it says now. */
  private readonly live: ReturnType<typeof createLogUpdate> | undefined;
  private shown = "";

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** In --json mode nothing but warnings goes to stderr. */
    private readonly quiet = false,
  ) {
    this.tty = !!stream.isTTY && !quiet && process.env.TERM !== "dumb";
    this.live = this.tty ? createLogUpdate(stream, { showCursor: true }) : undefined;
  }

  get interactive(): boolean {
    return this.tty;
  }

  /** Writes a line above the live one (which is drawn again under it). */
  private say(text: string): void {
    if (this.live && this.shown) {
      this.live.clear();
      this.stream.write(`${text}\n`);
      this.live(this.shown);
    } else this.stream.write(`${text}\n`);
  }

  private draw(text: string): void {
    this.shown = text;
    this.live?.(text);
  }

  /** Ends the live line with `text`, kept on the screen (a log just gets the line). */
  private end(text: string): void {
    if (this.live && this.shown) {
      this.live(text);
      this.live.done();
      this.shown = "";
    } else this.stream.write(`${text}\n`);
  }

  info(message: string): void {
    if (!this.quiet) this.say(message);
  }

  warn(code: WarningCode, message: string): void {
    this.warnings.push({ code, message });
    this.say(`warning[${code}]: ${message}`);
  }

  /** A step with a known (or unknown: 0) total of bytes. */
  progress(label: string, total = 0): Progress {
    const started = performance.now();
    let last = 0;
    let current = 0;
    const line = () => {
      const elapsed = performance.now() - started;
      const amount = total ? `${formatBytes(current)} / ${formatBytes(total)}` : formatBytes(current);
      const eta = formatEta(current, total, elapsed);
      return `${label}  ${amount}  ${formatRate((current * 1000) / Math.max(elapsed, 1))}${eta ? `  ${eta}` : ""}`;
    };
    return {
      update: (done: number) => {
        current = done;
        if (this.quiet) return;
        const now = performance.now();
        if (now - last < (this.tty ? REDRAW_MS : LOG_EVERY_MS) || (!this.tty && now - started < LOG_EVERY_MS))
          return;
        last = now;
        if (this.tty) this.draw(line());
        else this.stream.write(`${line()}\n`);
      },
      finish: (summary?: string) => {
        if (this.quiet) return;
        const elapsed = performance.now() - started;
        const rate = elapsed > 0 && current ? `, ${formatRate((current * 1000) / elapsed)}` : "";
        this.end(`${label}: ${summary ?? formatBytes(current)} (${formatDuration(elapsed)}${rate})`);
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
        if (now - last < REDRAW_MS) return;
        last = now;
        const width = Math.max(20, (this.stream.columns ?? 100) - label.length - 4);
        this.draw(`${label}: ${text.slice(0, width)}`);
      },
      finish: (summary: string) => {
        if (this.quiet) return;
        this.end(`${label}: ${summary} (${formatDuration(performance.now() - started)})`);
      },
    };
  }
}
