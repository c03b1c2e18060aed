/**
 * rebuild: on the example app, a rebuild on the offline host after a code change, with the build
 * cache sealift imported, against a cold build (empty builder cache, no cache images) of the same
 * services, as a fresh offline host without sealift does. Goal: 0.15 or less.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { rebuildJsonSchema } from "../../src/installer/install-json.js";
import { exampleProject, packAndExtract } from "../../test/helpers/example.js";
import { removeImages, removeProject } from "../../test/helpers/docker.js";
import { freePort, installer, run } from "../../test/helpers/run.js";
import { alternately, row, type Row } from "./harness.js";
import { must, ROUNDS } from "./tools.js";

export async function benchRebuild(): Promise<Row[]> {
  const example = await exampleProject("bench", undefined, { depsDelay: "as-shipped" });
  try {
    const { bundleDir: bundle, manifest } = await packAndExtract(example);
    const built = manifest.services.filter((s) => s.built);
    const dropBuilt = async () => {
      await removeProject(example.name);
      for (const image of [...built, ...(manifest.cache?.images ?? [])])
        await run("docker", ["rmi", "-f", image.imageId]);
      await must(run("docker", ["builder", "prune", "-af"]), "builder prune");
    };
    let installs = 0;
    const figures = await alternately(
      "rebuild",
      ROUNDS,
      {
        // The users' way: the installed source rebuilt with nothing cached (a fresh offline host).
        cold: async () => {
          const t0 = performance.now();
          for (const service of built) {
            await must(
              run(
                "/usr/bin/docker",
                ["build", "-q", "-t", `${service.image}-cold`, path.join(example.dir, service.name)],
                { env: { DOCKER_BUILDKIT: "1" } },
              ),
              `cold build of ${service.name}`,
            );
          }
          const ms = performance.now() - t0;
          await removeImages(built.map((s) => `${s.image}-cold`));
          return ms;
        },
        // sealift: the bundle installed with its cache, a code change, install rebuild (build time only).
        sealift: async () => {
          const dir = path.join(example.workdir, `opt-${++installs}`);
          await must(
            installer(path.join(bundle, "install"), [
              "--yes",
              "--dir",
              dir,
              "--set",
              `FRONTEND_PORT=${await freePort()}`,
              "--set",
              `BACKEND_PORT=${await freePort()}`,
            ]),
            "install",
          );
          const chat = path.join(dir, "backend/app/cgi-bin/chat");
          writeFileSync(chat, readFileSync(chat, "utf8").replace("echo:", `round ${installs}:`));
          const rebuilt = await must(
            installer(path.join(bundle, "install"), ["rebuild", "--dir", dir, "--json"]),
            "rebuild",
          );
          const services = rebuildJsonSchema.parse(JSON.parse(rebuilt.stdout)).services;
          return services.reduce((sum, s) => sum + s.durationMs, 0);
        },
      },
      { prepare: dropBuilt },
    );
    return [
      row({
        section: "rebuild",
        measure: "rebuild after a code change (build time)",
        unit: "ms",
        sealift: figures.sealift,
        other: figures.cold,
        against: "users",
        goal: 0.15,
        note: "the users' way column: the same services built cold, as on a fresh offline host",
      }),
    ];
  } finally {
    await example.dispose();
  }
}
