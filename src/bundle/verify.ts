/**
 * The integrity chain, checked in one read of the bundle before anything on the host changes:
 * archive digest (against NAME.tar.gz.sha256 when present) -> manifest schema -> digest of
 * SHA256SUMS in the manifest -> every file against SHA256SUMS; extra or missing files are refused.
 */
import { createHash, type KeyObject } from "node:crypto";
import type { Transform } from "node:stream";
import { SealiftError } from "../errors.js";
import { createHashTap, hashOf } from "../util/hash-tap.js";
import { damaged, type BundleMetadata, type BundleSource } from "./bundle-reader.js";
import {
  COMPOSE_DIR,
  DELTA_FORMAT_VERSION,
  MANIFEST_PATH,
  MAX_METADATA_BYTES,
  SUMS_PATH,
  entryRank,
} from "./layout.js";
import { memberDigests, parseManifest, type Manifest } from "./manifest.js";
import { LOCATOR_BYTES } from "./tail.js";
import { parseSha256Sums } from "./sha256sums.js";
import { SIGNATURE_PATH, checkSignature, type SignatureCheck, type VerifyMode } from "./signature.js";

export interface VerifiedBundle {
  source: BundleSource;
  manifest: Manifest;
  /** sha256 of manifest.json as shipped: identifies the release in install records. */
  manifestDigest: string;
  /** Set when the archive was checked against its .sha256 file. */
  archiveSha256?: string;
  sidecarChecked: boolean;
  filesChecked: number;
  bytesChecked: number;
  /** The compose/ files' contents (small), kept from the same read for the installer's plan. */
  composeFiles: Map<string, Buffer>;
  signature: SignatureCheck;
  /**
   * Set when only the chain's head (signature, manifest, SHA256SUMS) and the compose files were
   * checked: every other file must be checked against `sums` as it is read (the installer does).
   */
  sums?: Map<string, string>;
}

export interface VerifyOptions {
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
  /** Signature policy; default if-signed with no trusted key (a signed bundle then needs --trust). */
  signature?: { mode: VerifyMode; trusted: KeyObject[] };
}

const COPY_AGAIN = "the file was damaged in transfer; copy it again and re-run";

function mismatch(what: string, expected: string, got: string): SealiftError {
  return new SealiftError("BUNDLE_CHECKSUM_MISMATCH", `${what}: expected sha256 ${expected}, got ${got}`, {
    hint: COPY_AGAIN,
  });
}

/** Files in the bundle that its manifest does not list (something was added after packing). */
export function filesNotListed(paths: readonly string[]): SealiftError {
  return new SealiftError(
    "BUNDLE_FILE_EXTRA",
    `the bundle holds files it does not list: ${paths.slice(0, 5).join(", ")}`,
    {
      hint: "something was added to the bundle after it was packed; remove those files or copy the bundle again",
    },
  );
}

/** A link in the bundle that its manifest does not list, or lists with another target. */
export function linkNotListed(linkPath: string): SealiftError {
  return new SealiftError("BUNDLE_FILE_EXTRA", `the bundle holds a link it does not list: ${linkPath}`, {
    hint: COPY_AGAIN,
  });
}

/** Files SHA256SUMS lists that the bundle does not hold (an interrupted copy or extraction). */
export function listedButMissing(paths: readonly string[]): SealiftError {
  const more = paths.length > 1 ? ` (and ${paths.length - 1} more)` : "";
  return new SealiftError(
    "BUNDLE_FILE_MISSING",
    `${paths[0]} is listed in ${SUMS_PATH} but missing from the bundle${more}`,
    {
      hint: "the bundle is incomplete (an interrupted copy or extraction?); copy it again and re-run",
    },
  );
}

async function readAll(stream: NodeJS.ReadableStream, limit: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      throw new SealiftError("BUNDLE_MANIFEST_INVALID", `${name} is larger than ${limit} bytes`, {
        hint: COPY_AGAIN,
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export interface CheckedMetadata {
  manifest: Manifest;
  /** SHA256SUMS: path -> sha256. */
  sums: Map<string, string>;
  signature: SignatureCheck;
  manifestDigest: string;
}

/**
 * The head of the chain, before any file is read: the signature over manifest.json, its schema,
 * the digest of SHA256SUMS it holds, and that both list the same files with the same sha256.
 */
export function checkMetadata(
  metadata: BundleMetadata,
  signaturePolicy: VerifyOptions["signature"],
): CheckedMetadata {
  const manifestBytes = metadata.manifest;
  const sumsBytes = metadata.sums;
  // The signature covers the manifest's bytes: check it before believing anything the manifest says.
  const signature = checkSignature(
    manifestBytes,
    metadata.signature,
    signaturePolicy ?? { mode: "if-signed", trusted: [] },
  );
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString("utf8"));
  } catch (error) {
    throw new SealiftError("BUNDLE_MANIFEST_INVALID", `${MANIFEST_PATH} is not valid JSON`, {
      hint: COPY_AGAIN,
      cause: error,
    });
  }
  const parsed = parseManifest(json);
  if (!parsed.ok) {
    const version = (json as { formatVersion?: unknown })?.formatVersion;
    throw new SealiftError("BUNDLE_MANIFEST_INVALID", `${MANIFEST_PATH} does not match the bundle format`, {
      hint:
        typeof version === "number" && version > DELTA_FORMAT_VERSION
          ? `this bundle has format v${version}; use the installer that came with it (./install inside the bundle)`
          : COPY_AGAIN,
      details: parsed.problems,
    });
  }
  const manifest = parsed.manifest;
  const sumsDigest = createHash("sha256").update(sumsBytes).digest("hex");
  if (sumsDigest !== manifest.sha256sums) throw mismatch(SUMS_PATH, manifest.sha256sums, sumsDigest);
  const sums = parseSha256Sums(sumsBytes.toString("utf8"));
  if ("error" in sums) {
    throw new SealiftError("BUNDLE_MANIFEST_INVALID", `${SUMS_PATH}: ${sums.error}`, { hint: COPY_AGAIN });
  }
  if (sums.size !== manifest.files.length) {
    throw new SealiftError(
      "BUNDLE_MANIFEST_INVALID",
      `${SUMS_PATH} and ${MANIFEST_PATH} list different files`,
      {
        hint: COPY_AGAIN,
      },
    );
  }

  for (const file of manifest.files) {
    if (sums.get(file.path) !== file.sha256) {
      throw new SealiftError(
        "BUNDLE_MANIFEST_INVALID",
        `${SUMS_PATH} and ${MANIFEST_PATH} disagree on ${file.path}`,
        {
          hint: COPY_AGAIN,
        },
      );
    }
  }
  return {
    manifest,
    sums,
    signature,
    manifestDigest: createHash("sha256").update(manifestBytes).digest("hex"),
  };
}

export async function verifyBundle(
  source: BundleSource,
  options: VerifyOptions = {},
): Promise<VerifiedBundle> {
  const expectedArchive = source.expectedDigest();
  const seen = new Map<string, { sha256: string; size: number }>();
  const links = new Map<string, string>();
  let manifestBytes: Buffer | undefined;
  let sumsBytes: Buffer | undefined;
  let signatureBytes: Buffer | undefined;
  let bytesChecked = 0;
  const composeFiles = new Map<string, Buffer>();
  // With the tail read first, every entry's header is held against the sizes the manifest declares
  // before its data is inflated: a lying header or a gzip bomb stops at its first block.
  const metadata = await source.readMetadata();
  const head = metadata ? checkMetadata(metadata, options.signature).manifest : undefined;
  const declared = head ? new Map(head.files.map((f) => [f.path, f.size])) : undefined;
  // Through the archive's index when it records each gzip member's digest: every member's stored
  // bytes are held against it (its header too: a flipped MTIME or OS byte inflates the same, and is
  // still damage), as the install does; an archive read whole from the start is checked by gunzip's
  // CRCs and SHA256SUMS only.
  const index =
    head?.archive && source.kind !== "directory" && memberDigests(head.archive) ? head.archive : undefined;

  try {
    for await (const entry of source.entries({ ...options, ...(index ? { index } : {}) })) {
      if (entry.type === "directory") continue;
      if (entry.type === "symlink") {
        links.set(entry.path, entry.linkTarget ?? "");
        continue;
      }
      if (declared && !METADATA_FILES.has(entry.path)) checkDeclaredSize(entry, declared.get(entry.path));
      if (entry.path === MANIFEST_PATH)
        manifestBytes = await readAll(entry.stream, MAX_METADATA_BYTES, entry.path);
      else if (entry.path === SUMS_PATH)
        sumsBytes = await readAll(entry.stream, MAX_METADATA_BYTES, entry.path);
      else if (entry.path === SIGNATURE_PATH)
        signatureBytes = await readAll(entry.stream, 64 * 1024, entry.path);
      else if (entry.path.startsWith(COMPOSE_DIR) && entry.size <= MAX_METADATA_BYTES) {
        const content = await readAll(entry.stream, MAX_METADATA_BYTES, entry.path);
        composeFiles.set(entry.path, content);
        seen.set(entry.path, {
          sha256: createHash("sha256").update(content).digest("hex"),
          size: content.length,
        });
        bytesChecked += content.length;
      } else {
        const result = await hashOf(entry.stream);
        if (result.size !== entry.size) {
          throw new SealiftError(
            "BUNDLE_UNREADABLE",
            `${entry.path}: its header says ${entry.size} bytes, it holds ${result.size}`,
            {
              hint: COPY_AGAIN,
            },
          );
        }
        seen.set(entry.path, result);
        bytesChecked += result.size;
      }
    }
  } catch (error) {
    // An entry's data failed while being read (bad gzip data, a short file): the bundle is damaged.
    if (options.signal?.aborted) throw error;
    throw (await source.explainFailure?.().catch(() => undefined)) ?? damaged(source.location, error);
  }

  // Read through the index, the tail's files come from the tail read first (the chain checks them).
  if (index && metadata) {
    manifestBytes ??= metadata.manifest;
    sumsBytes ??= metadata.sums;
    signatureBytes ??= metadata.signature;
  }
  const archiveSha256 = index ? await source.completeDigest() : source.archiveDigest();
  if (expectedArchive && archiveSha256 && expectedArchive !== archiveSha256) {
    throw mismatch(source.location, expectedArchive, archiveSha256);
  }
  if (!manifestBytes) {
    throw new SealiftError("BUNDLE_FILE_MISSING", `${MANIFEST_PATH} is missing from ${source.location}`, {
      hint: "this is not a complete sealift bundle; copy it again",
    });
  }
  if (!sumsBytes) {
    throw new SealiftError("BUNDLE_FILE_MISSING", `${SUMS_PATH} is missing from ${source.location}`, {
      hint: "this is not a complete sealift bundle; copy it again",
    });
  }
  const { manifest, signature, manifestDigest } = checkMetadata(
    { manifest: manifestBytes, sums: sumsBytes, signature: signatureBytes },
    options.signature,
  );
  // sealift writes a locator as the archive's last bytes whenever it writes an index: an archive
  // with an index and no locator at its end has something after its end (or a damaged end).
  if (source.kind !== "directory" && manifest.archive && !metadata)
    throw new SealiftError(
      "BUNDLE_CHECKSUM_MISMATCH",
      `${source.location} does not end where the bundle ends: bytes were added after it, or its last ${LOCATOR_BYTES} bytes are damaged`,
      { hint: COPY_AGAIN },
    );

  for (const file of manifest.files) {
    const actual = seen.get(file.path);
    if (!actual) throw listedButMissing([file.path]);
    if (actual.sha256 !== file.sha256 || actual.size !== file.size)
      throw mismatch(file.path, file.sha256, actual.sha256);
    seen.delete(file.path);
  }
  const extra = [...seen.keys()];
  if (extra.length) throw filesNotListed(extra);
  const expectedLinks = new Map(manifest.links.map((l) => [l.path, l.target]));
  for (const [linkPath, target] of links) {
    if (expectedLinks.get(linkPath) !== target) throw linkNotListed(linkPath);
    expectedLinks.delete(linkPath);
  }
  if (expectedLinks.size) {
    throw new SealiftError(
      "BUNDLE_FILE_MISSING",
      `links missing from the bundle: ${[...expectedLinks.keys()].join(", ")}`,
      {
        hint: COPY_AGAIN,
      },
    );
  }
  return {
    source,
    manifest,
    manifestDigest,
    ...(archiveSha256 ? { archiveSha256 } : {}),
    sidecarChecked: !!expectedArchive,
    filesChecked: manifest.files.length,
    bytesChecked,
    composeFiles,
    signature,
  };
}

const METADATA_FILES = new Set([MANIFEST_PATH, SUMS_PATH, SIGNATURE_PATH]);

/** An entry's header size against what the manifest declares for it (undefined: not listed). */
export function checkDeclaredSize(entry: { path: string; size: number }, declared: number | undefined): void {
  if (declared === undefined) throw filesNotListed([entry.path]);
  if (entry.size !== declared)
    throw new SealiftError(
      "BUNDLE_UNREADABLE",
      `${entry.path}: its header says ${entry.size} bytes, the manifest declares ${declared}`,
      { hint: "the bundle was altered after it was packed; do not install it, get a fresh copy" },
    );
}

/** A folder's files against the manifest by name, kind and size: extra, missing or cut files. */
function checkListing(
  listing: Array<{ path: string; type: string; size: number; linkTarget?: string }>,
  manifest: Manifest,
): void {
  const files = new Map(manifest.files.map((f) => [f.path, f]));
  const links = new Map(manifest.links.map((l) => [l.path, l.target]));
  const metadata = new Set([MANIFEST_PATH, SUMS_PATH, SIGNATURE_PATH]);
  const extra = listing.filter((item) =>
    item.type === "symlink"
      ? links.get(item.path) !== item.linkTarget
      : !files.has(item.path) && !metadata.has(item.path),
  );
  if (extra.length) throw filesNotListed(extra.map((e) => e.path));
  const present = new Map(listing.map((item) => [item.path, item]));
  for (const file of manifest.files) {
    const found = present.get(file.path);
    if (!found) throw listedButMissing([file.path]);
    if (found.size !== file.size)
      throw new SealiftError(
        "BUNDLE_CHECKSUM_MISMATCH",
        `${file.path}: ${found.size} bytes, SHA256SUMS lists ${file.size}`,
        { hint: COPY_AGAIN },
      );
  }
  for (const link of manifest.links)
    if (!present.has(link.path))
      throw new SealiftError("BUNDLE_FILE_MISSING", `links missing from the bundle: ${link.path}`, {
        hint: COPY_AGAIN,
      });
}

/** A stream that passes `entry` through and fails at its end unless it matches SHA256SUMS. */
export function checkedAsRead(entryPath: string, expected: { sha256: string; size: number }): Transform {
  return createHashTap({
    check: (got, size) =>
      got === expected.sha256 && size === expected.size ? null : mismatch(entryPath, expected.sha256, got),
  });
}

/**
 * The installer's quick start: the chain's head from the bundle's tail (or folder), then the
 * compose files at its front, checked; no full read. Undefined for a bundle without a tail.
 */
export async function verifyHead(
  source: BundleSource,
  options: VerifyOptions = {},
): Promise<VerifiedBundle | undefined> {
  const metadata = await source.readMetadata();
  if (!metadata) return undefined;
  const { manifest, sums, signature, manifestDigest } = checkMetadata(metadata, options.signature);
  const expected = new Map(manifest.files.map((f) => [f.path, f]));
  if (source.listing) checkListing(await source.listing(), manifest);
  const composeFiles = new Map<string, Buffer>();
  let bytesChecked = 0;
  let filesChecked = 0;
  try {
    for await (const entry of source.entries({ signal: options.signal })) {
      if (entryRank(entry.path) > entryRank(COMPOSE_DIR)) break;
      if (entry.type !== "file") continue;
      const file = expected.get(entry.path);
      if (!file) throw filesNotListed([entry.path]);
      const content = await readAll(
        entry.stream.pipe(checkedAsRead(entry.path, file)),
        MAX_METADATA_BYTES,
        entry.path,
      );
      if (entry.path.startsWith(COMPOSE_DIR)) composeFiles.set(entry.path, content);
      bytesChecked += content.length;
      filesChecked++;
    }
  } catch (error) {
    if (options.signal?.aborted || error instanceof SealiftError) throw error;
    throw damaged(source.location, error);
  }
  for (const name of manifest.project.composeFiles)
    if (!composeFiles.has(`${COMPOSE_DIR}${name}`))
      throw new SealiftError("BUNDLE_FILE_MISSING", `${COMPOSE_DIR}${name} is missing from the bundle`, {
        hint: "the bundle is incomplete; copy it again",
      });
  return {
    source,
    manifest,
    manifestDigest,
    sidecarChecked: false,
    filesChecked,
    bytesChecked,
    composeFiles,
    signature,
    sums,
  };
}
