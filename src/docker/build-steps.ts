/**
 * Reads BuildKit's plain progress ("#8 [deps 3/3] RUN ...", "#8 CACHED", "#8 DONE 3.2s") into the
 * Dockerfile steps of a build, each CACHED or run, with its time.
 */

export interface BuildStep {
  /** "[deps 3/3] RUN sh fake-pip.sh ..." */
  name: string;
  cached: boolean;
  seconds: number | null;
}

export class BuildStepTracker {
  private readonly steps = new Map<string, BuildStep>();

  onLine(line: string): void {
    const named = /^#(\d+) (\[(?!internal\])[^\]]+ \d+\/\d+\] .*)$/.exec(line);
    if (named) {
      if (!this.steps.has(named[1]!))
        this.steps.set(named[1]!, { name: named[2]!, cached: false, seconds: null });
      return;
    }
    const state = /^#(\d+) (CACHED|DONE ([\d.]+)s)$/.exec(line);
    const step = state && this.steps.get(state[1]!);
    if (!step) return;
    if (state[2] === "CACHED") step.cached = true;
    else step.seconds = Number(state[3]);
  }

  /** The Dockerfile's own steps (FROM lines left out), in the order BuildKit named them. */
  result(): BuildStep[] {
    return [...this.steps.values()].filter((s) => !/\] FROM /.test(s.name));
  }
}
