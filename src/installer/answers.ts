/**
 * The operator's answers: from flags, an answers file (YAML or JSON), the prompts, or the
 * defaults, in that order of precedence. The answers file has one schema, declared here.
 */
import { readBoundedText } from "../util/read-bounded.js";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Manifest } from "../bundle/manifest.js";
import { SealiftError } from "../errors.js";
import { keptInstallerDir, type InstallerSelf } from "./self.js";
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
  /** The settings given by --set or the answers file (they win over a kept .env's lines). */
  given: Record<string, string>;
}

export interface AnswerFlags {
  dir?: string;
  yes: boolean;
  answersFile?: string;
  /** With `--answers -`: what the command layer read from standard input. */
  answersStdin?: string;
  set: string[];
  /** undefined when neither --keep-env nor --replace-env was given. */
  keepEnv?: boolean;
  importCache?: boolean;
}

function invalid(message: string, hint: string): SealiftError {
  return new SealiftError("ANSWERS_INVALID", message, { hint });
}

/** The largest answers file read (a few settings take a few hundred bytes). */
const MAX_ANSWERS_FILE_BYTES = 1024 * 1024;
/** How an answers file is read, from a path or from standard input (`--answers -`). */
export const ANSWERS_BOUND = {
  maxBytes: MAX_ANSWERS_FILE_BYTES,
  what: "the answers",
  code: "ANSWERS_INVALID" as const,
  hint: "give the app's settings as a YAML or JSON file with --answers FILE, or on standard input with --answers - (settings, not data: large files belong in the app's volumes or data)",
};
/** The longest value a setting may have (a certificate fits; a 50 MB value is a mistake). */
export const MAX_SETTING_BYTES = 64 * 1024;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The answers file (`-`: the text the command layer read from standard input, `stdinText`), read
 * with its bound and checked against the schema.
 */
export function readAnswersFile(file: string, stdinText?: string): AnswersFile {
  const text =
    file === "-" && stdinText !== undefined
      ? stdinText
      : readBoundedText(file, { ...ANSWERS_BOUND, what: "the answers file" });
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

/** Names and sizes of settings, before any bundle is read: what no app could take. */
function checkSettingShapes(values: Record<string, string>, from: string): void {
  for (const [name, value] of Object.entries(values)) {
    if (!SETTING_NAME.test(name))
      throw invalid(
        `${from}: ${JSON.stringify(name.slice(0, 60))} is not a setting name`,
        "settings are variable names: letters, digits and _",
      );
    if (Buffer.byteLength(value) > MAX_SETTING_BYTES)
      throw invalid(
        `${from}: ${name} is ${Buffer.byteLength(value)} bytes long; a setting is at most ${MAX_SETTING_BYTES / 1024} KiB`,
        "settings are short values (ports, names, tokens); ship files as data or in a volume",
      );
  }
}

export function checkVariables(manifest: Manifest, values: Record<string, string>, from: string): void {
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
  checkSettingShapes(values, "--set");
  return values;
}

/** What the flags and the answers file say, read and checked before the bundle or the engine is. */
export interface AnswerInputs {
  file: AnswersFile;
  fileEnv: Record<string, string>;
  setEnv: Record<string, string>;
}

export function readAnswerInputs(
  flags: Pick<AnswerFlags, "answersFile" | "answersStdin" | "set">,
): AnswerInputs {
  const file = flags.answersFile ? readAnswersFile(flags.answersFile, flags.answersStdin) : {};
  const fileEnv = Object.fromEntries(Object.entries(file.env ?? {}).map(([k, v]) => [k, String(v)]));
  checkSettingShapes(fileEnv, flags.answersFile ?? "answers");
  return { file, fileEnv, setEnv: parseSetFlags(flags.set) };
}

/** The settings given against the bundle's own (unknown names are refused, exit 2). */
export function checkAnswerInputs(manifest: Manifest, inputs: AnswerInputs, answersFile?: string): void {
  checkVariables(manifest, inputs.fileEnv, answersFile ?? "answers");
  checkVariables(manifest, inputs.setEnv, "--set");
}

export interface AnswerContext {
  manifest: Manifest;
  /** Whether the bundle carries a build cache to offer. */
  hasCache: boolean;
  /** The values of an existing .env in the chosen folder (upgrade), or null. */
  existingEnv: (dir: string) => Record<string, string> | null;
  io: PromptIO;
  /** The installer kept in DIR/.sealift offers DIR as the default folder. */
  self: InstallerSelf;
}

/** Resolves every answer; asks only on a terminal and only for what flags and file left open. */
export async function resolveAnswers(
  flags: AnswerFlags,
  ctx: AnswerContext,
  inputs: AnswerInputs = readAnswerInputs(flags),
): Promise<Answers> {
  const { file, fileEnv, setEnv } = inputs;
  checkAnswerInputs(ctx.manifest, inputs, flags.answersFile);
  const interactive = !flags.yes && !flags.answersFile;
  if (interactive && !canPrompt(ctx.io)) throw noTerminal();
  const io = ctx.io;

  const defaultDir = keptInstallerDir(ctx.self) ?? `/opt/${ctx.manifest.project.name}`;
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
  const given: Record<string, string> = {};
  for (const variable of ctx.manifest.project.variables) {
    const value = setEnv[variable.name] ?? fileEnv[variable.name];
    if (value !== undefined) given[variable.name] = value;
  }
  return { dir, importCache, keepEnv: !!existing && keepEnv, env, given };
}
