"""Execution environments as a user sees them: execution-role credentials from STS (also
with signature checks on), one environment per concurrent request, init errors retried."""

import threading

import pytest

from test_lambda import create, invoke

ROLE_FN = """
import os, boto3

def handler(event, context):
    ident = boto3.client('sts').get_caller_identity()
    tables = boto3.client('dynamodb').list_tables()['TableNames']
    return {
        'key': os.environ['AWS_ACCESS_KEY_ID'],
        'token': bool(os.environ.get('AWS_SESSION_TOKEN')),
        'arn': ident['Arn'],
        'account': ident['Account'],
        'tables': tables,
    }
"""


def _check_role_credentials(client):
    lam = client("lambda")
    client("dynamodb").create_table(
        TableName="seen", AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    create(lam, "whoami", {"index.py": ROLE_FN}, Role="arn:aws:iam::000000000000:role/service/app-role", Timeout=30)
    r, out = invoke(lam, "whoami", {})
    assert "FunctionError" not in r, out
    assert out["key"].startswith("ASIA") and out["token"] is True
    assert out["arn"] == "arn:aws:sts::000000000000:assumed-role/app-role/whoami"
    assert out["account"] == "000000000000"
    assert out["tables"] == ["seen"]


def test_functions_get_their_role_credentials(server):
    _check_role_credentials(server.client)


def test_role_credentials_authenticate_with_sigv4_on(server_factory):
    server = server_factory("--auth", "sigv4", "--access-keys", "AKIDNIMBUSTEST:s3cr3t")
    _check_role_credentials(lambda svc: server.client(svc, key="AKIDNIMBUSTEST", secret="s3cr3t"))


# The id is made at the first invocation, not at init: environments forked from one
# initialised snapshot share what init computed (as with AWS SnapStart).
SCALE_FN = """
import time, uuid
ENV_ID = None

def handler(event, context):
    global ENV_ID
    if ENV_ID is None:
        ENV_ID = uuid.uuid4().hex
    time.sleep(event['hold'])
    return ENV_ID
"""


def test_twenty_concurrent_invocations_get_twenty_environments(server):
    lam = server.client("lambda")
    create(lam, "wide20", {"index.py": SCALE_FN}, Timeout=60)
    ids, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def call():
        c = server.client("lambda")
        barrier.wait()
        try:
            r, out = invoke(c, "wide20", {"hold": 3})
            with lock:
                (errors if "FunctionError" in r else ids).append(out)
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Each environment holds one invocation at a time: 20 overlapping calls, 20 environments.
    assert len(set(ids)) == 20
    # Afterwards they are warm: sequential calls reuse them.
    again = {invoke(lam, "wide20", {"hold": 0})[1] for _ in range(5)}
    assert again <= set(ids)


INIT_FAILS = """
import boto3
boto3.client('dynamodb').update_item(
    TableName='inits', Key={'id': {'S': 'n'}}, UpdateExpression='ADD c :one',
    ExpressionAttributeValues={':one': {'N': '1'}})
raise RuntimeError('init failed on purpose')

def handler(event, context):
    return 'unreachable'
"""


def test_init_error_is_reported_and_retried_on_the_next_call(server):
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="inits", AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    lam = server.client("lambda")
    create(lam, "badinit", {"index.py": INIT_FAILS}, Timeout=30)
    for attempt in (1, 2):
        r, out = invoke(lam, "badinit", {})
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "RuntimeError", out
        assert out["errorMessage"] == "init failed on purpose"
        count = ddb.get_item(TableName="inits", Key={"id": {"S": "n"}})["Item"]["c"]["N"]
        assert count == str(attempt)
    # The server still serves other functions.
    create(lam, "fine", {"index.py": "def handler(e, c):\n    return 'ok'\n"})
    assert invoke(lam, "fine", {})[1] == "ok"


def test_code_from_s3(server):
    from botocore.exceptions import ClientError
    from test_lambda import ROLE, make_zip

    s3 = server.client("s3")
    s3.create_bucket(Bucket="deploy")
    s3.put_object(Bucket="deploy", Key="v1.zip", Body=make_zip({"index.py": "def handler(e, c):\n    return 'v1'\n"}))
    s3.put_object(Bucket="deploy", Key="v2.zip", Body=make_zip({"index.py": "def handler(e, c):\n    return 'v2'\n"}))
    lam = server.client("lambda")
    lam.create_function(FunctionName="froms3", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                        Code={"S3Bucket": "deploy", "S3Key": "v1.zip"})
    assert invoke(lam, "froms3", {})[1] == "v1"
    lam.update_function_code(FunctionName="froms3", S3Bucket="deploy", S3Key="v2.zip")
    assert invoke(lam, "froms3", {})[1] == "v2"
    # The package's digest is the object's, as AWS computes it.
    import base64, hashlib
    body = s3.get_object(Bucket="deploy", Key="v2.zip")["Body"].read()
    assert lam.get_function(FunctionName="froms3")["Configuration"]["CodeSha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    for bucket, key, code in [("deploy", "missing.zip", "NoSuchKey"), ("no-such-bucket", "v1.zip", "NoSuchBucket")]:
        with pytest.raises(ClientError) as e:
            lam.create_function(FunctionName="bad", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                                Code={"S3Bucket": bucket, "S3Key": key})
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidParameterValueException"
        assert err["Message"].startswith(f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: ")
