/** Where sealift's own files are (templates/, build/): found from the running script upwards. */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  if (process.env.SEALIFT_HOME) return (cached = path.resolve(process.env.SEALIFT_HOME));
  let dir = path.dirname(realpathSync(process.argv[1] ?? process.cwd()));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && /"name":\s*"sealift"/.test(readFileSync(manifest, "utf8")))
      return (cached = dir);
    const parent = path.dirname(dir);
    if (parent === dir) return (cached = process.cwd());
    dir = parent;
  }
}
