/**
 * The example packed once per test run and shared, read-only, by the suites that only install it:
 * release N (as shipped) and N+1 (one line of the backend's code changed), packed on this machine's
 * engine, each as its archive and extracted as an operator does from a USB stick.
 *
 * scripts/run-tests.ts packs it before the suites start (packSharedExample) into the folder it names
 * in SEALIFT_TEST_SHARED, and removes that folder at the end; a suite run alone (node --test FILE)
 * packs its own copy into a folder of its process, removed when the process exits. Either way the
 * engine keeps nothing of it: its images are removed once packed.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Manifest } from "../../src/bundle/manifest.js";
import { projectImages, removeImages, removeProject } from "./docker.js";
import { commitChange, exampleProject, packAndExtract } from "./example.js";

export interface SharedRelease {
  archive: string;
  /** The archive extracted (its folder: install, manifest.json...). */
  bundleDir: string;
  release: string;
  manifest: Manifest;
}

export interface SharedExample {
  /** The project's name (compose's project on the hosts it is installed on). */
  name: string;
  n: SharedRelease;
  /** N with one line of the backend's code changed: an upgrade that recreates the backend. */
  n1: SharedRelease;
}

const RECORD = "example.json";

/** Packs N and N+1 into `dir` and writes its record last (what sharedExample reads). */
export async function packSharedExample(dir: string): Promise<SharedExample> {
  const example = await exampleProject("shr");
  try {
    // Each under a name of its own (NAME-n-DATE, NAME-n1-DATE): a host may be delivered both.
    const release = async (label: string): Promise<SharedRelease> => {
      const made = await packAndExtract(example, label, ["--output-template", `{name}-${label}-{date}`]);
      // The archive's folder (with its .sha256) and the extracted one move into `dir`.
      const into = path.join(dir, label);
      mkdirSync(into);
      renameSync(path.dirname(made.archive), path.join(into, "dist"));
      renameSync(path.dirname(made.bundleDir), path.join(into, "usb"));
      return {
        archive: path.join(into, "dist", path.basename(made.archive)),
        bundleDir: path.join(into, "usb", path.basename(made.bundleDir)),
        release: made.manifest.project.release,
        manifest: made.manifest,
      };
    };
    const n = await release("n");
    const chat = path.join(example.dir, "backend/app/cgi-bin/chat");
    await commitChange(example.dir, "backend/app/cgi-bin/chat", readFileSync(chat, "utf8") + "# N+1\n");
    const n1 = await release("n1");
    const shared: SharedExample = { name: example.name, n, n1 };
    writeFileSync(path.join(dir, `${RECORD}.tmp`), JSON.stringify(shared));
    renameSync(path.join(dir, `${RECORD}.tmp`), path.join(dir, RECORD));
    return shared;
  } finally {
    await removeProject(example.name);
    await removeImages(await projectImages(example.name));
    rmSync(example.workdir, { recursive: true, force: true });
  }
}

let own: Promise<SharedExample> | undefined;

/** The run's shared example (packed by run-tests), else this process's own, packed on first use. */
export function sharedExample(): Promise<SharedExample> {
  const dir = process.env.SEALIFT_TEST_SHARED;
  if (dir) return Promise.resolve(JSON.parse(readFileSync(path.join(dir, RECORD), "utf8")) as SharedExample);
  own ??= (() => {
    const mine = mkdtempSync(path.join(os.tmpdir(), "sealift-shared-"));
    process.on("exit", () => rmSync(mine, { recursive: true, force: true }));
    return packSharedExample(mine);
  })();
  return own;
}
