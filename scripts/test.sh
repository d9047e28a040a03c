#!/usr/bin/env bash
# Runs every test suite: the Rust workspace (unit, conformance, codegen freshness and
# end-to-end tests with aws-sdk-rust), then the Python end-to-end tests (boto3, aws CLI)
# against the real binary. Installs what it needs: a venv with the pinned clients.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real interpreter path, not the pyenv shim (which costs ~25 ms a start).
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
PY=$("$PY" -c 'import sys; print(sys.executable)')
VENV=.venv
if [ ! -x "$VENV/bin/python" ] || ! cmp -s tests/requirements.txt "$VENV/.requirements"; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$VENV/.requirements"
fi

echo "== build"
cargo build --workspace --all-targets --locked

echo "== rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== python end-to-end tests"
export NIMBUS_BIN="$PWD/target/debug/nimbus"
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/python" -m pytest tests/e2e -q -p no:cacheprovider "$@"
