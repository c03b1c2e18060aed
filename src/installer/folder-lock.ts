/**
 * One command at a time on an install folder: DIR/.sealift/lock, made with O_EXCL, names the
 * process that holds it (pid, its start time as the kernel counts it, the command, since when).
 * A lock whose process is gone (killed, a power cut) is stale and taken over; a live one refuses
 * the second command at once (exit 4), naming the first.
 */
import { existsSync, promises as fs, readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { requireRealFolder } from "../util/durable-write.js";
import { SealiftError } from "../errors.js";

const LOCK_FILE = "lock";

interface LockOwner {
  pid: number;
  /** /proc/PID/stat's start time: a pid reused by another process does not hold the lock. */
  started: string | null;
  host: string;
  command: string;
  since: string;
}

export interface FolderLock {
  /** The folder did not exist before the lock was taken (the lock made it). */
  created: boolean;
  release(): Promise<void>;
}

function processStart(pid: number): string | null {
  try {
    // Field 22 after the command name (which may hold spaces, inside parentheses).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // another machine's (a shared folder): not ours to judge
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const started = processStart(owner.pid);
  return !owner.started || !started || started === owner.started;
}

/** Takes the folder's lock for `command` (install, rebuild, rollback, uninstall). */
export async function lockFolder(dir: string, command: string): Promise<FolderLock> {
  const created = !existsSync(dir);
  const recordDir = path.join(dir, ".sealift");
  // The state folder must be the installer's own: a link in its place would take every write elsewhere.
  await requireRealFolder(recordDir);
  await fs.mkdir(recordDir, { recursive: true });
  const file = path.join(recordDir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    started: processStart(process.pid),
    host: hostname(),
    command,
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(owner) + "\n", { flag: "wx", mode: 0o600 });
      return {
        created,
        release: async () => {
          // Only our own lock: a folder removed on failure took it with it.
          if (readOwner(file)?.pid === process.pid) await fs.rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const held = readOwner(file);
    if (held && alive(held)) throw inUse(dir, held, file);
    // Stale (its process is gone) or unreadable (cut while written): taken over.
    await fs.rm(file, { force: true });
  }
  throw new SealiftError("FOLDER_IN_USE", `${dir}: another command took the lock at the same moment`, {
    hint: "run this again once it has finished",
  });
}

/** Refuses at once (before any question) when a live process holds the folder's lock. */
export function checkFolderFree(dir: string): void {
  const file = path.join(dir, ".sealift", LOCK_FILE);
  const held = readOwner(file); // none, or one cut while written: the lock itself decides
  if (held && alive(held)) throw inUse(dir, held, file);
}

/** Who holds the lock, or null: no lock, or one cut while it was written. */
function readOwner(file: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockOwner;
  } catch {
    return null;
  }
}

function inUse(dir: string, held: LockOwner, file: string): SealiftError {
  return new SealiftError(
    "FOLDER_IN_USE",
    `${dir} is in use: \`${held.command}\` (pid ${held.pid} on ${held.host}) has been running there since ${held.since}`,
    {
      hint: `wait for it to finish (or stop it), then run this again; a lock left by a process that is gone is taken over by itself (${file})`,
    },
  );
}

/**
 * Runs `use` holding the folder's lock (the commands for an installed app). A folder with nothing
 * installed is not made for it: the command says so itself.
 */
export async function withFolderLock<T>(dir: string, command: string, use: () => Promise<T>): Promise<T> {
  if (!existsSync(path.join(dir, ".sealift"))) return use();
  const lock = await lockFolder(dir, command);
  try {
    return await use();
  } finally {
    await lock.release();
  }
}
