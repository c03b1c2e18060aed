import { promises as fs } from "node:fs";

/**
 * `length` bytes of `file` from `offset`, into `into` at `at` (by default a new buffer of its own);
 * a file that ends sooner is an error naming where it ends.
 */
export async function readExactly(
  file: string,
  offset: number,
  length: number,
  into: Buffer = Buffer.alloc(length),
  at = 0,
): Promise<Buffer> {
  const handle = await fs.open(file, "r");
  try {
    const { bytesRead } = await handle.read(into, at, length, offset);
    if (bytesRead !== length) throw new Error(`${file} ends at ${offset + bytesRead} bytes`);
    return into;
  } finally {
    await handle.close();
  }
}
