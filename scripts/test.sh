#!/usr/bin/env bash
# The test command (npm test): installs and starts what the tests need (this machine's Docker 20.10,
# a Docker 26 build engine, three offline field hosts), builds, runs every test against the real
# engines. Extra arguments are test files to run instead of all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Unit tests alone need no engine: `npm run test:unit`, or this script with only test/unit files.
if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qv '^test/unit/'; then
  [ -d node_modules ] || npm ci --no-audit --no-fund
  exec node --import tsx --test --test-reporter=spec "$@"
fi

bash scripts/ensure-docker.sh
# The build machine on today's Docker and the offline field hosts the bundles are installed on
# (test/helpers/field-host.ts names them). Idempotent: running ones are left as they are.
bash scripts/field-host.sh start b26c docker26-containerd
bash scripts/field-host.sh start f20 docker20
bash scripts/field-host.sh start f26 docker26 --gpu-standin
bash scripts/field-host.sh start f26c docker26-containerd
# Three servers reached over SSH (their own sshd on the test bridge) for install rollout.
bash scripts/field-host.sh start n1 docker26 --ip 10.77.0.21
bash scripts/field-host.sh start n2 docker26-containerd --ip 10.77.0.22
bash scripts/field-host.sh start n3 docker26 --ip 10.77.0.23
bash scripts/ensure-arm64.sh >/dev/null
# Debian's ansible-core, for the Ansible collection's tests (test/e2e/ansible.test.ts).
if ! command -v ansible-playbook >/dev/null 2>&1; then
  echo "test: installing ansible-core from Debian's packages" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq ansible-core; } >/tmp/sealift-apt.log 2>&1 ||
    { tail -n 20 /tmp/sealift-apt.log >&2; exit 1; }
fi
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
# Two files at a time (SEALIFT_TEST_JOBS), never two that hold the same field host or change the same
# engine (test/suites.ts); the last line counts every test.
exec node --import tsx scripts/run-tests.ts "${files[@]}"
