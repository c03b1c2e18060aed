/**
 * Ansible inventories as teams have them: INI and YAML, groups and children, vars by precedence,
 * the connection variables, per-host settings; --limit as Ansible reads it; bad lines refused with
 * file:line; Ansible's serial batches.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { limitHosts, parseInventory } from "../../src/fleet/inventory.js";
import { batches } from "../../src/fleet/rollout.js";
import type { SealiftError } from "../../src/errors.js";

const INI = `
# edge servers
[edge]
edge1 ansible_host=10.0.0.11 sealift_set_FRONTEND_PORT=8081
edge2 ansible_host=10.0.0.12 ansible_port=2222

[core]
core1 ansible_host=10.0.0.21 ansible_user=deploy

[prod:children]
edge
core

[prod:vars]
ansible_user=ops
ansible_ssh_private_key_file=/keys/prod
ansible_ssh_common_args='-o UserKnownHostsFile=/etc/fleet/known_hosts -o ProxyJump=bastion'
sealift_set_MODEL_NAME=big

[all:vars]
sealift_set_MODEL_NAME=small
`;

const YAML = `
all:
  vars:
    ansible_user: root
  children:
    edge:
      hosts:
        edge1: {ansible_host: 10.0.0.11, sealift: {set: {FRONTEND_PORT: 8081}}}
        edge2:
          ansible_host: 10.0.0.12
    core:
      hosts:
        core1: {ansible_host: 10.0.0.21, ansible_user: deploy}
      vars:
        sealift_set_MODEL_NAME: big
`;

describe("Ansible inventories", () => {
  test("INI: groups, children, vars by precedence (all < parent < child < host), connection variables", () => {
    const inventory = parseInventory(INI, "hosts.ini");
    const byName = Object.fromEntries(inventory.hosts.map((h) => [h.name, h]));
    assert.deepEqual(Object.keys(byName).sort(), ["core1", "edge1", "edge2"]);
    assert.equal(byName.edge1!.address, "10.0.0.11");
    assert.equal(byName.edge1!.user, "ops");
    assert.equal(byName.core1!.user, "deploy", "a host variable wins over its group's");
    assert.equal(byName.edge2!.port, 2222);
    assert.equal(byName.edge2!.keyFile, "/keys/prod");
    assert.deepEqual(byName.edge2!.sshArgs, [
      "-o",
      "UserKnownHostsFile=/etc/fleet/known_hosts",
      "-o",
      "ProxyJump=bastion",
    ]);
    assert.deepEqual(byName.edge1!.settings, { FRONTEND_PORT: "8081", MODEL_NAME: "big" });
    assert.deepEqual(inventory.groups.get("prod")!.sort(), ["core1", "edge1", "edge2"]);
  });

  test("YAML: the same fleet, with a sealift: {set:} map per host", () => {
    const inventory = parseInventory(YAML, "hosts.yaml");
    const byName = Object.fromEntries(inventory.hosts.map((h) => [h.name, h]));
    assert.deepEqual(byName.edge1!.settings, { FRONTEND_PORT: "8081" });
    assert.deepEqual(byName.core1!.settings, { MODEL_NAME: "big" });
    assert.equal(byName.core1!.user, "deploy");
    assert.equal(byName.edge2!.user, "root");
    assert.deepEqual(byName.edge2!.groups, ["edge"]);
  });

  test("--limit: hosts, groups, globs, exclusions and intersections, as Ansible reads them", () => {
    const inventory = parseInventory(INI, "hosts.ini");
    const names = (limit: string) =>
      limitHosts(inventory, limit)
        .map((h) => h.name)
        .sort();
    assert.deepEqual(names("edge"), ["edge1", "edge2"]);
    assert.deepEqual(names("edge1,core1"), ["core1", "edge1"]);
    assert.deepEqual(names("prod:!edge2"), ["core1", "edge1"]);
    assert.deepEqual(names("e*"), ["edge1", "edge2"]);
    assert.deepEqual(names("prod:&core"), ["core1"]);
    assert.deepEqual(names("edge[12]"), ["edge1", "edge2"], "fnmatch's [seq]");
    assert.deepEqual(names("edge?"), ["edge1", "edge2"]);
    assert.deepEqual(names("~^(core|edge2)"), ["core1", "edge2"], "~ starts a regular expression");
    assert.throws(
      () => limitHosts(inventory, "~(("),
      (e: SealiftError) => e.exitCode === 2,
    );
    assert.throws(() => limitHosts(inventory, "nothere"), /--limit: no hosts matched "nothere"/);
    // An unknown part is an error too (as in Ansible), and an empty --limit selects nothing.
    assert.throws(
      () => limitHosts(inventory, "edge,nosuch"),
      (e: SealiftError) =>
        e.exitCode === 2 && /no hosts matched "nosuch"/.test(e.message) && /edge1/.test(e.hint!),
    );
    assert.throws(() => limitHosts(inventory, ""), /--limit is empty/);
  });

  test("rejects-ssh-option-injection: names, addresses and users beginning with - are refused with file:line", () => {
    const cases: Array<[string, RegExp]> = [
      [
        "[edge]\nh1 ansible_host='-oProxyCommand=touch /tmp/x'\n",
        /hosts\.ini:2: host h1: ansible_host "-oProxyCommand=touch \/tmp\/x" cannot be used: .*begins with "-"/,
      ],
      ["[edge]\n-F/path/config\n", /hosts\.ini:2: host name "-F\/path\/config" cannot be used/],
      [
        "[edge]\nh1 ansible_user=-oProxyCommand=x\n",
        /hosts\.ini:2: host h1: ansible_user "-oProxyCommand=x" cannot be used/,
      ],
      [
        "[edge]\nh1 ansible_ssh_common_args='-o ProxyCommand=\"nc %h %p\"'\n",
        /hosts\.ini:2: host h1: ansible_ssh_common_args passes "-o ProxyCommand=nc %h %p" to ssh, which is not an option sealift lets an inventory set/,
      ],
      ["[edge]\nh1 ansible_port=99999\n", /host h1: ansible_port "99999" is not a port number \(1-65535\)/],
      [
        "[a]\nh1 ansible_host=10.0.0.1\n[b]\nh1 ansible_host=10.0.0.2\n",
        /hosts\.ini:4: host h1: ansible_host is set twice with different values \("10\.0\.0\.1" on line 2, then "10\.0\.0\.2"\)/,
      ],
      ["[a:children]\nb\n[b:children]\na\n[a]\nh1\n", /groups form a loop: a -> b -> a/],
    ];
    for (const [text, message] of cases)
      assert.throws(
        () => parseInventory(text, "hosts.ini"),
        (e: SealiftError) => e.code === "INVENTORY_INVALID" && e.exitCode === 2 && message.test(e.message),
        text,
      );
  });

  test("a billion-laughs YAML inventory is refused, not expanded", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    lines.push("all:\n  hosts:\n    h1: {boom: *i}");
    const before = process.memoryUsage().rss;
    assert.throws(
      () => parseInventory(lines.join("\n"), "hosts.yaml"),
      (e: SealiftError) => e.code === "INVENTORY_INVALID" && /cannot be read: .*alias/i.test(e.message),
    );
    assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024);
  });

  test("a bad line is refused with file:line and what is wrong", () => {
    const cases: Array<[string, RegExp]> = [
      ["[edge\nedge1\n", /hosts\.ini:1: "\[edge" is not a section header/],
      ["[edge]\nedge1 ansible_host\n", /hosts\.ini:2: "ansible_host" is not KEY=VALUE \(host edge1\)/],
      ["[edge:vars]\njust words\n", /hosts\.ini:2: a :vars section holds KEY=VALUE lines/],
      [
        "[edge]\nweb[01:10].example.com\n",
        /hosts\.ini:2: host ranges like web\[01:10\]\.example\.com are not supported/,
      ],
      ["[edge]\nedge1 ansible_port=ssh\n", /host edge1: ansible_port "ssh" is not a port number/],
    ];
    for (const [text, message] of cases)
      assert.throws(
        () => parseInventory(text, "hosts.ini"),
        (e: SealiftError) => e.code === "INVENTORY_INVALID" && message.test(e.message),
        text,
      );
    assert.throws(
      () => parseInventory("all:\n  hosts: [a, b]\n", "hosts.yaml"),
      /hosts of group all must be a map of host names/,
    );
  });

  test("serial batches as Ansible: numbers and percentages, the last size repeating", () => {
    const hosts = ["a", "b", "c", "d", "e", "f", "g"];
    assert.deepEqual(batches(hosts, []), [hosts]);
    assert.deepEqual(batches(hosts, ["1", "2"]), [["a"], ["b", "c"], ["d", "e"], ["f", "g"]]);
    assert.deepEqual(batches(hosts, ["1", "50%"]), [["a"], ["b", "c", "d"], ["e", "f", "g"]]);
  });

  describe("rejects-ssh-option: what an inventory hands to ssh is allow-listed", () => {
    /** Every key ssh_config(5) documents (OpenSSH 9.2), with the ones this machine's `ssh -G` prints. */
    const documented = new Set(
      (
        "Host Match AddKeysToAgent AddressFamily BatchMode BindAddress BindInterface CanonicalDomains " +
        "CanonicalizeFallbackLocal CanonicalizeHostname CanonicalizeMaxDots CanonicalizePermittedCNAMEs " +
        "CASignatureAlgorithms CertificateFile CheckHostIP Ciphers ClearAllForwardings Compression " +
        "ConnectionAttempts ConnectTimeout ControlMaster ControlPath ControlPersist DynamicForward " +
        "EnableEscapeCommandline EnableSSHKeysign EscapeChar ExitOnForwardFailure FingerprintHash " +
        "ForkAfterAuthentication ForwardAgent ForwardX11 ForwardX11Timeout ForwardX11Trusted GatewayPorts " +
        "GlobalKnownHostsFile GSSAPIAuthentication GSSAPIClientIdentity GSSAPIDelegateCredentials " +
        "GSSAPIKeyExchange GSSAPIRenewalForcesRekey GSSAPIServerIdentity GSSAPITrustDns GSSAPIKexAlgorithms " +
        "HashKnownHosts HostbasedAcceptedAlgorithms HostbasedAuthentication HostKeyAlgorithms HostKeyAlias " +
        "Hostname IdentitiesOnly IdentityAgent IdentityFile IgnoreUnknown Include IPQoS " +
        "KbdInteractiveAuthentication KbdInteractiveDevices KexAlgorithms KnownHostsCommand LocalCommand " +
        "LocalForward LogLevel LogVerbose MACs NoHostAuthenticationForLocalhost NumberOfPasswordPrompts " +
        "PasswordAuthentication PermitLocalCommand PermitRemoteOpen PKCS11Provider Port " +
        "PreferredAuthentications ProxyCommand ProxyJump ProxyUseFdpass PubkeyAcceptedAlgorithms " +
        "PubkeyAuthentication RekeyLimit RemoteCommand RemoteForward RequestTTY RequiredRSASize " +
        "RevokedHostKeys SecurityKeyProvider SendEnv ServerAliveCountMax ServerAliveInterval SessionType " +
        "SetEnv StdinNull StreamLocalBindMask StreamLocalBindUnlink StrictHostKeyChecking SyslogFacility " +
        "TCPKeepAlive Tunnel TunnelDevice UpdateHostKeys User UserKnownHostsFile VerifyHostKeyDNS " +
        "VisualHostKey XAuthLocation"
      )
        .split(" ")
        .map((k) => k.toLowerCase()),
    );
    for (const line of execFileSync("ssh", ["-G", "example.invalid"], { encoding: "utf8" }).split("\n"))
      if (line.trim()) documented.add(line.split(" ")[0]!.toLowerCase());
    /** What a fleet needs, each with a value it takes. */
    const allowed: Record<string, string> = {
      port: "2222",
      user: "ops",
      identityfile: "/home/ops/.ssh/fleet",
      identitiesonly: "yes",
      userknownhostsfile: "/home/ops/.ssh/known_hosts",
      globalknownhostsfile: "/etc/ssh/ssh_known_hosts",
      stricthostkeychecking: "accept-new",
      hostkeyalias: "edge1",
      checkhostip: "no",
      connecttimeout: "10",
      connectionattempts: "3",
      serveraliveinterval: "15",
      serveralivecountmax: "4",
      tcpkeepalive: "yes",
      addressfamily: "inet",
      compression: "yes",
      proxyjump: "ops@bastion.example:2222",
    };
    const common = (args: string) => `[edge]\nh1 ansible_host=10.0.0.1 ansible_ssh_common_args="${args}"\n`;
    const refused = (args: string) =>
      assert.throws(
        () => parseInventory(common(args), "hosts.ini"),
        (e: SealiftError) =>
          e.code === "INVENTORY_INVALID" &&
          /^hosts\.ini:2: host h1: ansible_ssh_common_args passes /.test(e.message) &&
          /an inventory may give ssh only/.test(e.hint ?? ""),
        args,
      );

    test("every -o key ssh documents: the allowed ones reach ssh as given, every other is refused with file:line", () => {
      assert.ok(documented.size > 90, `${documented.size} keys`);
      for (const key of documented) {
        const value = allowed[key];
        if (value) {
          const [host] = parseInventory(common(`-o ${key}=${value}`), "hosts.ini").hosts;
          assert.deepEqual(host!.sshArgs, ["-o", `${key}=${value}`], key);
        } else refused(`-o ${key}=/tmp/x`);
      }
      // What the issue found, each in the forms ssh reads.
      for (const args of [
        "-oProxyCommand=touch\\ /tmp/pwned",
        "-o 'ProxyCommand touch /tmp/pwned'",
        "-oSendEnv=*",
        "-oPKCS11Provider=x.so",
        "-o StrictHostKeyChecking=no",
        "-o ProxyJump=-oProxyCommand=x",
        "-J -oProxyCommand=x",
        "-o UserKnownHostsFile=/x -o LocalCommand=id",
      ])
        refused(args);
    });

    test("every flag ssh documents: only -4 -6 -C -p -l -i -J pass; -F, -E, -R, -L, -D, -A, -W and the rest are refused", () => {
      const withValue = "BbcDEeFIiJLlmOoPpQRSWw";
      for (const flag of "46AaCfGgKkMNnqsTtVvXxYy") {
        if ("46C".includes(flag))
          assert.deepEqual(parseInventory(common(`-${flag}`), "hosts.ini").hosts[0]!.sshArgs, [`-${flag}`]);
        else refused(`-${flag}`);
      }
      for (const flag of withValue) {
        const value = flag === "p" ? "2222" : flag === "J" ? "bastion" : flag === "o" ? "Port=22" : "ops";
        if ("pliJo".includes(flag))
          assert.deepEqual(parseInventory(common(`-${flag} ${value}`), "hosts.ini").hosts[0]!.sshArgs, [
            `-${flag}`,
            value,
          ]);
        else refused(`-${flag} ${value}`);
      }
      refused("bastion"); // a word ssh would take as the host
      refused("-F/path/to/this/inventory");
    });

    test("words split as Ansible splits them (shlex): an escaped space is one word", () => {
      const [host] = parseInventory(
        common("-o UserKnownHostsFile=/home/ops/my\\\\ hosts"),
        "hosts.ini",
      ).hosts;
      assert.deepEqual(host!.sshArgs, ["-o", "UserKnownHostsFile=/home/ops/my hosts"]);
    });
  });
});
