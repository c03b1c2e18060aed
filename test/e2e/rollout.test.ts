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
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commitChange, exampleProject, packed, type ExampleProject } from "../helpers/example.js";
import {
  BUILD_ENGINE_26,
  ROLLOUT_HOSTS,
  engineEnv,
  fieldHost,
  fieldHostScript,
  type FieldHost,
} from "../helpers/field-host.js";
import { HOST_PATH, INSTALLER, installer, interrupt, run, sealift } from "../helpers/run.js";
import { parseInventory } from "../../src/fleet/inventory.js";
import { cleanHolder, makeRelayKey, prepareHolder, relayCopy } from "../../src/fleet/relay.js";
import { SshConnection, withControlDir } from "../../src/fleet/ssh.js";
import { parsePackJson } from "../../src/packager/pack-json.js";
import { parseRolloutJson } from "../../src/fleet/rollout-json.js";

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
    const records = parseRolloutJson(outcome.stdout);
    return { ...outcome, byHost: Object.fromEntries(records.map((r) => [r.host, r])) };
  };
  /** v1 to the three hosts with the relay on (the default), three at once. */
  const relayedRollout = () => [
    "rollout",
    v1.archive,
    "--hosts",
    inventory("hosts.ini", ini()),
    "--staging",
    STAGING,
    "--json",
    "--parallel",
    "3",
  ];
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
    const outcome = await installer(INSTALLER, relayedRollout(), { timeoutMs: 600_000 });
    assert.equal(outcome.code, 0, outcome.stderr);
    const records = parseRolloutJson(outcome.stdout);
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

  /** root's own authorized_keys on each host, in a shape each (the operator's other key in it). */
  const shapes = () => {
    const other = readFileSync(`${otherKey}.pub`, "utf8").trim();
    return [
      Buffer.from(`# written by hand\n${other}`), // no final newline
      Buffer.from(`${other}\r\n# a comment\r\n`), // CRLF
      Buffer.from(`from="10.77.0.0/24",no-pty ${other}\n\n`), // options, a blank line
    ];
  };
  const keysFile = (host: FieldHost) => path.join(host.root, "root", ".ssh", "authorized_keys");
  /** The other key still logs in on the host (what a broken authorized_keys would lock out). */
  const otherKeyWorks = async (ip: string) =>
    (
      await run("ssh", [
        ...["-i", otherKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
        ...["-o", `UserKnownHostsFile=${knownHosts}`, "-o", "ConnectTimeout=5", `root@${ip}`, "true"],
      ])
    ).code === 0;

  test("the relay leaves authorized_keys byte-identical in every shape, after a rollout killed mid-relay too; the next rollout and status clear what it left", async () => {
    const before = shapes();
    for (const [i, host] of hosts.entries()) {
      await host.reset();
      await host.exec("rm", ["-rf", STAGING, "/root/.ssh"]);
      mkdirSync(path.dirname(keysFile(host)), { recursive: true, mode: 0o700 });
      writeFileSync(keysFile(host), before[i]!, { mode: 0o600 });
      assert.ok(await otherKeyWorks(ROLLOUT_HOSTS[i]!.ip), `${host.name}: the other key logs in before`);
    }
    const args = relayedRollout();
    const controlDirs = () => readdirSync(os.tmpdir()).filter((d) => d.startsWith("sl-ssh-"));
    const dirsBefore = new Set(controlDirs());
    // Killed as a power cut would: as soon as a holder carries the relay's line.
    const killed = await interrupt(INSTALLER, args, {
      when: () =>
        hosts.some(
          (h) => existsSync(keysFile(h)) && readFileSync(keysFile(h), "latin1").includes("sealift-relay-"),
        ),
      signal: "SIGKILL",
      env: { PATH: HOST_PATH, HOME: "/root" },
    });
    assert.ok(killed.signalled, "killed mid-relay");
    // Let what the dead operator had started on the hosts run out (the ssh sessions it left).
    await run(
      "sh",
      // ("[s]..." so that the pattern does not match this shell's own command line.)
      [
        "-c",
        `while pgrep -f '[s]ealift-relay-|[${path.basename(v1.archive)[0]}]${path.basename(v1.archive).slice(1)}' >/dev/null; do sleep 0.2; done`,
      ],
      { timeoutMs: 300_000 },
    );
    for (const [i, host] of hosts.entries())
      assert.ok(
        await otherKeyWorks(ROLLOUT_HOSTS[i]!.ip),
        `${host.name}: the other key logs in after the kill`,
      );
    const left = hosts.filter((h) => readFileSync(keysFile(h), "latin1").includes("sealift-relay-"));
    assert.ok(left.length > 0, "the kill left a relay line (what the next rollout must clear)");
    for (const line of left.map((h) =>
      readFileSync(keysFile(h), "latin1")
        .split("\n")
        .find((l) => l.includes("sealift-relay-"))!,
    ))
      assert.match(
        line,
        /^restrict,expiry-time="\d{12}",from="10\.77\.0\.21,10\.77\.0\.22,10\.77\.0\.23",command="\/bin\/sh /,
      );

    const again = await installer(INSTALLER, args, { timeoutMs: 600_000 });
    assert.equal(again.code, 0, again.stderr);
    for (const [i, host] of hosts.entries()) {
      assert.deepEqual(
        readFileSync(keysFile(host)),
        before[i],
        `${host.name}: authorized_keys byte-identical`,
      );
      assert.equal(statSync(keysFile(host)).mode & 0o777, 0o600);
      assert.ok(await otherKeyWorks(ROLLOUT_HOSTS[i]!.ip), `${host.name}: the other key logs in`);
      const staged = await host.exec("sh", ["-c", `ls -a ${STAGING}`]);
      assert.doesNotMatch(staged.stdout, /sealift-relay|\.answers-/, `${host.name}: ${staged.stdout}`);
      assert.equal(await reply(host, 8080), "echo: hi");
    }
    assert.deepEqual(
      controlDirs().filter((d) => !dirsBefore.has(d)),
      [],
      "the killed rollout's control folder (with its key) is gone",
    );
  });

  test("a compromised holder (a stand-in script streaming zeros) cannot send a receiver more than the bundle's size", async () => {
    const [holderHost, receiverHost] = [hosts[0]!, hosts[1]!];
    const inv = parseInventory(ini(), "hosts.ini");
    const [holder, receiver] = [inv.hosts[0]!, inv.hosts[1]!];
    const ssh = { acceptNewHostKeys: false, connectTimeoutSeconds: 10, operatorHome: "/root" };
    await withControlDir(async (control) => {
      const key = await makeRelayKey(control, inv.hosts);
      const holding = new SshConnection(holder, ssh, control);
      const receiving = new SshConnection(receiver, ssh, control);
      const remote = `${STAGING}/zeros.bin`;
      await holding.run(`mkdir -p ${STAGING} && echo small > ${remote}`);
      await prepareHolder(holding, key, remote);
      // The stand-in for a compromised holder: its relay script streams 50 MB of zeros.
      await holding.run(`printf '#!/bin/sh\\nhead -c 50000000 /dev/zero\\n' > ${STAGING}/.${key.id}.sh`);
      await receiving.run(`mkdir -p ${STAGING} && rm -f ${STAGING}/zeros.partial`);
      const took = await relayCopy(receiving, holder, key, `${STAGING}/zeros.partial`, 0, 1000, "/root");
      assert.equal(took, 1000);
      const size = await receiverHost.exec("stat", ["-c", "%s", `${STAGING}/zeros.partial`]);
      assert.equal(size.stdout.trim(), "1000");
      await cleanHolder(holding, key, STAGING);
      await receiving.run(`rm -f ${STAGING}/zeros.partial`);
      await holding.close();
      await receiving.close();
    });
    assert.doesNotMatch(readFileSync(keysFile(holderHost), "latin1"), /sealift-relay-/);
  });

  test("secrets never appear in a process list or a file: a secret (from --answers) and a plain setting reach each host on the installer's standard input", async () => {
    for (const host of hosts) await host.reset();
    const secret = `s3cret-${Math.random().toString(36).slice(2)}`;
    let watching = true;
    const seen: string[] = [];
    // Every process list, on every host and on this machine, while the rollout runs.
    const watch = (async () => {
      while (watching) {
        for (const host of hosts) {
          const ps = await host.exec("ps", ["-eo", "args"]);
          if (ps.stdout.includes(secret))
            seen.push(`${host.name}: ${ps.stdout.split("\n").find((l) => l.includes(secret))}`);
        }
        const local = await run("ps", ["-eo", "args"]);
        if (local.stdout.includes(secret))
          seen.push(`operator: ${local.stdout.split("\n").find((l) => l.includes(secret))}`);
      }
    })();
    // The operator hands the secret over in a file (what they type with --set is theirs to show).
    const answers = path.join(example.workdir, "secret-answers.yaml");
    writeFileSync(answers, `env:\n  API_TOKEN: ${secret}\n`, { mode: 0o600 });
    const outcome = await roll(v1.archive, inventory("hosts.ini", ini()), [
      "--answers",
      answers,
      "--set",
      "MODEL_NAME=tiny",
    ]);
    watching = false;
    await watch;
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.deepEqual([...new Set(seen)].slice(0, 5), [], "the secret was in a process list");
    for (const host of hosts) {
      const env = await host.exec("cat", [`/opt/${example.name}/.env`]);
      assert.match(env.stdout, new RegExp(`API_TOKEN=${secret}`), `${host.name}: the setting arrived`);
      const staged = await host.exec("sh", ["-c", `ls -a ${STAGING}`]);
      assert.doesNotMatch(staged.stdout, /answers/, `${host.name}: no settings file`);
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
    const v3 = await packed(example, "dist-v3", ["--sign", path.join(keys, "team.key")]);
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
