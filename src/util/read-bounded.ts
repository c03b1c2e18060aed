/**
 * The one way sealift reads a whole small file it is given or keeps (an inventory, a key, an
 * answers file, the install record, the journal, an index, a .sha256): opened without blocking (a
 * FIFO cannot hang it), refused unless it is a regular file no larger than its bound (/dev/zero, a
 * folder, a 300 MB "journal"), then read with that bound, so that memory stays flat whatever it is.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { isatty } from "node:tty";
import { SealiftError, type ErrorCode } from "../errors.js";
import { formatBytes } from "./format.js";

export interface BoundedRead {
  /** Largest size accepted, in bytes. */
  maxBytes: number;
  /** What the file is, for the message ("the inventory", "the install record"). */
  what: string;
  /** The error code of a file that is not acceptable (default INPUT_INVALID, exit 2). */
  code?: ErrorCode;
  hint?: string;
}

function refuse(file: string, why: string, options: BoundedRead): SealiftError {
  return new SealiftError(options.code ?? "INPUT_INVALID", `${options.what} ${file} ${why}`, {
    hint: options.hint ?? "give a regular file (not a device, a pipe or a folder)",
  });
}

/** The file's bytes; null when it does not exist (and `missingOk`), else INPUT_INVALID/ENOENT as described. */
export function readBounded(file: string, options: BoundedRead & { missingOk: true }): Buffer | null;
export function readBounded(file: string, options: BoundedRead & { missingOk?: false }): Buffer;
export function readBounded(file: string, options: BoundedRead & { missingOk?: boolean }): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.missingOk) return null;
    if (code === "ENOENT") throw refuse(file, "does not exist", options);
    if (code === "EISDIR") throw refuse(file, "is a folder", options);
    throw refuse(file, `cannot be opened: ${(error as Error).message}`, options);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw refuse(file, "is a folder", options);
    if (!stat.isFile()) throw refuse(file, "is not a regular file (a device, a pipe or a socket)", options);
    if (stat.size > options.maxBytes)
      throw refuse(
        file,
        `is ${formatBytes(stat.size)}, more than the ${formatBytes(options.maxBytes)} it may be`,
        options,
      );
    const buffer = Buffer.alloc(Math.min(stat.size, options.maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > options.maxBytes)
      throw refuse(
        file,
        `grew past the ${formatBytes(options.maxBytes)} it may be while it was read`,
        options,
      );
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** readBounded as UTF-8 text. */
export function readBoundedText(file: string, options: BoundedRead): string {
  return readBounded(file, options).toString("utf8");
}

/**
 * A JSON file the installer keeps, parsed: null when there is none; STATE_DAMAGED naming it and
 * `hint` when it is not JSON, too large, or not a regular file.
 */
export function readStateJson(
  file: string,
  what: string,
  hint: string,
  maxBytes = 16 * 1024 * 1024,
): unknown {
  const bytes = readBounded(file, { maxBytes, what, code: "STATE_DAMAGED", hint, missingOk: true });
  if (bytes === null) return null;
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new SealiftError("STATE_DAMAGED", `${what} ${file} is damaged: ${(error as Error).message}`, {
      hint,
    });
  }
}

/**
 * A stream the command was handed on a file descriptor (`--answers -`: standard input), read
 * whole up to its bound; refused when it is a terminal (nobody would know to type the settings).
 */
export function readBoundedFd(fd: number, options: BoundedRead): Buffer {
  if (isatty(fd))
    throw new SealiftError(
      options.code ?? "INPUT_INVALID",
      `${options.what} is standard input, which is a terminal here`,
      {
        hint: options.hint ?? "pipe the file in (… | install --answers -), or give its path",
      },
    );
  const chunks: Buffer[] = [];
  let length = 0;
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      // A descriptor its parent left non-blocking: wait a little and read on.
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      continue;
    }
    if (n === 0) break;
    length += n;
    if (length > options.maxBytes)
      throw new SealiftError(
        options.code ?? "INPUT_INVALID",
        `${options.what} (standard input) is more than the ${formatBytes(options.maxBytes)} it may be`,
        {
          hint: options.hint ?? "give a smaller file",
        },
      );
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}
