/**
 * Data that is not in git, across the gap: the example's model weights (a gitignored ./models,
 * shipped because its compose file says `x-sealift: {data: [models]}`) and a named volume filled on
 * the build machine (`--volume store-data`), packed on this machine (Docker 20.10) and installed on
 * offline field hosts with both image stores. The weights arrive byte-identical and the model
 * service serves them; the volume is filled; an upgrade by a code-change delta carries neither the
 * unchanged weights nor over-writes what the app wrote into the volume. GPU services are refused
 * before anything is loaded on a host without a GPU runtime.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { docker } from "../helpers/docker.js";
import { commitChange, type ExampleProject, exampleProject, packed } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";

const MODEL_MIB = 8;

/** Writes FILE with TEXT into a volume of this machine's engine (as the app would have filled it). */
async function fillBuildVolume(volume: string, project: string, image: string, file: string, text: string) {
  await docker(["volume", "create", "--label", `com.docker.compose.project=${project}`, volume]).catch(
    () => undefined,
  );
  const container = await docker(["create", "-v", `${volume}:/v`, image, "x"]);
  const tar = await run("sh", [
    "-c",
    `d=$(mktemp -d) && mkdir -p "$d/seed" && printf '%s' "$1" > "$d/seed/${file}" && tar -C "$d" -cf - seed | docker cp - ${container}:/v; s=$?; rm -rf "$d"; exit $s`,
    "sh",
    text,
  ]);
  await docker(["rm", container]);
  assert.equal(tar.code, 0, tar.stderr);
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("data not in git: model weights and a named volume, on field hosts of both stores", () => {
  let example: ExampleProject;
  let complete: Awaited<ReturnType<typeof packed>>;
  let delta: Awaited<ReturnType<typeof packed>>;
  let volume: string;
  const hosts: FieldHost[] = [];
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await exampleProject("data", undefined, { modelMib: MODEL_MIB });
    volume = `${example.name}_store-data`;
    await fillBuildVolume(
      volume,
      example.name,
      `${example.name}-base:1.36`,
      "hello.txt",
      "from the build machine",
    );
    complete = await packed(example, "dist-complete", ["--volume", "store-data"]);
    // A code change, and the build machine's volume changed too (the target's must not be overwritten).
    const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
    await commitChange(example.dir, "backend/app/cgi-bin/chat", readFileSync(chat, "utf8") + "# v2\n");
    await fillBuildVolume(volume, example.name, `${example.name}-base:1.36`, "hello.txt", "changed later");
    delta = await packed(example, "dist-delta", ["--volume", "store-data", "--base", complete.archive]);
    for (const name of [FIELD_HOSTS.containerd26, FIELD_HOSTS.docker26]) {
      const host = fieldHost(name);
      await host.reset();
      hosts.push(host);
    }
  });

  after(async () => {
    for (const host of hosts) await host.reset();
    await example?.dispose();
    await docker(["volume", "rm", "-f", volume]).catch(() => undefined);
  });

  test("pack ships the gitignored weights file by file, hashed, and the volume's content", () => {
    const data = complete.manifest.data!;
    assert.deepEqual(
      data.files.map((f) => [f.path, f.shipped]),
      [
        ["models/tiny-llm.gguf", true],
        ["models/tokenizer.json", true],
      ],
    );
    const weights = path.join(example.dir, "models/tiny-llm.gguf");
    assert.equal(data.files[0]!.sha256, sha256(weights));
    assert.equal(data.files[0]!.size, MODEL_MIB * 1024 * 1024);
    assert.ok(complete.manifest.files.some((f) => f.path === "data/files/models/tiny-llm.gguf"));
    assert.deepEqual(
      data.volumes.map((v) => [v.key, v.path]),
      [["store-data", "data/volumes/store-data.tar"]],
    );
  });

  test("a code-change delta leaves the unchanged weights out: it is a fraction of their size", () => {
    const data = delta.manifest.data!;
    assert.ok(data.files.length > 0, "the delta lists the data files it leaves to its base");
    assert.ok(data.files.every((f) => !f.shipped));
    assert.ok(!delta.manifest.files.some((f) => f.path.startsWith("data/files/")));
    // The volume's content changed on the build machine: it travels (and is not forced on the target).
    assert.equal(data.volumes[0]!.path, "data/volumes/store-data.tar");
    const size = statSync(delta.archive).size;
    assert.ok(size < 2 * 1024 * 1024, `delta is ${size} bytes; the weights alone are ${MODEL_MIB} MiB`);
  });

  for (const which of [FIELD_HOSTS.containerd26, FIELD_HOSTS.docker26]) {
    test(`on ${which}: the weights arrive byte-identical and are served, the volume filled; an upgrade keeps what the app wrote`, async () => {
      const host = hosts.find((h) => h.name === which)!;
      const archive = host.deliver(complete.archive);
      host.deliver(`${complete.archive}.sha256`);
      const first = await host.exec(host.installer(), [archive, "--yes", "--dir", dir()], {
        timeoutMs: 300_000,
      });
      assert.equal(first.code, 0, first.stderr);
      const served = JSON.parse(await host.get("http://127.0.0.1:8000/cgi-bin/model")) as {
        models: Array<{ file: string; bytes: number; sha256: string }>;
      };
      const weights = served.models.find((m) => m.file === "tiny-llm.gguf")!;
      assert.equal(weights.sha256, sha256(path.join(example.dir, "models/tiny-llm.gguf")));
      assert.equal(weights.bytes, MODEL_MIB * 1024 * 1024);
      const store = await host.container(example.name, "store");
      assert.equal(
        await host.docker(["exec", store, "cat", "/data/seed/hello.txt"]),
        "from the build machine",
      );
      // The app writes into its volume; then the upgrade.
      await host.docker(["exec", store, "sh", "-c", "echo mine > /data/app-wrote.txt"]);
      const deltaArchive = host.deliver(delta.archive);
      const upgrade = await host.exec(`${dir()}/.sealift/install`, [deltaArchive, "--yes"], {
        timeoutMs: 300_000,
      });
      assert.equal(upgrade.code, 0, upgrade.stderr);
      assert.match(upgrade.stderr, /volume store-data .*kept as it is \(it holds data\)/);
      const after = await host.container(example.name, "store");
      assert.equal(await host.docker(["exec", after, "cat", "/data/app-wrote.txt"]), "mine");
      assert.equal(
        await host.docker(["exec", after, "cat", "/data/seed/hello.txt"]),
        "from the build machine",
      );
      const again = JSON.parse(await host.get("http://127.0.0.1:8000/cgi-bin/model")) as typeof served;
      assert.equal(again.models.find((m) => m.file === "tiny-llm.gguf")!.sha256, weights.sha256);
      const chat = await host.get("http://127.0.0.1:8000/cgi-bin/chat?q=x");
      assert.match(chat, /echo: x/);
    });
  }
});

describe("GPU services and data checks, before anything moves", () => {
  let example: ExampleProject;
  let gpu: Awaited<ReturnType<typeof packed>>;
  let containerd: FieldHost;
  let standIn: FieldHost;
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await exampleProject("gpu");
    gpu = await packed(example, "dist-gpu", ["--profile", "gpu"]);
    containerd = fieldHost(FIELD_HOSTS.containerd26);
    standIn = fieldHost(FIELD_HOSTS.docker26);
    await containerd.reset();
    await standIn.reset();
  });

  after(async () => {
    await containerd?.reset();
    await standIn?.reset();
    await example?.dispose();
  });

  test("pack --profile gpu records the GPU service's device request", () => {
    const service = gpu.manifest.services.find((s) => s.name === "model-gpu")!;
    assert.deepEqual(service.devices, [
      { driver: "nvidia", capabilities: ["gpu"], count: "all", deviceIds: [] },
    ]);
  });

  test("on a host without a GPU runtime: exit 4 naming the service and what the host lacks, nothing loaded", async () => {
    const archive = containerd.deliver(gpu.archive);
    const result = await containerd.exec(containerd.installer(), [archive, "--yes", "--dir", dir()], {
      timeoutMs: 300_000,
    });
    assert.equal(result.code, 4, result.stderr);
    assert.match(
      result.stderr,
      /Devices: model-gpu\s+FAIL\s+GPU \(nvidia, count all\) reserved, but this engine has no NVIDIA runtime/,
    );
    assert.match(result.stderr, /NVIDIA Container Toolkit/);
    assert.equal(await containerd.docker(["images", "-q", `${example.name}-*`]), "");
    const left = await containerd.exec("sh", ["-c", `test -e ${dir()} && echo there || echo absent`]);
    assert.equal(left.stdout.trim(), "absent");
  });

  test("on a host whose engine has an `nvidia` runtime (a STAND-IN: runc under that name, no GPU): the device check passes", async () => {
    const archive = standIn.deliver(gpu.archive);
    const result = await standIn.exec(standIn.installer(), [
      archive,
      "--yes",
      "--dir",
      dir(),
      "--verify-only",
    ]);
    assert.equal(result.code, 0, result.stderr);
    // Preflight itself (the stand-in cannot run a GPU container, so compose up would fail after it).
    const preflight = await standIn.exec(standIn.installer(), [archive, "--yes", "--dir", dir()], {
      timeoutMs: 300_000,
    });
    assert.match(
      preflight.stderr,
      /Devices: model-gpu\s+ok\s+GPU \(nvidia, count all\): the engine has the nvidia runtime/,
    );
    assert.doesNotMatch(preflight.stderr, /PREFLIGHT_FAILED/);
  });

  test("a bind mount's ignored files that are not shipped: plan warns with path and size, pack --strict refuses", async () => {
    const compose = path.join(example.dir, "docker-compose.yml");
    await commitChange(
      example.dir,
      "docker-compose.yml",
      readFileSync(compose, "utf8").replace("  data: [models]", "  data: []"),
    );
    const plan = await sealift(["plan", example.dir]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(
      plan.stdout,
      /warning\[DATA_NOT_SHIPPED\] service model mounts \.\/models, where 2 file\(s\) \(1\.0 MiB: models\/tiny-llm\.gguf, models\/tokenizer\.json\) are not in git and not shipped/,
    );
    const strict = await sealift([
      "pack",
      example.dir,
      "--out",
      path.join(example.workdir, "dist-strict"),
      "--strict",
      "--no-cache",
    ]);
    assert.equal(strict.code, 2, strict.stderr);
    assert.match(strict.stderr, /error\[DATA_NOT_SHIPPED\]/);
  });

  test("Git LFS files that hold only their pointer are refused, naming them", async () => {
    writeFileSync(path.join(example.dir, ".gitattributes"), "*.bin filter=lfs diff=lfs merge=lfs -text\n");
    await commitChange(
      example.dir,
      "weights.bin",
      "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0".repeat(64) + "\nsize 1234\n",
    );
    const result = await sealift(["plan", example.dir]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /error\[DATA_LFS_POINTER\]: 1 Git LFS file\(s\) hold only their pointer/);
    assert.match(result.stderr, /weights\.bin/);
    assert.match(result.stderr, /git lfs pull/);
  });
});
