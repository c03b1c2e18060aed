/**
 * What the commands share: the exit codes' help text, the options several commands take, and how a
 * command of the installer finds its own executable, prints JSON and knows it is on a terminal.
 */
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { existsSync } from "node:fs";
import { isSea } from "node:sea";
import type { z } from "zod";
import type { InstallerSelf } from "../installer/self.js";
import { withFolderLock } from "../installer/folder-lock.js";
import { resolveDir } from "../installer/manage.js";
import { Reporter } from "./reporter.js";
import { collect } from "./run-main.js";

export const EXIT_CODES_HELP = `
Exit codes:
  0    done
  1    failed (a build, docker or compose command failed; the message names it)
  2    usage: bad flags, bad answers, or a project that cannot be packed as it is
  3    integrity: the bundle is damaged, incomplete or not a sealift bundle
  4    preflight: this host cannot run the app as it is (docker, disk, ports, architecture)
  130  cancelled (Ctrl-C or SIGTERM); nothing is left half-written`;

/** --verify always|if-signed|never, shared by `sealift verify` and the installer. */
export function verifyModeOption(defaultMode: "always" | "if-signed" = "if-signed"): Option {
  return new Option(
    "--verify <mode>",
    "signatures: always (refuse unsigned), if-signed (check when signed; with --trust or a built-in key a signature is required), never",
  )
    .choices(["always", "if-signed", "never"])
    .default(defaultMode);
}

/** The project's folder and how compose reads it: `sealift plan` and `sealift pack`. */
export function projectOptions(command: Command): Command {
  return command
    .argument("[project-dir]", "the compose project's folder", ".")
    .option(
      "-f, --file <compose-file>",
      "compose file, relative to the project (repeatable; default: as compose picks)",
      collect,
    )
    .option(
      "-p, --profile <name>",
      "compose profile (repeatable; default: COMPOSE_PROFILES, else the services without profiles)",
      collect,
    )
    .option("-n, --name <name>", "bundle name (default: the compose project name)")
    .option(
      "--data <path>",
      "a file or folder of the project that is not in git (model weights...) to ship as data, placed at the same path on the target (repeatable; also x-sealift: {data: [...]} in the compose file)",
      collect,
    )
    .option(
      "--volume <name>",
      "a named volume (as the compose file names it) to ship with its content from this machine's engine; filled on the target only where it is missing or empty (repeatable; also x-sealift: {volumes: [...]})",
      collect,
    );
}

export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("takes a number of seconds greater than 0");
  return n;
}

/** --timeout SECONDS: how long the install, rebuild and rollback wait for health. */
export function timeoutOption(): Option {
  return new Option("--timeout <seconds>", "how long to wait for the services to be healthy")
    .default(180)
    .argParser(seconds);
}

/** This installer's own executable, as the core takes it (null when not the compiled installer). */
export function installerSelf(): InstallerSelf {
  return { executable: isSea() ? process.execPath : null, cwd: process.cwd() };
}

/**
 * --json: one JSON document on one line of stdout, through the schema that declares it (so what is
 * printed is what is documented, and nothing else).
 */
export function printJson<T>(schema: z.ZodType<T>, value: T): void {
  process.stdout.write(JSON.stringify(schema.parse(value)) + "\n");
}

/**
 * The tests' hold (SEALIFT_TEST_HOLD_STAGE=placing): the install waits once its journal says that
 * stage, so that a test can cut it in that very stage as a power cut would: until the file
 * SEALIFT_TEST_HOLD_UNTIL exists when that is set (the test changes something, then lets it go on),
 * else two minutes. Never set in use; unset, no hook.
 */
export function testHold(reporter: Reporter): ((stage: string) => Promise<void>) | undefined {
  const held = process.env.SEALIFT_TEST_HOLD_STAGE;
  const until = process.env.SEALIFT_TEST_HOLD_UNTIL;
  if (!held) return undefined;
  return async (stage) => {
    if (stage !== held) return;
    reporter.info(`holding at ${stage} (SEALIFT_TEST_HOLD_STAGE)`);
    for (const started = Date.now(); Date.now() - started < 120_000;) {
      if (until && existsSync(until)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

/** Questions can be asked: stdin and stdout are a terminal (the one place this is decided). */
export function onTerminal(): boolean {
  return !!process.stdin.isTTY && !!process.stdout.isTTY;
}

/** --dir of the commands for an installed app, with where it defaults to. */
export const DIR_HELP =
  "install directory (default: the one this installer was kept in, when run as DIR/.sealift/install; " +
  "else /opt/NAME beside an extracted bundle's installer; otherwise required)";

/**
 * An installed app's command (rebuild, rollback, uninstall): its folder (--dir, else as resolveDir
 * finds it) held under the folder's lock while `run` works there with a reporter for the terminal
 * or --json.
 */
export async function onInstalledApp<T>(
  flags: { dir?: string; json: boolean },
  command: string,
  run: (dir: string, reporter: Reporter) => Promise<T>,
): Promise<{ dir: string; result: T }> {
  const dir = resolveDir(flags.dir, installerSelf());
  const result = await withFolderLock(dir, command, () => run(dir, new Reporter(process.stderr, flags.json)));
  return { dir, result };
}
