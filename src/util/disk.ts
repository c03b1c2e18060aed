/** Free space and the nearest existing folder: one reading for the packer and the installer. */
import { promises as fs } from "node:fs";
import path from "node:path";

/** The folder itself, or its nearest existing parent (a folder about to be made may not exist yet). */
export async function nearestExisting(dir: string): Promise<string> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      await fs.stat(current);
      return current;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/** Bytes an unprivileged writer may still use on the filesystem of `dir` (or its nearest parent); null when unreadable. */
export async function freeBytes(dir: string): Promise<number | null> {
  try {
    const stat = await fs.statfs(await nearestExisting(dir));
    return stat.bavail * stat.bsize;
  } catch {
    return null;
  }
}
