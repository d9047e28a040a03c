"""Real Runtime API clients against Nimbus: a `provided.al2023` function built with AWS's
Rust `lambda_runtime` crate, and a Python function served by AWS's own runtime interface
client (`awslambdaric` from PyPI) as its bootstrap."""

import base64
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from test_lambda import create, invoke, make_zip

RUST_FIXTURE = os.path.join(os.path.dirname(os.environ.get("NIMBUS_BIN", os.path.join(ROOT, "target", "debug", "nimbus"))),
                            "rust-runtime-fixture")
# Pinned, with its dependencies, for CPython 3.11 on x86_64 Linux.
AWSLAMBDARIC = ["awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0"]


def test_rust_lambda_runtime_crate(server):
    if not os.path.exists(RUST_FIXTURE):
        pytest.fail(f"{RUST_FIXTURE} is missing: build it with `cargo build -p nimbus-test-rust-runtime`")
    with open(RUST_FIXTURE, "rb") as f:
        binary = f.read()
    lam = server.client("lambda")
    create(lam, "rusty", {"bootstrap": binary}, handler="unused", runtime="provided.al2023",
           modes={"bootstrap": 0o755}, Timeout=10)
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    r, out = invoke(lam, "rusty", {"n": 1}, ClientContext=ctx)
    assert r["StatusCode"] == 200 and "FunctionError" not in r, out
    assert out["echo"] == {"n": 1}
    assert out["function_name"] == "rusty"
    assert out["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:rusty"
    assert out["client_context"] == {"k": "v"}
    assert len(out["request_id"]) == 36 and out["deadline_ms"] > 0
    # Warm: the same process answers again with a new request id.
    _, again = invoke(lam, "rusty", {"n": 2})
    assert again["echo"] == {"n": 2} and again["request_id"] != out["request_id"]
    # An error returned by the handler goes through /invocation/{id}/error.
    r, err = invoke(lam, "rusty", {"fail": True})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorMessage"] == "asked to fail"
    assert "errorType" in err


RIC_HANDLER = """
import os

def handler(event, context):
    return {
        "sum": event["a"] + event["b"],
        "request_id": context.aws_request_id,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 10000,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
    }

def fails(event, context):
    raise KeyError("missing")
"""

RIC_BOOTSTRAP = """#!/bin/sh
export PYTHONPATH=/var/task
exec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"
"""


def _ric_package(tmp_path):
    target = tmp_path / "pkg"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
         "--target", str(target), *AWSLAMBDARIC],
        check=True, timeout=300,
    )
    files = {}
    for root, _, names in os.walk(target):
        for n in names:
            path = os.path.join(root, n)
            with open(path, "rb") as f:
                files[os.path.relpath(path, target)] = f.read()
    files["app.py"] = RIC_HANDLER
    files["bootstrap"] = RIC_BOOTSTRAP
    return files


def test_awslambdaric_as_bootstrap(server, tmp_path):
    if not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("this host has no /usr/bin/python3.11 for the awslambdaric bootstrap")
    files = _ric_package(tmp_path)
    modes = {name: 0o755 for name in files if name == "bootstrap" or name.endswith(".so")}
    lam = server.client("lambda")
    create(lam, "ric", files, handler="app.handler", runtime="provided.al2023", modes=modes, Timeout=10,
           MemorySize=256)
    r, out = invoke(lam, "ric", {"a": 2, "b": 40})
    assert r["StatusCode"] == 200 and "FunctionError" not in r, out
    assert out["sum"] == 42
    assert out["remaining_ok"] is True
    assert out["function_name"] == "ric" and out["memory"] == "256"
    assert len(out["request_id"]) == 36
    create(lam, "ric-fail", files, handler="app.fails", runtime="provided.al2023", modes=modes, Timeout=10)
    r, err = invoke(lam, "ric-fail", {})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "KeyError"
    assert err["errorMessage"] == "'missing'"
    assert isinstance(err["stackTrace"], list)


STREAMING_BOOTSTRAP = r"""#!/usr/bin/env python3
# A custom runtime answering in the Runtime API's response streaming mode: a chunked
# body, and a mid-stream failure reported in the trailers.
import base64, json, os, socket, urllib.request
api = os.environ['AWS_LAMBDA_RUNTIME_API']
host, port = api.split(':')
while True:
    with urllib.request.urlopen(f'http://{api}/2018-06-01/runtime/invocation/next') as r:
        rid = r.headers['Lambda-Runtime-Aws-Request-Id']
        event = json.loads(r.read())
    s = socket.create_connection((host, int(port)))
    s.sendall((f'POST /2018-06-01/runtime/invocation/{rid}/response HTTP/1.1\r\nHost: {api}\r\n'
               'Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n'
               'Content-Type: application/octet-stream\r\n'
               'Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n').encode())
    for part in event['parts']:
        data = part.encode()
        s.sendall(b'%x\r\n%s\r\n' % (len(data), data))
    if event.get('fail'):
        doc = base64.b64encode(json.dumps({'errorType': 'StreamError', 'errorMessage': 'broke mid-stream'}).encode()).decode()
        s.sendall(('0\r\nLambda-Runtime-Function-Error-Type: StreamError\r\n'
                   f'Lambda-Runtime-Function-Error-Body: {doc}\r\n\r\n').encode())
    else:
        s.sendall(b'0\r\n\r\n')
    assert b' 202 ' in s.recv(4096)
    s.close()
"""


def test_runtime_api_response_streaming_mode(server):
    lam = server.client("lambda")
    create(lam, "streamer", {"bootstrap": STREAMING_BOOTSTRAP}, handler="x", runtime="provided.al2023",
           modes={"bootstrap": 0o755})
    r = lam.invoke(FunctionName="streamer", Payload=json.dumps({"parts": ["hel", "lo ", "world"]}).encode())
    assert "FunctionError" not in r
    assert r["Payload"].read() == b"hello world"
    r = lam.invoke(FunctionName="streamer", Payload=json.dumps({"parts": ["partial"], "fail": True}).encode())
    assert r["FunctionError"] == "Unhandled"
    assert json.loads(r["Payload"].read()) == {"errorType": "StreamError", "errorMessage": "broke mid-stream"}
