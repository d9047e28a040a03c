#!/usr/bin/env bash
# Deploys the Users API as an HTTP API (v2): one Lambda proxy integration (payload
# format 2.0), five routes, the auto-deployed `$default` stage. Prints the invoke URL.
source "$(dirname "$0")/common.sh"

API_ID="$(awsl apigatewayv2 create-api --name users-api-http --protocol-type HTTP --query ApiId --output text)"
INTEGRATION_ID="$(awsl apigatewayv2 create-integration --api-id "$API_ID" --integration-type AWS_PROXY \
  --integration-uri "$FUNCTION_ARN" --payload-format-version 2.0 --query IntegrationId --output text)"

for route in "GET /users" "POST /users" "GET /users/{id}" "PUT /users/{id}" "DELETE /users/{id}"; do
  awsl apigatewayv2 create-route --api-id "$API_ID" --route-key "$route" \
    --target "integrations/$INTEGRATION_ID" >/dev/null
done

awsl apigatewayv2 create-stage --api-id "$API_ID" --stage-name '$default' --auto-deploy >/dev/null
grant "$API_ID"
echo "$ENDPOINT/restapis/$API_ID/\$default/_user_request_"
