/** `install rebuild`: the images rebuilt from the installed source, offline. */
import { Command } from "commander";
import { rebuildJsonSchema } from "../../installer/install-json.js";
import { describeRebuild, rebuild } from "../../installer/manage.js";
import { DIR_HELP, onInstalledApp, printJson, timeoutOption } from "../options.js";
import { runMain } from "../run-main.js";

export function rebuildCommand(): Command {
  return new Command("rebuild")
    .description("Rebuild the app's images from the installed source, offline, and bring it up again.")
    .option("-d, --dir <dir>", DIR_HELP)
    .option("-y, --yes", "ask nothing", false)
    .addOption(timeoutOption())
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const { result } = await onInstalledApp(flags, "rebuild", (dir, reporter) =>
            rebuild(dir, { timeoutMs: flags.timeout * 1000, reporter, signal }),
          );
          if (flags.json)
            printJson(rebuildJsonSchema, {
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
}
