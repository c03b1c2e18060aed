/**
 * Today's Docker and yesterday's, across the air gap: the example packed on the build machine's
 * Docker 20.10 (classic store, Compose v1) and on Docker 26 (containerd store, buildx, Compose v2),
 * each installed on three separate offline field hosts: Docker 20.10 + Compose v1, Docker 26
 * classic + Compose v2, Docker 26 containerd + Compose v2 (scripts/field-host.sh; no network, no
 * Node). On each: installed and healthy, every image there with its identity (layers; the config
 * digest as ID on the classic store), the service answering inside the host; then an app-code
 * delta, a small fraction of the complete bundle, installed by the kept installer, serving the change;
 * then an app-code change in the installed source rebuilt offline with every dependency step CACHED
 * (the shipped cache, fitted at install where the engine is not the build machine's).
 */
import assert from "node:assert/strict";
import { installJsonSchema, rebuildJsonSchema } from "../../src/installer/install-json.js";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { commitChange, exampleProject, packAndExtract, type ExampleProject } from "../helpers/example.js";
import { BUILD_ENGINE_26, FIELD_HOSTS, engineEnv, fieldHost, type FieldHost } from "../helpers/field-host.js";
import { run, sealift } from "../helpers/run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

const PACKERS = [
  { label: "Docker 20.10 (classic store, Compose v1)", engine: () => undefined, store: "classic" },
  {
    label: "Docker 26 (containerd store, buildx, Compose v2)",
    engine: () => engineEnv(BUILD_ENGINE_26),
    store: "containerd",
  },
] as const;

const HOSTS = [
  { label: "Docker 20.10 + Compose v1", name: FIELD_HOSTS.docker20, containerd: false },
  { label: "Docker 26 classic store + Compose v2", name: FIELD_HOSTS.docker26, containerd: false },
  { label: "Docker 26 containerd store + Compose v2", name: FIELD_HOSTS.containerd26, containerd: true },
] as const;

/** The example's dependency steps (each before the app code is copied in) and its app-code steps. */
const DEPENDENCY_STEP =
  /WORKDIR|COPY requirements\.txt|fake-pip|COPY package\.json|build\.sh deps|COPY --from=deps/;
const APP_STEP = /COPY app\/|COPY src\//;

/** The bundle's payload: every file it carries but the installer (a Node runtime). */
function payloadBytes(manifest: Manifest): number {
  return manifest.files.filter((f) => f.path !== manifest.installer.path).reduce((n, f) => n + f.size, 0);
}

for (const packer of PACKERS) {
  describe(`packed on ${packer.label}, installed on offline field hosts`, () => {
    let example: ExampleProject;
    let v1: { archive: string; manifest: Manifest };
    let delta: { archive: string; manifest: Manifest };

    before(async () => {
      example = await exampleProject("mx", packer.engine());
      v1 = await packAndExtract(example, "v1");
      const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
      await commitChange(
        example.dir,
        "backend/app/cgi-bin/chat",
        readFileSync(chat, "utf8").replace('"echo: %s"', '"echo v2: %s"'),
      );
      const packed = await sealift(
        ["pack", example.dir, "--base", v1.archive, "--out", path.join(example.workdir, "dist-v2"), "--json"],
        { env: example.engine },
      );
      assert.equal(packed.code, 0, packed.stderr);
      const archive = parsePackJson(packed.stdout).archive;
      const manifest = await run("tar", [
        "xzOf",
        archive,
        `${path.basename(archive, ".tar.gz")}/manifest.json`,
      ]);
      delta = { archive, manifest: JSON.parse(manifest.stdout) as Manifest };
    });

    after(async () => {
      await example?.dispose();
    });

    test("the manifest records the build machine's engine, and names images by config digest", () => {
      assert.equal(v1.manifest.build.imageStore, packer.store);
      assert.equal(v1.manifest.build.compose?.flavour, packer.store === "containerd" ? "v2" : "v1");
      assert.equal(v1.manifest.build.builder, packer.store === "containerd" ? "buildx" : "buildkit");
      assert.equal(
        v1.manifest.images.format,
        packer.store === "containerd" ? "oci-layout" : "docker-archive",
      );
      for (const s of v1.manifest.services) {
        assert.ok(
          v1.manifest.files.some((f) => `sha256:${f.sha256}` === s.imageId),
          `${s.name}'s config is in the bundle`,
        );
        for (const layer of s.layers)
          assert.ok(v1.manifest.images.blobs?.[layer], `${s.name}: blob of ${layer}`);
      }
    });

    test("the app-code delta is at most 5% of the complete bundle's payload and leaves layers to it", () => {
      const bytes = statSync(delta.archive).size;
      assert.ok(
        bytes <= 0.05 * payloadBytes(v1.manifest),
        `delta ${bytes} B, complete payload ${payloadBytes(v1.manifest)} B`,
      );
      assert.ok((delta.manifest.base?.layers.length ?? 0) > 0, "layers are left to the base release");
    });

    for (const target of HOSTS) {
      describe(`on ${target.label}`, () => {
        let host: FieldHost;
        const dir = () => `/opt/${example.name}`;

        before(async () => {
          host = fieldHost(target.name);
          await host.reset();
        });

        after(async () => {
          await host?.reset();
        });

        test("installs from the archive, healthy; every image is there with its identity; the app answers", async () => {
          const archive = host.deliver(v1.archive);
          host.deliver(`${v1.archive}.sha256`);
          const result = await host.exec(host.installer(), [archive, "--yes", "--dir", dir(), "--json"], {
            timeoutMs: 300_000,
          });
          assert.equal(result.code, 0, result.stderr);
          const json = installJsonSchema.parse(JSON.parse(result.stdout));
          assert.equal(json.release, v1.manifest.project.release);
          assert.deepEqual(json.installed!.services.map((s) => [s.service, s.health]).sort(), [
            ["backend", "healthy"],
            ["frontend", "healthy"],
            ["model", "healthy"],
            ["store", "healthy"],
          ]);
          const store = await host.docker(["info", "--format", "{{json .DriverStatus}}"]);
          assert.equal(
            store.includes("io.containerd.snapshotter"),
            target.containerd,
            `${host.name}: ${store}`,
          );
          for (const s of v1.manifest.services) {
            const [layers, id] = (
              await host.docker(["image", "inspect", "--format", "{{json .RootFS.Layers}} {{.Id}}", s.image])
            ).split(" ");
            assert.deepEqual(JSON.parse(layers!), s.layers, `${s.image}: the same layers`);
            if (!target.containerd) assert.equal(id, s.imageId, `${s.image}: the config digest is its ID`);
          }
          const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=hello")) as {
            reply: string;
          };
          assert.equal(reply.reply, "echo: hello");
        });

        test("the app-code delta installs with the kept installer and serves the change", async () => {
          const archive = host.deliver(delta.archive);
          host.deliver(`${delta.archive}.sha256`);
          const result = await host.exec(`${dir()}/.sealift/install`, [archive, "--yes", "--json"], {
            timeoutMs: 300_000,
          });
          assert.equal(result.code, 0, result.stderr);
          assert.equal(
            installJsonSchema.parse(JSON.parse(result.stdout)).release,
            delta.manifest.project.release,
          );
          const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=hello")) as {
            reply: string;
          };
          assert.equal(reply.reply, "echo v2: hello");
          const backend = delta.manifest.services.find((s) => s.name === "backend")!;
          const layers = await host.docker([
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            backend.image,
          ]);
          assert.deepEqual(JSON.parse(layers), backend.layers);
        });

        test("an app-code change rebuilds offline with every dependency step CACHED, and serves the change", async () => {
          const edit = await host.exec("sh", [
            "-c",
            `cd ${dir()} && sed -i 's/echo v2: /echo v3: /' backend/app/cgi-bin/chat && echo '<!-- v3 -->' >> frontend/src/index.html`,
          ]);
          assert.equal(edit.code, 0, edit.stderr);
          const result = await host.exec(`${dir()}/.sealift/install`, ["rebuild", "--dir", dir(), "--json"], {
            timeoutMs: 300_000,
          });
          assert.equal(result.code, 0, result.stderr);
          const rebuilt = rebuildJsonSchema.parse(JSON.parse(result.stdout));
          assert.deepEqual(rebuilt.services.map((s) => s.service).sort(), ["backend", "frontend"]);
          for (const service of rebuilt.services) {
            const dependency = service.steps.filter((step) => DEPENDENCY_STEP.test(step.name));
            assert.ok(dependency.length >= 3, `${service.service}: ${JSON.stringify(service.steps)}`);
            for (const step of dependency) assert.ok(step.cached, `${service.service}: ${step.name} CACHED`);
            const app = service.steps.find((step) => APP_STEP.test(step.name));
            assert.equal(app?.cached, false, `${service.service}: the changed app code is copied again`);
          }
          const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=hello")) as {
            reply: string;
          };
          assert.equal(reply.reply, "echo v3: hello");
        });
      });
    }
  });
}
