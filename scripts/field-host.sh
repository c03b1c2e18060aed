#!/usr/bin/env bash
# Offline hosts on this machine, for the tests, the demo and the benchmark. Each host is:
#   - a network namespace of its own with loopback only (a faithful offline host), optionally a veth
#     on the test bridge sl-br0 (10.77.0.1/24) with --ip;
#   - a mount namespace of its own: its own /opt, /root, /tmp and /run, the engine's client on
#     /usr/bin/docker (and /usr/local/bin/docker), its compose, and no Node (a failing stand-in is
#     bound over node: the host has none);
#   - a Docker Engine of its own, started inside both namespaces:
#       docker20            Debian 12's Docker 20.10, classic store, Compose v1 (docker-compose)
#       docker26            Debian 13's Docker 26.1, classic store, Compose v2 and buildx plugins
#       docker26-containerd the same with the containerd image store (Docker 29's default)
# The Debian 13 packages are fetched once into a private apt state (never the system's sources)
# and unpacked under /var/lib/sealift/engines/docker26.
#
# Usage:
#   field-host.sh fetch                      install / unpack the engines (idempotent)
#   field-host.sh start NAME PROFILE [--ip 10.77.0.N] [--gpu-standin]   start a host (idempotent);
#                                             with --ip it also runs its own sshd on that address,
#                                             port 22; --gpu-standin registers runc under the
#                                             NVIDIA runtime's name (a stand-in: no GPU runs)
#   field-host.sh authorize NAME PUBKEY_FILE  let that key log in as root over ssh
#   field-host.sh hostkey NAME                the host's public host key (for a known_hosts line)
#   field-host.sh stop NAME [--purge]         stop it (and delete its disk with --purge)
#   field-host.sh reboot NAME                 a power cut (every process of it killed at once) and
#                                             a boot: started again, its disk as the cut left it
#   field-host.sh exec NAME -- CMD [ARG...]   run a command on the host (no Node, env cleared)
#   field-host.sh env NAME                    shell lines to drive the host's engine from outside
#                                             (DOCKER_HOST, and for Docker 26 PATH and DOCKER_CONFIG)
#   field-host.sh root NAME                   the host's folder on this machine (its /opt, /tmp... below)
#   field-host.sh list                        the hosts and their state
# Everything it makes lives under /var/lib/sealift (SEALIFT_HOSTS_ROOT) and the namespaces it names.
set -euo pipefail

ROOT=${SEALIFT_HOSTS_ROOT:-/var/lib/sealift}
ENGINES=$ROOT/engines
HOSTS=$ROOT/hosts
D26=$ENGINES/docker26
BRIDGE=sl-br0
BRIDGE_ADDR=10.77.0.1/24
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'field-host: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

fetch() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  [ -x /bin/busybox ] || need+=(busybox-static)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v tmux >/dev/null 2>&1 || need+=(tmux)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need[@]}" >/tmp/sealift-apt.log 2>&1 || { tail -n 20 /tmp/sealift-apt.log >&2; exit 1; }
  fi
  if [ ! -f "$D26/.complete" ]; then
    local state=$ROOT/apt-trixie uri
    uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    uri=${uri:-http://deb.debian.org/debian}
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$state/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache")
    log "fetching Docker 26 (docker.io, docker-cli, docker-compose, docker-buildx, containerd) from Debian 13"
    apt-get "${opts[@]}" update -qq >/dev/null
    (cd "$state/debs" && apt-get "${opts[@]}" download docker.io docker-cli docker-compose docker-buildx containerd 2>/dev/null >/dev/null)
    rm -rf "$D26.tmp" && mkdir -p "$D26.tmp"
    for deb in "$state"/debs/*.deb; do dpkg-deb -x "$deb" "$D26.tmp"; done
    # The client finds its plugins in $DOCKER_CONFIG/cli-plugins when driven from outside a host.
    mkdir -p "$D26.tmp/docker-config/cli-plugins"
    ln -s "$D26/usr/libexec/docker/cli-plugins/docker-compose" "$D26.tmp/docker-config/cli-plugins/docker-compose"
    ln -s "$D26/usr/libexec/docker/cli-plugins/docker-buildx" "$D26.tmp/docker-config/cli-plugins/docker-buildx"
    touch "$D26.tmp/.complete"
    rm -rf "$D26" && mv "$D26.tmp" "$D26"
    log "Docker $("$D26/usr/bin/docker" --version | sed 's/Docker version //') unpacked in $D26"
  fi
  # Targets the mount namespaces bind over: they must exist on this machine.
  mkdir -p /usr/libexec/docker/cli-plugins
  if [ ! -x "$ROOT/no-such-program" ]; then
    mkdir -p "$ROOT"
    printf '#!/bin/sh\necho "${0##*/}: not installed on this host" >&2\nexit 127\n' >"$ROOT/no-such-program"
    chmod 755 "$ROOT/no-such-program"
  fi
}

host_dir() { echo "$HOSTS/$1"; }
socket() { echo "$(host_dir "$1")/run/docker.sock"; }

check_name() {
  [[ $1 =~ ^[a-z][a-z0-9-]{0,11}$ ]] || die "host name '$1': use 1-12 lowercase letters, digits or -, starting with a letter"
}

engine_answers() {
  DOCKER_HOST=unix://$(socket "$1") timeout 5 docker version >/dev/null 2>&1
}

# Runs a command inside the host's namespaces.
in_host() {
  local name=$1
  shift
  local d
  d=$(host_dir "$name")
  nsenter --net="/run/netns/sl-$name" --mount="$d/ns/mnt" -- "$@"
}

bridge_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  # Hosts on the bridge reach each other, as servers on one LAN do: this machine's own Docker sets the
  # FORWARD policy to DROP, which bridged traffic meets when br_netfilter is loaded.
  if command -v iptables >/dev/null 2>&1 && ! iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; then
    iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
  fi
}

start() {
  local name=$1 profile=$2 ip="" gpu=""
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --ip) ip=$2; shift 2 ;;
      --gpu-standin) gpu=" gpu-standin"; shift ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  check_name "$name"
  case $profile in docker20 | docker26 | docker26-containerd) ;; *) die "unknown profile '$profile' (docker20, docker26, docker26-containerd)" ;; esac
  local d
  d=$(host_dir "$name")
  if [ -f "$d/profile" ] && [ "$(cat "$d/profile")" = "$profile ${ip}${gpu}" ] && engine_answers "$name"; then
    return 0
  fi
  [ -f "$d/profile" ] && stop "$name"
  fetch
  mkdir -p "$d"/{opt,root,tmp,run/sshd,ns,docker}
  chmod 1777 "$d/tmp"
  echo "$profile ${ip}${gpu}" >"$d/profile"

  # The network: loopback only, plus a veth on the test bridge when --ip is given.
  ip netns add "sl-$name" 2>/dev/null || true
  ip -n "sl-$name" link set lo up
  if [ -n "$ip" ]; then
    bridge_up
    ip link del "v-$name" 2>/dev/null || true
    ip link add "v-$name" type veth peer name eth0 netns "sl-$name"
    ip link set "v-$name" master "$BRIDGE" up
    ip -n "sl-$name" addr add "$ip/24" dev eth0
    ip -n "sl-$name" link set eth0 up
  fi

  # The files: a persistent mount namespace (bound on ns/mnt) where the host's own folders and
  # tools are bound over this machine's.
  if ! mountpoint -q "$d/ns"; then
    mount --bind "$d/ns" "$d/ns"
    mount --make-private "$d/ns"
  fi
  mountpoint -q "$d/ns/mnt" 2>/dev/null && umount "$d/ns/mnt"
  touch "$d/ns/mnt"
  unshare --mount="$d/ns/mnt" --propagation private true
  local client compose=$ROOT/no-such-program plugins=/var/empty
  if [ "$profile" = docker20 ]; then
    # Debian 12's client and docker-compose are this machine's own /usr/bin ones.
    client=/usr/bin/docker
    compose=/usr/bin/docker-compose
  else
    client=$D26/usr/bin/docker
    plugins=$D26/usr/libexec/docker/cli-plugins
  fi
  mkdir -p /var/empty
  nsenter --mount="$d/ns/mnt" -- sh -eu -c '
    d=$1 client=$2 compose=$3 plugins=$4 none=$5
    for dir in opt root tmp run; do mount --bind "$d/$dir" "/$dir"; done
    mount --bind "$client" /usr/bin/docker
    [ -e /usr/local/bin/docker ] && mount --bind "$client" /usr/local/bin/docker
    [ -e /usr/bin/docker-compose ] && mount --bind "$compose" /usr/bin/docker-compose
    mount --bind "$plugins" /usr/libexec/docker/cli-plugins
    for node in /usr/bin/node /usr/local/bin/node /usr/bin/nodejs; do
      [ -e "$node" ] && mount --bind "$none" "$node"
    done
    true
  ' sh "$d" "$client" "$compose" "$plugins" "$ROOT/no-such-program"

  # The engine, inside both namespaces, with its state under the host's folder.
  local dockerd=/usr/sbin/dockerd path=$HOST_PATH config="{}"
  if [ "$profile" != docker20 ]; then
    dockerd=$D26/usr/sbin/dockerd
    # Debian 13's containerd and shims; Debian 12's runc (13's needs a newer glibc).
    path=$D26/usr/sbin:$D26/usr/bin:$HOST_PATH
  fi
  [ "$profile" = docker26-containerd ] && config='{"features": {"containerd-snapshotter": true}}'
  # A STAND-IN for a GPU host: plain runc registered under the NVIDIA runtime's name, so that the
  # engine reports an "nvidia" runtime as a host with the NVIDIA Container Toolkit does. It runs no GPU.
  [ -n "$gpu" ] && config='{"runtimes": {"nvidia": {"path": "runc"}}}'
  echo "$config" >"$d/daemon.json"
  in_host "$name" env -i PATH="$path" HOME=/root setsid "$dockerd" \
    --config-file "$d/daemon.json" --data-root "$d/docker" \
    -H unix:///var/run/docker.sock --pidfile /var/run/docker.pid \
    >"$d/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if engine_answers "$name"; then
      [ -z "$ip" ] || start_sshd "$name" "$ip"
      log "$name: $(DOCKER_HOST=unix://$(socket "$name") docker version --format 'Docker {{.Server.Version}}') ($profile) is up${ip:+ at $ip}"
      return 0
    fi
    sleep 1
  done
  tail -n 20 "$d/dockerd.log" >&2 || true
  die "$name: dockerd did not answer within 60 s; see $d/dockerd.log"
}

# Its own sshd on its own address (ENVIRONMENT.md): host key, authorized keys and config under the
# host's folder, run inside both namespaces, so that a login sees this host's /opt, /root, /tmp,
# engine and no Node.
start_sshd() {
  local name=$1 ip=$2 d
  d=$(host_dir "$name")
  mkdir -p "$d/ssh"
  [ -f "$d/ssh/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -C "$name" -f "$d/ssh/host_ed25519_key"
  touch "$d/ssh/authorized_keys"
  chmod 600 "$d/ssh/authorized_keys"
  cat >"$d/ssh/sshd_config" <<CONFIG
ListenAddress $ip
Port 22
HostKey $d/ssh/host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile $d/ssh/authorized_keys .ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
CONFIG
  in_host "$name" env -i PATH="$HOST_PATH" /usr/sbin/sshd -f "$d/ssh/sshd_config" -E "$d/sshd.log"
  for _ in $(seq 1 50); do
    [ -s "$d/run/sshd.pid" ] && return 0
    sleep 0.1
  done
  die "$name: sshd did not start; see $d/sshd.log"
}

stop() {
  local name=$1 purge=${2:-}
  check_name "$name"
  local d pid
  d=$(host_dir "$name")
  [ -d "$d" ] || return 0
  for pidfile in "$d/run/sshd.pid" "$d/run/docker.pid"; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    # Only our own daemons: after a reboot the number may belong to another process.
    case $(cat "/proc/$pid/comm" 2>/dev/null) in sshd | dockerd) ;; *) pid="" ;; esac
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  mountpoint -q "$d/ns/mnt" 2>/dev/null && umount "$d/ns/mnt"
  mountpoint -q "$d/ns" 2>/dev/null && umount "$d/ns"
  ip link del "v-$name" 2>/dev/null || true
  ip netns del "sl-$name" 2>/dev/null || true
  rm -f "$d/profile"
  if [ "$purge" = --purge ]; then
    # Overlay mounts of stopped containers may linger in this machine's mount table.
    grep -o " $d/docker[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$d"
  fi
  log "$name: stopped${purge:+ and removed}"
}

# A power cut and the boot after it: every process of the host killed at once (its containers'
# first processes, whose pid namespaces die with them, then all that runs in its mount namespace:
# the engine, containerd and its shims, sshd, an installer), no shutdown of anything; then the
# host started again as it was (its disk kept: the engine finds its images, containers and volumes,
# the containers stopped, as after a boot with no restart policy).
reboot() {
  local name=$1 d inode pids profile rest word ip="" gpu=()
  check_name "$name"
  d=$(host_dir "$name")
  [ -f "$d/profile" ] || die "$name is not running (field-host.sh start $name PROFILE)"
  read -r profile rest <"$d/profile"
  for word in $rest; do
    case $word in gpu-standin) gpu=(--gpu-standin) ;; *) ip=$word ;; esac
  done
  # Every process found first, then all killed by one kill: none may outlive another and act on it.
  pids=$(cat "$d"/docker/containers/*/config.v2.json 2>/dev/null | grep -o '"Pid":[1-9][0-9]*' | cut -d: -f2 || true)
  inode=$(stat -L -c %i "$d/ns/mnt")
  # (processes end while stat reads /proc: its exit status says nothing here)
  pids="$pids $({ stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null || true; } | awk -v inode="$inode" '$1 == inode { split($2, p, "/"); print p[3] }')"
  # shellcheck disable=SC2086 # a list of numbers
  kill -9 $pids 2>/dev/null || true
  log "$name: power cut"
  start "$name" "$profile" ${ip:+--ip "$ip"} "${gpu[@]}"
}

case ${1:-} in
  fetch) fetch ;;
  start) [ $# -ge 3 ] || die "usage: field-host.sh start NAME PROFILE [--ip ADDR]"; shift; start "$@" ;;
  stop) [ $# -ge 2 ] || die "usage: field-host.sh stop NAME [--purge]"; shift; stop "$@" ;;
  reboot) [ $# -ge 2 ] || die "usage: field-host.sh reboot NAME"; reboot "$2" ;;
  exec)
    [ $# -ge 4 ] && [ "$3" = -- ] || die "usage: field-host.sh exec NAME -- CMD [ARG...]"
    name=$2
    shift 3
    [ -f "$(host_dir "$name")/profile" ] || die "$name is not running (field-host.sh start $name PROFILE)"
    in_host "$name" env -i PATH="$HOST_PATH" HOME=/root "$@"
    ;;
  env)
    [ $# -ge 2 ] || die "usage: field-host.sh env NAME"
    profile=$(cut -d' ' -f1 "$(host_dir "$2")/profile" 2>/dev/null) || die "$2 is not running"
    echo "export DOCKER_HOST=unix://$(socket "$2")"
    if [ "$profile" != docker20 ]; then
      echo "export PATH=$D26/usr/bin:\$PATH"
      echo "export DOCKER_CONFIG=$D26/docker-config"
    fi
    ;;
  root) [ $# -ge 2 ] || die "usage: field-host.sh root NAME"; host_dir "$2" ;;
  authorize)
    [ $# -ge 3 ] || die "usage: field-host.sh authorize NAME PUBKEY_FILE"
    d=$(host_dir "$2")
    [ -f "$d/ssh/authorized_keys" ] || die "$2 has no sshd (start it with --ip)"
    grep -qxF "$(cat "$3")" "$d/ssh/authorized_keys" || cat "$3" >>"$d/ssh/authorized_keys"
    ;;
  hostkey)
    [ $# -ge 2 ] || die "usage: field-host.sh hostkey NAME"
    cut -d' ' -f1,2 "$(host_dir "$2")/ssh/host_ed25519_key.pub"
    ;;
  list)
    for d in "$HOSTS"/*/; do
      [ -f "$d/profile" ] || continue
      n=$(basename "$d")
      printf '%-12s %-22s %s\n' "$n" "$(cat "$d/profile")" "$(engine_answers "$n" && echo up || echo down)"
    done
    ;;
  *) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
