#!/usr/bin/env bash
# Makes sure a Docker Engine answers, installing Debian's engine and starting it when none does.
# Idempotent: does nothing when `docker info` already answers. Used by the demo, the tests and CI.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need_apt+=(docker-compose)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need_apt[*]}; run as root or install them: apt-get install -y ${need_apt[*]}"
    exit 1
  fi
  log "installing ${need_apt[*]} from Debian's packages (about a minute)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/tmp/sealift-apt.log 2>&1 || { tail -n 20 /tmp/sealift-apt.log >&2; exit 1; }
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

data_root=${SEALIFT_DOCKER_DATA_ROOT:-/var/lib/sealift-dockerd}
log "starting dockerd (data root $data_root, log /tmp/sealift-dockerd.log)"
mkdir -p "$data_root"
setsid dockerd --data-root "$data_root" >/tmp/sealift-dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker Engine $(docker info --format '{{.ServerVersion}}') is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /tmp/sealift-dockerd.log"
tail -n 20 /tmp/sealift-dockerd.log >&2 || true
exit 1
