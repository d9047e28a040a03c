"""API Gateway → Lambda resource policies (AddPermission / RemovePermission), the
allow-all switch, integration timeouts and the data plane's common headers and limits,
against the real binary."""

import io
import zipfile

import pytest
import requests

ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

CODE = """
import json, time

def handler(event, context):
    q = event.get('queryStringParameters') or {}
    if 'sleep' in q:
        time.sleep(float(q['sleep']))
    return {'statusCode': 200, 'body': json.dumps({'ok': True})}
"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def lambda_uri(fn_arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations"


def url(server, api_id, stage, path=""):
    return f"{server.endpoint}/restapis/{api_id}/{stage}/_user_request_/{path}"


def make_fn(server, name="fn"):
    lam = server.client("lambda")
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                               Timeout=10, Code={"ZipFile": make_zip({"index.py": CODE})})["FunctionArn"]


def rest_api(server, fn, timeout=None):
    """GET /users → the function, deployed to `prod`."""
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="perm")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="users")
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    extra = {"timeoutInMillis": timeout} if timeout else {}
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=lambda_uri(fn), **extra)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    return api["id"]


def add_permission(server, fn, sid, source_arn=None):
    extra = {"SourceArn": source_arn} if source_arn else {}
    server.client("lambda").add_permission(FunctionName=fn, StatementId=sid, Action="lambda:InvokeFunction",
                                           Principal="apigateway.amazonaws.com", **extra)


def test_rest_api_needs_permission(server):
    fn = make_fn(server)
    api = rest_api(server, fn)
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}"

    # No policy at all.
    r = requests.get(url(server, api, "prod", "users"))
    assert r.status_code == 500 and r.json() == {"message": "Internal server error"}
    assert r.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    assert r.headers.get("x-amzn-RequestId") and r.headers.get("x-amz-apigw-id")

    # A policy for another method/path of the API does not do.
    add_permission(server, fn, "wrong", f"{arn}/*/POST/users")
    assert requests.get(url(server, api, "prod", "users")).status_code == 500
    add_permission(server, fn, "other-api", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:zzzzzzzzzz/*")
    assert requests.get(url(server, api, "prod", "users")).status_code == 500

    # Wildcards as users write them.
    add_permission(server, fn, "right", f"{arn}/*/GET/users")
    r = requests.get(url(server, api, "prod", "users"))
    assert r.status_code == 200 and r.json() == {"ok": True}

    # RemovePermission takes effect on the next request.
    server.client("lambda").remove_permission(FunctionName=fn, StatementId="right")
    assert requests.get(url(server, api, "prod", "users")).status_code == 500

    add_permission(server, fn, "any", f"{arn}/*")
    assert requests.get(url(server, api, "prod", "users")).status_code == 200
    server.client("lambda").remove_permission(FunctionName=fn, StatementId="any")
    add_permission(server, fn, "single-char", f"{arn}/pro?/GET/*")
    assert requests.get(url(server, api, "prod", "users")).status_code == 200


def test_rest_api_permission_without_source_arn(server):
    fn = make_fn(server)
    api = rest_api(server, fn)
    add_permission(server, fn, "all")
    assert requests.get(url(server, api, "prod", "users")).status_code == 200


def test_http_api_needs_permission(server):
    fn = make_fn(server)
    v2 = server.client("apigatewayv2")
    api = v2.create_api(Name="q", ProtocolType="HTTP", Target=fn)["ApiId"]
    base = f"{server.endpoint}/restapis/{api}/$default/_user_request_"
    r = requests.get(f"{base}/users")
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}
    add_permission(server, fn, "wrong", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/*/GET/users")
    assert requests.get(f"{base}/users").status_code == 500
    add_permission(server, fn, "default", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/*/$default")
    r = requests.get(f"{base}/users")
    assert r.status_code == 200 and r.json() == {"ok": True}
    server.client("lambda").remove_permission(FunctionName=fn, StatementId="default")
    assert requests.get(f"{base}/users").status_code == 500


def test_allow_all_mode(server_factory):
    server = server_factory("--apigateway-lambda-permissions", "allow-all")
    fn = make_fn(server)
    api = rest_api(server, fn)
    r = requests.get(url(server, api, "prod", "users"))
    assert r.status_code == 200 and r.json() == {"ok": True}
    api2 = server.client("apigatewayv2").create_api(Name="q", ProtocolType="HTTP", Target=fn)["ApiId"]
    assert requests.get(f"{server.endpoint}/restapis/{api2}/$default/_user_request_/x").status_code == 200


def test_integration_timeout(server):
    fn = make_fn(server)
    add_permission(server, fn, "all")
    api = rest_api(server, fn, timeout=300)
    # Warm the function so the fast call is fast.
    requests.get(url(server, api, "prod", "users"))
    r = requests.get(url(server, api, "prod", "users") + "?sleep=3")
    assert r.status_code == 504 and r.json() == {"message": "Endpoint request timed out"}
    assert r.headers.get("x-amzn-RequestId") and r.headers.get("x-amz-apigw-id")

    v2 = server.client("apigatewayv2")
    a = v2.create_api(Name="t", ProtocolType="HTTP")["ApiId"]
    i = v2.create_integration(ApiId=a, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0",
                              TimeoutInMillis=300)
    v2.create_route(ApiId=a, RouteKey="GET /s", Target=f"integrations/{i['IntegrationId']}")
    v2.create_stage(ApiId=a, StageName="$default", AutoDeploy=True)
    r = requests.get(f"{server.endpoint}/restapis/{a}/$default/_user_request_/s?sleep=3")
    assert r.status_code == 503 and r.json() == {"message": "Service Unavailable"}


def test_payload_limit_and_headers(server):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="big")
    root = api["rootResourceId"]
    apigw.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=root, httpMethod="POST", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=root, httpMethod="POST", statusCode="200",
                                   responseTemplates={"application/json": '{"ok": 1}'})
    apigw.create_deployment(restApiId=api["id"], stageName="s")
    r = requests.post(url(server, api["id"], "s"), data=b"x" * 100)
    assert r.status_code == 200
    assert r.headers.get("x-amzn-RequestId") and r.headers.get("x-amz-apigw-id")
    r = requests.post(url(server, api["id"], "s"), data=b"x" * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.headers.get("x-amzn-RequestId")
    # Errors carry the ids too.
    r = requests.get(url(server, api["id"], "s", "missing"))
    assert r.status_code == 403 and r.headers.get("x-amzn-RequestId") and r.headers.get("x-amz-apigw-id")


def test_http_backend_timeout(server):
    import http.server
    import threading

    release = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            release.wait(5)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    backend = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        apigw = server.client("apigateway")
        api = apigw.create_rest_api(name="slow")
        apigw.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET",
                         authorizationType="NONE")
        apigw.put_integration(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET",
                              type="HTTP_PROXY", integrationHttpMethod="GET", uri=backend, timeoutInMillis=200)
        apigw.create_deployment(restApiId=api["id"], stageName="s")
        r = requests.get(url(server, api["id"], "s"))
        assert r.status_code == 504 and r.json() == {"message": "Endpoint request timed out"}

        v2 = server.client("apigatewayv2")
        a = v2.create_api(Name="slow", ProtocolType="HTTP")["ApiId"]
        i = v2.create_integration(ApiId=a, IntegrationType="HTTP_PROXY", IntegrationUri=backend,
                                  IntegrationMethod="GET", PayloadFormatVersion="1.0", TimeoutInMillis=200)
        v2.create_route(ApiId=a, RouteKey="GET /slow", Target=f"integrations/{i['IntegrationId']}")
        v2.create_stage(ApiId=a, StageName="$default", AutoDeploy=True)
        r = requests.get(f"{server.endpoint}/restapis/{a}/$default/_user_request_/slow")
        assert r.status_code == 503 and r.json() == {"message": "Service Unavailable"}
    finally:
        release.set()
        srv.shutdown()
