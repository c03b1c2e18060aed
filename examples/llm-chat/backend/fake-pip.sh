#!/bin/sh
# A stand-in for `pip install -r requirements.txt --target DIR`: each package not yet in the cache
# takes FAKE_PIP_DELAY seconds to "download" (as a real wheel download would), then is installed.
# Usage: fake-pip.sh REQUIREMENTS TARGET
set -eu
req=$1 target=$2
cache=${PIP_CACHE_DIR:-/root/.cache/pip}
delay=${FAKE_PIP_DELAY:-3}
mkdir -p "$cache" "$target"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) continue ;; esac
  wheel="$cache/$(echo "$line" | tr '=' '-').whl"
  if [ -f "$wheel" ]; then
    echo "fake-pip: using cached $line"
  else
    echo "fake-pip: downloading $line (slow: ${delay}s)"
    sleep "$delay"
    # 256 KiB of content that depends only on the requirement, like a real wheel.
    yes "$line" | head -c 262144 > "$wheel.tmp" && mv "$wheel.tmp" "$wheel"
  fi
  cp "$wheel" "$target/"
  echo "$line" >> "$target/installed.txt"
done < "$req"
