/**
 * One command at a time on an install folder, and a private folder for ssh's control sockets.
 * The lock's holders are real processes: this one, and a child that is killed (as a power cut or
 * an OOM kill would end an installer).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { checkFolderFree, lockFolder, withFolderLock } from "../../src/installer/folder-lock.js";
import { withControlDir } from "../../src/fleet/ssh.js";
import type { SealiftError } from "../../src/errors.js";

describe("the install folder's lock", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "sealift-lock-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  test("a second command on a folder in use is refused at once (exit 4), naming the first", async () => {
    const dir = path.join(root, "app");
    const first = await lockFolder(dir, "install");
    assert.equal(first.created, true);
    const refused = (e: SealiftError) =>
      e.code === "FOLDER_IN_USE" &&
      e.exitCode === 4 &&
      new RegExp(`\`install\` \\(pid ${process.pid} `).test(e.message);
    await assert.rejects(lockFolder(dir, "rebuild"), refused);
    assert.throws(() => checkFolderFree(dir), refused);
    await first.release();
    assert.equal(existsSync(path.join(dir, ".sealift", "lock")), false);
    await withFolderLock(dir, "uninstall", async () =>
      assert.ok(existsSync(path.join(dir, ".sealift", "lock"))),
    );
  });

  test("a lock left by a killed process is taken over by itself", async () => {
    const dir = path.join(root, "killed");
    // A real process that takes the lock, then is killed with SIGKILL before it can release it.
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import("${path.resolve("src/installer/folder-lock.ts")}").then(async (m) => { await m.lockFolder(${JSON.stringify(dir)}, "install"); console.log("locked"); setInterval(() => {}, 1000); });`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => child.stdout.on("data", () => resolve()));
    assert.throws(() => checkFolderFree(dir), /is in use/);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const lock = await lockFolder(dir, "install");
    assert.equal(JSON.parse(readFileSync(path.join(dir, ".sealift", "lock"), "utf8")).pid, process.pid);
    await lock.release();
  });

  test("a command for an installed app on a folder with nothing installed makes no folder", async () => {
    const dir = path.join(root, "nothing-here");
    assert.equal(await withFolderLock(dir, "rollback", async () => "ran"), "ran");
    assert.equal(existsSync(dir), false);
  });

  test("an unreadable lock (cut while written) is taken over", async () => {
    const dir = path.join(root, "cut");
    const first = await lockFolder(dir, "install");
    await first.release();
    writeFileSync(path.join(dir, ".sealift", "lock"), '{"pid": 12');
    const lock = await lockFolder(dir, "install");
    await lock.release();
  });
});

describe("ssh's control sockets", () => {
  test("rejects-planted-control-socket: a private folder of our own (mode 0700, a fresh name), removed afterwards", async () => {
    let seen = "";
    await withControlDir(async (dir) => {
      seen = dir;
      const stat = statSync(dir);
      assert.equal(stat.mode & 0o777, 0o700);
      assert.equal(stat.uid, process.getuid!());
      assert.match(path.basename(dir), /^sl-ssh-\w{6}$/);
    });
    assert.equal(existsSync(seen), false);
  });
});
