#!/usr/bin/env bash
# The main job on the bundled example (npm run demo): install what is needed, build sealift, pack
# examples/llm-chat on this build machine into dist/, carry the bundle to an offline field host
# (Docker 26 with the containerd image store, Compose v2, no network, no Node: scripts/field-host.sh),
# verify and install it there with the compiled installer, and show the services answering there.
# Env: SEALIFT_DEMO_HOST (field host name, default "demo"), FRONTEND_PORT / BACKEND_PORT (8080 / 8000).
set -euo pipefail
cd "$(dirname "$0")/.."

host=${SEALIFT_DEMO_HOST:-demo}
bash scripts/ensure-docker.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
sh examples/llm-chat/make-base.sh
# The model weights: 64 MiB of random bytes in examples/llm-chat/models, gitignored as real ones are.
sh examples/llm-chat/make-models.sh "${SEALIFT_DEMO_MODEL_MIB:-64}"
bash scripts/field-host.sh start "$host" docker26-containerd
on_host() { bash scripts/field-host.sh exec "$host" -- "$@"; }

echo
echo "== build machine: sealift pack examples/llm-chat (Docker $(docker version --format '{{.Server.Version}}'))"
# --allow-dirty: the demo packs the example as it is in your checkout (clean on a fresh clone).
mkdir -p dist
node bin/sealift.cjs pack examples/llm-chat --out dist --allow-dirty --json > dist/.demo-pack.json
archive=$(node -e 'process.stdout.write(require("./dist/.demo-pack.json").archive)')
rm -f dist/.demo-pack.json
ls -l "$archive" "$archive.sha256"

echo
echo "== carry it across the gap: copy to the field host \"$host\" (its own /tmp; as scp or a USB stick would)"
root=$(bash scripts/field-host.sh root "$host")
mkdir -p "$root/tmp/usb"
cp "$archive" "$archive.sha256" "$root/tmp/usb/"
name=$(basename "$archive")
on_host sh -c "docker version --format 'field host $host: Docker {{.Server.Version}}' && { docker info --format '{{json .DriverStatus}}' | grep -q io.containerd.snapshotter && echo 'image store: containerd' || echo 'image store: classic (overlay2)'; } && echo 'its network (loopback and its own bridges only):' && ip -br addr && (node --version 2>&1 || true)"

echo
echo "== on the field host: sha256sum -c, tar xzf, ./install"
on_host sh -c "cd /tmp/usb && sha256sum -c $name.sha256 && rm -rf ${name%.tar.gz} && tar xzf $name"
dir=/opt/llm-chat
on_host "/tmp/usb/${name%.tar.gz}/install" --yes --dir "$dir" \
  --set "FRONTEND_PORT=${FRONTEND_PORT:-8080}" --set "BACKEND_PORT=${BACKEND_PORT:-8000}"

echo
echo "== on the field host: its images, and the app answers"
on_host docker images
url="http://127.0.0.1:${FRONTEND_PORT:-8080}/cgi-bin/api?q=hello"
echo "GET $url"
on_host busybox wget -qO- "$url"
echo
echo "== the model service serves the weights that are not in git (x-sealift: {data: [models]}), byte-identical:"
model_url="http://127.0.0.1:${BACKEND_PORT:-8000}/cgi-bin/model"
echo "GET $model_url"
on_host busybox wget -qO- "$model_url"
echo "on this build machine:"
(cd examples/llm-chat && sha256sum models/*)

echo
echo "== a code change: an update that carries only what changed (not the unchanged weights)"
change=dist/demo-change/llm-chat
rm -rf dist/demo-change && mkdir -p dist/demo-change && cp -r examples/llm-chat "$change"
echo "# changed $(date -u +%FT%TZ)" >> "$change/backend/app/cgi-bin/chat"
node bin/sealift.cjs pack "$change" --out dist --allow-dirty --base "$archive" --json > dist/.demo-delta.json
delta=$(node -e 'process.stdout.write(require("./dist/.demo-delta.json").archive)')
rm -f dist/.demo-delta.json
ls -l "$archive" "$delta"
cp "$delta" "$root/tmp/usb/"
on_host "$dir/.sealift/install" "/tmp/usb/$(basename "$delta")" --yes
echo "GET $model_url (after the update)"
on_host busybox wget -qO- "$model_url"
echo
echo "The field host's folders are under $root; run commands on it with:"
echo "  bash scripts/field-host.sh exec $host -- $dir/.sealift/install status"
echo "  bash scripts/field-host.sh exec $host -- $dir/.sealift/install uninstall --volumes --yes"
echo "  bash scripts/field-host.sh stop $host --purge"
