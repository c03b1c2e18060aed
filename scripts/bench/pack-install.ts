/**
 * pack: the fixture (fixture.ts) packed by sealift against `docker save | gzip -6` (the users' way)
 * and bare `docker save` (the floor); the archive's size against theirs.
 * install (on this machine's engine): what a first install leaves on disk, and an upgrade where one
 * small layer changed, from the complete bundle and from a delta, against `sha256sum` +
 * `gunzip -c | docker load` of the users' new archive. First installs per engine: engines.ts.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parsePackJson } from "../../src/packager/pack-json.js";
import { projectImages, removeImages, removeProject } from "../../test/helpers/docker.js";
import { INSTALLER, SEALIFT_CLI, run, sealift } from "../../test/helpers/run.js";
import { buildFixture } from "./fixture.js";
import { alternately, row, type Row } from "./harness.js";
import { diskBytes, imageIds, installedOf, measured, must, ROUNDS, timedShell } from "./tools.js";

export interface PackInstallResult {
  rows: Row[];
  notes: string[];
  rss: Record<string, number>;
}

export async function benchPackAndInstall(want: Set<string>): Promise<PackInstallResult> {
  const fixture = await buildFixture();
  const rows: Row[] = [];
  const notes: string[] = [];
  const rss: Record<string, number> = {};
  const out = path.join(fixture.workdir, "out");
  mkdirSync(out);
  const imgs = fixture.images.join(" ");
  try {
    // pack (one round only when just the install needs its archive)
    let packed = { archive: "", bytes: 0 };
    const pack = await alternately("pack", want.has("pack") ? ROUNDS : 1, {
      sealift: async () => {
        if (packed.archive)
          for (const file of [packed.archive, `${packed.archive}.sha256`]) rmSync(file, { force: true });
        const s = await measured(process.execPath, [
          SEALIFT_CLI,
          "pack",
          fixture.dir,
          "--out",
          out,
          "--json",
        ]);
        rss.pack = Math.max(rss.pack ?? 0, s.rssMiB);
        packed = parsePackJson(s.outcome.stdout);
        return s.ms;
      },
      users: () => timedShell(`docker save ${imgs} | gzip -6 > ${out}/users.tar.gz`),
      floor: () => timedShell(`docker save ${imgs} > /dev/null`),
    });
    const archive = packed.archive;
    if (want.has("pack")) {
      const installerMiB = Math.round(statSync(INSTALLER).size / 2 ** 20);
      rows.push(
        row({ section: "pack", measure: "pack (time)", unit: "ms", ...sides(pack, "users"), goal: 0.5 }),
        row({
          section: "pack",
          measure: "pack vs bare docker save (the floor)",
          unit: "ms",
          ...sides(pack, "floor"),
        }),
        row({
          section: "pack",
          measure: "archive size",
          unit: "bytes",
          sealift: [packed.bytes],
          other: [statSync(`${out}/users.tar.gz`).size],
          against: "users",
          goal: 1.05,
          note: `sealift's archive also carries the ${installerMiB} MiB installer (about a third of that compressed)`,
        }),
      );
    }
    if (!want.has("install")) return { rows, notes, rss };

    const ids = await imageIds([...fixture.images, `${fixture.name}-base:1`]);
    const dropImages = async () => {
      await removeProject(fixture.name);
      for (const id of ids) await run("docker", ["rmi", "-f", id]);
      // Layers a build made stay referenced by the build cache after rmi: let them go too.
      await must(run("docker", ["builder", "prune", "-af"]), "builder prune");
    };
    const dir = path.join(fixture.workdir, "opt");
    /** sealift's install of `bundle`: its check and load in ms (what an upgrade of image-only services takes before compose up). */
    const sealiftInstall = async (bundle = archive) => {
      const s = await measured(INSTALLER, [bundle, "--yes", "--dir", dir, "--json"], {
        cleanEnv: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      rss.install = Math.max(rss.install ?? 0, s.rssMiB);
      const steps = installedOf(s.outcome.stdout).stepsMs;
      return (steps.verify ?? 0) + (steps.load ?? 0);
    };
    // What the first install leaves on disk (its time, per engine, is measured on the field hosts).
    await dropImages();
    await sealiftInstall();
    const mib = async (where: string) => ((await diskBytes(where)) / 2 ** 20).toFixed(0);
    notes.push(
      `disk the first install wrote outside Docker: ${await mib(dir)} MiB in the install folder, ${await mib(path.join(dir, ".sealift", "install"))} MiB of it the kept installer; the image payload is never written out (docker load's own temporary copy in its data root is the same for the users' way)`,
    );

    // upgrade: one small layer changed on app1
    await dropImages();
    await sealiftInstall();
    const app1v1 = ids[0]!;
    await must(
      run("sh", [
        "-c",
        `printf 'FROM ${fixture.images[0]}\nRUN echo v2 > /opt/v2\n' | DOCKER_BUILDKIT=1 /usr/bin/docker build -q -t ${fixture.images[0]} - > /dev/null`,
      ]),
      "build v2",
    );
    writeFileSync(path.join(fixture.dir, "CHANGES"), "v2\n");
    await must(run("git", ["-C", fixture.dir, "add", "-A"]), "git add");
    await must(
      run("git", ["-C", fixture.dir, "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "v2"]),
      "git commit",
    );
    const out2 = path.join(fixture.workdir, "out2");
    const v2 = parsePackJson(
      (await must(sealift(["pack", fixture.dir, "--out", out2, "--json"]), "pack v2")).stdout,
    );
    await must(run("sh", ["-c", `docker save ${imgs} | gzip -6 > ${out2}/users.tar.gz`]), "users v2");
    const delta = parsePackJson(
      (
        await must(
          sealift([
            "pack",
            fixture.dir,
            "--out",
            path.join(fixture.workdir, "out3"),
            "--base",
            archive,
            "--json",
          ]),
          "pack delta",
        )
      ).stdout,
    );
    const app1v2 = (await imageIds([fixture.images[0]!]))[0]!;
    // Before each way: the host has v1 and lacks v2's new layer.
    const backToV1 = async () => {
      await removeProject(fixture.name);
      await run("docker", ["rmi", "-f", app1v2]);
      await must(run("docker", ["tag", app1v1, fixture.images[0]!]), "tag v1");
    };
    const upgrade = await alternately(
      "upgrade",
      ROUNDS,
      {
        sealift: () => sealiftInstall(v2.archive),
        delta: () => sealiftInstall(delta.archive),
        users: () =>
          timedShell(
            `sha256sum ${out2}/users.tar.gz > /dev/null && gunzip -c ${out2}/users.tar.gz | docker load -q > /dev/null`,
          ),
      },
      { prepare: backToV1 },
    );
    rows.push(
      row({
        section: "install",
        measure: "upgrade where one small layer changed (build machine's engine)",
        unit: "ms",
        sealift: upgrade.sealift,
        other: upgrade.users,
        against: "users",
        goal: 0.25,
        note: "the complete bundle of the new release, check and load; the row below is the same upgrade from a delta",
      }),
      row({
        section: "install",
        measure: "upgrade from the delta bundle (pack --base; build machine's engine)",
        unit: "ms",
        sealift: upgrade.delta,
        other: upgrade.users,
        against: "users",
        goal: 0.25,
      }),
      row({
        section: "install",
        measure: "update size: delta / complete bundle",
        unit: "bytes",
        sealift: [delta.bytes],
        other: [statSync(v2.archive).size],
        against: "complete bundle",
        goal: 0.05,
        note: "one small layer changed on one of four images",
      }),
    );
    return { rows, notes, rss };
  } finally {
    await removeProject(fixture.name);
    await removeImages(await projectImages(fixture.name));
    rmSync(fixture.workdir, { recursive: true, force: true });
  }
}

/** sealift's rounds and the named other way's, for row(). */
function sides<K extends string>(
  figures: Record<K | "sealift", number[]>,
  against: K & ("users" | "floor"),
): { sealift: number[]; other: number[]; against: string } {
  return { sealift: figures.sealift, other: figures[against], against };
}
