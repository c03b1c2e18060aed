/**
 * `sealift`: the packager's command table. Each command reads its flags and calls the core.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { SealiftError } from "../errors.js";
import path from "node:path";
import { openBundle } from "../bundle/bundle-reader.js";
import { parseSize } from "../bundle/parts.js";
import type { PackResult } from "../packager/pack.js";
import type { PackJson } from "../packager/pack-json.js";
import { verifyBundle } from "../bundle/verify.js";
import { generateKeys, loadPublicKey } from "../bundle/signature.js";
import { pack } from "../packager/pack.js";
import { describePlan, plan } from "../packager/plan.js";
import { detectComposeTool } from "../docker/docker-host.js";
import { formatBytes, formatDuration } from "../util/format.js";
import { TOOL_VERSION } from "../version.js";
import { Reporter } from "./reporter.js";
import { collect, runMain, runProgram } from "./run-main.js";

export const EXIT_CODES_HELP = `
Exit codes:
  0    done
  1    failed (a build, docker or compose command failed; the message names it)
  2    usage: bad flags, bad answers, or a project that cannot be packed as it is
  3    integrity: the bundle is damaged, incomplete or not a sealift bundle
  4    preflight: this host cannot run the app as it is (docker, disk, ports, architecture)
  130  cancelled (Ctrl-C or SIGTERM); nothing is left half-written`;

/** --verify always|if-signed|never, shared by `sealift verify` and the installer. */
export function verifyModeOption(defaultMode: "always" | "if-signed" = "if-signed"): Option {
  return new Option(
    "--verify <mode>",
    "signatures: always (refuse unsigned), if-signed (check when signed; with --trust or a built-in key a signature is required), never",
  )
    .choices(["always", "if-signed", "never"])
    .default(defaultMode);
}

const relative = (file: string) => path.relative(process.cwd(), file) || file;

function packSummary(result: PackResult): string {
  const top = path.basename(result.archive).replace(/\.tar\.gz.*$/, "");
  const lines = [
    `packed ${result.manifest.project.name} release ${result.release} in ${formatDuration(result.durationsMs.total)}`,
  ];
  if (result.parts) {
    lines.push(
      ...result.parts.map((p) => `  ${relative(p)}`),
      `  ${relative(result.archive)}  (${result.parts.length} parts, ${formatBytes(result.bytes)}, sha256 ${result.sha256})`,
      `  ${relative(result.sidecar)}  (sha256sum -c checks each part)`,
    );
  } else {
    lines.push(
      `  ${relative(result.archive)}  ${formatBytes(result.bytes)}`,
      `  ${relative(result.sidecar)}  (sha256 ${result.sha256})`,
    );
  }
  lines.push(...result.images.map((i) => `  ${i.service}: ${i.image} ${i.id.slice(7, 19)}`));
  const base = result.manifest.base;
  if (base)
    lines.push(
      `an update on top of release ${base.release}: ${base.layers.length} layers (${formatBytes(base.bytesLeftOut)}) left to it`,
    );
  const given = path.basename(result.archive);
  lines.push(
    result.manifest.installer.path === null
      ? `install it on a host with release ${base?.release}: /opt/${result.manifest.project.name}/.sealift/install ${given} (the installer the installation keeps)`
      : result.parts
        ? `install it on the target: cat ${top}.tar.gz.part* | tar xz ${top}/install && ./${top}/install ${given}`
        : `install it on the target: tar xzf ${given} && cd ${top} && ./install`,
  );
  return lines.join("\n") + "\n";
}

/** The options that name a project, the same for plan and pack: what compose reads, and the name. */
function projectOptions(command: Command): Command {
  return command
    .argument("[project-dir]", "the compose project's folder", ".")
    .option(
      "-f, --file <compose-file>",
      "compose file, relative to the project (repeatable; default: as compose picks)",
      collect,
    )
    .option(
      "-p, --profile <name>",
      "compose profile (repeatable; default: COMPOSE_PROFILES, else the services without profiles)",
      collect,
    )
    .option("-n, --name <name>", "bundle name (default: the compose project name)")
    .option(
      "--data <path>",
      "a file or folder of the project that is not in git (model weights...) to ship as data, placed at the same path on the target (repeatable; also x-sealift: {data: [...]} in the compose file)",
      collect,
    )
    .option(
      "--volume <name>",
      "a named volume (as the compose file names it) to ship with its content from this machine's engine; filled on the target only where it is missing or empty (repeatable; also x-sealift: {volumes: [...]})",
      collect,
    );
}

export function sealiftProgram(): Command {
  let json = false;
  const program = new Command("sealift")
    .description("Carry a docker-compose application across an air gap: pack it into one checksummed bundle.")
    .version(TOOL_VERSION)
    .exitOverride()
    .addHelpText("after", EXIT_CODES_HELP);

  projectOptions(program.command("plan"))
    .description(
      "Show what `pack` would do with the project, without building or saving: the project as compose " +
        "resolves it (services, images or builds, ports, volumes), what would be built, saved and shipped, " +
        "the build cache, the data not in git it ships (and what a bind mount needs that it would not), " +
        "the devices services reserve, the settings the installer asks for, lint warnings and host access.",
    )
    .option("--json", "print the plan as JSON on stdout", false)
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (projectDir: string, flags, command: Command) => {
      json = flags.json;
      await runMain(
        async ({ signal }) => {
          const tool = await detectComposeTool(signal);
          const result = await plan(tool, projectDir, {
            environment: process.env,
            files: flags.file,
            profiles: flags.profile,
            name: flags.name,
            data: flags.data,
            volumes: flags.volume,
            signal,
          });
          process.stdout.write(flags.json ? JSON.stringify(result) + "\n" : describePlan(result));
        },
        { json: () => command.opts().json },
      );
    });

  projectOptions(program.command("pack"))
    .description(
      "Build and save the project's images, add its source and compose files, and write " +
        "DIR/NAME-complete-YYYYMMDD.tar.gz with its .sha256 (with --base, an update NAME-delta-YYYYMMDD.tar.gz " +
        "that carries only what changed; with --split, parts). Never pulls unless --pull.",
    )
    .option("-o, --out <dir>", "where to write the bundle", "dist")
    .option(
      "--output-template <template>",
      'file name without .tar.gz; {name} and {date} are replaced (default: "{name}-complete-{date}", with --base "{name}-delta-{date}")',
    )
    .option(
      "--base <previous>",
      "write a delta: leave out the layers, cache mounts and installer that this earlier release (its bundle, parts' index, folder or manifest.json) already brought",
    )
    .option(
      "--platform <platform>",
      "build and ship the app for linux/amd64 or linux/arm64 (another CPU than this machine's needs BuildKit and QEMU's binfmt handler, e.g. Debian's qemu-user-static); the bundle carries that platform's installer (default: this engine's platform)",
    )
    .option("--allow-dirty", "pack uncommitted changes (the manifest records it)", false)
    .option("--pull", "pull `image:` services missing on this machine (default: refuse)")
    .option("--no-cache", "leave the build cache out (stage images and RUN --mount=type=cache contents)")
    .option(
      "--strict",
      "warnings about what would not work offline are errors: Dockerfile lint, data not shipped, cache-export problems",
      false,
    )
    .option("--sign <key-file>", "sign manifest.json with this private key (sealift keygen)")
    .option("--installer <file>", "installer binary to ship (default: build/sealift-install-linux-ARCH)")
    .addOption(
      new Option(
        "--gzip-level <n>",
        "gzip level, 1 (fast) to 9 (small); 4 is within 1% of gzip -6's size on image data, and faster than 5",
      )
        .default(4)
        .argParser((v) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1 || n > 9)
            throw new InvalidArgumentError("takes a whole number from 1 to 9");
          return n;
        }),
    )
    .addOption(
      new Option(
        "--split <size>",
        "write parts of at most SIZE (K, M, G units; e.g. 3900M for FAT32) plus NAME.tar.gz.index.json",
      ).argParser(parseSize),
    )
    .option("-y, --yes", "do not ask anything (pack never asks today; accepted for scripts)", false)
    .option("--json", "print a machine-readable summary on stdout", false)
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (projectDir: string, flags, command: Command) => {
      json = flags.json;
      await runMain(
        async ({ signal }) => {
          const reporter = new Reporter(process.stderr, flags.json);
          const result = await pack({
            environment: process.env,
            projectDir,
            composeFiles: flags.file,
            profiles: flags.profile,
            outDir: flags.out,
            name: flags.name,
            outputTemplate: flags.outputTemplate,
            allowDirty: flags.allowDirty,
            pull: !!flags.pull,
            cache: flags.cache,
            strict: flags.strict,
            installer: flags.installer,
            sign: flags.sign,
            gzipLevel: flags.gzipLevel,
            splitBytes: flags.split,
            base: flags.base,
            data: flags.data,
            volumes: flags.volume,
            platform: flags.platform,
            reporter,
            signal,
          });
          if (flags.json) {
            const document: PackJson = {
              ok: true,
              archive: result.archive,
              sidecar: result.sidecar,
              ...(result.parts ? { parts: result.parts } : {}),
              bytes: result.bytes,
              sha256: result.sha256,
              release: result.release,
              images: result.images,
              durationsMs: result.durationsMs,
              warnings: [...reporter.warnings],
            };
            process.stdout.write(JSON.stringify(document) + "\n");
          } else {
            process.stdout.write(packSummary(result));
          }
        },
        { json: () => command.opts().json },
      );
    });

  program
    .command("keygen")
    .description(
      "Make an ed25519 key pair for signing bundles: NAME.key (private, keep it safe) and NAME.pub (give it to operators).",
    )
    .option("-o, --out <dir>", "where to write the keys", ".")
    .option("-n, --name <name>", "file name without extension", "sealift")
    .option("--json", "machine-readable output", false)
    .action(async (flags) => {
      await runMain(
        async () => {
          if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(flags.name))
            throw new SealiftError("USAGE", `--name ${JSON.stringify(flags.name)} is not a file name`, {
              hint: "give a name of letters, digits, . _ and - (the folder goes in --out)",
            });
          const privatePath = path.resolve(flags.out, `${flags.name}.key`);
          const publicPath = path.resolve(flags.out, `${flags.name}.pub`);
          const id = await generateKeys(privatePath, publicPath);
          if (flags.json)
            process.stdout.write(
              JSON.stringify({ ok: true, privateKey: privatePath, publicKey: publicPath, keyId: id }) + "\n",
            );
          else {
            process.stdout.write(
              `private key: ${privatePath} (mode 600: keep it on the build machine)\npublic key:  ${publicPath} (give it to operators: install --trust ${path.basename(publicPath)})\nkey id:      ${id}\n`,
            );
          }
        },
        { json: () => flags.json },
      );
    });

  program
    .command("verify")
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
      json = flags.json;
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
        { json: () => json },
      );
    });
  return program;
}

/** Entry point: a usage error from commander gets the same treatment as any other error. */
export async function main(argv: string[]): Promise<void> {
  await runProgram(sealiftProgram(), argv);
}
