/**
 * What is installed in the folder now, as the preflight and compare steps both ask it: the record,
 * whether this release runs from this folder as installed, and where each staged file goes.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { COMPOSE_DIR, ENV_TEMPLATE_PATH, OVERRIDE_FILE, OVERRIDE_PATH } from "../../bundle/layout.js";
import { type VerifiedBundle } from "../../bundle/verify.js";
import { projectContainers, type ContainerState } from "../../docker/docker.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { type Answers } from "../answers.js";
import { isReady } from "../health.js";
import type { Manifest } from "../../bundle/manifest.js";
import { RECORD_DIR, readRecord, type InstallRecord } from "../install-record.js";
import { type InstallPlan } from "./types.js";

/** The install record, or null where there is none or it is damaged (the install writes it anew). */
export function readRecordQuietly(dir: string): InstallRecord | null {
  try {
    return readRecord(dir);
  } catch {
    return null;
  }
}

/**
 * The record, when this very release is installed in the folder with the same answers (the same
 * .env, the same build cache choice), every image present with its ID and every service running
 * (healthy where it has a check) from that image, started from this folder; else null.
 */
export async function runningAsInstalled(
  host: DockerHost,
  verified: VerifiedBundle,
  /** The folder's install record as preflight read it (null: none, or damaged). */
  record: InstallRecord | null,
  answers: Answers,
  envText: string,
  images: InstallPlan["images"],
  signal: AbortSignal,
): Promise<InstallRecord | null> {
  const manifest = verified.manifest;
  if (
    record?.status !== "installed" ||
    record.manifestSha256 !== verified.manifestDigest ||
    record.answers.importCache !== answers.importCache ||
    images.missing.length > 0
  )
    return null;
  const env = await fs.readFile(path.join(answers.dir, ".env"), "utf8").catch(() => null);
  if (env !== envText) return null;
  return (await runningFromFolder(host, manifest, images, answers.dir, signal)) ? record : null;
}

/**
 * The project's containers, when every service runs (healthy where it has a check) from the image
 * preflight found for it and was started from `dir`; else null.
 */
export async function runningFromFolder(
  host: DockerHost,
  manifest: Manifest,
  images: InstallPlan["images"],
  dir: string,
  signal: AbortSignal,
): Promise<ContainerState[] | null> {
  const containers = (await projectContainers(host, manifest.project.name, signal)).filter((c) =>
    manifest.services.some((s) => s.name === c.service),
  );
  const runs = (service: Manifest["services"][number]) =>
    containers.some(
      (c) =>
        c.service === service.name &&
        isReady(c) &&
        c.imageId === images.found.get(service.image)?.id &&
        (c.workingDir === null || path.resolve(c.workingDir) === path.resolve(dir)),
    );
  return manifest.services.every(runs) ? containers : null;
}

/** The staged files the install places besides the source, each with where it goes. */
export function stagedPlacements(
  manifest: Manifest,
  staging: string,
  dir: string,
): Array<[staged: string, placed: string]> {
  const placements: Array<[string, string]> = manifest.project.composeFiles.map((f) => [
    path.join(staging, COMPOSE_DIR, f),
    path.join(dir, f),
  ]);
  placements.push([path.join(staging, OVERRIDE_PATH), path.join(dir, OVERRIDE_FILE)]);
  if (manifest.project.envTemplate)
    placements.push([path.join(staging, ENV_TEMPLATE_PATH), path.join(dir, RECORD_DIR, "env.template")]);
  return placements;
}
