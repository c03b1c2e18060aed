/**
 * gzip on every core: the input is cut into blocks, each block is compressed on libuv's thread pool
 * as an independent gzip member, and the members are written in order. The output is a standard
 * multi-member gzip file that `gzip -d`, `tar xzf` and zlib all read.
 *
 * A stretch of the input that was compressed before (the installer, made once at build time) can be
 * spliced in: its members are copied instead of compressing those bytes again (splice()).
 */
import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import { gzip, constants } from "node:zlib";

const gzipAsync = promisify(gzip);

export interface ParallelGzipOptions {
  /** zlib level 1-9; default 6, the level of plain `gzip` (sealift pack passes its own default). */
  level?: number;
  /** Bytes of input per gzip member; default 1 MiB (costs well under 1% of ratio). */
  blockSize?: number;
  /** Blocks compressed at once; default twice the number of cores (at least 4), so that the
   *  thread pool always has the next block while the main thread hands one on. */
  concurrency?: number;
  /** Store blocks whose samples look random (no gain from deflate) instead of compressing them; default true. */
  storeIncompressible?: boolean;
  /** Called for each member as it is written, in order: its sizes, and the member as stored. */
  onMember?: (compressedBytes: number, uncompressedBytes: number, member: Buffer) => void;
}

/** Gzip members made before for `bytes` bytes of the input, and how to read each. */
export interface Precompressed {
  /** [compressed bytes, uncompressed bytes] of each member, in order; the latter add up to `bytes`. */
  members: Array<[number, number]>;
  /** Reads `length` bytes of the members at `offset` (members are stored one after another). */
  read(offset: number, length: number): Promise<Buffer>;
}

export interface ParallelGzip extends Transform {
  /**
   * From input offset `at`, the next `bytes` bytes are taken as `precompressed`'s members, which are
   * written in their place. Call before the input reaches `at`.
   */
  splice(at: number, bytes: number, precompressed: Precompressed): void;
}

export function createParallelGzip(options: ParallelGzipOptions = {}): ParallelGzip {
  const level = options.level ?? constants.Z_DEFAULT_COMPRESSION;
  const blockSize = options.blockSize ?? 1024 * 1024;
  const concurrency = options.concurrency ?? Math.max(4, 2 * availableParallelism());
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let wroteAny = false;
  const inFlight: Array<{ job: Promise<Buffer>; bytes: number }> = [];
  /** Input bytes taken so far. */
  let inputAt = 0;
  let splice:
    | {
        at: number;
        bytes: number;
        from: Precompressed;
        taken: number;
        next: number;
        covered: number;
        offset: number;
      }
    | undefined;

  const enqueue = (job: Promise<Buffer>, bytes: number) => {
    job.catch(() => undefined); // awaited in order below; this only keeps it from being "unhandled"
    inFlight.push({ job, bytes });
    wroteAny = true;
  };
  // One trip to the thread pool per block: with zlib's default 16 KiB output chunks the main thread
  // would hand each job dozens of buffers, and the pool would wait for it whenever it is busy.
  // Content that does not compress (model weights, media, the containerd store's gzip'd layers) is
  // stored (level 0): still standard gzip, at memcpy speed both ways, a few bytes per 64 KiB larger.
  const dispatch = (block: Buffer) =>
    enqueue(
      gzipAsync(block, {
        level: options.storeIncompressible === false || !looksIncompressible(block) ? level : 0,
        chunkSize: block.length + 64 * 1024,
      }),
      block.length,
    );
  const takeBlock = (): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const block = all.subarray(0, blockSize);
    const rest = all.subarray(blockSize);
    pending = rest.length ? [rest] : [];
    pendingBytes = rest.length;
    return block;
  };
  /** The oldest member, once compressed. */
  const next = async (): Promise<Buffer> => {
    const { job, bytes } = inFlight.shift()!;
    const member = await job;
    options.onMember?.(member.length, bytes, member);
    return member;
  };

  /** Takes `chunk` as input; the members it completes go into the in-flight queue. */
  const take = (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      if (splice && inputAt === splice.at && splice.taken === 0 && pendingBytes > 0) dispatch(takeBlock());
      if (splice && inputAt >= splice.at) {
        const s = splice;
        const n = Math.min(chunk.length - off, s.bytes - s.taken);
        s.taken += n;
        inputAt += n;
        off += n;
        // Every member whose bytes the input has now gone past is written in their place.
        while (s.next < s.from.members.length && s.covered + s.from.members[s.next]![1] <= s.taken) {
          const [c, u] = s.from.members[s.next]!;
          enqueue(s.from.read(s.offset, c), u);
          s.offset += c;
          s.covered += u;
          s.next++;
        }
        if (s.taken === s.bytes) {
          if (s.next !== s.from.members.length || s.covered !== s.bytes)
            throw new Error("the precompressed members do not cover the bytes they stand for");
          splice = undefined;
        }
        continue;
      }
      const n = Math.min(chunk.length - off, splice ? splice.at - inputAt : Infinity);
      pending.push(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n));
      pendingBytes += n;
      inputAt += n;
      off += n;
      while (pendingBytes >= blockSize) dispatch(takeBlock());
    }
  };

  const stream = new Transform({
    // The readable side holds at most a few members; the in-flight queue bounds memory to
    // about (concurrency + 2) blocks.
    readableHighWaterMark: 2 * blockSize,
    async transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        take(chunk);
        while (inFlight.length >= concurrency) this.push(await next());
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    async flush(callback: TransformCallback) {
      try {
        if (splice) throw new Error("the input ended inside a precompressed stretch");
        if (pendingBytes > 0 || !wroteAny) dispatch(takeBlock());
        while (inFlight.length) this.push(await next());
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  }) as ParallelGzip;
  stream.splice = (at, bytes, from) => {
    if (at < inputAt || splice) throw new Error(`a splice at ${at} comes too late (input at ${inputAt})`);
    splice = { at, bytes, from, taken: 0, next: 0, covered: 0, offset: 0 };
  };
  return stream;
}

/** Bytes per sample, and the entropy (bits per byte) above which a sample is taken as random. */
const SAMPLE_BYTES = 4096;
const RANDOM_BITS = 7.9;

/**
 * Whether a block is not worth deflating: three samples (start, middle, end) all hold close to 8
 * bits of entropy per byte, as random bytes, compressed data and model weights do (4 KiB of random
 * bytes measure about 7.95; text and binaries 4-6.5). Costs a few microseconds per MiB.
 */
export function looksIncompressible(block: Buffer): boolean {
  if (block.length < 3 * SAMPLE_BYTES) return false;
  const counts = new Uint32Array(256);
  for (const at of [0, (block.length - SAMPLE_BYTES) >> 1, block.length - SAMPLE_BYTES]) {
    counts.fill(0);
    for (let i = at; i < at + SAMPLE_BYTES; i++) counts[block[i]!]!++;
    let bits = 0;
    for (const c of counts) if (c) bits -= (c / SAMPLE_BYTES) * Math.log2(c / SAMPLE_BYTES);
    if (bits < RANDOM_BITS) return false;
  }
  return true;
}
