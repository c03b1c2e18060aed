#!/bin/sh
# A stand-in for `npm ci` (deps: slow unless /root/.npm is cached) and `npm run build` (bundle).
set -eu
cache=/root/.npm
case "$1" in
  deps)
    mkdir -p "$cache" node_modules
    for dep in $(sed -n 's/^ *"\([a-z-]*\)": "\([0-9.]*\)",\{0,1\}$/\1@\2/p' package.json); do
      if [ -f "$cache/$dep.tgz" ]; then
        echo "fake-npm: using cached $dep"
      else
        echo "fake-npm: fetching $dep (slow: ${FAKE_NPM_DELAY:-2}s)"
        sleep "${FAKE_NPM_DELAY:-2}"
        yes "$dep" | head -c 131072 > "$cache/$dep.tgz"
      fi
      cp "$cache/$dep.tgz" node_modules/
    done ;;
  bundle)
    mkdir -p dist
    cp -r src/. dist/
    sed -i "s/@BUILD_TIME@/$(date -u +%FT%TZ)/" dist/index.html ;;
esac
