#!/usr/bin/env bash
# The test command (npm test): installs and starts what the tests need, builds, runs every test
# against the real Docker Engine. Extra arguments are test files to run instead of all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-docker.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

# On the engine this script started (its own data root), begin from an empty builder cache: records
# that earlier runs left behind can point at layers the engine has since removed, and BuildKit then
# fails a later build with "failed to prepare ...: no such file or directory". Never on an engine
# someone else runs.
if [ "$(docker info --format '{{.DockerRootDir}}')" = "${SEALIFT_DOCKER_DATA_ROOT:-/var/lib/sealift-dockerd}" ]; then
  docker image prune -f >/dev/null
  docker builder prune -af >/dev/null
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(test/unit/*.test.ts test/e2e/*.test.ts)
fi
# One file at a time: the end-to-end tests share one Docker Engine.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
