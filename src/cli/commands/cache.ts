/** `install cache status`: the build cache on this host. */
import { Command } from "commander";
import { describeCacheStatus } from "../../installer/build-cache.js";
import { cacheReport, resolveDir } from "../../installer/manage.js";
import { cacheStatusJsonSchema } from "../../installer/install-json.js";
import { DIR_HELP, installerSelf, printJson } from "../options.js";
import { runMain } from "../run-main.js";

export function cacheCommand(): Command {
  const cache = new Command("cache").description("The build cache on this host");
  cache
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
          if (flags.json) printJson(cacheStatusJsonSchema, { ok: true, ...report });
          else process.stdout.write(describeCacheStatus(report));
        },
        { json: () => flags.json },
      );
    });
  return cache;
}
