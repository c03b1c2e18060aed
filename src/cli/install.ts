/**
 * `install`: the installer's command table (compiled into the single binary shipped in bundles).
 */
import { keptInstallerPath } from "../installer/install-record.js";
import { Command, InvalidArgumentError, Option } from "commander";
import { SealiftError } from "../errors.js";
import { install } from "../installer/install.js";
import type { InstallJson, RebuildJson } from "../installer/install-json.js";
import { checksTable, confirmationText, installSummary, serviceRows } from "./install-summary.js";
import { askYesNo } from "../installer/prompts.js";
import { describeCacheStatus } from "../installer/build-cache.js";
import { cacheReport, describeRebuild, rebuild, resolveDir, status, uninstall } from "../installer/manage.js";
import { formatTable } from "../util/format.js";
import { rollback } from "../installer/rollback.js";
import { withFolderLock } from "../installer/folder-lock.js";
import { TOOL_VERSION } from "../version.js";
import { Reporter } from "./reporter.js";
import { rolloutCommand } from "./rollout.js";
import { answersFromStdin, collect, runMain, runProgram } from "./run-main.js";
import { EXIT_CODES_HELP, verifyModeOption } from "./sealift.js";
import { bakedKeys, loadPublicKey } from "../bundle/signature.js";
import { isSea } from "node:sea";
import type { InstallerSelf } from "../installer/self.js";

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("takes a number of seconds greater than 0");
  return n;
}

/** --timeout SECONDS: how long the install, rebuild and rollback wait for health. */
function timeoutOption(): Option {
  return new Option("--timeout <seconds>", "how long to wait for the services to be healthy")
    .default(180)
    .argParser(seconds);
}

/** This installer's own executable, as the core takes it (null when not the compiled installer). */
function installerSelf(): InstallerSelf {
  return { executable: isSea() ? process.execPath : null, cwd: process.cwd() };
}

/** --json: one JSON document on one line of stdout (the shape the README documents). */
function printJson<T = unknown>(value: T): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Questions can be asked: stdin and stdout are a terminal (the one place this is decided). */
function onTerminal(): boolean {
  return !!process.stdin.isTTY && !!process.stdout.isTTY;
}

/** --dir of the commands for an installed app, with where it defaults to. */
const DIR_HELP =
  "install directory (default: the one this installer was kept in, when run as DIR/.sealift/install; " +
  "else /opt/NAME beside an extracted bundle's installer; otherwise required)";

export function installProgram(): Command {
  const program = new Command("install")
    .description(
      "Install a sealift bundle on this host, offline: verify it, check the host, ask the settings " +
        "(or take flags), load the images, start the app with compose and wait until it is healthy.\n\n" +
        "Run it as ./install inside the extracted bundle folder, or give it the archive: install NAME-complete-YYYYMMDD.tar.gz\n\n" +
        "Run again on a host where the release already runs as installed, it checks and changes nothing; " +
        "anything changed since (a file, a stopped service, another setting) is put back.",
    )
    .version(TOOL_VERSION)
    .exitOverride()
    .enablePositionalOptions()
    .argument(
      "[bundle]",
      "NAME-complete-YYYYMMDD.tar.gz or its extracted folder (default: the folder holding this installer)",
    )
    .option("-d, --dir <dir>", "install directory (default: /opt/NAME; asked on a terminal)")
    .option("-y, --yes", "ask nothing: take the defaults for whatever no flag or answers file gives", false)
    .option(
      "-a, --answers <file>",
      "answers file (YAML or JSON): dir, importCache, keepEnv, env: {KEY: VALUE}; - reads it from standard input (secrets never in a file or on a command line)",
    )
    .option("-s, --set <KEY=VALUE>", "a setting of the app's .env (repeatable)", collect, [])
    .option("--keep-env", "on upgrade keep the existing .env (default; asked on a terminal)")
    .option("--replace-env", "on upgrade write .env anew from the answers")
    .option("--no-cache-import", "do not import the bundle's build cache")
    .option("--verify-only", "check the bundle and stop; change nothing", false)
    .option(
      "--check",
      "verify the bundle and run the preflight (host checks, settings, the project as this host's compose reads it), say whether an install would change anything, and change nothing (Ansible's check mode)",
      false,
    )
    .option(
      "--trust <public-key>",
      `a public key (sealift keygen) whose signature is accepted (repeatable)${bakedKeys().length ? `; ${bakedKeys().length} built in` : ""}`,
      collect,
      [],
    )
    .addOption(verifyModeOption(bakedKeys().length ? "always" : "if-signed"))
    .option(
      "--allow-downgrade",
      "install a release packed before the one installed here (refused otherwise: an old release replayed); after an upgrade, `rollback` is the way back",
      false,
    )
    .option(
      "--force",
      "go on despite preflight failures that can be overridden (disk space, architecture)",
      false,
    )
    .addOption(timeoutOption())
    .option("--json", "print a machine-readable summary on stdout", false)
    .addHelpText(
      "after",
      `
Steps: verify -> preflight -> questions -> load images -> build cache -> extract -> compose up -> wait healthy.
Without a terminal the installer never prompts: pass --yes or --answers (else it exits 2 at once).
${EXIT_CODES_HELP}`,
    )
    .action(async (bundle: string | undefined, flags) => {
      if (flags.keepEnv && flags.replaceEnv)
        throw new SealiftError("USAGE", "--keep-env and --replace-env exclude each other", {
          hint: "give one",
        });
      await runMain(
        async ({ signal }) => {
          const reporter = new Reporter(process.stderr, flags.json);
          const io = { signal, terminal: onTerminal() };
          const result = await install({
            bundle,
            dir: flags.dir,
            yes: flags.yes,
            answersFile: flags.answers,
            ...answersFromStdin(flags.answers),
            set: flags.set,
            keepEnv: flags.replaceEnv ? false : flags.keepEnv ? true : undefined,
            importCache: flags.cacheImport === false ? false : undefined,
            verifyOnly: flags.verifyOnly,
            check: flags.check,
            signature: {
              mode: flags.verify,
              trusted: [...bakedKeys(), ...(flags.trust as string[]).map(loadPublicKey)],
            },
            force: flags.force,
            allowDowngrade: flags.allowDowngrade,
            timeoutMs: flags.timeout * 1000,
            ...(process.env.SEALIFT_TEST_HOLD_STAGE
              ? { testHoldStage: process.env.SEALIFT_TEST_HOLD_STAGE }
              : {}),
            reporter,
            signal,
            io,
            self: installerSelf(),
            present: {
              checks: (checks) => reporter.info(checksTable(checks).join("\n")),
              confirm: async (intent) => {
                reporter.info(confirmationText(intent));
                return askYesNo("Go ahead?", true, io);
              },
            },
          });
          if (flags.json) {
            const m = result.verified.manifest;
            printJson<InstallJson>({
              ok: true,
              project: m.project.name,
              release: m.project.release,
              manifestSha256: result.verified.manifestDigest,
              verified: {
                files: result.verified.filesChecked,
                bytes: result.verified.bytesChecked,
                archiveSidecar: result.verified.sidecarChecked,
              },
              ...(result.check ? { check: result.check } : {}),
              installed: result.installed
                ? {
                    dir: result.installed.dir,
                    unchanged: result.installed.unchanged,
                    record: result.installed.record,
                    durationMs: result.installed.durationMs,
                    stepsMs: result.installed.stepsMs,
                    imagesLoaded: result.installed.imagesLoaded,
                    imagesAlreadyPresent: result.installed.imagesPresent,
                    services: result.installed.containers.map((c) => ({
                      service: c.service,
                      status: c.status,
                      health: c.health,
                      ports: c.ports,
                    })),
                  }
                : null,
              warnings: reporter.warnings,
            });
          } else process.stdout.write(installSummary(result, installerSelf()));
        },
        { json: () => flags.json },
      );
    });

  program
    .command("status")
    .description("Show the installed release, its services' state and whether its images are present.")
    .option("-d, --dir <dir>", DIR_HELP)
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const dir = resolveDir(flags.dir, installerSelf());
          const report = await status(dir, signal, keptInstallerPath(dir));
          if (flags.json) printJson({ ok: true, ...report });
          else {
            const r = report.record;
            process.stdout.write(
              [
                `${r.project} release ${r.release}: ${r.status}, ${report.healthy ? "healthy" : "NOT healthy"} (installed ${r.installedAt} in ${r.dir})`,
                ...(report.busy ? [`IN USE: ${report.busy}`] : []),
                ...(report.interrupted
                  ? [`INTERRUPTED: ${report.interrupted.message}`, `  fix: ${report.interrupted.hint}`]
                  : []),
                ...serviceRows(report.containers).map((l) => `  ${l}`),
                ...report.replaced.map(
                  (c) => `  (${c.service}: container ${c.name}, ${c.status}, is one compose was replacing)`,
                ),
                ...formatTable([
                  ["IMAGE", "ID", "PRESENT"],
                  ...report.images.map((i) => [i.image, i.imageId.slice(7, 19), i.present ? "yes" : "NO"]),
                ]).map((l) => `  ${l}`),
              ].join("\n") + "\n",
            );
          }
          return report.healthy ? 0 : 1;
        },
        { json: () => flags.json },
      );
    });

  program
    .command("rebuild")
    .description("Rebuild the app's images from the installed source, offline, and bring it up again.")
    .option("-d, --dir <dir>", DIR_HELP)
    .option("-y, --yes", "ask nothing", false)
    .addOption(timeoutOption())
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const dir = resolveDir(flags.dir, installerSelf());
          const result = await withFolderLock(dir, "rebuild", () =>
            rebuild(dir, {
              timeoutMs: flags.timeout * 1000,
              reporter: new Reporter(process.stderr, flags.json),
              signal,
            }),
          );
          if (flags.json)
            printJson<RebuildJson>({
              ok: true,
              project: result.record.project,
              services: result.services,
              durationMs: result.durationMs,
            });
          else process.stdout.write(describeRebuild(result));
        },
        { json: () => flags.json },
      );
    });

  program
    .command("cache")
    .description("The build cache on this host")
    .command("status")
    .description(
      "Which cache images and mounts are present, their sizes and dates, Docker's disk usage, and which " +
        "installed files changed since install (their steps will run again on rebuild).",
    )
    .option("-d, --dir <dir>", DIR_HELP)
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const report = await cacheReport(resolveDir(flags.dir, installerSelf()), signal);
          if (flags.json) printJson({ ok: true, ...report });
          else process.stdout.write(describeCacheStatus(report));
        },
        { json: () => flags.json },
      );
    });

  program
    .command("rollback")
    .description(
      "Go back to the release that ran before the last upgrade: its files, its images (kept under their " +
        "own tags) and compose up, then wait until it is healthy. Volumes and .env data are kept. " +
        "A failed upgrade does this by itself.",
    )
    .option("-d, --dir <dir>", DIR_HELP)
    .addOption(timeoutOption())
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const dir = resolveDir(flags.dir, installerSelf());
          const result = await withFolderLock(dir, "rollback", () =>
            rollback(dir, {
              timeoutMs: flags.timeout * 1000,
              reporter: new Reporter(process.stderr, flags.json),
              signal,
            }),
          );
          if (flags.json) printJson({ ok: true, dir, ...result });
          else
            process.stdout.write(
              [
                `rolled back from release ${result.from}: release ${result.release} is running again in ${dir}`,
                ...serviceRows(result.containers).map((l) => `  ${l}`),
              ].join("\n") + "\n",
            );
        },
        { json: () => flags.json },
      );
    });

  program
    .command("uninstall")
    .description(
      "Stop and remove the app's containers (compose down). Volumes and files are kept unless --volumes.",
    )
    .option("-d, --dir <dir>", DIR_HELP)
    .option(
      "--volumes",
      "also delete the app's named volumes and their data (asks to confirm unless --yes)",
      false,
    )
    .option("-y, --yes", "ask nothing", false)
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const dir = resolveDir(flags.dir, installerSelf());
          const record = await withFolderLock(dir, "uninstall", () =>
            uninstall(dir, {
              volumes: flags.volumes,
              yes: flags.yes,
              reporter: new Reporter(process.stderr, flags.json),
              signal,
              io: { signal, terminal: onTerminal() },
            }),
          );
          if (flags.json)
            printJson({ ok: true, project: record.project, dir, volumesRemoved: flags.volumes });
          else
            process.stdout.write(
              `${record.project} is uninstalled; its files stay in ${dir}${flags.volumes ? "" : " and its volumes are kept"}\n`,
            );
        },
        { json: () => flags.json },
      );
    });
  program.addCommand(rolloutCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(installProgram(), argv);
}
