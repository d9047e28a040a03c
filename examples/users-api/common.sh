# Shared by the deploy scripts: settings, the Users table and the function.
# Source it; it defines awsl (the aws CLI pointed at Nimbus), ACCOUNT, REGION,
# FUNCTION_ARN and grant (lets an API invoke the function).
set -euo pipefail

ENDPOINT="${ENDPOINT:-http://127.0.0.1:4566}"
REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="$REGION"
TABLE="${TABLE:-Users}"
FUNCTION="${FUNCTION:-users-api}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

awsl() { aws --endpoint-url "$ENDPOINT" --region "$REGION" --output json "$@"; }

ACCOUNT="$(awsl sts get-caller-identity --query Account --output text)"

if ! awsl dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
  awsl dynamodb create-table --table-name "$TABLE" \
    --attribute-definitions AttributeName=id,AttributeType=S \
    --key-schema AttributeName=id,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST >/dev/null
fi

if ! awsl lambda get-function --function-name "$FUNCTION" >/dev/null 2>&1; then
  ZIP="$(mktemp -d)/function.zip"
  (cd "$HERE/function" && python3 -m zipfile -c "$ZIP" app.py)
  awsl lambda create-function --function-name "$FUNCTION" --runtime python3.11 \
    --handler app.handler --role "arn:aws:iam::$ACCOUNT:role/users-api" \
    --environment "Variables={TABLE=$TABLE}" --timeout 10 \
    --zip-file "fileb://$ZIP" >/dev/null
fi
FUNCTION_ARN="$(awsl lambda get-function --function-name "$FUNCTION" --query Configuration.FunctionArn --output text)"

# grant API_ID: API Gateway may invoke the function from any stage/method of API_ID.
grant() {
  awsl lambda add-permission --function-name "$FUNCTION" --statement-id "apigateway-$1" \
    --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
    --source-arn "arn:aws:execute-api:$REGION:$ACCOUNT:$1/*" >/dev/null
}
