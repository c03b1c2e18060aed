/** `install uninstall`: the app stopped and removed, its data kept unless asked. */
import { Command } from "commander";
import { uninstall } from "../../installer/manage.js";
import { uninstallJsonSchema } from "../../installer/install-json.js";
import { DIR_HELP, onInstalledApp, onTerminal, printJson } from "../options.js";
import { runMain } from "../run-main.js";

export function uninstallCommand(): Command {
  return new Command("uninstall")
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
          const { dir, result: record } = await onInstalledApp(flags, "uninstall", (dir, reporter) =>
            uninstall(dir, {
              volumes: flags.volumes,
              yes: flags.yes,
              reporter,
              signal,
              io: { signal, terminal: onTerminal() },
            }),
          );
          if (flags.json)
            printJson(uninstallJsonSchema, {
              ok: true,
              project: record.project,
              dir,
              volumesRemoved: flags.volumes,
            });
          else
            process.stdout.write(
              `${record.project} is uninstalled; its files stay in ${dir}${flags.volumes ? "" : " and its volumes are kept"}\n`,
            );
        },
        { json: () => flags.json },
      );
    });
}
