/** `sealift plan`: what pack would do, without building or saving. */
import { Command } from "commander";
import { detectComposeTool } from "../../docker/docker-host.js";
import { describePlan, plan } from "../../packager/plan.js";
import { planJsonSchema } from "../../packager/plan-json.js";
import { EXIT_CODES_HELP, printJson, projectOptions } from "../options.js";
import { runMain } from "../run-main.js";

export function planCommand(): Command {
  return projectOptions(new Command("plan"))
    .description(
      "Show what `pack` would do with the project, without building or saving: the project as compose " +
        "resolves it (services, images or builds, ports, volumes), what would be built, saved and shipped, " +
        "the build cache, the data not in git it ships (and what a bind mount needs that it would not), " +
        "the devices services reserve, the settings the installer asks for, lint warnings and host access.",
    )
    .option("--json", "print the plan as JSON on stdout", false)
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (projectDir: string, flags, command: Command) => {
      await runMain(
        async ({ signal }) => {
          const tool = await detectComposeTool(signal);
          const result = await plan(tool, projectDir, {
            environment: process.env,
            files: flags.file,
            profiles: flags.profile,
            name: flags.name,
            data: flags.data,
            volumes: flags.volume,
            signal,
          });
          if (flags.json) printJson(planJsonSchema, result);
          else process.stdout.write(describePlan(result));
        },
        { json: () => command.opts().json },
      );
    });
}
