/**
 * `sealift`: the packager's command table; each command is a file of its own in commands/.
 */
import { Command } from "commander";
import { TOOL_VERSION } from "../version.js";
import { keygenCommand } from "./commands/keygen.js";
import { packCommand } from "./commands/pack.js";
import { planCommand } from "./commands/plan.js";
import { verifyCommand } from "./commands/verify.js";
import { EXIT_CODES_HELP } from "./options.js";
import { runProgram } from "./run-main.js";

export { EXIT_CODES_HELP, verifyModeOption } from "./options.js";

export function sealiftProgram(): Command {
  return new Command("sealift")
    .description("Carry a docker-compose application across an air gap: pack it into one checksummed bundle.")
    .version(TOOL_VERSION)
    .exitOverride()
    .addHelpText("after", EXIT_CODES_HELP)
    .addCommand(planCommand())
    .addCommand(packCommand())
    .addCommand(keygenCommand())
    .addCommand(verifyCommand());
}

/** Entry point: a usage error from commander gets the same treatment as any other error. */
export async function main(argv: string[]): Promise<void> {
  await runProgram(sealiftProgram(), argv);
}
