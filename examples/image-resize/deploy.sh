#!/usr/bin/env bash
# Deploys the image-resize app with the aws CLI: the bucket, the function, the
# permission for S3 to invoke it, and the notification on input/*.jpg.
# Run build.sh first.
set -euo pipefail
cd "$(dirname "$0")"
# Nimbus's edge; set it empty (ENDPOINT=) to deploy to AWS itself.
ENDPOINT=${ENDPOINT-http://127.0.0.1:4566}
BUCKET=${BUCKET:-images}
FUNCTION=${FUNCTION:-image-resize}
AWS=${AWS:-aws}
ROLE=${ROLE:-arn:aws:iam::000000000000:role/image-resize}
ZIP=${ZIP:-function.zip}
if [ -n "$ENDPOINT" ]; then
    # Any credentials do on Nimbus's loopback edge.
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
    export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
    export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
fi
aws() {
    if [ -n "$ENDPOINT" ]; then "$AWS" --endpoint-url "$ENDPOINT" "$@"; else "$AWS" "$@"; fi
}

aws s3 mb "s3://${BUCKET}"
ARN=$(aws lambda create-function \
    --function-name "$FUNCTION" \
    --runtime python3.11 \
    --handler lambda_function.handler \
    --role "$ROLE" \
    --timeout 30 \
    --memory-size 512 \
    --environment "Variables={THUMBNAIL_SIZE=128}" \
    --zip-file "fileb://${ZIP}" \
    --query FunctionArn --output text)
aws lambda add-permission \
    --function-name "$FUNCTION" \
    --statement-id s3-invoke \
    --action lambda:InvokeFunction \
    --principal s3.amazonaws.com \
    --source-arn "arn:aws:s3:::${BUCKET}" >/dev/null
aws s3api put-bucket-notification-configuration \
    --bucket "$BUCKET" \
    --notification-configuration "{
      \"LambdaFunctionConfigurations\": [{
        \"Id\": \"thumbnails\",
        \"LambdaFunctionArn\": \"${ARN}\",
        \"Events\": [\"s3:ObjectCreated:*\"],
        \"Filter\": {\"Key\": {\"FilterRules\": [
          {\"Name\": \"prefix\", \"Value\": \"input/\"},
          {\"Name\": \"suffix\", \"Value\": \".jpg\"}
        ]}}
      }]
    }"
echo "deployed: upload to s3://${BUCKET}/input/<name>.jpg, thumbnails appear in s3://${BUCKET}/output/"
