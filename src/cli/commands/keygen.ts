/** `sealift keygen`: a key pair for signing bundles. */
import { Command } from "commander";
import path from "node:path";
import { generateKeys } from "../../bundle/signature.js";
import { SealiftError } from "../../errors.js";
import { keygenJsonSchema } from "../../packager/pack-json.js";
import { printJson } from "../options.js";
import { runMain } from "../run-main.js";

export function keygenCommand(): Command {
  return new Command("keygen")
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
            printJson(keygenJsonSchema, {
              ok: true,
              privateKey: privatePath,
              publicKey: publicPath,
              keyId: id,
            });
          else {
            process.stdout.write(
              `private key: ${privatePath} (mode 600: keep it on the build machine)\npublic key:  ${publicPath} (give it to operators: install --trust ${path.basename(publicPath)})\nkey id:      ${id}\n`,
            );
          }
        },
        { json: () => flags.json },
      );
    });
}
