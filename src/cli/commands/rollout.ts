/**
 * `install rollout` and `install rollout status`: the fleet commands of the installer binary.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { bakedKeys, loadPublicKey, type VerifyMode } from "../../bundle/signature.js";
import { ExitCode, SealiftError } from "../../errors.js";
import { limitHosts, readInventory } from "../../fleet/inventory.js";
import {
  fleetStatus,
  prepareRollout,
  rollout,
  rolloutExitCode,
  type HostResult,
} from "../../fleet/rollout.js";
import { checkAnswerInputs, checkVariables, readAnswerInputs } from "../../installer/answers.js";
import { formatBytes, formatDuration, formatTable } from "../../util/format.js";
import { answersFromStdin, collect, runMain } from "../run-main.js";
import { fleetStatusSchema, hostResultSchema, jsonLines } from "../../fleet/rollout-json.js";
import { EXIT_CODES_HELP, verifyModeOption } from "../options.js";
import { isSea } from "node:sea";
import { createLogUpdate } from "log-update";
import os from "node:os";

const ROLLOUT_EXIT_CODES = `
Exit codes:
  0    every host is healthy on the release
  1    some hosts failed or were not attempted (named in the report)
  2    usage: bad flags or a bad inventory line (file:line)
  3    the bundle is damaged (checked once, before anything is sent)
  4    no host could be reached
  130  cancelled: no new host was started; running ones finished or rolled back`;

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("takes a whole number of 1 or more");
  return n;
}

/** A batch size or failure limit as Ansible writes them: a count, or a percentage of the hosts. */
function countOrPercent(value: string, previous?: string[] | string): string[] | string {
  const m = /^(\d+)(%?)$/.exec(value.trim());
  if (!m || Number(m[1]) < (m[2] ? 1 : 0) || (m[2] && Number(m[1]) > 100))
    throw new InvalidArgumentError("takes a number of hosts (e.g. 2) or a percentage of them (e.g. 30%)");
  return Array.isArray(previous) ? [...previous, value.trim()] : value.trim();
}

function sshOptions(flags: { acceptNewHostKeys: boolean }) {
  return {
    acceptNewHostKeys: flags.acceptNewHostKeys,
    connectTimeoutSeconds: 10,
    operatorHome: os.homedir(),
  };
}

function printResults(results: HostResult[]): void {
  process.stdout.write(
    formatTable([
      ["HOST", "RESULT", "RELEASE", "COPY FROM", "SENT", "TIME", "ERROR"],
      ...results.map((r) => [
        r.host,
        r.outcome,
        r.release ?? "-",
        r.copiedFrom ?? "-",
        formatBytes(r.bytesSent),
        r.durationMs ? formatDuration(r.durationMs) : "-",
        r.error ? `${r.error.code}: ${r.error.message}` : "",
      ]),
    ]).join("\n") + "\n",
  );
  const sent = results.reduce((sum, r) => sum + r.bytesSent, 0);
  process.stdout.write(`the operator sent ${formatBytes(sent)} in all\n`);
  for (const r of results.filter((x) => x.error?.hint))
    process.stdout.write(`hint for ${r.host}: ${r.error!.hint}\n`);
}

/**
 * Progress: on a terminal a live table (host, step, bytes sent) redrawn in place (log-update: rows
 * wider than the terminal wrap and are cleared whole); otherwise a plain line each time a host
 * enters a step.
 */
function liveProgress(hosts: string[], live: boolean) {
  const state = new Map(hosts.map((h) => [h, { step: "waiting", bytes: 0 }]));
  const table = live ? createLogUpdate(process.stderr, { showCursor: true }) : undefined;
  const draw = () =>
    table?.(
      formatTable([
        ["HOST", "STEP", "SENT"],
        ...[...state].map(([h, s]) => [h, s.step, formatBytes(s.bytes)]),
      ]).join("\n"),
    );
  if (live) draw();
  return (host: string, step: string, bytes: number) => {
    const before = state.get(host);
    state.set(host, { step, bytes });
    if (live) draw();
    else if (before?.step !== step)
      process.stderr.write(`${host}: ${step}${bytes ? ` (${formatBytes(bytes)} sent)` : ""}\n`);
  };
}

export function rolloutCommand(): Command {
  const command = new Command("rollout")
    // `rollout status --hosts X`: the options after `status` are its own.
    .enablePositionalOptions()
    .description(
      "Roll this release out to many offline servers over SSH (OpenSSH, BatchMode, known_hosts): send the " +
        "bundle where it is missing (resuming an interrupted copy), run this installer there with the " +
        "settings, in batches, and report every host. Re-running completes what is missing.",
    )
    .argument("<bundle>", "NAME-complete-YYYYMMDD.tar.gz (or a delta) to roll out")
    // Checked in the action: a mandatory option here would be demanded of `rollout status` too.
    .option("-H, --hosts <inventory>", "an Ansible inventory (INI or YAML) (required)")
    .option("-l, --limit <pattern>", "hosts or groups, as Ansible's --limit (a,b  group  web*  !db  &prod)")
    .addOption(new Option("--parallel <n>", "hosts at once").default(4).argParser(positive))
    .addOption(
      new Option("--serial <n|p%>", "batch size, as Ansible's serial (repeatable: 1 then 30%...)")
        .default([], "all hosts in one batch")
        .argParser((v, previous: string[]) => {
          // A batch of 0 hosts would never end (Ansible refuses it too).
          if (/^\s*0+%?\s*$/.test(v)) throw new InvalidArgumentError("a batch holds at least 1 host (or 1%)");
          return countOrPercent(v, previous) as string[];
        }),
    )
    .addOption(
      new Option(
        "--max-fail <n|p%>",
        "stop when more hosts than this have failed (default: go on)",
      ).argParser((v) => countOrPercent(v) as string),
    )
    .option("-d, --dir <dir>", "install directory on the hosts (default: /opt/NAME)")
    .addOption(
      new Option(
        "--staging <dir>",
        "where the hosts keep bundles (relative: under the login's home)",
      ).default(".sealift-bundles", "~/.sealift-bundles"),
    )
    .option("-y, --yes", "ask nothing (a rollout never asks; accepted for scripts)", false)
    .option(
      "-a, --answers <file>",
      "answers file (YAML or JSON) for every host: dir, importCache, keepEnv, env: {KEY: VALUE}; - reads it from standard input",
    )
    .option(
      "-s, --set <KEY=VALUE>",
      "a setting for every host (repeatable); the inventory's host settings win",
      collect,
      [],
    )
    .addOption(
      new Option(
        "--relay <on|off>",
        "hosts that hold the bundle pass it on to the others over their own network, with a key made for this rollout that can only read it (removed afterwards), so the operator's link carries it about once; off: the operator sends every copy",
      )
        .choices(["on", "off"])
        .default("on"),
    )
    .option("--accept-new-host-keys", "accept and record the key of a host not in known_hosts", false)
    .option("--trust <public-key-file>", "accept bundles signed by this key (repeatable)", collect, [])
    .addOption(verifyModeOption())
    .option(
      "--copy-only",
      "only put the bundle on each host (relayed, checked by sha256 there), install nothing: for a later install (the Ansible role's relay)",
      false,
    )
    .option(
      "--allow-downgrade",
      "install on hosts that run a newer release of the app (refused otherwise); `install rollback` is the way back after an upgrade",
      false,
    )
    .addOption(
      new Option("--timeout <seconds>", "how long each host waits for health")
        .default(180)
        .argParser(positive),
    )
    .option("--json", "one JSON record per host on stdout", false)
    .addHelpText("after", ROLLOUT_EXIT_CODES)
    .action(async (bundle: string, flags) => {
      await runMain(
        async ({ signal }) => {
          if (!flags.hosts)
            throw new SealiftError("USAGE", "no inventory: install rollout needs --hosts INVENTORY", {
              hint: "give an Ansible inventory file (INI or YAML) naming the hosts",
            });
          const inputs = readAnswerInputs({
            answersFile: flags.answers,
            set: flags.set,
            ...answersFromStdin(flags.answers),
          });
          const hosts = limitHosts(readInventory(flags.hosts), flags.limit);
          const signature = {
            mode: flags.verify as VerifyMode,
            trusted: [...bakedKeys(), ...(flags.trust as string[]).map(loadPublicKey)],
          };
          const prepared = await prepareRollout(bundle, {
            installer: isSea() ? process.execPath : null,
            signal,
            signature,
          });
          // Every setting, common or a host's own, against the bundle's before anything is sent.
          checkAnswerInputs(prepared.manifest, inputs, flags.answers);
          for (const host of hosts)
            checkVariables(prepared.manifest, host.settings, `${flags.hosts}: host ${host.name}`);
          const settings = { ...inputs.fileEnv, ...inputs.setEnv };
          process.stderr.write(
            `rolling ${prepared.manifest.project.name} ${prepared.manifest.project.release} out to ${hosts.length} hosts (${flags.parallel} at once${flags.serial.length ? `, batches ${flags.serial.join(", ")}` : ""})\n`,
          );
          const progress = liveProgress(
            hosts.map((h) => h.name),
            !flags.json && !!process.stderr.isTTY,
          );
          const results = await rollout(hosts, prepared, {
            dir: flags.dir ?? inputs.file.dir ?? null,
            importCache: inputs.file.importCache ?? null,
            keepEnv: inputs.file.keepEnv ?? null,
            staging: flags.staging,
            parallel: flags.parallel,
            serial: flags.serial,
            maxFail: flags.maxFail ?? null,
            settings,
            ssh: sshOptions(flags),
            relay: flags.relay !== "off",
            timeoutSeconds: flags.timeout,
            verification: {
              mode: signature.mode,
              trustedKeys: signature.trusted.map((k) => k.export({ type: "spki", format: "pem" }).toString()),
            },
            allowDowngrade: flags.allowDowngrade,
            copyOnly: flags.copyOnly,
            signal,
            onProgress: progress,
          });
          if (flags.json) process.stdout.write(jsonLines(hostResultSchema, results));
          else printResults(results);
          if (signal.aborted) {
            process.stderr.write(
              "rollout interrupted: no new host was started; the report above is complete\n",
            );
            return ExitCode.cancelled;
          }
          return rolloutExitCode(results);
        },
        { json: () => flags.json },
      );
    });

  command
    .command("status")
    .description("Each host's installed release, its services' health, and the bundles it holds.")
    .requiredOption("-H, --hosts <inventory>", "an Ansible inventory (INI or YAML) (required)")
    .option("-l, --limit <pattern>", "hosts or groups, as Ansible's --limit")
    .requiredOption("-d, --dir <dir>", "install directory on the hosts (required)")
    .addOption(
      new Option(
        "--staging <dir>",
        "where the hosts keep bundles (relative: under the login's home)",
      ).default(".sealift-bundles", "~/.sealift-bundles"),
    )
    .addOption(new Option("--parallel <n>", "hosts at once").default(8).argParser(positive))
    .option("--accept-new-host-keys", "accept and record the key of a host not in known_hosts", false)
    .option("--json", "one JSON record per host on stdout", false)
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const hosts = limitHosts(readInventory(flags.hosts), flags.limit);
          const found = await fleetStatus(hosts, {
            dir: flags.dir,
            staging: flags.staging,
            parallel: flags.parallel,
            ssh: sshOptions(flags),
            signal,
          });
          if (flags.json) process.stdout.write(jsonLines(fleetStatusSchema, found));
          else
            process.stdout.write(
              formatTable([
                ["HOST", "RELEASE", "HEALTH", "BUNDLES HELD"],
                ...found.map((s) => [
                  s.host,
                  s.reachable ? (s.release ?? "none") : `unreachable (${s.error?.code})`,
                  s.reachable
                    ? s.interrupted
                      ? `INTERRUPTED: ${s.interrupted}`
                      : s.healthy
                        ? "healthy"
                        : "NOT healthy"
                    : "-",
                  s.bundles.join(", ") || "-",
                ]),
              ]).join("\n") + "\n",
            );
          return found.every((s) => s.reachable && s.healthy) ? ExitCode.ok : ExitCode.failed;
        },
        { json: () => flags.json },
      );
    });
  return command;
}
