/**
 * The archive's tail: SHA256SUMS, manifest.json and its signature are written as the archive's
 * last tar entries, in a gzip member of their own, followed by a 42-byte empty gzip member whose
 * extra field ("SL") holds that member's offset and length. An installer reads the last 42 bytes,
 * then the metadata member, and knows the whole plan (and its signature) before reading the rest
 * once. To gzip and tar both are ordinary members and entries: `tar xzf` reads the archive as ever.
 *
 * Every byte of the metadata member follows from what it holds: it is stored, not compressed (the
 * deflate "stored" form has one encoding), its gzip header and tar headers are fixed (the time is
 * the manifest's createdAt), so a reader rebuilds it from the files and refuses any other bytes: a
 * signature over manifest.json then covers the member that carries it.
 *
 *   1f 8b 08 04 | mtime 0 | xfl 0 | os ff | xlen 20 | 'S' 'L' | len 16 | offset u64le | length u64le
 *   03 00 (an empty final deflate block) | crc32 0 | isize 0
 */
import { Readable } from "node:stream";
import { crc32, gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { MANIFEST_PATH, MAX_METADATA_BYTES, SUMS_PATH } from "./layout.js";
import { SIGNATURE_PATH } from "./signature.js";

export const LOCATOR_BYTES = 42;
const HEADER = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 20, 0, 0x53, 0x4c, 16, 0];

export function locatorMember(offset: number, length: number): Buffer {
  const member = Buffer.alloc(LOCATOR_BYTES);
  Buffer.from(HEADER).copy(member, 0);
  member.writeBigUInt64LE(BigInt(offset), 16);
  member.writeBigUInt64LE(BigInt(length), 24);
  member[32] = 0x03; // empty final block; crc32 and isize stay 0
  return member;
}

/** The locator's fixed bytes: its header, and the empty member's end (block, crc32, isize). */
const FIXED: Array<[number, number]> = [
  ...HEADER.map((byte, i): [number, number] => [i, byte]),
  ...[0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0].map((byte, i): [number, number] => [32 + i, byte]),
];

/**
 * The metadata member's place; null when `last` is not a sealift locator (an older bundle: its
 * last bytes end an ordinary member and share almost none of the locator's fixed bytes);
 * "damaged" when they are a locator with a byte changed (nothing else covers these 42 bytes).
 */
export function parseLocator(
  last: Buffer,
  archiveBytes: number,
): { offset: number; length: number } | null | "damaged" {
  if (last.length !== LOCATOR_BYTES) return null;
  const matching = FIXED.filter(([i, byte]) => last[i] === byte).length;
  if (matching < FIXED.length - 3) return null;
  if (matching < FIXED.length) return "damaged";
  const offset = Number(last.readBigUInt64LE(16));
  const length = Number(last.readBigUInt64LE(24));
  if (length <= 0 || length > MAX_METADATA_BYTES || offset + length + LOCATOR_BYTES !== archiveBytes)
    return "damaged";
  return { offset, length };
}

export interface TailEntries {
  /** Entry paths relative to the top folder -> content. */
  files: Map<string, Buffer>;
  top: string;
}

/** Reads the tar entries of the metadata member (gzip), which end the archive. */
export async function readTailMember(member: Buffer): Promise<TailEntries> {
  const extract = tar.extract();
  Readable.from([gunzipSync(member, { maxOutputLength: 4 * MAX_METADATA_BYTES })]).pipe(
    extract as unknown as NodeJS.WritableStream,
  );
  const files = new Map<string, Buffer>();
  let top = "";
  for await (const entry of extract) {
    const name = entry.header.name;
    const slash = name.indexOf("/");
    top ||= name.slice(0, slash);
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    if (slash > 0 && name.slice(0, slash) === top && entry.header.type === "file")
      files.set(name.slice(slash + 1), Buffer.concat(chunks));
  }
  return { files, top };
}

/** The metadata member's gzip header: no name, no time, no extra flags, OS "unknown". */
const STORED_HEADER = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
const STORED_BLOCK = 0xffff;

/** `data` as one gzip member of stored deflate blocks: the one encoding of those bytes. */
export function storedGzip(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from(STORED_HEADER)];
  let at = 0;
  do {
    const length = Math.min(STORED_BLOCK, data.length - at);
    const head = Buffer.alloc(5);
    head[0] = at + length >= data.length ? 1 : 0; // BFINAL, BTYPE 00 (stored)
    head.writeUInt16LE(length, 1);
    head.writeUInt16LE(~length & 0xffff, 3);
    parts.push(head, data.subarray(at, at + length));
    at += length;
  } while (at < data.length);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** What the metadata member carries: SHA256SUMS, manifest.json and its signature (optional). */
export interface BundleMetadata {
  manifest: Buffer;
  sums: Buffer;
  signature?: Buffer;
}

/** The metadata's files by path, in the order they are written. */
function metadataFiles(metadata: BundleMetadata): Array<[path: string, content: Buffer]> {
  return [
    [SUMS_PATH, metadata.sums],
    [MANIFEST_PATH, metadata.manifest],
    ...(metadata.signature ? [[SIGNATURE_PATH, metadata.signature] as [string, Buffer]] : []),
  ];
}

/** The metadata member's tar: each file under `top`, mode 0644, `mtime`, nothing else. */
async function metadataTar(top: string, mtime: Date, metadata: BundleMetadata): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<Buffer>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });
  for (const [name, content] of metadataFiles(metadata))
    pack.entry({ name: `${top}/${name}`, mtime, mode: 0o644, size: content.length }, content);
  pack.finalize();
  return collected;
}

/** The metadata member as sealift writes it. */
export async function metadataMember(top: string, mtime: Date, metadata: BundleMetadata): Promise<Buffer> {
  return storedGzip(await metadataTar(top, mtime, metadata));
}

/**
 * True when `member` is exactly what sealift writes for the files it holds (`mtime`: the
 * manifest's createdAt). A member of an older sealift (compressed) passes when its gzip header is
 * zlib's fixed one and its tar is exactly the one written for those files.
 */
export async function isCanonicalMetadata(member: Buffer, tail: TailEntries, mtime: Date): Promise<boolean> {
  const manifest = tail.files.get(MANIFEST_PATH);
  const sums = tail.files.get(SUMS_PATH);
  const signature = tail.files.get(SIGNATURE_PATH);
  if (!manifest || !sums || tail.files.size !== (signature ? 3 : 2) || Number.isNaN(mtime.getTime()))
    return false;
  const files: BundleMetadata = { manifest, sums, ...(signature ? { signature } : {}) };
  // A stored first block (BTYPE 00) right after the fixed 10-byte header: sealift's own form.
  const storedForm = ((member[10] ?? 0xff) & 0x06) === 0;
  if (storedForm) return member.equals(await metadataMember(tail.top, mtime, files));
  const zlibHeader =
    member.subarray(0, 8).equals(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0])) &&
    [0, 2, 4].includes(member[8]!) &&
    member[9] === 3;
  if (!zlibHeader) return false;
  const inflated = gunzipSync(member, { maxOutputLength: 4 * MAX_METADATA_BYTES });
  return inflated.equals(await metadataTar(tail.top, mtime, files));
}
