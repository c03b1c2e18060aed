/**
 * The one way sealift hashes bytes as they pass: a pass-through stream that hashes (sha256) and
 * counts what flows through it, optionally checking the total at its end; and the digest of a
 * whole stream or file, built on it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface HashTap extends Transform {
  /** Bytes seen so far. */
  readonly bytes: number;
  /** The hex sha256 of everything seen; call once the stream has ended. */
  digest(): string;
  /** Hashes bytes given directly, not through the stream (a generator's chunks, the rest of a file a reader stopped early in). */
  absorb(chunk: Buffer): void;
}

export interface HashTapOptions {
  onBytes?: (total: number) => void;
  /** Called at the end with the digest and the byte count: an error it returns fails the stream. */
  check?: (sha256: string, bytes: number) => Error | null;
}

export function createHashTap(options: HashTapOptions | ((total: number) => void) = {}): HashTap {
  const { onBytes, check } = typeof options === "function" ? { onBytes: options, check: undefined } : options;
  const hash = createHash("sha256");
  let bytes = 0;
  let digest: string | undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      callback(null, chunk);
    },
    flush(callback) {
      callback(check ? check(tap.digest(), bytes) : null);
    },
  }) as HashTap;
  Object.defineProperty(tap, "bytes", { get: () => bytes });
  tap.digest = () => (digest ??= hash.digest("hex"));
  tap.absorb = (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  };
  return tap;
}

/** The sha256 and size of everything `stream` gives (it is read to its end). */
export async function hashOf(
  stream: Readable | NodeJS.ReadableStream,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const tap = createHashTap();
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(stream, tap, sink, ...(signal ? [{ signal }] : []));
  return { sha256: tap.digest(), size: tap.bytes };
}

/** sha256 of a file, streamed in 1 MiB reads. */
export async function sha256File(file: string): Promise<string> {
  return (await hashOf(createReadStream(file, { highWaterMark: 1024 * 1024 }))).sha256;
}
