// The Ansible collection sealift.airgap (ansible/sealift/airgap) as ansible-galaxy builds one:
// build/sealift-airgap-VERSION.tar.gz with MANIFEST.json and FILES.json (each file's sha256), so that
// `ansible-galaxy collection install FILE` takes it offline. Written here, not by ansible-galaxy:
// the build machine needs no Ansible. Called by scripts/build.mjs; exports buildCollection.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { parse } from "yaml";

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

function walk(root, rel = "") {
  const found = [];
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const child = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(root, child)).isDirectory())
      found.push({ name: child, dir: true }, ...walk(root, child));
    else if (child !== "galaxy.yml") found.push({ name: child, dir: false });
  }
  return found;
}

export async function buildCollection(source, outDir, version) {
  const galaxy = parse(readFileSync(path.join(source, "galaxy.yml"), "utf8"));
  const entries = walk(source);
  const files = {
    files: [
      { name: ".", ftype: "dir", chksum_type: null, chksum_sha256: null, format: 1 },
      ...entries.map((e) =>
        e.dir
          ? { name: e.name, ftype: "dir", chksum_type: null, chksum_sha256: null, format: 1 }
          : {
              name: e.name,
              ftype: "file",
              chksum_type: "sha256",
              chksum_sha256: sha256(readFileSync(path.join(source, e.name))),
              format: 1,
            },
      ),
    ],
    format: 1,
  };
  const filesJson = Buffer.from(JSON.stringify(files, null, 2));
  const manifest = {
    collection_info: {
      namespace: galaxy.namespace,
      name: galaxy.name,
      version,
      authors: galaxy.authors,
      readme: galaxy.readme,
      tags: galaxy.tags ?? [],
      description: galaxy.description,
      license: galaxy.license ?? [],
      license_file: null,
      dependencies: galaxy.dependencies ?? {},
      repository: null,
      documentation: null,
      homepage: null,
      issues: null,
    },
    file_manifest_file: {
      name: "FILES.json",
      ftype: "file",
      chksum_type: "sha256",
      chksum_sha256: sha256(filesJson),
      format: 1,
    },
    format: 1,
  };
  const pack = tar.pack();
  const mtime = new Date(0);
  pack.entry({ name: "MANIFEST.json", mtime, mode: 0o644 }, Buffer.from(JSON.stringify(manifest, null, 2)));
  pack.entry({ name: "FILES.json", mtime, mode: 0o644 }, filesJson);
  for (const e of entries) {
    if (e.dir) pack.entry({ name: e.name, type: "directory", mtime, mode: 0o755 });
    else pack.entry({ name: e.name, mtime, mode: 0o644 }, readFileSync(path.join(source, e.name)));
  }
  pack.finalize();
  const chunks = [];
  for await (const chunk of pack) chunks.push(chunk);
  const file = path.join(outDir, `${galaxy.namespace}-${galaxy.name}-${version}.tar.gz`);
  writeFileSync(`${file}.tmp`, gzipSync(Buffer.concat(chunks)));
  renameSync(`${file}.tmp`, file);
  return file;
}
