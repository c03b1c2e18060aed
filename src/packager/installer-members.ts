/**
 * The installer's gzip members, made once by `npm run build` (level 9, 1 MiB blocks) and copied
 * into every bundle instead of compressing the same 100 MiB again on each pack.
 *
 *   build/sealift-install-linux-x64.gz        the members, one after another (a valid .gz of it)
 *   build/sealift-install-linux-x64.gz.json   the installer's size, mtime and sha256; each member's sizes
 *
 * A copy that does not match the installer beside it (size or time differ) is not used; one that
 * matches those but not its content fails the pack by its sha256 (bundle-writer.ts).
 */
import { createHashTap } from "../util/hash-tap.js";
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import type { Precompressed } from "../bundle/parallel-gzip.js";
import { createParallelGzip } from "../bundle/parallel-gzip.js";
import { readExactly } from "../util/read-exactly.js";

const LEVEL = 9;

const recordSchema = z.object({
  size: z.number().int().nonnegative(),
  mtimeMs: z.number(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  level: z.number().int(),
  members: z.array(z.tuple([z.number().int().positive(), z.number().int().positive()])),
});

/** Writes INSTALLER.gz and INSTALLER.gz.json (under temporary names, renamed when complete). */
export async function precompressInstaller(installer: string): Promise<void> {
  const stat = await fs.stat(installer);
  const members: Array<[number, number]> = [];
  const hash = createHashTap();
  const source = createReadStream(installer, { highWaterMark: 1024 * 1024 });
  source.on("data", (chunk) => hash.absorb(chunk as Buffer));
  const tmp = `${installer}.gz.tmp-${process.pid}`;
  try {
    await pipeline(
      source,
      createParallelGzip({ level: LEVEL, onMember: (c, u) => members.push([c, u]) }),
      createWriteStream(tmp),
    );
    const record = {
      size: stat.size,
      mtimeMs: stat.mtimeMs,
      sha256: hash.digest(),
      level: LEVEL,
      members,
    };
    await fs.writeFile(`${tmp}.json`, JSON.stringify(record) + "\n");
    await fs.rename(tmp, `${installer}.gz`);
    await fs.rename(`${tmp}.json`, `${installer}.gz.json`);
  } finally {
    await fs.rm(tmp, { force: true });
    await fs.rm(`${tmp}.json`, { force: true });
  }
}

/** The installer's members when a copy made from it is beside it, else undefined. */
export async function installerMembers(
  installer: string,
): Promise<(Precompressed & { sha256: string }) | undefined> {
  const [stat, json] = await Promise.all([
    fs.stat(installer),
    fs.readFile(`${installer}.gz.json`, "utf8").catch(() => undefined),
  ]);
  if (!json) return undefined;
  let parsed;
  try {
    parsed = recordSchema.safeParse(JSON.parse(json));
  } catch {
    return undefined; // not JSON: made again by the next build
  }
  if (!parsed.success) return undefined;
  const record = parsed.data;
  if (record.size !== stat.size || record.mtimeMs !== stat.mtimeMs) return undefined;
  const file = `${installer}.gz`;
  if (
    !(await fs.access(file).then(
      () => true,
      () => false,
    ))
  )
    return undefined;
  return {
    sha256: record.sha256,
    members: record.members,
    // Read while the archive is compressed, after addStream() has returned: a handle per read.
    read: (offset, length) => readExactly(file, offset, length),
  };
}
