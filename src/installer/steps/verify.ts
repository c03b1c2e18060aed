/** The verify step: the chain's head (or, with --verify-only, every byte). */
import path from "node:path";
import { type BundleSource } from "../../bundle/bundle-reader.js";
import { verifyBundle, verifyHead, type VerifiedBundle } from "../../bundle/verify.js";
import type { Reporter } from "../../report.js";
import { membersChecked } from "../read-checks.js";
import { type InstallOptions } from "./types.js";

export async function verify(
  source: BundleSource,
  reporter: Reporter,
  signal: AbortSignal,
  signature: InstallOptions["signature"],
  everything: boolean,
): Promise<VerifiedBundle> {
  if (!everything) {
    // The chain's head from the bundle's tail; every other file is checked as it is read, once.
    const status = reporter.status(`checking ${path.basename(source.location)}`);
    const head = await verifyHead(source, { signal, signature });
    if (head) {
      status.finish(
        `manifest and SHA256SUMS${head.signature.keyId ? `, signed by trusted key ${head.signature.keyId.slice(0, 16)}` : head.signature.signed ? "" : ", not signed"}; ${
          membersChecked(head)
            ? "every byte is checked as it is read (gzip members against the manifest's digests, files against SHA256SUMS)"
            : "each file is checked against SHA256SUMS as it is read"
        }`,
      );
      return head;
    }
    status.finish("a bundle without a tail index: checking every file first");
  }
  const progress = reporter.progress(
    `verifying ${path.basename(source.location)}`,
    await source.totalBytes(),
  );
  const verified = await verifyBundle(source, { signal, signature, onBytes: (b) => progress.update(b) });
  progress.finish(
    `${verified.filesChecked} files match SHA256SUMS${verified.sidecarChecked ? `, archive matches ${verified.source.expectedFrom}` : ""}` +
      (verified.signature.keyId
        ? `, signed by trusted key ${verified.signature.keyId.slice(0, 16)}`
        : verified.signature.signed
          ? ""
          : ", not signed"),
  );
  return verified;
}
