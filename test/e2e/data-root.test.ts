/**
 * A Docker data root that fills up during the load: a second, real Docker Engine whose data root is
 * a 2 MiB tmpfs. The installer (past the free-space preflight with --force) fails with a clear
 * error, exit 1, nothing loaded and nothing installed as if done; once the filesystem has room,
 * the same command completes and the app answers.
 */
import assert from "node:assert/strict";
import { formatBytes } from "../../src/util/format.js";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Manifest } from "../../src/bundle/manifest.js";
import { sharedExample } from "../helpers/shared-example.js";
import { freePort, installer, run } from "../helpers/run.js";

describe("a Docker data root that fills during the install", () => {
  /** This suite's folder: the second engine's data root, state and log, and the install. */
  let work: string;
  let bundleDir: string;
  let manifest: Manifest;
  let small: string;
  let exec: string;
  let socket: string;
  let ports: string[];
  const dir = () => path.join(work, "opt");
  const onSecondEngine = () => ({ env: { DOCKER_HOST: `unix://${socket}` } });
  const secondDocker = (args: string[]) => run("docker", args, { env: { DOCKER_HOST: `unix://${socket}` } });

  before(async () => {
    ({ bundleDir, manifest } = (await sharedExample()).n);
    work = mkdtempSync(path.join(os.tmpdir(), "sealift-root-"));
    small = path.join(work, "small-root");
    exec = path.join(work, "exec");
    socket = path.join(exec, "docker.sock");
    mkdirSync(small);
    mkdirSync(exec);
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]);
    assert.equal(mounted.code, 0, mounted.stderr);
    // A second engine of the same Debian package, on its own data root, socket and state folder,
    // in a network namespace of its own: its bridges must never touch the shared engine's docker0.
    await run("sh", [
      "-c",
      `setsid unshare -n sh -c 'ip link set lo up && exec dockerd --data-root ${small}/docker ` +
        `--exec-root ${exec} --pidfile ${exec}/dockerd.pid --host unix://${socket}' ` +
        `> ${work}/dockerd.log 2>&1 < /dev/null &`,
    ]);
    for (let i = 0; i < 60 && (await secondDocker(["info"])).code !== 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await secondDocker(["info"])).code, 0, readFileSync(`${work}/dockerd.log`, "utf8"));
    ports = ["--set", `FRONTEND_PORT=${await freePort()}`, "--set", `BACKEND_PORT=${await freePort()}`];
  });

  after(async () => {
    await installer(
      path.join(bundleDir, "install"),
      ["uninstall", "--dir", dir(), "--volumes", "--yes"],
      onSecondEngine(),
    );
    if (existsSync(`${exec}/dockerd.pid`)) {
      const pid = readFileSync(`${exec}/dockerd.pid`, "utf8").trim();
      await run("kill", [pid]);
      for (let i = 0; i < 40 && existsSync(`${exec}/dockerd.pid`); i++)
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await run("sh", ["-c", `grep -o ' ${exec}[^ ]*' /proc/mounts | xargs -r -n1 umount -l`]);
    await run("umount", ["-l", small]);
    rmSync(work, { recursive: true, force: true });
  });

  test("without --force the preflight refuses first: the data root's need on this store (twice the images), exit 4, nothing loaded", async () => {
    const refused = await installer(
      path.join(bundleDir, "install"),
      ["--yes", "--dir", dir(), ...ports],
      onSecondEngine(),
    );
    assert.equal(refused.code, 4, refused.stderr);
    const images = manifest.images.bytes;
    // Packed on Docker 20.10: a docker-archive, whose layer files are unpacked already.
    assert.equal(manifest.requirements.imagesUnpackedBytes, images);
    const volumes = manifest.requirements.dockerDataBytes - images;
    const row = /Docker data root\s+FAIL\s+(.*) free in (.*), (.*) needed \((.*)\)/.exec(refused.stderr);
    assert.ok(row, refused.stderr);
    // The documented rule: what is shipped plus the layers unpacked, and a tenth, plus volumes.
    assert.equal(row[3], formatBytes(Math.round(1.1 * (images + images)) + volumes));
    assert.match(row[4]!, /^images .* \+ .* unpacked$/);
    assert.match(
      refused.stderr,
      /hint: free .* \(or choose another folder\); on this host docker load unpacks its input in a temporary folder, then each layer/,
    );
    assert.equal((await secondDocker(["images", "-q"])).stdout.trim(), "", "nothing was loaded");
  });

  test("ENOSPC while loading: exit 1 with the cause and what to do, nothing loaded or recorded; with room, the same command completes", async () => {
    const args = ["--yes", "--dir", dir(), "--force", ...ports];
    const failed = await installer(path.join(bundleDir, "install"), args, onSecondEngine());
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /error\[LOAD_FAILED\]/);
    assert.match(failed.stderr, /no space left on device/);
    assert.match(
      failed.stderr,
      /hint: check the daemon's log and its free space, then run the installer again/,
    );
    assert.equal((await secondDocker(["images", "-q"])).stdout.trim(), "", "no image was registered");
    assert.equal(
      existsSync(path.join(dir(), ".sealift/install.json")),
      false,
      "nothing recorded as installed",
    );

    const grown = await run("mount", ["-o", "remount,size=256m", small]);
    assert.equal(grown.code, 0, grown.stderr);
    const again = await installer(
      path.join(bundleDir, "install"),
      ["--yes", "--dir", dir(), ...ports],
      onSecondEngine(),
    );
    assert.equal(again.code, 0, again.stderr);
    for (const s of manifest.services) {
      const id = (await secondDocker(["image", "inspect", "--format", "{{.Id}}", s.image])).stdout.trim();
      assert.equal(id, s.imageId);
    }
    // The app answers inside the second engine's network namespace.
    const pid = readFileSync(`${exec}/dockerd.pid`, "utf8").trim();
    const reply = await run("nsenter", [
      `--net=/proc/${pid}/ns/net`,
      "busybox",
      "wget",
      "-qO-",
      `http://127.0.0.1:${ports[1]!.split("=")[1]}/cgi-bin/api?q=hi`,
    ]);
    assert.equal(reply.code, 0, reply.stderr);
    assert.equal(JSON.parse(reply.stdout).reply, "echo: hi");
  });
});
