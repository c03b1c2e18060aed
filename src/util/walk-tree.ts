/** The one directory walker: every entry below a folder, never following a symlink. */
import type { Dirent } from "node:fs";
import { promises as fs } from "node:fs";
import path from "node:path";

export interface TreeEntry {
  /** Relative to the root, "/"-separated. */
  rel: string;
  /** What the entry itself is (a symlink is reported as a symlink, not as what it points to). */
  dirent: Dirent;
}

/**
 * Every entry below `root`, a folder before what it holds, names in sorted order. Folders whose
 * name is in `skip` are neither yielded nor entered. Reads one folder at a time, so a consumer may
 * move the files it has been given.
 */
export async function* walkTree(
  root: string,
  options: {
    skip?: ReadonlySet<string>;
    /** Folders neither yielded nor entered, by their path relative to the root. */
    skipPaths?: ReadonlySet<string>;
  } = {},
  rel = "",
): AsyncGenerator<TreeEntry> {
  const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const dirent of entries) {
    if (dirent.isDirectory() && options.skip?.has(dirent.name)) continue;
    const child = rel ? `${rel}/${dirent.name}` : dirent.name;
    if (dirent.isDirectory() && options.skipPaths?.has(child)) continue;
    yield { rel: child, dirent };
    if (dirent.isDirectory()) yield* walkTree(root, options, child);
  }
}

/** The relative paths of every entry below `root` that is not a folder (files, and links as themselves). */
export async function filesBelow(
  root: string,
  options: { skip?: ReadonlySet<string> } = {},
): Promise<string[]> {
  const found: string[] = [];
  for await (const { rel, dirent } of walkTree(root, options)) if (!dirent.isDirectory()) found.push(rel);
  return found;
}
