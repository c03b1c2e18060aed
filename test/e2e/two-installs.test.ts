/**
 * Two installs of one bundle into one folder at the same time, on an offline Docker 26 field host
 * (as two operators, or a rollout and a person, would start them): one installs, the other is
 * refused with exit 4 naming the one running, and the app ends installed and healthy.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

describe("two installs into one folder at once", () => {
  let example: SharedExample;
  let host: FieldHost;
  let archive: string;

  before(async () => {
    example = await sharedExample();
    host = fieldHost(FIELD_HOSTS.containerd26);
    await host.reset();
    archive = host.deliver(example.n.archive);
  });

  after(async () => {
    await host?.reset();
  });

  test("one installs; the other is refused at once (exit 4, FOLDER_IN_USE naming the first); the app is healthy", async () => {
    const dir = `/opt/${example.name}`;
    const args = [archive, "--yes", "--dir", dir, "--json"];
    const first = host.exec(host.installer(), args, { timeoutMs: 300_000 });
    // The race is made, not hoped for: the second starts once the first holds the folder's lock.
    const lock = path.join(host.root, dir, ".sealift", "lock");
    for (const started = Date.now(); !existsSync(lock);) {
      assert.ok(Date.now() - started < 120_000, "the first install took the folder's lock");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const second = host.exec(host.installer(), args, { timeoutMs: 300_000 });
    const outcomes = await Promise.all([first, second]);
    const codes = outcomes.map((o) => o.code).sort();
    assert.deepEqual(codes, [0, 4], outcomes.map((o) => o.stderr).join("\n----\n"));
    const refused = outcomes.find((o) => o.code === 4)!;
    assert.match(
      refused.stderr,
      /error\[FOLDER_IN_USE\]: .* is in use: `install` \(pid \d+ on .*\) has been running there since/,
    );
    assert.match(refused.stdout, /"code":"FOLDER_IN_USE"/);
    const status = await host.exec(`${dir}/.sealift/install`, ["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(
      (await host.exec("sh", ["-c", `test -e ${dir}/.sealift/lock && echo held || echo free`])).stdout.trim(),
      "free",
    );
  });
});
