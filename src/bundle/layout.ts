/**
 * Bundle format v1: where each part lives inside the archive's one top folder, and in which order
 * the parts are written. Small files come first, so that an installer reading the archive as a
 * stream has the compose files and source before the image payload, and can stop reading after it.
 *
 *   NAME-complete-YYYYMMDD/
 *     README.txt                      for the operator
 *     compose/<the project's compose files>, compose/compose.sealift.yaml (pins the shipped images)
 *     compose/env.template            the project's .env, as the defaults for the questions
 *     source/source.tar               the project's source (git archive of HEAD)
 *     data/files/<path>               data not in git (model weights...), placed at <path> in the
 *                                     install folder (optional)
 *     data/volumes/<key>.tar          a named volume's content, filled in where the volume is empty
 *     images/...                      `docker save` output, unpacked entry by entry (docker-archive)
 *     cache/mounts/<id>.tar           the contents of each RUN --mount=type=cache id (optional)
 *     install                         the installer for the images' platform
 *     SHA256SUMS                      `sha256sum -c` compatible, every file above
 *     manifest.json                   what the bundle holds; carries the digest of SHA256SUMS
 *     manifest.json.sig               ed25519 signature of manifest.json (optional)
 *
 * Readers must accept unknown top-level manifest keys and unknown folders listed in the manifest,
 * so that later parts (build cache, delta base, signature) can be added without a new major format.
 */

export const BUNDLE_FORMAT = "sealift-bundle";
export const FORMAT_VERSION = 1;
/**
 * Delta bundles (manifest.base set) are v2: an installer that knows only v1 refuses them by their
 * version instead of loading images whose lower layers it would not check for.
 */
export const DELTA_FORMAT_VERSION = 2;

export const MANIFEST_PATH = "manifest.json";
export const SUMS_PATH = "SHA256SUMS";
export const README_PATH = "README.txt";
export const INSTALLER_PATH = "install";
export const SOURCE_PATH = "source/source.tar";
export const COMPOSE_DIR = "compose/";
export const OVERRIDE_PATH = "compose/compose.sealift.yaml";
export const ENV_TEMPLATE_PATH = "compose/env.template";
export const IMAGES_DIR = "images/";
export const CACHE_MOUNTS_DIR = "cache/mounts/";
export const DATA_FILES_DIR = "data/files/";
export const DATA_VOLUMES_DIR = "data/volumes/";
/** The compose override with build.cache_from, written on the target when the cache is imported. */
export const CACHE_OVERRIDE_FILE = "compose.cache.yaml";

/**
 * The installer's own folder in the install folder (record, journal, rollback point, kept
 * installer): nothing a bundle carries may land in it, or a link lead into it.
 */
export const STATE_DIR = ".sealift";

/** True when a path of the install folder is the installer's state folder or inside it. */
export function inStateDir(rel: string): boolean {
  return rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`);
}

/** The override's file name once installed next to the project's compose files. */
export const OVERRIDE_FILE = "compose.sealift.yaml";

/** Largest manifest or SHA256SUMS a reader accepts (they are kept in memory). */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/** NAME-complete-YYYYMMDD, the archive's top folder and (with .tar.gz) its file name. */
export function bundleBaseName(project: string, date: Date, template = "{name}-complete-{date}"): string {
  const yyyymmdd = date.toISOString().slice(0, 10).replace(/-/g, "");
  return template.replace(/\{name\}/g, project).replace(/\{date\}/g, yyyymmdd);
}

/** Sort key for the order parts are written in (see above). */
export function entryRank(path: string): number {
  if (path === README_PATH) return 0;
  if (path.startsWith(COMPOSE_DIR)) return 1;
  if (path.startsWith("source/")) return 2;
  if (path.startsWith("data/")) return 3;
  if (path.startsWith(IMAGES_DIR)) return 4;
  if (path.startsWith("cache/")) return 5;
  if (path === INSTALLER_PATH) return 6;
  if (path === SUMS_PATH) return 8;
  if (path === MANIFEST_PATH) return 9;
  if (path === "manifest.json.sig") return 10;
  return 3;
}
