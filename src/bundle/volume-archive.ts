/**
 * A named volume's content travels as a tar (data/volumes/KEY.tar) that `docker cp` unpacks as root
 * into the volume. Held to the same rule as the source: regular files, folders, hard links to
 * entries of the archive, and symlinks that land inside the volume through the archive's other
 * links; no devices, FIFOs or sockets, no setuid or setgid bits. Owners are kept (app data belongs
 * to its uid). The packer checks what it exports, the installer what it is about to fill in.
 */
import type { Readable } from "node:stream";
import tar from "tar-stream";
import { linksLeaving, type TreeNode } from "../util/tree-links.js";
import { entryPathProblem } from "./entry-path.js";

export interface VolumeEntryProblem {
  name: string;
  why: string;
}

const SETID = 0o6000;

/** The problems of a volume archive (empty when it may be unpacked into a volume as it is). */
export async function volumeArchiveProblems(
  input: Readable,
  signal?: AbortSignal,
): Promise<VolumeEntryProblem[]> {
  const extract = tar.extract();
  input.on("error", (error) => extract.destroy(error));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const problems: VolumeEntryProblem[] = [];
  const nodes = new Map<string, TreeNode>();
  const folders = new Set<string>();
  const links: Array<{ path: string; target: string }> = [];
  for await (const entry of extract) {
    if (signal?.aborted) throw signal.reason;
    const { header } = entry;
    entry.resume();
    const name = header.name.replace(/\/+$/, "");
    const problem = entryPathProblem(header.name);
    if (problem) {
      problems.push({ name: header.name, why: problem });
      continue;
    }
    for (let i = name.indexOf("/"); i > 0; i = name.indexOf("/", i + 1)) folders.add(name.slice(0, i));
    if ((header.mode ?? 0) & SETID)
      problems.push({ name, why: `has the ${(header.mode ?? 0) & 0o4000 ? "setuid" : "setgid"} bit` });
    switch (header.type) {
      case "directory":
        folders.add(name);
        nodes.set(name, { type: "dir" });
        break;
      case "file":
      case "contiguous-file":
        nodes.set(name, { type: "file" });
        break;
      case "link": {
        const target = header.linkname ?? "";
        if (entryPathProblem(target) || !nodes.has(target.replace(/\/+$/, "")))
          problems.push({
            name,
            why: `is a hard link to ${target}, which is not an earlier file of the volume`,
          });
        nodes.set(name, { type: "file" });
        break;
      }
      case "symlink":
        nodes.set(name, { type: "link", target: header.linkname ?? "" });
        links.push({ path: name, target: header.linkname ?? "" });
        break;
      default:
        problems.push({ name, why: `is a ${header.type}, which sealift never puts in a volume` });
    }
  }
  const lookup = (rel: string): TreeNode =>
    nodes.get(rel) ?? (folders.has(rel) ? { type: "dir" } : undefined);
  for (const leaving of await linksLeaving(links, lookup))
    problems.push({
      name: leaving.link,
      why: `links to ${leaving.target}, which ${leaving.why}: it leaves the volume`,
    });
  return problems;
}
