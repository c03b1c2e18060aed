#!/bin/sh
# Builds the example's offline base image, sealift-example/busybox:1.36, from the host's static busybox
# (Debian's busybox-static). No registry is involved: the image starts FROM scratch.
# Usage: make-base.sh [TAG [LABEL]]  (a label gives the image an ID of its own, for tests)
# Env: BUSYBOX (default /bin/busybox), PLATFORM (e.g. linux/arm64, with an arm64 BUSYBOX: an
# image for that platform; needs BuildKit and, for another CPU, QEMU's binfmt handler).
set -eu
tag=${1:-sealift-example/busybox:1.36}
label=${2:-}
busybox=${BUSYBOX:-/bin/busybox}
if docker image inspect "$tag" >/dev/null 2>&1; then exit 0; fi
[ -x "$busybox" ] || { echo "make-base: $busybox not found; install it: apt-get install -y busybox-static" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /root /etc /var/www && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
CMD ["sh"]
DOCKERFILE
if [ -n "$label" ]; then echo "LABEL sealift.example=\"$label\"" >> "$ctx/Dockerfile"; fi
# Quiet unless it fails (a client without buildx says the legacy builder is deprecated: not ours to say).
if ! docker build -q ${PLATFORM:+--platform "$PLATFORM"} -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
  cat "$ctx/build.log" >&2
  exit 1
fi
echo "make-base: built $tag"
