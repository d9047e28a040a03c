"""Lambda resource policies (AddPermission, RemovePermission, GetPolicy) with boto3,
checked against the shapes and errors AWS returns."""

import json

import pytest
from botocore.exceptions import ClientError

from test_lambda import PY_HELLO, create

ARN = "arn:aws:lambda:us-east-1:000000000000:function:pol"


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_add_get_remove_permission(server):
    lam = server.client("lambda")
    create(lam, "pol", {"lambda_function.py": PY_HELLO}, handler="lambda_function.lambda_handler")
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="pol")
    assert err(e) == ("ResourceNotFoundException", "The resource you requested does not exist.")
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="pol", StatementId="nope")
    assert err(e) == ("ResourceNotFoundException", "No policy is associated with the given resource.")

    rev0 = lam.get_function(FunctionName="pol")["Configuration"]["RevisionId"]
    r = lam.add_permission(
        FunctionName="pol", StatementId="apigw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn="arn:aws:execute-api:us-east-1:000000000000:abc123/*/GET/users",
    )
    assert json.loads(r["Statement"]) == {
        "Sid": "apigw",
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": ARN,
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:000000000000:abc123/*/GET/users"}},
    }
    r = lam.add_permission(FunctionName=ARN, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceAccount="000000000000",
                           SourceArn="arn:aws:s3:::bucket")
    s3 = json.loads(r["Statement"])
    assert s3["Condition"] == {"StringEquals": {"AWS:SourceAccount": "000000000000"},
                               "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}
    r = lam.add_permission(FunctionName="pol", StatementId="url", Action="lambda:InvokeFunction", Principal="*",
                           FunctionUrlAuthType="NONE", InvokedViaFunctionUrl=True)
    assert json.loads(r["Statement"])["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"},
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"},
    }
    lam.remove_permission(FunctionName="pol", StatementId="url")
    r = lam.add_permission(FunctionName="pol", StatementId="acct", Action="lambda:GetFunction", Principal="111122223333")
    assert json.loads(r["Statement"])["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}

    got = lam.get_policy(FunctionName="pol")
    doc = json.loads(got["Policy"])
    assert doc["Version"] == "2012-10-17" and doc["Id"] == "default"
    assert [s["Sid"] for s in doc["Statement"]] == ["apigw", "s3", "acct"]
    rev = lam.get_function(FunctionName="pol")["Configuration"]["RevisionId"]
    assert got["RevisionId"] == rev and rev != rev0

    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="apigw", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com")
    assert err(e) == ("ResourceConflictException",
                      "The statement id (apigw) provided already exists. Please provide a new statement id, or remove the existing statement.")
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="x", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com", RevisionId="stale")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="bad id!", Action="lambda:InvokeFunction", Principal="*")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="x", Action="s3:GetObject", Principal="*")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="missing", StatementId="x", Action="lambda:InvokeFunction", Principal="*")
    assert err(e) == ("ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing")

    lam.remove_permission(FunctionName="pol", StatementId="s3")
    doc = json.loads(lam.get_policy(FunctionName="pol")["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["apigw", "acct"]
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="pol", StatementId="s3")
    assert err(e) == ("ResourceNotFoundException", "Statement s3 is not found in resource policy.")
    lam.remove_permission(FunctionName="pol", StatementId="apigw")
    lam.remove_permission(FunctionName="pol", StatementId="acct")
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="pol")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_policy_survives_restart_and_goes_with_the_function(server_factory):
    server = server_factory()
    lam = server.client("lambda")
    create(lam, "kept", {"lambda_function.py": PY_HELLO}, handler="lambda_function.lambda_handler")
    lam.add_permission(FunctionName="kept", StatementId="a", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    server.stop()
    server.start()
    lam = server.client("lambda")
    assert json.loads(lam.get_policy(FunctionName="kept")["Policy"])["Statement"][0]["Sid"] == "a"
    lam.delete_function(FunctionName="kept")
    create(lam, "kept", {"lambda_function.py": PY_HELLO}, handler="lambda_function.lambda_handler")
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="kept")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
