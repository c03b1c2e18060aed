/** One host's procedure: connect, look, send what is missing, install, report. It knows nothing of the others. */
import path from "node:path";
import { SealiftError } from "../errors.js";
import type { InventoryHost } from "./inventory.js";
import { shellQuote, SshConnection } from "./ssh.js";
import { installedStatus, placeInstaller, sendFile } from "./remote.js";
import { parseInstallJson } from "../installer/install-json.js";
import {
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
): Promise<HostResult> {
  const started = performance.now();
  const { manifest } = bundle;
  const dir = options.dir ?? `/opt/${manifest.project.name}`;
  const result: HostResult = {
    host: host.name,
    address: host.address,
    outcome: "failed",
    release: null,
    exitCode: null,
    error: null,
    bytesSent: 0,
    durationMs: 0,
    step: "connect",
  };
  const step = (name: string) => {
    result.step = name;
    options.onProgress?.(host.name, name, result.bytesSent);
  };
  const ssh = new SshConnection(host, options.ssh, controlDir);
  try {
    step("connect");
    await ssh.run("true", { signal: options.signal });
    step("check");
    const before = await installedStatus(ssh, dir, options.signal);
    result.release = before.release;
    if (before.release === manifest.project.release && before.healthy) {
      result.outcome = "already";
      step("done");
      return result;
    }
    if (
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
    for (const file of bundle.files)
      await sendFile(
        ssh,
        file.local,
        file.sha256,
        `${staging}/${path.basename(file.local)}`,
        options.signal,
        count,
      );
    if (bundle.files.length === 1)
      await ssh.run(
        `printf '%s  %s\\n' ${bundle.sha256} ${shellQuote(path.basename(remoteArchive))} > ${shellQuote(`${remoteArchive}.sha256`)}`,
        { signal: options.signal },
      );
    const hasInstaller = await ssh.run(`[ -x ${shellQuote(remoteInstaller)} ] && echo yes || echo no`, {
      signal: options.signal,
    });
    if (hasInstaller.stdout.trim() !== "yes")
      await placeInstaller(ssh, bundle, remoteArchive, remoteInstaller, installerGz, options.signal, count);
    step("install");
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
      ...Object.entries(settings).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
    ];
    const installed = await ssh.run([remoteInstaller, ...args].map(shellQuote).join(" "), {
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
