"""Lambda layers against the real binary: the layer API (publish, get, list, delete,
permissions), `Layers` on functions with AWS's checks, and the merged read-only /opt an
environment sees (Python, Node.js and provided runtimes; snapshot and normal starts;
isolation off)."""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def make_zip(files, modes=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            z.writestr(info, content)
    return buf.getvalue()


def publish(lam, name, files, modes=None, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files, modes)}, **kw)


def create(lam, name, files, layers, handler="index.handler", runtime="python3.12", snapshots=True, **kw):
    if not snapshots:
        kw["SnapStart"] = {"ApplyOn": "None"}
    return lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=kw.pop("Role", ROLE),
        Handler=handler,
        Code={"ZipFile": make_zip(files, kw.pop("modes", None))},
        Layers=layers,
        **kw,
    )


def invoke(lam, name, event=None):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    return body


def error(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


PY_PROBE = """
import os, sys

def handler(event, context):
    out = {'path': sys.path[:4], 'env': {k: os.environ.get(k) for k in ('PATH', 'LD_LIBRARY_PATH', 'NIMBUS_LAMBDA_OPT_DIR', 'AWS_LAMBDA_INITIALIZATION_TYPE')}}
    for mod in event.get('imports', []):
        m = __import__(mod)
        out[mod] = m.VALUE
    if event.get('write'):
        try:
            with open(event['write'], 'w') as f:
                f.write('x')
            out['write'] = 'ok'
        except OSError as e:
            out['write'] = type(e).__name__ + ':' + str(e.errno)
    if event.get('listdir'):
        out['listdir'] = sorted(os.listdir(event['listdir']))
    return out
"""


# ---- the layer API ----


def test_publish_get_list_and_delete(server):
    lam = server.client("lambda")
    zip1 = make_zip({"python/one.py": "VALUE = 1\n"})
    v1 = lam.publish_layer_version(
        LayerName="shared", Description="first", Content={"ZipFile": zip1},
        CompatibleRuntimes=["python3.12", "python3.11"], CompatibleArchitectures=["x86_64"], LicenseInfo="MIT",
    )
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == 1
    assert v1["LayerArn"] == "arn:aws:lambda:us-east-1:000000000000:layer:shared"
    assert v1["LayerVersionArn"] == "arn:aws:lambda:us-east-1:000000000000:layer:shared:1"
    assert v1["Description"] == "first" and v1["LicenseInfo"] == "MIT"
    assert v1["CompatibleRuntimes"] == ["python3.12", "python3.11"]
    assert v1["CompatibleArchitectures"] == ["x86_64"]
    assert v1["Content"]["CodeSize"] == len(zip1)
    assert v1["CreatedDate"].endswith("+0000")
    with urllib.request.urlopen(v1["Content"]["Location"]) as r:
        assert r.read() == zip1

    v2 = publish(lam, "shared", {"python/one.py": "VALUE = 2\n"}, CompatibleRuntimes=["nodejs20.x"], CompatibleArchitectures=["arm64"])
    assert v2["Version"] == 2
    publish(lam, "other", {"bin/tool": "#!/bin/sh\n"})

    got = lam.get_layer_version(LayerName="shared", VersionNumber=1)
    assert got["LayerVersionArn"] == v1["LayerVersionArn"]
    assert got["Content"]["CodeSha256"] == v1["Content"]["CodeSha256"]
    by_arn = lam.get_layer_version_by_arn(Arn=v2["LayerVersionArn"])
    assert by_arn["Version"] == 2 and by_arn["CompatibleRuntimes"] == ["nodejs20.x"]
    assert lam.get_layer_version(LayerName=v1["LayerArn"], VersionNumber=2)["Version"] == 2

    layers = {l["LayerName"]: l for l in lam.list_layers()["Layers"]}
    assert set(layers) == {"shared", "other"}
    assert layers["shared"]["LatestMatchingVersion"]["Version"] == 2
    assert layers["shared"]["LayerArn"] == v1["LayerArn"]
    py = lam.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in py] == [("shared", 1)]
    arm = lam.list_layers(CompatibleArchitecture="arm64")["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in arm] == [("shared", 2)]
    page = lam.list_layers(MaxItems=1)
    assert len(page["Layers"]) == 1 and "NextMarker" in page
    rest = lam.list_layers(Marker=page["NextMarker"])
    assert [l["LayerName"] for l in page["Layers"] + rest["Layers"]] == ["other", "shared"]

    versions = lam.list_layer_versions(LayerName="shared")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="shared", CompatibleRuntime="python3.11")["LayerVersions"]] == [1]
    p1 = lam.list_layer_versions(LayerName="shared", MaxItems=1)
    assert [v["Version"] for v in p1["LayerVersions"]] == [2]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="shared", Marker=p1["NextMarker"])["LayerVersions"]] == [1]
    assert lam.list_layer_versions(LayerName="nothing")["LayerVersions"] == []

    # Delete is idempotent; numbers are never reused.
    lam.delete_layer_version(LayerName="shared", VersionNumber=2)
    lam.delete_layer_version(LayerName="shared", VersionNumber=2)
    lam.delete_layer_version(LayerName="never-was", VersionNumber=7)
    code, msg, status = error(lam.get_layer_version, LayerName="shared", VersionNumber=2)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert msg == "The resource you requested does not exist."
    assert publish(lam, "shared", {"python/one.py": "VALUE = 3\n"})["Version"] == 3
    lam.delete_layer_version(LayerName="shared", VersionNumber=1)
    # No function uses it: its content is gone too.
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(v1["Content"]["Location"])
    assert gone.value.code == 404
    lam.delete_layer_version(LayerName="shared", VersionNumber=3)
    assert "shared" not in [l["LayerName"] for l in lam.list_layers()["Layers"]]
    assert publish(lam, "shared", {"python/one.py": "VALUE = 4\n"})["Version"] == 4


def test_publish_errors(server):
    lam = server.client("lambda")
    code, msg, status = error(lam.publish_layer_version, LayerName="bad", Content={"ZipFile": b"not a zip"})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert msg == "Could not unzip uploaded file. Please check your file, then try to upload again."
    code, _, _ = error(lam.publish_layer_version, LayerName="bad", Content={"ZipFile": make_zip({"a": "b"})},
                       CompatibleRuntimes=["python3.12"] * 16)
    assert code == "ValidationException"
    code, _, _ = error(lam.publish_layer_version, LayerName="bad", Content={"ZipFile": make_zip({"a": "b"})},
                       CompatibleRuntimes=["cobol"])
    assert code == "ValidationException"
    code, _, _ = error(lam.publish_layer_version, LayerName="bad", Content={"S3Bucket": "no-such-bucket", "S3Key": "k"})
    assert code in ("InvalidParameterValueException", "ResourceNotFoundException")
    code, _, status = error(lam.get_layer_version_by_arn, Arn="arn:aws:lambda:us-east-1:000000000000:layer:none:1")
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_publish_from_s3_and_with_the_cli(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="layers")
    body = make_zip({"python/froms3.py": "VALUE = 's3'\n"})
    s3.put_object(Bucket="layers", Key="l.zip", Body=body)
    lam = server.client("lambda")
    v = lam.publish_layer_version(LayerName="s3layer", Content={"S3Bucket": "layers", "S3Key": "l.zip"})
    assert v["Content"]["CodeSize"] == len(body)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "layer.zip")
        with open(path, "wb") as f:
            f.write(make_zip({"python/cli.py": "VALUE = 'cli'\n"}))
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        env.pop("AWS_PROFILE", None)
        # The venv's CLI (aws-cli v1, pinned with boto3).
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        r = subprocess.run([aws, "--endpoint-url", server.endpoint, "lambda", "publish-layer-version",
                            "--layer-name", "cli-layer", "--zip-file", f"fileb://{path}", "--compatible-runtimes", "python3.12"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["Version"] == 1 and out["CompatibleRuntimes"] == ["python3.12"]

    create(lam, "both", {"index.py": PY_PROBE}, [v["LayerVersionArn"], out["LayerVersionArn"]])
    got = invoke(lam, "both", {"imports": ["froms3", "cli"]})
    assert got["froms3"] == "s3" and got["cli"] == "cli"


def test_layer_permissions(server):
    lam = server.client("lambda")
    v = publish(lam, "perm", {"python/p.py": "VALUE = 1\n"})
    code, msg, status = error(lam.get_layer_version_policy, LayerName="perm", VersionNumber=1)
    assert (code, status, msg) == ("ResourceNotFoundException", 404, "No policy is associated with the given resource.")

    r = lam.add_layer_version_permission(LayerName="perm", VersionNumber=1, StatementId="one-account",
                                         Action="lambda:GetLayerVersion", Principal="111122223333")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(r["Statement"]) == {
        "Sid": "one-account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "lambda:GetLayerVersion", "Resource": v["LayerVersionArn"],
    }
    rev = r["RevisionId"]
    r2 = lam.add_layer_version_permission(LayerName="perm", VersionNumber=1, StatementId="org", RevisionId=rev,
                                          Action="lambda:GetLayerVersion", Principal="*", OrganizationId="o-abcdefghij")
    assert json.loads(r2["Statement"])["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    assert json.loads(r2["Statement"])["Principal"] == "*"

    pol = lam.get_layer_version_policy(LayerName="perm", VersionNumber=1)
    assert pol["RevisionId"] == r2["RevisionId"]
    doc = json.loads(pol["Policy"])
    assert doc["Version"] == "2012-10-17" and [s["Sid"] for s in doc["Statement"]] == ["one-account", "org"]

    code, msg, status = error(lam.add_layer_version_permission, LayerName="perm", VersionNumber=1, StatementId="org",
                              Action="lambda:GetLayerVersion", Principal="*")
    assert (code, status) == ("ResourceConflictException", 409)
    assert msg == "The statement id (org) provided already exists. Please provide a new statement id, or remove the existing statement."
    code, msg, status = error(lam.add_layer_version_permission, LayerName="perm", VersionNumber=1, StatementId="x",
                              Action="lambda:GetLayerVersion", Principal="*", RevisionId=rev)
    assert (code, status) == ("PreconditionFailedException", 412)
    assert msg == ("The Revision Id provided does not match the latest Revision Id. "
                   "Call the GetLayerPolicy API to retrieve the latest Revision Id")
    code, _, _ = error(lam.add_layer_version_permission, LayerName="perm", VersionNumber=1, StatementId="x",
                       Action="lambda:InvokeFunction", Principal="*")
    assert code == "ValidationException"
    code, _, _ = error(lam.add_layer_version_permission, LayerName="perm", VersionNumber=1, StatementId="x",
                       Action="lambda:GetLayerVersion", Principal="somebody")
    assert code == "ValidationException"
    code, msg, status = error(lam.add_layer_version_permission, LayerName="perm", VersionNumber=9, StatementId="x",
                              Action="lambda:GetLayerVersion", Principal="*")
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert msg == "Layer version arn:aws:lambda:us-east-1:000000000000:layer:perm:9 does not exist."
    code, msg, status = error(lam.get_layer_version, LayerName="perm", VersionNumber=0)
    assert (code, status, msg) == ("InvalidParameterValueException", 400, "Layer Version Cannot be less than 1")

    lam.remove_layer_version_permission(LayerName="perm", VersionNumber=1, StatementId="org")
    code, msg, status = error(lam.remove_layer_version_permission, LayerName="perm", VersionNumber=1, StatementId="org")
    assert (code, status, msg) == ("ResourceNotFoundException", 404, "Statement org is not found in resource policy.")
    doc = json.loads(lam.get_layer_version_policy(LayerName="perm", VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["one-account"]


def test_other_accounts_need_a_permission(server):
    owner = server.client("lambda", key="111111111111")
    user = server.client("lambda", key="222222222222")
    v = publish(owner, "shared", {"python/shared_mod.py": "VALUE = 'from another account'\n"})
    arn = v["LayerVersionArn"]
    assert ":111111111111:layer:shared:1" in arn

    code, msg, status = error(user.get_layer_version_by_arn, Arn=arn)
    assert (code, status) == ("AccessDeniedException", 403)
    assert "lambda:GetLayerVersion" in msg and arn in msg
    role = "arn:aws:iam::222222222222:role/r"
    code, msg, status = error(user.create_function, FunctionName="f", Runtime="python3.12", Role=role,
                              Handler="index.handler", Code={"ZipFile": make_zip({"index.py": PY_PROBE})}, Layers=[arn])
    assert (code, status) == ("AccessDeniedException", 403)
    # A statement for an organization does not open it (Nimbus has no Organizations).
    owner.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="org",
                                       Action="lambda:GetLayerVersion", Principal="*", OrganizationId="o-abcdefghij")
    assert error(user.get_layer_version_by_arn, Arn=arn)[0] == "AccessDeniedException"
    code, _, _ = error(user.publish_layer_version, LayerName="arn:aws:lambda:us-east-1:111111111111:layer:shared",
                       Content={"ZipFile": make_zip({"a": "b"})})
    assert code == "AccessDeniedException"

    owner.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="user",
                                       Action="lambda:GetLayerVersion", Principal="222222222222")
    assert user.get_layer_version_by_arn(Arn=arn)["Version"] == 1
    assert user.get_layer_version(LayerName="arn:aws:lambda:us-east-1:111111111111:layer:shared", VersionNumber=1)["Version"] == 1
    user.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="index.handler",
                         Code={"ZipFile": make_zip({"index.py": PY_PROBE})}, Layers=[arn])
    assert invoke(user, "f", {"imports": ["shared_mod"]})["shared_mod"] == "from another account"
    # Only the owner sees it in its lists.
    assert [l["LayerName"] for l in user.list_layers()["Layers"]] == []
    assert [l["LayerName"] for l in owner.list_layers()["Layers"]] == ["shared"]


# ---- functions with layers ----


def test_function_layer_checks(server):
    lam = server.client("lambda")
    arns = [publish(lam, f"l{i}", {f"python/m{i}.py": f"VALUE = {i}\n"})["LayerVersionArn"] for i in range(6)]
    files = {"index.py": PY_PROBE}

    code, msg, status = error(create, lam=lam, name="six", files=files, layers=arns)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert msg == "Cannot reference more than 5 layers."
    missing = "arn:aws:lambda:us-east-1:000000000000:layer:l0:9"
    code, msg, _ = error(create, lam=lam, name="missing", files=files, layers=[missing])
    assert (code, msg) == ("InvalidParameterValueException", f"Layer version {missing} does not exist.")
    v2 = publish(lam, "l0", {"python/m0.py": "VALUE = 'two'\n"})["LayerVersionArn"]
    code, msg, _ = error(create, lam=lam, name="twice", files=files, layers=[arns[0], v2])
    assert code == "InvalidParameterValueException"
    assert msg == (f"Two different versions of the same layer are not allowed to be referenced in the same function. "
                   f"{arns[0]} and {v2} are versions of the same layer.")
    code, _, _ = error(create, lam=lam, name="badarn", files=files, layers=["arn:aws:lambda:us-east-1:000000000000:layer:l0"])
    assert code == "ValidationException"
    other_region = "arn:aws:lambda:eu-west-1:000000000000:layer:l0:1"
    code, msg, _ = error(create, lam=lam, name="region", files=files, layers=[other_region])
    assert (code, msg) == ("InvalidParameterValueException",
                           "Layers are not in the same region as the function. Layers are expected to be in region us-east-1.")

    ext = publish(lam, "ext", {"extensions/my-ext": "#!/bin/sh\n"}, modes={"extensions/my-ext": 0o755})["LayerVersionArn"]
    code, msg, _ = error(create, lam=lam, name="ext", files=files, layers=[ext])
    assert code == "InvalidParameterValueException" and "extensions" in msg and ext in msg

    # 250 MB unzipped for the function and its layers together (zeros compress well).
    big = [publish(lam, f"big{i}", {f"data/{i}.bin": b"\0" * (130 * 1024 * 1024)})["LayerVersionArn"] for i in range(2)]
    code, msg, _ = error(create, lam=lam, name="big", files=files, layers=big)
    assert code == "InvalidParameterValueException"
    assert msg.startswith("Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is ")
    create(lam, "ok", files, big[:1])
    code, msg, _ = error(lam.update_function_configuration, FunctionName="ok", Layers=big)
    assert code == "InvalidParameterValueException" and msg.startswith("Function code combined with layers exceeds")
    code, _, _ = error(lam.update_function_code, FunctionName="ok",
                       ZipFile=make_zip({"index.py": PY_PROBE, "pad.bin": b"\0" * (130 * 1024 * 1024)}))
    assert code == "InvalidParameterValueException"

    conf = lam.get_function(FunctionName="ok")["Configuration"]
    assert conf["Layers"] == [{"Arn": big[0], "CodeSize": lam.get_layer_version_by_arn(Arn=big[0])["Content"]["CodeSize"]}]
    lam.update_function_configuration(FunctionName="ok", Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName="ok")


@pytest.mark.parametrize("snapshots", [True, False], ids=["snapshot", "normal"])
def test_python_imports_from_layers_and_opt_is_read_only(server, snapshots):
    lam = server.client("lambda")
    plain = publish(lam, "plain", {"python/plainmod.py": "VALUE = 'plain'\n"})["LayerVersionArn"]
    site = publish(lam, "site", {
        "python/lib/python3.12/site-packages/sitepkg/__init__.py": "VALUE = 'site-packages'\n",
        "bin/layer-tool": "#!/bin/sh\necho tool\n",
    }, modes={"bin/layer-tool": 0o755})["LayerVersionArn"]
    create(lam, "py", {"index.py": PY_PROBE}, [plain, site], snapshots=snapshots)
    got = invoke(lam, "py", {"imports": ["plainmod", "sitepkg"], "write": "/opt/python/new.py", "listdir": "/opt"})
    assert got["plainmod"] == "plain" and got["sitepkg"] == "site-packages"
    assert got["path"][:3] == ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python"]
    assert got["listdir"] == ["bin", "python"]
    assert got["env"]["PATH"].split(":")[-1] == "/opt/bin"
    assert got["env"]["LD_LIBRARY_PATH"].split(":")[-1] == "/opt/lib"
    assert got["env"]["NIMBUS_LAMBDA_OPT_DIR"] is None
    assert got["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == ("snap-start" if snapshots else "on-demand")
    assert got["write"].startswith("OSError:30") or got["write"].startswith("PermissionError:13") or got["write"].startswith("OSError:13"), got
    conf = lam.get_function_configuration(FunctionName="py")
    assert [l["Arn"] for l in conf["Layers"]] == [plain, site]


def test_later_layers_overwrite_earlier_files(server):
    lam = server.client("lambda")
    a = publish(lam, "a", {"python/conf.py": "VALUE = 'a'\n", "python/only_a.py": "VALUE = 'only a'\n"})["LayerVersionArn"]
    b = publish(lam, "b", {"python/conf.py": "VALUE = 'b'\n"})["LayerVersionArn"]
    opt_root = os.path.join(server.data_dir, "lambda", "opt")
    extracted = lambda: sorted(d for d in os.listdir(opt_root) if not d.startswith("."))
    create(lam, "order", {"index.py": PY_PROBE}, [a, b])
    got = invoke(lam, "order", {"imports": ["conf", "only_a"]})
    assert (got["conf"], got["only_a"]) == ("b", "only a")
    # The same layer list is extracted once and shared.
    create(lam, "same", {"index.py": PY_PROBE}, [a, b])
    assert invoke(lam, "same", {"imports": ["conf"]})["conf"] == "b"
    assert len(extracted()) == 1
    # Changing Layers retires the environments (and the template): the next start sees the new order.
    lam.update_function_configuration(FunctionName="order", Layers=[b, a])
    assert invoke(lam, "order", {"imports": ["conf"]})["conf"] == "a"
    assert len(extracted()) == 2
    lam.update_function_configuration(FunctionName="order", Layers=[b])
    got = invoke(lam, "order", {"listdir": "/opt/python"})
    assert got["listdir"] == ["conf.py"]
    # Directories no function uses any more are removed.
    assert len(extracted()) == 2
    lam.delete_function(FunctionName="same")
    assert len(extracted()) == 1
    lam.update_function_configuration(FunctionName="order", Layers=[])
    assert extracted() == []
    assert invoke(lam, "order", {"listdir": "/opt"})["listdir"] == []


def test_function_keeps_working_after_its_layer_version_is_deleted(server):
    lam = server.client("lambda")
    v = publish(lam, "gone", {"python/gonemod.py": "VALUE = 'still here'\n"})["LayerVersionArn"]
    create(lam, "keeps", {"index.py": PY_PROBE}, [v])
    assert invoke(lam, "keeps", {"imports": ["gonemod"]})["gonemod"] == "still here"
    lam.delete_layer_version(LayerName="gone", VersionNumber=1)
    # A new environment (the configuration changed) still gets the layer, even extracted
    # afresh: its content is kept while a function uses it.
    opt_root = os.path.join(server.data_dir, "lambda", "opt")
    assert os.listdir(opt_root)
    for d in os.listdir(opt_root):
        shutil.rmtree(os.path.join(opt_root, d))
    lam.update_function_configuration(FunctionName="keeps", Environment={"Variables": {"BUMP": "1"}})
    assert invoke(lam, "keeps", {"imports": ["gonemod"]})["gonemod"] == "still here"
    assert lam.get_function_configuration(FunctionName="keeps")["Layers"][0]["Arn"] == v
    # Naming the deleted version again is refused.
    code, msg, _ = error(lam.update_function_configuration, FunctionName="keeps", Layers=[v])
    assert (code, msg) == ("InvalidParameterValueException", f"Layer version {v} does not exist.")
    # The version itself is gone from the API, as on AWS.
    assert error(lam.get_layer_version_by_arn, Arn=v)[0] == "ResourceNotFoundException"


NODE_PROBE = """
const a = require('plain-node');
const b = require('versioned-node');
exports.handler = async () => ({ a: a.value, b: b.value, nodePath: process.env.NODE_PATH });
"""


def test_node_requires_modules_from_layers(server):
    if not any(os.access(os.path.join(d, "node"), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d):
        pytest.skip("no node on this host")
    lam = server.client("lambda")
    v = publish(lam, "node-libs", {
        "nodejs/node_modules/plain-node/index.js": "exports.value = 'node_modules';\n",
        "nodejs/node20/node_modules/versioned-node/index.js": "exports.value = 'node20';\n",
    })["LayerVersionArn"]
    create(lam, "node", {"index.js": NODE_PROBE}, [v], runtime="nodejs20.x")
    got = invoke(lam, "node")
    assert (got["a"], got["b"]) == ("node_modules", "node20")
    assert got["nodePath"].startswith("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:")


PROVIDED_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '\\r' | cut -d' ' -f2)
  rm -f "$HEADERS"
  OUT=$(layer-greeting)
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"greeting\\": \\"$OUT\\", \\"handler\\": \\"$_HANDLER\\"}" > /dev/null
done
"""


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided"])
def test_provided_bootstrap_from_a_layer(server, runtime):
    lam = server.client("lambda")
    v = publish(lam, "runtime-layer", {
        "bootstrap": PROVIDED_BOOTSTRAP,
        "bin/layer-greeting": "#!/bin/sh\necho hello-from-opt-bin\n",
    }, modes={"bootstrap": 0o755, "bin/layer-greeting": 0o755})["LayerVersionArn"]
    create(lam, "custom", {"handler.txt": "no bootstrap here"}, [v], runtime=runtime, handler="my.handler")
    assert invoke(lam, "custom") == {"greeting": "hello-from-opt-bin", "handler": "my.handler"}


def test_provided_without_any_bootstrap_fails_as_aws(server):
    lam = server.client("lambda")
    v = publish(lam, "no-runtime", {"bin/x": "x"})["LayerVersionArn"]
    create(lam, "nobootstrap", {"handler.txt": "x"}, [v], runtime="provided.al2023", handler="x")
    r = lam.invoke(FunctionName="nobootstrap", Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"


def test_isolation_off_points_the_search_paths_at_the_extracted_layers(server_factory):
    srv = server_factory("--isolation", "off")
    lam = srv.client("lambda")
    v = publish(lam, "offlayer", {
        "python/offmod.py": "VALUE = 'off'\n",
        "python/lib/python3.12/site-packages/offsite/__init__.py": "VALUE = 'off-site'\n",
    })["LayerVersionArn"]
    create(lam, "off", {"index.py": PY_PROBE}, [v])
    got = invoke(lam, "off", {"imports": ["offmod", "offsite"]})
    assert (got["offmod"], got["offsite"]) == ("off", "off-site")
    opt = got["env"]["NIMBUS_LAMBDA_OPT_DIR"]
    assert opt and opt.startswith(srv.data_dir) and opt != "/opt"
    assert got["path"][1:3] == [f"{opt}/python/lib/python3.12/site-packages", f"{opt}/python"]
    assert got["env"]["PATH"].endswith(f":{opt}/bin")
    # Without layers the host's own /opt is never searched.
    create(lam, "nolayers", {"index.py": PY_PROBE}, [])
    got = invoke(lam, "nolayers")
    assert got["env"]["NIMBUS_LAMBDA_OPT_DIR"] == ""
    assert not any(p.startswith("/opt") for p in got["path"]) and "/opt" not in got["env"]["PATH"]
