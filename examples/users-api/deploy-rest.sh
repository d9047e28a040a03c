#!/usr/bin/env bash
# Deploys the Users API as a REST API (v1) with Lambda proxy integrations, stage
# `prod`. Prints the invoke URL.
source "$(dirname "$0")/common.sh"

API_ID="$(awsl apigateway create-rest-api --name users-api-rest --query id --output text)"
ROOT_ID="$(awsl apigateway get-resources --rest-api-id "$API_ID" --query 'items[0].id' --output text)"
USERS_ID="$(awsl apigateway create-resource --rest-api-id "$API_ID" --parent-id "$ROOT_ID" --path-part users --query id --output text)"
USER_ID="$(awsl apigateway create-resource --rest-api-id "$API_ID" --parent-id "$USERS_ID" --path-part '{id}' --query id --output text)"
URI="arn:aws:apigateway:$REGION:lambda:path/2015-03-31/functions/$FUNCTION_ARN/invocations"

for pair in "$USERS_ID GET" "$USERS_ID POST" "$USER_ID GET" "$USER_ID PUT" "$USER_ID DELETE"; do
  set -- $pair
  awsl apigateway put-method --rest-api-id "$API_ID" --resource-id "$1" --http-method "$2" \
    --authorization-type NONE >/dev/null
  awsl apigateway put-integration --rest-api-id "$API_ID" --resource-id "$1" --http-method "$2" \
    --type AWS_PROXY --integration-http-method POST --uri "$URI" >/dev/null
done

awsl apigateway create-deployment --rest-api-id "$API_ID" --stage-name prod >/dev/null
grant "$API_ID"
echo "$ENDPOINT/restapis/$API_ID/prod/_user_request_"
