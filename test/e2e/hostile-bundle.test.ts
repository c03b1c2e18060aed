/**
 * Crafted bundles, made the way an attacker without the signing key can (test/helpers/reseal.ts:
 * an extracted bundle edited and resealed), installed with the compiled installer on an offline
 * Docker 26 field host (containerd store). Each is refused with its documented exit code and
 * message before anything moves, or placed safely; after each, nothing outside the install folder
 * changed and no container of the app runs from a refused bundle.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { ensureBaseImage } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { removeImages } from "../helpers/docker.js";
import { appendToTar, resealed, sha256, tarBytes, type TarEntry } from "../helpers/reseal.js";
import { run, sealift } from "../helpers/run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

const DIR = "/opt/hostile";

describe("hostile bundles on an offline Docker 26 host", () => {
  let workdir: string;
  let name: string;
  let bundleDir: string;
  let host: FieldHost;
  let counter = 0;

  /** The host's path of a file, from here. */
  const onHost = (file: string) => path.join(host.root, file);
  /** A crafted copy of the bundle: source entries added, the manifest edited, resealed. */
  async function crafted(
    label: string,
    source: readonly TarEntry[],
    edit?: (dir: string, manifest: Manifest) => void | Promise<void>,
  ): Promise<string> {
    const out = path.join(workdir, `crafted-${++counter}-${label}`);
    await resealed(bundleDir, out, async (dir, manifest) => {
      if (source.length) await appendToTar(path.join(dir, manifest.source.path), source);
      await edit?.(dir, manifest);
    });
    // Onto the host, as an operator copies a folder from a USB stick.
    const there = path.join("/tmp/delivered", path.basename(out));
    rmSync(onHost(there), { recursive: true, force: true });
    mkdirSync(path.dirname(onHost(there)), { recursive: true });
    cpSync(out, onHost(there), { recursive: true, verbatimSymlinks: true });
    return there;
  }
  const install = (bundle: string, args: string[] = []) =>
    host.exec(host.installer(), [bundle, "--yes", "--dir", DIR, ...args], { timeoutMs: 300_000 });
  const containers = async () =>
    (await host.docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${name}`]))
      .split("\n")
      .filter(Boolean);
  /** Files outside DIR that a crafted bundle aims at: they must stay as they are. */
  function plantVictims(): void {
    mkdirSync(onHost("/tmp/victim-dir"), { recursive: true });
    writeFileSync(onHost("/tmp/victim-dir/keep"), "keep\n");
    writeFileSync(onHost("/tmp/victim-file"), "keep\n");
  }
  function assertOutsideUnchanged(): void {
    assert.equal(existsSync(onHost("/tmp/PWNED-env")), false, "nothing written outside the folder");
    assert.equal(existsSync(onHost("/tmp/victim-file")), true, "nothing removed outside the folder");
    assert.equal(existsSync(onHost("/tmp/victim-dir/keep")), true, "nothing removed outside the folder");
  }
  /** A refused bundle: its exit code and message, no app container, no install folder left. */
  async function assertRefused(outcome: { code: number; stderr: string }, code: number, message: RegExp) {
    assert.equal(outcome.code, code, outcome.stderr);
    assert.match(outcome.stderr, message);
    assert.deepEqual(await containers(), [], "no container of the refused bundle");
    assert.equal(existsSync(onHost(DIR)), false, "the install folder is gone again");
    assertOutsideUnchanged();
  }

  before(async () => {
    host = fieldHost(FIELD_HOSTS.containerd26);
    workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-hostile-"));
    name = `slhb${Math.random().toString(36).slice(2, 7)}`;
    const project = path.join(workdir, name);
    mkdirSync(path.join(project, "site"), { recursive: true });
    writeFileSync(path.join(project, "site", "index.html"), "hello from the bundle\n");
    writeFileSync(
      path.join(project, "compose.yaml"),
      `services:
  web:
    image: ${name}-base:1.36
    command: ["sh", "-c", "mkdir -p /data && exec httpd -f -p 8080 -h /site"]
    ports: ["18080:8080"]
    volumes:
      - ./site:/site:ro
      - store:/data
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 500ms
      retries: 60
volumes:
  store: {}
`,
    );
    await ensureBaseImage(`${name}-base:1.36`, name);
    for (const args of [
      ["init", "-q"],
      ["add", "-A"],
      ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "app"],
    ])
      assert.equal((await run("git", ["-C", project, ...args])).code, 0);
    const packed = await sealift(["pack", project, "--out", path.join(workdir, "dist"), "--json"]);
    assert.equal(packed.code, 0, packed.stderr);
    const { archive } = parsePackJson(packed.stdout);
    assert.equal((await run("tar", ["xzf", archive, "-C", workdir])).code, 0);
    bundleDir = path.join(workdir, path.basename(archive, ".tar.gz"));
  });

  beforeEach(async () => {
    await host.reset();
    plantVictims();
  });

  after(async () => {
    await host.reset();
    await removeImages([`${name}-base:1.36`]);
    rmSync(workdir, { recursive: true, force: true });
  });

  test("control: a link that stays inside is placed as a link, and a link planted at .env.tmp is not written through", async () => {
    const bundle = await crafted("inside", [
      { name: "current", type: "symlink", linkname: "site" },
      { name: ".env.tmp", type: "symlink", linkname: "site/index.html" },
    ]);
    const outcome = await install(bundle);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.equal(readlinkSync(onHost(`${DIR}/current`)), "site");
    assert.equal((await host.get("http://127.0.0.1:18080/index.html")).trim(), "hello from the bundle");
    assert.equal(lstatSync(onHost(`${DIR}/.env`)).isFile(), true);
    assert.equal(existsSync(onHost(`${DIR}/.env.tmp`)), false);
    assertOutsideUnchanged();
  });

  const chains: Array<[string, TarEntry[], RegExp]> = [
    [
      "rejects-symlink-chain-to-root: two links that each look inside reach / together",
      [
        { name: "a/", type: "directory" },
        { name: "a/b/", type: "directory" },
        { name: "a/b/s", type: "symlink", linkname: "../.." },
        { name: "esc", type: "symlink", linkname: "a/b/s/../.." },
      ],
      /source entry "esc" links to a\/b\/s\/\.\.\/\.\., which climbs above the folder/,
    ],
    [
      "rejects-symlink-chain-to-parent: a link through a link to DIR's parent",
      [
        { name: "up", type: "symlink", linkname: "." },
        { name: "p", type: "symlink", linkname: "up/.." },
      ],
      /source entry "p" links to up\/\.\./,
    ],
    [
      "rejects-write-through-link: .env.tmp aimed outside through a chain",
      [
        { name: "a/", type: "directory" },
        { name: "a/b/", type: "directory" },
        { name: "a/b/s", type: "symlink", linkname: "../.." },
        { name: ".env.tmp", type: "symlink", linkname: "a/b/s/../../tmp/PWNED-env" },
      ],
      /source entry "\.env\.tmp" links to/,
    ],
    [
      "rejects-link-into-state: a link into the installer's own folder",
      [{ name: "state", type: "symlink", linkname: ".sealift/install" }],
      /lands in \.sealift\//,
    ],
    [
      "rejects-planted-rollback: a rollback point in the source",
      [
        {
          name: ".sealift/rollback/rollback.json",
          body: JSON.stringify({ added: ["../../tmp/victim-file", "../../tmp/victim-dir"], saved: [] }),
        },
      ],
      /source entry "\.sealift\/rollback\/rollback\.json" is in \.sealift\//,
    ],
    [
      "rejects-planted-record: an install record in the source",
      [{ name: ".sealift/install.json", body: "{}" }],
      /is in \.sealift\//,
    ],
  ];
  for (const [title, entries, message] of chains)
    test(title, async () => {
      const outcome = await install(await crafted(title.split(":")[0]!, entries));
      await assertRefused(outcome, 3, /error\[BUNDLE_UNSAFE_ENTRY\]/);
      assert.match(outcome.stderr, message);
      // Refused before any image loaded.
      assert.equal((await host.exec("docker", ["image", "inspect", `${name}-base:1.36`])).code, 1);
    });

  const volumes: Array<[string, TarEntry, RegExp]> = [
    [
      "rejects-volume-device",
      { name: "mem", type: "character-device", mode: 0o666 },
      /mem" is a character-device/,
    ],
    ["rejects-volume-block-device", { name: "sda", type: "block-device" }, /sda" is a block-device/],
    ["rejects-volume-fifo", { name: "pipe", type: "fifo" }, /pipe" is a fifo/],
    ["rejects-volume-setuid", { name: "su", body: "#!/bin/sh\n", mode: 0o4755 }, /su" has the setuid bit/],
    [
      "rejects-volume-absolute-link",
      { name: "shadow", type: "symlink", linkname: "/etc/shadow" },
      /shadow" links to \/etc\/shadow, which goes through a link to the absolute path/,
    ],
    ["rejects-volume-dotdot", { name: "../escape", body: "x" }, /leaves its folder/],
  ];
  for (const [title, entry, message] of volumes)
    test(`${title}: the volume's archive is refused before the volume is made`, async () => {
      const bundle = await crafted(title, [], async (dir, manifest) => {
        const bytes = await tarBytes([{ name: "ok.txt", body: "fine\n" }, entry]);
        mkdirSync(path.join(dir, "data", "volumes"), { recursive: true });
        writeFileSync(path.join(dir, "data", "volumes", "store.tar"), bytes);
        manifest.data = {
          files: [],
          volumes: [
            {
              key: "store",
              path: "data/volumes/store.tar",
              bytes: bytes.length,
              contentSha256: sha256(bytes),
            },
          ],
        };
        writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
      });
      const outcome = await install(bundle);
      await assertRefused(
        outcome,
        3,
        /error\[BUNDLE_UNSAFE_ENTRY\]: volume entry "data\/volumes\/store\.tar: /,
      );
      assert.match(outcome.stderr, message);
      assert.equal(
        (await host.exec("docker", ["volume", "inspect", `${name}_store`])).code,
        1,
        "no volume made",
      );
    });

  test("rejects-link-completed-by-later-release: an installed link a later bundle would complete is refused; the first release keeps running", async () => {
    const dirs: TarEntry[] = [
      { name: "a/", type: "directory" },
      { name: "a/b/", type: "directory" },
    ];
    const first = await crafted("first", [
      ...dirs,
      { name: "esc", type: "symlink", linkname: "a/b/s/../.." },
    ]);
    const installed = await install(first);
    assert.equal(installed.code, 0, installed.stderr);
    const running = await containers();
    const second = await crafted("second", [
      ...dirs,
      { name: "esc", type: "symlink", linkname: "a/b/s/../.." },
      { name: "a/b/s", type: "symlink", linkname: "../.." },
    ]);
    const outcome = await install(second);
    assert.equal(outcome.code, 3, outcome.stderr);
    assert.match(
      outcome.stderr,
      /error\[BUNDLE_UNSAFE_ENTRY\]: source entry "esc" links to a\/b\/s\/\.\.\/\.\./,
    );
    assert.equal(existsSync(onHost(`${DIR}/a/b/s`)), false, "nothing of the refused release placed");
    assert.deepEqual(await containers(), running, "the first release's containers untouched");
    assert.equal((await host.get("http://127.0.0.1:18080/index.html")).trim(), "hello from the bundle");
    assertOutsideUnchanged();
  });

  test("rejects-downgrade: a release packed earlier is refused over a later one (exit 4, naming both); --allow-downgrade installs it", async () => {
    const current = await crafted("current", []);
    assert.equal((await install(current)).code, 0);
    const older = await crafted("older", [], (dir, manifest) => {
      manifest.createdAt = new Date(Date.parse(manifest.createdAt) - 86_400_000).toISOString();
      manifest.project.release = "older";
      writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
    });
    const refused = await install(older);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /error\[DOWNGRADE\]: release older \(packed .*\) is older than release /);
    assert.match(refused.stderr, /install rollback/);
    const allowed = await install(older, ["--allow-downgrade"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    const status = await host.exec(`${DIR}/.sealift/install`, ["status", "--dir", DIR, "--json"]);
    assert.match(status.stdout, /"release":\s*"older"/);
  });

  test("rejects-damaged-record: status and uninstall name the damaged install.json and what to do, no stack trace", async () => {
    assert.equal((await install(await crafted("record", []))).code, 0);
    writeFileSync(onHost(`${DIR}/.sealift/install.json`), "{ not json");
    for (const args of [
      ["status", "--dir", DIR],
      ["status", "--dir", DIR, "--json"],
      ["uninstall", "--dir", DIR, "--yes"],
    ]) {
      const outcome = await host.exec(`${DIR}/.sealift/install`, args);
      assert.notEqual(outcome.code, 0);
      assert.match(outcome.stderr, /error\[STATE_DAMAGED\]: the install record .*install\.json is damaged/);
      assert.match(outcome.stderr, /hint: /);
      assert.doesNotMatch(outcome.stderr, /INTERNAL|at .*\.js:\d+/);
    }
  });
});
