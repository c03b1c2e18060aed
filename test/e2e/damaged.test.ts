/**
 * Every byte of the archive is checked: one byte flipped in each region of a complete bundle (the
 * compose files, the source, an image layer, a cache mount, the installer's gzip members, the
 * tail with the manifest, the locator), with no .sha256 beside it and with a good installer, on an
 * offline field host without the app's images: each refused with exit 3 naming the damage, no
 * image loaded, nothing written where the app would be installed. With the .sha256 beside it the
 * same damage is refused too.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

describe("a byte flipped anywhere in the archive is refused (exit 3) before anything is installed", () => {
  let example: SharedExample;
  /** Where the damaged copies are made. */
  let work: string;
  let archive: string;
  let manifest: Manifest;
  let host: FieldHost;

  /** The compressed offset of the middle of the gzip member holding `entry`'s first bytes. */
  const inMemberOf = (entry: string): number => {
    const index = manifest.archive!;
    const start = index.entries[entry];
    assert.notEqual(start, undefined, `${entry} is in the index`);
    let compressed = 0;
    let uncompressed = 0;
    for (const [c, u] of index.members) {
      // a little past the entry's header block, inside its data
      if (uncompressed + u > start! + 1024) return compressed + Math.floor(c / 2);
      compressed += c;
      uncompressed += u;
    }
    throw new Error(`no member holds ${entry}`);
  };

  before(async () => {
    example = await sharedExample();
    ({ archive, manifest } = example.n);
    work = mkdtempSync(path.join(os.tmpdir(), "sealift-dmg-"));
    host = fieldHost(FIELD_HOSTS.containerd26);
    await host.reset();
  });

  after(async () => {
    await host?.reset();
    rmSync(work, { recursive: true, force: true });
  });

  const regions: Array<[string, () => number]> = [
    ["a compose file", () => inMemberOf(`compose/${manifest.project.composeFiles[0]}`)],
    ["the source", () => inMemberOf(manifest.source.path)],
    [
      "an image layer",
      () => {
        const layer = manifest.files
          .filter((f) => f.path.startsWith(manifest.images.dir) && f.size > 100_000)
          .sort((a, b) => b.size - a.size)[0]!;
        return inMemberOf(layer.path);
      },
    ],
    ["a cache mount", () => inMemberOf(manifest.cache!.mounts.find((m) => m.path)!.path!)],
    ["the installer's members", () => inMemberOf(manifest.installer.path!)],
    ["the tail (manifest, SHA256SUMS)", () => manifest.archive!.members.reduce((n, [c]) => n + c, 0) + 40],
    ["the locator", () => -20],
  ];

  for (const withSidecar of [false, true]) {
    for (const [region, where] of regions) {
      test(`${region}, ${withSidecar ? "with" : "without"} the .sha256: exit 3, nothing loaded or written`, async () => {
        await host.reset();
        const bytes = readFileSync(archive);
        const at = where();
        const offset = at < 0 ? bytes.length + at : at;
        bytes[offset]! ^= 0x55;
        const damaged = path.join(
          work,
          `damaged-${withSidecar}-${region.replace(/\W+/g, "-")}`,
          path.basename(archive),
        );
        await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(damaged), { recursive: true }));
        writeFileSync(damaged, bytes);
        if (withSidecar) copyFileSync(`${archive}.sha256`, `${damaged}.sha256`);
        const delivered = host.deliver(damaged);
        if (withSidecar) host.deliver(`${damaged}.sha256`);
        const dir = `/opt/${example.name}`;
        const result = await host.exec(host.installer(), [delivered, "--yes", "--dir", dir], {
          timeoutMs: 300_000,
        });
        assert.equal(result.code, 3, `${region}: ${result.stderr}`);
        assert.match(result.stderr, /error\[BUNDLE_[A-Z_]+\]/);
        assert.match(result.stderr, /hint: /);
        assert.equal(
          await host.docker(["images", "-q", "--filter", `reference=${example.name}-*`]),
          "",
          "no image loaded",
        );
        const left = await host.exec("sh", ["-c", `test -e ${dir} && echo there || echo absent`]);
        assert.equal(left.stdout.trim(), "absent", "nothing written where the app goes");
        await host.exec("rm", ["-rf", "/tmp/delivered"]);
      });
    }
  }
});
