/**
 * The operator's answers: from flags, an answers file (YAML or JSON), the prompts, or the
 * defaults, in that order of precedence. The answers file has one schema, declared here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Manifest } from "../bundle/manifest.js";
import { SealiftError } from "../errors.js";
import { keptInstallerDir } from "./install-record.js";
import { askText, askYesNo, canPrompt, noTerminal, type PromptIO } from "./prompts.js";

export const answersFileSchema = z.strictObject({
  /** Install directory; default /opt/NAME. */
  dir: z.string().min(1).optional(),
  /** Import the bundle's build cache (when it has one); default true. */
  importCache: z.boolean().optional(),
  /** Keep an existing .env on upgrade; default true. */
  keepEnv: z.boolean().optional(),
  /** Values for the app's .env variables; default the bundle's template. */
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type AnswersFile = z.infer<typeof answersFileSchema>;

export interface Answers {
  dir: string;
  importCache: boolean;
  keepEnv: boolean;
  env: Record<string, string>;
}

export interface AnswerFlags {
  dir?: string;
  yes: boolean;
  answersFile?: string;
  set: string[];
  /** undefined when neither --keep-env nor --replace-env was given. */
  keepEnv?: boolean;
  importCache?: boolean;
}

function invalid(message: string, hint: string): SealiftError {
  return new SealiftError("ANSWERS_INVALID", message, { hint });
}

export function readAnswersFile(file: string): AnswersFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new SealiftError("ANSWERS_INVALID", `cannot read the answers file ${file}`, {
      hint: "check the path given with --answers",
      cause: error,
    });
  }
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw invalid(
      `${file} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message.split("\n")[0]}`,
      "fix the file and run again",
    );
  }
  const parsed = answersFileSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join(".") || "(top level)";
    const unknown =
      issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.join(", ")}` : issue.message;
    throw invalid(
      `${file}: ${where}: ${unknown}`,
      "the answers file takes: dir, importCache, keepEnv, env (a map of the app's variables)",
    );
  }
  return parsed.data;
}

function checkVariables(manifest: Manifest, values: Record<string, string>, from: string): void {
  const known = new Set(manifest.project.variables.map((v) => v.name));
  for (const name of Object.keys(values)) {
    if (!known.has(name)) {
      throw invalid(
        `${from}: ${name} is not a setting of ${manifest.project.name}`,
        known.size ? `its settings are: ${[...known].join(", ")}` : "this app has no .env settings",
      );
    }
  }
}

export function parseSetFlags(set: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const item of set) {
    const i = item.indexOf("=");
    if (i <= 0) throw invalid(`--set ${item}: expected KEY=VALUE`, "for example --set FRONTEND_PORT=8080");
    values[item.slice(0, i)] = item.slice(i + 1);
  }
  return values;
}

export interface AnswerContext {
  manifest: Manifest;
  /** Whether the bundle carries a build cache to offer. */
  hasCache: boolean;
  /** The values of an existing .env in the chosen folder (upgrade), or null. */
  existingEnv: (dir: string) => Record<string, string> | null;
  io: PromptIO;
}

/** Resolves every answer; asks only on a terminal and only for what flags and file left open. */
export async function resolveAnswers(flags: AnswerFlags, ctx: AnswerContext): Promise<Answers> {
  const file = flags.answersFile ? readAnswersFile(flags.answersFile) : {};
  const fileEnv = Object.fromEntries(Object.entries(file.env ?? {}).map(([k, v]) => [k, String(v)]));
  const setEnv = parseSetFlags(flags.set);
  checkVariables(ctx.manifest, fileEnv, flags.answersFile ?? "answers");
  checkVariables(ctx.manifest, setEnv, "--set");
  const interactive = !flags.yes && !flags.answersFile;
  if (interactive && !canPrompt()) throw noTerminal();
  const io = ctx.io;

  const defaultDir = keptInstallerDir() ?? `/opt/${ctx.manifest.project.name}`;
  let dir = flags.dir ?? file.dir;
  if (!dir) {
    dir = interactive
      ? await askText(
          "Install directory",
          { default: defaultDir, validate: (v) => (v.trim() ? true : "a folder is needed") },
          io,
        )
      : defaultDir;
  }
  dir = path.resolve(dir.trim());

  let importCache = flags.importCache ?? file.importCache ?? true;
  if (ctx.hasCache && interactive && flags.importCache === undefined && file.importCache === undefined) {
    importCache = await askYesNo("Import the build cache to speed up later rebuilds?", true, io);
  }
  if (!ctx.hasCache) importCache = false;

  const existing = ctx.existingEnv(dir);
  let keepEnv = flags.keepEnv ?? file.keepEnv ?? true;
  if (existing && interactive && flags.keepEnv === undefined && file.keepEnv === undefined) {
    keepEnv = await askYesNo(`Keep the existing settings in ${path.join(dir, ".env")}?`, true, io);
  }
  const env: Record<string, string> = {};
  for (const variable of ctx.manifest.project.variables) {
    const given = setEnv[variable.name] ?? fileEnv[variable.name];
    const current = existing && keepEnv ? existing[variable.name] : undefined;
    if (given !== undefined) env[variable.name] = given;
    else if (current !== undefined) env[variable.name] = current;
    else if (interactive) {
      env[variable.name] = await askText(
        variable.name,
        { default: variable.default, secret: variable.secret },
        io,
      );
    } else env[variable.name] = variable.default;
  }
  return { dir, importCache, keepEnv: !!existing && keepEnv, env };
}
