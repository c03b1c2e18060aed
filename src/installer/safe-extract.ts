/**
 * Extracts a tar stream under one root folder and nowhere else: no absolute or ".." paths, no
 * writing through a symlink, links only to places inside the root (judged by where they land
 * through the other links, as the kernel resolves them), nothing in the installer's state folder,
 * no devices or FIFOs.
 */
import { createWriteStream, promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { checkRelativePath, entryPathProblem, linkStaysInside, unsafeEntry } from "../bundle/entry-path.js";
import { STATE_DIR, inStateDir } from "../bundle/layout.js";
import { SealiftError } from "../errors.js";
import { diskLookup, linksLeaving, overlayLookup } from "../util/tree-links.js";
import { walkTree } from "../util/walk-tree.js";

function unsafe(name: string, why: string): SealiftError {
  return unsafeEntry(name, why, "source");
}

/**
 * root/rel, after walking its folders without following a link: one that is not a real folder (a
 * link, a file) is `refuse`d; a missing one is made when `make`, else left (nothing is there to
 * act through).
 */
async function throughFolders(
  root: string,
  rel: string,
  make: boolean,
  refuse: (folder: string, isLink: boolean) => SealiftError,
): Promise<string> {
  let current = root;
  for (const part of rel.split("/").slice(0, -1)) {
    current = path.join(current, part);
    const stat = await fs.lstat(current).catch(() => null);
    if (!stat) {
      if (make) await fs.mkdir(current);
    } else if (!stat.isDirectory()) throw refuse(path.relative(root, current), stat.isSymbolicLink());
  }
  return path.join(root, rel);
}

/** Makes root/rel's parent folders, refusing any existing component that is not a real folder. */
function safeParent(root: string, rel: string): Promise<string> {
  return throughFolders(root, rel, true, (folder) =>
    unsafe(rel, `would be written through ${folder}, which is not a folder`),
  );
}

/**
 * `rel` below `root` as a path to act on (remove, replace), or UNSAFE_PATH when it is not a clean
 * relative path (the bundle's entry rule) or one of its folders is a link: acting through it would
 * reach outside `root`. For paths read from the installer's own state, or placed by the bundle.
 */
export async function pathInside(root: string, rel: string, what: string): Promise<string> {
  if (entryPathProblem(rel))
    throw new SealiftError(
      "UNSAFE_PATH",
      `${what} names ${JSON.stringify(rel)}, which is not a path inside ${root}`,
      {
        hint: "the file was edited or planted; sealift does not act on it: remove it and install the release's bundle again",
      },
    );
  return throughFolders(
    root,
    rel,
    false,
    (folder, isLink) =>
      new SealiftError(
        "UNSAFE_PATH",
        `${what} names ${rel}, whose folder ${folder} is ${isLink ? "a link" : "not a folder"}`,
        { hint: "sealift never acts through a link; remove it and install the release's bundle again" },
      ),
  );
}

/**
 * Every link of the tree an install leaves (the `layers` laid over the install folder `dir`, the
 * first on top), followed as the kernel will: BUNDLE_UNSAFE_ENTRY for the first that lands outside
 * `dir` or in its state folder. Run before anything is placed, so that a refused bundle changes
 * nothing; the install folder's own links count too (an earlier release's link can complete a
 * later one's).
 */
export async function checkPlacedLinks(layers: readonly string[], dir: string): Promise<void> {
  const links = new Map<string, string>();
  for (const root of [dir, ...[...layers].reverse()]) {
    const exists = await fs.lstat(root).catch(() => null);
    if (!exists?.isDirectory()) continue;
    for await (const { rel, dirent } of walkTree(root, { skipPaths: new Set([STATE_DIR]) }))
      if (dirent.isSymbolicLink()) links.set(rel, await fs.readlink(path.join(root, rel)));
  }
  const lookup = overlayLookup([...layers, dir].map(diskLookup));
  const problems = await linksLeaving(
    [...links].map(([rel, target]) => ({ path: rel, target })),
    lookup,
    [STATE_DIR],
  );
  const first = problems[0];
  if (first)
    throw unsafe(
      first.link,
      `links to ${first.target}, which ${first.why}${first.leaves ? ": it leaves the install folder" : ""}`,
    );
}

/**
 * The tar into `root`; then every link checked, as the tree will be once `root` is moved over the
 * install folder `over` (default: `root` on its own).
 */
export async function extractTarSafely(
  input: Readable,
  root: string,
  signal?: AbortSignal,
  over?: string,
): Promise<number> {
  await fs.mkdir(root, { recursive: true });
  const extract = tar.extract();
  const feeding = pipeline(input, extract as unknown as NodeJS.WritableStream, { signal });
  feeding.catch(() => undefined);
  const seen = new Set<string>();
  let files = 0;
  for await (const entry of extract) {
    const { header } = entry;
    const rel = checkRelativePath(header.name);
    if (inStateDir(rel)) throw unsafe(header.name, `is in ${STATE_DIR}/, the installer's own folder`);
    if (seen.has(rel) && header.type !== "directory") throw unsafe(header.name, "appears twice");
    seen.add(rel);
    const target = await safeParent(root, rel);
    const existing = await fs.lstat(target).catch(() => null);
    switch (header.type) {
      case "directory":
        if (existing && !existing.isDirectory())
          throw unsafe(header.name, "is a folder where a file already is");
        if (!existing) await fs.mkdir(target, { mode: 0o755 });
        entry.resume();
        break;
      case "file":
      case "contiguous-file":
        if (existing?.isDirectory()) throw unsafe(header.name, "is a file where a folder already is");
        if (existing) await fs.rm(target);
        await pipeline(
          entry,
          createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o755, flags: "wx" }),
        );
        files++;
        break;
      case "symlink": {
        const link = header.linkname ?? "";
        if (!linkStaysInside(rel, link))
          throw unsafe(header.name, `links to ${link}, outside the install folder`);
        if (existing) await fs.rm(target, { recursive: existing.isDirectory() });
        await fs.symlink(link, target);
        entry.resume();
        break;
      }
      default:
        throw unsafe(header.name, `is a ${header.type}, which sealift never installs`);
    }
  }
  await feeding;
  await (over ? checkPlacedLinks([root], over) : checkPlacedLinks([], root));
  return files;
}

/**
 * Moves every file of `staging` into `dir` at the same relative path (both on one filesystem),
 * replacing what is there; folders are made as needed and never followed through a symlink.
 */
export async function moveTree(staging: string, dir: string): Promise<void> {
  for await (const { rel, dirent } of walkTree(staging)) {
    if (dirent.isDirectory()) {
      const target = path.join(dir, rel);
      const stat = await fs.lstat(target).catch(() => null);
      if (stat && !stat.isDirectory()) await fs.rm(target);
      if (!stat || !stat.isDirectory()) await fs.mkdir(target);
    } else {
      const target = await safeParent(dir, rel);
      const stat = await fs.lstat(target).catch(() => null);
      if (stat?.isDirectory()) await fs.rm(target, { recursive: true });
      await fs.rename(path.join(staging, rel), target);
    }
  }
}
