/**
 * `install rollout` for real: three offline field hosts, each with its own Docker 26 engine, its own
 * sshd on a test bridge and no Node; the operator runs the compiled installer with no Node on its
 * PATH, OpenSSH and an inventory. The example packed on Docker 26 goes out to all three (YAML
 * inventory with a per-host setting), a re-run sends nothing, a host down is named and completed
 * later, a delta goes only where its base is, a failing canary stops the rollout, and ssh's own
 * failures (unknown host key, wrong key, nothing listening) and a bad inventory line each get
 * their error.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commitChange, exampleProject, type ExampleProject } from "../helpers/example.js";
import {
  BUILD_ENGINE_26,
  ROLLOUT_HOSTS,
  engineEnv,
  fieldHost,
  fieldHostScript,
  type FieldHost,
} from "../helpers/field-host.js";
import { INSTALLER, installer, run, sealift } from "../helpers/run.js";
import { parsePackJson } from "../../src/packager/pack-json.js";

interface HostJson {
  host: string;
  outcome: string;
  release: string | null;
  bytesSent: number;
  copiedFrom: string | null;
  error: { code: string; message: string; hint?: string } | null;
}

const STAGING = "/opt/bundles";

describe("install rollout over SSH to three offline field hosts", () => {
  let example: ExampleProject;
  let v1: { archive: string; release: string; bytes: number };
  let delta: { archive: string; release: string; bytes: number };
  let hosts: FieldHost[];
  let key: string;
  let knownHosts: string;
  let emptyKnownHosts: string;
  let otherKey: string;
  /** Bytes the first rollout sent each host: the bundle and the installer, once. */
  let fullSend = 0;

  const inventory = (name: string, text: string) => {
    const file = path.join(example.workdir, name);
    writeFileSync(file, text);
    return file;
  };
  /** The three hosts (in `order`), each line as given in `overrides` or plain, and the common vars. */
  const ini = (
    overrides: Record<string, string> = {},
    order: ReadonlyArray<(typeof ROLLOUT_HOSTS)[number]> = ROLLOUT_HOSTS,
  ) =>
    [
      "[edge]",
      ...order.map((h) => overrides[h.name] ?? `${h.name} ansible_host=${h.ip}`),
      "",
      "[edge:vars]",
      "ansible_user=root",
      `ansible_ssh_private_key_file=${key}`,
      `ansible_ssh_common_args='-o UserKnownHostsFile=${knownHosts}'`,
      "",
    ].join("\n");
  const roll = async (archive: string, hostsFile: string, extra: string[] = []) => {
    const outcome = await installer(
      INSTALLER,
      // The operator sends every copy here (--relay off): these tests count what each host is sent.
      ["rollout", archive, "--hosts", hostsFile, "--staging", STAGING, "--json", "--relay", "off", ...extra],
      { timeoutMs: 600_000 },
    );
    const records = outcome.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as HostJson);
    return { ...outcome, byHost: Object.fromEntries(records.map((r) => [r.host, r])) };
  };
  const reply = async (host: FieldHost, port: number) =>
    (JSON.parse(await host.get(`http://127.0.0.1:${port}/cgi-bin/api?q=hi`)) as { reply: string }).reply;

  before(async () => {
    example = await exampleProject("ro", engineEnv(BUILD_ENGINE_26));
    const pack = async (out: string, args: string[] = []) => {
      const packed = await sealift(
        ["pack", example.dir, "--out", path.join(example.workdir, out), "--json", ...args],
        {
          env: example.engine,
        },
      );
      assert.equal(packed.code, 0, packed.stderr);
      return parsePackJson(packed.stdout);
    };
    v1 = await pack("dist-v1");
    const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
    await commitChange(
      example.dir,
      "backend/app/cgi-bin/chat",
      readFileSync(chat, "utf8").replace('"echo: %s"', '"echo v2: %s"'),
    );
    delta = await pack("dist-v2", ["--base", v1.archive]);
    key = path.join(example.workdir, "operator_key");
    otherKey = path.join(example.workdir, "other_key");
    for (const k of [key, otherKey])
      assert.equal((await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", k])).code, 0);
    knownHosts = path.join(example.workdir, "known_hosts");
    emptyKnownHosts = path.join(example.workdir, "known_hosts.empty");
    writeFileSync(emptyKnownHosts, "");
    const lines: string[] = [];
    hosts = [];
    for (const h of ROLLOUT_HOSTS) {
      assert.equal((await run("bash", [fieldHostScript, "authorize", h.name, `${key}.pub`])).code, 0);
      const hostKey = await run("bash", [fieldHostScript, "hostkey", h.name]);
      lines.push(`${h.ip} ${hostKey.stdout.trim()}`);
      const host = fieldHost(h.name);
      await host.reset();
      await host.exec("rm", ["-rf", STAGING]);
      hosts.push(host);
    }
    writeFileSync(knownHosts, lines.join("\n") + "\n");
  });

  after(async () => {
    for (const host of hosts ?? []) {
      await host.reset();
      await host.exec("rm", ["-rf", STAGING]);
    }
    await example?.dispose();
  });

  test("from a YAML inventory with a per-host setting: all three installed and healthy, each sent the bundle once", async () => {
    const yaml = inventory(
      "hosts.yaml",
      [
        "all:",
        "  vars:",
        "    ansible_user: root",
        `    ansible_ssh_private_key_file: ${key}`,
        `    ansible_ssh_common_args: -o UserKnownHostsFile=${knownHosts}`,
        "  children:",
        "    edge:",
        "      hosts:",
        ...ROLLOUT_HOSTS.map(
          (h, i) =>
            `        ${h.name}: {ansible_host: ${h.ip}${i === 1 ? ", sealift: {set: {FRONTEND_PORT: 8081}}" : ""}}`,
        ),
        "",
      ].join("\n"),
    );
    const result = await roll(v1.archive, yaml);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    for (const h of ROLLOUT_HOSTS) {
      assert.equal(result.byHost[h.name]?.outcome, "installed", JSON.stringify(result.byHost[h.name]));
      assert.equal(result.byHost[h.name]?.release, v1.release);
      assert.equal(
        result.byHost[h.name]!.bytesSent,
        v1.bytes,
        `${h.name} was sent the bundle alone: the installer was cut out of it there`,
      );
    }
    const installerHere = createHash("sha256").update(readFileSync(INSTALLER)).digest("hex");
    const there = await hosts[0]!.exec("sh", ["-c", `sha256sum ${STAGING}/sealift-install-*`]);
    assert.equal(there.stdout.split(/\s+/)[0], installerHere, "the installer on the host is byte-identical");
    fullSend = result.byHost[ROLLOUT_HOSTS[2]!.name]!.bytesSent;
    assert.equal(await reply(hosts[0]!, 8080), "echo: hi");
    assert.equal(await reply(hosts[1]!, 8081), "echo: hi", "the host's own setting from the inventory");
    assert.equal(await reply(hosts[2]!, 8080), "echo: hi");
  });

  test("a re-run from an INI inventory: every host already healthy on the release, 0 bytes sent; status shows the fleet", async () => {
    const result = await roll(v1.archive, inventory("hosts.ini", ini()));
    assert.equal(result.code, 0, result.stderr);
    for (const h of ROLLOUT_HOSTS) {
      assert.equal(result.byHost[h.name]?.outcome, "already");
      assert.equal(result.byHost[h.name]?.bytesSent, 0);
    }
    const status = await installer(INSTALLER, [
      "rollout",
      "status",
      "--hosts",
      inventory("hosts.ini", ini()),
      "--dir",
      `/opt/${example.name}`,
      "--staging",
      STAGING,
    ]);
    assert.equal(status.code, 0, status.stderr);
    for (const h of ROLLOUT_HOSTS)
      assert.match(
        status.stdout,
        new RegExp(`${h.name}\\s+${v1.release}\\s+healthy\\s+${path.basename(v1.archive)}`),
      );
  });

  test("one host down: the others are done and it is named, exit 1; the re-run completes it and sends the others nothing", async () => {
    const down = ROLLOUT_HOSTS[2]!;
    await hosts[2]!.reset();
    await hosts[2]!.exec("rm", ["-rf", STAGING]);
    const broken = inventory(
      "down.ini",
      ini({ [down.name]: `${down.name} ansible_host=${down.ip} ansible_port=2222` }),
    );
    const first = await roll(v1.archive, broken);
    assert.equal(first.code, 1, first.stderr);
    assert.equal(first.byHost[down.name]?.outcome, "unreachable");
    assert.equal(first.byHost[down.name]?.error?.code, "HOST_UNREACHABLE");
    assert.match(
      first.byHost[down.name]!.error!.message,
      new RegExp(`${down.name} \\(root@${down.ip.replace(/\./g, "\\.")}:2222\\)`),
    );
    for (const h of ROLLOUT_HOSTS.slice(0, 2)) assert.equal(first.byHost[h.name]?.outcome, "already");
    const again = await roll(v1.archive, inventory("hosts.ini", ini()));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.byHost[down.name]?.outcome, "installed");
    assert.ok(again.byHost[down.name]!.bytesSent >= v1.bytes);
    for (const h of ROLLOUT_HOSTS.slice(0, 2)) assert.equal(again.byHost[h.name]?.bytesSent, 0);
    assert.equal(await reply(hosts[2]!, 8080), "echo: hi");
  });

  test("a delta goes to the hosts with its base; a host without it is refused by name with the fix", async () => {
    const bare = ROLLOUT_HOSTS[2]!;
    await hosts[2]!.reset();
    const result = await roll(delta.archive, inventory("hosts.ini", ini()));
    assert.equal(result.code, 1, result.stderr);
    for (const h of ROLLOUT_HOSTS.slice(0, 2)) {
      assert.equal(result.byHost[h.name]?.outcome, "installed", JSON.stringify(result.byHost[h.name]));
      assert.equal(result.byHost[h.name]?.release, delta.release);
    }
    assert.equal(result.byHost[bare.name]?.outcome, "refused");
    assert.equal(result.byHost[bare.name]?.error?.code, "BASE_MISSING");
    assert.match(result.byHost[bare.name]!.error!.hint!, /send it the complete bundle/);
    assert.equal(result.byHost[bare.name]?.bytesSent, 0, "nothing is sent to a host that cannot take it");
    assert.equal(await reply(hosts[0]!, 8080), "echo v2: hi");
  });

  test("--serial 1: a canary that fails stops the rollout before the next batch; those hosts are reported not attempted", async () => {
    const [a, b, c] = ROLLOUT_HOSTS;
    const canaryFirst = inventory(
      "canary.ini",
      ini({ [c!.name]: `${c!.name} ansible_host=${c!.ip} ansible_port=2222` }, [c!, a!, b!]),
    );
    const result = await roll(v1.archive, canaryFirst, ["--serial", "1"]);
    assert.notEqual(result.code, 0);
    assert.equal(result.byHost[c!.name]?.outcome, "unreachable");
    assert.equal(result.byHost[a!.name]?.outcome, "not-attempted");
    assert.equal(result.byHost[b!.name]?.outcome, "not-attempted");
    assert.match(
      await hosts[0]!
        .exec("sh", ["-c", `cat /opt/${example.name}/.sealift/install.json`])
        .then((o) => o.stdout),
      new RegExp(delta.release),
      "untouched",
    );
  });

  test("an interrupted copy resumes where it stopped; a split bundle goes as its parts and installs", async () => {
    const c = ROLLOUT_HOSTS[2]!;
    await hosts[2]!.reset();
    await hosts[2]!.exec("rm", ["-rf", STAGING]);
    // What an interrupted copy leaves: the first half of the archive under its .partial name.
    const staged = path.join(hosts[2]!.root, STAGING.slice(1));
    await run("mkdir", ["-p", staged]);
    const half = Math.floor(v1.bytes / 2);
    writeFileSync(
      path.join(staged, `${path.basename(v1.archive)}.partial`),
      readFileSync(v1.archive).subarray(0, half),
    );
    const resumed = await roll(v1.archive, inventory("hosts.ini", ini()), ["--limit", c.name]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.byHost[c.name]?.outcome, "installed");
    assert.equal(resumed.byHost[c.name]?.bytesSent, fullSend - half, "only the missing half was sent");

    await hosts[2]!.reset();
    const split = await sealift(
      ["pack", example.dir, "--out", path.join(example.workdir, "dist-split"), "--split", "8M", "--json"],
      { env: example.engine },
    );
    assert.equal(split.code, 0, split.stderr);
    const { archive: index, parts = [] } = parsePackJson(split.stdout);
    assert.ok(parts.length > 2);
    const result = await roll(index, inventory("hosts.ini", ini()), ["--limit", c.name]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.equal(result.byHost[c.name]?.outcome, "installed");
    const partsBytes = parts.reduce((sum, p) => sum + readFileSync(p).length, 0);
    assert.ok(
      result.byHost[c.name]!.bytesSent > partsBytes + 10 * 2 ** 20,
      "the installer went gzip'd beside the parts (they are joined only as the installer reads them)",
    );
    const held = await hosts[2]!.exec("ls", [STAGING]);
    for (const part of parts)
      assert.match(held.stdout, new RegExp(path.basename(part).replace(/\./g, "\\.")));
    assert.equal(await reply(hosts[2]!, 8080), "echo v2: hi");
  });

  test("ssh's own failures each get their error and fix; no host reached is exit 4; a bad inventory line is exit 2 with file:line", async () => {
    const [a, b, c] = ROLLOUT_HOSTS;
    const file = inventory(
      "faults.ini",
      ini({
        [a!.name]:
          `${a!.name} ansible_host=${a!.ip} ansible_ssh_common_args='-o UserKnownHostsFile=${emptyKnownHosts}'`,
        [b!.name]: `${b!.name} ansible_host=${b!.ip} ansible_ssh_private_key_file=${otherKey}`,
        [c!.name]: `${c!.name} ansible_host=${c!.ip} ansible_port=2222`,
      }),
    );
    const result = await roll(v1.archive, file);
    assert.equal(result.code, 4, result.stderr);
    assert.equal(result.byHost[a!.name]?.error?.code, "SSH_HOST_KEY");
    assert.match(result.byHost[a!.name]!.error!.hint!, /ssh-keyscan .*--accept-new-host-keys/);
    assert.equal(result.byHost[b!.name]?.error?.code, "SSH_AUTH");
    assert.equal(result.byHost[c!.name]?.error?.code, "HOST_UNREACHABLE");
    const bad = await installer(INSTALLER, [
      "rollout",
      v1.archive,
      "--hosts",
      inventory("bad.ini", "[edge]\nedge1 ansible_host\n"),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error\[INVENTORY_INVALID\]: .*bad\.ini:2: "ansible_host" is not KEY=VALUE/);
  });

  test("relayed: the operator sends one copy, the hosts pass it on with a key made for the rollout, and nothing of it stays", async () => {
    for (const host of hosts) {
      await host.reset();
      await host.exec("rm", ["-rf", STAGING]);
    }
    const outcome = await installer(
      INSTALLER,
      [
        "rollout",
        v1.archive,
        "--hosts",
        inventory("hosts.ini", ini()),
        "--staging",
        STAGING,
        "--json",
        "--parallel",
        "3",
      ],
      { timeoutMs: 600_000 },
    );
    assert.equal(outcome.code, 0, outcome.stderr);
    const records = outcome.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as HostJson);
    const fromOperator = records.filter((r) => r.copiedFrom === "operator");
    assert.equal(fromOperator.length, 1, JSON.stringify(records));
    const relayed = records.filter((r) => ROLLOUT_HOSTS.some((h) => h.name === r.copiedFrom));
    assert.equal(relayed.length, 2, JSON.stringify(records));
    for (const r of relayed)
      assert.ok(r.bytesSent < 1024 * 1024, `${r.host} cost the operator ${r.bytesSent} bytes`);
    const operatorBytes = records.reduce((sum, r) => sum + r.bytesSent, 0);
    assert.ok(
      operatorBytes < 1.1 * v1.bytes + 1024 * 1024,
      `the operator sent ${operatorBytes} for a ${v1.bytes}-byte bundle`,
    );
    const expected = createHash("sha256").update(readFileSync(v1.archive)).digest("hex");
    for (const host of hosts) {
      assert.equal(await reply(host, 8080), "echo: hi");
      const held = await host.exec("sha256sum", [`${STAGING}/${path.basename(v1.archive)}`]);
      assert.equal(held.stdout.split(" ")[0], expected, `${host.name} holds it byte-identical`);
      // Nothing of the relay stays: no key line, no script, no key file, nothing listening.
      const left = await host.exec("sh", ["-c", `cat ~/.ssh/authorized_keys 2>/dev/null; ls -a ${STAGING}`]);
      assert.doesNotMatch(left.stdout, /sealift-relay/, `${host.name}: ${left.stdout}`);
    }
  });

  test("signed: --trust travels to each host's installer; unsigned and untrusted are refused before anything is sent; an older release is a downgrade on the host unless --allow-downgrade", async () => {
    const keys = path.join(example.workdir, "keys");
    assert.equal((await sealift(["keygen", "--out", keys, "--name", "team"])).code, 0);
    const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
    await commitChange(
      example.dir,
      "backend/app/cgi-bin/chat",
      readFileSync(chat, "utf8").replace(/"echo[^"]*: %s"/, '"echo v3: %s"'),
    );
    const packed = await sealift(
      [
        "pack",
        example.dir,
        "--out",
        path.join(example.workdir, "dist-v3"),
        "--json",
        "--sign",
        path.join(keys, "team.key"),
      ],
      { env: example.engine },
    );
    assert.equal(packed.code, 0, packed.stderr);
    const v3 = parsePackJson(packed.stdout);
    const hostsFile = inventory("hosts.ini", ini());
    const trust = ["--trust", path.join(keys, "team.pub"), "--limit", "n1"];

    const untrusted = await roll(v3.archive, hostsFile, ["--limit", "n1"]);
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /error\[BUNDLE_SIGNATURE_UNTRUSTED\]/);
    assert.doesNotMatch(untrusted.stderr, /--verify never/);

    const signed = await roll(v3.archive, hostsFile, trust);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.byHost.n1?.outcome, "installed", JSON.stringify(signed.byHost));
    assert.equal(await reply(hosts[0]!, 8080), "echo v3: hi");
    const ps = await hosts[0]!.exec("sh", ["-c", `ls ${STAGING}`]);
    assert.match(ps.stdout, /trusted-[0-9a-f]{16}\.pub/, "the key was sent to the host");

    // v1 is unsigned: with a trusted key it is refused here, before anything is sent.
    const unsigned = await roll(v1.archive, hostsFile, trust);
    assert.equal(unsigned.code, 3, unsigned.stderr);
    assert.match(unsigned.stderr, /error\[BUNDLE_UNSIGNED\]/);
    // Without the key check, the host itself refuses the older release.
    const older = await roll(v1.archive, hostsFile, ["--limit", "n1", "--verify", "never"]);
    assert.equal(older.code, 1, older.stderr);
    assert.equal(older.byHost.n1?.error?.code, "DOWNGRADE", JSON.stringify(older.byHost));
    assert.equal(await reply(hosts[0]!, 8080), "echo v3: hi", "v3 still runs");
    const allowed = await roll(v1.archive, hostsFile, [
      "--limit",
      "n1",
      "--verify",
      "never",
      "--allow-downgrade",
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(await reply(hosts[0]!, 8080), "echo: hi");
  });
});
