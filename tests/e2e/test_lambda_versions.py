"""Lambda versions, aliases and provisioned concurrency against the real binary (boto3)."""

import base64
import re
import json
import time

import pytest
from botocore.exceptions import ClientError

from test_lambda import ROLE, create, invoke, make_zip

CODE = """
import json, os

MARK = %r

def handler(event, context):
    if event.get('fail'):
        raise ValueError('asked to fail')
    if event.get('exit'):
        os._exit(1)
    if event.get('sleep'):
        import time
        time.sleep(event['sleep'])
    return {
        'mark': MARK,
        'version': os.environ.get('AWS_LAMBDA_FUNCTION_VERSION'),
        'context_version': context.function_version,
        'arn': context.invoked_function_arn,
        'init': os.environ.get('AWS_LAMBDA_INITIALIZATION_TYPE'),
        'stream': os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME'),
        'pid': os.getpid(),
    }
"""

BROKEN_INIT = """
raise RuntimeError('init is broken')

def handler(event, context):
    return 'never'
"""


def code(mark):
    return {"index.py": CODE % mark}


def err(exc):
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def arn(name, q=None):
    a = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    return f"{a}:{q}" if q else a


def update_code(lam, name, mark, **kw):
    return lam.update_function_code(FunctionName=name, ZipFile=make_zip(code(mark)), **kw)


def log_of(resp):
    return base64.b64decode(resp["LogResult"]).decode()


def test_publish_list_and_invoke_versions(server):
    lam = server.client("lambda")
    created = create(lam, "ver", code("A"), Description="first")
    v1 = lam.publish_version(FunctionName="ver")
    assert v1["Version"] == "1" and v1["FunctionArn"] == arn("ver", "1")
    assert v1["CodeSha256"] == created["CodeSha256"] and v1["Description"] == "first"
    # Nothing changed: the latest version again, not a new one.
    again = lam.publish_version(FunctionName="ver")
    assert again["Version"] == "1" and again["RevisionId"] == v1["RevisionId"]

    updated = update_code(lam, "ver", "B")
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="ver", CodeSha256=created["CodeSha256"])
    assert err(e) == (
        "InvalidParameterValueException",
        f"CodeSHA256 ({created['CodeSha256']}) is different from current CodeSHA256 in $LATEST ({updated['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.",
        400,
    )
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="ver", RevisionId="not-the-revision")
    assert err(e)[0] == "PreconditionFailedException" and err(e)[2] == 412
    v2 = lam.publish_version(FunctionName="ver", CodeSha256=updated["CodeSha256"], RevisionId=updated["RevisionId"], Description="second")
    assert v2["Version"] == "2" and v2["Description"] == "second"

    listed = lam.list_versions_by_function(FunctionName="ver")["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert listed[0]["FunctionArn"] == arn("ver", "$LATEST")
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_versions_by_function(FunctionName="ver", MaxItems=1, **kw)
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2"]

    # Each version runs its own code and knows its version; $LATEST moved on.
    r, out = invoke(lam, "ver", {}, Qualifier="1", LogType="Tail")
    assert r["ExecutedVersion"] == "1"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "1"
    assert out["mark"] == "A" and out["version"] == "1" and out["context_version"] == "1"
    assert out["arn"] == arn("ver", "1")
    assert "/[1]" in out["stream"] and out["init"] in ("on-demand", "snap-start")
    assert " Version: 1\n" in log_of(r)
    r, out = invoke(lam, "ver:2", {})
    assert r["ExecutedVersion"] == "2" and out["mark"] == "B"
    r, out = invoke(lam, arn("ver"), {})
    assert r["ExecutedVersion"] == "$LATEST" and out["mark"] == "B" and out["version"] == "$LATEST"
    update_code(lam, "ver", "C")
    assert invoke(lam, "ver", {}, Qualifier="1")[1]["mark"] == "A"
    assert invoke(lam, "ver", {})[1]["mark"] == "C"

    cfg = lam.get_function_configuration(FunctionName="ver", Qualifier="1")
    assert cfg["Version"] == "1" and cfg["CodeSha256"] == created["CodeSha256"]
    got = lam.get_function(FunctionName=arn("ver", "2"))
    assert got["Configuration"]["Version"] == "2" and got["Configuration"]["CodeSha256"] == updated["CodeSha256"]

    with pytest.raises(ClientError) as e:
        invoke(lam, "ver", {}, Qualifier="9")
    assert err(e) == ("ResourceNotFoundException", f"Function not found: {arn('ver', '9')}", 404)
    # Versions are immutable.
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="ver:1", Timeout=9)
    assert err(e)[0] == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName="ver:1")["Timeout"] == 3

    everything = lam.list_functions(FunctionVersion="ALL")["Functions"]
    assert sorted(f["FunctionArn"] for f in everything) == sorted([arn("ver", "$LATEST"), arn("ver", "1"), arn("ver", "2")])
    assert [f["FunctionArn"] for f in lam.list_functions()["Functions"]] == [arn("ver")]
    with pytest.raises(ClientError) as e:
        lam.list_functions(FunctionVersion="SOME")
    assert err(e)[0] == "ValidationException"

    # Reserved concurrency covers every version of the function.
    lam.put_function_concurrency(FunctionName="ver", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        invoke(lam, "ver:1", {})
    assert err(e)[0] == "TooManyRequestsException"
    assert lam.get_function(FunctionName="ver", Qualifier="1")["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    lam.delete_function_concurrency(FunctionName="ver")
    page = lam.list_functions(FunctionVersion="ALL", MaxItems=2)
    assert len(page["Functions"]) == 2 and page["NextMarker"]
    rest = lam.list_functions(FunctionVersion="ALL", MaxItems=2, Marker=page["NextMarker"])
    assert [f["Version"] for f in page["Functions"] + rest["Functions"]] == ["$LATEST", "1", "2"] and "NextMarker" not in rest

    # Publish on update and on create.
    out = update_code(lam, "ver", "D", Publish=True)
    assert out["Version"] == "3"
    made = create(lam, "ver-pub", code("P"), Publish=True)
    assert made["Version"] == "1"
    assert invoke(lam, "ver-pub:1", {})[1]["mark"] == "P"


def test_version_logs_go_to_their_own_stream(server):
    lam = server.client("lambda")
    logs = server.client("logs")
    create(lam, "ver-logs", code("A"))
    lam.publish_version(FunctionName="ver-logs")
    invoke(lam, "ver-logs", {}, Qualifier="1")

    def streams():
        return [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/aws/lambda/ver-logs").get("logStreams", [])]

    deadline = time.time() + 10
    while time.time() < deadline and not any("[1]" in s for s in streams()):
        time.sleep(0.1)
    names = streams()
    assert any("[1]" in s for s in names), names
    stream = next(s for s in names if "[1]" in s)
    events = logs.get_log_events(logGroupName="/aws/lambda/ver-logs", logStreamName=stream)["events"]
    assert any(e["message"].startswith("START RequestId:") and e["message"].endswith("Version: 1") for e in events)


def test_aliases_and_weighted_routing(server):
    lam = server.client("lambda")
    create(lam, "al", code("one"))
    lam.publish_version(FunctionName="al")
    update_code(lam, "al", "two")
    lam.publish_version(FunctionName="al")

    live = lam.create_alias(FunctionName="al", Name="live", FunctionVersion="1", Description="prod")
    assert live["AliasArn"] == arn("al", "live") and live["FunctionVersion"] == "1" and live["Description"] == "prod"
    assert "RoutingConfig" not in live
    assert lam.get_alias(FunctionName="al", Name="live")["RevisionId"] == live["RevisionId"]
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName="al", Name="live", FunctionVersion="2")
    assert err(e) == ("ResourceConflictException", f"Alias already exists: {arn('al', 'live')}", 409)
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName="al", Name="12", FunctionVersion="2")
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName="al", Name="nope", FunctionVersion="7")
    assert err(e) == ("ResourceNotFoundException", f"Function not found: {arn('al', '7')}", 404)
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName="al", Name="missing")
    assert err(e) == ("ResourceNotFoundException", f"Cannot find alias arn: {arn('al', 'missing')}", 404)
    lam.create_alias(FunctionName="al", Name="edge", FunctionVersion="$LATEST")
    lam.create_alias(FunctionName="al", Name="beta", FunctionVersion="2")

    assert [a["Name"] for a in lam.list_aliases(FunctionName="al")["Aliases"]] == ["beta", "edge", "live"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName="al", FunctionVersion="1")["Aliases"]] == ["live"]
    page = lam.list_aliases(FunctionName="al", MaxItems=2)
    assert len(page["Aliases"]) == 2 and page["NextMarker"]
    rest = lam.list_aliases(FunctionName="al", MaxItems=2, Marker=page["NextMarker"])
    assert [a["Name"] for a in rest["Aliases"]] == ["live"] and "NextMarker" not in rest

    r, out = invoke(lam, "al", {}, Qualifier="live")
    assert r["ExecutedVersion"] == "1" and out["mark"] == "one" and out["arn"] == arn("al", "live")
    r, out = invoke(lam, arn("al", "edge"), {})
    assert r["ExecutedVersion"] == "$LATEST" and out["mark"] == "two"
    cfg = lam.get_function_configuration(FunctionName="al", Qualifier="live")
    assert cfg["Version"] == "1"

    # Weighted routing: half of the invocations run version 2.
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName="al", Name="live", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert err(e)[1] == "Invalid function version 1. Function version 1 is already included in routing configuration."
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName="al", Name="live", RevisionId="stale", Description="x")
    assert err(e)[0] == "PreconditionFailedException"
    routed = lam.update_alias(FunctionName="al", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert routed["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    assert routed["RevisionId"] != live["RevisionId"]
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName="al", Name="edge", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert err(e)[1] == "$LATEST is not supported for an alias pointing to more than 1 version"
    executed = {}
    for _ in range(60):
        r, out = invoke(lam, "al:live", {})
        executed[r["ExecutedVersion"]] = out["mark"]
        if len(executed) == 2:
            break
    assert executed == {"1": "one", "2": "two"}

    # A version an alias uses (directly or by weight) cannot be deleted.
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName="al", Qualifier="2")
    assert err(e) == ("ResourceConflictException", "Unable to delete version because the following aliases reference it: [beta, live]", 409)
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName="al", Qualifier="$LATEST")
    assert err(e)[0] == "InvalidParameterValueException"
    lam.delete_alias(FunctionName="al", Name="beta")
    lam.update_alias(FunctionName="al", Name="live", RoutingConfig={})
    assert "RoutingConfig" not in lam.get_alias(FunctionName="al", Name="live")
    lam.delete_function(FunctionName="al:2")
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="al", Qualifier="2")
    assert err(e)[0] == "ResourceNotFoundException"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="al")["Versions"]] == ["$LATEST", "1"]
    # Numbers are never reused.
    update_code(lam, "al", "three")
    assert lam.publish_version(FunctionName="al")["Version"] == "3"

    # Tags belong to the function, not to its aliases or versions.
    with pytest.raises(ClientError) as e:
        lam.tag_resource(Resource=arn("al", "live"), Tags={"a": "b"})
    assert err(e) == ("InvalidParameterValueException", "Tags on function aliases and versions are not supported. Please specify a function ARN.", 400)
    lam.tag_resource(Resource=arn("al"), Tags={"a": "b"})
    assert lam.list_tags(Resource=arn("al"))["Tags"] == {"a": "b"}


def test_permissions_per_qualifier(server):
    lam = server.client("lambda")
    create(lam, "perm", code("A"))
    lam.publish_version(FunctionName="perm")
    lam.create_alias(FunctionName="perm", Name="live", FunctionVersion="1")

    st = json.loads(lam.add_permission(FunctionName="perm", Qualifier="1", StatementId="v1", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")["Statement"])
    assert st["Resource"] == arn("perm", "1")
    st = json.loads(lam.add_permission(FunctionName="perm:live", StatementId="al", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")["Statement"])
    assert st["Resource"] == arn("perm", "live")

    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="perm")
    assert err(e)[0] == "ResourceNotFoundException"
    v1 = json.loads(lam.get_policy(FunctionName="perm", Qualifier="1")["Policy"])
    assert [s["Sid"] for s in v1["Statement"]] == ["v1"]
    live = lam.get_policy(FunctionName=arn("perm", "live"))
    assert [s["Sid"] for s in json.loads(live["Policy"])["Statement"]] == ["al"]
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="perm", Qualifier="live", StatementId="al", RevisionId="stale")
    assert err(e)[0] == "PreconditionFailedException"
    lam.remove_permission(FunctionName="perm", Qualifier="live", StatementId="al", RevisionId=live["RevisionId"])
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="perm", Qualifier="live")
    assert err(e)[0] == "ResourceNotFoundException"
    # The version's own policy is untouched.
    assert lam.get_policy(FunctionName="perm:1")["Policy"]


def test_delete_function_deletes_every_version(server):
    lam = server.client("lambda")
    create(lam, "gone", code("A"))
    lam.publish_version(FunctionName="gone")
    lam.create_alias(FunctionName="gone", Name="live", FunctionVersion="1")
    assert invoke(lam, "gone:live", {})[1]["mark"] == "A"
    lam.delete_function(FunctionName="gone")
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="gone", Qualifier="1")
    assert err(e)[0] == "ResourceNotFoundException"
    create(lam, "gone", code("B"))
    assert lam.list_aliases(FunctionName="gone")["Aliases"] == []
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="gone")["Versions"]] == ["$LATEST"]
    assert lam.publish_version(FunctionName="gone")["Version"] == "1"
    assert invoke(lam, "gone:1", {})[1]["mark"] == "B"


def test_versions_survive_a_restart(server_factory):
    s = server_factory()
    lam = s.client("lambda")
    create(lam, "durable", code("A"))
    lam.publish_version(FunctionName="durable")
    update_code(lam, "durable", "B")
    lam.create_alias(FunctionName="durable", Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName="durable", Qualifier="live", ProvisionedConcurrentExecutions=1)
    s.kill9()
    s2 = server_factory(data_dir=s.data_dir)
    lam = s2.client("lambda")
    # The configuration is kept and its environments are started again.
    wait_status(lam, "durable", "live", "READY")
    r, out = invoke(lam, "durable:live", {})
    assert out["mark"] == "A" and out["init"] == "provisioned-concurrency"
    assert invoke(lam, "durable", {})[1]["mark"] == "B"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="durable")["Versions"]] == ["$LATEST", "1"]


def wait_status(lam, name, qualifier, want, timeout=60):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if got["Status"] == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"provisioned concurrency of {name}:{qualifier} is {got}")


def test_provisioned_concurrency_lifecycle(server):
    lam = server.client("lambda")
    create(lam, "pc", code("A"))
    lam.publish_version(FunctionName="pc")
    lam.create_alias(FunctionName="pc", Name="latest", FunctionVersion="$LATEST")

    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert err(e) == ("InvalidParameterValueException", "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", 400)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="latest", ProvisionedConcurrentExecutions=1)
    assert err(e)[1] == "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="5", ProvisionedConcurrentExecutions=1)
    assert err(e) == ("ResourceNotFoundException", f"Function not found: {arn('pc', '5')}", 404)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
    assert err(e) == ("ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function", 404)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=901)
    assert err(e) == (
        "InvalidParameterValueException",
        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
        400,
    )

    put = lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2 and put["Status"] == "IN_PROGRESS"
    ready = wait_status(lam, "pc", "1", "READY")
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2 and ready["AvailableProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"]
    assert [(c["FunctionArn"], c["Status"]) for c in listed] == [(arn("pc", "1"), "READY")]
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 998

    # Invocations run on the provisioned environments: initialised ahead, no Init Duration.
    pids = set()
    for _ in range(4):
        r, out = invoke(lam, "pc", {}, Qualifier="1", LogType="Tail")
        assert out["init"] == "provisioned-concurrency" and out["mark"] == "A"
        assert "Init Duration" not in log_of(r)
        pids.add(out["pid"])
    assert len(pids) <= 2
    # $LATEST is on demand.
    r, out = invoke(lam, "pc", {})
    assert out["init"] in ("on-demand", "snap-start")

    # Through an alias of a provisioned version: refused (the version has its own).
    lam.create_alias(FunctionName="pc", Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert err(e) == ("ResourceConflictException", "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version", 409)

    lam.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
    assert err(e)[0] == "ProvisionedConcurrencyConfigNotFoundException"
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000

    # On an alias: its version's environments, reported under the alias.
    lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_status(lam, "pc", "live", "READY")
    r, out = invoke(lam, "pc:live", {}, LogType="Tail")
    assert out["init"] == "provisioned-concurrency" and r["ExecutedVersion"] == "1"
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert err(e) == ("ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias", 409)

    # Reserved concurrency bounds the function's provisioned concurrency.
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName="pc", ReservedConcurrentExecutions=0)
    assert err(e)[0] == "InvalidParameterValueException"
    lam.put_function_concurrency(FunctionName="pc", ReservedConcurrentExecutions=1)
    # With reserved concurrency the function's provisioned concurrency is inside it.
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 999
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=2)
    assert err(e) == ("InvalidParameterValueException", "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function", 400)
    lam.delete_alias(FunctionName="pc", Name="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_environments_are_replaced_when_they_die(server):
    lam = server.client("lambda")
    create(lam, "pc-die", code("A"))
    lam.publish_version(FunctionName="pc-die")
    lam.put_provisioned_concurrency_config(FunctionName="pc-die", Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_status(lam, "pc-die", "1", "READY")
    first = invoke(lam, "pc-die:1", {})[1]["stream"]
    r, _ = invoke(lam, "pc-die:1", {"exit": True})
    assert r["FunctionError"] == "Unhandled"
    # The keeper starts a replacement, initialised ahead again.
    deadline = time.time() + 30
    while time.time() < deadline:
        got = lam.get_provisioned_concurrency_config(FunctionName="pc-die", Qualifier="1")
        if got["Status"] == "READY":
            r, out = invoke(lam, "pc-die:1", {}, LogType="Tail")
            if out["stream"] != first:
                assert out["init"] == "provisioned-concurrency" and "Init Duration" not in log_of(r)
                break
        time.sleep(0.1)
    else:
        raise AssertionError("no replacement provisioned environment")


def test_provisioned_concurrency_init_failure(server):
    lam = server.client("lambda")
    create(lam, "pc-bad", {"index.py": BROKEN_INIT})
    lam.publish_version(FunctionName="pc-bad")
    lam.put_provisioned_concurrency_config(FunctionName="pc-bad", Qualifier="1", ProvisionedConcurrentExecutions=1)
    failed = wait_status(lam, "pc-bad", "1", "FAILED")
    # AWS's StatusReason is the bare reason code (CloudFormation quotes it as
    # "Provisioned Concurrency configuration failed to be applied. Reason: FUNCTION_ERROR_INIT_FAILURE").
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0


def test_snapstart_versions_report_restore_and_hook_failures(server):
    lam = server.client("lambda")
    create(lam, "snapver", code("A"), SnapStart={"ApplyOn": "PublishedVersions"})
    v = lam.publish_version(FunctionName="snapver")
    assert v["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    r, out = invoke(lam, "snapver:1", {}, LogType="Tail")
    assert out["init"] == "snap-start"
    report = [l for l in log_of(r).splitlines() if l.startswith("REPORT")][0]
    assert "Init Duration" not in report
    assert re.search(r"\tRestore Duration: [0-9.]+ ms\tBilled Restore Duration: [0-9]+ ms\t$", report), report
    # A warm environment reports neither.
    r, out = invoke(lam, "snapver:1", {}, LogType="Tail")
    assert "Restore Duration" not in log_of(r) and "Init Duration" not in log_of(r)

    create(lam, "snapbad", {"index.py": (
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def boom():\n"
        "    raise RuntimeError('cannot reconnect')\n"
        "def handler(event, context):\n"
        "    return 'unreachable'\n")}, SnapStart={"ApplyOn": "PublishedVersions"})
    lam.publish_version(FunctionName="snapbad")
    with pytest.raises(ClientError) as e:
        invoke(lam, "snapbad", {}, Qualifier="1")
    code_, message, status = err(e)
    assert (code_, status) == ("SnapStartException", 400) and "cannot reconnect" in message
    # $LATEST keeps Nimbus' behaviour: the hook's error is the function's error.
    r, out = invoke(lam, "snapbad", {})
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.AfterRestoreError"


def test_api_gateway_integration_through_an_alias(server):
    import requests

    lam = server.client("lambda")
    create(lam, "gw", code("one"))
    lam.publish_version(FunctionName="gw")
    update_code(lam, "gw", "two")
    lam.create_alias(FunctionName="gw", Name="live", FunctionVersion="1")
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="alias")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="mark")
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn('gw', 'live')}/invocations"
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", type="AWS", integrationHttpMethod="POST", uri=uri)
    apigw.put_method_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode="200")
    apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode="200")
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    target = f"{server.endpoint}/restapis/{api['id']}/prod/_user_request_/mark"

    # A permission on the unqualified function does not cover the alias (as AWS).
    lam.add_permission(FunctionName="gw", StatementId="fn", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    assert requests.get(target).status_code == 500
    lam.add_permission(FunctionName="gw", Qualifier="live", StatementId="alias", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    r = requests.get(target)
    assert r.status_code == 200 and r.json()["mark"] == "one" and r.json()["version"] == "1"


def test_old_versions_keep_their_code(server):
    import urllib.request

    lam = server.client("lambda")
    create(lam, "blob", code("A"))
    v1 = lam.publish_version(FunctionName="blob")
    update_code(lam, "blob", "B")
    update_code(lam, "blob", "C")
    loc = lam.get_function(FunctionName="blob", Qualifier="1")["Code"]["Location"]
    data = urllib.request.urlopen(loc).read()
    import hashlib

    assert base64.b64encode(hashlib.sha256(data).digest()).decode() == v1["CodeSha256"]
    lam.delete_function(FunctionName="blob", Qualifier="1")
    with pytest.raises(Exception):
        urllib.request.urlopen(loc).read()


S3_WRITER = """
import boto3, json, os

def handler(event, context):
    key = event['Records'][0]['s3']['object']['key']
    boto3.client('s3').put_object(Bucket='notes', Key='seen/' + key, Body=json.dumps({'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'mark': %r}))
"""


def test_s3_notifications_to_an_alias(server):
    lam = server.client("lambda")
    s3 = server.client("s3")
    create(lam, "s3alias", {"index.py": S3_WRITER % "one"}, Timeout=30)
    lam.publish_version(FunctionName="s3alias")
    lam.update_function_code(FunctionName="s3alias", ZipFile=make_zip({"index.py": S3_WRITER % "two"}))
    lam.create_alias(FunctionName="s3alias", Name="live", FunctionVersion="1")
    s3.create_bucket(Bucket="notes")
    s3.put_bucket_notification_configuration(Bucket="notes", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn("s3alias", "live"), "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}]}}}],
    })
    s3.put_object(Bucket="notes", Key="in/a.txt", Body=b"x")
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            got = json.loads(s3.get_object(Bucket="notes", Key="seen/in/a.txt")["Body"].read())
            break
        except ClientError:
            time.sleep(0.1)
    else:
        raise AssertionError("the alias was not invoked")
    assert got == {"version": "1", "mark": "one"}
    with pytest.raises(ClientError):
        s3.put_bucket_notification_configuration(Bucket="notes", NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn("s3alias", "nope"), "Events": ["s3:ObjectCreated:*"]}],
        })


def test_provisioned_overflow_and_alias_moves(server):
    import threading

    lam = server.client("lambda")
    create(lam, "pc-move", code("one"), Timeout=30)
    lam.publish_version(FunctionName="pc-move")
    update_code(lam, "pc-move", "two")
    lam.publish_version(FunctionName="pc-move")
    lam.create_alias(FunctionName="pc-move", Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName="pc-move", Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_status(lam, "pc-move", "live", "READY")

    # Two at once: one runs on the provisioned environment, the other on demand.
    results = []

    def call():
        results.append(invoke(lam, "pc-move:live", {"sleep": 1.5})[1])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["init"] == "provisioned-concurrency" for r in results) == [False, True], results
    assert {r["mark"] for r in results} == {"one"}

    # The alias moves to version 2: its provisioned environments follow.
    lam.update_alias(FunctionName="pc-move", Name="live", FunctionVersion="2")
    deadline = time.time() + 60
    while time.time() < deadline:
        if lam.get_provisioned_concurrency_config(FunctionName="pc-move", Qualifier="live")["Status"] == "READY":
            r, out = invoke(lam, "pc-move:live", {})
            if out["init"] == "provisioned-concurrency":
                assert out["mark"] == "two" and r["ExecutedVersion"] == "2"
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the provisioned environments did not follow the alias")
