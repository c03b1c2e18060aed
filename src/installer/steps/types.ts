/**
 * What the install's steps pass along (installer/install.ts runs them in order): the options, the
 * plan preflight makes, what the load and cache steps leave, what extract places. Each step imports
 * these from here, never from the orchestrator.
 */
import type { Journal, JournalStage } from "../journal.js";
import { type VerifiedBundle, type VerifyOptions } from "../../bundle/verify.js";
import type { Reporter } from "../../report.js";
import { type ComposeModel } from "../../compose/compose-project.js";
import { type ContainerState } from "../../docker/docker.js";
import { type DockerHost } from "../../docker/docker-host.js";
import { type AnswerFlags, type Answers } from "../answers.js";
import type { planImages } from "../image-loader.js";
import { type InstallRecord } from "../install-record.js";
import { type PromptIO } from "../prompts.js";
import type { saveRollbackPoint } from "../rollback.js";
import { type DataPlan } from "../data.js";
import type { InstallerSelf } from "../self.js";
import type { Check } from "../preflight.js";

export interface InstallOptions extends AnswerFlags {
  /**
   * Called once the journal has recorded each stage, before the stage's work: the install goes on
   * when it resolves (the command layer's test hold waits there, so that a kill lands in the stage).
   */
  onStage?: (stage: JournalStage) => Promise<void>;
  /** The archive or folder; default: the folder this installer binary sits in. */
  bundle?: string;
  verifyOnly: boolean;
  /** Check only (Ansible's check mode): verify and preflight, say whether the install would change anything, change nothing. */
  check?: boolean;
  /** Signature policy and trusted keys. */
  signature: NonNullable<VerifyOptions["signature"]>;
  force: boolean;
  /** Install a release packed before the one installed (refused otherwise: a replayed old release). */
  allowDowngrade?: boolean;
  timeoutMs: number;
  reporter: Reporter;
  signal: AbortSignal;
  io: PromptIO;
  /** This installer's own executable (the command layer hands it in). */
  self: InstallerSelf;
  /** How the checks and the plan reach the operator: the command layer words and draws them. */
  present: InstallPresenter;
}

/** What the install is about to do, for the operator's yes. */
export interface InstallIntent {
  manifest: VerifiedBundle["manifest"];
  answers: Answers;
  images: InstallPlan["images"];
  data: InstallPlan["data"];
  /** Installed and running with these settings already: only files that differ change. */
  asInstalled: boolean;
}

export interface InstallPresenter {
  /** The preflight's checks, once they are known (and at once when one fails before the questions). */
  checks(checks: readonly Check[]): void;
  /** Shows what the install will do and asks to go ahead (only without --yes and --answers). */
  confirm(intent: InstallIntent): Promise<boolean>;
}

export interface InstallResult {
  verified: VerifiedBundle;
  /** With check: whether an install would change anything here (false: installed and running as it would be). */
  check?: { changes: boolean };
  installed?: {
    dir: string;
    release: string;
    record: string;
    containers: ContainerState[];
    imagesLoaded: string[];
    imagesPresent: string[];
    durationMs: number;
    /**
     * Milliseconds per step: verify, preflight (with the questions), load (loadRegister: of it, what
     * docker load took after its input ended), compare (a re-install), cache, extract, up, fit.
     */
    stepsMs: Record<string, number>;
    /**
     * The release was installed and running with these settings, its files as the bundle has them:
     * nothing was changed (no compose up), the record kept.
     */
    unchanged: boolean;
  };
}

/** What preflight decided: the host, which images to load, the answers and the .env they make. */
export interface InstallPlan {
  host: DockerHost;
  images: Awaited<ReturnType<typeof planImages>>;
  answers: Answers;
  envText: string;
  /** The folder's install record when preflight read it (null: none, or damaged). */
  record: InstallRecord | null;
  /** The journal an interrupted install of this folder left (see journal.ts), or null. */
  interrupted: Journal | null;
  /** The data files to place and the volumes to fill (the rest is in place). */
  data: DataPlan;
  /**
   * This release is installed in the folder with the same settings and runs from the same images:
   * a re-install that changes nothing if the files match too (see keptAsIs). Its record.
   */
  asInstalled: InstallRecord | null;
}

/** What the load step leaves: the staged files, the images loaded, the record it found. */
export interface Loaded {
  staging: string;
  loaded: string[];
  previous: InstallRecord | null;
  /** A re-install of the installed release: its cache mounts are in the builder already. */
  reuseMounts: boolean;
  /** Of the step's time, what docker load took after its input ended (registering the layers). */
  registerMs: number;
}

/** What the extract step leaves: the project compose runs, its model, the record to write. */
export interface Placed {
  project: { name: string; dir: string; files: string[]; profiles: string[] };
  model: ComposeModel;
  record: Omit<InstallRecord, "status">;
  rollbackPoint: Awaited<ReturnType<typeof saveRollbackPoint>> | undefined;
}

/** What the cache step leaves: each image's ID on this host, and the build cache as recorded. */
export interface Cached {
  hostIds: Map<string, string>;
  cache: InstallRecord["cache"] | undefined;
}
