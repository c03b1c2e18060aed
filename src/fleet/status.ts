/** `rollout status`: each host's installed release, its health, and the bundles it holds. */
import { SealiftError } from "../errors.js";
import type { InventoryHost } from "./inventory.js";
import { shellQuote, SshConnection, withControlDir, type SshOptions } from "./ssh.js";
import { fanOut } from "./batches.js";
import { installedStatus } from "./remote.js";
import { sweepRelayLeftovers } from "./relay.js";
import type { FleetStatus } from "./rollout-json.js";

export type { FleetStatus };

/** Each host's installed release, its health, and the bundles it holds: the fleet at a glance. */
export async function fleetStatus(
  hosts: readonly InventoryHost[],
  options: { dir: string; staging: string; parallel: number; ssh: SshOptions; signal: AbortSignal },
): Promise<FleetStatus[]> {
  return withControlDir(async (controlDir) => {
    const found = new Map<string, FleetStatus>();
    await fanOut(
      hosts,
      options.parallel,
      () => options.signal.aborted,
      async (host) => {
        const ssh = new SshConnection(host, options.ssh, controlDir);
        try {
          const status = await installedStatus(ssh, options.dir, options.signal);
          await sweepRelayLeftovers(ssh, options.staging, null, options.signal).catch(() => undefined);
          const listing = await ssh.run(
            `ls -1 ${shellQuote(options.staging)} 2>/dev/null | grep '\\.tar\\.gz$' || true`,
            {
              signal: options.signal,
            },
          );
          found.set(host.name, {
            host: host.name,
            reachable: true,
            release: status.release,
            healthy: status.healthy,
            interrupted: status.interrupted,
            bundles: listing.stdout.split("\n").filter(Boolean),
            error: null,
          });
        } catch (error) {
          const e = error instanceof SealiftError ? error : new SealiftError("ROLLOUT_FAILED", String(error));
          found.set(host.name, {
            host: host.name,
            reachable: false,
            release: null,
            healthy: false,
            interrupted: null,
            bundles: [],
            error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
          });
        } finally {
          await ssh.close();
        }
      },
    );
    return hosts.map((h) => found.get(h.name)!);
  });
}
