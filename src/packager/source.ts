/**
 * The project's source tarball: `git archive` of HEAD when the tree is clean; with --allow-dirty,
 * the working tree's tracked and untracked-but-not-ignored files (or every file outside git).
 */
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { SealiftError } from "../errors.js";
import { runCommand, streamCommand } from "../process/run-command.js";
import { filesBelow } from "../util/walk-tree.js";

export interface GitState {
  /** null when the project is not in a git repository. */
  commit: string | null;
  dirty: boolean;
  changedFiles: string[];
}

/** git in the project's folder; its exit code is the caller's to read. `input`: its stdin. */
export async function git(dir: string, args: string[], signal?: AbortSignal, input?: string) {
  return runCommand("git", ["-C", dir, ...args], {
    allowFailure: true,
    signal,
    ...(input !== undefined ? { input } : {}),
  });
}

export async function inspectGit(dir: string, signal?: AbortSignal): Promise<GitState> {
  const head = await git(dir, ["rev-parse", "--verify", "-q", "HEAD"], signal).catch(() => null);
  if (!head || head.exitCode !== 0) {
    const inside = await git(dir, ["rev-parse", "--is-inside-work-tree"], signal).catch(() => null);
    if (inside?.exitCode === 0) return { commit: null, dirty: true, changedFiles: ["(no commit yet)"] };
    return { commit: null, dirty: true, changedFiles: [] };
  }
  // A folder git ignores (a copy under dist/, say) is not in git, whatever repository it sits in.
  const ignored = await git(dir, ["check-ignore", "-q", "."], signal).catch(() => null);
  if (ignored?.exitCode === 0) return { commit: null, dirty: true, changedFiles: [] };
  const status = await git(dir, ["status", "--porcelain", "--untracked-files=all", "--", "."], signal);
  const changedFiles = status.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(3));
  return { commit: head.stdout.trim(), dirty: changedFiles.length > 0, changedFiles };
}

/** Refuses a dirty tree (or no git at all) unless the user allowed it. */
export function requireClean(dir: string, state: GitState, allowDirty: boolean): void {
  if (allowDirty || !state.dirty) return;
  if (state.commit === null && state.changedFiles.length === 0) {
    throw new SealiftError("GIT_MISSING", `${dir} is not in a git repository`, {
      hint: "commit the project to git so the bundle records what it holds, or pass --allow-dirty to pack the folder as it is",
    });
  }
  const shown = state.changedFiles.slice(0, 10);
  const more = state.changedFiles.length - shown.length;
  throw new SealiftError(
    "GIT_DIRTY",
    `the project has uncommitted changes (${state.changedFiles.length} files)`,
    {
      hint: "commit or stash them so the bundle matches a commit, or pass --allow-dirty (the manifest records it)",
      details: [...shown, ...(more > 0 ? [`... and ${more} more`] : [])],
    },
  );
}

async function workingTreeFiles(dir: string, state: GitState, signal?: AbortSignal): Promise<string[]> {
  if (state.commit !== null || state.changedFiles.includes("(no commit yet)")) {
    const listed = await runCommand(
      "git",
      ["-C", dir, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", "."],
      {
        signal,
      },
    );
    return [...new Set(listed.stdout.split("\0").filter(Boolean))].sort();
  }
  return (await filesBelow(dir, { skip: new Set([".git"]) })).sort();
}

/** Writes the source tarball to `file` (small: the source, not the images). Returns its size. */
export async function writeSourceTar(
  dir: string,
  state: GitState,
  file: string,
  signal?: AbortSignal,
  /** Paths that travel as data instead (a working tree's copy leaves them out). */
  exclude: ReadonlySet<string> = new Set(),
): Promise<number> {
  if (!state.dirty && state.commit) {
    const where = await runCommand("git", ["-C", dir, "rev-parse", "--show-toplevel", "--show-prefix"], {
      signal,
    });
    const [top = dir, prefix = ""] = where.stdout.split("\n");
    // From the top: `HEAD:prefix` is the project's own tree, with paths relative to it.
    const archive = streamCommand("git", ["-C", top, "archive", "--format=tar", `HEAD:${prefix}`], {
      signal,
    });
    await Promise.all([pipeline(archive.stdout, createWriteStream(file), { signal }), archive.done]);
    return (await fs.stat(file)).size;
  }
  const pack = tar.pack();
  const written = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(file), { signal });
  for (const rel of await workingTreeFiles(dir, state, signal)) {
    if (exclude.has(rel)) continue;
    const full = path.join(dir, rel);
    const stat = await fs.lstat(full).catch(() => null);
    if (!stat) continue; // tracked but deleted in the working tree
    if (stat.isSymbolicLink()) {
      pack.entry({
        name: rel,
        type: "symlink",
        linkname: await fs.readlink(full),
        mode: 0o777,
        mtime: stat.mtime,
      });
    } else if (stat.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry(
          { name: rel, size: stat.size, mode: stat.mode & 0o111 ? 0o755 : 0o644, mtime: stat.mtime },
          (error) => (error ? reject(error) : resolve()),
        );
        entry.on("error", reject);
        createReadStream(full)
          .on("error", reject)
          .pipe(entry as unknown as NodeJS.WritableStream);
      });
    }
  }
  pack.finalize();
  await written;
  return (await fs.stat(file)).size;
}
