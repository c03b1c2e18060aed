/** `install status`: the installed release and its services. */
import { Command } from "commander";
import { keptInstallerPath } from "../../installer/install-record.js";
import { resolveDir, status } from "../../installer/manage.js";
import { formatTable } from "../../util/format.js";
import { serviceRows } from "../install-summary.js";
import { statusJsonSchema } from "../../installer/install-json.js";
import { DIR_HELP, installerSelf, printJson } from "../options.js";
import { runMain } from "../run-main.js";

export function statusCommand(): Command {
  return new Command("status")
    .description("Show the installed release, its services' state and whether its images are present.")
    .option("-d, --dir <dir>", DIR_HELP)
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async ({ signal }) => {
          const dir = resolveDir(flags.dir, installerSelf());
          const report = await status(dir, signal, keptInstallerPath(dir));
          if (flags.json) printJson(statusJsonSchema, { ok: true, ...report });
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
}
