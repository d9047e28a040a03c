"""VpcConfig against the real binary: the API shapes and validation AWS gives, and the
private network a VPC function's environments run in (crates/nimbus-lambda/src/vpc.rs):
only Nimbus' endpoint is reachable from it."""

import io
import json
import os
import socket
import threading
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
VPC = {"SubnetIds": ["subnet-0123456789abcdef0", "subnet-1a2b"], "SecurityGroupIds": ["sg-0AbC123"]}

# Tries each target, then creates a DynamoDB table through AWS_ENDPOINT_URL with a raw
# request (the sandbox's python has no boto3): the test then sees the table from outside.
APP = """
import json, os, socket, urllib.request

def probe(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            return 'ok:' + s.recv(16).decode()
    except OSError as e:
        return 'error:' + type(e).__name__ + ':' + str(e.errno)

def handler(event, context):
    out = {
        'init_type': os.environ.get('AWS_LAMBDA_INITIALIZATION_TYPE'),
        'endpoint': os.environ.get('AWS_ENDPOINT_URL'),
        'api': os.environ.get('AWS_LAMBDA_RUNTIME_API'),
        'targets': [probe(h, p) for h, p in event.get('targets', [])],
    }
    if event.get('table'):
        body = json.dumps({
            'TableName': event['table'],
            'AttributeDefinitions': [{'AttributeName': 'k', 'AttributeType': 'S'}],
            'KeySchema': [{'AttributeName': 'k', 'KeyType': 'HASH'}],
            'BillingMode': 'PAY_PER_REQUEST',
        }).encode()
        req = urllib.request.Request(out['endpoint'] + '/', data=body, method='POST', headers={
            'Content-Type': 'application/x-amz-json-1.0',
            'X-Amz-Target': 'DynamoDB_20120810.CreateTable',
        })
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                out['nimbus'] = json.loads(r.read())['TableDescription']['TableStatus']
        except Exception as e:
            out['nimbus'] = 'error:' + repr(e)
    return out
"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def create(lam, name, **kw):
    return lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})}, Timeout=20, **kw)


def invoke(lam, name, event):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    return body


class Greeter:
    """A TCP server on every host address (a service the function must not reach)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(b"hello")

    def close(self):
        self.sock.close()


def host_address():
    """A non-loopback address of this host, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.123", 9))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need the server to run as root")


def test_vpc_config_shapes(server):
    lam = server.client("lambda")
    plain = create(lam, "novpc")
    assert "VpcConfig" not in plain
    assert "VpcConfig" not in lam.get_function_configuration(FunctionName="novpc")
    out = create(lam, "invpc", VpcConfig=VPC)
    vc = out["VpcConfig"]
    assert vc["SubnetIds"] == VPC["SubnetIds"]
    assert vc["SecurityGroupIds"] == VPC["SecurityGroupIds"]
    assert vc["VpcId"].startswith("vpc-") and len(vc["VpcId"]) == 21
    assert vc["Ipv6AllowedForDualStack"] is False
    assert lam.get_function(FunctionName="invpc")["Configuration"]["VpcConfig"] == vc
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert listed["invpc"]["VpcConfig"] == vc and "VpcConfig" not in listed["novpc"]
    # One synthetic VPC per account and region: another function gets the same VpcId.
    other = create(lam, "invpc2", VpcConfig={"SubnetIds": ["subnet-9"], "SecurityGroupIds": ["sg-9"], "Ipv6AllowedForDualStack": True})
    assert other["VpcConfig"]["VpcId"] == vc["VpcId"]
    assert other["VpcConfig"]["Ipv6AllowedForDualStack"] is True
    # An update without VpcConfig keeps it; empty lists detach.
    assert lam.update_function_configuration(FunctionName="invpc", Timeout=5)["VpcConfig"] == vc
    detached = lam.update_function_configuration(FunctionName="invpc", VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    assert detached["VpcConfig"] == {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}
    attached = lam.update_function_configuration(FunctionName="novpc", VpcConfig=VPC)["VpcConfig"]
    assert attached["VpcId"] == vc["VpcId"]
    # Another account has another VPC.
    lam2 = server.client("lambda", key="123456789012")
    role2 = "arn:aws:iam::123456789012:role/r"
    out2 = lam2.create_function(FunctionName="invpc", Runtime="python3.11", Role=role2, Handler="app.handler",
                                Code={"ZipFile": make_zip({"app.py": APP})}, VpcConfig=VPC)
    assert out2["VpcConfig"]["VpcId"] != vc["VpcId"]


@pytest.mark.parametrize("vpc,code,message", [
    ({"SubnetIds": ["subnet-1"]}, "InvalidParameterValueException", "SubnetIds and SecurityIds must coexist or be both empty list."),
    ({"SubnetIds": ["subnet-1"], "SecurityGroupIds": []}, "InvalidParameterValueException", "SubnetIds and SecurityIds must coexist or be both empty list."),
    ({"SubnetIds": [], "SecurityGroupIds": ["sg-1"]}, "InvalidParameterValueException", "SubnetIds and SecurityIds must coexist or be both empty list."),
    ({"SubnetIds": ["subnet-1", "vpc-2"], "SecurityGroupIds": ["sg-1"]}, "ValidationException",
     "1 validation error detected: Value '[subnet-1, vpc-2]' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must satisfy constraint: "
     "[Member must have length less than or equal to 1024, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: ^subnet-[0-9a-z]*$]"),
    ({"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg_1"]}, "ValidationException",
     "1 validation error detected: Value '[sg_1]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must satisfy constraint: "
     "[Member must have length less than or equal to 1024, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: ^sg-[0-9a-zA-Z]*$]"),
    ({"SubnetIds": [f"subnet-{i}" for i in range(17)], "SecurityGroupIds": ["sg-1"]}, "ValidationException",
     "at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16"),
    ({"SubnetIds": ["subnet-1"], "SecurityGroupIds": [f"sg-{i}" for i in range(6)]}, "ValidationException",
     "at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or equal to 5"),
])
def test_vpc_config_validation(server, vpc, code, message):
    lam = server.client("lambda", validate=False)
    with pytest.raises(ClientError) as e:
        create(lam, "bad", VpcConfig=vpc)
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Code"] == code
    assert message in err["Message"], err["Message"]
    # Nothing was created; an update is refused the same way and changes nothing.
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="bad")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    create(lam, "good")
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="good", VpcConfig=vpc)
    assert e.value.response["Error"]["Code"] == code
    assert "VpcConfig" not in lam.get_function_configuration(FunctionName="good")


@needs_root
@pytest.mark.parametrize("snap", ["None", None], ids=["normal-start", "snapshot-start"])
def test_vpc_function_reaches_only_nimbus(server, snap):
    lam = server.client("lambda")
    ddb = server.client("dynamodb")
    edge_port = urlparse(server.endpoint).port
    greeter = Greeter()
    try:
        ip = host_address()
        targets = [["127.0.0.1", greeter.port]] + ([[ip, greeter.port]] if ip else [])
        kw = {"SnapStart": {"ApplyOn": snap}} if snap else {}
        init_type = "on-demand" if snap else "snap-start"
        create(lam, "open", **kw)
        create(lam, "private", VpcConfig=VPC, **kw)

        # Control: without VpcConfig the function reaches the host's services.
        out = invoke(lam, "open", {"targets": targets})
        assert out["targets"] == ["ok:hello"] * len(targets)
        assert out["init_type"] == init_type

        # With VpcConfig: neither the host's loopback port nor its other address...
        table = "vpc-" + uuid.uuid4().hex[:8]
        before = greeter.accepted
        out = invoke(lam, "private", {"targets": targets + [["1.1.1.1", 443]], "table": table})
        assert out["init_type"] == init_type
        assert out["targets"][0] == "error:ConnectionRefusedError:111", out
        if ip:
            assert out["targets"][1] == "error:OSError:101", out  # ENETUNREACH: no route out
        assert out["targets"][-1] == "error:OSError:101", out  # nor to the internet
        assert greeter.accepted == before
        # ...but Nimbus, at the address it is given, and its own Runtime API.
        assert out["endpoint"] == f"http://127.0.0.1:{edge_port}"
        assert out["api"].startswith("127.0.0.1:")
        assert out["nimbus"] == "ACTIVE", out
        assert table in ddb.list_tables()["TableNames"]

        # Several environments at once (forks of one template share its network).
        events = [{"targets": targets[:1], "table": f"{table}-{i}"} for i in range(3)]
        with ThreadPoolExecutor(3) as pool:
            outs = list(pool.map(lambda e: invoke(lam, "private", e), events))
        assert all(o["targets"] == ["error:ConnectionRefusedError:111"] and o["nimbus"] == "ACTIVE" for o in outs), outs
        names = ddb.list_tables()["TableNames"]
        assert all(f"{table}-{i}" in names for i in range(3))

        # Detaching (empty lists) retires the environments: the next one is on the host network.
        lam.update_function_configuration(FunctionName="private", VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
        out = invoke(lam, "private", {"targets": targets})
        assert out["targets"] == ["ok:hello"] * len(targets)
        assert out["endpoint"] == server.endpoint

        # Attaching again isolates again.
        lam.update_function_configuration(FunctionName="private", VpcConfig=VPC)
        out = invoke(lam, "private", {"targets": targets[:1], "table": table + "-again"})
        assert out["targets"] == ["error:ConnectionRefusedError:111"]
        assert out["nimbus"] == "ACTIVE"
    finally:
        greeter.close()


NODE_APP = """
const net = require('net');
const probe = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 3000 }, () => { s.once('data', (d) => { resolve('ok:' + d); s.destroy(); }); });
  s.on('error', (e) => resolve('error:' + e.code));
  s.on('timeout', () => { resolve('error:timeout'); s.destroy(); });
});
exports.handler = async (event) => {
  const targets = [];
  for (const [h, p] of event.targets) targets.push(await probe(h, p));
  const r = await fetch(process.env.AWS_ENDPOINT_URL + '/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.ListTables' },
    body: '{}',
  });
  return { targets, nimbus: r.status, tables: (await r.json()).TableNames };
};
"""


@needs_root
def test_vpc_nodejs_function(server):
    lam = server.client("lambda")
    server.client("dynamodb").create_table(
        TableName="seen-from-vpc", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    greeter = Greeter()
    try:
        ip = host_address()
        targets = [["127.0.0.1", greeter.port]] + ([[ip, greeter.port]] if ip else [])
        for name, vpc in [("node-open", None), ("node-private", VPC)]:
            lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler", Timeout=20,
                                Code={"ZipFile": make_zip({"index.js": NODE_APP})}, **({"VpcConfig": vpc} if vpc else {}))
        out = invoke(lam, "node-open", {"targets": targets})
        assert out["targets"] == ["ok:hello"] * len(targets)
        out = invoke(lam, "node-private", {"targets": targets})
        assert out["targets"] == ["error:ECONNREFUSED"] + (["error:ENETUNREACH"] if ip else []), out
        assert out["nimbus"] == 200 and "seen-from-vpc" in out["tables"]
    finally:
        greeter.close()
