"""Asynchronous invocation configuration (Put/Get/Update/Delete/ListFunctionEventInvokeConfigs),
destinations (invocation records sent to a Lambda function) and runtime management
configuration, against the real binary with boto3."""

import json
import tempfile

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from test_lambda import ConfiguredServer, create

ACCOUNT = "000000000000"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"

# Appends one line per run to the host file named in the event, then fails when asked.
PY_WORKER = """
import json

def handler(event, context):
    with open(event['path'], 'a') as f:
        f.write(context.aws_request_id + '\\n')
    if event.get('fail'):
        raise ValueError('boom ' + event.get('tag', ''))
    return {'ok': event.get('tag')}
"""

# Appends each invocation record it receives to RECORD_FILE.
PY_RECORDER = """
import json, os

def handler(event, context):
    with open(os.environ['RECORD_FILE'], 'a') as f:
        f.write(json.dumps(event) + '\\n')
    return 'recorded'
"""


@pytest.fixture(scope="module")
def srv():
    d = tempfile.TemporaryDirectory(prefix="nimbus-e2e-")
    # Functions prove they ran by writing host files, which the sandbox hides: plain
    # subprocesses here. Short retry delays keep the retry tests quick.
    s = ConfiguredServer(d.name, {"NIMBUS_LAMBDA_ASYNC_RETRY_DELAYS": "0.2,0.2", "NIMBUS_LAMBDA_ISOLATION": "off"}).start()
    yield s
    s.stop()
    d.cleanup()


def err(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def records(path):
    return [json.loads(l) for l in lines(path)]


def test_event_invoke_config_api(srv):
    lam = srv.client("lambda")
    create(lam, "eic-api", {"index.py": PY_WORKER})
    create(lam, "eic-dest", {"index.py": PY_RECORDER})

    assert err(lam.put_function_event_invoke_config, FunctionName="eic-api") == (
        "InvalidParameterValueException", "You must specify at least one of error handling or destination setting.")
    assert err(lam.get_function_event_invoke_config, FunctionName="eic-api") == (
        "ResourceNotFoundException", f"The function {ARN}eic-api:$LATEST doesn't have an EventInvokeConfig")
    assert err(lam.put_function_event_invoke_config, FunctionName="nope", MaximumRetryAttempts=1) == (
        "ResourceNotFoundException", "The function doesn't exist.")
    assert err(lam.put_function_event_invoke_config, FunctionName="eic-api", Qualifier="7", MaximumRetryAttempts=1) == (
        "ResourceNotFoundException", "The function doesn't exist.")
    assert err(lam.update_function_event_invoke_config, FunctionName="eic-api", MaximumRetryAttempts=1) == (
        "ResourceNotFoundException", f"The function {ARN}eic-api:$LATEST doesn't have an EventInvokeConfig")

    put = lam.put_function_event_invoke_config(FunctionName="eic-api", MaximumRetryAttempts=1)
    assert put["FunctionArn"] == f"{ARN}eic-api:$LATEST"
    assert put["MaximumRetryAttempts"] == 1
    assert "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert put["LastModified"].year >= 2024

    # Update merges; Put replaces.
    up = lam.update_function_event_invoke_config(
        FunctionName="eic-api", MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}eic-dest"}})
    assert (up["MaximumRetryAttempts"], up["MaximumEventAgeInSeconds"]) == (1, 120)
    assert up["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": f"{ARN}eic-dest"}}
    got = lam.get_function_event_invoke_config(FunctionName="eic-api")
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == f"{ARN}eic-dest"
    put = lam.put_function_event_invoke_config(FunctionName="eic-api", MaximumEventAgeInSeconds=60)
    assert "MaximumRetryAttempts" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    # Limits and destinations.
    code, msg = err(lam.put_function_event_invoke_config, FunctionName="eic-api", MaximumRetryAttempts=3)
    assert code == "ValidationException" and "maximumRetryAttempts" in msg
    code, msg = err(lam.put_function_event_invoke_config, FunctionName="eic-api", MaximumEventAgeInSeconds=21601)
    assert code == "ValidationException" and "maximumEventAgeInSeconds" in msg
    raw = srv.client("lambda", validate=False)  # botocore checks minimums itself
    code, msg = err(raw.put_function_event_invoke_config, FunctionName="eic-api", MaximumEventAgeInSeconds=59)
    assert code == "ValidationException" and "maximumEventAgeInSeconds" in msg
    assert err(lam.put_function_event_invoke_config, FunctionName="eic-api",
               DestinationConfig={"OnSuccess": {"Destination": f"{ARN}eic-api"}}) == (
        "InvalidParameterValueException", "You can't specify the function as a destination for itself.")
    assert err(lam.put_function_event_invoke_config, FunctionName="eic-api",
               DestinationConfig={"OnFailure": {"Destination": f"{ARN}missing"}}) == (
        "InvalidParameterValueException", f"The destination ARN {ARN}missing is invalid.")
    code, msg = err(lam.put_function_event_invoke_config, FunctionName="eic-api",
                    DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"}})
    assert code == "InvalidParameterValueException" and "SQS" in msg
    code, msg = err(lam.put_function_event_invoke_config, FunctionName="eic-api",
                    DestinationConfig={"OnFailure": {"Destination": "not-an-arn"}})
    assert code == "ValidationException" and "destinationConfig.onFailure.destination" in msg

    # Per qualifier: a version and an alias have their own configuration.
    v = lam.publish_version(FunctionName="eic-api")["Version"]
    lam.create_alias(FunctionName="eic-api", Name="live", FunctionVersion=v)
    r = lam.put_function_event_invoke_config(FunctionName="eic-api", Qualifier=v, MaximumRetryAttempts=0)
    assert r["FunctionArn"] == f"{ARN}eic-api:{v}"
    r = lam.put_function_event_invoke_config(FunctionName=f"eic-api:live", MaximumRetryAttempts=2)
    assert r["FunctionArn"] == f"{ARN}eic-api:live"
    listed = lam.list_function_event_invoke_configs(FunctionName="eic-api")["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == sorted([f"{ARN}eic-api:$LATEST", f"{ARN}eic-api:{v}", f"{ARN}eic-api:live"])
    page = lam.list_function_event_invoke_configs(FunctionName="eic-api", MaxItems=2)
    rest = lam.list_function_event_invoke_configs(FunctionName="eic-api", Marker=page["NextMarker"])
    assert len(page["FunctionEventInvokeConfigs"]) == 2 and len(rest["FunctionEventInvokeConfigs"]) == 1
    assert "NextMarker" not in rest
    assert err(lam.list_function_event_invoke_configs, FunctionName="nope") == (
        "ResourceNotFoundException", "The function doesn't exist.")

    # Deleting the alias deletes its configuration; delete names what was asked.
    lam.delete_alias(FunctionName="eic-api", Name="live")
    assert len(lam.list_function_event_invoke_configs(FunctionName="eic-api")["FunctionEventInvokeConfigs"]) == 2
    lam.delete_function_event_invoke_config(FunctionName="eic-api")
    assert err(lam.delete_function_event_invoke_config, FunctionName="eic-api") == (
        "ResourceNotFoundException", f"The function {ARN}eic-api doesn't have an EventInvokeConfig")
    # Deleting the function deletes the rest.
    lam.delete_function(FunctionName="eic-api")
    create(lam, "eic-api", {"index.py": PY_WORKER})
    assert lam.list_function_event_invoke_configs(FunctionName="eic-api")["FunctionEventInvokeConfigs"] == []


@pytest.mark.parametrize("retries,runs", [(0, 1), (1, 2)])
def test_maximum_retry_attempts_and_on_failure_record(srv, tmp_path, retries, runs):
    lam = srv.client("lambda")
    name, dest = f"eic-fail-{retries}", f"eic-rec-{retries}"
    rec_file = tmp_path / "records.txt"
    create(lam, name, {"index.py": PY_WORKER})
    create(lam, dest, {"index.py": PY_RECORDER}, Environment={"Variables": {"RECORD_FILE": str(rec_file)}})
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=retries,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}{dest}"}})
    runs_file = tmp_path / "runs.txt"
    event = {"path": str(runs_file), "fail": True, "tag": "t1"}
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    request_id = r["ResponseMetadata"]["RequestId"]
    assert wait_until(lambda: len(lines(rec_file)) == 1, timeout=30)
    # The record comes after the last attempt: exactly `runs` runs, all of this request.
    assert lines(runs_file) == [request_id] * runs
    rec = records(rec_file)[0]
    assert rec["version"] == "1.0"
    assert rec["requestContext"] == {
        "requestId": request_id, "functionArn": f"{ARN}{name}:$LATEST",
        "condition": "RetriesExhausted", "approximateInvokeCount": runs}
    assert rec["requestPayload"] == event
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert rec["responsePayload"]["errorMessage"] == "boom t1"
    assert rec["responsePayload"]["errorType"] == "ValueError"
    assert rec["timestamp"].endswith("Z")


def test_on_success_record_through_alias(srv, tmp_path):
    lam = srv.client("lambda")
    rec_file = tmp_path / "records.txt"
    create(lam, "eic-ok", {"index.py": PY_WORKER})
    create(lam, "eic-ok-rec", {"index.py": PY_RECORDER}, Environment={"Variables": {"RECORD_FILE": str(rec_file)}})
    v = lam.publish_version(FunctionName="eic-ok")["Version"]
    lam.create_alias(FunctionName="eic-ok", Name="prod", FunctionVersion=v)
    # The configuration of the qualifier the event is sent to applies.
    lam.put_function_event_invoke_config(
        FunctionName="eic-ok", Qualifier="prod",
        DestinationConfig={"OnSuccess": {"Destination": f"{ARN}eic-ok-rec:$LATEST"}})
    runs_file = tmp_path / "runs.txt"
    lam.invoke(FunctionName="eic-ok", InvocationType="Event", Payload=json.dumps({"path": str(runs_file), "tag": "unqualified"}))
    r = lam.invoke(FunctionName="eic-ok", Qualifier="prod", InvocationType="Event",
                   Payload=json.dumps({"path": str(runs_file), "tag": "alias"}))
    assert wait_until(lambda: len(lines(rec_file)) == 1 and len(lines(runs_file)) == 2, timeout=30)
    rec = records(rec_file)[0]
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["requestContext"]["functionArn"] == f"{ARN}eic-ok:prod"
    assert rec["requestContext"]["requestId"] == r["ResponseMetadata"]["RequestId"]
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert rec["requestPayload"]["tag"] == "alias"
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": v}
    assert rec["responsePayload"] == {"ok": "alias"}
    # The $LATEST event had no destination: no second record arrives.
    assert not wait_until(lambda: len(lines(rec_file)) > 1, timeout=2)


def test_event_age_exceeded_while_throttled(srv, tmp_path):
    lam = srv.client("lambda")
    rec_file = tmp_path / "records.txt"
    create(lam, "eic-old", {"index.py": PY_WORKER})
    create(lam, "eic-old-rec", {"index.py": PY_RECORDER}, Environment={"Variables": {"RECORD_FILE": str(rec_file)}})
    # No concurrency: every attempt is throttled, which does not count as an attempt, and
    # the event is retried until it is older than MaximumEventAgeInSeconds (60, the minimum).
    lam.put_function_concurrency(FunctionName="eic-old", ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName="eic-old", MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}eic-old-rec"}})
    runs_file = tmp_path / "runs.txt"
    lam.invoke(FunctionName="eic-old", InvocationType="Event", Payload=json.dumps({"path": str(runs_file)}))
    assert wait_until(lambda: len(lines(rec_file)) == 1, timeout=120)
    rec = records(rec_file)[0]
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in rec
    assert not runs_file.exists()


def test_runtime_management_config(srv):
    lam = srv.client("lambda")
    create(lam, "eic-rt", {"index.py": PY_WORKER})
    cfg = lam.get_function_configuration(FunctionName="eic-rt")
    rv = cfg["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert rv.startswith("arn:aws:lambda:us-east-1::runtime:") and len(rv.rsplit(":", 1)[1]) == 64
    got = lam.get_runtime_management_config(FunctionName="eic-rt")
    assert got["UpdateRuntimeOn"] == "Auto"
    assert got["FunctionArn"] == f"{ARN}eic-rt"
    assert "RuntimeVersionArn" not in got

    r = lam.put_runtime_management_config(FunctionName="eic-rt", UpdateRuntimeOn="Manual", RuntimeVersionArn=rv)
    assert (r["UpdateRuntimeOn"], r["RuntimeVersionArn"], r["FunctionArn"]) == ("Manual", rv, f"{ARN}eic-rt")
    got = lam.get_runtime_management_config(FunctionName="eic-rt")
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", rv)

    code, msg = err(lam.put_runtime_management_config, FunctionName="eic-rt", UpdateRuntimeOn="Manual")
    assert code == "InvalidParameterValueException"
    other = "arn:aws:lambda:us-east-1::runtime:" + "0" * 64
    code, msg = err(lam.put_runtime_management_config, FunctionName="eic-rt", UpdateRuntimeOn="Manual", RuntimeVersionArn=other)
    assert code == "InvalidParameterValueException"
    code, msg = err(lam.put_runtime_management_config, FunctionName="eic-rt", UpdateRuntimeOn="Auto", RuntimeVersionArn=rv)
    assert code == "InvalidParameterValueException"

    r = lam.put_runtime_management_config(FunctionName="eic-rt", UpdateRuntimeOn="FunctionUpdate")
    assert r["UpdateRuntimeOn"] == "FunctionUpdate" and "RuntimeVersionArn" not in r
    assert err(lam.get_runtime_management_config, FunctionName="nope")[0] == "ResourceNotFoundException"


def test_configs_survive_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {"NIMBUS_LAMBDA_ISOLATION": "off"}
    s = ConfiguredServer(str(data), env).start()
    try:
        lam = s.client("lambda")
        create(lam, "eic-keep", {"index.py": PY_WORKER})
        create(lam, "eic-keep-rec", {"index.py": PY_RECORDER})
        put = lam.put_function_event_invoke_config(
            FunctionName="eic-keep", MaximumRetryAttempts=0, MaximumEventAgeInSeconds=300,
            DestinationConfig={"OnSuccess": {"Destination": f"{ARN}eic-keep-rec"}})
        lam.put_runtime_management_config(FunctionName="eic-keep", UpdateRuntimeOn="FunctionUpdate")
    finally:
        s.stop()
    s = ConfiguredServer(str(data), env).start()
    try:
        lam = s.client("lambda")
        got = lam.get_function_event_invoke_config(FunctionName="eic-keep")
        assert got == {**put, "ResponseMetadata": got["ResponseMetadata"]}
        assert lam.get_runtime_management_config(FunctionName="eic-keep")["UpdateRuntimeOn"] == "FunctionUpdate"
    finally:
        s.stop()
