/**
 * The bundle's medium failing while the install reads it, on an offline Docker 20.10 field host: a
 * split bundle on a USB stick, one part cut short (a stick pulled mid-copy, a bad sector) or gone
 * (the stick removed) after the install began and before it read that part (the installer held
 * at its loading stage by the tests' hold, released once the part is changed). The install stops
 * with exit 3 naming the part, loads no image and leaves no folder; with the part back, the same
 * command installs and the app answers.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parsePackJson } from "../../src/packager/pack-json.js";
import { exampleProject, type ExampleProject } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { sealift } from "../helpers/run.js";

describe("the bundle's medium failing mid-read", () => {
  let example: ExampleProject;
  let host: FieldHost;
  /** The parts as packed, on this machine. */
  let parts: string[];
  let indexName: string;
  const usb = () => path.join(host.root, "tmp", "usb");
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await exampleProject("usb");
    const packed = await sealift([
      "pack",
      example.dir,
      "--out",
      path.join(example.workdir, "dist"),
      "--split",
      "2M",
      "--json",
    ]);
    assert.equal(packed.code, 0, packed.stderr);
    const json = parsePackJson(packed.stdout);
    parts = json.parts ?? [];
    assert.ok(parts.length > 8, `a bundle of several parts: ${parts.length}`);
    indexName = path.basename(json.archive);
    host = fieldHost(FIELD_HOSTS.docker20);
  });

  after(async () => {
    await host?.reset();
    await example?.dispose();
  });

  for (const [what, change] of [
    ["cut short", (file: string) => truncateSync(file, 1_000_000)],
    ["gone", (file: string) => rmSync(file)],
  ] as const)
    test(`a part ${what} while the install reads: exit 3 naming it, nothing loaded or left; with it back the install completes`, async () => {
      await host.reset();
      mkdirSync(usb(), { recursive: true });
      const dist = path.dirname(parts[0]!);
      for (const name of readdirSync(dist)) copyFileSync(path.join(dist, name), path.join(usb(), name));
      // A part the install reads after it began: one of the image layers', past the middle.
      const victim = path.basename(parts[Math.floor(parts.length / 2) + 1]!);
      const go = path.join(host.root, "tmp", "go");
      rmSync(go, { force: true });
      const install = `/tmp/usb/${indexName}`;
      const running = host.exec(
        "sh",
        [
          "-c",
          `SEALIFT_TEST_HOLD_STAGE=loading SEALIFT_TEST_HOLD_UNTIL=/tmp/go ${host.installer()} ${install} --yes --dir ${dir()}`,
        ],
        { timeoutMs: 300_000 },
      );
      const journal = path.join(host.root, dir(), ".sealift", "journal.json");
      for (const started = Date.now(); !existsSync(journal);) {
        assert.ok(Date.now() - started < 120_000, "the install reached its loading stage");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      change(path.join(usb(), victim));
      writeFileSync(go, "");
      const cut = await running;
      assert.equal(cut.code, 3, cut.stderr);
      assert.match(cut.stderr, /error\[BUNDLE_(PART_INVALID|UNREADABLE)\]/);
      assert.match(cut.stderr, new RegExp(victim.replace(/\./g, "\\.")));
      assert.match(cut.stderr, /hint: /);
      assert.equal(
        await host.docker(["images", "-q", "--filter", `reference=${example.name}-*`]),
        "",
        "no image loaded",
      );
      assert.equal(existsSync(path.join(host.root, dir())), false, "no folder left where the app goes");

      copyFileSync(path.join(dist, victim), path.join(usb(), victim));
      const again = await host.exec(host.installer(), [install, "--yes", "--dir", dir()], {
        timeoutMs: 300_000,
      });
      assert.equal(again.code, 0, again.stderr);
      const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=usb")) as {
        reply: string;
      };
      assert.equal(reply.reply, "echo: usb");
    });
});
