/**
 * The pack and install sections' fixture: a compose project of four `image:` services built on one
 * big shared base layer, made of real files copied from this machine (about 600 MB;
 * BENCH_SCALE=small for about 250 MB; BENCH_SCALE=large adds a model image with BENCH_WEIGHTS_MIB,
 * default 1536, of random "weights": about 2.1 GB, the users' size and shape).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBaseImage } from "../../test/helpers/example.js";
import { run } from "../../test/helpers/run.js";
import { must } from "./tools.js";

export const SCALE: "small" | "full" | "large" =
  process.env.BENCH_SCALE === "small" ? "small" : process.env.BENCH_SCALE === "large" ? "large" : "full";
/** The large fixture's model weights: random bytes, which do not compress (BENCH_WEIGHTS_MIB). */
const WEIGHTS_MIB = Number(process.env.BENCH_WEIGHTS_MIB ?? 1536);

// Real directories of this kind of machine; the first that exists of each list is used.
const FULL = {
  base: ["/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/x86_64-linux-gnu"],
  apps: [
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/scipy", "/usr/lib/gcc"],
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/sympy", "/usr/share/doc"],
    ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/cfnlint", "/usr/share/perl"],
    ["/usr/lib/gcc", "/usr/share/locale"],
  ],
};
const FIXTURE = {
  large: FULL,
  full: FULL,
  small: {
    base: ["/usr/lib/gcc", "/usr/share/doc"],
    apps: [
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/jedi", "/usr/share/locale"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/botocore", "/usr/share/perl"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/awscli", "/usr/share/man"],
      ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/networkx", "/usr/share/zoneinfo"],
    ],
  },
};

const pick = (candidates: string[]) => {
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`none of ${candidates.join(", ")} exists on this machine`);
  return found;
};

export interface Fixture {
  dir: string;
  name: string;
  images: string[];
  workdir: string;
}

/** A compose project of four `image:` services built on one big shared base layer. */
export async function buildFixture(engine?: Record<string, string>, suffix = ""): Promise<Fixture> {
  await ensureBaseImage(undefined, "", engine);
  const workdir = mkdtempSync(path.join(os.tmpdir(), "sealift-bench-"));
  const name = `slbench${SCALE}${suffix}`;
  const dir = path.join(workdir, name);
  mkdirSync(dir);
  const layer = async (tag: string, from: string, source: string, target: string) => {
    const context = path.join(workdir, `ctx-${tag.replace(/\W/g, "-")}`);
    mkdirSync(context);
    // Hard links: the build context costs no copy.
    if ((await run("cp", ["-al", source, path.join(context, "data")])).code !== 0)
      await must(run("cp", ["-a", source, path.join(context, "data")]), "cp");
    writeFileSync(path.join(context, "Dockerfile"), `FROM ${from}\nCOPY data/ ${target}/\n`);
    // This machine's 20.10 client with its built-in BuildKit, or the engine's own client (buildx).
    await must(
      run(engine ? "docker" : "/usr/bin/docker", ["build", "-q", "-t", tag, context], {
        env: { DOCKER_BUILDKIT: "1", ...engine },
      }),
      `build ${tag}`,
    );
    rmSync(context, { recursive: true, force: true });
  };
  const spec = FIXTURE[SCALE];
  await layer(`${name}-base:1`, "sealift-example/busybox:1.36", pick(spec.base), "/opt/base");
  const images: string[] = [];
  for (const [i, candidates] of spec.apps.entries()) {
    await layer(`${name}-app${i + 1}:1`, `${name}-base:1`, pick(candidates), `/opt/app${i + 1}`);
    images.push(`${name}-app${i + 1}:1`);
  }
  if (SCALE === "large") {
    // A model server's image: the shared base and a layer of weights that do not compress.
    const weights = path.join(workdir, "weights");
    mkdirSync(weights);
    await must(
      run("sh", ["-c", `head -c ${WEIGHTS_MIB * 1024 * 1024} /dev/urandom > ${weights}/model.safetensors`]),
      "weights",
    );
    await layer(`${name}-model:1`, `${name}-base:1`, weights, "/models");
    rmSync(weights, { recursive: true, force: true });
    images.push(`${name}-model:1`);
  }
  writeFileSync(
    path.join(dir, "compose.yaml"),
    "services:\n" +
      images
        .map(
          (image, i) =>
            `  app${i + 1}:\n    image: ${image}\n    init: true\n    command: [sleep, "86400"]\n`,
        )
        .join(""),
  );
  await must(run("git", ["-C", dir, "init", "-q"]), "git init");
  await must(run("git", ["-C", dir, "add", "-A"]), "git add");
  await must(
    run("git", ["-C", dir, "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-qm", "fixture"]),
    "git commit",
  );
  return { dir, name, images, workdir };
}
