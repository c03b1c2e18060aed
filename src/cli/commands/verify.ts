/** `sealift verify`: the chain checked, nothing changed. */
import { Command } from "commander";
import { openBundle } from "../../bundle/bundle-reader.js";
import { loadPublicKey } from "../../bundle/signature.js";
import { verifyBundle } from "../../bundle/verify.js";
import { formatBytes } from "../../util/format.js";
import { EXIT_CODES_HELP, verifyModeOption } from "../options.js";
import { collect, runMain } from "../run-main.js";

export function verifyCommand(): Command {
  return new Command("verify")
    .description(
      "Check a bundle (archive or extracted folder): checksums, manifest, every file; change nothing.",
    )
    .argument("<bundle>", "NAME-complete-YYYYMMDD.tar.gz or its extracted folder")
    .option(
      "--trust <public-key>",
      "a public key (sealift keygen) whose signature is accepted (repeatable)",
      collect,
      [],
    )
    .addOption(verifyModeOption())
    .option("--json", "print a machine-readable report on stdout", false)
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (bundle: string, flags) => {
      await runMain(
        async ({ signal }) => {
          const verified = await verifyBundle(await openBundle(bundle), {
            signal,
            signature: { mode: flags.verify, trusted: (flags.trust as string[]).map(loadPublicKey) },
          });
          const m = verified.manifest;
          if (flags.json) {
            process.stdout.write(
              JSON.stringify({
                ok: true,
                project: m.project.name,
                release: m.project.release,
                manifestSha256: verified.manifestDigest,
                archiveSha256: verified.archiveSha256 ?? null,
                sidecarChecked: verified.sidecarChecked,
                signedBy: verified.signature.keyId ?? null,
                filesChecked: verified.filesChecked,
                bytesChecked: verified.bytesChecked,
              }) + "\n",
            );
          } else {
            process.stdout.write(
              `ok: ${m.project.name} release ${m.project.release}: ${verified.filesChecked} files (${formatBytes(verified.bytesChecked)}) match SHA256SUMS and the manifest` +
                (verified.sidecarChecked ? `; the archive matches ${verified.source.expectedFrom}` : "") +
                (verified.signature.keyId
                  ? `; signed by key ${verified.signature.keyId.slice(0, 16)}`
                  : "; not signed") +
                "\n",
            );
          }
        },
        { json: () => flags.json },
      );
    });
}
