/**
 * Teams that run their fleet with Ansible use Ansible: the collection sealift.airgap that `npm run
 * build` packs (build/sealift-airgap-VERSION.tar.gz), installed offline with Debian's ansible-core
 * (`ansible-galaxy collection install FILE`), its role sealift.airgap.rollout played against three
 * offline field hosts over real SSH (both image stores). A first rollout installs everywhere, a
 * re-run reports nothing changed and sends nothing, a failing host fails with the installer's code,
 * message and hint, and check mode verifies and preflights without changing a host.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { ROLLOUT_HOSTS, fieldHost, fieldHostScript, type FieldHost } from "../helpers/field-host.js";
import { ROOT, run } from "../helpers/run.js";
import { statusJsonSchema } from "../../src/installer/install-json.js";

const STAGING = "/opt/sealift-bundles";

/** Bytes this machine (the controller) sent into the test bridge: its link to the hosts. */
async function bridgeSentBytes(): Promise<number> {
  const link = await run("ip", ["-s", "-j", "link", "show", "sl-br0"]);
  return (JSON.parse(link.stdout) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;
}

describe("the Ansible collection sealift.airgap against three offline field hosts", () => {
  let example: SharedExample;
  /** This suite's folder: keys, inventory, playbook, the collection, Ansible's temporary files. */
  let work: string;
  let archive: string;
  let release: string;
  let hosts: FieldHost[];
  let env: Record<string, string>;
  let inventory: string;
  let playbook: string;
  const dir = () => `/opt/${example.name}`;

  /** ansible-playbook with this collection, this inventory, and `extra` arguments. */
  const play = (extra: string[]) =>
    run("ansible-playbook", ["-i", inventory, playbook, ...extra], { env, timeoutMs: 900_000 });
  const recap = (stdout: string, host: string) => {
    const line = stdout.split("\n").find((l) => l.startsWith(`${host} `) && l.includes("ok="))!;
    const n = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(line)![1]);
    return { ok: n("ok"), changed: n("changed"), failed: n("failed") };
  };

  before(async () => {
    const collection = path.join(
      ROOT,
      "build",
      `sealift-airgap-${JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version}.tar.gz`,
    );
    assert.ok(existsSync(collection), `${collection} (npm run build makes it)`);
    example = await sharedExample();
    ({ archive, release } = example.n);
    work = mkdtempSync(path.join(os.tmpdir(), "sealift-ans-"));
    const collections = path.join(work, "collections");
    const installed = await run("ansible-galaxy", ["collection", "install", collection, "-p", collections]);
    assert.equal(installed.code, 0, installed.stderr);
    const key = path.join(work, "operator_key");
    assert.equal((await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])).code, 0);
    const knownHosts = path.join(work, "known_hosts");
    const lines: string[] = [];
    hosts = [];
    for (const h of ROLLOUT_HOSTS) {
      assert.equal((await run("bash", [fieldHostScript, "authorize", h.name, `${key}.pub`])).code, 0);
      lines.push(`${h.ip} ${(await run("bash", [fieldHostScript, "hostkey", h.name])).stdout.trim()}`);
      const host = fieldHost(h.name);
      await host.reset();
      await host.exec("rm", ["-rf", STAGING]);
      hosts.push(host);
    }
    writeFileSync(knownHosts, lines.join("\n") + "\n");
    inventory = path.join(work, "hosts.ini");
    writeFileSync(
      inventory,
      [
        "[edge]",
        ...ROLLOUT_HOSTS.map((h) => `${h.name} ansible_host=${h.ip}`),
        "[edge:vars]",
        "ansible_user=root",
        `ansible_ssh_private_key_file=${key}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${knownHosts}'`,
        "ansible_python_interpreter=/usr/bin/python3",
        "",
      ].join("\n"),
    );
    playbook = path.join(work, "rollout.yml");
    writeFileSync(
      playbook,
      [
        "- hosts: edge",
        "  serial: [1, 2]",
        "  max_fail_percentage: 0",
        "  gather_facts: false",
        "  roles:",
        "    - role: sealift.airgap.rollout",
        "      vars:",
        `        sealift_bundle: ${archive}`,
        `        sealift_dir: ${dir()}`,
        `        sealift_staging: ${STAGING}`,
        "        sealift_settings: \"{{ app_settings | default({'MODEL_NAME': 'from-ansible'}) }}\"",
        "",
      ].join("\n"),
    );
    env = {
      ANSIBLE_COLLECTIONS_PATH: collections,
      ANSIBLE_HOST_KEY_CHECKING: "True",
      ANSIBLE_LOCAL_TEMP: path.join(work, "ansible-tmp"),
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_FORCE_COLOR: "0",
    };
  });

  after(async () => {
    for (const host of hosts ?? []) {
      await host.reset();
      await host.exec("rm", ["-rf", STAGING]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  test("check mode on fresh hosts: verify and preflight only, reported as would-change, nothing installed", async () => {
    const checked = await play(["--check"]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    for (const host of hosts) assert.equal(await host.docker(["ps", "-aq"]), "", `${host.name} untouched`);
    assert.equal(
      (await hosts[0]!.exec("sh", ["-c", `test -e ${dir()} && echo there || echo absent`])).stdout.trim(),
      "absent",
    );
  });

  test("a first rollout: every host installed, healthy, with the settings from Ansible's variables; the controller's link carries the bundle about once (the relay)", async () => {
    const sentBefore = await bridgeSentBytes();
    const first = await play([]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const sent = (await bridgeSentBytes()) - sentBefore;
    const size = statSync(archive).size;
    assert.ok(
      sent < 1.5 * size,
      `the controller sent ${sent} bytes for a ${size}-byte bundle to three hosts`,
    );
    for (const host of hosts) {
      const held = await host.exec("sha256sum", [`${STAGING}/${path.basename(archive)}`]);
      assert.equal(held.stdout.split(" ")[0], readFileSync(`${archive}.sha256`, "utf8").split(" ")[0]);
      const left = await host.exec("sh", ["-c", `cat ~/.ssh/authorized_keys 2>/dev/null; ls -a ${STAGING}`]);
      assert.doesNotMatch(left.stdout, /sealift-relay/, `${host.name}: nothing of the relay stays`);
    }
    for (const host of hosts) {
      assert.ok(recap(first.stdout, host.name).changed >= 1, first.stdout);
      const reply = JSON.parse(await host.get("http://127.0.0.1:8080/cgi-bin/api?q=ans")) as {
        model: string;
        reply: string;
      };
      assert.deepEqual([reply.model, reply.reply], ["from-ansible", "echo: ans"]);
      const status = await host.exec(`${dir()}/.sealift/install`, ["status", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(statusJsonSchema.parse(JSON.parse(status.stdout)).record.release, release);
    }
  });

  test("a re-run: changed=0 on every host, nothing sent (the bundle's copy skipped by its sha256)", async () => {
    const before = await Promise.all(
      hosts.map((h) => h.exec("stat", ["-c", "%Y", `${STAGING}/${path.basename(archive)}`])),
    );
    const again = await play(["-v"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    for (const host of hosts)
      assert.deepEqual(recap(again.stdout, host.name), {
        ...recap(again.stdout, host.name),
        changed: 0,
        failed: 0,
      });
    assert.match(
      again.stdout,
      /TASK \[sealift\.airgap\.rollout : Send the bundle \(skipped where the host holds it\)\][\s\S]*?skipping: \[n1\]/,
    );
    assert.match(again.stdout, /was already installed and healthy: nothing changed/);
    const after = await Promise.all(
      hosts.map((h) => h.exec("stat", ["-c", "%Y", `${STAGING}/${path.basename(archive)}`])),
    );
    assert.deepEqual(
      after.map((a) => a.stdout),
      before.map((b) => b.stdout),
      "the bundles were not written again",
    );
  });

  test("check mode on installed hosts: the installer's verify and preflight; another setting would change them, and changes nothing", async () => {
    const same = await play(["--check"]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    for (const host of hosts) assert.equal(recap(same.stdout, host.name).changed, 0, same.stdout);
    assert.match(same.stdout, /is installed and running as the bundle has it/);
    const other = await play(["--check", "-e", '{"app_settings": {"MODEL_NAME": "another"}}']);
    assert.equal(other.code, 0, other.stdout + other.stderr);
    assert.match(other.stdout, /would change this host/);
    assert.equal(recap(other.stdout, "n1").changed, 1, other.stdout);
    const reply = JSON.parse(await hosts[0]!.get("http://127.0.0.1:8080/cgi-bin/api?q=c")) as {
      model: string;
    };
    assert.equal(reply.model, "from-ansible", "check mode changed nothing");
  });

  test("a failing host fails with the installer's error code, message and hint; max_fail_percentage stops the rest", async () => {
    const failed = await play(["-e", '{"app_settings": {"NO_SUCH_SETTING": "x"}}']);
    assert.equal(failed.code, 2, failed.stdout + failed.stderr);
    assert.match(
      failed.stdout,
      /fatal: \[n1\]: FAILED![\s\S]*ANSWERS_INVALID: .*NO_SUCH_SETTING is not a setting of [\s\S]*hint: its settings are/,
    );
    assert.equal(recap(failed.stdout, "n1").failed, 1);
    assert.doesNotMatch(failed.stdout, /^n2 .*ok=/m, "the canary failed: the next batch did not start");
  });

  test("rejects-shell-injection: a bundle whose name holds every shell metacharacter runs nothing on a host or here", async () => {
    const evil = path.join(work, "evil");
    mkdirSync(evil, { recursive: true });
    const name = "x$(touch${IFS}PWNED-ansible)$(echo${IFS}INJECTED-$(id${IFS}-u)>&2)`id`'\";|&<>*?!#.tar.gz";
    const copy = path.join(evil, name);
    copyFileSync(archive, copy);
    writeFileSync(
      `${copy}.sha256`,
      readFileSync(`${archive}.sha256`, "utf8").replace(path.basename(archive), name),
    );
    const outcome = await play(["--limit", "n1", "-e", JSON.stringify({ sealift_bundle: copy })]);
    // The name is a file's name and nothing more: the bundle installs under it.
    assert.equal(outcome.code, 0, outcome.stdout + outcome.stderr);
    assert.match(await hosts[0]!.get("http://127.0.0.1:8080/cgi-bin/api?q=x"), /"reply"/);
    for (const host of hosts)
      assert.equal(
        existsSync(path.join(host.root, "tmp", "PWNED-ansible")),
        false,
        `${host.name}: nothing ran`,
      );
    assert.equal(existsSync("/tmp/PWNED-ansible"), false, "nothing ran here");
    const staged = await hosts[0]!.exec("sh", ["-c", `ls -a ${STAGING}`]);
    assert.doesNotMatch(staged.stdout, /\.answers-/);
  });

  test("the settings reach the installer on its standard input: no value in a process list, no file on the host", async () => {
    const secret = `s3cret-${Math.random().toString(36).slice(2)}`;
    let watching = true;
    const seen: string[] = [];
    const watch = (async () => {
      while (watching) {
        const ps = await run("ps", ["-eo", "args"]);
        if (ps.stdout.includes(secret)) seen.push("a process list");
        const files = await run("grep", ["-rl", secret, path.join(hosts[0]!.root, STAGING.slice(1))]);
        if (files.stdout.trim()) seen.push(`a file: ${files.stdout.trim()}`);
      }
    })();
    // In a vars file, as a team keeps secrets (on ansible-playbook's own command line it would show).
    const vars = path.join(work, "secret-vars.json");
    writeFileSync(vars, JSON.stringify({ app_settings: { API_TOKEN: secret } }), { mode: 0o600 });
    const played = await play(["--limit", "n1", "-e", `@${vars}`]);
    watching = false;
    await watch;
    assert.equal(played.code, 0, played.stdout + played.stderr);
    assert.deepEqual([...new Set(seen)], []);
    assert.doesNotMatch(played.stdout + played.stderr, new RegExp(secret), "not in Ansible's output");
    const env = await hosts[0]!.exec("cat", [`${dir()}/.env`]);
    assert.match(env.stdout, new RegExp(`API_TOKEN=${secret}`), "the setting arrived");
  });
});
