"""Stage access logs (AccessLogSettings) written to CloudWatch Logs, read back with
FilterLogEvents, for REST and HTTP APIs, against the real binary."""

import json
import time

import pytest
import requests
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"


def url(server, api_id, stage, path=""):
    return f"{server.endpoint}/restapis/{api_id}/{stage}/_user_request_/{path}"


def log_lines(logs, group, want, timeout=10.0):
    """Polls the group until it holds `want` events (or the deadline passes)."""
    deadline = time.time() + timeout
    events = []
    while time.time() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]
        except ClientError:
            events = []
        if len(events) >= want:
            break
        time.sleep(0.05)
    return [e["message"] for e in events]


def mock_api(apigw):
    api = apigw.create_rest_api(name="logged")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="items")
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=res["id"], httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"ok": true}'})
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    return api["id"]


def test_rest_access_logs_json_and_clf(server):
    apigw, logs = server.client("apigateway"), server.client("logs")
    api = mock_api(apigw)
    logs.create_log_group(logGroupName="/apigw/access")
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/apigw/access"
    fmt = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod",'
           '"resource":"$context.resourcePath","status":"$context.status","len":"$context.responseLength",'
           '"stage":"$context.stage","error":"$context.error.message","caller":"$context.identity.caller"}')
    st = apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": arn},
        {"op": "replace", "path": "/accessLogSettings/format", "value": fmt}])
    assert st["accessLogSettings"] == {"destinationArn": arn, "format": fmt}
    assert apigw.get_stage(restApiId=api, stageName="prod")["accessLogSettings"]["format"] == fmt

    ok = requests.get(url(server, api, "prod", "items"))
    assert ok.status_code == 200
    missing = requests.get(url(server, api, "prod", "nothing"))
    assert missing.status_code == 403
    lines = [json.loads(m) for m in log_lines(logs, "/apigw/access", 2)]
    assert len(lines) == 2
    by_id = {l["requestId"]: l for l in lines}
    first = by_id[ok.headers["x-amzn-RequestId"]]
    assert first == {"requestId": ok.headers["x-amzn-RequestId"], "ip": "127.0.0.1", "method": "GET",
                     "resource": "/items", "status": "200", "len": str(len(ok.content)), "stage": "prod",
                     "error": "-", "caller": "-"}
    second = by_id[missing.headers["x-amzn-RequestId"]]
    assert second["status"] == "403" and second["error"] == "Missing Authentication Token"

    # Common Log Format, as the console offers it.
    clf = ('$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] '
           '"$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength $context.requestId')
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/format", "value": clf}])
    r = requests.get(url(server, api, "prod", "items"))
    lines = log_lines(logs, "/apigw/access", 3)
    clf_line = [l for l in lines if not l.startswith("{")]
    assert len(clf_line) == 1
    assert clf_line[0].startswith("127.0.0.1 - - [")
    assert clf_line[0].endswith(f'"GET /items HTTP/1.1" 200 {len(r.content)} {r.headers["x-amzn-RequestId"]}')

    # Removing the settings stops the logs.
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[{"op": "remove", "path": "/accessLogSettings"}])
    assert "accessLogSettings" not in apigw.get_stage(restApiId=api, stageName="prod")
    unlogged = requests.get(url(server, api, "prod", "items"))
    # Turn logging back on: once the next request's line is there, the unlogged one
    # would have been written before it.
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": arn},
        {"op": "replace", "path": "/accessLogSettings/format", "value": "marker $context.requestId"}])
    marker = requests.get(url(server, api, "prod", "items"))
    lines = log_lines(logs, "/apigw/access", 4)
    assert f"marker {marker.headers['x-amzn-RequestId']}" in lines
    assert len(lines) == 4 and not any(unlogged.headers["x-amzn-RequestId"] in l for l in lines)


def test_access_log_settings_are_validated(server):
    apigw = server.client("apigateway")
    api = mock_api(apigw)
    with pytest.raises(ClientError) as e:
        apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": "arn:aws:s3:::bucket"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.status"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert "requestId" in e.value.response["Error"]["Message"]
    v2 = server.client("apigatewayv2")
    a = v2.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ClientError) as e:
        v2.create_stage(ApiId=a, StageName="s", AccessLogSettings={
            "DestinationArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:g", "Format": "$context.status\nx"})
    assert e.value.response["Error"]["Code"] == "BadRequestException"


def test_http_api_access_logs(server):
    v2, logs = server.client("apigatewayv2"), server.client("logs")
    logs.create_log_group(logGroupName="http-access")
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:http-access:*"
    a = v2.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    fmt = '<log><id>$context.requestId</id><route>$context.routeKey</route><status>$context.status</status></log>'
    st = v2.create_stage(ApiId=a, StageName="$default", AutoDeploy=True,
                         AccessLogSettings={"DestinationArn": arn, "Format": fmt})
    assert st["AccessLogSettings"] == {"DestinationArn": arn, "Format": fmt}
    r = requests.get(f"{server.endpoint}/restapis/{a}/$default/_user_request_/nothing")
    assert r.status_code == 404
    lines = log_lines(logs, "http-access", 1)
    assert lines == [f"<log><id>{r.headers['x-amzn-RequestId']}</id><route>-</route><status>404</status></log>"]
    csv = "$context.requestId,$context.httpMethod,$context.status"
    v2.update_stage(ApiId=a, StageName="$default", AccessLogSettings={"DestinationArn": arn, "Format": csv})
    r = requests.post(f"{server.endpoint}/restapis/{a}/$default/_user_request_/x")
    lines = log_lines(logs, "http-access", 2)
    assert f"{r.headers['x-amzn-RequestId']},POST,404" in lines
