/**
 * Power lost mid-upgrade, on offline field hosts of both image stores: release N installed and
 * healthy, the installer of N+1 cut with SIGKILL (as a power cut or an OOM kill would) in a given
 * stage. Then status says what happened and the fix (exit 1), each service listed once; the next
 * install of N+1 finishes the upgrade, or rollback returns to N with the app's volume data intact.
 * A cut during a first install leaves nothing that looks installed. To land the kill in a stage that
 * lasts milliseconds, the installer is held there by SEALIFT_TEST_HOLD_STAGE (a hook for tests).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { FIELD_HOSTS, fieldHost, type FieldHost } from "../helpers/field-host.js";

/**
 * Where the kill lands: a journal stage (the installer held there by the tests' hold), or
 * inside compose's recreate of a container of the project, once a container holds the temporary
 * name compose gives it then (`<12 hex>_NAME`: v2 creates the successor so, v1 renames the old one).
 */
type CutPoint = { stage: string } | { recreating: string };

/**
 * Runs the installer on the host in a session of its own and cuts it as a power cut would: SIGKILL
 * of the whole session (the installer and the compose it runs) once `point` is reached. Inside a
 * recreate, the host's engine is frozen (SIGSTOP) from the moment it reports the temporary name
 * until the session is dead, so that compose cannot take a further step; then it goes on. Returns
 * what the installer printed.
 */
async function cutAt(host: FieldHost, args: string, dir: string, point: CutPoint): Promise<string> {
  const reached =
    "stage" in point
      ? `grep -q '"stage":"${point.stage}"' ${dir}/.sealift/journal.json 2>/dev/null`
      : "grep -qE ' [0-9a-f]{12}_' /tmp/events";
  const script = [
    ": > /tmp/events",
    ...("recreating" in point
      ? [
          // From a time before the installer starts: no event can be missed.
          `docker events --since "$(date +%s)" --filter type=container --filter event=create --filter event=rename --filter label=com.docker.compose.project=${point.recreating} --format '{{.Action}} {{.Actor.Attributes.name}}' > /tmp/events &`,
          "events=$!",
        ]
      : []),
    `${"stage" in point ? `SEALIFT_TEST_HOLD_STAGE=${point.stage} ` : ""}setsid ${host.installer()} ${args} > /tmp/cut.log 2>&1 &`,
    "pid=$!",
    `until ${reached}; do kill -0 $pid 2>/dev/null || { cat /tmp/cut.log; echo NEVER-REACHED; exit 3; }; sleep 0.01; done`,
    ...("recreating" in point ? ["kill -STOP $(cat /var/run/docker.pid)"] : []),
    "kill -9 -$pid; wait $pid 2>/dev/null",
    ...("recreating" in point ? ["kill -CONT $(cat /var/run/docker.pid)", "kill $events 2>/dev/null"] : []),
    "cat /tmp/cut.log",
  ].join("\n");
  const outcome = await host.exec("sh", ["-c", script], { timeoutMs: 300_000 });
  assert.doesNotMatch(outcome.stdout, /NEVER-REACHED/, outcome.stdout + outcome.stderr);
  return outcome.stdout;
}

describe("power lost mid-upgrade", () => {
  let example: SharedExample;
  let n: SharedExample["n"];
  let next: SharedExample["n1"];
  const hosts: FieldHost[] = [];
  const dir = () => `/opt/${example.name}`;

  before(async () => {
    example = await sharedExample();
    ({ n, n1: next } = example);
    for (const name of [FIELD_HOSTS.containerd26, FIELD_HOSTS.docker26]) hosts.push(fieldHost(name));
  });

  after(async () => {
    for (const host of hosts) await host.reset();
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

  /** The command after a cut inside a recreate said what it put back before its compose up. */
  function settledIn(stderr: string) {
    assert.match(
      stderr,
      new RegExp(`an earlier start was cut off: (removed|renamed) [0-9a-f]{12}_${example.name}-`),
      stderr,
    );
  }

  async function statusOf(host: FieldHost) {
    return host.exec(`${dir()}/.sealift/install`, ["status", "--dir", dir()]);
  }

  for (const [which, stage, how, then] of [
    [FIELD_HOSTS.containerd26, "placing", "held", "finish"],
    [FIELD_HOSTS.containerd26, "starting", "recreate", "finish"],
    [FIELD_HOSTS.docker26, "loading", "held", "rollback"],
    [FIELD_HOSTS.docker26, "starting", "recreate", "rollback"],
    [FIELD_HOSTS.docker26, "fitting", "held", "finish"],
  ] as const)
    test(`on ${which}: cut while ${how === "recreate" ? "compose recreates a container (one under its temporary name)" : stage}; status says so; ${then === "finish" ? "the next install of N+1 finishes it" : "rollback returns to N, its volume data intact"}`, async () => {
      const host = hosts.find((h) => h.name === which)!;
      const { archiveN1 } = await withReleaseN(host);
      await cutAt(
        host,
        `${archiveN1} --yes --dir ${dir()}`,
        dir(),
        how === "recreate" ? { recreating: example.name } : { stage },
      );
      if (how === "recreate")
        assert.match(
          await host.docker(["ps", "-a", "--format", "{{.Names}}"]),
          new RegExp(`^[0-9a-f]{12}_${example.name}-`, "m"),
          "compose was cut with a container under its temporary name",
        );

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
        if (how === "recreate") settledIn(again.stderr);
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
        if (how === "recreate") settledIn(back.stderr);
      }
      assert.doesNotMatch(
        await host.docker(["ps", "-a", "--format", "{{.Names}}"]),
        /^[0-9a-f]{12}_/m,
        "no container left under a temporary name",
      );
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
    await cutAt(host, `${archive} --yes --dir ${dir()}`, dir(), { stage: "loading" });
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
