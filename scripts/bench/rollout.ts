/**
 * rollout: `install rollout` of the example (packed on Docker 26) to six field hosts reached over
 * SSH, relayed among them, against the same to one of them: the wall time of each, and the bytes
 * the operator's interface sent.
 */
import { statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseRolloutJson } from "../../src/fleet/rollout-json.js";
import { parsePackJson } from "../../src/packager/pack-json.js";
import { exampleProject } from "../../test/helpers/example.js";
import { engineEnv } from "../../test/helpers/field-host.js";
import { INSTALLER, installer, run, sealift } from "../../test/helpers/run.js";
import { alternately, median, row, type Row } from "./harness.js";
import { dropAll, FIELD_HOST, must, onHost, ROUNDS } from "./tools.js";

/**
 * install rollout of the example (packed on Docker 26) to three field hosts reached over SSH
 * against the same to one of them: the wall time of each, and the bytes each host was sent.
 */
export async function benchRollout(): Promise<{ rows: Row[]; notes: string[] }> {
  // Six servers on one LAN; the operator's link to them limited (tc on the bridge shapes only what
  // this machine sends: the operator's), the hosts' own links not (BENCH_OPERATOR_RATE, default 200mbit).
  const hosts = [1, 2, 3, 4, 5, 6].map((i) => ({
    name: `n${i}`,
    ip: `10.77.0.${20 + i}`,
    profile: i % 2 ? "docker26" : "docker26-containerd",
  }));
  const rate = process.env.BENCH_OPERATOR_RATE ?? "200mbit";
  await must(run("bash", [FIELD_HOST, "start", "b26c", "docker26-containerd"]), "start b26c");
  for (const h of hosts)
    await must(run("bash", [FIELD_HOST, "start", h.name, h.profile, "--ip", h.ip]), `start ${h.name}`);
  const example = await exampleProject("bro", engineEnv("b26c"));
  try {
    const packed = await must(
      sealift(["pack", example.dir, "--out", path.join(example.workdir, "dist"), "--json"], {
        env: example.engine,
      }),
      "pack",
    );
    const archive = parsePackJson(packed.stdout).archive;
    const key = path.join(example.workdir, "key");
    await must(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]), "ssh-keygen");
    const known: string[] = [];
    for (const h of hosts) {
      await must(run("bash", [FIELD_HOST, "authorize", h.name, `${key}.pub`]), "authorize");
      known.push(
        `${h.ip} ${(await must(run("bash", [FIELD_HOST, "hostkey", h.name]), "hostkey")).stdout.trim()}`,
      );
    }
    writeFileSync(path.join(example.workdir, "known_hosts"), known.join("\n") + "\n");
    const inventory = path.join(example.workdir, "hosts.ini");
    writeFileSync(
      inventory,
      [
        "[fleet]",
        ...hosts.map((h) => `${h.name} ansible_host=${h.ip}`),
        "[fleet:vars]",
        "ansible_user=root",
        `ansible_ssh_private_key_file=${key}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${path.join(example.workdir, "known_hosts")}'`,
        "",
      ].join("\n"),
    );
    const reset = async () => {
      for (const h of hosts)
        await dropAll(h.name).then(() => onHost(h.name, "rm -rf /opt/bundles /opt/slbro*"));
    };
    const roll = async (limit: string) => {
      const t0 = performance.now();
      const outcome = await must(
        installer(
          INSTALLER,
          ["rollout", archive, "--hosts", inventory, "--limit", limit, "--staging", "/opt/bundles", "--json"],
          {
            timeoutMs: 900_000,
          },
        ),
        `rollout ${limit}`,
      );
      const records = parseRolloutJson(outcome.stdout);
      return {
        ms: performance.now() - t0,
        bytes: records.map((r) => r.bytesSent),
        from: records.map((r) => `${r.host} from ${r.copiedFrom}`),
      };
    };
    /** Bytes this machine (the operator) sent into the bridge so far (its counters). */
    const operatorTx = async () => {
      const shown = await must(run("ip", ["-s", "-j", "link", "show", "sl-br0"]), "ip -s link");
      return (JSON.parse(shown.stdout) as Array<{ stats64: { tx: { bytes: number } } }>)[0]!.stats64.tx.bytes;
    };
    await must(
      run("sh", ["-c", `tc qdisc replace dev sl-br0 root tbf rate ${rate} burst 256kb latency 50ms`]),
      "tc",
    );
    const onOperator: number[] = [];
    let from: string[] = [];
    let times: { one: number[]; six: number[] };
    try {
      times = await alternately(
        "rollout",
        ROUNDS,
        {
          one: async () => (await roll("n1")).ms,
          six: async () => {
            const before = await operatorTx();
            const all = await roll("fleet");
            onOperator.push((await operatorTx()) - before);
            from = all.from;
            return all.ms;
          },
        },
        { prepare: reset },
      );
    } finally {
      await run("tc", ["qdisc", "del", "dev", "sl-br0", "root"]);
    }
    await reset();
    const archiveBytes = statSync(archive).size;
    return {
      rows: [
        row({
          section: "rollout",
          measure: `rollout to six hosts vs to one (time), the operator's link at ${rate}`,
          unit: "ms",
          sealift: times.six,
          other: times.one,
          against: "one host",
          goal: 1.5,
          note: "the example packed on Docker 26, to field hosts over SSH (4 at once), relayed between hosts; the other column is sealift's own rollout to one host",
        }),
      ],
      notes: [
        `rollout to six hosts: the operator's interface sent ${(median(onOperator) / 2 ** 20).toFixed(1)} MiB (median) for a ${(archiveBytes / 2 ** 20).toFixed(1)} MiB bundle: ${(median(onOperator) / archiveBytes).toFixed(2)} bundles; copies: ${from.join(", ")}`,
      ],
    };
  } finally {
    await example.dispose();
  }
}
