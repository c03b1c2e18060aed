/**
 * Writes a bundle as one stream: tar entries -> parallel gzip -> sha256 of the archive -> `out`.
 * Every file is hashed as it is written (one pass); finish() adds SHA256SUMS, manifest.json and its
 * signature as the archive's tail (see tail.ts). The manifest it writes carries the archive's index
 * (manifest.archive): each gzip member's size and each entry's offset, so that a reader can inflate
 * only the entries it uses, and many members at once.
 */
import { createHash, type KeyObject } from "node:crypto";
import { Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { cancelled } from "../errors.js";
import { createHashTap, type HashTap } from "../util/hash-tap.js";
import type { ArchiveIndex, FileRecord, LinkRecord, Manifest } from "./manifest.js";
import { createParallelGzip, type ParallelGzip, type Precompressed } from "./parallel-gzip.js";
import { formatSha256Sums } from "./sha256sums.js";
import { signManifest } from "./signature.js";
import { locatorMember, metadataMember } from "./tail.js";

export interface BundleWriterOptions {
  /** The archive's top folder, e.g. "llm-chat-complete-20261122". */
  topDir: string;
  mtime: Date;
  gzipLevel?: number;
  signal?: AbortSignal;
  /** Called with the compressed bytes written so far. */
  onCompressedBytes?: (bytes: number) => void;
}

export interface WrittenArchive {
  sha256: string;
  bytes: number;
  manifest: Manifest;
}

const END_OF_ARCHIVE = 1024;

/** The tar stream without its two closing zero blocks: the tail member ends the archive instead. */
function dropEndOfArchive(): Transform {
  let held = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunk.length >= END_OF_ARCHIVE) {
        if (held.length) this.push(held);
        held = Buffer.from(chunk.subarray(chunk.length - END_OF_ARCHIVE));
        return callback(null, chunk.subarray(0, chunk.length - END_OF_ARCHIVE));
      }
      // Small chunks: what is held and the chunk are under two blocks' worth.
      const joined = Buffer.concat([held, chunk]);
      const cut = Math.max(0, joined.length - END_OF_ARCHIVE);
      held = Buffer.from(joined.subarray(cut));
      callback(null, cut ? joined.subarray(0, cut) : undefined);
    },
    flush(callback) {
      const ok = held.length === END_OF_ARCHIVE && held.every((b) => b === 0);
      callback(ok ? null : new Error("the tar stream did not end with its closing blocks"));
    },
  });
}

type MakeManifest = (files: FileRecord[], links: LinkRecord[], sumsSha256: string) => Manifest;

export class BundleWriter {
  readonly files: FileRecord[] = [];
  readonly links: LinkRecord[] = [];
  private readonly pack = tar.pack();
  private readonly archiveTap: HashTap;
  private readonly done: Promise<void>;
  private failure: unknown;
  /** Bytes of tar the pack has produced so far: where the next entry's first header block starts. */
  private tarBytes = 0;
  private readonly index: ArchiveIndex = { members: [], memberSha256: [], entries: {} };
  private closing: { makeManifest: MakeManifest; signer: KeyObject | undefined } | undefined;
  private readonly gzip: ParallelGzip;
  /** A file whose gzip members were made before: spliced in where its first data chunk goes. */
  private spliceOn: { chunk: Buffer; bytes: number; from: Precompressed } | undefined;
  private manifest: Manifest | undefined;
  /** The top folder's entry is out: entry offsets count from after it. */
  private readonly started: Promise<void>;
  private isStarted = false;

  constructor(
    out: Writable,
    private readonly options: BundleWriterOptions,
  ) {
    this.archiveTap = createHashTap(options.onCompressedBytes);
    // tar-stream writes every header and data block through push(), in order, for one entry at a
    // time (entries are added one after another): counting there gives each entry's offset.
    const push = this.pack.push.bind(this.pack);
    this.pack.push = (chunk: Buffer | null) => {
      if (chunk && chunk === this.spliceOn?.chunk) {
        this.gzip.splice(this.tarBytes, this.spliceOn.bytes, this.spliceOn.from);
        this.spliceOn = undefined;
      }
      if (chunk) this.tarBytes += chunk.byteLength;
      return push(chunk);
    };
    this.gzip = createParallelGzip({
      level: options.gzipLevel,
      onMember: (compressed, uncompressed, member) => {
        this.index.members.push([compressed, uncompressed]);
        this.index.memberSha256!.push(createHash("sha256").update(member).digest("hex"));
      },
    });
    this.done = pipeline(
      this.pack as unknown as Readable,
      dropEndOfArchive(),
      this.gzip,
      this.appendTail(),
      this.archiveTap,
      out,
      { signal: options.signal },
    );
    this.done.catch((error: unknown) => {
      this.failure = error;
      this.pack.destroy(error as Error);
    });
    this.started = new Promise((resolve) =>
      this.pack.entry(
        { name: `${options.topDir}/`, type: "directory", mode: 0o755, mtime: options.mtime },
        () => {
          this.isStarted = true;
          resolve();
        },
      ),
    );
  }

  /**
   * Passes the members through; at the end, when every member's size is known, adds the metadata
   * member and the locator (tail.ts).
   */
  private appendTail(): Transform {
    let offset = 0;
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        offset += chunk.length;
        callback(null, chunk);
      },
      flush: (callback) => {
        if (!this.closing) return callback(new Error("the bundle was closed without its metadata"));
        this.tailMember(this.closing.makeManifest, this.closing.signer).then(
          (tail) => callback(null, Buffer.concat([tail, locatorMember(offset, tail.length)])),
          (error: unknown) => callback(error as Error),
        );
      },
    });
  }

  /** SHA256SUMS, the manifest (with the archive's index) and its signature, as one gzip member. */
  private async tailMember(makeManifest: MakeManifest, signer: KeyObject | undefined): Promise<Buffer> {
    const files = [...this.files];
    const sums = formatSha256Sums(files);
    const sumsSha256 = createHash("sha256").update(sums).digest("hex");
    this.manifest = { ...makeManifest(files, [...this.links], sumsSha256), archive: this.index };
    const manifestBytes = Buffer.from(JSON.stringify(this.manifest, null, 2) + "\n");
    const metadata = {
      sums: Buffer.from(sums),
      manifest: manifestBytes,
      ...(signer ? { signature: Buffer.from(signManifest(manifestBytes, signer)) } : {}),
    };
    // Its time is the manifest's own, so that a reader rebuilds every byte (tail.ts).
    return metadataMember(this.options.topDir, new Date(this.manifest.createdAt), metadata);
  }

  private header(path: string, extra: Partial<tar.Header>): tar.Header {
    return {
      name: `${this.options.topDir}/${path}`,
      mtime: this.options.mtime,
      mode: 0o644,
      size: 0,
      ...extra,
    } as tar.Header;
  }

  private check(): void {
    if (this.options.signal?.aborted) throw cancelled("pack was cancelled");
    if (this.failure) throw this.failure;
  }

  async addBuffer(path: string, data: Buffer | string, mode = 0o644): Promise<FileRecord> {
    const buffer = typeof data === "string" ? Buffer.from(data) : data;
    return this.addStream(path, buffer.length, Readable.from([buffer]), mode);
  }

  /**
   * Streams one file into the archive; `size` must be exact (tar headers come first). With
   * `precompressed` (members made before from the same bytes, whose sha256 it gives), those
   * members are copied into the archive instead of compressing the file again.
   */
  async addStream(
    path: string,
    size: number,
    source: Readable,
    mode = 0o644,
    precompressed?: Precompressed & { sha256: string },
  ): Promise<FileRecord> {
    if (!this.isStarted) {
      source.pause(); // a stream already flowing (someone counts its bytes) must not lose data meanwhile
      await this.started;
    }
    this.check();
    const hash = createHash("sha256");
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      this.index.entries[path] = this.tarBytes;
      const entry = this.pack.entry(this.header(path, { size, mode }), (error) => {
        if (error) reject(error);
        else if (seen !== size) reject(new Error(`${path}: expected ${size} bytes, got ${seen}`));
        else resolve();
      });
      const fail = (error: unknown) => {
        source.destroy();
        entry.destroy(error as Error);
        reject(error);
      };
      source.on("data", (chunk: Buffer) => {
        if (precompressed && seen === 0 && size > 0)
          this.spliceOn = { chunk, bytes: size, from: precompressed };
        hash.update(chunk);
        seen += chunk.length;
        if (!entry.write(chunk)) source.pause();
      });
      entry.on("drain", () => source.resume());
      entry.on("error", fail);
      source.on("end", () => (entry as unknown as NodeJS.WritableStream).end());
      source.on("error", fail);
      this.done.catch(fail);
      source.resume();
    });
    const record = { path, size, sha256: hash.digest("hex") };
    if (precompressed && precompressed.sha256 !== record.sha256)
      throw new Error(
        `${path}: its precompressed copy was made from other content (run npm run build again)`,
      );
    this.files.push(record);
    return record;
  }

  async addSymlink(path: string, target: string): Promise<void> {
    await this.started;
    this.check();
    this.index.entries[path] = this.tarBytes;
    await new Promise<void>((resolve, reject) => {
      this.pack.entry(this.header(path, { type: "symlink", linkname: target, mode: 0o777 }), (error) =>
        error ? reject(error) : resolve(),
      );
    });
    this.links.push({ path, target });
  }

  /**
   * Writes SHA256SUMS and the manifest (built from the file list by `makeManifest`), closes the
   * archive and waits until `out` has everything.
   */
  async finish(makeManifest: MakeManifest, signer?: KeyObject): Promise<WrittenArchive> {
    this.check();
    this.closing = { makeManifest, signer };
    this.pack.finalize();
    await this.done;
    if (!this.manifest) throw new Error("the bundle was closed without its metadata");
    return { sha256: this.archiveTap.digest(), bytes: this.archiveTap.bytes, manifest: this.manifest };
  }

  /** Stops writing after a failure; the caller removes the partial output. */
  abort(error: unknown): void {
    this.failure ??= error;
    this.pack.destroy(error as Error);
  }
}
