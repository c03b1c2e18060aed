/**
 * The installer's one read of a bundle whose chain's head (signature, manifest, SHA256SUMS) was
 * checked first: every entry read must be one the manifest lists, with the size it declares, and
 * every file used must match SHA256SUMS by the end of its read. Image files read from an archive
 * whose index holds every gzip member's digest are not hashed again: each member they come from
 * was checked against the manifest before it was inflated (the same chain, a third of the bytes),
 * and docker load checks every layer's and config's own digest besides.
 */
import type { BundleEntry } from "../bundle/bundle-reader.js";
import { CACHE_MOUNTS_DIR, COMPOSE_DIR, IMAGES_DIR, SOURCE_PATH } from "../bundle/layout.js";
import { memberDigests, type Manifest } from "../bundle/manifest.js";
import {
  checkDeclaredSize,
  checkedAsRead,
  linkNotListed,
  listedButMissing,
  type VerifiedBundle,
} from "../bundle/verify.js";
import { SealiftError } from "../errors.js";

export class ReadChecks {
  private readonly files: Map<string, Manifest["files"][number]>;
  private readonly links: Map<string, string>;
  private readonly seen = new Set<string>();
  /** Read through the archive's index, every member checked against its digest (see above). */
  private readonly membersChecked: boolean;
  checked = 0;

  constructor(private readonly verified: VerifiedBundle) {
    this.files = new Map(verified.manifest.files.map((f) => [f.path, f]));
    this.links = new Map(verified.manifest.links.map((l) => [l.path, l.target]));
    this.membersChecked = membersChecked(verified);
  }

  /** Every entry read, used or not, must be one the manifest lists. */
  listed(entry: BundleEntry): void {
    this.seen.add(entry.path);
    if (!this.verified.sums || entry.type === "directory") return;
    if (entry.type === "symlink") {
      if (this.links.get(entry.path) !== entry.linkTarget) throw linkNotListed(entry.path);
    } else checkDeclaredSize(entry, this.files.get(entry.path)?.size);
  }

  /** The entry to consume: its stream fails at its end unless it matched SHA256SUMS. */
  use(entry: BundleEntry): BundleEntry {
    const file = this.files.get(entry.path);
    if (!this.verified.sums || entry.type !== "file" || !file) return entry;
    if (!entry.path.startsWith(COMPOSE_DIR)) this.checked++; // the compose files were counted up front
    if (this.membersChecked && entry.path.startsWith(IMAGES_DIR)) return entry;
    const stream = entry.stream.pipe(checkedAsRead(entry.path, file));
    entry.stream.on("error", (error) => stream.destroy(error));
    return { ...entry, stream };
  }

  /** The archive against NAME.tar.gz.sha256 (or the parts' index), its unread rest hashed raw. */
  async wholeArchive(): Promise<void> {
    const source = this.verified.source;
    const expected = source.expectedDigest();
    if (!this.verified.sums || !expected) return;
    const actual = await source.completeDigest();
    if (actual && actual !== expected)
      throw (
        (await source.explainFailure?.()) ??
        new SealiftError(
          "BUNDLE_CHECKSUM_MISMATCH",
          `${source.location}: expected sha256 ${expected} (${source.expectedFrom}), got ${actual}`,
          {
            hint: "the file was damaged in transfer or on its medium (the installer's --verify-only names the damaged part); copy it again and re-run",
          },
        )
      );
    this.verified.sidecarChecked = true;
  }

  /** Every file the install uses was there (the reader stops before the rest). */
  requireAll(
    skippedLayers: Set<string> | null,
    mounts: boolean,
    data: ReadonlySet<string> = new Set(),
  ): void {
    if (!this.verified.sums) return;
    const m = this.verified.manifest;
    const used = m.files.filter(
      (f) =>
        f.path.startsWith(COMPOSE_DIR) ||
        f.path === SOURCE_PATH ||
        (skippedLayers !== null && f.path.startsWith(IMAGES_DIR) && !skippedLayers.has(f.path)) ||
        (mounts && f.path.startsWith(CACHE_MOUNTS_DIR)) ||
        data.has(f.path),
    );
    const missing = used.filter((f) => !this.seen.has(f.path));
    if (missing.length) throw listedButMissing(missing.map((f) => f.path));
  }
}

/** The install reads this bundle through its index, each gzip member against its digest. */
export function membersChecked(verified: VerifiedBundle): boolean {
  const index = verified.manifest.archive;
  return verified.source.kind !== "directory" && !!index && !!memberDigests(index);
}
