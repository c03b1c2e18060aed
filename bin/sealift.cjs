#!/usr/bin/env node
// Runs the bundled packager CLI (npm run build makes build/sealift.cjs).
const path = require("node:path");
const fs = require("node:fs");
const cli = path.join(__dirname, "..", "build", "sealift.cjs");
if (!fs.existsSync(cli)) {
  process.stderr.write("sealift: not built yet; run `npm run build` in " + path.dirname(__dirname) + "\n");
  process.exit(1);
}
require(cli);
