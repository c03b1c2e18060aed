/** Running sealift, the compiled installer and system tools the way a user does, and reading the outcome. */
import { execa } from "execa";
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
