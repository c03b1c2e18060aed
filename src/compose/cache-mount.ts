/**
 * A BuildKit cache mount's content, moved out of or into an engine's builder: one helper build
 * that runs a shell command with the mount at /sealift-cache (and the build context at
 * /sealift-in), its /sealift-out exported as a folder. BuildKit keeps cache mounts in its own
 * store, reachable only from a build; the packer exports them, the installer imports them.
 */
import { randomBytes } from "node:crypto";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { buildImage } from "../docker/docker.js";
import type { DockerHost } from "../docker/docker-host.js";
import { mountSpec } from "./dockerfile.js";

/** A cache mount as a helper build needs it: its id, its options, the image whose tools run. */
export interface HelperMount {
  id: string;
  options: Record<string, string>;
  /** An image with sh and tar (the stage's own, or its base). */
  helper: string;
}

const CACHE = "/sealift-cache";
const IN = "/sealift-in";
const OUT = "/sealift-out";

/** Runs `command` in `mount.helper` with the cache mount at /sealift-cache; /sealift-out lands in `output`. */
async function helperBuild(
  host: DockerHost,
  mount: HelperMount,
  command: string,
  context: string,
  output: string,
  signal: AbortSignal,
): Promise<void> {
  await fs.mkdir(context, { recursive: true });
  await fs.writeFile(
    path.join(context, "Dockerfile"),
    [
      `FROM ${mount.helper} AS helper`,
      // A new nonce every time: this step must never come from the layer cache.
      "ARG SEALIFT_NONCE",
      `RUN --mount=${mountSpec(mount, CACHE)} --mount=type=bind,source=.,target=${IN} ` +
        `mkdir -p ${OUT} && echo "$SEALIFT_NONCE" > ${OUT}/nonce && ${command}`,
      // The final stage holds what the command wrote, so BuildKit runs it and exports that.
      "FROM scratch",
      `COPY --from=helper ${OUT}/ /`,
      "",
    ].join("\n"),
  );
  await buildImage(host, {
    context,
    tag: "",
    output: `type=local,dest=${output}`,
    args: { SEALIFT_NONCE: randomBytes(8).toString("hex") },
    signal,
  });
}

/** The mount's content on this engine, as `dir/out/cache.tar`, with how many entries it holds ("." counts one). */
export async function exportCacheMount(
  host: DockerHost,
  mount: HelperMount,
  dir: string,
  signal: AbortSignal,
): Promise<{ file: string; entries: number }> {
  const output = path.join(dir, "out");
  await helperBuild(
    host,
    mount,
    `tar -cf ${OUT}/cache.tar -C ${CACHE} . && tar -tf ${OUT}/cache.tar | wc -l > ${OUT}/entries`,
    path.join(dir, "context"),
    output,
    signal,
  );
  const file = path.join(output, "cache.tar");
  if (!existsSync(file)) throw new Error("the helper build wrote no cache.tar");
  const entries = Number(readFileSync(path.join(output, "entries"), "utf8").trim());
  return { file, entries };
}

/** Fills the mount on this engine from `tarFile` (moved into `dir`, which the build uses). */
export async function importCacheMount(
  host: DockerHost,
  mount: HelperMount,
  tarFile: string,
  dir: string,
  signal: AbortSignal,
): Promise<void> {
  const context = path.join(dir, "context");
  await fs.mkdir(context, { recursive: true });
  await fs.rename(tarFile, path.join(context, "cache.tar"));
  await helperBuild(
    host,
    mount,
    `tar -xf ${IN}/cache.tar -C ${CACHE}`,
    context,
    path.join(dir, "out"),
    signal,
  );
}
