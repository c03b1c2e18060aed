#!/usr/bin/env bash
# The main job on the bundled example (npm run demo): install what is needed, build sealift,
# pack examples/llm-chat into dist/, install that bundle with the compiled installer (no Node on
# its PATH, as on an offline host) and show where the services answer.
# Env: SEALIFT_DEMO_DIR (install folder, default /tmp/sealift-demo/llm-chat),
#      FRONTEND_PORT / BACKEND_PORT (default 8080 / 8000).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-docker.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
sh examples/llm-chat/make-base.sh

echo
echo "== sealift pack examples/llm-chat"
# --allow-dirty: the demo packs the example as it is in your checkout (clean on a fresh clone).
mkdir -p dist
node bin/sealift.cjs pack examples/llm-chat --out dist --allow-dirty --json > dist/.demo-pack.json
archive=$(node -e 'process.stdout.write(require("./dist/.demo-pack.json").archive)')
rm -f dist/.demo-pack.json
ls -l "$archive" "$archive.sha256"

echo
echo "== on the \"offline host\": verify, extract, ./install (env -i: no Node on PATH)"
(cd dist && sha256sum -c "$(basename "$archive").sha256")
bundle_dir="${archive%.tar.gz}"
rm -rf "$bundle_dir"
tar xzf "$archive" -C dist
dir=${SEALIFT_DEMO_DIR:-/tmp/sealift-demo/llm-chat}
(cd "$bundle_dir" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" ./install --yes --dir "$dir" \
  --set "FRONTEND_PORT=${FRONTEND_PORT:-8080}" --set "BACKEND_PORT=${BACKEND_PORT:-8000}")

echo
echo "== the app answers"
url="http://127.0.0.1:${FRONTEND_PORT:-8080}/cgi-bin/api?q=hello"
echo "GET $url"
wget -qO- "$url"
echo
echo "Status: $bundle_dir/install status --dir $dir    Remove: $bundle_dir/install uninstall --dir $dir --volumes --yes"
