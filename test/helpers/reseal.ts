/**
 * What an attacker without the signing key can do to a bundle: edit an extracted copy, then reseal
 * it (every file's sha256 and size recomputed in SHA256SUMS and the manifest, the manifest's digest
 * of SHA256SUMS too, the archive's index and the signature dropped). A bundle so made passes every
 * check that does not need the key: what the installer refuses of it, it refuses for what it holds.
 */
import { createHash } from "node:crypto";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import type { Manifest } from "../../src/bundle/manifest.js";
import { formatSha256Sums } from "../../src/bundle/sha256sums.js";
import { walkTree } from "../../src/util/walk-tree.js";

const METADATA = new Set(["SHA256SUMS", "manifest.json", "manifest.json.sig"]);

export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "block-device" | "character-device" | "fifo";
  linkname?: string;
  body?: string;
  mode?: number;
}

/** Everything a tar pack gives, once it is finalized. */
function collect(pack: tar.Pack): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise<Buffer>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });
}

/** Each entry of a tar, its header and its body. */
async function* entriesOf(bytes: Buffer): AsyncGenerator<[tar.Header, Buffer]> {
  const extract = tar.extract();
  Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const body: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) body.push(chunk);
    yield [entry.header, Buffer.concat(body)];
  }
}

/** A tar of `entries` (devices as 1,1), as bytes. */
export async function tarBytes(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const e of entries) {
    const isFile = !e.type || e.type === "file";
    pack.entry(
      {
        name: e.name,
        type: e.type ?? "file",
        mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
        size: isFile ? Buffer.byteLength(e.body ?? "") : 0,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(e.type === "block-device" || e.type === "character-device" ? { devmajor: 1, devminor: 1 } : {}),
      } as tar.Header,
      isFile ? (e.body ?? "") : "",
    );
  }
  pack.finalize();
  return done;
}

/** Appends `entries` to the tar at `file` (its own entries kept as they are). */
export async function appendToTar(file: string, entries: readonly TarEntry[]): Promise<void> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const source of [readFileSync(file), await tarBytes(entries)])
    for await (const [header, body] of entriesOf(source)) pack.entry(header, body);
  pack.finalize();
  writeFileSync(file, await done);
}

/**
 * A copy of the extracted bundle `bundleDir` at `out`, changed by `edit` (files of the copy and its
 * manifest, as an object), then resealed as described above. Returns `out`.
 */
export async function resealed(
  bundleDir: string,
  out: string,
  edit: (dir: string, manifest: Manifest) => void | Promise<void>,
): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  cpSync(bundleDir, out, { recursive: true, verbatimSymlinks: true });
  const manifest = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8")) as Manifest;
  await edit(out, manifest);
  const files: Manifest["files"] = [];
  for await (const { rel, dirent } of walkTree(out)) {
    if (!dirent.isFile() || METADATA.has(rel)) continue;
    const bytes = readFileSync(path.join(out, rel));
    files.push({ path: rel, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
  }
  const sums = formatSha256Sums(files);
  const sealed: Manifest = {
    ...manifest,
    files,
    sha256sums: createHash("sha256").update(sums).digest("hex"),
  };
  delete sealed.archive;
  writeFileSync(path.join(out, "SHA256SUMS"), sums);
  writeFileSync(path.join(out, "manifest.json"), JSON.stringify(sealed, null, 2) + "\n");
  rmSync(path.join(out, "manifest.json.sig"), { force: true });
  return out;
}

/** sha256 of bytes, hex (for a volume archive's contentSha256). */
export function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}
