#!/usr/bin/env bash
# Refresh models/ from the pinned botocore release and regenerate the Rust models.
#
# Usage: scripts/update-models.sh            (uses BOTOCORE_VERSION below)
#        BOTOCORE_VERSION=1.x.y scripts/update-models.sh
#
# A throwaway venv under target/ holds botocore; for each service the newest
# api-version directory's service-2.json.gz is copied (still gzipped) to
# models/<service>/service-2.json.gz, then `cargo run -p nimbus-codegen` rewrites
# crates/nimbus-model/src/services/ and crates/nimbus-model/src/types/.
set -euo pipefail

BOTOCORE_VERSION="${BOTOCORE_VERSION:-1.43.11}"
SERVICES=(
  dynamodb dynamodbstreams lambda apigateway apigatewayv2 sqs sns events scheduler
  stepfunctions sts iam logs cloudwatch cognito-idp secretsmanager ssm
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/target/update-models-venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "botocore==${BOTOCORE_VERSION}"

data="$("$venv/bin/python" -c 'import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), "data"))')"
got="$("$venv/bin/python" -c 'import botocore; print(botocore.__version__)')"
if [ "$got" != "$BOTOCORE_VERSION" ]; then
  echo "expected botocore $BOTOCORE_VERSION, venv has $got" >&2
  exit 1
fi

mkdir -p models
for svc in "${SERVICES[@]}"; do
  # api-version directories are ISO dates, so the lexically greatest is the newest.
  latest="$(ls -1 "$data/$svc" | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' | sort | tail -n 1)"
  src="$data/$svc/$latest/service-2.json.gz"
  if [ ! -f "$src" ]; then
    echo "missing $src" >&2
    exit 1
  fi
  mkdir -p "models/$svc"
  cp "$src" "models/$svc/service-2.json.gz"
  echo "$svc $latest"
done
echo "$BOTOCORE_VERSION" > models/BOTOCORE_VERSION

cargo run --quiet -p nimbus-codegen
