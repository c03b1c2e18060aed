/** `install rollback`: back to the release before the last upgrade. */
import { Command } from "commander";
import { rollback } from "../../installer/rollback.js";
import { serviceRows } from "../install-summary.js";
import { rollbackJsonSchema } from "../../installer/install-json.js";
import { DIR_HELP, onInstalledApp, printJson, timeoutOption } from "../options.js";
import { runMain } from "../run-main.js";

export function rollbackCommand(): Command {
  return new Command("rollback")
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
          const { dir, result } = await onInstalledApp(flags, "rollback", (dir, reporter) =>
            rollback(dir, { timeoutMs: flags.timeout * 1000, reporter, signal }),
          );
          if (flags.json) printJson(rollbackJsonSchema, { ok: true, dir, ...result });
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
}
