#!/usr/bin/env bash
# arm64 on this x86-64 machine, from Debian's packages only (used by the tests and CI; idempotent):
#   - QEMU's user-mode emulator (qemu-user-static) registered with binfmt_misc, flag F: BuildKit
#     then builds linux/arm64 images, and arm64 programs run here;
#   - an arm64 sysroot (glibc, libstdc++, libgcc) for the arm64 installer, which is dynamically
#     linked: run it with QEMU_LD_PREFIX=$ROOT/sysroot;
#   - arm64 busybox-static ($ROOT/busybox), for the example's arm64 base image.
# Everything lives under /var/lib/sealift/arm64 (SEALIFT_ARM64_ROOT) and its private apt state
# beside it; prints that folder.
set -euo pipefail
ROOT=${SEALIFT_ARM64_ROOT:-/var/lib/sealift/arm64}
log() { printf 'ensure-arm64: %s\n' "$*" >&2; }

if [ ! -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
  log "installing qemu-user-static from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq >/dev/null
  apt-get install -y -qq qemu-user-static >/dev/null 2>&1
fi
# There is no systemd here to register the handlers: mount binfmt_misc and register aarch64.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register

if [ ! -f "$ROOT/.complete" ]; then
  log "fetching an arm64 sysroot and busybox-static:arm64 from Debian 12 (private apt state)"
  state=$ROOT-apt
  uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  uri=${uri:-http://deb.debian.org/debian}
  rm -rf "$ROOT.tmp" && mkdir -p "$ROOT.tmp/sysroot" "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main" >"$state/sources.list"
  opts=(-o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state/cache" -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
  apt-get "${opts[@]}" update -qq >/dev/null
  (cd "$state/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 busybox-static:arm64 >/dev/null 2>&1)
  for deb in "$state"/debs/*.deb; do dpkg-deb -x "$deb" "$ROOT.tmp/sysroot"; done
  cp "$ROOT.tmp/sysroot/bin/busybox" "$ROOT.tmp/busybox"
  touch "$ROOT.tmp/.complete"
  rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
fi
echo "$ROOT"
