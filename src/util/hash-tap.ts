/** A pass-through stream that hashes (sha256) and counts what flows through it. */
import { createHash } from "node:crypto";
import { Transform } from "node:stream";

export interface HashTap extends Transform {
  /** Bytes seen so far. */
  readonly bytes: number;
  /** The hex sha256 of everything seen; call once the stream has ended. */
  digest(): string;
  /** Hashes bytes that did not flow through (the rest of a file the reader stopped early in). */
  absorb(chunk: Buffer): void;
}

export function createHashTap(onBytes?: (total: number) => void): HashTap {
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
  }) as HashTap;
  Object.defineProperty(tap, "bytes", { get: () => bytes });
  tap.digest = () => (digest ??= hash.digest("hex"));
  tap.absorb = (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  };
  return tap;
}
