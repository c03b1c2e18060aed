/**
 * What the pack's steps pass along (packager/pack.ts runs them in order): the options, the project
 * as read, what the build leaves, where the archive goes, the cache. Steps import these from here.
 */
import { type Manifest } from "../../bundle/manifest.js";
import type { Reporter } from "../../report.js";
import { type ComposeModel, type ProjectVariable } from "../../compose/compose-project.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { type MountArchive, type StageImage } from "../build-cache.js";
import { type ResolvedService } from "../images.js";
import type { readBase } from "../delta.js";
import type { loadPrivateKey } from "../../bundle/signature.js";
import type { inspectGit } from "../source.js";
import { type DataSelection, type VolumeArchive } from "../data.js";

export interface PackOptions {
  projectDir: string;
  /** -f files, relative to the project folder; default: the ones compose would pick. */
  composeFiles?: string[];
  /** --profile names; default COMPOSE_PROFILES (environment, then .env). */
  profiles?: string[];
  /** Output folder; default ./dist. */
  outDir: string;
  /** Bundle name; default the compose project name. */
  name?: string;
  /** File name template; default "{name}-complete-{date}" ("{name}-delta-{date}" with a base). */
  outputTemplate?: string;
  allowDirty: boolean;
  pull: boolean;
  /** Ship the build cache (stage images and cache mounts); default true. */
  cache?: boolean;
  /** Lint warnings and cache-export problems become errors. */
  /** The release engineer's environment, which compose reads as in their shell (COMPOSE_FILE, interpolation). */
  environment?: Readonly<Record<string, string | undefined>>;
  strict?: boolean;
  /** A private key file (sealift keygen) to sign manifest.json with. */
  sign?: string;
  /** An installer binary to ship instead of build/sealift-install-linux-ARCH. */
  installer?: string;
  gzipLevel?: number;
  /** The platform to build for and ship (linux/amd64 or linux/arm64); default this engine's. */
  platform?: string;
  /** Files and folders of the project that travel as data (besides x-sealift.data). */
  data?: string[];
  /** Named volumes (compose file keys) that travel with their content (besides x-sealift.volumes). */
  volumes?: string[];
  /** An earlier release (bundle, parts' index, folder or manifest.json): write a delta on top of it. */
  base?: string;
  /** Write the archive as parts of at most this many bytes, with an index (see bundle/parts.ts). */
  splitBytes?: number;
  reporter: Reporter;
  signal: AbortSignal;
  /** The clock, for tests; default now. */
  now?: Date;
}

export interface PackResult {
  /** The .tar.gz; for a split bundle, the parts' index (what the installer takes). */
  archive: string;
  /** NAME.tar.gz.sha256; for a split bundle, NAME.tar.gz.SHA256SUMS. */
  sidecar: string;
  /** The part files of a split bundle, in order. */
  parts?: string[];
  bytes: number;
  sha256: string;
  release: string;
  images: Array<{ service: string; image: string; id: string }>;
  durationsMs: { build: number; write: number; total: number };
  manifest: Manifest;
}

/** The project as compose resolves it, its settings, git state, lint, and the base release. */
export interface Project {
  host: DockerHost;
  dir: string;
  model: ComposeModel;
  variables: ProjectVariable[];
  composeReads: string[];
  name: string;
  git: Awaited<ReturnType<typeof inspectGit>>;
  signer: ReturnType<typeof loadPrivateKey> | undefined;
  base: Awaited<ReturnType<typeof readBase>> | undefined;
  /** Data not in git that travels (files, volumes). */
  data: DataSelection;
  release: string;
  now: Date;
}

/** What the build step leaves: the services' images on this machine, and the installer to ship. */
export interface Built {
  resolved: ResolvedService[];
  arch: string;
  installer: string;
  installerSize: number;
}

/** Where the archive goes: its final name, its partial name, its sidecar. */
export interface Target {
  outDir: string;
  topDir: string;
  archive: string;
  sidecar: string;
  partial: string;
}

/** The build cache (stage images, cache mounts) and the volumes' content, ready to be written. */
export interface Cache {
  stageImages: StageImage[];
  mounts: MountArchive[];
  volumes: VolumeArchive[];
}
