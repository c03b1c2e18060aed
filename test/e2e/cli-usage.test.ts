/**
 * Fat fingers and hostile files, through both CLIs as users run them (the compiled installer with
 * no Node, sealift with Node): every bad value of every command gets its documented exit code, a
 * message that says what is wrong and a hint, once, never a stack trace, `INTERNAL` or commander's
 * raw words; with --json, one JSON line on stdout. Inputs are checked before the engine is asked:
 * these run with DOCKER_HOST pointing at nothing, and still get their usage error (exit 2, not 4).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Command } from "commander";
import { installProgram } from "../../src/cli/install.js";
import { sealiftProgram } from "../../src/cli/sealift.js";
import { failureJsonSchema } from "../../src/installer/install-json.js";
import { writeBundle } from "../helpers/bundles.js";
import { INSTALLER, installer, sealift, type Outcome } from "../helpers/run.js";

const NO_ENGINE = { DOCKER_HOST: "unix:///nonexistent/docker.sock" };

function assertUsage(outcome: Outcome, code: number, message: RegExp, what: string): void {
  assert.equal(outcome.code, code, `${what}: exit ${outcome.code}\n${outcome.stderr}`);
  assert.match(outcome.stderr, message, what);
  assert.match(outcome.stderr, /^hint: /m, `${what}: a hint`);
  assert.doesNotMatch(outcome.stderr, /INTERNAL|\n\s+at .*\(.*:\d+:\d+\)/, `${what}: no stack trace`);
  assert.equal(outcome.stderr.match(/^error/gm)?.length, 1, `${what}: said once`);
}

describe("every command, a bad value for each option: a documented exit code and message, no stack trace", () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-usage-"));
  const bundle = path.join(workdir, "demo-complete-20260101.tar.gz");
  const inventory = path.join(workdir, "hosts.ini");
  after(() => rmSync(workdir, { recursive: true, force: true }));

  before(async () => {
    await writeBundle(bundle);
    writeFileSync(inventory, "[edge]\nh1 ansible_host=10.77.0.99\n");
    writeFileSync(path.join(workdir, "junk.yaml"), "just a string\n");
    writeFileSync(path.join(workdir, "big.yaml"), `env:\n  KEY: "${"x".repeat(2 * 1024 * 1024)}"\n`);
    mkdirSync(path.join(workdir, "dir.tar.gz.sha256"), { recursive: true });
    writeFileSync(path.join(workdir, "dir.tar.gz"), "");
  });

  const installerCases: Array<[string, string[], number, RegExp]> = [
    [
      "install --timeout -5",
      ["--timeout", "-5", "x.tar.gz"],
      2,
      /error\[USAGE\]: option '--timeout <seconds>' argument '-5' is invalid/,
    ],
    ["install --bogus", ["--bogus"], 2, /error\[USAGE\]: unknown option '--bogus'/],
    [
      "install --verify-only with a junk answers file",
      ["BUNDLE", "--verify-only", "--answers", "WORK/junk.yaml"],
      2,
      /error\[ANSWERS_INVALID\]: .*junk\.yaml: \(top level\)/,
    ],
    [
      "install --verify-only --set broken",
      ["BUNDLE", "--verify-only", "--set", "broken"],
      2,
      /error\[ANSWERS_INVALID\]: --set broken: expected KEY=VALUE/,
    ],
    [
      "install --set of an unknown setting, no engine",
      ["BUNDLE", "--yes", "--set", "TYPO_PORT=1"],
      2,
      /error\[ANSWERS_INVALID\]: --set: TYPO_PORT is not a setting of demo/,
    ],
    [
      "install --set of a 100 KB value",
      ["BUNDLE", "--yes", "--set", `K=${"v".repeat(100 * 1024)}`],
      2,
      /--set: K is 102400 bytes long; a setting is at most 64 KiB/,
    ],
    [
      "install --answers of 2 MB",
      ["BUNDLE", "--yes", "--answers", "WORK/big.yaml"],
      2,
      /error\[ANSWERS_INVALID\]: the answers file .*big\.yaml is 2\.0 MiB, more than the 1\.0 MiB it may be/,
    ],
    [
      "install with a .sha256 that is a folder",
      ["WORK/dir.tar.gz", "--verify-only"],
      3,
      /the checksum file .*dir\.tar\.gz\.sha256 is a folder/,
    ],
    ["status --bogus", ["status", "--bogus"], 2, /unknown option '--bogus'/],
    ["rebuild --timeout x", ["rebuild", "--timeout", "x"], 2, /argument 'x' is invalid/],
    ["rollout without a bundle", ["rollout"], 2, /error\[USAGE\]: missing required argument 'bundle'/],
    ["rollout --nope", ["rollout", "x.tar.gz", "--nope"], 2, /unknown option '--nope'/],
    [
      "rollout --parallel 0",
      ["rollout", "x.tar.gz", "--hosts", "WORK/hosts.ini", "--parallel", "0"],
      2,
      /'--parallel <n>' argument '0' is invalid/,
    ],
    [
      "rollout --serial abc",
      ["rollout", "x.tar.gz", "--hosts", "WORK/hosts.ini", "--serial", "abc"],
      2,
      /'--serial <n\|p%>' argument 'abc' is invalid/,
    ],
    [
      "rollout --serial 0",
      ["rollout", "x.tar.gz", "--hosts", "WORK/hosts.ini", "--serial", "0"],
      2,
      /'--serial <n\|p%>' argument '0' is invalid\. a batch holds at least 1 host/,
    ],
    [
      "rollout --max-fail 200%",
      ["rollout", "x.tar.gz", "--hosts", "WORK/hosts.ini", "--max-fail", "200%"],
      2,
      /argument '200%' is invalid/,
    ],
    [
      "rollout --limit ''",
      ["rollout", "BUNDLE", "--hosts", "WORK/hosts.ini", "--limit", ""],
      2,
      /--limit is empty/,
    ],
    [
      "rollout --limit of an unknown host",
      ["rollout", "BUNDLE", "--hosts", "WORK/hosts.ini", "--limit", "h1,nosuch"],
      2,
      /no hosts matched "nosuch"/,
    ],
    [
      "rollout --set of an unknown setting: refused before anything is sent",
      ["rollout", "BUNDLE", "--hosts", "WORK/hosts.ini", "--set", "TYPO_PORT=1"],
      2,
      /TYPO_PORT is not a setting of demo/,
    ],
    [
      "rollout status without --dir",
      ["rollout", "status", "--hosts", "WORK/hosts.ini"],
      2,
      /required option '-d, --dir <dir>' not specified/,
    ],
  ];
  for (const [what, args, code, message] of installerCases)
    test(`installer: ${what}`, async () => {
      const argv = args.map((a) => (a === "BUNDLE" ? bundle : a.replace("WORK/", `${workdir}/`)));
      assertUsage(await installer(INSTALLER, argv, { env: NO_ENGINE }), code, message, what);
    });

  test("installer: rejects-ssh-option-injection: an inventory host that ssh would read as an option runs nothing", async () => {
    const marker = path.join(workdir, "injected");
    const hostile = path.join(workdir, "hostile.ini");
    writeFileSync(hostile, `[edge]\nh1 ansible_host='-oProxyCommand=touch ${marker}'\n`);
    const outcome = await installer(INSTALLER, ["rollout", bundle, "--hosts", hostile], { env: NO_ENGINE });
    assertUsage(outcome, 2, /hostile\.ini:2: host h1: ansible_host .* begins with "-"/, "hostile inventory");
    assert.equal(existsSync(marker), false);
  });

  test("installer: --json gives one JSON line on stdout for a usage error", async () => {
    const outcome = await installer(INSTALLER, [
      "rollout",
      "x.tar.gz",
      "--hosts",
      inventory,
      "--parallel",
      "0",
      "--json",
    ]);
    assert.equal(outcome.code, 2);
    const lines = outcome.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const json = failureJsonSchema.parse(JSON.parse(lines[0]!));
    assert.deepEqual([json.ok, json.error.code, json.error.exitCode], [false, "USAGE", 2]);
    assert.ok(json.error.hint);
  });

  const sealiftCases: Array<[string, string[], number, RegExp]> = [
    [
      "pack --gzip-level 12",
      ["pack", "--gzip-level", "12"],
      2,
      /'--gzip-level <n>' argument '12' is invalid/,
    ],
    ["pack --split 1", ["pack", "--split", "1"], 2, /"1" is not a part size sealift can use/],
    ["pack --bogus", ["pack", "--bogus"], 2, /unknown option '--bogus'/],
    ["verify without a bundle", ["verify"], 2, /missing required argument/],
    ["verify of a file that is not there", ["verify", "WORK/none.tar.gz"], 3, /none\.tar\.gz/],
    ["keygen --bogus", ["keygen", "--bogus"], 2, /unknown option/],
  ];
  for (const [what, args, code, message] of sealiftCases)
    test(`sealift: ${what}`, async () => {
      const argv = args.map((a) => a.replace("WORK/", `${workdir}/`));
      assertUsage(await sealift(argv, { env: NO_ENGINE }), code, message, what);
    });
});

describe("every file a command reads, given /dev/zero, a FIFO, a folder or an oversized file: exit 2 at once", () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-files-"));
  const bundle = path.join(workdir, "demo-complete-20260101.tar.gz");
  const inventory = path.join(workdir, "hosts.ini");
  const specials: Record<string, string> = {
    "/dev/zero": "/dev/zero",
    FIFO: path.join(workdir, "fifo"),
    folder: path.join(workdir, "a-folder"),
    "an oversized file": path.join(workdir, "huge"),
  };
  before(async () => {
    await writeBundle(bundle);
    writeFileSync(inventory, "[edge]\nh1 ansible_host=10.77.0.99\n");
    execFileSync("mkfifo", [specials.FIFO!]);
    mkdirSync(specials.folder!);
    // Sparse: 64 MiB on paper, larger than any of these files may be, nothing on disk.
    execFileSync("truncate", ["-s", "64M", specials["an oversized file"]!]);
  });
  after(() => rmSync(workdir, { recursive: true, force: true }));

  const uses: Array<[string, (file: string) => string[], "installer" | "sealift"]> = [
    ["install --trust", (f) => [bundle, "--verify-only", "--trust", f], "installer"],
    ["install --answers", (f) => [bundle, "--yes", "--answers", f], "installer"],
    ["install rollout --hosts", (f) => ["rollout", bundle, "--hosts", f], "installer"],
    ["install rollout --trust", (f) => ["rollout", bundle, "--hosts", inventory, "--trust", f], "installer"],
    [
      "install rollout --answers",
      (f) => ["rollout", bundle, "--hosts", inventory, "--answers", f],
      "installer",
    ],
    ["sealift verify --trust", (f) => ["verify", bundle, "--trust", f], "sealift"],
  ];
  for (const [what, argv, cli] of uses)
    test(`rejects-special-file: ${what}`, async () => {
      for (const [kind, file] of Object.entries(specials)) {
        const started = performance.now();
        const outcome =
          cli === "installer"
            ? await installer(INSTALLER, argv(file), { env: NO_ENGINE, timeoutMs: 20_000 })
            : await sealift(argv(file), { env: NO_ENGINE, timeoutMs: 20_000 });
        const seconds = (performance.now() - started) / 1000;
        assertUsage(
          outcome,
          2,
          /error\[[A-Z_]+\]: the (key|answers file|inventory) .* (is not a regular file|is a folder|is 64\.0 MiB, more than)/,
          `${what} ${kind}`,
        );
        assert.ok(seconds < 10, `${what} ${kind}: ended in ${seconds.toFixed(1)} s`);
      }
    });

  test("rejects-special-file: a .sha256 beside the archive that is a FIFO or /dev/zero", async () => {
    for (const target of ["/dev/zero", specials.FIFO!]) {
      const copy = path.join(workdir, `side-${path.basename(target)}.tar.gz`);
      execFileSync("cp", [bundle, copy]);
      rmSync(`${copy}.sha256`, { force: true });
      execFileSync("ln", ["-s", target, `${copy}.sha256`]);
      const outcome = await installer(INSTALLER, [copy, "--verify-only"], {
        env: NO_ENGINE,
        timeoutMs: 20_000,
      });
      assertUsage(outcome, 3, /the checksum file .* is not a regular file/, `.sha256 -> ${target}`);
    }
  });
});

/** Every command of a program with its path, its required arguments and the options that take a value. */
function walk(
  command: Command,
  trail: string[] = [],
): Array<{ path: string[]; args: number; options: string[] }> {
  const here = {
    path: trail,
    args: command.registeredArguments.filter((a) => a.required).length,
    options: command.options.filter((o) => o.required || o.optional).map((o) => o.long ?? o.short!),
  };
  return [here, ...command.commands.flatMap((c) => walk(c, [...trail, c.name()]))];
}

describe("every option that takes a value, given a bad one, in every command: no stack trace", () => {
  // Under a file: no command can read it, and none can make it.
  const bad = "/dev/null/sealift-bad-value";
  for (const [name, program, runIt] of [
    ["install", installProgram(), (argv: string[]) => installer(INSTALLER, argv, { env: NO_ENGINE })],
    ["sealift", sealiftProgram(), (argv: string[]) => sealift(argv, { env: NO_ENGINE })],
  ] as const)
    for (const command of walk(program))
      test(`${name} ${command.path.join(" ")}: ${command.options.join(" ") || "(no value options)"}`, async () => {
        for (const option of command.options) {
          const argv = [...command.path, ...Array(command.args).fill(bad), option, bad];
          const outcome = await runIt(argv);
          const what = `${name} ${argv.join(" ")}`;
          assert.ok([1, 2, 3, 4].includes(outcome.code), `${what}: exit ${outcome.code}\n${outcome.stderr}`);
          assert.match(outcome.stderr, /^error\[[A-Z_]+\]: /m, what);
          assert.match(outcome.stderr, /^hint: /m, `${what}: a hint`);
          assert.doesNotMatch(outcome.stderr, /INTERNAL|\n\s+at .*:\d+:\d+\)?$/m, `${what}: no stack trace`);
        }
      });
});
