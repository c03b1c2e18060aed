/**
 * The layout is the architecture: the core (bundle format, packager, installer, fleet, compose,
 * the door to docker) never imports the command layer (src/cli); progress and messages reach it
 * through the Reporter it receives (src/report.ts).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ROOT } from "../helpers/run.js";

const CORE = ["bundle", "packager", "installer", "fleet", "compose", "docker", "util"];

test("no core module imports the command layer", () => {
  const offenders: string[] = [];
  for (const dir of CORE) {
    for (const file of readdirSync(path.join(ROOT, "src", dir), { recursive: true }) as string[]) {
      if (!file.endsWith(".ts")) continue;
      const text = readFileSync(path.join(ROOT, "src", dir, file), "utf8");
      for (const m of text.matchAll(/from "(\.\.\/)+cli\/[^"]+"/g))
        offenders.push(`src/${dir}/${file}: ${m[0]}`);
    }
  }
  assert.deepEqual(offenders, []);
});
