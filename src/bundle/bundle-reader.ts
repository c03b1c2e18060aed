/**
 * Reads a bundle as a sequence of entries, from the .tar.gz itself (streamed, never unpacked to
 * disk) or from the folder it was extracted to. Every entry name is checked here, once, for both.
 */
import { constants as fsConstants, createReadStream, promises as fs } from "node:fs";
import { webcrypto } from "node:crypto";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { createGunzip, gunzip } from "node:zlib";
import tar from "tar-stream";
import { readBounded } from "../util/read-bounded.js";
import { SealiftError, cancelled } from "../errors.js";
import { createHashTap, type HashTap } from "../util/hash-tap.js";
import { readExactly } from "../util/read-exactly.js";
import { MANIFEST_PATH, SUMS_PATH, entryRank } from "./layout.js";
import { checkBundleLink, checkRelativePath, unsafeEntry as unsafe } from "./entry-path.js";
import { memberDigests, memberSpans, type ArchiveIndex, type MemberSpan } from "./manifest.js";
import {
  LOCATOR_BYTES,
  isCanonicalMetadata,
  parseLocator,
  readTailMember,
  type BundleMetadata,
} from "./tail.js";
import { SIGNATURE_PATH } from "./signature.js";
import {
  INDEX_SUFFIX,
  findDamagedPart,
  indexFileFor,
  joinParts,
  readPartsIndex,
  readPartsRange,
} from "./parts.js";
import { walkTree } from "../util/walk-tree.js";

const PART_NAME = /\.tar\.gz\.part\d{3,}$/;

const READ_CHUNK = 1024 * 1024;
/** Indexed reads: members are read in runs of about this many compressed bytes. */
const READ_RUN = 4 * READ_CHUNK;

const gunzipAsync = promisify(gunzip);

export interface BundleEntry {
  /** Path relative to the bundle's top folder, with "/" separators, no trailing slash. */
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
  linkTarget?: string;
  /** The content (files only). Consume it or leave it: the reader drains what is left. */
  stream: Readable;
}

export interface BundleSource {
  kind: "archive" | "parts" | "directory";
  /** The .tar.gz file, the parts' index, or the bundle folder. */
  location: string;
  /** Bytes a full read goes through (compressed size for an archive). */
  totalBytes(): Promise<number>;
  /** Reads the bundle from its start (see EntriesOptions). */
  entries(options?: EntriesOptions): AsyncGenerator<BundleEntry>;
  /** After a full read of an archive: the sha256 of the .tar.gz file (or of the joined parts). */
  archiveDigest(): string | undefined;
  /**
   * After a read that stopped early: hashes the rest of the archive (without inflating it) and
   * returns the sha256 of the whole, as archiveDigest() would after a full read.
   */
  completeDigest(): Promise<string | undefined>;
  /** What that sha256 must be, from NAME.tar.gz.sha256 or the parts' index; undefined when unknown. */
  expectedDigest(): string | undefined;
  /** How the expected digest was known, for the report ("its .sha256", "the parts' index"). */
  expectedFrom?: string;
  /** After a failed read: a more precise error (which part is damaged), if one can be found. */
  explainFailure?: () => Promise<SealiftError | undefined>;
  /**
   * manifest.json, SHA256SUMS and the signature without reading the bundle through: from the
   * folder, or from the archive's tail (tail.ts). Undefined for an archive without a tail locator.
   */
  readMetadata(): Promise<BundleMetadata | undefined>;
  /** A folder's files, links and sizes, without reading them (archives: undefined). */
  listing?: () => Promise<
    Array<{ path: string; type: BundleEntry["type"]; size: number; linkTarget?: string }>
  >;
}

export interface EntriesOptions {
  signal?: AbortSignal;
  /** Bytes of the location read so far. */
  onBytes?: (bytes: number) => void;
  /** Only the entries to yield (default all). */
  want?: (path: string) => boolean;
  /**
   * The archive's index (manifest.archive) from a checked manifest: an archive is then read member
   * by member, several inflated at once, and members holding only entries not wanted are not
   * inflated (nor read, when no whole-archive digest is expected).
   */
  index?: ArchiveIndex;
}

export type { BundleMetadata } from "./tail.js";

/** A read error (bad gzip data, short file) while reading the bundle, as the user should see it. */
export function damaged(location: string, cause: unknown): SealiftError {
  if (cause instanceof SealiftError) return cause;
  const message = (cause as Error)?.message ?? String(cause);
  return new SealiftError("BUNDLE_UNREADABLE", `${location} is damaged or truncated: ${message}`, {
    hint: "the file was damaged in transfer or is incomplete; copy it again and re-run",
    cause,
  });
}

export function archiveSource(file: string): BundleSource {
  return tarGzSource({
    kind: "archive",
    location: file,
    totalBytes: async () => (await fs.stat(file)).size,
    open: (signal) => createReadStream(file, { highWaterMark: READ_CHUNK, signal }),
    readRange: (offset, length) => readExactly(file, offset, length),
    expectedDigest: () => readSidecar(file),
    expectedFrom: "its .sha256",
  });
}

/** A split bundle, read through its index: the parts, joined, are the archive. */
export function partsSource(location: string): BundleSource {
  const indexFile = indexFileFor(location);
  const { index, dir } = readPartsIndex(indexFile);
  return tarGzSource({
    kind: "parts",
    location: indexFile,
    totalBytes: async () => index.bytes,
    open: (signal) => joinParts(dir, index, signal),
    readRange: (offset, length) => readPartsRange(dir, index, offset, length),
    expectedDigest: () => index.sha256,
    expectedFrom: `the parts' index (${index.parts.length} parts checked)`,
    explainFailure: () => findDamagedPart(dir, index),
  });
}

/** NAME.tar.gz.sha256 beside the archive: the digest it holds, or undefined when there is none. */
export function readSidecar(archive: string): string | undefined {
  const sidecar = `${archive}.sha256`;
  // A line of 64 hex digits and a name: anything else (a folder, a pipe, a huge file) is not a .sha256.
  const text = readBounded(sidecar, {
    maxBytes: 4096,
    what: "the checksum file",
    code: "BUNDLE_CHECKSUM_MISMATCH",
    hint: "copy the .sha256 file again, or remove it to skip the archive-level check",
    missingOk: true,
  });
  if (text === null) return undefined;
  const digest = text.toString("utf8").trim().split(/\s+/)[0] ?? "";
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw new SealiftError("BUNDLE_CHECKSUM_MISMATCH", `${sidecar} does not hold a sha256 digest`, {
      hint: "copy the .sha256 file again, or remove it to skip the archive-level check",
    });
  }
  return digest;
}

interface TarGzOrigin {
  kind: "archive" | "parts";
  location: string;
  totalBytes(): Promise<number>;
  open(signal?: AbortSignal): Readable;
  readRange(offset: number, length: number): Promise<Buffer>;
  expectedDigest(): string | undefined;
  expectedFrom: string;
  /** After a failed read: a more precise error (which part is damaged), if one can be found. */
  explainFailure?: () => Promise<SealiftError | undefined>;
}

function tarGzSource(origin: TarGzOrigin): BundleSource {
  let digest: string | undefined;
  let lastTap: HashTap | undefined;
  const file = origin.location;
  return {
    kind: origin.kind,
    location: file,
    totalBytes: origin.totalBytes,
    archiveDigest: () => digest,
    async completeDigest() {
      if (digest || !lastTap) return digest;
      const total = await origin.totalBytes();
      for (let at = lastTap.bytes; at < total; at += READ_CHUNK)
        lastTap.absorb(await origin.readRange(at, Math.min(READ_CHUNK, total - at)));
      return (digest = lastTap.digest());
    },
    expectedDigest: origin.expectedDigest,
    expectedFrom: origin.expectedFrom,
    ...(origin.explainFailure ? { explainFailure: origin.explainFailure } : {}),
    async readMetadata() {
      const total = await origin.totalBytes();
      if (total < LOCATOR_BYTES) return undefined;
      const place = parseLocator(await origin.readRange(total - LOCATOR_BYTES, LOCATOR_BYTES), total);
      if (place === "damaged")
        throw new SealiftError(
          "BUNDLE_CHECKSUM_MISMATCH",
          `${origin.location} is damaged at its end: the locator (its last ${LOCATOR_BYTES} bytes) does not read`,
          { hint: "the file was damaged in transfer or on its medium; copy the bundle again and re-run" },
        );
      if (!place) return undefined;
      // A tail that does not read is left to the full read, which names what is wrong.
      const member = await origin.readRange(place.offset, place.length);
      const tail = await readTailMember(member).catch(() => null);
      const manifest = tail?.files.get(MANIFEST_PATH);
      const sums = tail?.files.get(SUMS_PATH);
      if (!tail || !manifest || !sums) return undefined;
      // Nothing covers the member's own bytes but this: they must be the ones its files make.
      let createdAt: unknown;
      try {
        createdAt = (JSON.parse(manifest.toString("utf8")) as { createdAt?: unknown }).createdAt;
      } catch {
        return undefined; // not JSON: the full read refuses the manifest itself
      }
      if (!(await isCanonicalMetadata(member, tail, new Date(String(createdAt)))))
        throw new SealiftError(
          "BUNDLE_CHECKSUM_MISMATCH",
          `${origin.location}: the metadata member (manifest.json, SHA256SUMS) is not byte for byte as sealift writes it`,
          { hint: "the archive was changed after packing or damaged in transfer; copy it again and re-run" },
        );
      const signature = tail?.files.get(SIGNATURE_PATH);
      return { manifest, sums, ...(signature ? { signature } : {}) };
    },
    async *entries({ signal, onBytes, want, index } = {}) {
      const tap: HashTap = createHashTap(onBytes);
      lastTap = tap;
      const extract = tar.extract();
      const flowing = index
        ? pipeline(
            Readable.from(
              indexedTar(origin, index, {
                want: want ?? (() => true),
                tap: origin.expectedDigest() ? tap : undefined,
                onBytes,
                signal,
              }),
            ),
            extract,
            { signal },
          )
        : // Large reads and inflate chunks: far fewer trips through JavaScript per megabyte.
          pipeline(origin.open(signal), tap, createGunzip({ chunkSize: READ_CHUNK }), extract, { signal });
      let failure: unknown;
      flowing.catch((error: unknown) => (failure = error));
      let top: string | undefined;
      const seen = new Set<string>();
      let complete = false;
      try {
        for await (const entry of extract) {
          const header = entry.header;
          const name = header.name;
          if (name.startsWith("/")) throw unsafe(name, "is an absolute path");
          const slash = name.indexOf("/");
          const head = slash < 0 ? name : name.slice(0, slash);
          top ??= head;
          if (head !== top) throw unsafe(name, `is outside the bundle's top folder ${top}/`);
          const rest = name.slice(top.length + 1);
          if (!rest || rest === "/") {
            if (header.type !== "directory") throw unsafe(name, "is not a folder");
            entry.resume();
            continue;
          }
          const relative = checkRelativePath(rest, name);
          if (seen.has(relative)) throw unsafe(name, "appears twice in the archive");
          seen.add(relative);
          let type: BundleEntry["type"];
          if (header.type === "file" || header.type === "contiguous-file") type = "file";
          else if (header.type === "directory") type = "directory";
          else if (header.type === "symlink") {
            type = "symlink";
            checkBundleLink(relative, header.linkname ?? "");
          } else throw unsafe(name, `is a ${header.type}, which a bundle never holds`);
          if (want && !want(relative)) {
            entry.resume();
            continue;
          }
          yield {
            path: relative,
            type,
            size: header.size ?? 0,
            ...(type === "symlink" ? { linkTarget: header.linkname ?? "" } : {}),
            stream: entry as unknown as Readable,
          };
          entry.resume();
        }
        await flowing;
        complete = true;
        // An indexed read stops after the last member it needs: completeDigest() hashes the rest.
        if (!index) digest = tap.digest();
      } catch (error) {
        if (signal?.aborted) throw cancelled("reading the bundle was cancelled");
        const known = [error, failure].find((e): e is SealiftError => e instanceof SealiftError);
        // Damage found by a member's digest: in a split bundle, the part that holds it says more.
        if (known && known.code !== "BUNDLE_CHECKSUM_MISMATCH") throw known;
        throw (
          (await origin.explainFailure?.().catch(() => undefined)) ?? known ?? damaged(file, failure ?? error)
        );
      } finally {
        if (!complete) extract.destroy();
      }
    },
  };
}

/**
 * The tar stream of the entries `want` keeps, from an archive read member by member through its
 * index: the members holding them are inflated on the thread pool, several at once, and cut to
 * those entries (each starts at its first header block, so the cut is a tar stream of its own).
 * With `tap`, every member before the last one used is read and hashed, inflated or not. With the
 * index's member digests, every member to the end is read: each one inflated has its stored bytes
 * checked before it is, and so does each one not used unless `tap` hashes them all already (the
 * archive's digest against its .sha256, one hash per byte either way): a damaged byte anywhere is
 * found before the tar stream ends, or at the latest by the caller's check of that digest.
 */
async function* indexedTar(
  origin: TarGzOrigin,
  index: ArchiveIndex,
  options: {
    want: (path: string) => boolean;
    tap: HashTap | undefined;
    onBytes: ((bytes: number) => void) | undefined;
    signal: AbortSignal | undefined;
  },
): AsyncGenerator<Buffer> {
  const bodyBytes = index.members.reduce((sum, [, u]) => sum + u, 0);
  const starts = Object.entries(index.entries).sort((a, b) => a[1] - b[1]);
  // Uncompressed ranges to keep, merged where they touch.
  const ranges: Array<[number, number]> = [];
  starts.forEach(([path, start], i) => {
    if (!options.want(path)) return;
    const end = starts[i + 1]?.[1] ?? bodyBytes;
    const last = ranges.at(-1);
    if (last && last[1] === start) last[1] = end;
    else ranges.push([start, end]);
  });
  const digests = memberDigests(index);
  if (!ranges.length && !digests) return;
  const lastNeeded = digests ? Infinity : ranges.at(-1)![1];
  const readAll = !!options.tap || !!digests;

  const concurrency = availableParallelism() + 1;
  const inflating: Array<{ job: Promise<Buffer>; at: number; bytes: number }> = [];
  const slices = function* (data: Buffer, at: number): Generator<Buffer> {
    for (const [start, end] of ranges) {
      const from = Math.max(start, at);
      const to = Math.min(end, at + data.length);
      if (from < to) yield data.subarray(from - at, to - at);
    }
  };
  const settle = async function* (): AsyncGenerator<Buffer> {
    const { job, at, bytes } = inflating.shift()!;
    const data = await job;
    if (data.length !== bytes)
      throw new Error(`a gzip member at ${at} inflates to ${data.length} bytes, the index says ${bytes}`);
    yield* slices(data, at);
  };

  // The runs to read: all members when hashing, else only needed ones; each run contiguous.
  const runs: Array<{ members: Array<MemberSpan & { needed: boolean }>; first: number; bytes: number }> = [];
  const spans = memberSpans(index);
  for (let member = 0; member < spans.length && spans[member]!.at < lastNeeded;) {
    const run: Array<MemberSpan & { needed: boolean }> = [];
    let runBytes = 0;
    while (member < spans.length && runBytes < READ_RUN && spans[member]!.at < lastNeeded) {
      const m = spans[member]!;
      const needed = ranges.some(([start, end]) => start < m.at + m.u && end > m.at);
      if (!needed && !readAll && run.length) break;
      if (needed || readAll) {
        run.push({ ...m, needed });
        runBytes += m.c;
      }
      member++;
    }
    if (run.length) runs.push({ members: run, first: run[0]!.offset, bytes: runBytes });
  }

  // One run read ahead: the disk works while the one before is checked, inflated and handed on.
  const read = (i: number) => {
    const job = runs[i] ? origin.readRange(runs[i].first, runs[i].bytes) : null;
    job?.catch(() => undefined); // awaited in turn
    return job;
  };
  let next = read(0);
  for (const [i, { members, first, bytes }] of runs.entries()) {
    if (options.signal?.aborted) throw cancelled("reading the bundle was cancelled");
    const data = (await next)!;
    next = read(i + 1);
    options.tap?.absorb(data);
    options.onBytes?.(first + bytes);
    const stored = (m: MemberSpan) => data.subarray(m.offset - first, m.offset - first + m.c);
    // The members' digests, on the thread pool side by side (WebCrypto), before any is inflated.
    const checked = members.filter((m) => digests && (m.needed || !options.tap));
    const got = await Promise.all(checked.map((m) => sha256Hex(stored(m))));
    checked.forEach((m, k) => checkMember(index, digests!, m, got[k]!));
    for (const m of members) {
      if (!m.needed) continue;
      // One trip to the thread pool per member (the default 16 KiB chunks make dozens).
      const job = gunzipAsync(stored(m), { chunkSize: m.u + 1024 });
      job.catch(() => undefined); // awaited in order in settle()
      inflating.push({ job, at: m.at, bytes: m.u });
      while (inflating.length >= concurrency) yield* settle();
    }
  }
  while (inflating.length) yield* settle();
  yield Buffer.alloc(1024); // the end of the tar stream
}

/** sha256 of a buffer on the thread pool (WebCrypto's digest runs off the main thread). */
async function sha256Hex(data: Buffer): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", data)).toString("hex");
}

/** A member's stored bytes' digest (`got`) against the one the manifest records; names what it holds. */
function checkMember(index: ArchiveIndex, digests: readonly string[], m: MemberSpan, got: string): void {
  if (got === digests[m.n]) return;
  const starts = Object.entries(index.entries).sort((a, b) => a[1] - b[1]);
  const holds = starts
    .filter(([, start], i) => start < m.at + m.u && (starts[i + 1]?.[1] ?? Infinity) > m.at)
    .map(([name]) => name);
  throw new SealiftError(
    "BUNDLE_CHECKSUM_MISMATCH",
    `the archive is damaged in gzip member ${m.n + 1} of ${digests.length} (bytes ${m.offset}-${m.offset + m.c}, holding ${holds.slice(0, 3).join(", ")}${holds.length > 3 ? ", ..." : ""}): its sha256 is ${got}, the manifest records ${digests[m.n]}`,
    {
      hint: "the file was damaged in transfer or on its medium; copy the bundle again (sealift verify names the damaged part) and re-run",
    },
  );
}

export function directorySource(dir: string): BundleSource {
  const list = async () => {
    const found: Array<{ path: string; type: BundleEntry["type"]; size: number; linkTarget?: string }> = [];
    for await (const { rel, dirent } of walkTree(dir)) {
      if (dirent.isDirectory()) continue;
      if (dirent.isFile())
        found.push({ path: rel, type: "file", size: (await fs.stat(path.join(dir, rel))).size });
      else if (dirent.isSymbolicLink()) {
        const target = await fs.readlink(path.join(dir, rel));
        checkBundleLink(rel, target);
        found.push({ path: rel, type: "symlink", size: 0, linkTarget: target });
      } else throw unsafe(rel, "is neither a file, a folder nor a link");
    }
    return found.sort((a, b) => entryRank(a.path) - entryRank(b.path) || (a.path < b.path ? -1 : 1));
  };
  return {
    kind: "directory",
    location: dir,
    async totalBytes() {
      return (await list()).reduce((sum, f) => sum + f.size, 0);
    },
    archiveDigest: () => undefined,
    completeDigest: async () => undefined,
    expectedDigest: () => undefined,
    listing: list,
    async readMetadata() {
      const read = (name: string) => fs.readFile(path.join(dir, name)).catch(() => undefined);
      const [manifest, sums, signature] = await Promise.all([
        read(MANIFEST_PATH),
        read(SUMS_PATH),
        read(SIGNATURE_PATH),
      ]);
      if (!manifest || !sums) return undefined;
      return { manifest, sums, ...(signature ? { signature } : {}) };
    },
    async *entries({ signal, onBytes, want } = {}) {
      let bytes = 0;
      for (const item of await list()) {
        if (signal?.aborted) throw cancelled("reading the bundle was cancelled");
        if (want && !want(item.path)) continue;
        if (item.type !== "file") {
          yield { ...item, stream: Readable.from([]) };
          continue;
        }
        const raw = createReadStream(path.join(dir, item.path), { highWaterMark: READ_CHUNK });
        raw.on("data", (chunk) => onBytes?.((bytes += chunk.length)));
        const ended = new Promise<void>((resolve, reject) => {
          raw.on("close", resolve);
          raw.on("error", reject);
        });
        // The consumer reads `stream`; counting on `raw` must not start the flow without it.
        const stream = raw.pipe(new PassThrough());
        raw.on("error", (error) => stream.destroy(error));
        yield { ...item, stream };
        // Not read by the consumer (a layer the host has): close it without reading the file.
        if (!stream.readableDidRead) raw.destroy();
        else if (!stream.destroyed && !stream.readableEnded) stream.resume();
        await ended;
      }
    },
  };
}

/** Decides what the operator pointed at: a bundle folder, or a .tar.gz archive. */
export async function openBundle(location: string): Promise<BundleSource> {
  let stat;
  try {
    stat = await fs.stat(location);
  } catch (error) {
    throw new SealiftError("BUNDLE_NOT_FOUND", `no bundle at ${location}`, {
      hint: "give the path of NAME-complete-YYYYMMDD.tar.gz, or run ./install from the extracted folder",
      cause: error,
    });
  }
  if (stat.isDirectory()) return directorySource(location);
  if (location.endsWith(INDEX_SUFFIX) || PART_NAME.test(location)) return partsSource(location);
  try {
    await fs.access(location, fsConstants.R_OK);
  } catch (error) {
    throw new SealiftError("BUNDLE_UNREADABLE", `${location} cannot be read`, {
      hint: "check the file's permissions (run as a user who can read it)",
      cause: error,
    });
  }
  return archiveSource(location);
}
