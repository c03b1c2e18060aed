/** Before any host: the bundle verified once, what to send, this installer and its digest. */
import { sha256File } from "../util/hash-tap.js";
import { existsSync } from "node:fs";
import path from "node:path";
import { openBundle } from "../bundle/bundle-reader.js";
import { PARTS_SUMS_SUFFIX, readPartsIndex } from "../bundle/parts.js";
import { storedMembers } from "../bundle/manifest.js";
import { verifyBundle, type VerifyOptions } from "../bundle/verify.js";
import { SealiftError } from "../errors.js";
import { type RolloutBundle } from "./rollout-types.js";

/**
 * The bundle to roll out, checked once here before anything is sent (a damaged one: exit 3), with
 * the archive's sha256 (its .sha256 when beside it and matching, else computed).
 */
export async function prepareRollout(
  archive: string,
  options: {
    /** The compiled installer running this rollout (it is what each host gets); null when not one. */
    installer: string | null;
    signal: AbortSignal;
    signature?: VerifyOptions["signature"];
  },
): Promise<RolloutBundle> {
  const installer = options.installer;
  if (!installer)
    throw new SealiftError(
      "USAGE",
      "install rollout runs from the compiled installer (the `install` binary of a bundle)",
      {
        hint: "run ./install rollout from an extracted bundle, or the installer kept in /opt/NAME/.sealift/",
      },
    );
  const source = await openBundle(path.resolve(archive));
  if (source.kind === "directory")
    throw new SealiftError(
      "USAGE",
      `${archive} is a folder; rollout sends the archive (or the parts) as packed`,
      {
        hint: "give NAME-complete-YYYYMMDD.tar.gz, or a split bundle's NAME.tar.gz.index.json",
      },
    );
  const verified = await verifyBundle(source, {
    signal: options.signal,
    ...(options.signature ? { signature: options.signature } : {}),
  });
  const installerSha256 = await sha256File(installer);
  if (source.kind === "parts") {
    // The parts as they are, with their index and sums: each host joins them as the installer reads.
    const { index, dir } = readPartsIndex(source.location);
    const sums = `${path.join(dir, index.archive)}${PARTS_SUMS_SUFFIX}`;
    const files = [
      ...index.parts.map((p) => ({ local: path.join(dir, p.name), sha256: p.sha256 })),
      { local: source.location, sha256: await sha256File(source.location) },
      ...(existsSync(sums) ? [{ local: sums, sha256: await sha256File(sums) }] : []),
    ];
    return {
      archive: source.location,
      sha256: index.sha256,
      files,
      manifest: verified.manifest,
      installer,
      installerSha256,
      installerInArchive: null, // the parts are joined only as the installer reads them
    };
  }
  const sha256 = verified.sidecarChecked ? source.expectedDigest()! : await sha256File(source.location);
  const shipped = verified.manifest.installer.path;
  // Only the very binary that runs this rollout is cut out of the bundle (the JSON it prints).
  const same =
    !!shipped && verified.manifest.files.find((f) => f.path === shipped)?.sha256 === installerSha256;
  return {
    archive: source.location,
    sha256,
    files: [{ local: source.location, sha256 }],
    manifest: verified.manifest,
    installer,
    installerSha256,
    installerInArchive: same ? storedMembers(verified.manifest, shipped) : null,
  };
}
