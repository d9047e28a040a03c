"""Non-proxy REST integrations against the real binary: AWS (Lambda) and HTTP
integrations with mapping templates (VTL), passthrough behaviours, request/response
parameters, integration-response selection, and MOCK integrations driven by the same
template engine."""

import io
import json
import threading
import zipfile
import http.server

import pytest
import requests

ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

CODE = """
def handler(event, context):
    if event.get('fail'):
        raise Exception('NotFound: no user ' + str(event.get('id')))
    return {'got': event, 'n': 3}
"""

REQUEST_TEMPLATE = """#set($body = $input.path('$'))
{
  "id": "$input.params('id')",
  "q": "$util.escapeJavaScript($input.params('q'))",
  "agent": "$input.params().header.get('X-Agent')",
  "name": $input.json('$.name'),
  "tags": [#foreach($t in $input.path('$.tags'))"$t"#if($foreach.hasNext),#end#end],
  "stage": "$context.stage",
  "table": "$stageVariables.table",
  "fail": #if($input.params('fail') == 'yes')true#{else}false#end
}"""

RESPONSE_TEMPLATE = """#set($g = $input.path('$.got'))
{"user": "$g.id", "name": "$g.name", "tags": $g.tags.size(), "stage": "$g.stage", "table": "$g.table", "agent": "$g.agent", "q": "$util.escapeJavaScript($g.q)"}"""

ERROR_TEMPLATE = """{"error": "$input.path('$.errorMessage')"}"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def url(server, api_id, stage, path=""):
    return f"{server.endpoint}/restapis/{api_id}/{stage}/_user_request_/{path}"


def lambda_uri(fn_arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations"


@pytest.fixture
def fn(server):
    lam = server.client("lambda")
    arn = lam.create_function(FunctionName="mapped", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                              Code={"ZipFile": make_zip({"index.py": CODE})})["FunctionArn"]
    lam.add_permission(FunctionName=arn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*/*")
    return arn


def resource(apigw, api, path_part, parent=None):
    return apigw.create_resource(restApiId=api["id"], parentId=parent or api["rootResourceId"], pathPart=path_part)


def test_lambda_integration_with_templates(server, fn):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="mapped")
    users = resource(apigw, api, "users")
    uid = resource(apigw, api, "{id}", users["id"])
    rid = uid["id"]
    apigw.put_method(restApiId=api["id"], resourceId=rid, httpMethod="POST", authorizationType="NONE",
                     requestParameters={"method.request.path.id": True})
    apigw.put_integration(restApiId=api["id"], resourceId=rid, httpMethod="POST", type="AWS",
                          integrationHttpMethod="POST", uri=lambda_uri(fn), passthroughBehavior="NEVER",
                          requestTemplates={"application/json": REQUEST_TEMPLATE})
    apigw.put_method_response(restApiId=api["id"], resourceId=rid, httpMethod="POST", statusCode="200",
                              responseParameters={"method.response.header.X-Count": False,
                                                  "method.response.header.X-Kind": False})
    apigw.put_method_response(restApiId=api["id"], resourceId=rid, httpMethod="POST", statusCode="404")
    apigw.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="POST", statusCode="200",
                                   responseTemplates={"application/json": RESPONSE_TEMPLATE},
                                   responseParameters={"method.response.header.X-Count": "integration.response.body.n",
                                                       "method.response.header.X-Kind": "'user'"})
    apigw.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="POST", statusCode="404",
                                   selectionPattern="NotFound:.*",
                                   responseTemplates={"application/json": ERROR_TEMPLATE})
    apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"table": "Users"})

    r = requests.post(url(server, api["id"], "prod", "users/42") + "?q=a%22b",
                      json={"name": "Ann", "tags": ["x", "y", "z"]}, headers={"X-Agent": "tester"})
    assert r.status_code == 200, r.text
    assert r.json() == {"user": "42", "name": "Ann", "tags": 3, "stage": "prod", "table": "Users",
                        "agent": "tester", "q": 'a"b'}
    assert r.headers["X-Count"] == "3" and r.headers["X-Kind"] == "user"
    assert r.headers["Content-Type"] == "application/json"

    r = requests.post(url(server, api["id"], "prod", "users/7") + "?fail=yes", json={"name": "B", "tags": []})
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "NotFound: no user 7"}

    # passthroughBehavior NEVER: a content type without a template is refused.
    r = requests.post(url(server, api["id"], "prod", "users/7"), data="a=b",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and r.json() == {"message": "Unsupported Media Type"}


def test_passthrough_behaviours(server, fn):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="pass")
    cases = {"match": ("WHEN_NO_MATCH", {"application/json": '{"templated": true}'}),
             "templates": ("WHEN_NO_TEMPLATES", {"application/json": '{"templated": true}'}),
             "none": ("WHEN_NO_TEMPLATES", None)}
    for part, (behaviour, templates) in cases.items():
        res = resource(apigw, api, part)
        apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="POST", authorizationType="NONE")
        extra = {"requestTemplates": templates} if templates else {}
        apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="POST", type="AWS",
                              integrationHttpMethod="POST", uri=lambda_uri(fn), passthroughBehavior=behaviour,
                              **extra)
        apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="POST",
                                       statusCode="200")
    apigw.create_deployment(restApiId=api["id"], stageName="s")

    # A matching template maps; no matching template passes the body through as is.
    r = requests.post(url(server, api["id"], "s", "match"), json={"raw": 1})
    assert r.status_code == 200 and r.json()["got"] == {"templated": True}
    r = requests.post(url(server, api["id"], "s", "match"), data='{"raw": 2}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["got"] == {"raw": 2}
    r = requests.post(url(server, api["id"], "s", "templates"), data='{"raw": 3}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json() == {"message": "Unsupported Media Type"}
    r = requests.post(url(server, api["id"], "s", "none"), data='{"raw": 4}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["got"] == {"raw": 4}


@pytest.fixture
def backend():
    class H(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            status = 404 if "missing" in self.path else 201
            out = json.dumps({"method": self.command, "path": self.path, "body": body,
                              "h": self.headers.get("X-Mapped"), "agent": self.headers.get("X-Agent")}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Backend", "b1")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_http_integration(server, backend):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="http")
    items = resource(apigw, api, "items")
    item = resource(apigw, api, "{id}", items["id"])
    rid = item["id"]
    apigw.put_method(restApiId=api["id"], resourceId=rid, httpMethod="PUT", authorizationType="NONE",
                     requestParameters={"method.request.path.id": True, "method.request.querystring.v": False,
                                        "method.request.header.X-Agent": False})
    apigw.put_integration(restApiId=api["id"], resourceId=rid, httpMethod="PUT", type="HTTP",
                          integrationHttpMethod="POST", uri=backend + "/backend/{bid}",
                          requestParameters={"integration.request.path.bid": "method.request.path.id",
                                             "integration.request.querystring.version": "method.request.querystring.v",
                                             "integration.request.header.X-Mapped": "'fixed'",
                                             "integration.request.header.X-Agent": "method.request.header.X-Agent"},
                          requestTemplates={"application/json": '{"wrapped": $input.json(\'$\')}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="PUT", statusCode="200",
                                   selectionPattern="2\\d\\d",
                                   responseParameters={"method.response.header.X-From": "integration.response.header.X-Backend"})
    apigw.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="PUT", statusCode="400",
                                   selectionPattern="4\\d\\d",
                                   responseTemplates={"application/json": '{"missing": "$input.path(\'$.path\')"}'})
    apigw.create_deployment(restApiId=api["id"], stageName="s")

    r = requests.put(url(server, api["id"], "s", "items/i-1") + "?v=2&other=x", json={"a": 1},
                     headers={"X-Agent": "ag"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["method"] == "POST" and got["path"] == "/backend/i-1?version=2"
    assert json.loads(got["body"]) == {"wrapped": {"a": 1}}
    assert got["h"] == "fixed" and got["agent"] == "ag"
    assert r.headers["X-From"] == "b1"

    r = requests.put(url(server, api["id"], "s", "items/missing"), json={})
    assert r.status_code == 400 and r.json() == {"missing": "/backend/missing"}


def test_mock_uses_templates(server):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="mock")
    res = resource(apigw, api, "m")
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json":
                                            '#if($input.params(\'fail\') == \'yes\'){"statusCode": 503}#else{"statusCode": 200}#end'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json":
                                                      '{"id": "$context.requestId", "stage": "$context.stage", "method": "$context.httpMethod", "path": "$context.resourcePath"}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode="500",
                                   selectionPattern="5\\d\\d",
                                   responseTemplates={"application/json":
                                                      '#set($context.responseOverride.status = 418)#set($context.responseOverride.header.X-Why = "teapot"){"down": true}'})
    apigw.create_deployment(restApiId=api["id"], stageName="dev")
    r = requests.get(url(server, api["id"], "dev", "m"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stage"] == "dev" and body["method"] == "GET" and body["path"] == "/m"
    assert body["id"] == r.headers["x-amzn-RequestId"]
    r = requests.get(url(server, api["id"], "dev", "m") + "?fail=yes")
    assert r.status_code == 418 and r.json() == {"down": True} and r.headers["X-Why"] == "teapot"


def test_import_openapi_with_aws_integration(server, fn):
    doc = {
        "openapi": "3.0.1",
        "info": {"title": "mapped-import", "version": "1"},
        "paths": {"/hello/{name}": {"get": {
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "aws", "httpMethod": "POST", "uri": lambda_uri(fn),
                "passthroughBehavior": "when_no_templates",
                "requestTemplates": {"application/json": '{"id": "$input.params(\'name\')"}'},
                "responses": {"default": {"statusCode": "200",
                                          "responseTemplates": {"application/json": '{"hello": "$input.path(\'$.got.id\')"}'}}},
            }}}},
    }
    apigw = server.client("apigateway")
    api = apigw.import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=True)
    apigw.create_deployment(restApiId=api["id"], stageName="v1")
    r = requests.get(url(server, api["id"], "v1", "hello/world"))
    assert r.status_code == 200, r.text
    assert r.json() == {"hello": "world"}
    out = apigw.get_export(restApiId=api["id"], stageName="v1", exportType="oas30",
                           parameters={"extensions": "integrations"})
    x = json.loads(out["body"].read())["paths"]["/hello/{name}"]["get"]["x-amazon-apigateway-integration"]
    assert x["type"] == "aws" and "requestTemplates" in x


def test_update_and_delete_integration_and_responses(server):
    apigw = server.client("apigateway")
    api = apigw.create_rest_api(name="upd")
    res = resource(apigw, api, "u")
    rid = res["id"]
    apigw.put_method(restApiId=api["id"], resourceId=rid, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=rid, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200")
    apigw.put_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"v": 1}'})
    apigw.create_deployment(restApiId=api["id"], stageName="s")
    assert requests.get(url(server, api["id"], "s", "u")).json() == {"v": 1}

    ir = apigw.update_integration_response(
        restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200",
        patchOperations=[{"op": "replace", "path": "/responseTemplates/application~1json", "value": '{"v": 2}'},
                         {"op": "add", "path": "/responseParameters/method.response.header.X-V", "value": "'2'"}])
    assert ir["responseTemplates"] == {"application/json": '{"v": 2}'}
    mr = apigw.update_method_response(
        restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200",
        patchOperations=[{"op": "add", "path": "/responseParameters/method.response.header.X-V", "value": "false"}])
    assert mr["responseParameters"] == {"method.response.header.X-V": False}
    integ = apigw.update_integration(
        restApiId=api["id"], resourceId=rid, httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/requestTemplates/application~1json", "value": '{"statusCode": 201}'},
                         {"op": "replace", "path": "/timeoutInMillis", "value": "1000"}])
    assert integ["timeoutInMillis"] == 1000 and integ["requestTemplates"]["application/json"] == '{"statusCode": 201}'
    apigw.create_deployment(restApiId=api["id"], stageName="s")
    r = requests.get(url(server, api["id"], "s", "u"))
    assert r.status_code == 200 and r.json() == {"v": 2} and r.headers["X-V"] == "2"

    with pytest.raises(Exception) as e:
        apigw.update_integration(restApiId=api["id"], resourceId=rid, httpMethod="GET",
                                 patchOperations=[{"op": "replace", "path": "/passthroughBehavior", "value": "SOMETIMES"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(Exception) as e:
        apigw.update_integration(restApiId=api["id"], resourceId=rid, httpMethod="GET",
                                 patchOperations=[{"op": "replace", "path": "/nope", "value": "x"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"

    apigw.delete_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200")
    apigw.delete_method_response(restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200")
    with pytest.raises(Exception) as e:
        apigw.get_integration_response(restApiId=api["id"], resourceId=rid, httpMethod="GET", statusCode="200")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    apigw.create_deployment(restApiId=api["id"], stageName="s")
    # No integration response left: API Gateway's configuration error.
    r = requests.get(url(server, api["id"], "s", "u"))
    assert r.status_code == 500 and r.json() == {"message": "Internal server error"}
