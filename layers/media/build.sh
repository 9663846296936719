#!/usr/bin/env bash
# Build the media layer zip (python/ prefix, as Lambda expects) for python3.11 on x86_64.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/layers"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/python"
python3 -m pip install --quiet --disable-pip-version-check \
  --platform manylinux2014_x86_64 --implementation cp --python-version 3.11 --only-binary=:all: \
  --target "$work/python" -r "$here/requirements.txt"
(cd "$work" && python3 -m zipfile -c "$out/media.zip" python)
du -sh "$work/python" "$out/media.zip"
