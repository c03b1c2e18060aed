#!/bin/sh
# Makes the example's model weights in ./models (gitignored, as real weights are): SIZE MiB of
# random bytes (they do not compress, as real weights do not) and a small tokenizer file.
# Usage: make-models.sh [SIZE_MIB]   (default 64; kept when already of that size)
set -eu
cd "$(dirname "$0")"
mib=${1:-64}
weights=models/tiny-llm.gguf
mkdir -p models
if [ -f "$weights" ] && [ "$(wc -c < "$weights")" -eq $((mib * 1024 * 1024)) ]; then exit 0; fi
head -c $((mib * 1024 * 1024)) /dev/urandom > "$weights.tmp" && mv "$weights.tmp" "$weights"
printf '{"model": "tiny-llm", "vocab": ["<s>", "</s>", "hello", "world"]}\n' > models/tokenizer.json
echo "make-models: wrote $weights ($mib MiB) and models/tokenizer.json"
