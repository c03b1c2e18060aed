/**
 * Bundles split into parts for media with a file size limit (FAT32: 4 GiB):
 *
 *   NAME.tar.gz.part001, NAME.tar.gz.part002, ...   `cat` of them in order is exactly NAME.tar.gz
 *   NAME.tar.gz.index.json                          parts, their sizes and sha256, sha256 of the whole
 *   NAME.tar.gz.SHA256SUMS                          `sha256sum -c` compatible list of the parts
 *
 * The writer is the archive's output stream; the reader gives the parts back as one stream, each
 * part checked against the index as it ends, and names the part that is missing, extra or damaged.
 */
import { createReadStream, existsSync, promises as fs, readdirSync, statSync } from "node:fs";
import { readBoundedText } from "../util/read-bounded.js";
import { MAX_METADATA_BYTES } from "./layout.js";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { z } from "zod";
import { createHashTap, sha256File, type HashTap } from "../util/hash-tap.js";
import { SealiftError } from "../errors.js";
import { formatBytes } from "../util/format.js";
import { readExactly } from "../util/read-exactly.js";

export const INDEX_SUFFIX = ".index.json";
/** Not ".parts.sha256": `cat NAME.tar.gz.part*` must match the parts only. */
export const PARTS_SUMS_SUFFIX = ".SHA256SUMS";
const PART_PATTERN = /\.part(\d{3,})$/;
const READ_CHUNK = 1024 * 1024;

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
/** Smallest part size accepted: below it, a bundle would be thousands of files. */
export const MIN_PART_BYTES = 64 * 1024;

/** "3900M", "4G", "512K", "1048576" (units are powers of 1024; a trailing B or iB is allowed). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  const bytes = match ? Math.floor(Number(match[1]) * UNITS[match[2]!.toUpperCase()]!) : NaN;
  if (!Number.isFinite(bytes) || bytes < MIN_PART_BYTES) {
    throw new SealiftError("USAGE", `"${text}" is not a part size sealift can use`, {
      hint: `give a size of at least 64K with K, M or G units, e.g. --split 3900M for FAT32 USB sticks`,
    });
  }
  return bytes;
}

export const partsIndexSchema = z.object({
  format: z.literal("sealift-parts"),
  formatVersion: z.literal(1),
  /** The archive the parts make up when joined. */
  archive: z.string().regex(/^[^/\\]+\.tar\.gz$/),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  partBytes: z.number().int().positive(),
  parts: z
    .array(
      z.object({
        name: z.string().regex(/^[^/\\]+\.part\d{3,}$/),
        bytes: z.number().int().positive(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1),
});
export type PartsIndex = z.infer<typeof partsIndexSchema>;

export function partName(archiveName: string, index: number): string {
  return `${archiveName}.part${String(index + 1).padStart(3, "0")}`;
}

interface OpenPart {
  handle: fs.FileHandle;
  temp: string;
  name: string;
  bytes: number;
  hash: HashTap;
}

/**
 * The archive's output, cut into parts of `partBytes`. Parts are written under temporary names
 * and get their final names only in commit(); abort() removes them.
 */
export class PartsWriter extends Writable {
  private current: OpenPart | undefined;
  private readonly done: Array<Omit<OpenPart, "handle" | "hash"> & { sha256: string }> = [];
  private readonly whole = createHashTap();
  private total = 0;
  private aborted = false;

  constructor(
    private readonly dir: string,
    private readonly archiveName: string,
    private readonly partBytes: number,
  ) {
    super({ highWaterMark: 4 * READ_CHUNK });
  }

  get files(): string[] {
    return [...this.done.map((p) => p.temp), ...(this.current ? [this.current.temp] : [])];
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeCurrent().then(() => callback(), callback);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    if (this.aborted) throw new Error("the parts writer was aborted");
    this.whole.absorb(chunk);
    this.total += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.current) {
        const name = partName(this.archiveName, this.done.length);
        const temp = path.join(this.dir, `.${name}.partial-${process.pid}`);
        this.current = {
          handle: await fs.open(temp, "wx"),
          temp,
          name,
          bytes: 0,
          hash: createHashTap(),
        };
      }
      const part = this.current;
      const piece = chunk.subarray(offset, offset + (this.partBytes - part.bytes));
      await part.handle.write(piece);
      part.hash.absorb(piece);
      part.bytes += piece.length;
      offset += piece.length;
      if (part.bytes === this.partBytes) await this.closeCurrent();
    }
  }

  private async closeCurrent(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = undefined;
    await part.handle.close();
    this.done.push({ temp: part.temp, name: part.name, bytes: part.bytes, sha256: part.hash.digest() });
  }

  /** After the stream finished: gives the parts their names and writes the index and sums file. */
  async commit(): Promise<{ index: string; sums: string; parts: string[]; indexData: PartsIndex }> {
    const indexData: PartsIndex = {
      format: "sealift-parts",
      formatVersion: 1,
      archive: this.archiveName,
      bytes: this.total,
      sha256: this.whole.digest(),
      partBytes: this.partBytes,
      parts: this.done.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256 })),
    };
    const parts = [];
    for (const part of this.done) {
      const final = path.join(this.dir, part.name);
      await fs.rename(part.temp, final);
      parts.push(final);
    }
    // Parts of an earlier pack under the same name would read as extra parts: remove them.
    const current = new Set(this.done.map((p) => p.name));
    for (const name of readdirSync(this.dir))
      if (name.startsWith(`${this.archiveName}.part`) && PART_PATTERN.test(name) && !current.has(name))
        await fs.rm(path.join(this.dir, name), { force: true });
    const index = path.join(this.dir, `${this.archiveName}${INDEX_SUFFIX}`);
    const sums = path.join(this.dir, `${this.archiveName}${PARTS_SUMS_SUFFIX}`);
    await writeAtomically(index, JSON.stringify(indexData, null, 2) + "\n");
    await writeAtomically(sums, this.done.map((p) => `${p.sha256}  ${p.name}\n`).join(""));
    return { index, sums, parts, indexData };
  }

  /** Removes whatever was written (temporary names only: nothing was committed). */
  async abort(): Promise<void> {
    this.aborted = true;
    await this.current?.handle.close().catch(() => undefined);
    for (const file of this.files) await fs.rm(file, { force: true });
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${path.join(path.dirname(file), `.${path.basename(file)}`)}.partial-${process.pid}`;
  await fs.writeFile(temp, text);
  await fs.rename(temp, file);
}

function partsError(message: string, hint: string): SealiftError {
  return new SealiftError("BUNDLE_PART_INVALID", message, { hint });
}

const RECOPY =
  "copy that part from the packing machine again (`sha256sum -c NAME.tar.gz.SHA256SUMS` shows which parts are good)";

/** Given the index or any part: the index file, or an error saying what to give instead. */
export function indexFileFor(location: string): string {
  if (location.endsWith(INDEX_SUFFIX)) return location;
  const match = PART_PATTERN.exec(location);
  const index = match ? `${location.slice(0, match.index)}${INDEX_SUFFIX}` : "";
  if (!index || !existsSync(index)) {
    throw partsError(
      `${path.basename(location)} is a part of a split bundle, and its index ${path.basename(index)} is not beside it`,
      "copy NAME.tar.gz.index.json next to the parts (it names them and holds their checksums), then give it",
    );
  }
  return index;
}

/** Reads and checks the index, then that every part it names is there with its size, and no other. */
export function readPartsIndex(indexFile: string): { index: PartsIndex; dir: string } {
  let parsed;
  try {
    const text = readBoundedText(indexFile, {
      maxBytes: MAX_METADATA_BYTES,
      what: "the parts index",
      code: "BUNDLE_PART_INVALID",
      hint: "copy NAME.tar.gz.index.json again",
    });
    parsed = partsIndexSchema.safeParse(JSON.parse(text));
  } catch (error) {
    if (error instanceof SealiftError) throw error;
    throw new SealiftError("BUNDLE_PART_INVALID", `${indexFile} is not a readable parts index`, {
      hint: "copy NAME.tar.gz.index.json again",
      cause: error,
    });
  }
  if (!parsed.success) {
    throw new SealiftError("BUNDLE_PART_INVALID", `${indexFile} is not a sealift parts index`, {
      hint: "copy NAME.tar.gz.index.json again",
      details: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`),
    });
  }
  const index = parsed.data;
  const dir = path.dirname(indexFile);
  const listed = new Set(index.parts.map((p) => p.name));
  for (const name of index.parts.map((p) => p.name)) {
    if (!name.startsWith(`${index.archive}.part`))
      throw partsError(`${indexFile} names a part ${name} of another archive`, "copy the index again");
  }
  const expectedTotal = index.parts.reduce((sum, p) => sum + p.bytes, 0);
  if (expectedTotal !== index.bytes)
    throw partsError(`${indexFile}: the parts do not add up to the archive's size`, "copy the index again");
  for (const [i, part] of index.parts.entries()) {
    const file = path.join(dir, part.name);
    if (part.name !== partName(index.archive, i))
      throw partsError(`${indexFile} lists ${part.name} out of order`, "copy the index again");
    const size = partSize(file);
    if (size === undefined)
      throw partsError(
        `part ${part.name} (${i + 1} of ${index.parts.length}) is missing from ${dir}`,
        `copy every part next to the index; ${RECOPY}`,
      );
    if (size !== part.bytes)
      throw partsError(
        `part ${part.name} is ${formatBytes(size)} (${size} bytes); the index says ${part.bytes} bytes: it is damaged, incomplete or another part`,
        RECOPY,
      );
  }
  const extra = readdirSync(dir).filter(
    (name) => name.startsWith(`${index.archive}.part`) && PART_PATTERN.test(name) && !listed.has(name),
  );
  if (extra.length)
    throw partsError(
      `${extra.join(", ")} ${extra.length > 1 ? "are parts" : "is a part"} the index does not list (from another pack of the same name?)`,
      "remove the extra part files, or copy the index that belongs to them",
    );
  return { index, dir };
}

/** A part's size, or undefined when it is missing or not a plain file. */
function partSize(file: string): number | undefined {
  try {
    const stat = statSync(file);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

/** The parts as one stream; each part's sha256 is checked against the index as it ends. */
export function joinParts(dir: string, index: PartsIndex, signal?: AbortSignal): Readable {
  async function* read(): AsyncGenerator<Buffer> {
    for (const part of index.parts) {
      const tap = createHashTap();
      for await (const chunk of createReadStream(path.join(dir, part.name), {
        highWaterMark: READ_CHUNK,
        signal,
      }) as AsyncIterable<Buffer>) {
        tap.absorb(chunk);
        yield chunk;
      }
      const digest = tap.digest();
      if (digest !== part.sha256) throw damagedPart(part.name, part.sha256, digest);
    }
  }
  return Readable.from(read(), { objectMode: false });
}

function damagedPart(name: string, expected: string, got: string): SealiftError {
  return new SealiftError(
    "BUNDLE_PART_INVALID",
    `part ${name} does not match its checksum in the index (expected sha256 ${expected.slice(0, 16)}…, got ${got.slice(0, 16)}…): it is damaged, or parts were swapped`,
    { hint: RECOPY },
  );
}

/** After a read failed part-way: the first part whose checksum is wrong, if any (names it). */
export async function findDamagedPart(dir: string, index: PartsIndex): Promise<SealiftError | undefined> {
  for (const part of index.parts) {
    const digest = await sha256File(path.join(dir, part.name));
    if (digest !== part.sha256) return damagedPart(part.name, part.sha256, digest);
  }
  return undefined;
}

/** Bytes [offset, offset + length) of the joined parts (the archive's tail, for one). */
export async function readPartsRange(
  dir: string,
  index: PartsIndex,
  offset: number,
  length: number,
): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let partStart = 0;
  for (const part of index.parts) {
    const partEnd = partStart + part.bytes;
    const from = Math.max(offset, partStart);
    const to = Math.min(offset + length, partEnd);
    if (from < to)
      await readExactly(path.join(dir, part.name), from - partStart, to - from, out, from - offset);
    partStart = partEnd;
  }
  return out;
}
