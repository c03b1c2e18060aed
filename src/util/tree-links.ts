/**
 * Links judged by where they land, as the kernel resolves them: component by component, through
 * the links already in the tree (a link's text says little: `s -> ../..` and `esc -> s/../..` each
 * look inside, and together reach `/`). The tree is read through a lookup, so that one rule serves
 * a folder on disk, several folders laid over each other (what an install will leave), or a list of
 * entries not written yet.
 */
import { promises as fs } from "node:fs";
import path from "node:path";

/** What stands at a path of the tree (the path's parents are folders there); undefined: nothing. */
export type TreeNode = { type: "dir" } | { type: "file" } | { type: "link"; target: string } | undefined;
export type TreeLookup = (rel: string) => TreeNode | Promise<TreeNode>;

/** The kernel's limit on links followed in one resolution (ELOOP past it). */
const MAX_LINKS = 40;

export type Resolution =
  | { inside: true; /** Relative to the root, "" for the root itself. */ path: string }
  | { inside: false; why: string };

/**
 * Where `rel` (relative to the tree's root) lands once every link on the way is followed, the last
 * one too. A component that does not exist is taken as written (what follows it is judged by its
 * text), so a link that dangles now is judged by where it would land. Leaving the root through
 * "..", an absolute link and a loop are all outside.
 */
export async function resolveInTree(rel: string, lookup: TreeLookup): Promise<Resolution> {
  const resolved: string[] = [];
  const pending = rel.split("/");
  let followed = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (!resolved.length) return { inside: false, why: "climbs above the folder" };
      resolved.pop();
      continue;
    }
    const node = await lookup([...resolved, part].join("/"));
    if (node?.type === "link") {
      if (++followed > MAX_LINKS) return { inside: false, why: "is a loop of links" };
      if (!node.target || path.posix.isAbsolute(node.target))
        return { inside: false, why: `goes through a link to the absolute path ${node.target}` };
      pending.unshift(...node.target.split("/"));
      continue;
    }
    resolved.push(part);
  }
  return { inside: true, path: resolved.join("/") };
}

/** The lookup of a folder on disk: lstat of each component, never following a link. */
export function diskLookup(root: string): TreeLookup {
  return async (rel) => {
    const parts = rel.split("/");
    let current = root;
    for (const [i, part] of parts.entries()) {
      current = path.join(current, part);
      const stat = await fs.lstat(current).catch(() => null);
      if (!stat) return undefined;
      const last = i === parts.length - 1;
      if (!last && !stat.isDirectory()) return undefined; // not reachable through this folder's own tree
      if (last)
        return stat.isSymbolicLink()
          ? { type: "link", target: await fs.readlink(current) }
          : stat.isDirectory()
            ? { type: "dir" }
            : { type: "file" };
    }
    return { type: "dir" };
  };
}

/**
 * Folders laid over each other, the first on top (what moving each into the one below leaves: a
 * path is what the topmost folder holding it has there).
 */
export function overlayLookup(layers: readonly TreeLookup[]): TreeLookup {
  return async (rel) => {
    for (const layer of layers) {
      const node = await layer(rel);
      if (node) return node;
    }
    return undefined;
  };
}

export interface LinkProblem {
  link: string;
  target: string;
  why: string;
  /** It leaves the root (else it lands in a reserved folder). */
  leaves: boolean;
}

/**
 * Each of `links` (paths of the tree) that does not land inside the root, or lands in one of the
 * `reserved` folders (the installer's own state); an empty list when all stay.
 */
export async function linksLeaving(
  links: ReadonlyArray<{ path: string; target: string }>,
  lookup: TreeLookup,
  reserved: readonly string[] = [],
): Promise<LinkProblem[]> {
  const problems: LinkProblem[] = [];
  for (const link of links) {
    const where = await resolveInTree(link.path, lookup);
    const problem = (why: string, leaves: boolean) =>
      problems.push({ link: link.path, target: link.target, why, leaves });
    if (!where.inside) problem(where.why, true);
    else {
      const into = reserved.find((r) => where.path === r || where.path.startsWith(`${r}/`));
      if (into) problem(`lands in ${into}/, which belongs to sealift`, false);
    }
  }
  return problems;
}
