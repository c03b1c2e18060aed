/**
 * Power lost mid-upgrade, on offline field hosts of both image stores: release N installed and
 * healthy, the installer of N+1 cut with SIGKILL (as a power cut or an OOM kill would) in a given
 * stage. Then status says what happened and the fix (exit 1), each service listed once; the next
 * install of N+1 finishes the upgrade, or rollback returns to N with the app's volume data intact.
 * A cut during a first install leaves nothing that looks installed. To land the kill in a stage that
 * lasts milliseconds, the installer is held there by SEALIFT_TEST_HOLD_STAGE (a hook for tests).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commitChange, type ExampleProject, exampleProject, packed } from "../helpers/example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

/**
 * Runs the installer on the host and kills it with SIGKILL once its journal says `stage` (held
 * there, or `afterMs` into it when not held). Returns what it printed.
 */
async function cutAt(
  host: FieldHost,
  args: string,
  dir: string,
  stage: string,
  how: { hold: boolean; afterMs?: number },
): Promise<string> {
  const script = [
    `${how.hold ? `SEALIFT_TEST_HOLD_STAGE=${stage} ` : ""}${host.installer()} ${args} > /tmp/cut.log 2>&1 &`,
    "pid=$!",
    `for i in $(seq 1 1200); do grep -q '"stage":"${stage}"' ${dir}/.sealift/journal.json 2>/dev/null && break; kill -0 $pid 2>/dev/null || { cat /tmp/cut.log; echo NEVER-REACHED; exit 3; }; sleep 0.05; done`,
    `sleep ${(how.afterMs ?? 300) / 1000}`,
    "kill -9 $pid; wait $pid 2>/dev/null; cat /tmp/cut.log",
  ].join("\n");
  const outcome = await host.exec("sh", ["-c", script], { timeoutMs: 300_000 });
  assert.doesNotMatch(outcome.stdout, /NEVER-REACHED/, outcome.stdout + outcome.stderr);
  return outcome.stdout;
}

describe("power lost mid-upgrade", () => {
  let example: ExampleProject;
  let n: { archive: string; release: string };
  let next: { archive: string; release: string };
  const hosts: FieldHost[] = [];
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await exampleProject("cut");
    n = await packed(example, "dist-n", ["--output-template", "{name}-n-{date}"]);
    const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
    await commitChange(example.dir, "backend/app/cgi-bin/chat", readFileSync(chat, "utf8") + "# N+1\n");
    next = await packed(example, "dist-n1", ["--output-template", "{name}-n1-{date}"]);
    for (const name of [FIELD_HOSTS.containerd26, FIELD_HOSTS.docker26]) hosts.push(fieldHost(name));
  });

  after(async () => {
    for (const host of hosts) await host.reset();
    await example?.dispose();
  });

  /** A fresh host with release N installed and healthy, and a file the app wrote in its volume. */
  async function withReleaseN(host: FieldHost): Promise<{ archiveN: string; archiveN1: string }> {
    await host.reset();
    const archiveN = host.deliver(n.archive);
    const archiveN1 = host.deliver(next.archive);
    const first = await host.exec(host.installer(), [archiveN, "--yes", "--dir", dir()], {
      timeoutMs: 300_000,
    });
    assert.equal(first.code, 0, first.stderr);
    const store = await host.container(example.name, "store");
    await host.docker(["exec", store, "sh", "-c", "echo written-by-the-app > /data/marker"]);
    return { archiveN, archiveN1 };
  }

  async function statusOf(host: FieldHost) {
    return host.exec(`${dir()}/.sealift/install`, ["status", "--dir", dir()]);
  }

  for (const [which, stage, how, then] of [
    [FIELD_HOSTS.containerd26, "placing", { hold: true }, "finish"],
    [FIELD_HOSTS.containerd26, "starting", { hold: false, afterMs: 1500 }, "finish"],
    [FIELD_HOSTS.docker26, "loading", { hold: true }, "rollback"],
    [FIELD_HOSTS.docker26, "starting", { hold: false, afterMs: 1500 }, "rollback"],
    [FIELD_HOSTS.docker26, "fitting", { hold: true }, "finish"],
  ] as const)
    test(`on ${which}: cut while ${stage}; status says so; ${then === "finish" ? "the next install of N+1 finishes it" : "rollback returns to N, its volume data intact"}`, async () => {
      const host = hosts.find((h) => h.name === which)!;
      const { archiveN1 } = await withReleaseN(host);
      await cutAt(host, `${archiveN1} --yes --dir ${dir()}`, dir(), stage, how);

      const said = await statusOf(host);
      assert.equal(said.code, 1, said.stdout + said.stderr);
      assert.match(
        said.stdout,
        new RegExp(
          `INTERRUPTED: an upgrade from release ${n.release} to ${next.release} was interrupted while ${stage}`,
        ),
      );
      assert.match(
        said.stdout,
        new RegExp(
          `fix: run \`${dir()}/\\.sealift/install ${archiveN1}\` again to finish it, or \`${dir()}/\\.sealift/install rollback --dir ${dir()}\` to return to ${n.release}`,
        ),
      );
      for (const service of ["backend", "frontend", "model", "store"])
        assert.equal(
          said.stdout.split("\n").filter((l) => new RegExp(`^  ${service} +`).test(l)).length,
          1,
          `${service} once:\n${said.stdout}`,
        );
      assert.doesNotMatch(said.stdout, /installed, healthy/);

      if (then === "finish") {
        const again = await host.exec(`${dir()}/.sealift/install`, [archiveN1, "--yes"], {
          timeoutMs: 300_000,
        });
        assert.equal(again.code, 0, again.stderr);
        const done = await statusOf(host);
        assert.equal(done.code, 0, done.stdout);
        assert.match(done.stdout, new RegExp(`release ${next.release}: installed, healthy`));
        // Rollback after the finished upgrade still returns to N: the rollback point was N's.
        const back = await host.exec(`${dir()}/.sealift/install`, ["rollback", "--dir", dir()], {
          timeoutMs: 300_000,
        });
        assert.equal(back.code, 0, back.stderr);
      } else {
        const back = await host.exec(`${dir()}/.sealift/install`, ["rollback", "--dir", dir()], {
          timeoutMs: 300_000,
        });
        assert.equal(back.code, 0, back.stderr);
      }
      const final = await statusOf(host);
      assert.equal(final.code, 0, final.stdout);
      assert.match(final.stdout, new RegExp(`release ${n.release}: installed, healthy`));
      const store = await host.container(example.name, "store");
      assert.equal(await host.docker(["exec", store, "cat", "/data/marker"]), "written-by-the-app");
      const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=back")) as {
        reply: string;
      };
      assert.equal(reply.reply, "echo: back");
    });

  test("a first install cut while loading: nothing looks installed; status says so; the next run installs", async () => {
    const host = hosts[0]!;
    await host.reset();
    const archive = host.deliver(n.archive);
    await cutAt(host, `${archive} --yes --dir ${dir()}`, dir(), "loading", { hold: true });
    const said = await host.exec(host.installer(), ["status", "--dir", dir()]);
    assert.equal(said.code, 1, said.stdout + said.stderr);
    assert.match(
      said.stderr,
      new RegExp(
        `error\\[INSTALL_INTERRUPTED\\]: the first install of release ${n.release} was interrupted while loading images .*; nothing is installed`,
      ),
    );
    assert.match(said.stderr, /hint: run the installer again to finish it/);
    const again = await host.exec(host.installer(), [archive, "--yes", "--dir", dir()], {
      timeoutMs: 300_000,
    });
    assert.equal(again.code, 0, again.stderr);
    const done = await host.exec(host.installer(), ["status", "--dir", dir()]);
    assert.equal(done.code, 0, done.stdout + done.stderr);
  });
});
