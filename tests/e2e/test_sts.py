"""STS through boto3 and the aws CLI, in both auth modes, and durability of what it issues."""

import json
import os
import subprocess
import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError


def aws_cli(server, *args, key="test", secret="test"):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, "--output", "json", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )


def test_get_caller_identity_default_account(server):
    resp = server.client("sts").get_caller_identity()
    assert resp["Account"] == "000000000000"
    assert resp["Arn"] == "arn:aws:iam::000000000000:root"


def test_aws_cli_get_caller_identity(server):
    out = aws_cli(server, "sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == "000000000000"


def test_twelve_digit_access_key_names_the_account(server):
    resp = server.client("sts", key="123456789012").get_caller_identity()
    assert resp["Account"] == "123456789012"


def test_assume_role_returns_working_credentials(server):
    sts = server.client("sts")
    resp = sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/app/Deployer", RoleSessionName="ci-run")
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert resp["AssumedRoleUser"]["Arn"] == "arn:aws:sts::210987654321:assumed-role/Deployer/ci-run"
    assert resp["AssumedRoleUser"]["AssumedRoleId"].endswith(":ci-run")
    who = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                        token=creds["SessionToken"]).get_caller_identity()
    assert who["Account"] == "210987654321"
    assert who["Arn"] == "arn:aws:sts::210987654321:assumed-role/Deployer/ci-run"


def test_assume_role_validation(server):
    sts = server.client("sts", validate=False)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/Deployer", RoleSessionName="x")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == ("1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy "
                              "constraint: Member must have length greater than or equal to 2")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::210987654321:role/Deployer", RoleSessionName="ok", DurationSeconds=60)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleSessionName="ok")
    assert e.value.response["Error"]["Message"].startswith("1 validation error detected: Value null at 'roleArn'")


SIGV4 = ("--auth", "sigv4", "--access-keys", "AKIDNIMBUSTEST:nimbus-secret:111111111111")


def test_sigv4_mode_accepts_configured_keys_only(server_factory):
    server = server_factory(*SIGV4)
    ok = server.client("sts", key="AKIDNIMBUSTEST", secret="nimbus-secret").get_caller_identity()
    assert ok["Account"] == "111111111111"

    with pytest.raises(ClientError) as e:
        server.client("sts", key="AKIDUNKNOWN", secret="nimbus-secret").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"

    with pytest.raises(ClientError) as e:
        server.client("sts", key="AKIDNIMBUSTEST", secret="wrong").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    # awsJson services answer with their own codes.
    with pytest.raises(ClientError) as e:
        server.client("dynamodb", key="AKIDNIMBUSTEST", secret="wrong").list_tables()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        server.client("dynamodb", key="AKIDUNKNOWN", secret="x").list_tables()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"

    out = aws_cli(server, "sts", "get-caller-identity", key="AKIDNIMBUSTEST", secret="nimbus-secret")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == "111111111111"


def test_sigv4_mode_accepts_assumed_role_credentials(server_factory):
    server = server_factory(*SIGV4)
    sts = server.client("sts", key="AKIDNIMBUSTEST", secret="nimbus-secret")
    creds = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/Worker", RoleSessionName="w1")["Credentials"]
    who = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                        token=creds["SessionToken"]).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::111111111111:assumed-role/Worker/w1"
    # Without its session token the key is refused.
    with pytest.raises(ClientError) as e:
        server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"]).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_kill_9_loses_no_acknowledged_write(server_factory):
    """Issue sessions in a loop, kill -9 the server mid-loop, restart, and check that
    every session the server acknowledged still authenticates."""
    server = server_factory(*SIGV4)
    acknowledged = []
    stop = threading.Event()

    def loop():
        sts = server.client("sts", key="AKIDNIMBUSTEST", secret="nimbus-secret")
        n = 0
        while not stop.is_set():
            try:
                c = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/Loop", RoleSessionName=f"s{n}")
            except (ClientError, EndpointConnectionError, Exception):
                return
            acknowledged.append((f"s{n}", c["Credentials"]))
            n += 1

    t = threading.Thread(target=loop)
    t.start()
    while len(acknowledged) < 50:
        if not t.is_alive():
            break
        threading.Event().wait(0.01)
    server.kill9()
    stop.set()
    t.join(timeout=30)
    assert len(acknowledged) >= 50

    restarted = server_factory(*SIGV4, data_dir=server.data_dir)
    for name, c in acknowledged:
        who = restarted.client("sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                               token=c["SessionToken"]).get_caller_identity()
        assert who["Arn"] == f"arn:aws:sts::111111111111:assumed-role/Loop/{name}"


def test_sigv4_mode_s3_uses_s3_error_codes(server_factory):
    server = server_factory(*SIGV4)
    with pytest.raises(ClientError) as e:
        server.client("s3", key="AKIDUNKNOWN", secret="x").list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as e:
        server.client("s3", key="AKIDNIMBUSTEST", secret="wrong").list_buckets()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # Correctly signed, it reaches S3.
    assert server.client("s3", key="AKIDNIMBUSTEST", secret="nimbus-secret").list_buckets()["Buckets"] == []


def test_sigv4_mode_presigned_url(server_factory):
    import requests
    server = server_factory(*SIGV4)
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="AKIDNIMBUSTEST",
                      aws_secret_access_key="nimbus-secret", config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "no-such-bucket", "Key": "k"}, ExpiresIn=60)
    assert requests.get(url, timeout=5).status_code == 404  # authenticated, then NoSuchBucket
    assert requests.get(url.replace("Signature=", "Signature=0"), timeout=5).status_code == 403
