"""The edge: health, classification, protocol errors, malformed input."""

import json
import os
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError


def test_health_lists_every_service(server):
    r = requests.get(f"{server.endpoint}/_nimbus/health", timeout=5)
    assert r.status_code == 200
    body = r.json()
    for name in ["sts", "dynamodb", "lambda", "apigateway", "apigatewayv2", "s3", "execute-api"]:
        assert body["services"][name] == "running", name
    for name in ["dynamodb", "lambda", "apigateway", "sqs", "sns", "s3", "cognito-idp", "ssm"]:
        assert name in body["services"], name


def test_every_response_has_a_request_id(server):
    sts = server.client("sts")
    resp = sts.get_caller_identity()
    assert len(resp["ResponseMetadata"]["RequestId"]) == 36
    r = requests.post(server.endpoint, headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                                "Content-Type": "application/x-amz-json-1.0"}, data="{}", timeout=5)
    assert r.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    "service,call,code,status",
    [
        # awsJson
        ("dynamodb", lambda c: c.describe_kinesis_streaming_destination(TableName="t"), "UnknownOperationException", 501),
        ("secretsmanager", lambda c: c.list_secrets(), "UnknownOperationException", 501),
        # restJson
        ("lambda", lambda c: c.get_function_recursion_config(FunctionName="f"), "UnknownOperationException", 501),
        ("apigateway", lambda c: c.get_api_keys(), "UnknownOperationException", 501),
        # awsQuery
        ("sns", lambda c: c.list_topics(), "NotImplemented", 501),
        ("iam", lambda c: c.list_users(), "NotImplemented", 501),
        # restXml
        ("s3", lambda c: c.get_bucket_website(Bucket="some-bucket"), "NotImplemented", 501),
    ],
)
def test_unimplemented_operations_answer_the_protocols_error(server, service, call, code, status):
    client = server.client(service)
    with pytest.raises(ClientError) as e:
        call(client)
    err = e.value.response
    assert err["Error"]["Code"] == code
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "not implemented" in err["Error"]["Message"]


def test_unknown_json_operation(server):
    r = requests.post(server.endpoint, headers={"X-Amz-Target": "DynamoDB_20120810.FlyToTheMoon",
                                                "Content-Type": "application/x-amz-json-1.0"}, data="{}", timeout=5)
    assert r.status_code == 400
    assert r.json()["__type"].endswith("#UnknownOperationException")


def test_unknown_query_action(server):
    r = requests.post(server.endpoint, data={"Action": "FlyToTheMoon", "Version": "2011-06-15"}, timeout=5)
    assert r.status_code == 400
    assert "<Code>InvalidAction</Code>" in r.text


def test_malformed_json_gets_serialization_exception(server):
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    r = requests.post(server.endpoint, headers=headers, data="{not json", timeout=5)
    assert r.status_code == 400
    assert r.json()["__type"].endswith("#SerializationException")
    r = requests.post(server.endpoint, headers=headers, data="[1,2,3]", timeout=5)
    assert r.status_code == 400
    assert r.json()["__type"].endswith("#SerializationException")


def test_wrong_types_get_serialization_exception(server):
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    r = requests.post(server.endpoint, headers=headers, data=json.dumps({"Limit": "ten"}), timeout=5)
    assert r.status_code == 400
    assert r.json()["__type"].endswith("#SerializationException")


def test_constraint_violations_get_aws_validation_messages(server):
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    r = requests.post(server.endpoint, headers=headers, data=json.dumps({"Limit": 0}), timeout=5)
    assert r.status_code == 400
    body = r.json()
    assert body["__type"].endswith("#ValidationException")
    assert body["message"] == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_garbage_bodies_leave_the_server_serving(server):
    garbage = os.urandom(10 * 1024 * 1024)
    for headers in [
        {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/xml"},
        {"Content-Type": "application/json"},
    ]:
        r = requests.post(server.endpoint, headers=headers, data=garbage, timeout=30)
        assert 400 <= r.status_code < 600, (headers, r.status_code)
        assert r.status_code != 500, r.text[:200]
    r = requests.put(f"{server.endpoint}/2015-03-31/functions/x/code", data=garbage, timeout=30)
    assert 400 <= r.status_code < 500 or r.status_code == 501
    too_big = b"{" * (73 * 1024 * 1024)
    r = requests.post(server.endpoint, headers={"X-Amz-Target": "DynamoDB_20120810.PutItem"}, data=too_big, timeout=30)
    assert r.status_code == 413
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_sigterm_shuts_down_cleanly(server):
    server.client("sts").get_caller_identity()
    assert server.stop() == 0


def test_cli_help_lists_every_flag():
    from conftest import BIN
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ["--listen", "--data-dir", "--region", "--account-id", "--auth", "--durability", "--access-keys", "--config", "--isolation"]:
        assert flag in out, flag
