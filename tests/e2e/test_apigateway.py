"""API Gateway against the real binary: REST API (v1) and HTTP API (v2) control planes,
invoke URLs in both forms, MOCK and Lambda proxy integrations, deployment snapshots."""

import io
import json
import os
import subprocess
import urllib.parse
import zipfile

import pytest
import requests
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = """
import json, base64

def handler(event, context):
    if (event.get('queryStringParameters') or {}).get('mode') == 'fail':
        raise RuntimeError('boom')
    if (event.get('queryStringParameters') or {}).get('mode') == 'malformed':
        return {'body': {'not': 'a string'}}
    if (event.get('queryStringParameters') or {}).get('mode') == 'bare':
        return {'hello': 'bare'}
    return {
        'statusCode': 200,
        'headers': {'Content-Type': 'application/json', 'X-Echo': 'yes'},
        'multiValueHeaders': {'X-Multi': ['a', 'b']},
        'body': json.dumps(event),
    }
"""


def aws(server, *args, cwd=None):
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    r = subprocess.run(["aws", "--endpoint-url", server.endpoint, *args],
                       capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def url(server, api_id, stage, path=""):
    return f"{server.endpoint}/restapis/{api_id}/{stage}/_user_request_/{path}"


def host_get(server, api_id, path, **kw):
    port = urllib.parse.urlparse(server.endpoint).port
    headers = dict(kw.pop("headers", {}))
    headers["Host"] = f"{api_id}.execute-api.localhost:{port}"
    return requests.request(kw.pop("method", "GET"), f"http://127.0.0.1:{port}{path}", headers=headers, **kw)


def mock_api(apigw, path_part="hello", status="200", body='{"mock": true}'):
    api = apigw.create_rest_api(name="mock")
    root = apigw.get_resources(restApiId=api["id"])["items"][0]["id"]
    res = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart=path_part)
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": %s}' % status})
    apigw.put_method_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode=status)
    apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode=status,
                                   responseTemplates={"application/json": body},
                                   responseParameters={"method.response.header.X-Mock": "'yes'"})
    return api, root, res


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def lambda_uri(fn_arn, region="us-east-1"):
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{fn_arn}/invocations"


def grant(server, fn, api_id, source="*", sid=None):
    """Lets API Gateway invoke `fn` from `api_id` (`source` is the part of the
    execute-api ARN after the API id), as a real user must."""
    server.client("lambda").add_permission(
        FunctionName=fn, StatementId=sid or f"apigw-{api_id}", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/{source}")


# ---------------------------------------------------------------- control plane

def test_rest_api_lifecycle(server):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="users", description="d")
    assert len(api["id"]) == 10 and api["id"].isalnum() and api["id"] == api["id"].lower()
    assert api["name"] == "users"
    assert "rootResourceId" in api
    got = apigw.get_rest_api(restApiId=api["id"])
    assert got["name"] == "users" and got["description"] == "d"
    assert [a["id"] for a in apigw.get_rest_apis()["items"]] == [api["id"]]

    items = apigw.get_resources(restApiId=api["id"])["items"]
    assert len(items) == 1 and items[0]["path"] == "/" and items[0]["id"] == api["rootResourceId"]
    root = items[0]["id"]
    users = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="users")
    assert users["path"] == "/users" and users["parentId"] == root
    uid = apigw.create_resource(restApiId=api["id"], parentId=users["id"], pathPart="{id}")
    assert uid["path"] == "/users/{id}"
    with pytest.raises(ClientError) as e:
        apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="users")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        apigw.create_resource(restApiId=api["id"], parentId=users["id"], pathPart="{other}")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    proxy = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    assert proxy["path"] == "/{proxy+}"
    assert apigw.get_resource(restApiId=api["id"], resourceId=uid["id"])["pathPart"] == "{id}"

    m = apigw.put_method(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET", authorizationType="NONE")
    assert m["httpMethod"] == "GET" and m["authorizationType"] == "NONE"
    with pytest.raises(ClientError) as e:
        apigw.put_method(restApiId=api["id"], resourceId=uid["id"], httpMethod="POST", authorizationType="AWS_IAM")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        apigw.get_integration(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        apigw.put_integration(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET", type="AWS",
                              integrationHttpMethod="POST", uri="arn:aws:apigateway:us-east-1:dynamodb:action/Scan")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    i = apigw.put_integration(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET", type="MOCK")
    assert i["type"] == "MOCK"
    assert apigw.get_method(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET")["methodIntegration"]["type"] == "MOCK"
    assert apigw.get_integration(restApiId=api["id"], resourceId=uid["id"], httpMethod="GET")["type"] == "MOCK"

    d = apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"v": "1"})
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["deploymentId"] == d["id"] and stage["variables"] == {"v": "1"}
    assert [x["id"] for x in apigw.get_deployments(restApiId=api["id"])["items"]] == [d["id"]]
    apigw.create_stage(restApiId=api["id"], stageName="dev", deploymentId=d["id"])
    assert sorted(s["stageName"] for s in apigw.get_stages(restApiId=api["id"])["item"]) == ["dev", "prod"]
    with pytest.raises(ClientError) as e:
        apigw.create_stage(restApiId=api["id"], stageName="dev", deploymentId=d["id"])
    assert e.value.response["Error"]["Code"] == "ConflictException"
    up = apigw.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/variables/v", "value": "2"},
        {"op": "replace", "path": "/variables/w", "value": "x"}])
    assert up["variables"] == {"v": "2", "w": "x"}

    apigw.delete_resource(restApiId=api["id"], resourceId=users["id"])
    paths = sorted(r["path"] for r in apigw.get_resources(restApiId=api["id"])["items"])
    assert paths == ["/", "/{proxy+}"]
    apigw.delete_rest_api(restApiId=api["id"])
    with pytest.raises(ClientError) as e:
        apigw.get_rest_api(restApiId=api["id"])
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e.value.response["Error"]["Message"] == f"Invalid API identifier specified {ACCOUNT}:{api['id']}"
    assert apigw.get_rest_apis()["items"] == []


def test_not_found_messages(server):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="x")
    with pytest.raises(ClientError) as e:
        apigw.get_resource(restApiId=api["id"], resourceId="nope123456")
    assert e.value.response["Error"]["Message"] == "Invalid Resource identifier specified"
    with pytest.raises(ClientError) as e:
        apigw.get_stage(restApiId=api["id"], stageName="nope")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        apigw.create_deployment(restApiId=api["id"], stageName="prod")
    assert e.value.response["Error"]["Code"] == "BadRequestException"


def test_state_survives_restart(server_factory, tmp_path):
    s = server_factory(data_dir=str(tmp_path))
    apigw = s.client("apigateway")
    api, _, _ = mock_api(apigw)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    s.stop()
    s2 = server_factory(data_dir=str(tmp_path))
    assert s2.client("apigateway").get_rest_api(restApiId=api["id"])["name"] == "mock"
    assert requests.get(url(s2, api["id"], "prod", "hello")).json() == {"mock": True}


# ---------------------------------------------------------------- data plane (MOCK)

def test_mock_both_url_forms(server):
    apigw = server.client("apigateway")
    api, _, _ = mock_api(apigw, status="201", body='{"made": 1}')
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    r = requests.get(url(server, api["id"], "prod", "hello"))
    assert r.status_code == 201 and r.json() == {"made": 1}
    assert r.headers["X-Mock"] == "yes"
    assert r.headers.get("x-amzn-RequestId")
    r = host_get(server, api["id"], "/prod/hello")
    assert r.status_code == 201 and r.json() == {"made": 1}


def test_missing_route_and_stage(server):
    apigw = server.client("apigateway")
    api, _, _ = mock_api(apigw)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    r = requests.get(url(server, api["id"], "prod", "nothing/here"))
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}
    r = requests.post(url(server, api["id"], "prod", "hello"))
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}
    r = requests.get(url(server, api["id"], "nostage", "hello"))
    assert r.status_code == 403
    r = requests.get(url(server, "zzzzzzzzzz", "prod", "hello"))
    assert r.status_code == 403


def test_deployment_is_a_snapshot(server):
    apigw = server.client("apigateway")
    api, root, res = mock_api(apigw)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    other = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="later")
    apigw.put_method(restApiId=api["id"], resourceId=other["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=other["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=other["id"], httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"later": true}'})
    assert requests.get(url(server, api["id"], "prod", "later")).status_code == 403
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    r = requests.get(url(server, api["id"], "prod", "later"))
    assert r.status_code == 200 and r.json() == {"later": True}


# ---------------------------------------------------------------- the seed's CLI sequence

def test_seed_cli_sequence(server, tmp_path):
    (tmp_path / "lambda_function.py").write_text(ECHO)
    with zipfile.ZipFile(tmp_path / "function.zip", "w") as z:
        z.write(tmp_path / "lambda_function.py", "lambda_function.py")
    aws(server, "lambda", "create-function", "--function-name", "users", "--runtime", "python3.9",
        "--role", ROLE, "--handler", "lambda_function.handler", "--zip-file", "fileb://function.zip", cwd=tmp_path)
    api = aws(server, "apigateway", "create-rest-api", "--name", "UsersApi")
    api_id = api["id"]
    root = aws(server, "apigateway", "get-resources", "--rest-api-id", api_id)["items"][0]["id"]
    res = aws(server, "apigateway", "create-resource", "--rest-api-id", api_id, "--parent-id", root,
              "--path-part", "users")
    aws(server, "apigateway", "put-method", "--rest-api-id", api_id, "--resource-id", res["id"],
        "--http-method", "GET", "--authorization-type", "NONE")
    aws(server, "apigateway", "put-integration", "--rest-api-id", api_id, "--resource-id", res["id"],
        "--http-method", "GET", "--type", "AWS_PROXY", "--integration-http-method", "POST",
        "--uri", lambda_uri(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:users"))
    aws(server, "lambda", "add-permission", "--function-name", "users", "--statement-id", "apigateway-get",
        "--action", "lambda:InvokeFunction", "--principal", "apigateway.amazonaws.com",
        "--source-arn", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/GET/users")
    dep = aws(server, "apigateway", "create-deployment", "--rest-api-id", api_id, "--stage-name", "prod")
    assert dep["id"]
    r = requests.get(url(server, api_id, "prod", "users") + "?a=1&a=2&b=3", headers={"X-Test": "t"})
    assert r.status_code == 200, r.text
    assert r.headers["X-Echo"] == "yes"
    event = r.json()
    assert event["resource"] == "/users"
    assert event["path"] == "/users"
    assert event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"a": "2", "b": "3"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["3"]}
    assert event["headers"]["X-Test"] == "t"
    assert event["multiValueHeaders"]["X-Test"] == ["t"]
    assert event["pathParameters"] is None and event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["accountId"] == ACCOUNT and ctx["apiId"] == api_id and ctx["stage"] == "prod"
    assert ctx["resourceId"] == res["id"] and ctx["resourcePath"] == "/users"
    assert ctx["path"] == "/prod/users" and ctx["httpMethod"] == "GET"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert isinstance(ctx["requestTimeEpoch"], int) and ctx["requestId"]


# ---------------------------------------------------------------- Lambda proxy (v1)

@pytest.fixture
def echo_fn(server):
    lam = server.client("lambda")
    fn = lam.create_function(FunctionName="echo", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                             Code={"ZipFile": make_zip({"index.py": ECHO})})
    return fn["FunctionArn"]


def test_rest_proxy_params_greedy_and_errors(server, echo_fn):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="proxy")
    root = api["rootResourceId"]
    users = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="users")
    uid = apigw.create_resource(restApiId=api["id"], parentId=users["id"], pathPart="{id}")
    greedy = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    for res, method in ((users, "GET"), (uid, "ANY"), (uid, "DELETE"), (greedy, "ANY")):
        apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod=method, authorizationType="NONE")
        apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod=method, type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=lambda_uri(echo_fn))
    apigw.create_deployment(restApiId=api["id"], stageName="test", variables={"table": "Users"})
    grant(server, echo_fn, api["id"])

    ev = requests.get(url(server, api["id"], "test", "users/42")).json()
    assert ev["resource"] == "/users/{id}" and ev["pathParameters"] == {"id": "42"}
    assert ev["stageVariables"] == {"table": "Users"}
    assert ev["requestContext"]["resourceId"] == uid["id"]
    ev = requests.delete(url(server, api["id"], "test", "users/42")).json()
    assert ev["httpMethod"] == "DELETE" and ev["requestContext"]["resourceId"] == uid["id"]
    ev = requests.post(url(server, api["id"], "test", "users/42"), data='{"x": 1}').json()
    assert ev["httpMethod"] == "POST" and ev["body"] == '{"x": 1}'
    ev = requests.get(url(server, api["id"], "test", "a/b/c")).json()
    assert ev["resource"] == "/{proxy+}" and ev["pathParameters"] == {"proxy": "a/b/c"}
    ev = host_get(server, api["id"], "/test/users").json()
    assert ev["resource"] == "/users" and ev["requestContext"]["path"] == "/test/users"

    r = requests.get(url(server, api["id"], "test", "users") + "?mode=fail")
    assert r.status_code == 502 and r.json() == {"message": "Internal server error"}
    r = requests.get(url(server, api["id"], "test", "users") + "?mode=malformed")
    assert r.status_code == 502 and r.json() == {"message": "Internal server error"}
    r = requests.get(url(server, api["id"], "test", "users"))
    assert r.headers["X-Multi"] == "a, b"


# ---------------------------------------------------------------- HTTP APIs (v2)

@pytest.fixture
def v2(server):
    """The apigatewayv2 client (it shares the `apigateway` signing name with v1; the
    edge tells them apart by the /v2/ path)."""
    return server.client("apigatewayv2")


def test_http_api_quick_create(server, v2, echo_fn):
    api = v2.create_api(Name="quick", ProtocolType="HTTP", Target=echo_fn)
    assert api["ApiId"] and api["ProtocolType"] == "HTTP"
    routes = v2.get_routes(ApiId=api["ApiId"])["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]
    integ = v2.get_integrations(ApiId=api["ApiId"])["Items"]
    assert integ[0]["IntegrationType"] == "AWS_PROXY" and integ[0]["PayloadFormatVersion"] == "2.0"
    stages = v2.get_stages(ApiId=api["ApiId"])["Items"]
    assert stages[0]["StageName"] == "$default" and stages[0]["AutoDeploy"] is True
    assert v2.get_api(ApiId=api["ApiId"])["Name"] == "quick"
    grant(server, echo_fn, api["ApiId"], "*/$default")

    r = host_get(server, api["ApiId"], "/any/path?x=1&x=2", headers={"Cookie": "a=1; b=2"})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/any/path" and ev["rawQueryString"] == "x=1&x=2"
    assert ev["queryStringParameters"] == {"x": "1,2"}
    assert ev["cookies"] == ["a=1", "b=2"]
    assert ev["requestContext"]["http"]["method"] == "GET"
    assert ev["requestContext"]["http"]["path"] == "/any/path"
    assert ev["requestContext"]["stage"] == "$default"
    r = requests.get(f"{server.endpoint}/restapis/{api['ApiId']}/$default/_user_request_/p?mode=bare")
    assert r.status_code == 200 and r.json() == {"hello": "bare"}
    r = host_get(server, api["ApiId"], "/p?mode=fail")
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}
    v2.delete_api(ApiId=api["ApiId"])
    with pytest.raises(ClientError) as e:
        v2.get_api(ApiId=api["ApiId"])
    assert e.value.response["Error"]["Code"] == "NotFoundException"


def test_http_api_routes_and_formats(server, v2, echo_fn):
    api = v2.create_api(Name="routes", ProtocolType="HTTP",
                        CorsConfiguration={"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"],
                                           "AllowHeaders": ["content-type"], "MaxAge": 300})
    a = api["ApiId"]
    grant(server, echo_fn, a)
    i2 = v2.create_integration(ApiId=a, IntegrationType="AWS_PROXY", IntegrationUri=echo_fn, PayloadFormatVersion="2.0")
    i1 = v2.create_integration(ApiId=a, IntegrationType="AWS_PROXY", IntegrationUri=echo_fn, PayloadFormatVersion="1.0")
    v2.create_route(ApiId=a, RouteKey="GET /users/{id}", Target=f"integrations/{i2['IntegrationId']}")
    v2.create_route(ApiId=a, RouteKey="ANY /{proxy+}", Target=f"integrations/{i1['IntegrationId']}")
    with pytest.raises(ClientError) as e:
        v2.create_route(ApiId=a, RouteKey="GET /users/{id}", Target=f"integrations/{i2['IntegrationId']}")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    v2.create_stage(ApiId=a, StageName="$default", AutoDeploy=True)
    assert len(v2.get_routes(ApiId=a)["Items"]) == 2

    ev = host_get(server, a, "/users/7").json()
    assert ev["version"] == "2.0" and ev["routeKey"] == "GET /users/{id}" and ev["pathParameters"] == {"id": "7"}
    ev = host_get(server, a, "/users/7", method="POST").json()
    assert ev["version"] == "1.0" and ev["resource"] == "/{proxy+}"
    assert ev["pathParameters"] == {"proxy": "users/7"} and ev["requestContext"]["routeKey"] == "ANY /{proxy+}"
    r = host_get(server, a, "/users/7", method="OPTIONS",
                 headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert r.headers["Access-Control-Max-Age"] == "300"
    r = host_get(server, a, "/users/7", headers={"Origin": "https://example.com"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://example.com"

    # A named stage without auto-deploy serves its deployment, under /{stage}.
    v2.create_stage(ApiId=a, StageName="live")
    assert host_get(server, a, "/live/users/1").status_code == 404
    v2.create_deployment(ApiId=a, StageName="live")
    ev = host_get(server, a, "/live/users/1").json()
    assert ev["rawPath"] == "/live/users/1" and ev["requestContext"]["stage"] == "live"


def test_http_api_no_route(server, v2):
    api = v2.create_api(Name="empty", ProtocolType="HTTP")
    v2.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    r = host_get(server, api["ApiId"], "/x")
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}
    with pytest.raises(ClientError) as e:
        v2.create_api(Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    assert e.value.response["Error"]["Code"] == "BadRequestException"


# ---------------------------------------------------------------- HTTP_PROXY

@pytest.fixture
def backend():
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            out = json.dumps({"method": self.command, "path": self.path, "body": body,
                              "x": self.headers.get("X-Test")}).encode()
            self.send_response(207)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Backend", "1")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_rest_http_proxy(server, backend):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="fwd")
    greedy = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")
    apigw.put_method(restApiId=api["id"], resourceId=greedy["id"], httpMethod="ANY", authorizationType="NONE",
                     requestParameters={"method.request.path.proxy": True})
    apigw.put_integration(restApiId=api["id"], resourceId=greedy["id"], httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri=backend + "/base/{proxy}",
                          requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})
    with pytest.raises(ClientError) as e:
        apigw.put_integration(restApiId=api["id"], resourceId=greedy["id"], httpMethod="ANY", type="HTTP",
                              integrationHttpMethod="GET", uri="ftp://example.com/x")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    r = requests.post(url(server, api["id"], "prod", "a/b") + "?q=1", data="payload", headers={"X-Test": "t"})
    assert r.status_code == 207 and r.headers["X-Backend"] == "1"
    assert r.json() == {"method": "POST", "path": "/base/a/b?q=1", "body": "payload", "x": "t"}
