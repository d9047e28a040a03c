"""Lambda against the real binary: control plane, real execution (Python, Node.js,
provided), warm reuse, errors, timeouts, logs, async invoke, concurrency, persistence."""

import base64
import io
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
import zipfile

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, Server, wait_until

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

PY_HELLO = """
import json

def lambda_handler(event, context):
    name = event.get('name', 'World')
    return {'statusCode': 200, 'body': json.dumps({'message': f'Hello, {name}!'})}
"""

PY_FEATURES = """
import json, os, sys, time

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    action = event.get('action')
    if action == 'env':
        return {k: os.environ.get(k) for k in event['keys']}
    if action == 'fail':
        raise ValueError('boom: ' + str(event.get('n')))
    if action == 'sleep':
        time.sleep(event['seconds'])
        return {'slept': context.log_stream_name} if event.get('stream') else 'slept'
    if action == 'print':
        print('hello from the function', flush=True)
        return 'printed'
    if action == 'exit':
        sys.stdout.flush()
        os._exit(3)
    if action == 'write':
        with open(event['path'], 'a') as f:
            f.write(json.dumps(event.get('data')) + '\\n')
        if event.get('fail'):
            raise RuntimeError('asked to fail')
        return 'written'
    if action == 'context':
        return {
            'function_name': context.function_name,
            'function_version': context.function_version,
            'invoked_function_arn': context.invoked_function_arn,
            'memory_limit_in_mb': context.memory_limit_in_mb,
            'aws_request_id': context.aws_request_id,
            'log_group_name': context.log_group_name,
            'log_stream_name': context.log_stream_name,
            'remaining': context.get_remaining_time_in_millis(),
            'pid': os.getpid(),
            'cwd': os.getcwd(),
        }
    return {'count': COUNT, 'pid': os.getpid()}
"""


def make_zip(files, modes=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            z.writestr(info, content)
    return buf.getvalue()


def create(lam, name, files, handler="index.handler", runtime="python3.11", **kw):
    return lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=kw.pop("Role", ROLE),
        Handler=handler,
        Code={"ZipFile": make_zip(files, kw.pop("modes", None))},
        **kw,
    )


def invoke(lam, name, event, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def aws(server, *args, cwd=None):
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )


class ConfiguredServer(Server):
    """A server started with NIMBUS_LAMBDA_* overrides (the shared fixture strips NIMBUS_*)."""

    def __init__(self, data_dir, extra_env):
        super().__init__(data_dir)
        self.extra_env = extra_env

    def start(self):
        saved = {k: os.environ.get(k) for k in self.extra_env}
        os.environ.update(self.extra_env)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_") or k in self.extra_env}
            env["NIMBUS_LOG"] = "warn"
            self.proc = subprocess.Popen(
                [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
                stdout=subprocess.PIPE, stderr=None, env=env, text=True,
            )
            line = self.proc.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line)
            if not m:
                self.proc.kill()
                raise RuntimeError(f"nimbus did not start: {line!r}")
            self.endpoint = m.group(1)
            return self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def fast_server():
    d = tempfile.TemporaryDirectory(prefix="nimbus-e2e-")
    # The function proves it ran by writing a file on the host, which the sandbox (rightly)
    # hides: this server runs functions as plain subprocesses.
    s = ConfiguredServer(d.name, {"NIMBUS_LAMBDA_ASYNC_RETRY_DELAYS": "0.2,0.2", "NIMBUS_LAMBDA_ISOLATION": "off"}).start()
    yield s
    s.stop()
    d.cleanup()


# ---------------------------------------------------------------- the seed, with the CLI

def test_seed_cli_python(server, tmp_path):
    (tmp_path / "lambda_function.py").write_text(PY_HELLO)
    with zipfile.ZipFile(tmp_path / "function.zip", "w") as z:
        z.write(tmp_path / "lambda_function.py", "lambda_function.py")
    r = aws(server, "lambda", "create-function", "--function-name", "hello", "--runtime", "python3.9",
            "--role", ROLE, "--handler", "lambda_function.lambda_handler",
            "--zip-file", "fileb://function.zip", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["State"] == "Active"
    assert created["CodeSha256"] == base64.b64encode(
        __import__("hashlib").sha256((tmp_path / "function.zip").read_bytes()).digest()).decode()
    assert created["CodeSize"] == (tmp_path / "function.zip").stat().st_size
    r = aws(server, "lambda", "wait", "function-active", "--function-name", "hello")
    assert r.returncode == 0, r.stderr
    # The pinned CLI is v1, which sends --payload raw (v2 needs --cli-binary-format raw-in-base64-out).
    r = aws(server, "lambda", "invoke", "--function-name", "hello",
            "--payload", '{"name": "AWS"}', "response.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    out = json.loads((tmp_path / "response.json").read_text())
    assert out == {"statusCode": 200, "body": json.dumps({"message": "Hello, AWS!"})}
    r = aws(server, "lambda", "update-function-configuration", "--function-name", "hello", "--timeout", "10")
    assert r.returncode == 0, r.stderr
    r = aws(server, "lambda", "wait", "function-updated", "--function-name", "hello")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- runtimes

def test_nodejs_commonjs_esm_and_callback(server):
    lam = server.client("lambda")
    create(lam, "node-cjs", {"index.js": "exports.handler = async (event, context) => ({hello: event.name, id: context.awsRequestId, fn: context.functionName});"},
           runtime="nodejs20.x")
    r, out = invoke(lam, "node-cjs", {"name": "cjs"})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert out["hello"] == "cjs" and out["fn"] == "node-cjs" and out["id"] == r["ResponseMetadata"]["RequestId"]

    create(lam, "node-esm", {"app.mjs": "export const handler = async (event) => ({esm: true, n: event.n + 1});"},
           handler="app.handler", runtime="nodejs22.x")
    _, out = invoke(lam, "node-esm", {"n": 41})
    assert out == {"esm": True, "n": 42}

    create(lam, "node-cb", {"index.js": "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, {cb: event.v}), 5); };"},
           runtime="nodejs18.x")
    _, out = invoke(lam, "node-cb", {"v": 7})
    assert out == {"cb": 7}

    create(lam, "node-err", {"index.js": "exports.handler = async () => { throw new TypeError('bad type'); };"}, runtime="nodejs20.x")
    r, out = invoke(lam, "node-err", {})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError" and out["errorMessage"] == "bad type"


def test_provided_runtime_shell_bootstrap(server):
    lam = server.client("lambda")
    bootstrap = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '\\r' | cut -d' ' -f2)
  rm -f "$HEADERS"
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"echo\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}" > /dev/null
done
"""
    create(lam, "custom", {"bootstrap": bootstrap}, handler="my.handler", runtime="provided.al2023",
           modes={"bootstrap": 0o755})
    r, out = invoke(lam, "custom", {"x": 1})
    assert r["StatusCode"] == 200 and "FunctionError" not in r, out
    assert out == {"echo": {"x": 1}, "handler": "my.handler"}
    _, out = invoke(lam, "custom", {"x": 2})
    assert out["echo"] == {"x": 2}


def test_provided_runtime_python_bootstrap(server):
    lam = server.client("lambda")
    bootstrap = """#!/usr/bin/env python3
import json, os, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime'
while True:
    with urllib.request.urlopen(api + '/invocation/next') as r:
        rid = r.headers['Lambda-Runtime-Aws-Request-Id']
        event = json.loads(r.read())
    body = json.dumps({'doubled': event['n'] * 2}).encode()
    urllib.request.urlopen(urllib.request.Request(api + '/invocation/' + rid + '/response', data=body, method='POST')).read()
"""
    create(lam, "custom-py", {"bootstrap": bootstrap}, handler="x", runtime="provided", modes={"bootstrap": 0o755})
    _, out = invoke(lam, "custom-py", {"n": 21})
    assert out == {"doubled": 42}


# ---------------------------------------------------------------- behaviour

def test_warm_reuse_env_and_context(server):
    lam = server.client("lambda")
    create(lam, "feat", {"index.py": PY_FEATURES}, Environment={"Variables": {"GREETING": "hi", "COLOR": "blue"}},
           MemorySize=256, Timeout=30)
    counts = []
    pids = set()
    for _ in range(3):
        _, out = invoke(lam, "feat", {})
        counts.append(out["count"])
        pids.add(out["pid"])
    assert counts == [1, 2, 3]
    assert len(pids) == 1
    _, out = invoke(lam, "feat", {"action": "env", "keys": [
        "GREETING", "COLOR", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "_HANDLER", "TZ",
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_LOG_GROUP_NAME"]})
    assert out["GREETING"] == "hi" and out["COLOR"] == "blue"
    assert out["AWS_REGION"] == out["AWS_DEFAULT_REGION"] == "us-east-1"
    assert out["AWS_LAMBDA_FUNCTION_NAME"] == "feat"
    assert out["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert out["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert out["_HANDLER"] == "index.handler"
    assert out["TZ"] == ":UTC"
    assert out["AWS_ENDPOINT_URL"] == server.endpoint
    assert out["AWS_ACCESS_KEY_ID"]
    assert out["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert out["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/feat"
    _, ctx = invoke(lam, "feat", {"action": "context"})
    assert ctx["function_name"] == "feat"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:feat"
    assert str(ctx["memory_limit_in_mb"]) == "256"
    assert 25_000 < ctx["remaining"] <= 30_000
    assert ctx["cwd"] == out["LAMBDA_TASK_ROOT"]
    # An update retires the warm environment: the counter starts again.
    lam.update_function_configuration(FunctionName="feat", Environment={"Variables": {"GREETING": "hello"}})
    _, out = invoke(lam, "feat", {"action": "env", "keys": ["GREETING", "COLOR"]})
    assert out == {"GREETING": "hello", "COLOR": None}
    _, out = invoke(lam, "feat", {})
    assert out["count"] == 2


def test_function_error_timeout_crash_and_server_keeps_serving(server):
    lam = server.client("lambda")
    create(lam, "errs", {"index.py": PY_FEATURES}, Timeout=1)
    r, out = invoke(lam, "errs", {"action": "fail", "n": 7})
    assert r["StatusCode"] == 200
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ValueError"
    assert out["errorMessage"] == "boom: 7"
    assert isinstance(out["stackTrace"], list) and out["stackTrace"]
    # Still warm after a handled error.
    _, out = invoke(lam, "errs", {})
    assert out["count"] == 2

    t0 = time.time()
    r, out = invoke(lam, "errs", {"action": "sleep", "seconds": 5})
    assert time.time() - t0 < 4
    assert r["FunctionError"] == "Unhandled"
    rid = r["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z " + re.escape(rid) + r" Task timed out after 1\.\d\d seconds", out["errorMessage"]), out
    # A fresh environment afterwards.
    _, out = invoke(lam, "errs", {})
    assert out["count"] == 1

    r, out = invoke(lam, "errs", {"action": "exit"})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in out["errorMessage"]
    _, out = invoke(lam, "errs", {})
    assert out["count"] == 1

    create(lam, "bad-import", {"index.py": "import does_not_exist\ndef handler(e, c):\n    return 1\n"})
    r, out = invoke(lam, "bad-import", {})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'index'" in out["errorMessage"]
    create(lam, "bad-handler", {"index.py": "def other(e, c):\n    return 1\n"})
    r, out = invoke(lam, "bad-handler", {})
    assert out["errorType"] == "Runtime.HandlerNotFound"


def test_log_tail(server):
    lam = server.client("lambda")
    create(lam, "logs", {"index.py": PY_FEATURES}, MemorySize=128)
    r, out = invoke(lam, "logs", {"action": "print"}, LogType="Tail")
    assert out == "printed"
    log = base64.b64decode(r["LogResult"]).decode()
    rid = r["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {rid} Version: $LATEST" in log
    assert "hello from the function" in log
    assert f"END RequestId: {rid}" in log
    assert re.search(rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB", log)
    r, _ = invoke(lam, "logs", {})
    assert "LogResult" not in r


def test_function_logs_reach_cloudwatch_logs(server):
    lam = server.client("lambda")
    create(lam, "logged", {"index.py": PY_FEATURES})
    r, out = invoke(lam, "logged", {"action": "print"})
    rid = r["ResponseMetadata"]["RequestId"]
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/logged")["logStreams"]
    assert len(streams) == 1 and "[$LATEST]" in streams[0]["logStreamName"]
    messages = [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/logged")["events"]]
    assert f"START RequestId: {rid} Version: $LATEST" in messages
    assert any("hello from the function" in m for m in messages)
    assert f"END RequestId: {rid}" in messages
    assert any(m.startswith(f"REPORT RequestId: {rid}") for m in messages)
    # The aws CLI reads them too (CLI v1 has no `logs tail`; filter-log-events is its equivalent).
    out = aws(server, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/logged", "--filter-pattern", "REPORT")
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert len(events) == 1 and events[0]["message"].startswith(f"REPORT RequestId: {rid}")


def test_logging_config_log_group_and_refused_settings(server):
    lam = server.client("lambda")
    logs = server.client("logs")
    created = create(lam, "grouped", {"index.py": PY_FEATURES}, LoggingConfig={"LogGroup": "/custom/grouped"})
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/custom/grouped"}
    r, out = invoke(lam, "grouped", {"action": "context"})
    assert out["log_group_name"] == "/custom/grouped"
    rid = r["ResponseMetadata"]["RequestId"]
    messages = [e["message"] for e in logs.filter_log_events(logGroupName="/custom/grouped")["events"]]
    assert f"END RequestId: {rid}" in messages
    assert not logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/grouped")["logGroups"]
    # An update that does not name the group keeps it; naming another moves the logs there.
    lam.update_function_configuration(FunctionName="grouped", LoggingConfig={"LogFormat": "Text"})
    assert lam.get_function_configuration(FunctionName="grouped")["LoggingConfig"]["LogGroup"] == "/custom/grouped"
    lam.update_function_configuration(FunctionName="grouped", LoggingConfig={"LogGroup": "/custom/moved"})
    r, out = invoke(lam, "grouped", {"action": "context"})
    assert out["log_group_name"] == "/custom/moved"
    rid = r["ResponseMetadata"]["RequestId"]
    assert f"END RequestId: {rid}" in [e["message"] for e in logs.filter_log_events(logGroupName="/custom/moved")["events"]]
    # A function without LoggingConfig shows AWS's defaults.
    plain = create(lam, "ungrouped", {"index.py": PY_FEATURES})
    assert plain["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/ungrouped"}
    # What Nimbus cannot honour is refused, not ignored, and nothing is created or changed.
    refused = [
        ("LoggingConfig", {"LogFormat": "JSON"}),
        ("LoggingConfig", {"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}),
        ("DeadLetterConfig", {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}),
        ("FileSystemConfigs", [{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-0123456789abcdef0", "LocalMountPath": "/mnt/efs"}]),
    ]
    for field, value in refused:
        with pytest.raises(ClientError) as e:
            create(lam, "refused", {"index.py": PY_FEATURES}, **{field: value})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException", (field, e.value.response)
        with pytest.raises(ClientError) as e:
            lam.update_function_configuration(FunctionName="grouped", **{field: value})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException", (field, e.value.response)
    assert "refused" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert lam.get_function_configuration(FunctionName="grouped")["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/custom/moved"}


def test_code_signing_none_attached_and_none_creatable(server):
    lam = server.client("lambda")
    create(lam, "unsigned", {"index.py": PY_FEATURES})
    # What Terraform reads for every function: no configuration attached.
    got = lam.get_function_code_signing_config(FunctionName="unsigned")
    assert got["FunctionName"] == "unsigned" and got["CodeSigningConfigArn"] == ""
    lam.delete_function_code_signing_config(FunctionName="unsigned")
    assert lam.list_code_signing_configs()["CodeSigningConfigs"] == []
    arn = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
    for call in (lambda: lam.put_function_code_signing_config(FunctionName="unsigned", CodeSigningConfigArn=arn),
                 lambda: create(lam, "signed", {"index.py": PY_FEATURES}, CodeSigningConfigArn=arn)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "CodeSigningConfigNotFoundException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        lam.get_code_signing_config(CodeSigningConfigArn=arn)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": ["arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/abcdefghij"]})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.get_function_code_signing_config(FunctionName="missing")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_kms_key_arn_is_shown_back(server):
    lam = server.client("lambda")
    key = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555"
    assert create(lam, "keyed", {"index.py": PY_FEATURES}, KMSKeyArn=key)["KMSKeyArn"] == key
    assert lam.get_function_configuration(FunctionName="keyed")["KMSKeyArn"] == key
    lam.update_function_configuration(FunctionName="keyed", KMSKeyArn="")
    assert "KMSKeyArn" not in lam.get_function_configuration(FunctionName="keyed")


def test_async_event_invoke_and_retries(fast_server, tmp_path):
    lam = fast_server.client("lambda")
    create(lam, "async", {"index.py": PY_FEATURES})
    out_file = tmp_path / "events.txt"
    r = lam.invoke(FunctionName="async", InvocationType="Event",
                   Payload=json.dumps({"action": "write", "path": str(out_file), "data": "one"}))
    assert r["StatusCode"] == 202
    assert wait_until(lambda: out_file.exists() and out_file.read_text().strip() == '"one"', timeout=10)
    fail_file = tmp_path / "fails.txt"
    lam.invoke(FunctionName="async", InvocationType="Event",
               Payload=json.dumps({"action": "write", "path": str(fail_file), "data": "x", "fail": True}))
    # One attempt plus two retries, then dropped.
    assert wait_until(lambda: fail_file.exists() and len(fail_file.read_text().splitlines()) == 3, timeout=15)
    time.sleep(1.0)
    assert len(fail_file.read_text().splitlines()) == 3
    r = lam.invoke(FunctionName="async", InvocationType="DryRun")
    assert r["StatusCode"] == 204


def test_reserved_concurrency(server):
    lam = server.client("lambda")
    create(lam, "limited", {"index.py": PY_FEATURES}, Timeout=10)
    r = lam.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=0)
    assert r["ReservedConcurrentExecutions"] == 0
    assert lam.get_function_concurrency(FunctionName="limited")["ReservedConcurrentExecutions"] == 0
    with pytest.raises(ClientError) as e:
        invoke(lam, "limited", {})
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert e.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

    lam.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=1)
    results = {}

    def slow():
        # A probe below may hold the slot for a moment when this call arrives.
        for _ in range(100):
            try:
                results["slow"] = invoke(lam, "limited", {"action": "sleep", "seconds": 1.5})[1]
                return
            except ClientError:
                time.sleep(0.02)

    th = threading.Thread(target=slow)
    th.start()
    # While the slow call holds the one slot, a second call is throttled. The slow call
    # may take a moment to start (a cold, sandboxed environment under load), so try
    # until it is in flight rather than guessing how long that takes.
    throttled = None
    deadline = time.time() + 10
    while throttled is None and th.is_alive() and time.time() < deadline:
        time.sleep(0.05)
        try:
            invoke(lam, "limited", {})
        except ClientError as e:
            throttled = e
    assert throttled is not None, "a second concurrent call was never throttled"
    assert throttled.response["Error"]["Code"] == "TooManyRequestsException"
    th.join()
    assert results["slow"] == "slept"
    lam.delete_function_concurrency(FunctionName="limited")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="limited")
    _, out = invoke(lam, "limited", {})
    assert "count" in out
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=950)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_scale_out_concurrent(server):
    lam = server.client("lambda")
    create(lam, "wide", {"index.py": PY_FEATURES}, Timeout=10)
    streams = []
    lock = threading.Lock()

    def call():
        c = server.client("lambda")
        _, out = invoke(c, "wide", {"action": "sleep", "seconds": 1, "stream": True})
        with lock:
            streams.append(out["slept"])

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Four overlapping calls ran in four environments (one log stream each).
    assert len(streams) == 4
    assert len(set(streams)) == 4, streams


# ---------------------------------------------------------------- control plane

def test_crud_and_errors(server):
    lam = server.client("lambda")
    created = create(lam, "crud", {"index.py": PY_FEATURES}, Description="d", Tags={"team": "a"},
                     Architectures=["arm64"], EphemeralStorage={"Size": 1024})
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:crud"
    assert created["Architectures"] == ["arm64"]
    assert created["EphemeralStorage"] == {"Size": 1024}
    assert created["MemorySize"] == 128 and created["Timeout"] == 3
    assert created["PackageType"] == "Zip" and created["LastUpdateStatus"] == "Successful"
    with pytest.raises(ClientError) as e:
        create(lam, "crud", {"index.py": PY_FEATURES})
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["Error"]["Message"] == "Function already exist: crud"

    got = lam.get_function(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:crud")
    assert got["Configuration"]["Description"] == "d"
    assert got["Tags"] == {"team": "a"}
    assert got["Code"]["RepositoryType"] == "S3"
    data = urllib.request.urlopen(got["Code"]["Location"]).read()
    assert zipfile.ZipFile(io.BytesIO(data)).read("index.py").decode() == PY_FEATURES
    assert lam.get_function_configuration(FunctionName="000000000000:function:crud")["FunctionName"] == "crud"

    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    with pytest.raises(ClientError) as e:
        create(lam, "reserved", {"index.py": "x"}, Environment={"Variables": {"AWS_REGION": "x"}})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided contains reserved keys that are currently not supported for modification. Reserved keys used "
        "in this request: AWS_REGION")
    with pytest.raises(ClientError) as e:
        create(lam, "bigenv", {"index.py": "x"}, Environment={"Variables": {"BIG": "x" * 5000}})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="badzip", Runtime="python3.11", Role=ROLE, Handler="a.b",
                            Code={"ZipFile": b"not a zip"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="badrole", Runtime="python3.11", Role="not-an-arn",
                            Handler="a.b", Code={"ZipFile": make_zip({"a.py": ""})})
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # Update code with a RevisionId check.
    rev = got["Configuration"]["RevisionId"]
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="crud", ZipFile=make_zip({"index.py": PY_HELLO}), RevisionId="wrong")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    updated = lam.update_function_code(FunctionName="crud", ZipFile=make_zip({"index.py": PY_HELLO}), RevisionId=rev)
    assert updated["RevisionId"] != rev and updated["CodeSha256"] != got["Configuration"]["CodeSha256"]
    lam.update_function_configuration(FunctionName="crud", Handler="index.lambda_handler", MemorySize=512)
    _, out = invoke(lam, "crud", {"name": "new"})
    assert json.loads(out["body"]) == {"message": "Hello, new!"}

    for i in range(5):
        create(lam, f"page-{i}", {"index.py": "x"})
    names = []
    marker = None
    while True:
        kw = {"MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        assert len(page["Functions"]) <= 2
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names == sorted(names) and set(names) == {"crud", *(f"page-{i}" for i in range(5))}

    lam.delete_function(FunctionName="crud")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="crud", Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_payload_limits(server):
    lam = server.client("lambda")
    create(lam, "echo", {"index.py": "def handler(e, c):\n    return e if not isinstance(e, dict) or 'big' not in e else 'x' * e['big']\n"})
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="echo", Payload=json.dumps({"a": "x" * (6 * 1024 * 1024)}).encode())
    assert e.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    r, out = invoke(lam, "echo", {"big": 7 * 1024 * 1024})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Function.ResponseSizeTooLarge"
    _, out = invoke(lam, "echo", {"a": 1})
    assert out == {"a": 1}
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_persistence_across_restart(server_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = server_factory(data_dir=str(data))
    lam = s.client("lambda")
    create(lam, "durable", {"index.py": PY_FEATURES}, Environment={"Variables": {"KEY": "v"}})
    lam.put_function_concurrency(FunctionName="durable", ReservedConcurrentExecutions=5)
    sha = lam.get_function(FunctionName="durable")["Configuration"]["CodeSha256"]
    s.stop()
    s2 = server_factory(data_dir=str(data))
    lam2 = s2.client("lambda")
    cfg = lam2.get_function(FunctionName="durable")
    assert cfg["Configuration"]["CodeSha256"] == sha
    assert cfg["Configuration"]["Environment"]["Variables"] == {"KEY": "v"}
    assert cfg["Concurrency"]["ReservedConcurrentExecutions"] == 5
    _, out = invoke(lam2, "durable", {"action": "env", "keys": ["KEY"]})
    assert out == {"KEY": "v"}


def test_queued_event_survives_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # The function writes a file on the host (hidden by the sandbox): plain subprocesses.
    servers = []

    def server_factory(data_dir):
        srv = ConfiguredServer(data_dir, {"NIMBUS_LAMBDA_ISOLATION": "off"}).start()
        servers.append(srv)
        return srv
    try:
        _queued_event_survives_restart(server_factory, tmp_path, data)
    finally:
        for srv in servers:
            try:
                srv.stop()
            except Exception:
                pass


def _queued_event_survives_restart(server_factory, tmp_path, data):
    s = server_factory(data_dir=str(data))
    lam = s.client("lambda")
    create(lam, "later", {"index.py": PY_FEATURES})
    # Reserved concurrency 0 keeps the event waiting in the durable queue.
    lam.put_function_concurrency(FunctionName="later", ReservedConcurrentExecutions=0)
    out_file = tmp_path / "later.txt"
    r = lam.invoke(FunctionName="later", InvocationType="Event",
                   Payload=json.dumps({"action": "write", "path": str(out_file), "data": "queued"}))
    assert r["StatusCode"] == 202
    time.sleep(0.5)
    assert not out_file.exists()
    s.kill9()
    s2 = server_factory(data_dir=str(data))
    lam2 = s2.client("lambda")
    lam2.delete_function_concurrency(FunctionName="later")
    assert wait_until(lambda: out_file.exists() and out_file.read_text().strip() == '"queued"', timeout=10)
