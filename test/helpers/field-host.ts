/**
 * Offline field hosts and the Docker 26 build engine, started by scripts/field-host.sh (scripts/test.sh
 * starts them): each host has its own engine, network namespace (loopback only), /opt, /tmp and
 * /root, and no Node. Tests hand a bundle to a host as an operator would copy it there, run the
 * compiled installer on it, and look at what its engine and its services say.
 */
import { execFileSync } from "node:child_process";
import { constants, copyFileSync, existsSync, linkSync, mkdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { serviceContainerArgs } from "./docker.js";
import { INSTALLER, ROOT, run, type Outcome } from "./run.js";

const SCRIPT = path.join(ROOT, "scripts", "field-host.sh");
/** scripts/field-host.sh, for its authorize and hostkey commands. */
export const fieldHostScript = SCRIPT;

/** The engines the suite uses: scripts/test.sh starts them all. */
export const FIELD_HOSTS = {
  /** Docker 20.10, classic store, Compose v1. */
  docker20: "f20",
  /** Docker 26, classic store, Compose v2 and buildx. */
  docker26: "f26",
  /** Docker 26, containerd image store, Compose v2 and buildx. */
  containerd26: "f26c",
} as const;
/** Hosts reached over SSH (each its own sshd on the test bridge), for install rollout. */
export const ROLLOUT_HOSTS = [
  { name: "n1", ip: "10.77.0.21" },
  { name: "n2", ip: "10.77.0.22" },
  { name: "n3", ip: "10.77.0.23" },
] as const;

/** The build machine on today's Docker: 26 with the containerd store, buildx and Compose v2. */
export const BUILD_ENGINE_26 = "b26c";

export interface FieldHost {
  name: string;
  /** The host's root folder on this machine (its /opt, /tmp... are below). */
  root: string;
  /** Runs a command on the host: its namespaces, its tools, env cleared, no Node. */
  exec(file: string, args: string[], options?: { timeoutMs?: number }): Promise<Outcome>;
  /** Copies a file into the host's /tmp (as scp would) and returns its path there. */
  deliver(file: string): string;
  /**
   * The compiled installer, carried to the host (its /root, which reset() keeps) as an operator
   * would: this checkout may sit where the host cannot see it (its /tmp is its own). Its path there.
   */
  installer(): string;
  /** GET url from inside the host's network: its published ports answer only there. */
  get(url: string): Promise<string>;
  /** Its engine: docker ARGS on the host; throws on failure. */
  docker(args: string[]): Promise<string>;
  /** The ID of the running container of a compose project's service there. */
  container(project: string, service: string): Promise<string>;
  /** Removes every container, volume, image and build record: a fresh host. */
  reset(): Promise<void>;
}

export function fieldHost(name: string): FieldHost {
  const root = execFileSync("bash", [SCRIPT, "root", name], { encoding: "utf8" }).trim();
  const exec = (file: string, args: string[], options: { timeoutMs?: number } = {}) =>
    run("bash", [SCRIPT, "exec", name, "--", file, ...args], { timeoutMs: options.timeoutMs });
  const docker = async (args: string[]) => {
    const outcome = await exec("docker", args);
    if (outcome.code !== 0) throw new Error(`docker ${args.join(" ")} on ${name}: ${outcome.stderr}`);
    return outcome.stdout.trim();
  };
  return {
    name,
    root,
    exec,
    docker,
    container: (project, service) => docker(serviceContainerArgs(project, service)),
    deliver(file) {
      const dir = path.join(root, "tmp", "delivered");
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const target = path.join(dir, path.basename(file));
      // A copy, never a link: the file may be the run's shared example, which no test may change.
      rmSync(target, { force: true });
      copyFileSync(file, target, constants.COPYFILE_FICLONE);
      return path.join("/tmp/delivered", path.basename(file));
    },
    installer() {
      const target = path.join(root, "root", "sealift-install");
      const source = statSync(INSTALLER);
      const there = existsSync(target) ? statSync(target) : null;
      if (!there || there.size !== source.size || there.mtimeMs < source.mtimeMs) {
        rmSync(target, { force: true });
        try {
          linkSync(INSTALLER, target);
        } catch {
          copyFileSync(INSTALLER, target);
        }
      }
      return "/root/sealift-install";
    },
    async get(url) {
      // (busybox 1.35's wget -T crashes on a refused connection)
      const outcome = await exec("busybox", ["wget", "-q", "-O", "-", url]);
      if (outcome.code !== 0) throw new Error(`GET ${url} on ${name}: ${outcome.stderr}`);
      return outcome.stdout;
    },
    async reset() {
      await exec("sh", [
        "-c",
        'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null; ' +
          "docker system prune -af --volumes >/dev/null; docker builder prune -af >/dev/null 2>&1; " +
          // Named volumes too: `prune --volumes` leaves them on Docker 23 and later.
          'vols=$(docker volume ls -q); [ -z "$vols" ] || docker volume rm -f $vols >/dev/null; ' +
          "rm -rf /opt/* /tmp/delivered",
      ]);
    },
  };
}

/** The environment that points docker (and sealift pack) at a field host's engine from this machine. */
export function engineEnv(name: string): Record<string, string> {
  const lines = execFileSync("bash", [SCRIPT, "env", name], { encoding: "utf8" });
  const env: Record<string, string> = {};
  for (const line of lines.split("\n")) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!.replace("$PATH", process.env.PATH ?? "");
  }
  return env;
}
