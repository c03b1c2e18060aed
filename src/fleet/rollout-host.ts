/** One host's procedure: connect, look, send what is missing, install, report. It knows nothing of the others. */
import { createHash } from "node:crypto";
import path from "node:path";
import { Readable } from "node:stream";
import { SealiftError } from "../errors.js";
import type { InventoryHost } from "./inventory.js";
import { shellQuote, SshConnection } from "./ssh.js";
import { ensureFile, holds, installedStatus, placeInstaller, sendFile } from "./remote.js";
import { prepareHolder, relayCopy, sweepRelayLeftovers, type RelayKey, type RelayPool } from "./relay.js";
import { promises as fs } from "node:fs";
import { parseInstallJson } from "../installer/install-json.js";
import {
  hostResult,
  type HostResult,
  type InstallerCopy,
  type RolloutBundle,
  type RolloutOptions,
} from "./rollout-types.js";

/** The one host's procedure: connect, look, send what is missing, install, report. */
export async function rolloutHost(
  host: InventoryHost,
  bundle: RolloutBundle,
  installerGz: InstallerCopy,
  options: RolloutOptions,
  /** The rollout's private folder for ssh's control sockets (withControlDir). */
  controlDir: string,
  /** Hosts that hold the bundle and pass it on (relay.ts); none: the operator sends every copy. */
  relay?: Relay,
): Promise<HostResult> {
  const started = performance.now();
  const { manifest } = bundle;
  const dir = options.dir ?? `/opt/${manifest.project.name}`;
  const result: HostResult = hostResult(host, "failed", "connect");
  const step = (name: string) => {
    result.step = name;
    options.onProgress?.(host.name, name, result.bytesSent);
  };
  const ssh = new SshConnection(host, options.ssh, controlDir);
  try {
    step("connect");
    await ssh.run("true", { signal: options.signal });
    // What an interrupted rollout left here (relay lines, scripts, keys) goes first.
    await sweepRelayLeftovers(
      ssh,
      options.staging.replace(/\/+$/, ""),
      relay?.key.id ?? null,
      options.signal,
    ).catch(() => undefined);
    step("check");
    const before = await installedStatus(ssh, dir, options.signal);
    result.release = before.release;
    if (before.release === manifest.project.release && before.healthy && !options.copyOnly) {
      result.outcome = "already";
      step("done");
      return result;
    }
    if (
      !options.copyOnly &&
      manifest.base &&
      before.release !== manifest.base.release &&
      before.release !== manifest.project.release
    ) {
      result.outcome = "refused";
      result.exitCode = 4;
      result.error = {
        code: "BASE_MISSING",
        message: `this is an update on top of release ${manifest.base.release}; ${host.name} has ${before.release ? `release ${before.release}` : "no release of it"} installed`,
        hint: `send it the complete bundle of release ${manifest.project.release} (or ${manifest.base.release} first)`,
      };
      step("refused");
      return result;
    }
    step("send");
    const staging = options.staging.replace(/\/+$/, "");
    const remoteArchive = `${staging}/${path.basename(bundle.archive)}`;
    const remoteInstaller = `${staging}/sealift-install-${bundle.installerSha256.slice(0, 12)}`;
    const count = (n: number) => {
      result.bytesSent += n;
      options.onProgress?.(host.name, "send", result.bytesSent);
    };
    if (relay && bundle.files.length === 1)
      result.copiedFrom = await copyArchive(ssh, bundle, remoteArchive, relay, options.signal, count);
    else {
      for (const file of bundle.files)
        await sendFile(
          ssh,
          file.local,
          file.sha256,
          `${staging}/${path.basename(file.local)}`,
          options.signal,
          count,
        );
      result.copiedFrom = result.bytesSent ? "operator" : "held already";
    }
    if (bundle.files.length === 1)
      await ssh.run(
        `printf '%s  %s\\n' ${bundle.sha256} ${shellQuote(path.basename(remoteArchive))} > ${shellQuote(`${remoteArchive}.sha256`)}`,
        { signal: options.signal },
      );
    if (options.copyOnly) {
      result.outcome = "copied";
      step("done");
      return result;
    }
    const hasInstaller = await ssh.run(`[ -x ${shellQuote(remoteInstaller)} ] && echo yes || echo no`, {
      signal: options.signal,
    });
    if (hasInstaller.stdout.trim() !== "yes")
      await placeInstaller(ssh, bundle, remoteArchive, remoteInstaller, installerGz, options.signal, count);
    step("install");
    const trustFiles = await sendTrustedKeys(ssh, staging, options.verification.trustedKeys, options.signal);
    const settings = { ...options.settings, ...host.settings };
    const args = [
      remoteArchive,
      "--yes",
      "--json",
      "--dir",
      dir,
      "--timeout",
      String(options.timeoutSeconds),
      ...(options.importCache === false ? ["--no-cache-import"] : []),
      ...(options.keepEnv === null ? [] : [options.keepEnv ? "--keep-env" : "--replace-env"]),
      "--verify",
      options.verification.mode,
      ...trustFiles.flatMap((file) => ["--trust", file]),
      ...(options.allowDowngrade ? ["--allow-downgrade"] : []),
      // The settings (secrets among them) on the installer's standard input: never on a command
      // line (where every user of the host, and of this machine, reads them), never in a file.
      "--answers",
      "-",
    ];
    const installed = await ssh.run([remoteInstaller, ...args].map(shellQuote).join(" "), {
      input: Readable.from([JSON.stringify({ env: settings })]),
      signal: options.signal,
      allowFailure: true,
    });
    result.exitCode = installed.exitCode;
    // Not JSON (a crash): the error below names the exit code and the end of its stderr.
    const json = parseInstallJson(installed.stdout);
    if (installed.exitCode === 0 && json?.ok) {
      result.outcome = "installed";
      result.release = json.release;
      step("done");
    } else {
      result.outcome = "failed";
      const said = json && !json.ok ? json.error : undefined;
      result.error = said
        ? { code: said.code, message: said.message, ...(said.hint ? { hint: said.hint } : {}) }
        : {
            code: "ROLLOUT_FAILED",
            message: `the installer exited with ${installed.exitCode}: ${installed.stderr.trim().split("\n").pop() ?? ""}`,
          };
      step("failed");
    }
    return result;
  } catch (error) {
    const e =
      error instanceof SealiftError ? error : new SealiftError("ROLLOUT_FAILED", (error as Error).message);
    result.outcome =
      ["HOST_UNREACHABLE", "SSH_HOST_KEY", "SSH_AUTH"].includes(e.code) && result.step === "connect"
        ? "unreachable"
        : "failed";
    result.error = { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
    return result;
  } finally {
    result.durationMs = Math.round(performance.now() - started);
    await ssh.close();
  }
}

/** The rollout's relay: the pool of hosts that hold the bundle, and the key made for it. */
export interface Relay {
  pool: RelayPool;
  key: RelayKey;
  /** The operator's home folder (its known_hosts vouch for a holder to the receiver). */
  operatorHome: string;
}

/**
 * The archive onto the host: kept where it is there already, else copied from a host that holds it
 * (over the hosts' network), else sent by the operator; then this host holds it and serves others.
 * A relay that fails is said in the report and the operator sends instead. Returns where it came from.
 */
async function copyArchive(
  ssh: SshConnection,
  bundle: RolloutBundle,
  remote: string,
  relay: Relay,
  signal: AbortSignal,
  count: (n: number) => void,
): Promise<string> {
  const local = bundle.files[0]!.local;
  const { size } = await fs.stat(local);
  if (await holds(ssh, bundle.sha256, remote, signal)) {
    await serve(ssh, remote, relay, signal);
    return "held already";
  }
  const source = await relay.pool.acquire(signal);
  try {
    let from: string;
    if (source.kind === "operator") {
      await sendFile(ssh, local, bundle.sha256, remote, signal, count);
      from = "operator";
    } else {
      try {
        await ensureFile(ssh, bundle.sha256, remote, signal, (offset, partial) =>
          relayCopy(ssh, source.host, relay.key, partial, offset, size - offset, relay.operatorHome, signal),
        );
        from = source.host.name;
      } catch (error) {
        // That holder could not serve this host (another subnet, a firewall): the operator does.
        relay.pool.drop(source.host);
        await sendFile(ssh, local, bundle.sha256, remote, signal, count);
        from = `operator (relay from ${source.host.name} failed: ${(error as Error).message.split("\n")[0]})`;
      }
    }
    // A holder now, before the slot it used is freed: the hosts waiting copy from it, not the operator.
    await serve(ssh, remote, relay, signal);
    return from;
  } finally {
    relay.pool.release(source);
  }
}

/** This host holds the bundle: it serves the others (a host that cannot still installs). */
async function serve(ssh: SshConnection, remote: string, relay: Relay, signal: AbortSignal): Promise<void> {
  try {
    await prepareHolder(ssh, relay.key, remote, signal);
    relay.pool.prepared.add(ssh.host.name);
    relay.pool.add(ssh.host);
  } catch {
    // No writable ~/.ssh there: the others take their copy elsewhere.
  }
}

/**
 * The operator's trusted public keys, each as a file in the host's staging folder (named by its
 * digest, so a later rollout finds it in place): the host's installer checks the signature as the
 * operator's would.
 */
async function sendTrustedKeys(
  ssh: SshConnection,
  staging: string,
  keys: readonly string[],
  signal: AbortSignal,
): Promise<string[]> {
  const files: string[] = [];
  for (const pem of keys) {
    const file = `${staging}/trusted-${createHash("sha256").update(pem).digest("hex").slice(0, 16)}.pub`;
    await ssh.run(`umask 022 && cat > ${shellQuote(file)}`, { input: Readable.from([pem]), signal });
    files.push(file);
  }
  return files;
}
