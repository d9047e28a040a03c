"""The Users API: one Lambda function behind API Gateway (REST or HTTP API, proxy
integration) that keeps users in the DynamoDB table named by $TABLE.

    GET    /users        -> Scan
    GET    /users/{id}   -> GetItem (404 when missing)
    POST   /users        -> PutItem (201)
    PUT    /users/{id}   -> UpdateItem (404 when missing)
    DELETE /users/{id}   -> DeleteItem (204; 404 when missing)

It reads both proxy event formats (1.0 from REST APIs, 2.0 from HTTP APIs), and uses
boto3 unchanged: AWS_ENDPOINT_URL points it at the cloud it runs in.
"""

import base64
import decimal
import json
import os
import uuid

import boto3
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table(os.environ.get("TABLE", "Users"))


def _json_default(v):
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    raise TypeError(f"cannot encode {type(v).__name__}")


def respond(status, body=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": "" if body is None else json.dumps(body, default=_json_default),
    }


def parse_body(event):
    raw = event.get("body")
    if not raw:
        return {}
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw, parse_float=decimal.Decimal)


def handler(event, context):
    http = (event.get("requestContext") or {}).get("http")
    method = http["method"] if http else event.get("httpMethod")
    user_id = (event.get("pathParameters") or {}).get("id")
    try:
        body = parse_body(event)
    except ValueError:
        return respond(400, {"message": "The body must be JSON"})
    if not isinstance(body, dict):
        return respond(400, {"message": "The body must be a JSON object"})

    if user_id is None:
        if method == "GET":
            items, kwargs = [], {}
            while True:
                page = table.scan(**kwargs)
                items.extend(page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            return respond(200, {"users": sorted(items, key=lambda u: u["id"])})
        if method == "POST":
            if not body.get("name"):
                return respond(400, {"message": "name is required"})
            item = dict(body, id=str(body.get("id") or uuid.uuid4()))
            table.put_item(Item=item)
            return respond(201, item)
        return respond(405, {"message": f"{method} is not allowed on /users"})

    if method == "GET":
        item = table.get_item(Key={"id": user_id}).get("Item")
        return respond(200, item) if item else respond(404, {"message": "User not found"})
    if method == "PUT":
        fields = {k: v for k, v in body.items() if k != "id"}
        if not fields:
            return respond(400, {"message": "Nothing to update"})
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": v for i, v in enumerate(fields.values())}
        try:
            out = table.update_item(
                Key={"id": user_id},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as e:
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return respond(404, {"message": "User not found"})
            raise
        return respond(200, out["Attributes"])
    if method == "DELETE":
        out = table.delete_item(Key={"id": user_id}, ReturnValues="ALL_OLD")
        return respond(204) if out.get("Attributes") else respond(404, {"message": "User not found"})
    return respond(405, {"message": f"{method} is not allowed on /users/{{id}}"})
