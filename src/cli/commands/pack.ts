/** `sealift pack`: the bundle (complete, delta or parts). */
import { Command, InvalidArgumentError, Option } from "commander";
import path from "node:path";
import { parseSize } from "../../bundle/parts.js";
import { pack, type PackResult } from "../../packager/pack.js";
import { packJsonSchema } from "../../packager/pack-json.js";
import { formatBytes, formatDuration } from "../../util/format.js";
import { EXIT_CODES_HELP, printJson, projectOptions } from "../options.js";
import { Reporter } from "../reporter.js";
import { runMain } from "../run-main.js";

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

export function packCommand(): Command {
  return projectOptions(new Command("pack"))
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
            printJson(packJsonSchema, {
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
            });
          } else {
            process.stdout.write(packSummary(result));
          }
        },
        { json: () => command.opts().json },
      );
    });
}
