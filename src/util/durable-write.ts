/**
 * The one way the installer writes a file it keeps (the record, the journal, .env, the rollback
 * point, the kept installer): a temporary file beside it, created new and never through a link
 * (O_EXCL | O_NOFOLLOW), fsync'd, renamed over the final name (which replaces a link there, never
 * follows it), then the folder fsync'd: after a power cut the file is the old one or the new one.
 */
import { constants, createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { SealiftError } from "../errors.js";

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Refuses a folder that is not a real folder (a link planted in its place, a file). */
export async function requireRealFolder(folder: string): Promise<void> {
  const stat = await fs.lstat(folder).catch(() => null);
  if (stat && !stat.isDirectory())
    throw new SealiftError(
      "UNSAFE_PATH",
      `${folder} is ${stat.isSymbolicLink() ? "a link" : "not a folder"}; sealift writes only into folders it can see`,
      { hint: "something other than sealift put it there: look at it, remove it, and run the command again" },
    );
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `file` from `content` (bytes or a stream) as described above; returns its path. */
export async function writeDurably(
  file: string,
  content: string | Buffer | Readable,
  mode = 0o600,
): Promise<string> {
  // The folder is the caller's to vouch for (the install folder may be a link the operator made;
  // the state folder is checked when the folder's lock is taken).
  const folder = path.dirname(file);
  const temp = `${file}.tmp`;
  await fs.rm(temp, { force: true }); // unlinks a link planted there; never follows it
  const handle = await fs.open(temp, CREATE_NEW, mode);
  try {
    if (typeof content === "string" || Buffer.isBuffer(content)) await handle.writeFile(content);
    else for await (const chunk of content as AsyncIterable<Buffer>) await handle.write(chunk);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
  await fs.rename(temp, file);
  await syncFolder(folder);
  return file;
}

/** Copies `source` to `target` durably (the kept installer). */
export function copyDurably(source: string, target: string, mode: number): Promise<string> {
  return writeDurably(target, createReadStream(source), mode);
}
