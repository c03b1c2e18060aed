/**
 * What each end-to-end suite holds while it runs, so that scripts/run-tests.ts can run two at once
 * without one disturbing another: a field host is one suite's at a time (suites reset them); this
 * machine's engine ("local") and the Docker 26 build engine ("b26c") are shared by the suites that
 * only pack there, and taken whole by the ones that change the engine itself (a builder prune, a
 * second engine, stand-in clients). `seconds` is how long the suite took in a recent run: the
 * longest start first. A suite not listed here takes everything (it runs alone), and so does one
 * that holds "*". The suites marked `example` share one packing of the example app per run.
 */
export type Hold = "shared" | "exclusive";

export interface Suite {
  holds: Record<string, Hold>;
  seconds: number;
  /** It installs the run's shared example (test/helpers/shared-example.ts), packed before it starts. */
  example?: true;
}

const X: Hold = "exclusive";
const S: Hold = "shared";
const ROLLOUT_HOSTS = { n1: X, n2: X, n3: X };

export const SUITES: Record<string, Suite> = {
  // Never beside the installer suite ("apart"): once, beside it, copies over ssh arrived damaged
  // on two of the rollout's hosts (not seen otherwise, not explained yet).
  "test/e2e/rollout.test.ts": { holds: { ...ROLLOUT_HOSTS, b26c: S, apart: X }, seconds: 235 },
  "test/e2e/install.test.ts": { holds: { f26: X, local: X, apart: X }, seconds: 160, example: true },
  "test/e2e/matrix.test.ts": { holds: { f20: X, f26: X, f26c: X, b26c: S, local: S }, seconds: 230 },
  "test/e2e/power-cut.test.ts": { holds: { f26: X, f26c: X }, seconds: 280, example: true },
  "test/e2e/ansible.test.ts": { holds: { ...ROLLOUT_HOSTS }, seconds: 185, example: true },
  "test/e2e/data.test.ts": { holds: { f26: X, f26c: X, local: S }, seconds: 70 },
  "test/e2e/upgrade.test.ts": { holds: { f20: X, local: S }, seconds: 60 },
  "test/e2e/delta.test.ts": { holds: { f20: X, f26: X, local: S }, seconds: 45 },
  "test/e2e/hostile-bundle.test.ts": { holds: { f26c: X, local: S }, seconds: 35 },
  "test/e2e/build-cache.test.ts": { holds: { f20: X }, seconds: 30, example: true },
  "test/e2e/pack.test.ts": { holds: { local: S }, seconds: 50 },
  "test/e2e/profiles.test.ts": { holds: { f20: X, f26c: X, b26c: S }, seconds: 22 },
  "test/e2e/data-root.test.ts": { holds: { local: X }, seconds: 22, example: true },
  "test/e2e/damaged.test.ts": { holds: { f26c: X }, seconds: 20, example: true },
  "test/e2e/interactive.test.ts": { holds: { f26: X }, seconds: 20, example: true },
  "test/e2e/two-installs.test.ts": { holds: { f26c: X }, seconds: 20, example: true },
  "test/e2e/arm64.test.ts": { holds: { f26c: X, b26c: S }, seconds: 18 },
  "test/e2e/cli-usage.test.ts": { holds: {}, seconds: 20 },
  "test/e2e/plan.test.ts": { holds: { b26c: S }, seconds: 12 },
  "test/e2e/pack-links.test.ts": { holds: { local: S }, seconds: 5 },
  "test/e2e/medium.test.ts": { holds: { f20: X, local: S }, seconds: 40 },
  "test/e2e/heredoc.test.ts": { holds: { b26c: S }, seconds: 5 },
};
