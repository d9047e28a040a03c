"""API Gateway OpenAPI support against the real binary: ImportRestApi / PutRestApi
(OpenAPI 3 and Swagger 2, JSON and YAML), GetExport round trips, HTTP API
ImportApi / ReimportApi / ExportApi, and AWS's errors for bad documents."""

import io
import json
import zipfile

import pytest
import requests
import yaml
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = """
import json

def handler(event, context):
    if event.get('version') == '2.0':
        return {'statusCode': 200, 'body': json.dumps({'v': 2, 'routeKey': event['routeKey'],
                                                       'path': event['rawPath']})}
    return {
        'statusCode': 200,
        'headers': {'Content-Type': 'application/json'},
        'body': json.dumps({'resource': event['resource'], 'path': event['path'],
                            'method': event['httpMethod'], 'params': event['pathParameters']}),
    }
"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def lambda_uri(fn_arn, region="us-east-1"):
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{fn_arn}/invocations"


def url(server, api_id, stage, path=""):
    return f"{server.endpoint}/restapis/{api_id}/{stage}/_user_request_/{path}"


def grant(server, fn, api_id):
    """Lets API Gateway invoke `fn` from any stage and method of `api_id`, as a real user must."""
    server.client("lambda").add_permission(
        FunctionName=fn, StatementId=f"apigw-{api_id}", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*")


@pytest.fixture
def echo_fn(server):
    lam = server.client("lambda")
    fn = lam.create_function(FunctionName="echo", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                             Code={"ZipFile": make_zip({"index.py": ECHO})})
    return fn["FunctionArn"]


def mock_integration(status="200", body='{"mock": true}'):
    return {
        "type": "mock",
        "passthroughBehavior": "when_no_match",
        "requestTemplates": {"application/json": '{"statusCode": %s}' % status},
        "responses": {"default": {"statusCode": status,
                                  "responseParameters": {"method.response.header.X-Mock": "'yes'"},
                                  "responseTemplates": {"application/json": body}}},
    }


def oas3_doc(fn_arn, title="imported"):
    return {
        "openapi": "3.0.1",
        "info": {"title": title, "description": "from openapi", "version": "1.0"},
        "paths": {
            "/hello": {
                "get": {
                    "responses": {"200": {"description": "ok", "headers": {"X-Mock": {"schema": {"type": "string"}}}}},
                    "x-amazon-apigateway-integration": mock_integration(),
                }
            },
            "/users/{id}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {},
                    "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                        "uri": lambda_uri(fn_arn)},
                }
            },
            "/files/{proxy+}": {
                "x-amazon-apigateway-any-method": {
                    "x-amazon-apigateway-integration": {"type": "AWS_PROXY", "httpMethod": "POST",
                                                        "uri": lambda_uri(fn_arn)},
                }
            },
        },
        "x-amazon-apigateway-binary-media-types": ["image/png"],
    }


SWAGGER_YAML = """
swagger: "2.0"
info:
  title: swaggered
  version: "2"
basePath: /v1
paths:
  /ping:
    get:
      produces: [application/json]
      responses:
        200:
          description: pong
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates:
          application/json: '{"statusCode": 200}'
        responses:
          default:
            statusCode: "200"
            responseTemplates:
              application/json: '{"pong": true}'
  /items/{itemId}:
    post:
      parameters:
        - name: itemId
          in: path
          required: true
          type: string
      responses:
        200:
          description: ok
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: URI
"""


def paths_and_methods(apigw, api_id):
    items = apigw.get_resources(restApiId=api_id)["items"]
    return {r["path"]: sorted((r.get("resourceMethods") or {}).keys()) for r in items}


def test_import_oas3_json_mock_and_lambda(server, echo_fn):
    apigw = server.client("apigateway")
    api = apigw.import_rest_api(body=json.dumps(oas3_doc(echo_fn)).encode(),
                                parameters={"endpointConfigurationTypes": "REGIONAL"})
    assert api["name"] == "imported" and api["description"] == "from openapi"
    assert api["binaryMediaTypes"] == ["image/png"]
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert "warnings" not in api
    assert paths_and_methods(apigw, api["id"]) == {
        "/": [], "/hello": ["GET"], "/users": [], "/users/{id}": ["GET"],
        "/files": [], "/files/{proxy+}": ["ANY"],
    }
    res = {r["path"]: r for r in apigw.get_resources(restApiId=api["id"])["items"]}
    m = apigw.get_method(restApiId=api["id"], resourceId=res["/users/{id}"]["id"], httpMethod="GET")
    assert m["requestParameters"] == {"method.request.path.id": True}
    assert m["methodIntegration"]["type"] == "AWS_PROXY"
    assert m["methodIntegration"]["uri"] == lambda_uri(echo_fn)
    hello = apigw.get_method(restApiId=api["id"], resourceId=res["/hello"]["id"], httpMethod="GET")
    assert hello["methodResponses"]["200"]["responseParameters"] == {"method.response.header.X-Mock": False}
    assert hello["methodIntegration"]["passthroughBehavior"] == "WHEN_NO_MATCH"
    ir = apigw.get_integration_response(restApiId=api["id"], resourceId=res["/hello"]["id"],
                                        httpMethod="GET", statusCode="200")
    assert ir["responseTemplates"] == {"application/json": '{"mock": true}'}

    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    grant(server, echo_fn, api["id"])
    r = requests.get(url(server, api["id"], "prod", "hello"))
    assert r.status_code == 200 and r.json() == {"mock": True} and r.headers["X-Mock"] == "yes"
    r = requests.get(url(server, api["id"], "prod", "users/42"))
    assert r.status_code == 200, r.text
    assert r.json() == {"resource": "/users/{id}", "path": "/users/42", "method": "GET", "params": {"id": "42"}}
    r = requests.delete(url(server, api["id"], "prod", "files/a/b.txt"))
    assert r.status_code == 200
    assert r.json()["resource"] == "/files/{proxy+}" and r.json()["params"] == {"proxy": "a/b.txt"}
    assert requests.get(url(server, api["id"], "prod", "nothing")).status_code == 403


def test_import_swagger2_yaml(server, echo_fn):
    apigw = server.client("apigateway")
    body = SWAGGER_YAML.replace("URI", lambda_uri(echo_fn))
    api = apigw.import_rest_api(body=body.encode(), failOnWarnings=True)
    assert api["name"] == "swaggered" and api["version"] == "2"
    assert api["endpointConfiguration"]["types"] == ["EDGE"]
    assert paths_and_methods(apigw, api["id"]) == {
        "/": [], "/ping": ["GET"], "/items": [], "/items/{itemId}": ["POST"],
    }
    apigw.create_deployment(restApiId=api["id"], stageName="v1")
    grant(server, echo_fn, api["id"])
    r = requests.get(url(server, api["id"], "v1", "ping"))
    assert r.status_code == 200 and r.json() == {"pong": True}
    r = requests.post(url(server, api["id"], "v1", "items/7"), data="{}")
    assert r.status_code == 200 and r.json()["params"] == {"itemId": "7"}


def test_put_rest_api_overwrite_and_merge(server, echo_fn):
    apigw = server.client("apigateway")
    api = apigw.import_rest_api(body=json.dumps(oas3_doc(echo_fn)).encode())
    extra = {
        "openapi": "3.0.1",
        "info": {"title": "second", "version": "2"},
        "paths": {"/extra": {"post": {"x-amazon-apigateway-integration": mock_integration("201", '{"extra": 1}')}},
                  "/hello": {"put": {"x-amazon-apigateway-integration": mock_integration()}}},
    }
    merged = apigw.put_rest_api(restApiId=api["id"], mode="merge", body=json.dumps(extra).encode())
    assert merged["name"] == "imported"
    pm = paths_and_methods(apigw, api["id"])
    assert pm["/extra"] == ["POST"] and pm["/hello"] == ["GET", "PUT"] and pm["/users/{id}"] == ["GET"]
    root_before = api["rootResourceId"]

    over = apigw.put_rest_api(restApiId=api["id"], mode="overwrite", body=json.dumps(extra).encode())
    assert over["name"] == "second" and over["id"] == api["id"]
    assert paths_and_methods(apigw, api["id"]) == {"/": [], "/extra": ["POST"], "/hello": ["PUT"]}
    assert apigw.get_rest_api(restApiId=api["id"])["rootResourceId"] == root_before
    apigw.create_deployment(restApiId=api["id"], stageName="s")
    r = requests.post(url(server, api["id"], "s", "extra"))
    assert r.status_code == 201 and r.json() == {"extra": 1}
    assert requests.get(url(server, api["id"], "s", "users/1")).status_code == 403

    with pytest.raises(ClientError) as e:
        apigw.put_rest_api(restApiId="nope123456", mode="overwrite", body=json.dumps(extra).encode())
    assert e.value.response["Error"]["Code"] == "NotFoundException"


@pytest.mark.parametrize("export_type,accepts", [("oas30", "application/json"), ("swagger", "application/yaml"),
                                                 ("oas30", "application/yaml")])
def test_get_export_round_trip(server, echo_fn, export_type, accepts):
    apigw = server.client("apigateway")
    api = apigw.import_rest_api(body=json.dumps(oas3_doc(echo_fn)).encode())
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    out = apigw.get_export(restApiId=api["id"], stageName="prod", exportType=export_type, accepts=accepts,
                           parameters={"extensions": "integrations"})
    assert out["contentType"] == accepts
    raw = out["body"].read()
    doc = json.loads(raw) if accepts.endswith("json") else yaml.safe_load(raw)
    if export_type == "oas30":
        assert doc["openapi"].startswith("3.0")
    else:
        assert doc["swagger"] == "2.0"
    assert doc["info"]["title"] == "imported"
    assert doc["paths"]["/files/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert doc["x-amazon-apigateway-binary-media-types"] == ["image/png"]

    again = apigw.import_rest_api(body=raw)
    assert again["id"] != api["id"] and again["name"] == "imported"
    assert paths_and_methods(apigw, again["id"]) == paths_and_methods(apigw, api["id"])
    apigw.create_deployment(restApiId=again["id"], stageName="prod")
    grant(server, echo_fn, again["id"])
    r = requests.get(url(server, again["id"], "prod", "hello"))
    assert r.status_code == 200 and r.json() == {"mock": True} and r.headers["X-Mock"] == "yes"
    r = requests.get(url(server, again["id"], "prod", "users/9"))
    assert r.status_code == 200 and r.json()["params"] == {"id": "9"}


def test_get_export_without_extensions_and_errors(server, echo_fn):
    apigw = server.client("apigateway")
    api = apigw.import_rest_api(body=json.dumps(oas3_doc(echo_fn)).encode())
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    doc = json.loads(apigw.get_export(restApiId=api["id"], stageName="prod", exportType="oas30")["body"].read())
    assert "x-amazon-apigateway-integration" not in doc["paths"]["/hello"]["get"]
    assert "200" in doc["paths"]["/hello"]["get"]["responses"]
    with pytest.raises(ClientError) as e:
        apigw.get_export(restApiId=api["id"], stageName="nostage", exportType="oas30")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        apigw.get_export(restApiId=api["id"], stageName="prod", exportType="raml")
    assert e.value.response["Error"]["Code"] == "BadRequestException"


@pytest.mark.parametrize("body", [b"not: [valid", b"{}", b'{"openapi": "2.5", "paths": {}}', b"[1, 2]",
                                  b'{"swagger": "2.0", "info": {"title": "x"}, "paths": 5}'])
def test_malformed_documents(server, body):
    apigw = server.client("apigateway")
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=body)
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert e.value.response["Error"]["Message"] == "Invalid OpenAPI input."
    assert apigw.get_rest_apis()["items"] == []


def test_warnings_and_import_errors(server):
    apigw = server.client("apigateway")
    doc = {
        "openapi": "3.0.1",
        "info": {"title": "warned", "version": "1"},
        "components": {"securitySchemes": {"k": {"type": "apiKey", "name": "x-api-key", "in": "header"}}},
        "paths": {"/a": {"get": {"x-amazon-apigateway-integration": mock_integration()}}},
    }
    api = apigw.import_rest_api(body=json.dumps(doc).encode())
    assert api["warnings"] and "securitySchemes" in api["warnings"][0]
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=True)
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert e.value.response["Error"]["Message"].startswith("Warnings found during import:")
    assert len(apigw.get_rest_apis()["items"]) == 1

    bad = {"openapi": "3.0.1", "info": {"title": "bad", "version": "1"},
           "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "nope"}}}}}
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=json.dumps(bad).encode())
    assert e.value.response["Error"]["Message"].startswith("Errors found during import:")
    bad_path = {"openapi": "3.0.1", "info": {"title": "bad", "version": "1"},
                "paths": {"/{proxy+}/child": {"get": {}}}}
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=json.dumps(bad_path).encode())
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert len(apigw.get_rest_apis()["items"]) == 1


# ---------------------------------------------------------------- HTTP APIs

def http_doc(fn_arn, title="httpimported"):
    return {
        "openapi": "3.0.1",
        "info": {"title": title, "version": "1.0"},
        "paths": {
            "/users/{id}": {
                "get": {"x-amazon-apigateway-integration": {
                    "type": "aws_proxy", "httpMethod": "POST", "uri": fn_arn, "payloadFormatVersion": "2.0"}},
            },
            "/users": {
                "post": {"x-amazon-apigateway-integration": {
                    "type": "aws_proxy", "httpMethod": "POST", "uri": fn_arn, "payloadFormatVersion": "2.0"}},
            },
            "/v1/{proxy+}": {
                "x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
                    "type": "aws_proxy", "httpMethod": "POST", "uri": lambda_uri(fn_arn),
                    "payloadFormatVersion": "1.0"}},
            },
        },
    }


def test_http_api_import_export_reimport(server, echo_fn):
    v2 = server.client("apigatewayv2")
    api = v2.import_api(Body=json.dumps(http_doc(echo_fn)))
    assert api["Name"] == "httpimported" and api["ProtocolType"] == "HTTP"
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert sorted(routes) == ["ANY /v1/{proxy+}", "GET /users/{id}", "POST /users"]
    integs = v2.get_integrations(ApiId=api["ApiId"])["Items"]
    assert sorted(i["PayloadFormatVersion"] for i in integs) == ["1.0", "2.0"]
    v2.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    grant(server, echo_fn, api["ApiId"])
    base = f"{server.endpoint}/restapis/{api['ApiId']}/$default/_user_request_"
    r = requests.get(f"{base}/users/5")
    assert r.status_code == 200 and r.json() == {"v": 2, "routeKey": "GET /users/{id}", "path": "/users/5"}
    r = requests.put(f"{base}/v1/x/y")
    assert r.status_code == 200 and r.json()["resource"] == "/v1/{proxy+}"

    for out_type, load in (("JSON", json.loads), ("YAML", yaml.safe_load)):
        out = v2.export_api(ApiId=api["ApiId"], OutputType=out_type, Specification="OAS30")
        doc = load(out["body"].read())
        assert doc["openapi"].startswith("3.0") and doc["info"]["title"] == "httpimported"
        x = doc["paths"]["/users/{id}"]["get"]["x-amazon-apigateway-integration"]
        assert x["type"] == "aws_proxy" and x["payloadFormatVersion"] == "2.0" and x["uri"] == echo_fn
        assert "x-amazon-apigateway-any-method" in doc["paths"]["/v1/{proxy+}"]
    plain = json.loads(v2.export_api(ApiId=api["ApiId"], OutputType="JSON", Specification="OAS30",
                                     IncludeExtensions=False)["body"].read())
    assert "x-amazon-apigateway-integration" not in plain["paths"]["/users"]["post"]

    # Export → import as a new API gives the same routes.
    copy = v2.import_api(Body=json.dumps(doc))
    assert sorted(r["RouteKey"] for r in v2.get_routes(ApiId=copy["ApiId"])["Items"]) == sorted(routes)

    # Reimport replaces the routes.
    smaller = http_doc(echo_fn, title="renamed")
    del smaller["paths"]["/users"]
    re = v2.reimport_api(ApiId=api["ApiId"], Body=yaml.safe_dump(smaller))
    assert re["Name"] == "renamed" and re["ApiId"] == api["ApiId"]
    assert sorted(r["RouteKey"] for r in v2.get_routes(ApiId=api["ApiId"])["Items"]) == [
        "ANY /v1/{proxy+}", "GET /users/{id}"]
    assert requests.post(f"{base}/users").status_code == 404
    assert requests.get(f"{base}/users/6").status_code == 200


def test_http_api_import_errors(server, echo_fn):
    v2 = server.client("apigatewayv2")
    with pytest.raises(ClientError) as e:
        v2.import_api(Body="{{{ not yaml")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert e.value.response["Error"]["Message"] == "Invalid OpenAPI input."
    doc = http_doc(echo_fn)
    doc["paths"]["/users"]["post"]["x-amazon-apigateway-integration"]["payloadFormatVersion"] = "3.0"
    with pytest.raises(ClientError) as e:
        v2.import_api(Body=json.dumps(doc))
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        v2.reimport_api(ApiId="missing123", Body=json.dumps(http_doc(echo_fn)))
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    assert v2.get_apis()["Items"] == []
