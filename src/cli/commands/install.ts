/**
 * `install [BUNDLE]`: verify -> preflight -> questions -> load -> cache -> extract -> up -> wait
 * healthy (the installer's own command; its others are subcommands beside this file).
 */
import { Command } from "commander";
import { bakedKeys, loadPublicKey } from "../../bundle/signature.js";
import { SealiftError } from "../../errors.js";
import { installJsonSchema } from "../../installer/install-json.js";
import { install } from "../../installer/install.js";
import { askYesNo } from "../../installer/prompts.js";
import { TOOL_VERSION } from "../../version.js";
import { checksTable, confirmationText, installSummary } from "../install-summary.js";
import {
  EXIT_CODES_HELP,
  installerSelf,
  onTerminal,
  printJson,
  testHold,
  timeoutOption,
  verifyModeOption,
} from "../options.js";
import { Reporter } from "../reporter.js";
import { answersFromStdin, collect, runMain } from "../run-main.js";

export function installCommand(): Command {
  return new Command("install")
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
            onStage: testHold(reporter),
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
            printJson(installJsonSchema, {
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
}
