/**
 * The installer's questions under a real terminal, on an offline field host (Docker 26): tmux runs
 * the compiled binary of the bundle extracted there, send-keys answers each prompt, capture-pane
 * reads the screen.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sharedExample, type SharedExample } from "../helpers/shared-example.js";
import { FIELD_HOSTS, fieldHost, fieldHostScript, type FieldHost } from "../helpers/field-host.js";
import { run } from "../helpers/run.js";

async function tmux(args: string[]): Promise<string> {
  const result = await run("tmux", args);
  if (result.code !== 0) throw new Error(`tmux ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

class Terminal {
  constructor(readonly session: string) {}

  static async start(command: string, cwd: string): Promise<Terminal> {
    const session = `sealift-${Math.random().toString(36).slice(2, 8)}`;
    await tmux(["new-session", "-d", "-s", session, "-x", "160", "-y", "60", "-c", cwd, command]);
    return new Terminal(session);
  }

  /** The screen and its scrollback, without colours. */
  screen(): Promise<string> {
    return tmux(["capture-pane", "-p", "-S", "-", "-t", this.session]);
  }

  async waitFor(text: string | RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (typeof text === "string" ? screen.includes(text) : text.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`"${text}" did not appear on the terminal:\n${screen}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async type(text: string): Promise<void> {
    await tmux(["send-keys", "-t", this.session, "-l", text]);
  }

  async press(...keys: string[]): Promise<void> {
    await tmux(["send-keys", "-t", this.session, ...keys]);
  }

  async close(): Promise<void> {
    await run("tmux", ["kill-session", "-t", this.session]);
  }
}

describe("the installer under a real terminal (on an offline Docker 26 host)", () => {
  let example: SharedExample;
  let host: FieldHost;
  /** The extracted bundle on the host, as an operator unpacks it from a USB stick. */
  let bundleDir: string;
  /** A file on the host, as this machine sees it. */
  const onHost = (file: string) => path.join(host.root, file);

  before(async () => {
    host = fieldHost(FIELD_HOSTS.docker26);
    await host.reset();
    await host.exec("sh", ["-c", "rm -f /tmp/exit-*"]); // each test waits for its own to appear
    example = await sharedExample();
    const there = host.deliver(example.n.archive);
    const untar = await host.exec("tar", ["xzf", there, "-C", "/tmp/delivered"]);
    assert.equal(untar.code, 0, untar.stderr);
    bundleDir = there.replace(/\.tar\.gz$/, "");
  });

  after(async () => {
    await host?.reset();
  });

  /** The terminal's command: on the host (its namespaces, env cleared), ./install from the bundle. */
  const command = (exitFile: string) =>
    `bash ${fieldHostScript} exec ${host.name} -- sh -c 'cd ${bundleDir} && TERM=xterm-256color ./install; echo "EXIT=$?" > ${exitFile}'; sleep 600`;

  test("asks the install folder and every setting (the secret unechoed), confirms, installs", async () => {
    const dir = "/opt/tty-answered";
    const exitFile = "/tmp/exit-install";
    const [frontendPort, backendPort] = [18080, 18000];
    const term = await Terminal.start(command(exitFile), os.tmpdir());
    try {
      await term.waitFor(`Install directory (/opt/${example.name})`);
      await term.type(dir);
      await term.press("Enter");
      await term.waitFor("Import the build cache to speed up later rebuilds? (Y/n)");
      await term.press("Enter");
      await term.waitFor("FRONTEND_PORT (8080)");
      await term.type(String(frontendPort));
      await term.press("Enter");
      await term.waitFor("BACKEND_PORT (8000)");
      await term.type(String(backendPort));
      await term.press("Enter");
      await term.waitFor("MODEL_NAME (tiny-llm-q4)");
      await term.press("Enter");
      await term.waitFor("API_TOKEN (Enter keeps the default)");
      await term.type("s3cr3t-value");
      await term.press("Enter");
      const summary = await term.waitFor("Go ahead?");
      assert.match(summary, new RegExp(`Install ${example.name} .* into ${dir}`));
      assert.match(summary, /API_TOKEN=\*{8}/);
      // The screen reads top to bottom: the questions, then the checks as one aligned table, then
      // what the install will do; nothing interleaved.
      const lines = summary.split("\n");
      const header = lines.findIndex((l) => /^CHECK +RESULT +DETAIL/.test(l));
      const lastQuestion = lines.findLastIndex((l) => l.includes("API_TOKEN (Enter keeps the default)"));
      const plan = lines.findIndex((l) => l.startsWith(`Install ${example.name} `));
      assert.ok(lastQuestion < header && header < plan, summary);
      assert.equal(lines.filter((l) => /^CHECK +RESULT/.test(l)).length, 1, "one table");
      const column = lines[header]!.indexOf("RESULT");
      const rows = lines.slice(header + 1, lines.indexOf("", header));
      assert.ok(rows.length >= 8, summary);
      for (const row of rows) assert.match(row.slice(column), /^(ok|warn|FAIL) /, `aligned: ${row}`);
      assert.match(summary, /images: +(load \d+ \(|all \d+ already here, nothing to load)/);
      assert.match(summary, /data: +place 2 files/);
      await term.type("y");
      await term.press("Enter");
      const done = await term.waitFor(/is installed in .* and healthy/, 120_000);
      // The commands it names run from any folder, tomorrow too: the installer the install keeps.
      assert.match(done, new RegExp(`status: +${dir}/\\.sealift/install status --dir ${dir}`));
      const screen = await term.screen();
      assert.doesNotMatch(screen, /s3cr3t-value/, "the secret never shows on the screen");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readFileSync(onHost(exitFile), "utf8").trim(), "EXIT=0");
      const env = readFileSync(onHost(path.join(dir, ".env")), "utf8");
      assert.match(env, /^API_TOKEN=s3cr3t-value$/m);
      assert.match(env, /^MODEL_NAME=tiny-llm-q4$/m);
      const reply = await host.get(`http://127.0.0.1:${frontendPort}/cgi-bin/api?q=tty`);
      assert.equal(JSON.parse(reply).reply, "echo: tty");
    } finally {
      await term.close();
      await host.exec(`${dir}/.sealift/install`, ["uninstall", "--dir", dir, "--volumes", "--yes"]);
    }
  });

  test("Ctrl-C at a question cancels: exit 130, nothing installed", async () => {
    const exitFile = "/tmp/exit-cancel";
    const term = await Terminal.start(command(exitFile), os.tmpdir());
    try {
      await term.waitFor("Install directory");
      await term.press("C-c");
      const deadline = Date.now() + 30_000;
      while (!existsSync(onHost(exitFile)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(readFileSync(onHost(exitFile), "utf8").trim(), "EXIT=130");
      assert.match(await term.screen(), /error\[CANCELLED\]: cancelled at a question; nothing was installed/);
      assert.equal(existsSync(onHost(`/opt/${example.name}`)), false);
    } finally {
      await term.close();
    }
  });

  test("answering no at the confirmation installs nothing", async () => {
    const exitFile = "/tmp/exit-no";
    const dir = "/opt/tty-declined";
    const term = await Terminal.start(command(exitFile), os.tmpdir());
    try {
      await term.waitFor("Install directory");
      await term.type(dir);
      await term.press("Enter");
      await term.waitFor("Import the build cache");
      await term.type("n");
      await term.press("Enter");
      for (const name of ["FRONTEND_PORT", "BACKEND_PORT", "MODEL_NAME", "API_TOKEN"]) {
        await term.waitFor(name);
        if (name.endsWith("PORT")) await term.type(name.startsWith("FRONTEND") ? "18081" : "18001");
        await term.press("Enter");
      }
      await term.waitFor("Go ahead?");
      await term.type("n");
      await term.press("Enter");
      const deadline = Date.now() + 30_000;
      while (!existsSync(onHost(exitFile)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(readFileSync(onHost(exitFile), "utf8").trim(), "EXIT=130");
      assert.equal(existsSync(onHost(dir)), false);
    } finally {
      await term.close();
    }
  });
});
