#!/usr/bin/env bash
# Builds function.zip: the handler plus Pillow for Lambda's python3.11 on x86_64
# (manylinux wheels carry their own shared libraries in pillow.libs/).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
PILLOW_VERSION=12.2.0
# Where build/ and function.zip go (default: this directory).
OUT=${OUT:-$(pwd)}
SRC=$(pwd)

rm -rf "$OUT/build" "$OUT/function.zip"
mkdir -p "$OUT/build"
"$PYTHON" -m pip install --quiet --target "$OUT/build" --platform manylinux2014_x86_64 \
    --only-binary=:all: --python-version 3.11 "Pillow==${PILLOW_VERSION}"
cp "$SRC/function/lambda_function.py" "$OUT/build/"
cd "$OUT"
"$PYTHON" - <<'PY'
import os, zipfile
with zipfile.ZipFile("function.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk("build"):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, os.path.relpath(path, "build"))
PY
echo "built $OUT/function.zip"
