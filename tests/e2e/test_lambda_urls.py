"""Lambda function URLs: the control plane with boto3 (shapes and errors as AWS) and the
URL endpoint with `requests`, by Host (`<id>.lambda-url.<region>.localhost.localstack.cloud`)
and by the path form (`/_nimbus/lambda-url/<id>/...`)."""

import base64
import json
import re

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from test_lambda import create

ACCOUNT = "000000000000"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:web"

PY_WEB = """
import base64, json

def handler(event, context):
    path = event['rawPath']
    if path == '/fail':
        raise ValueError('boom')
    if path == '/binary':
        return {'statusCode': 200, 'headers': {'content-type': 'image/png'},
                'body': base64.b64encode(bytes(range(256))).decode(), 'isBase64Encoded': True}
    if path == '/cookies':
        return {'statusCode': 201, 'headers': {'x-custom': 'yes'}, 'cookies': ['a=1; Path=/', 'b=2'], 'body': 'made'}
    if path == '/plain':
        return {'hello': 'world'}
    if path == '/string':
        return 'just text'
    if path == '/bad':
        return {'statusCode': 'not a number'}
    return {'statusCode': 200, 'headers': {'content-type': 'application/json'}, 'body': json.dumps(event)}
"""


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def url_id(cfg):
    m = re.fullmatch(r"https://([a-z0-9]{32})\.lambda-url\.us-east-1\.on\.aws/", cfg["FunctionUrl"])
    assert m, cfg["FunctionUrl"]
    return m.group(1)


def by_host(server, uid, path="/", method="GET", **kw):
    headers = dict(kw.pop("headers", {}))
    headers["Host"] = f"{uid}.lambda-url.us-east-1.localhost.localstack.cloud:4566"
    return requests.request(method, server.endpoint + path, headers=headers, timeout=60, **kw)


def by_path(server, uid, path="/", method="GET", **kw):
    return requests.request(method, f"{server.endpoint}/_nimbus/lambda-url/{uid}{path}", timeout=60, **kw)


def public(lam, name="web", **kw):
    # What the console adds for a NONE URL: since October 2025 AWS wants both actions.
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE", **kw)
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowInvokeAction", Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True, **kw)


def web(lam, name="web"):
    create(lam, name, {"index.py": PY_WEB})


def test_control_plane_shapes_and_errors(server):
    lam = server.client("lambda")
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert err(e) == ("ResourceNotFoundException", "Function does not exist")
    web(lam)
    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-a"],
            "ExposeHeaders": ["x-b"], "MaxAge": 300, "AllowCredentials": True}
    created = lam.create_function_url_config(FunctionName="web", AuthType="NONE", Cors=cors)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    uid = url_id(created)
    assert created["FunctionArn"] == ARN
    assert created["AuthType"] == "NONE" and created["InvokeMode"] == "BUFFERED"
    assert created["Cors"] == cors
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["CreationTime"])
    assert "LastModifiedTime" not in created

    got = lam.get_function_url_config(FunctionName=ARN)
    assert got["FunctionUrl"] == created["FunctionUrl"] and got["CreationTime"] == created["CreationTime"]
    assert got["LastModifiedTime"] == created["CreationTime"]

    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert err(e) == ("ResourceConflictException",
                      f"Failed to create function url config for [functionArn = {ARN}]. Error message:  FunctionUrlConfig exists for this Lambda function")

    updated = lam.update_function_url_config(FunctionName="web", AuthType="AWS_IAM", Cors={"AllowOrigins": ["*"]})
    assert updated["AuthType"] == "AWS_IAM" and updated["Cors"] == {"AllowOrigins": ["*"]}
    assert updated["FunctionUrl"] == created["FunctionUrl"] and updated["CreationTime"] == created["CreationTime"]
    assert updated["LastModifiedTime"] >= created["CreationTime"]

    listed = lam.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]
    assert listed[0]["AuthType"] == "AWS_IAM"

    # Qualifiers: an alias, never $LATEST or a version.
    for q, pattern in [("$LATEST", r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"), ("1", r"(^\$LATEST$)|((?!^[0-9]+$)([a-zA-Z0-9-_]+))")]:
        with pytest.raises(ClientError) as e:
            lam.create_function_url_config(FunctionName="web", Qualifier=q, AuthType="NONE")
        assert err(e) == ("ValidationException",
                          f"1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}")
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="web", Qualifier="live", AuthType="NONE")
    assert err(e) == ("ResourceNotFoundException", "Function does not exist")
    with pytest.raises(ClientError) as e:
        lam.get_function_url_config(FunctionName="web", Qualifier="live")
    assert err(e) == ("ResourceNotFoundException", "The resource you requested does not exist.")

    # Enums and limits.
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="web", Qualifier="x", AuthType="OPEN")
    assert err(e)[0] == "ValidationException" and "authType" in err(e)[1]
    with pytest.raises(ClientError) as e:
        lam.update_function_url_config(FunctionName="web", Cors={"MaxAge": 86401})
    assert err(e) == ("ValidationException",
                      "1 validation error detected: Value '86401' at 'cors.maxAge' failed to satisfy constraint: Member must have value less than or equal to 86400")
    with pytest.raises(ClientError) as e:
        lam.update_function_url_config(FunctionName="web", Cors={"AllowMethods": ["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "OPTIONS"]})
    assert err(e)[0] == "ValidationException" and "cors.allowMethods" in err(e)[1]
    with pytest.raises(ClientError) as e:
        lam.update_function_url_config(FunctionName="web", InvokeMode="RESPONSE_STREAM")
    assert err(e)[0] == "InvalidParameterValueException" and "RESPONSE_STREAM" in err(e)[1]
    with pytest.raises(ClientError) as e:
        lam.list_function_url_configs(FunctionName="web", MaxItems=51)
    assert err(e)[0] == "ValidationException"
    # A refused update changed nothing.
    assert lam.get_function_url_config(FunctionName="web")["Cors"] == {"AllowOrigins": ["*"]}

    lam.delete_function_url_config(FunctionName="web")
    with pytest.raises(ClientError) as e:
        lam.get_function_url_config(FunctionName="web")
    assert err(e) == ("ResourceNotFoundException", "The resource you requested does not exist.")
    with pytest.raises(ClientError) as e:
        lam.delete_function_url_config(FunctionName="web")
    assert err(e) == ("ResourceNotFoundException", "The resource you requested does not exist.")
    assert lam.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"] == []
    # The deleted URL no longer answers.
    assert by_path(server, uid).status_code == 404
    with pytest.raises(ClientError) as e:
        lam.list_function_url_configs(FunctionName="nope")
    assert err(e) == ("ResourceNotFoundException", "Function does not exist")


def test_response_stream_refused(server):
    lam = server.client("lambda")
    web(lam)
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="web", AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    assert err(e)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName="web")


def test_requests_and_the_event_the_function_sees(server):
    lam = server.client("lambda")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="NONE"))
    # Without the public statement AWS answers 403.
    r = by_host(server, uid, "/hello")
    assert r.status_code == 403 and r.json() == {"Message": "Forbidden"}
    # Each of the two statements alone is not enough.
    lam.add_permission(FunctionName="web", StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    assert by_host(server, uid, "/hello").status_code == 403
    lam.remove_permission(FunctionName="web", StatementId="url")
    lam.add_permission(FunctionName="web", StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    assert by_host(server, uid, "/hello").status_code == 403
    # A statement conditioned on the other auth type does not apply.
    lam.add_permission(FunctionName="web", StatementId="iam", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="AWS_IAM")
    assert by_host(server, uid, "/hello").status_code == 403
    lam.remove_permission(FunctionName="web", StatementId="invoke")
    public(lam)

    r = by_host(server, uid, "/hello/w%20x?b=2&a=1&a=3", headers={"Cookie": "c1=v1; c2=v2", "X-Multi": "one", "User-Agent": "tester/1"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-requestid"]
    ev = r.json()
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/hello/w%20x"
    assert ev["rawQueryString"] == "b=2&a=1&a=3"
    assert ev["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert ev["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in ev["headers"]
    assert ev["headers"]["x-multi"] == "one" and ev["headers"]["user-agent"] == "tester/1"
    assert ev["headers"]["x-forwarded-proto"] == "http" and ev["headers"]["x-forwarded-port"] == "4566"
    assert ev["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", ev["headers"]["x-amzn-trace-id"])
    assert ev["isBase64Encoded"] is False and "body" not in ev
    ctx = ev["requestContext"]
    assert ctx["accountId"] == "anonymous" and ctx["apiId"] == uid and ctx["domainPrefix"] == uid
    assert ctx["domainName"] == f"{uid}.lambda-url.us-east-1.localhost.localstack.cloud"
    assert ctx["http"] == {"method": "GET", "path": "/hello/w x", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert ctx["stage"] == "$default" and ctx["routeKey"] == "$default"
    assert ctx["requestId"] == r.headers["x-amzn-requestid"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", ctx["time"])
    assert isinstance(ctx["timeEpoch"], int)

    # POST with a JSON body: text.
    r = by_path(server, uid, "/items", method="POST", json={"k": "v"})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["rawPath"] == "/items" and ev["requestContext"]["http"]["method"] == "POST"
    assert ev["isBase64Encoded"] is False and json.loads(ev["body"]) == {"k": "v"}
    assert ev["requestContext"]["domainName"] == f"{uid}.lambda-url.us-east-1.on.aws"

    # A binary body arrives base64-encoded.
    blob = bytes(range(256))
    r = by_path(server, uid, "/upload", method="PUT", data=blob, headers={"Content-Type": "application/octet-stream"})
    ev = r.json()
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == blob


def test_response_mapping(server):
    lam = server.client("lambda")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="NONE"))
    public(lam)
    r = by_path(server, uid, "/cookies")
    assert r.status_code == 201 and r.text == "made"
    assert r.headers["x-custom"] == "yes"
    assert r.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2"]
    r = by_path(server, uid, "/binary")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == bytes(range(256))
    r = by_path(server, uid, "/plain")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json" and r.json() == {"hello": "world"}
    r = by_path(server, uid, "/string")
    assert r.status_code == 200 and r.text == "just text"
    # Function errors and malformed responses: 502.
    for path in ["/fail", "/bad"]:
        r = by_path(server, uid, path)
        assert r.status_code == 502 and r.text == "Internal Server Error"
    # Over the 6 MB payload limit: 413.
    r = by_path(server, uid, "/big", method="POST", data=b"x" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "text/plain"})
    assert r.status_code == 413
    # Unknown URL ids are not found.
    assert by_path(server, "0" * 32).status_code == 404


def test_throttled_when_no_concurrency(server):
    lam = server.client("lambda")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="NONE"))
    public(lam)
    lam.put_function_concurrency(FunctionName="web", ReservedConcurrentExecutions=0)
    r = by_path(server, uid, "/")
    assert r.status_code == 429


def test_cors(server):
    lam = server.client("lambda")
    web(lam)
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-token"],
            "ExposeHeaders": ["x-custom"], "MaxAge": 600, "AllowCredentials": True}
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="NONE", Cors=cors))
    public(lam)
    r = by_host(server, uid, "/cookies", method="OPTIONS",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-allow-headers"] == "x-token"
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.text == ""  # answered by the URL, not the function
    r = by_host(server, uid, "/cookies", headers={"Origin": "https://app.example"})
    assert r.status_code == 201
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-expose-headers"] == "x-custom"
    r = by_host(server, uid, "/cookies", headers={"Origin": "https://evil.example"})
    assert r.status_code == 201 and "access-control-allow-origin" not in r.headers
    r = by_host(server, uid, "/cookies", method="OPTIONS",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_alias_url_routes_to_its_version(server):
    lam = server.client("lambda")
    create(lam, "ver", {"index.py": "def handler(e, c):\n    return {'v': 'one'}\n"})
    v1 = lam.publish_version(FunctionName="ver")["Version"]
    lam.update_function_code(FunctionName="ver", ZipFile=_zip("def handler(e, c):\n    return {'v': 'two'}\n"))
    lam.create_alias(FunctionName="ver", Name="live", FunctionVersion=v1)
    alias_cfg = lam.create_function_url_config(FunctionName="ver", Qualifier="live", AuthType="NONE")
    assert alias_cfg["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ver:live"
    latest_cfg = lam.create_function_url_config(FunctionName="ver", AuthType="NONE")
    # The alias has its own policy: the unqualified function's statement does not cover it.
    public(lam, "ver")
    r = by_path(server, url_id(alias_cfg))
    assert r.status_code == 403
    public(lam, "ver", Qualifier="live")
    assert by_path(server, url_id(alias_cfg)).json() == {"v": "one"}
    assert by_path(server, url_id(latest_cfg)).json() == {"v": "two"}
    listed = lam.list_function_url_configs(FunctionName="ver", MaxItems=1)
    assert len(listed["FunctionUrlConfigs"]) == 1 and listed["NextMarker"]
    rest = lam.list_function_url_configs(FunctionName="ver", Marker=listed["NextMarker"])
    assert {c["FunctionArn"] for c in listed["FunctionUrlConfigs"] + rest["FunctionUrlConfigs"]} == {
        alias_cfg["FunctionArn"], latest_cfg["FunctionArn"]}
    assert "NextMarker" not in rest

    # Deleting the alias deletes its URL; deleting the function deletes the rest.
    lam.delete_alias(FunctionName="ver", Name="live")
    assert by_path(server, url_id(alias_cfg)).status_code == 404
    lam.delete_function(FunctionName="ver")
    assert by_path(server, url_id(latest_cfg)).status_code == 404
    create(lam, "ver", {"index.py": "def handler(e, c):\n    return 1\n"})
    assert lam.list_function_url_configs(FunctionName="ver")["FunctionUrlConfigs"] == []


def _zip(code):
    from test_lambda import make_zip
    return make_zip({"index.py": code}, None)


def signed(server, uid, key, secret, path="/"):
    url = f"{server.endpoint}/_nimbus/lambda-url/{uid}{path}"
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    return requests.get(url, headers=dict(req.headers), timeout=60)


def test_aws_iam_with_sigv4(server_factory):
    srv = server_factory("--auth", "sigv4", "--access-keys", "AKIDURLS:s3cr3t,AKIDOTHER:0th3r:111111111111")
    lam = srv.client("lambda", key="AKIDURLS", secret="s3cr3t")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="AWS_IAM"))
    # Unsigned, or signed with a wrong secret: 403.
    assert by_path(srv, uid).status_code == 403
    assert signed(srv, uid, "AKIDURLS", "wrong").status_code == 403
    r = signed(srv, uid, "AKIDURLS", "s3cr3t", "/who")
    assert r.status_code == 200, r.text
    ctx = r.json()["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["authorizer"]["iam"]["accessKey"] == "AKIDURLS" and ctx["authorizer"]["iam"]["accountId"] == ACCOUNT
    # Another account needs a statement in the function's policy.
    assert signed(srv, uid, "AKIDOTHER", "0th3r").status_code == 403
    lam.add_permission(FunctionName="web", StatementId="other", Action="lambda:InvokeFunctionUrl",
                       Principal="111111111111", FunctionUrlAuthType="AWS_IAM")
    assert signed(srv, uid, "AKIDOTHER", "0th3r").status_code == 403
    lam.add_permission(FunctionName="web", StatementId="other-invoke", Action="lambda:InvokeFunction",
                       Principal="111111111111", InvokedViaFunctionUrl=True)
    assert signed(srv, uid, "AKIDOTHER", "0th3r").status_code == 200


def test_aws_iam_with_auth_off(server):
    lam = server.client("lambda")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="AWS_IAM"))
    # Signatures are not checked in off mode, but the request must still be signed.
    assert by_path(server, uid).status_code == 403
    assert signed(server, uid, "test", "anything").status_code == 200


def test_url_permissions_allow_all(server_factory):
    srv = server_factory("--lambda-url-permissions", "allow-all")
    lam = srv.client("lambda")
    web(lam)
    uid = url_id(lam.create_function_url_config(FunctionName="web", AuthType="NONE"))
    assert by_path(srv, uid, "/plain").json() == {"hello": "world"}
    lam.update_function_url_config(FunctionName="web", AuthType="AWS_IAM")
    assert by_path(srv, uid).status_code == 403


def test_urls_survive_a_restart(server_factory, tmp_path):
    srv = server_factory(data_dir=str(tmp_path))
    lam = srv.client("lambda")
    web(lam)
    created = lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    public(lam)
    srv.stop()
    again = server_factory(data_dir=str(tmp_path))
    assert again.client("lambda").get_function_url_config(FunctionName="web")["FunctionUrl"] == created["FunctionUrl"]
    assert by_host(again, url_id(created), "/plain").json() == {"hello": "world"}
