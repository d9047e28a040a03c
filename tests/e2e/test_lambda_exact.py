"""AWS's exact answers for Lambda versions, aliases, concurrency, policies and layers.

Every expected text, status and field below was recorded from the real service: the
source is localstack's `tests/aws/services/lambda_/test_lambda_api.snapshot.json`
(responses recorded against AWS; the snapshot key is named next to each check) unless
another source is named.
"""

import json

import pytest
from botocore.exceptions import ClientError

from test_lambda import ROLE, create, make_zip

CODE = {"index.py": "def handler(event, context):\n    return 'ok'\n"}


def err(exc):
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def arn(name, q=None):
    a = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    return f"{a}:{q}" if q else a


def fails(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return err(e)


MISMATCH = ("InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", 400)


@pytest.fixture
def lam(server):
    client = server.client("lambda")
    create(client, "fx", CODE)
    v1 = client.publish_version(FunctionName="fx")
    client.create_alias(FunctionName="fx", Name="live", FunctionVersion="1")
    client.v1 = v1
    return client


def test_published_version_fields(lam):
    # publish_v1 (test_alias_lifecycle): 201, qualified ARN, Version, State and LastUpdateStatus.
    v = lam.v1
    assert v["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v["FunctionArn"] == arn("fx", "1") and v["Version"] == "1"
    assert v["State"] == "Active" and v["LastUpdateStatus"] == "Successful"
    assert v["SnapStart"]["ApplyOn"] == "None"
    # repeated_publish_response: publishing an unchanged function answers the same version.
    again = lam.publish_version(FunctionName="fx")
    assert again["Version"] == "1" and again["RevisionId"] == v["RevisionId"]


def test_get_function_qualified_arns_and_revisions(lam):
    # get_function_latest_result: Qualifier=$LATEST shows the ARN qualified with :$LATEST.
    for call in (lam.get_function_configuration, lambda **kw: lam.get_function(**kw)["Configuration"]):
        latest = call(FunctionName="fx", Qualifier="$LATEST")
        assert latest["FunctionArn"] == arn("fx", "$LATEST") and latest["Version"] == "$LATEST"
        assert call(FunctionName="fx:$LATEST")["FunctionArn"] == arn("fx", "$LATEST")
        # get_function_result: unqualified, the unqualified ARN.
        assert call(FunctionName="fx")["FunctionArn"] == arn("fx")
    # get_function_alias_1_1: through an alias, the alias's ARN, the version and the
    # version's RevisionId (not the alias's).
    alias = lam.get_alias(FunctionName="fx", Name="live")
    for cfg in (lam.get_function(FunctionName="fx", Qualifier="live")["Configuration"], lam.get_function_configuration(FunctionName=arn("fx", "live"))):
        assert cfg["FunctionArn"] == arn("fx", "live") and cfg["Version"] == "1"
        assert cfg["RevisionId"] == lam.v1["RevisionId"] != alias["RevisionId"]
    # get_function_alias_notfound_exc: a missing alias is "Function not found" for GetFunction.
    assert fails(lam.get_function, FunctionName="fx", Qualifier="nope") == ("ResourceNotFoundException", f"Function not found: {arn('fx', 'nope')}", 404)


def test_missing_function_is_named_with_its_qualifier(lam):
    # test_ops_with_arn_qualifier_mismatch[get_function]: match_exception.
    assert fails(lam.get_function, FunctionName="some-function:$LATEST", Qualifier="$LATEST") == (
        "ResourceNotFoundException", f"Function not found: {arn('some-function', '$LATEST')}", 404)
    assert fails(lam.get_function_configuration, FunctionName="some-function", Qualifier="1221") == (
        "ResourceNotFoundException", f"Function not found: {arn('some-function', '1221')}", 404)
    # test_delete_on_nonexisting_version: DeleteFunction names the function unqualified.
    assert fails(lam.delete_function, FunctionName="some-function", Qualifier="1") == (
        "ResourceNotFoundException", f"Function not found: {arn('some-function')}", 404)
    # test_ops_with_arn_qualifier_mismatch[delete_function]: $LATEST is refused first.
    assert fails(lam.delete_function, FunctionName="some-function:$LATEST", Qualifier="$LATEST") == (
        "InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the function.", 400)


def test_qualifier_in_name_and_parameter_must_agree(lam):
    # test_ops_with_arn_qualifier_mismatch / add_permission_fn_qualifier_mismatch.
    assert fails(lam.get_function, FunctionName="fx:1", Qualifier="live") == MISMATCH
    assert fails(lam.get_function_configuration, FunctionName=arn("fx", "live"), Qualifier="1") == MISMATCH
    assert fails(lam.delete_function, FunctionName="missing-fn:1", Qualifier="$LATEST") == MISMATCH
    assert fails(lam.add_permission, FunctionName="fx:1", Qualifier="live", StatementId="s", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com") == MISMATCH
    assert fails(lam.invoke, FunctionName="fx:1", Qualifier="live") == MISMATCH
    # Agreeing qualifiers are fine.
    assert lam.get_function(FunctionName="fx:live", Qualifier="live")["Configuration"]["Version"] == "1"


def test_function_concurrency_on_versions_and_missing_functions(lam):
    # test_function_concurrency_exceptions.
    assert fails(lam.put_function_concurrency, FunctionName=arn("fx", "1"), ReservedConcurrentExecutions=1) == (
        "InvalidParameterValueException",
        "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
        400,
    )
    assert fails(lam.put_function_concurrency, FunctionName="doesnotexist", ReservedConcurrentExecutions=1) == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist', '$LATEST')}", 404)
    # test_ops_on_nonexisting_fn[get_function_concurrency]: unqualified.
    assert fails(lam.get_function_concurrency, FunctionName="doesnotexist") == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}", 404)
    assert lam.put_function_concurrency(FunctionName="fx", ReservedConcurrentExecutions=1)["ReservedConcurrentExecutions"] == 1


def test_alias_not_found_texts(lam):
    # routing_config_exc_fn_doesnotexist: CreateAlias names the missing function with the version.
    assert fails(lam.create_alias, FunctionName="fx-unknown", Name="a", FunctionVersion="1") == (
        "ResourceNotFoundException", f"Function not found: {arn('fx-unknown', '1')}", 404)
    # alias_does_not_exist_esc (GetAlias).
    assert fails(lam.get_alias, FunctionName="fx", Name="non-existent") == (
        "ResourceNotFoundException", f"Cannot find alias arn: {arn('fx', 'non-existent')}", 404)
    # UpdateAlias says it differently (terraform-provider-aws#4090 quotes AWS; localstack#11832).
    assert fails(lam.update_alias, FunctionName="fx", Name="non-existent", Description="x") == (
        "ResourceNotFoundException", f"Alias not found: {arn('fx', 'non-existent')}", 404)
    # DeleteAlias of a missing alias succeeds (204, localstack#11832).
    assert lam.delete_alias(FunctionName="fx", Name="non-existent")["ResponseMetadata"]["HTTPStatusCode"] == 204
    # routing_config_exc_already_exist.
    assert fails(lam.create_alias, FunctionName="fx", Name="live", FunctionVersion="1") == (
        "ResourceConflictException", f"Alias already exists: {arn('fx', 'live')}", 409)


def test_provisioned_concurrency_on_missing_functions(lam):
    # test_provisioned_concurrency_exceptions.
    assert fails(lam.get_provisioned_concurrency_config, FunctionName="doesnotexist", Qualifier="noalias") == (
        "ResourceNotFoundException", f"Cannot find alias arn: {arn('doesnotexist', 'noalias')}", 404)
    assert fails(lam.delete_provisioned_concurrency_config, FunctionName="doesnotexist", Qualifier="1") == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist', '1')}", 404)
    assert fails(lam.put_provisioned_concurrency_config, FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1) == (
        "ResourceNotFoundException", f"Cannot find alias arn: {arn('doesnotexist', 'noalias')}", 404)
    assert fails(lam.put_provisioned_concurrency_config, FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1) == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist', '1')}", 404)
    assert fails(lam.list_provisioned_concurrency_configs, FunctionName="doesnotexist") == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}", 404)
    assert fails(lam.get_provisioned_concurrency_config, FunctionName="fx", Qualifier="1") == (
        "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function", 404)
    assert fails(lam.get_provisioned_concurrency_config, FunctionName="fx", Qualifier="$LATEST") == (
        "InvalidParameterValueException", "The function resource provided must be an alias or a published version.", 400)
    # delete_provisioned_config_doesnotexist: 204.
    assert lam.delete_provisioned_concurrency_config(FunctionName="fx", Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_permission_texts(lam):
    add = dict(StatementId="s", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    # test_permission_exceptions.
    assert fails(lam.add_permission, FunctionName="fx", Qualifier="$LATEST", **add) == (
        "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.", 400)
    assert fails(lam.add_permission, FunctionName="doesnotexist", **add) == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}", 404)
    assert fails(lam.add_permission, FunctionName="fx", Qualifier="alias-doesnotexist", **add) == (
        "ResourceNotFoundException", f"Cannot find alias arn: {arn('fx', 'alias-doesnotexist')}", 404)
    assert fails(lam.add_permission, FunctionName="fx", Qualifier="42", **add) == (
        "ResourceNotFoundException", f"Function not found: {arn('fx', '42')}", 404)
    assert fails(lam.remove_permission, FunctionName="doesnotexist", StatementId="s") == (
        "ResourceNotFoundException", f"No policy found for: {arn('doesnotexist')}", 404)
    assert fails(lam.remove_permission, FunctionName="fx", Qualifier="alias-doesnotexist", StatementId="s") == (
        "ResourceNotFoundException", f"Cannot find alias arn: {arn('fx', 'alias-doesnotexist')}", 404)
    assert fails(lam.remove_permission, FunctionName="fx", StatementId="s") == (
        "ResourceNotFoundException", "No policy is associated with the given resource.", 404)
    assert fails(lam.get_policy, FunctionName="doesnotexist") == (
        "ResourceNotFoundException", f"Function not found: {arn('doesnotexist')}", 404)
    assert fails(lam.get_policy, FunctionName="fx", Qualifier="42") == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404)
    # The alias's own policy still works through the same resolution.
    st = json.loads(lam.add_permission(FunctionName="fx", Qualifier="live", **add)["Statement"])
    assert st["Resource"] == arn("fx", "live")
    assert fails(lam.add_permission, FunctionName="fx", Qualifier="live", **add) == (
        "ResourceConflictException", "The statement id (s) provided already exists. Please provide a new statement id, or remove the existing statement.", 409)


def test_list_items_leave_out_state(lam):
    # list_versions_result / list_all: no State or LastUpdateStatus in list items.
    versions = lam.list_versions_by_function(FunctionName="fx")["Versions"]
    assert [v["FunctionArn"] for v in versions] == [arn("fx", "$LATEST"), arn("fx", "1")]
    everything = lam.list_functions(FunctionVersion="ALL")["Functions"] + lam.list_functions()["Functions"]
    for item in versions + everything:
        assert "State" not in item and "LastUpdateStatus" not in item, item
        assert item["Version"] in ("$LATEST", "1") and item["RevisionId"]
    # GetFunction still shows them.
    assert lam.get_function_configuration(FunctionName="fx", Qualifier="1")["State"] == "Active"


def test_layer_compatible_lists_as_given(server):
    lam = server.client("lambda")
    zip_ = make_zip({"python/m.py": "X = 1\n"})
    # publish_empty_result: empty lists are answered as empty lists.
    empty = lam.publish_layer_version(LayerName="lx", Content={"ZipFile": zip_}, CompatibleRuntimes=[], CompatibleArchitectures=[])
    assert empty["CompatibleRuntimes"] == [] and empty["CompatibleArchitectures"] == []
    # test_layer_s3_content: not given, not shown.
    none = lam.publish_layer_version(LayerName="ly", Content={"ZipFile": zip_})
    assert "CompatibleRuntimes" not in none and "CompatibleArchitectures" not in none
    listed = lam.list_layer_versions(LayerName="lx")["LayerVersions"]
    assert listed[0]["CompatibleRuntimes"] == [] and listed[0]["CompatibleArchitectures"] == []
    got = lam.get_layer_version(LayerName="lx", VersionNumber=1)
    assert got["CompatibleRuntimes"] == [] and got["CompatibleArchitectures"] == []


def test_collection_member_constraints_are_reported_at_the_collection(server, lam):
    raw = server.client("lambda", validate=False)
    # routing_config_exc_toohigh / routing_config_exc_subzero / routing_config_exc_version_latest.
    for weights, shown in (({"2": 2.0}, "{2=2.0}"), ({"2": -1.0}, "{2=-1.0}")):
        assert fails(raw.create_alias, FunctionName="fx", Name="w", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": weights}) == (
            "ValidationException",
            f"1 validation error detected: Value '{shown}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
            400,
        )
    assert fails(raw.update_alias, FunctionName="fx", Name="live", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}}) == (
        "ValidationException",
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, "
        "Member must satisfy regular expression pattern: [0-9]+, Member must not be null]",
        400,
    )
    # uppercase_architecture.
    assert fails(raw.create_function, FunctionName="arch", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                 Code={"ZipFile": make_zip(CODE)}, Architectures=["X86_64"]) == (
        "ValidationException",
        "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
        400,
    )
    # add_layer_arn_without_version_exc (the pattern is the current model's).
    layer = "arn:aws:lambda:us-east-1:000000000000:layer:nover"
    code, message, status = fails(raw.update_function_configuration, FunctionName="fx", Layers=[layer])
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        f"1 validation error detected: Value '[{layer}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: "
        "[Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: "
    ) and message.endswith(", Member must not be null]"), message


def test_provisioned_concurrency_account_limits(lam):
    # test_provisioned_concurrency_limits: more than the unreserved pool, then below its minimum.
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert fails(lam.put_provisioned_concurrency_config, FunctionName="fx", Qualifier="1", ProvisionedConcurrentExecutions=unreserved + 1) == (
        "InvalidParameterValueException", f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}].", 400)
    assert fails(lam.put_provisioned_concurrency_config, FunctionName="fx", Qualifier="1", ProvisionedConcurrentExecutions=unreserved - 99) == (
        "InvalidParameterValueException", "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].", 400)
    # test_function_concurrency_limits: reserved concurrency says the same with its own name.
    assert fails(lam.put_function_concurrency, FunctionName="fx", ReservedConcurrentExecutions=unreserved) == (
        "InvalidParameterValueException", "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].", 400)
