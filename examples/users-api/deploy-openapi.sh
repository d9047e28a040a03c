#!/usr/bin/env bash
# Deploys the Users API by importing openapi.yaml (x-amazon-apigateway-integration)
# as a REST API, stage `prod`. Prints the invoke URL.
source "$(dirname "$0")/common.sh"

SPEC="$(mktemp -d)/openapi.yaml"
sed -e "s|\${REGION}|$REGION|g" -e "s|\${FUNCTION_ARN}|$FUNCTION_ARN|g" "$HERE/openapi.yaml" > "$SPEC"
API_ID="$(awsl apigateway import-rest-api --fail-on-warnings --body "fileb://$SPEC" --query id --output text)"
awsl apigateway create-deployment --rest-api-id "$API_ID" --stage-name prod >/dev/null
grant "$API_ID"
echo "$ENDPOINT/restapis/$API_ID/prod/_user_request_"
