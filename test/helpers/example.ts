/** The example app as a fresh git project under a unique name, so tests never collide. */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, run } from "./run.js";

export interface ExampleProject {
  dir: string;
  name: string;
  workdir: string;
  cleanup(): void;
}

async function git(dir: string, args: string[]): Promise<void> {
  const outcome = await run("git", [
    "-C",
    dir,
    "-c",
    "user.email=test@sealift",
    "-c",
    "user.name=sealift test",
    ...args,
  ]);
  if (outcome.code !== 0) throw new Error(`git ${args.join(" ")}: ${outcome.stderr}`);
}

/** Makes sure the example's offline base image exists (built FROM scratch with busybox). */
export async function ensureBaseImage(): Promise<void> {
  const outcome = await run("sh", [path.join(ROOT, "examples/llm-chat/make-base.sh")]);
  if (outcome.code !== 0) throw new Error(`make-base.sh failed: ${outcome.stderr}`);
}

export async function exampleProject(prefix: string): Promise<ExampleProject> {
  await ensureBaseImage();
  const workdir = mkdtempSync(path.join(os.tmpdir(), `sealift-${prefix}-`));
  const name = `sl${prefix}${Math.random().toString(36).slice(2, 7)}`;
  const dir = path.join(workdir, name);
  cpSync(path.join(ROOT, "examples/llm-chat"), dir, { recursive: true });
  await git(dir, ["init", "-q"]);
  await git(dir, ["add", "-A"]);
  await git(dir, ["commit", "-qm", "example"]);
  return { dir, name, workdir, cleanup: () => rmSync(workdir, { recursive: true, force: true }) };
}

export async function commitChange(dir: string, file: string, content: string): Promise<void> {
  writeFileSync(path.join(dir, file), content);
  await git(dir, ["add", "-A"]);
  await git(dir, ["commit", "-qm", `change ${file}`]);
}
