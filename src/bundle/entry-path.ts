/**
 * The one rule for a path inside a bundle, or inside a tarball a bundle carries: relative,
 * normalised, "/"-separated, no NUL, backslash or invalid UTF-8; links stay under their root.
 * The reader, the source extraction, the packer's read of `docker save` and the manifest's schema
 * all hold names to it.
 */
import path from "node:path";
import { SealiftError } from "../errors.js";
import { IMAGES_DIR } from "./layout.js";

/** The error for an entry that breaks the rule; `what` says whose entry ("bundle", "source"). */
export function unsafeEntry(
  name: string,
  why: string,
  what: "bundle" | "source" | "volume" = "bundle",
): SealiftError {
  return new SealiftError("BUNDLE_UNSAFE_ENTRY", `${what} entry ${JSON.stringify(name)} ${why}`, {
    hint:
      what === "bundle"
        ? "this is not a bundle sealift wrote, or it was tampered with; do not install it, get a fresh copy"
        : `the ${what === "source" ? "source tarball" : "volume's archive"} is not what sealift packs; do not install this bundle, get a fresh copy`,
  });
}

/** Why `name` is not a safe relative entry path, or null when it is (trailing slashes allowed). */
export function entryPathProblem(name: string): string | null {
  const trimmed = name.replace(/\/+$/, "");
  if (!trimmed) return "has an empty name";
  if (trimmed.startsWith("/")) return "is an absolute path";
  if (/[\0\\]|\uFFFD/.test(trimmed))
    return "has a character that is not allowed (NUL, backslash or invalid UTF-8)";
  for (const segment of trimmed.split("/"))
    if (segment === "" || segment === "." || segment === "..")
      return "leaves its folder or is not normalised";
  return null;
}

/** `name` without trailing slashes, or BUNDLE_UNSAFE_ENTRY naming `original` (the name as stored). */
export function checkRelativePath(name: string, original = name): string {
  const problem = entryPathProblem(name);
  if (problem) throw unsafeEntry(original, problem);
  return name.replace(/\/+$/, "");
}

/** True when a link at `rel` pointing to `target` resolves inside the root, and under `under` if given. */
export function linkStaysInside(rel: string, target: string, under = ""): boolean {
  if (!target || path.posix.isAbsolute(target)) return false;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  return resolved !== ".." && !resolved.startsWith("../") && resolved.startsWith(under);
}

/** Symlinks are allowed only inside images/ (docker save writes some) and must stay there. */
export function checkBundleLink(entryPath: string, target: string): void {
  if (!entryPath.startsWith(IMAGES_DIR)) throw unsafeEntry(entryPath, "is a link outside images/");
  if (!linkStaysInside(entryPath, target, IMAGES_DIR))
    throw unsafeEntry(entryPath, `links to ${target}, outside images/`);
}
