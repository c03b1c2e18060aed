/**
 * Dockerfiles as BuildKit reads them (the parsing is dockerfile-ast's): heredocs are one
 * instruction, whatever they hold; `# escape=` changes the continuation character; stages and cache
 * mounts are derived once (dockerfileCache) for plan and pack; only named stages can be targeted.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { contextSources, dockerfileCache, parseDockerfile } from "../../src/compose/dockerfile.js";
import { expandDotEnvValue } from "../../src/compose/compose-project.js";

const HEREDOC = [
  "ARG BASE=busybox:1.36",
  "FROM ${BASE} AS deps",
  "RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked <<EOF",
  "set -e",
  "echo FROM inside a heredoc is text",
  "EOF",
  "COPY <<SQL /init.sql",
  "SELECT name FROM models;",
  "FROM nowhere",
  "SQL",
  "FROM --platform=$BUILDPLATFORM ${BASE}",
  "COPY --from=deps /opt /opt",
  "COPY app/ requirements.txt /srv/",
  "",
].join("\n");

describe("Dockerfiles as BuildKit reads them", () => {
  test("a FROM inside a heredoc is not a stage; the heredoc is one instruction", () => {
    const parsed = parseDockerfile(HEREDOC);
    assert.deepEqual(
      parsed.stages.map((s) => [s.name, s.named, s.from, s.line]),
      [
        ["deps", true, "${BASE}", 2],
        ["1", false, "${BASE}", 11],
      ],
    );
    assert.deepEqual(
      parsed.stages[0]!.instructions.map((i) => [i.keyword, i.line]),
      [
        ["RUN", 3],
        ["COPY", 7],
      ],
    );
    assert.deepEqual(parsed.globalArgs, { BASE: { value: "busybox:1.36", line: 1 } });
  });

  test("stages to cache and cache mounts come from one place", () => {
    const cache = dockerfileCache(HEREDOC, null);
    assert.deepEqual(
      cache.stages.map((s) => s.name),
      ["deps"],
    );
    assert.deepEqual(
      cache.mounts.map(({ mount, stage }) => [mount.id, mount.target, mount.options, stage.name]),
      [["pip", "/root/.cache/pip", { sharing: "locked" }, "deps"]],
    );
    // A target by name: only the stages before it; an unnamed intermediate stage is not targetable.
    assert.deepEqual(dockerfileCache(HEREDOC, "deps").stages, []);
    const unnamed = dockerfileCache("FROM a\nRUN x\nFROM b AS final\nCOPY --from=0 / /\n", null);
    assert.deepEqual(unnamed.stages, []);
    assert.deepEqual(
      unnamed.unnamed.map((s) => s.index),
      [0],
    );
  });

  test("# escape= changes the continuation character", () => {
    const parsed = parseDockerfile(
      "# escape=`\nFROM busybox AS a\nRUN --mount=type=cache,target=/c `\n    echo hi\nFROM a\n",
    );
    assert.equal(parsed.directives.escape?.value, "`");
    assert.equal(parsed.stages.length, 2);
    const run = parsed.stages[0]!.instructions[0]!;
    assert.deepEqual(
      dockerfileCache(
        "# escape=`\nFROM busybox AS a\nRUN --mount=type=cache,target=/c `\n    echo hi\nFROM a\n",
        null,
      ).mounts.map((m) => m.mount.id),
      ["/c"],
    );
    assert.match(run.args, /echo hi/);
  });

  test("COPY's context sources leave out heredocs, --from and the destination", () => {
    const [, final] = parseDockerfile(HEREDOC).stages;
    assert.deepEqual(
      final!.instructions.map((i) => contextSources(i)),
      [[], ["app/", "requirements.txt"]],
    );
    const [deps] = parseDockerfile(HEREDOC).stages;
    assert.deepEqual(contextSources(deps!.instructions[1]!), []);
  });

  test("COPY's sources over continuation lines, in the exec form with spaces, and --mount's options", () => {
    const [stage] = parseDockerfile(
      [
        "FROM busybox",
        "COPY --chown=1:1 a.txt b* \\",
        "    lib/ /dst/",
        'COPY ["my file.txt", "other dir/", "/d/"]',
        "COPY <<EOF /etc/motd",
        "not/a/path",
        "EOF",
        "RUN --mount=type=cache,id=pip,target=/root/.cache,sharing=locked,uid=1000 --network=none true",
        "",
      ].join("\n"),
    ).stages;
    assert.deepEqual(
      stage!.instructions.map((i) => contextSources(i)),
      [["a.txt", "b*", "lib/"], ["my file.txt", "other dir/"], [], []],
    );
    assert.deepEqual(
      dockerfileCache(
        "FROM busybox\nRUN --mount=type=cache,id=pip,target=/root/.cache,sharing=locked,uid=1000 true\n",
        null,
      ).mounts.map((m) => m.mount),
      [{ id: "pip", target: "/root/.cache", options: { sharing: "locked", uid: "1000" }, line: 2 }],
    );
  });
});

describe(".env values as compose v2 expands them (COMPOSE_FILE and friends)", () => {
  const env: Record<string, string> = { SET: "s", EMPTY: "" };
  const lookup = (name: string) => env[name];
  for (const [input, expected] of [
    ["${SET}", "s"],
    ["$SET/x", "s/x"],
    ["${UNSET:-d}", "d"],
    ["${EMPTY:-d}", "d"],
    ["${EMPTY-d}", ""],
    ["${SET:+alt}", "alt"],
    ["${UNSET+alt}", ""],
    ["${UNSET:-a;b/${INNER:-c}.yaml}", "a;b/c.yaml"],
    ["plain;text", "plain;text"],
  ] as const)
    test(`${input} -> ${expected}`, () => assert.equal(expandDotEnvValue(input, lookup), expected));
});
