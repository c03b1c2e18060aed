/** The example app as a fresh git project under a unique name, so tests never collide. */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { BASE_IMAGE, projectImages, removeImages, removeProject } from "./docker.js";
import type { Manifest } from "../../src/bundle/manifest.js";
import { ROOT, run, sealift } from "./run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

/** Where scripts/ensure-arm64.sh keeps the arm64 sysroot and busybox (scripts/test.sh runs it). */
export const ARM64_ROOT = process.env.SEALIFT_ARM64_ROOT ?? "/var/lib/sealift/arm64";

export interface ExampleProject {
  dir: string;
  name: string;
  workdir: string;
  /** The engine it builds on (engineEnv), when not this machine's. */
  engine?: Record<string, string>;
  /** Removes its containers, volumes, networks, every image named after it, and its folder. */
  dispose(): Promise<void>;
}

async function git(dir: string, args: string[]): Promise<void> {
  const outcome = await run("git", [
    "-C",
    dir,
    "-c",
    "user.email=test@sealift",
    "-c",
    "user.name=sealift test",
    ...args,
  ]);
  if (outcome.code !== 0) throw new Error(`git ${args.join(" ")}: ${outcome.stderr}`);
}

/** Makes sure the example's offline base image exists (built FROM scratch with busybox). */
export async function ensureBaseImage(
  tag = BASE_IMAGE,
  label = "",
  engine?: Record<string, string>,
  /** linux/arm64: from Debian's arm64 busybox-static (scripts/ensure-arm64.sh fetched it). */
  platform?: string,
): Promise<void> {
  const outcome = await run("sh", [path.join(ROOT, "examples/llm-chat/make-base.sh"), tag, label], {
    env: {
      ...engine,
      ...(platform ? { PLATFORM: platform, BUSYBOX: path.join(ARM64_ROOT, "busybox") } : {}),
    },
  });
  if (outcome.code !== 0) throw new Error(`make-base.sh failed: ${outcome.stderr}`);
}

/** Replaces text in every file below dir. */
function replaceInTree(dir: string, from: string, to: string): void {
  for (const entry of readdirSync(dir)) {
    const file = path.join(dir, entry);
    if (statSync(file).isDirectory()) replaceInTree(file, from, to);
    else {
      const text = readFileSync(file, "utf8");
      if (text.includes(from)) writeFileSync(file, text.split(from).join(to));
    }
  }
}

/**
 * A copy of the example named NAME whose base image is NAME-base:1.36, labelled with NAME, and whose
 * cache mount ids start with NAME: every image it builds has IDs of its own, so a test can remove them all without touching anything
 * else on the engine (the demo's app, other tests).
 */
export async function exampleProject(
  prefix: string,
  /** Build on another engine (engineEnv of a field host) instead of this machine's. */
  engine?: Record<string, string>,
  options: {
    modelMib?: number;
    platform?: string;
    /**
     * Seconds each dependency "download" of the example's stand-in pip and npm takes on a cold
     * cache: 0.1 in the tests (they assert what was downloaded, not how long it took); the
     * benchmark passes the example's own (3 and 2 s) to measure what the build cache saves.
     */
    depsDelay?: { pip: number; npm: number } | "as-shipped";
  } = {},
): Promise<ExampleProject> {
  const workdir = mkdtempSync(path.join(os.tmpdir(), `sealift-${prefix}-`));
  const name = `sl${prefix}${Math.random().toString(36).slice(2, 7)}`;
  const dir = path.join(workdir, name);
  // The weights are made anew for each copy (small: 1 MiB by default), as ./make-models.sh does.
  cpSync(path.join(ROOT, "examples/llm-chat"), dir, {
    recursive: true,
    filter: (source) => !source.startsWith(path.join(ROOT, "examples/llm-chat/models")),
  });
  const models = await run("sh", [path.join(dir, "make-models.sh"), String(options.modelMib ?? 1)]);
  if (models.code !== 0) throw new Error(`make-models.sh failed: ${models.stderr}`);
  replaceInTree(dir, BASE_IMAGE, `${name}-base:1.36`);
  const delay = options.depsDelay ?? { pip: 0.1, npm: 0.1 };
  if (delay !== "as-shipped") {
    replaceInTree(dir, "FAKE_PIP_DELAY:-3", `FAKE_PIP_DELAY:-${delay.pip}`);
    replaceInTree(dir, "FAKE_NPM_DELAY:-2", `FAKE_NPM_DELAY:-${delay.npm}`);
  }
  // Cache mounts are keyed by id engine-wide: ids of its own keep its cache apart too.
  replaceInTree(dir, "id=llm-chat-", `id=${name}-`);
  await ensureBaseImage(`${name}-base:1.36`, name, engine, options.platform);
  await git(dir, ["init", "-q"]);
  await git(dir, ["add", "-A"]);
  await git(dir, ["commit", "-qm", "example"]);
  const dispose = async () => {
    await removeProject(name, engine);
    await removeImages(await projectImages(name, engine), engine);
    rmSync(workdir, { recursive: true, force: true });
  };
  return { dir, name, workdir, engine, dispose };
}

export async function commitChange(dir: string, file: string, content: string): Promise<void> {
  writeFileSync(path.join(dir, file), content);
  await git(dir, ["add", "-A"]);
  await git(dir, ["commit", "-qm", `change ${file}`]);
}

export interface PackedExample {
  archive: string;
  /** The archive extracted with the system tar, as an operator does from a USB stick. */
  bundleDir: string;
  manifest: Manifest;
}

/**
 * `sealift pack` of the example into WORKDIR/OUT with more ARGS (on its engine); throws on failure.
 * The archive, the release, the manifest in it, and what pack said on stderr.
 */
export async function packed(
  example: ExampleProject,
  out: string,
  args: string[] = [],
): Promise<{ archive: string; release: string; manifest: Manifest; stderr: string }> {
  const result = await sealift(
    ["pack", example.dir, "--out", path.join(example.workdir, out), "--json", ...args],
    { env: example.engine },
  );
  if (result.code !== 0) throw new Error(`pack failed (${result.code}):\n${result.stderr}`);
  const { archive, release } = parsePackJson(result.stdout);
  const manifest = await run("tar", ["xzOf", archive, `${path.basename(archive, ".tar.gz")}/manifest.json`]);
  return { archive, release, manifest: JSON.parse(manifest.stdout) as Manifest, stderr: result.stderr };
}

/**
 * `sealift pack` of the example (with more ARGS) into WORKDIR/dist, extracted into WORKDIR/usb
 * (with a label: dist-LABEL and usb-LABEL, for several releases of one day); throws on any failure.
 */
export async function packAndExtract(
  example: ExampleProject,
  label?: string,
  args: string[] = [],
): Promise<PackedExample> {
  const suffix = label ? `-${label}` : "";
  const { archive } = await packed(example, `dist${suffix}`, args);
  const usb = path.join(example.workdir, `usb${suffix}`);
  mkdirSync(usb, { recursive: true });
  const untar = await run("tar", ["xzf", archive, "-C", usb]);
  if (untar.code !== 0) throw new Error(`tar xzf ${archive}: ${untar.stderr}`);
  const bundleDir = path.join(usb, path.basename(archive, ".tar.gz"));
  const manifest = JSON.parse(readFileSync(path.join(bundleDir, "manifest.json"), "utf8")) as Manifest;
  return { archive, bundleDir, manifest };
}
