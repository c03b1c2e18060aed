/** What a rollout passes along: the bundle as prepared, the options, each host's result. */
import { type Manifest } from "../bundle/manifest.js";
import { type SshOptions } from "./ssh.js";
import type { VerifyMode } from "../bundle/signature.js";
import type { HostOutcome, HostResult } from "./rollout-json.js";

export type { HostOutcome, HostResult };

/** The outcomes of a host that did what was asked. */
export const DONE_OUTCOMES: readonly HostOutcome[] = ["installed", "already", "copied"];

export interface RolloutBundle {
  /** The archive (or a split bundle's index) on this machine; checked once before anything is sent. */
  archive: string;
  /** The archive's sha256 (the .sha256 line written beside it on each host). */
  sha256: string;
  /** The files each host is sent, as they are: the archive, or the parts with their index and sums. */
  files: Array<{ local: string; sha256: string }>;
  manifest: Manifest;
  /** This installer binary, to run on the hosts, and its sha256. */
  installer: string;
  installerSha256: string;
  /**
   * Where the archive holds this very installer as whole gzip members (manifest.storedMembers): a
   * host that has the archive cuts it out with tail, head and gunzip instead of being sent it.
   */
  installerInArchive: { offset: number; length: number } | null;
}

export interface RolloutOptions {
  /** Install folder on the hosts (default /opt/NAME). */
  dir: string | null;
  /** Folder on the hosts where bundles are kept (relative: under the login's home). */
  staging: string;
  parallel: number;
  /** Batch sizes: numbers or "N%"; the last repeats (Ansible's serial). */
  serial: string[];
  /** Stop when more hosts than this have failed (a number or "N%"). */
  maxFail: string | null;
  /** Settings for every host (--set, --answers), under the host's own. */
  settings: Record<string, string>;
  /** The answers file's importCache and keepEnv (null: the installer's default). */
  importCache: boolean | null;
  keepEnv: boolean | null;
  ssh: SshOptions;
  /** Hosts that hold the bundle pass it on to the others (relay.ts); false: the operator sends every copy. */
  relay: boolean;
  timeoutSeconds: number;
  /**
   * The signature policy each host's installer applies, as the operator gave it here: the mode and
   * the trusted public keys (PEM), sent to each host beside the bundle.
   */
  verification: { mode: VerifyMode; trustedKeys: string[] };
  /** Install over a newer release (each host's installer refuses a downgrade otherwise). */
  allowDowngrade: boolean;
  /** Only put the bundle on each host (relayed), install nothing: what the Ansible role asks for. */
  copyOnly: boolean;
  onProgress?: (host: string, step: string, bytesSent: number) => void;
  /** Ctrl-C: no new host is started; the ones running finish (or roll back) and are reported. */
  signal: AbortSignal;
}

/** The gzip'd installer, made the first time a host needs it sent, once per rollout. */
export interface InstallerCopy {
  get(): Promise<{ file: string; sha256: string }>;
  dispose(): Promise<void>;
}

/** A host's result before anything happened: what a host never attempted is reported as. */
export function hostResult(
  host: { name: string; address: string },
  outcome: HostOutcome,
  step: string,
): HostResult {
  return {
    host: host.name,
    address: host.address,
    outcome,
    release: null,
    exitCode: null,
    error: null,
    bytesSent: 0,
    copiedFrom: null,
    durationMs: 0,
    step,
  };
}
