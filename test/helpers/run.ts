/** Running sealift, the compiled installer and system tools the way a user does, and reading the outcome. */
import { execa } from "execa";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SEALIFT_CLI = path.join(ROOT, "build", "sealift.cjs");
export const INSTALLER = path.join(
  ROOT,
  "build",
  `sealift-install-linux-${process.arch === "arm64" ? "arm64" : "x64"}`,
);
/** A PATH with docker and docker-compose but no node, as on an operator's host. */
export const HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export async function run(
  file: string,
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    cleanEnv?: boolean;
    input?: string;
    timeoutMs?: number;
  } = {},
): Promise<Outcome> {
  const started = performance.now();
  const result = await execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: !options.cleanEnv,
    input: options.input,
    stdin: options.input === undefined ? "ignore" : undefined,
    reject: false,
    timeout: options.timeoutMs ?? 300_000,
  });
  return {
    code: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    durationMs: performance.now() - started,
  };
}

export function sealift(args: string[], options: Parameters<typeof run>[2] = {}): Promise<Outcome> {
  if (!existsSync(SEALIFT_CLI)) throw new Error("build/sealift.cjs is missing: run `npm run build` first");
  return run(process.execPath, [SEALIFT_CLI, ...args], options);
}

/** Runs an installer binary as an operator would: no Node on PATH, nothing from this environment. */
export function installer(
  binary: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<Outcome> {
  return run(binary, args, {
    ...options,
    cleanEnv: true,
    env: { PATH: HOST_PATH, HOME: "/root", ...options.env },
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "0.0.0.0", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

/**
 * Starts FILE ARGS, sends `signal` as soon as `when` holds (a text on its stderr, or a check polled
 * every 20 ms), and waits for it to exit: its exit code and stderr.
 */
export async function interrupt(
  file: string,
  args: string[],
  options: {
    when: string | (() => boolean);
    signal: NodeJS.Signals;
    cwd?: string;
    env?: Record<string, string>;
  },
): Promise<{ code: number | null; stderr: string; signalled: boolean }> {
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running = false;
      resolve(code);
    }),
  );
  const ready = () => (typeof options.when === "string" ? stderr.includes(options.when) : options.when());
  while (running && !ready()) await new Promise((resolve) => setTimeout(resolve, 20));
  const signalled = running;
  if (running) child.kill(options.signal);
  return { code: await exited, stderr, signalled };
}
