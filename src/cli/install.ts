/**
 * `install`: the installer's command table (compiled into the single binary shipped in bundles);
 * each command is a file of its own in commands/.
 */
import type { Command } from "commander";
import { cacheCommand } from "./commands/cache.js";
import { installCommand } from "./commands/install.js";
import { rebuildCommand } from "./commands/rebuild.js";
import { rollbackCommand } from "./commands/rollback.js";
import { rolloutCommand } from "./commands/rollout.js";
import { statusCommand } from "./commands/status.js";
import { uninstallCommand } from "./commands/uninstall.js";
import { runProgram } from "./run-main.js";

export function installProgram(): Command {
  const program = installCommand();
  for (const sub of [
    statusCommand(),
    rebuildCommand(),
    cacheCommand(),
    rollbackCommand(),
    uninstallCommand(),
    rolloutCommand(),
  ])
    program.addCommand(sub);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(installProgram(), argv);
}
