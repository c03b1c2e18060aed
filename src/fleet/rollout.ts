/**
 * `install rollout`: one release to many offline servers over SSH. The per-host procedure is one
 * function (rolloutHost: connect -> what is installed -> send what is missing -> install -> result);
 * the fan-out around it runs batches (Ansible's serial), a few hosts at once, stops past --max-fail
 * or when a batch fails, and reports every host, the ones not attempted as such.
 */
import { cleanHolder, makeRelayKey, RelayPool } from "./relay.js";
import { SshConnection } from "./ssh.js";
import { ExitCode } from "../errors.js";
import type { InventoryHost } from "./inventory.js";
import { withControlDir } from "./ssh.js";
import { batches, count, fanOut } from "./batches.js";
import { installerCopy } from "./remote.js";
import { rolloutHost } from "./rollout-host.js";
import {
  DONE_OUTCOMES,
  hostResult,
  type HostResult,
  type RolloutBundle,
  type RolloutOptions,
} from "./rollout-types.js";

export type { HostOutcome, HostResult, RolloutBundle, RolloutOptions } from "./rollout-types.js";
export { prepareRollout } from "./prepare.js";
export { fleetStatus, type FleetStatus } from "./status.js";
export { batches } from "./batches.js";

export async function rollout(
  hosts: readonly InventoryHost[],
  bundle: RolloutBundle,
  options: RolloutOptions,
): Promise<HostResult[]> {
  return withControlDir((controlDir) => rolloutIn(controlDir, hosts, bundle, options));
}

async function rolloutIn(
  controlDir: string,
  hosts: readonly InventoryHost[],
  bundle: RolloutBundle,
  options: RolloutOptions,
): Promise<HostResult[]> {
  const installerGz = installerCopy(bundle.installer);
  const results = new Map<string, HostResult>();
  // The release crosses the operator's link about once: hosts that hold it pass it on (relay.ts).
  const relay =
    options.relay && bundle.files.length === 1
      ? {
          pool: new RelayPool(),
          key: await makeRelayKey(controlDir, hosts),
          operatorHome: options.ssh.operatorHome,
        }
      : undefined;
  const maxFail = options.maxFail === null ? Infinity : count(options.maxFail, hosts.length);
  const failed = () => [...results.values()].filter((r) => !DONE_OUTCOMES.includes(r.outcome)).length;
  let stopped = false;
  try {
    for (const batch of batches(hosts, options.serial)) {
      if (stopped || options.signal.aborted) break;
      await fanOut(
        batch,
        options.parallel,
        () => options.signal.aborted || failed() > maxFail,
        async (host) => {
          // Not cancelled with the rollout: a host once started finishes (a second Ctrl-C leaves at once).
          const running = { ...options, signal: new AbortController().signal };
          results.set(host.name, await rolloutHost(host, bundle, installerGz, running, controlDir, relay));
        },
      );
      // A batch with a failure stops the rollout (a canary of 1 first, then the rest), as does --max-fail.
      if (
        batch.some((h) => !DONE_OUTCOMES.includes(results.get(h.name)?.outcome ?? "not-attempted")) ||
        failed() > maxFail
      )
        stopped = true;
    }
  } finally {
    await installerGz.dispose();
    // Nothing of the relay stays: its key's lines and scripts leave every host that served.
    if (relay)
      for (const name of relay.pool.prepared) {
        const host = hosts.find((h) => h.name === name)!;
        const ssh = new SshConnection(host, options.ssh, controlDir);
        await cleanHolder(ssh, relay.key, options.staging.replace(/\/+$/, ""));
        await ssh.close();
      }
  }
  return hosts.map((h) => results.get(h.name) ?? hostResult(h, "not-attempted", "-"));
}

/** The rollout's exit code: 0 all healthy on the release, 4 none reached, 1 otherwise. */
export function rolloutExitCode(results: readonly HostResult[]): number {
  if (results.every((r) => DONE_OUTCOMES.includes(r.outcome))) return ExitCode.ok;
  if (results.every((r) => r.outcome === "unreachable" || r.outcome === "not-attempted"))
    return ExitCode.preflight;
  return ExitCode.failed;
}
