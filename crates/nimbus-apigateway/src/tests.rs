//! Unit tests: routing precedence, proxy events and response mapping, with a mock invoker.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Request;
use nimbus_protocol::{BoxFuture, Input};
use nimbus_store::Store;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Value};

use crate::data::{function_of_uri, match_path, parse_target};
use crate::event::{structured_response, v2_response};
use crate::{ApiGateway, FunctionInvoker, FunctionPolicy, Invocation, LambdaPermissions};

/// Records the events it gets and answers a fixed payload; `policy` is what
/// GetPolicy answers (`None`: the function has no policy) at revision `revision`.
struct Mock {
    events: Mutex<Vec<(String, Value)>>,
    answer: Mutex<(Bytes, Option<String>)>,
    policy: Mutex<(Option<String>, u32)>,
}

/// A policy statement as `aws lambda add-permission --principal apigateway.amazonaws.com` writes it.
fn grant(source_arn: Option<&str>) -> String {
    let mut st = json!({"Sid": "apigw", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": FN});
    if let Some(arn) = source_arn {
        st["Condition"] = json!({"ArnLike": {"AWS:SourceArn": arn}});
    }
    json!({"Version": "2012-10-17", "Id": "default", "Statement": [st]}).to_string()
}

impl FunctionInvoker for Mock {
    fn invoke<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        function: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invocation, AwsError>> {
        Box::pin(async move {
            let ev: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            self.events.lock().unwrap().push((function.to_string(), ev));
            let (payload, function_error) = self.answer.lock().unwrap().clone();
            Ok(Invocation {
                payload,
                function_error,
            })
        })
    }

    fn policy<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FunctionPolicy, AwsError>> {
        Box::pin(async move {
            let (policy, revision) = self.policy.lock().unwrap().clone();
            policy
                .map(|policy| FunctionPolicy {
                    policy,
                    revision_id: revision.to_string(),
                })
                .ok_or_else(|| {
                    AwsError::new(
                        404,
                        "ResourceNotFoundException",
                        "The resource you requested does not exist.",
                    )
                })
        })
    }
}

impl Mock {
    fn set_policy(&self, policy: Option<String>) {
        let mut p = self.policy.lock().unwrap();
        *p = (policy, p.1 + 1);
    }
}

/// A function that lets API Gateway invoke it from any API.
fn mock(answer: Value) -> Arc<Mock> {
    Arc::new(Mock {
        events: Mutex::new(Vec::new()),
        answer: Mutex::new((Bytes::from(answer.to_string()), None)),
        policy: Mutex::new((Some(grant(None)), 1)),
    })
}

async fn call(
    h: &Arc<dyn nimbus_protocol::Handler>,
    op: &str,
    value: Value,
) -> Result<Value, AwsError> {
    let op = h.model().operation(op).unwrap();
    assert!(h.implements(op.name), "{}", op.name);
    let ctx = RequestContext::new("000000000000", "us-east-1");
    h.call(
        &ctx,
        op,
        Input {
            value,
            payload: None,
        },
    )
    .await
    .map(|o| o.value)
}

async fn get(
    gw: &ApiGateway,
    uri: &str,
    host: Option<&str>,
    body: &str,
) -> (u16, http::HeaderMap, Bytes) {
    let mut b = Request::builder()
        .method(if body.is_empty() { "GET" } else { "POST" })
        .uri(uri)
        .header("user-agent", "test-agent");
    if let Some(h) = host {
        b = b.header("host", h);
    }
    let (parts, _) = b.body(()).unwrap().into_parts();
    let r = gw
        .execute_api()
        .call(parts, Bytes::from(body.to_string()))
        .await;
    (r.status().as_u16(), r.headers().clone(), r.body().clone())
}

const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:users";

fn uri() -> String {
    format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations")
}

#[test]
fn precedence() {
    let segs = ["users", "42"];
    let exact = match_path("/users/42", &segs).unwrap().0;
    let param = match_path("/users/{id}", &segs).unwrap().0;
    let greedy = match_path("/users/{proxy+}", &segs).unwrap().0;
    let root_greedy = match_path("/{proxy+}", &segs).unwrap().0;
    assert!(exact > param && param > greedy && greedy > root_greedy);
    assert!(match_path("/{proxy+}", &[]).is_none());
    assert!(match_path("/", &[]).is_some());
    assert!(match_path("/users", &segs).is_none());
    assert_eq!(
        match_path("/users/{id}", &["users", "a%20b"]).unwrap().1["id"],
        "a b"
    );
}

#[test]
fn uris_and_targets() {
    assert_eq!(function_of_uri(&uri()).as_deref(), Some(FN));
    assert_eq!(function_of_uri(FN).as_deref(), Some(FN));
    assert_eq!(function_of_uri("http://example.com"), None);
    let (p, _) = Request::builder()
        .uri("/restapis/abc/prod/_user_request_/x/y")
        .body(())
        .unwrap()
        .into_parts();
    let t = parse_target(&p).unwrap();
    assert_eq!(
        (t.api_id.as_str(), t.stage.as_deref(), t.path.as_str()),
        ("abc", Some("prod"), "/x/y")
    );
    let (p, _) = Request::builder()
        .uri("/prod/x")
        .header("host", "abc.execute-api.localhost:4566")
        .body(())
        .unwrap()
        .into_parts();
    let t = parse_target(&p).unwrap();
    assert_eq!(
        (t.api_id.as_str(), t.stage, t.path.as_str()),
        ("abc", None, "/prod/x")
    );
}

#[test]
fn response_mapping() {
    let r = structured_response(&json!({"statusCode": 201, "headers": {"a": "1", "n": 2}, "multiValueHeaders": {"m": ["x", "y"]}, "body": "hi"})).unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["a"], "1");
    assert_eq!(r.headers()["n"], "2");
    assert_eq!(r.headers().get_all("m").iter().count(), 2);
    assert_eq!(r.body().as_ref(), b"hi");
    let r =
        structured_response(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}))
            .unwrap();
    assert_eq!(r.body().as_ref(), b"hi");
    assert!(structured_response(&json!({"body": "x"})).is_none());
    assert!(structured_response(&json!({"statusCode": 200, "body": {"a": 1}})).is_none());
    assert!(structured_response(&json!("str")).is_none());
    let r = v2_response(br#"{"a": 1}"#).unwrap();
    assert_eq!(
        (r.status().as_u16(), r.body().as_ref()),
        (200, br#"{"a":1}"#.as_ref())
    );
    let r = v2_response(br#""plain""#).unwrap();
    assert_eq!(r.body().as_ref(), b"plain");
    let r = v2_response(br#"{"statusCode": 404, "cookies": ["c=1"]}"#).unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["set-cookie"], "c=1");
}

#[tokio::test]
async fn rest_proxy_event_and_errors() {
    let m = mock(json!({"statusCode": 200, "headers": {"X-A": "b"}, "body": "ok"}));
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.rest_apis();
    let api = call(&h, "CreateRestApi", json!({"name": "a"}))
        .await
        .unwrap();
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let users = call(
        &h,
        "CreateResource",
        json!({"restApiId": id, "parentId": root, "pathPart": "users"}),
    )
    .await
    .unwrap();
    let uid = call(
        &h,
        "CreateResource",
        json!({"restApiId": id, "parentId": users["id"], "pathPart": "{id}"}),
    )
    .await
    .unwrap();
    let rid = uid["id"].as_str().unwrap();
    call(&h, "PutMethod", json!({"restApiId": id, "resourceId": rid, "httpMethod": "ANY", "authorizationType": "NONE"})).await.unwrap();
    call(&h, "PutIntegration", json!({"restApiId": id, "resourceId": rid, "httpMethod": "ANY", "type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": uri()}))
        .await
        .unwrap();
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "prod", "variables": {"v": "1"}}),
    )
    .await
    .unwrap();

    let (status, headers, body) = get(
        &gw,
        &format!("/restapis/{id}/prod/_user_request_/users/7?q=1&q=2"),
        None,
        "{\"x\":1}",
    )
    .await;
    assert_eq!((status, body.as_ref()), (200, b"ok".as_ref()));
    assert_eq!(headers["x-a"], "b");
    assert!(headers.contains_key("x-amz-apigw-id"));
    let (f, ev) = m.events.lock().unwrap().pop().unwrap();
    assert_eq!(f, FN);
    assert_eq!(ev["resource"], "/users/{id}");
    assert_eq!(ev["path"], "/users/7");
    assert_eq!(ev["httpMethod"], "POST");
    assert_eq!(ev["pathParameters"], json!({"id": "7"}));
    assert_eq!(ev["queryStringParameters"], json!({"q": "2"}));
    assert_eq!(
        ev["multiValueQueryStringParameters"],
        json!({"q": ["1", "2"]})
    );
    assert_eq!(ev["stageVariables"], json!({"v": "1"}));
    assert_eq!(ev["headers"]["User-Agent"], "test-agent");
    assert_eq!(ev["multiValueHeaders"]["User-Agent"], json!(["test-agent"]));
    assert_eq!(ev["body"], "{\"x\":1}");
    assert_eq!(ev["isBase64Encoded"], false);
    let ctx = &ev["requestContext"];
    assert_eq!(ctx["path"], "/prod/users/7");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["resourceId"], rid);
    assert_eq!(ctx["resourcePath"], "/users/{id}");
    assert_eq!(ctx["accountId"], "000000000000");
    assert_eq!(ctx["apiId"], id.as_str());
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["identity"]["userAgent"], "test-agent");
    assert_eq!(ctx["protocol"], "HTTP/1.1");
    assert!(ctx["requestTimeEpoch"].is_i64());
    assert!(ctx["requestTime"].as_str().unwrap().ends_with(" +0000"));

    // Host form.
    let (status, _, _) = get(
        &gw,
        "/prod/users/8",
        Some(&format!("{id}.execute-api.localhost:4566")),
        "",
    )
    .await;
    assert_eq!(status, 200);
    // Missing route.
    let (status, _, body) = get(
        &gw,
        &format!("/restapis/{id}/prod/_user_request_/nope"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"message": "Missing Authentication Token"})
    );
    // Function error and malformed response → 502.
    *m.answer.lock().unwrap() = (
        Bytes::from_static(b"{\"errorMessage\":\"x\"}"),
        Some("Unhandled".into()),
    );
    let (status, _, body) = get(
        &gw,
        &format!("/restapis/{id}/prod/_user_request_/users/7"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"message": "Internal server error"})
    );
    *m.answer.lock().unwrap() = (Bytes::from_static(b"{\"body\":1}"), None);
    let (status, _, _) = get(
        &gw,
        &format!("/restapis/{id}/prod/_user_request_/users/7"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn http_api_v2_event() {
    let m = mock(json!({"ok": true}));
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.http_apis();
    let api = call(
        &h,
        "CreateApi",
        json!({"Name": "q", "ProtocolType": "HTTP", "Target": FN}),
    )
    .await
    .unwrap();
    let id = api["ApiId"].as_str().unwrap().to_string();
    let integ = call(&h, "CreateIntegration", json!({"ApiId": id, "IntegrationType": "AWS_PROXY", "IntegrationUri": FN, "PayloadFormatVersion": "2.0"}))
        .await
        .unwrap();
    call(&h, "CreateRoute", json!({"ApiId": id, "RouteKey": "GET /users/{id}", "Target": format!("integrations/{}", integ["IntegrationId"].as_str().unwrap())}))
        .await
        .unwrap();
    let (status, _, body) = get(
        &gw,
        "/users/5?a=1&a=2&b=x",
        Some(&format!("{id}.execute-api.localhost")),
        "",
    )
    .await;
    assert_eq!((status, body.as_ref()), (200, br#"{"ok":true}"#.as_ref()));
    let (_, ev) = m.events.lock().unwrap().pop().unwrap();
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["routeKey"], "GET /users/{id}");
    assert_eq!(ev["rawPath"], "/users/5");
    assert_eq!(ev["rawQueryString"], "a=1&a=2&b=x");
    assert_eq!(ev["queryStringParameters"], json!({"a": "1,2", "b": "x"}));
    assert_eq!(ev["pathParameters"], json!({"id": "5"}));
    assert_eq!(ev["headers"]["user-agent"], "test-agent");
    assert_eq!(ev["requestContext"]["http"]["method"], "GET");
    assert_eq!(ev["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ev["requestContext"]["stage"], "$default");
    assert_eq!(ev["isBase64Encoded"], false);
    assert!(ev.get("body").is_none() && ev.get("cookies").is_none());
    // Anything else goes to the quick-create $default route.
    let (status, _, _) = get(
        &gw,
        "/other",
        Some(&format!("{id}.execute-api.localhost")),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        m.events.lock().unwrap().pop().unwrap().1["routeKey"],
        "$default"
    );
}

#[tokio::test]
async fn binary_bodies_and_mock() {
    let m = mock(
        json!({"statusCode": 200, "body": "AAEC", "isBase64Encoded": true, "headers": {"Content-Type": "application/octet-stream"}}),
    );
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.rest_apis();
    let api = call(
        &h,
        "CreateRestApi",
        json!({"name": "b", "binaryMediaTypes": ["application/octet-stream"]}),
    )
    .await
    .unwrap();
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    call(&h, "PutMethod", json!({"restApiId": id, "resourceId": root, "httpMethod": "POST", "authorizationType": "NONE"})).await.unwrap();
    call(&h, "PutIntegration", json!({"restApiId": id, "resourceId": root, "httpMethod": "POST", "type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": uri()}))
        .await
        .unwrap();
    call(&h, "PutMethod", json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "authorizationType": "NONE"})).await.unwrap();
    call(
        &h,
        "PutIntegration",
        json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "type": "MOCK"}),
    )
    .await
    .unwrap();
    call(
        &h,
        "PutIntegrationResponse",
        json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "statusCode": "204",
        "responseParameters": {"method.response.header.Access-Control-Allow-Origin": "'*'"}}),
    )
    .await
    .unwrap();
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "s"}),
    )
    .await
    .unwrap();

    let mut b = Request::builder()
        .method("POST")
        .uri(format!("/restapis/{id}/s/_user_request_/"));
    b = b.header("content-type", "application/octet-stream");
    let (parts, _) = b.body(()).unwrap().into_parts();
    let r = gw
        .execute_api()
        .call(parts, Bytes::from_static(&[0xff, 0x00, 0x01]))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.body().as_ref(), &[0u8, 1, 2]);
    let (_, ev) = m.events.lock().unwrap().pop().unwrap();
    assert_eq!(ev["isBase64Encoded"], true);
    assert_eq!(ev["body"], "/wAB");
    assert_eq!(ev["resource"], "/");
    assert_eq!(ev["path"], "/");

    let (status, headers, _) =
        get(&gw, &format!("/restapis/{id}/s/_user_request_/"), None, "").await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], "*");
}

async fn call_payload(
    h: &Arc<dyn nimbus_protocol::Handler>,
    op: &str,
    value: Value,
    payload: &str,
) -> Result<nimbus_protocol::Output, AwsError> {
    let op = h.model().operation(op).unwrap();
    assert!(h.implements(op.name), "{}", op.name);
    let ctx = RequestContext::new("000000000000", "us-east-1");
    h.call(
        &ctx,
        op,
        Input {
            value,
            payload: Some(Bytes::from(payload.to_string())),
        },
    )
    .await
}

#[tokio::test]
async fn import_put_and_export_rest_api() {
    let m = mock(json!({"statusCode": 200, "body": "hi"}));
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.rest_apis();
    let doc = format!(
        "openapi: 3.0.1\ninfo:\n  title: imp\npaths:\n  /a/{{id}}:\n    get:\n      x-amazon-apigateway-integration:\n        type: aws_proxy\n        httpMethod: POST\n        uri: {}\n  /m:\n    get:\n      responses:\n        200:\n          description: ok\n      x-amazon-apigateway-integration:\n        type: mock\n        requestTemplates:\n          application/json: '{{\"statusCode\": 200}}'\n        responses:\n          default:\n            statusCode: 200\n            responseTemplates:\n              application/json: '{{\"m\": 1}}'\n",
        uri()
    );
    let api = call_payload(
        &h,
        "ImportRestApi",
        json!({"parameters": {"endpointConfigurationTypes": "REGIONAL"}}),
        &doc,
    )
    .await
    .unwrap()
    .value;
    assert_eq!(api["name"], "imp");
    assert_eq!(api["endpointConfiguration"]["types"], json!(["REGIONAL"]));
    let id = api["id"].as_str().unwrap().to_string();
    let paths = |v: Value| -> Vec<(String, Vec<String>)> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["resourceMethods"]
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default(),
                )
            })
            .collect()
    };
    let got = paths(
        call(&h, "GetResources", json!({"restApiId": id}))
            .await
            .unwrap(),
    );
    assert_eq!(
        got,
        vec![
            ("/".to_string(), vec![]),
            ("/a".to_string(), vec![]),
            ("/a/{id}".to_string(), vec!["GET".to_string()]),
            ("/m".to_string(), vec!["GET".to_string()])
        ]
    );
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "s"}),
    )
    .await
    .unwrap();
    let (status, _, body) = get(&gw, &format!("/restapis/{id}/s/_user_request_/m"), None, "").await;
    assert_eq!((status, body.as_ref()), (200, &b"{\"m\": 1}"[..]));
    let (status, _, _) = get(
        &gw,
        &format!("/restapis/{id}/s/_user_request_/a/9"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        m.events.lock().unwrap().pop().unwrap().1["pathParameters"]["id"],
        "9"
    );

    // Export, then import the export as a new API.
    let op = h.model().operation("GetExport").unwrap();
    let ctx = RequestContext::new("000000000000", "us-east-1");
    let out = h
        .call(&ctx, op, Input { value: json!({"restApiId": id, "stageName": "s", "exportType": "swagger", "accepts": "application/yaml", "parameters": {"extensions": "integrations"}}), payload: None })
        .await
        .unwrap();
    assert_eq!(out.value["contentType"], "application/yaml");
    let text = String::from_utf8(out.payload.unwrap().to_vec()).unwrap();
    assert!(
        text.contains("swagger: '2.0'") || text.contains("swagger: \"2.0\""),
        "{text}"
    );
    let copy = call_payload(&h, "ImportRestApi", json!({}), &text)
        .await
        .unwrap()
        .value;
    let cid = copy["id"].as_str().unwrap().to_string();
    assert_ne!(cid, id);
    assert_eq!(
        paths(
            call(&h, "GetResources", json!({"restApiId": cid}))
                .await
                .unwrap()
        ),
        got
    );

    // Merge adds, overwrite replaces.
    let extra = r#"{"swagger": "2.0", "info": {"title": "x"}, "paths": {"/n": {"post": {"x-amazon-apigateway-integration": {"type": "mock"}}}}}"#;
    call_payload(
        &h,
        "PutRestApi",
        json!({"restApiId": id, "mode": "merge"}),
        extra,
    )
    .await
    .unwrap();
    assert_eq!(
        paths(
            call(&h, "GetResources", json!({"restApiId": id}))
                .await
                .unwrap()
        )
        .len(),
        5
    );
    let over = call_payload(
        &h,
        "PutRestApi",
        json!({"restApiId": id, "mode": "overwrite"}),
        extra,
    )
    .await
    .unwrap()
    .value;
    assert_eq!(over["name"], "x");
    assert_eq!(
        paths(
            call(&h, "GetResources", json!({"restApiId": id}))
                .await
                .unwrap()
        ),
        vec![
            ("/".to_string(), vec![]),
            ("/n".to_string(), vec!["POST".to_string()])
        ]
    );
    let e = call_payload(
        &h,
        "PutRestApi",
        json!({"restApiId": id, "mode": "replace"}),
        extra,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "BadRequestException");
    let e = call_payload(&h, "ImportRestApi", json!({}), "{nope")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_ref()),
        ("BadRequestException", "Invalid OpenAPI input.")
    );
    let e = call_payload(
        &h,
        "ImportRestApi",
        json!({"failOnWarnings": true}),
        r#"{"openapi": "3.0.1", "info": {"title": "w"}, "paths": {"/a": {"trace": {}}}}"#,
    )
    .await
    .unwrap_err();
    assert!(e.message.starts_with("Warnings found during import:"));
}

#[tokio::test]
async fn lambda_permissions() {
    let m = mock(json!({"statusCode": 200, "body": "ok"}));
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.rest_apis();
    let api = call(&h, "CreateRestApi", json!({"name": "p"}))
        .await
        .unwrap();
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let users = call(
        &h,
        "CreateResource",
        json!({"restApiId": id, "parentId": root, "pathPart": "users"}),
    )
    .await
    .unwrap();
    let rid = users["id"].as_str().unwrap().to_string();
    call(&h, "PutMethod", json!({"restApiId": id, "resourceId": rid, "httpMethod": "GET", "authorizationType": "NONE"})).await.unwrap();
    call(&h, "PutIntegration", json!({"restApiId": id, "resourceId": rid, "httpMethod": "GET", "type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": uri()}))
        .await
        .unwrap();
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "prod"}),
    )
    .await
    .unwrap();
    let path = format!("/restapis/{id}/prod/_user_request_/users");
    let status = |gw: &ApiGateway| {
        let path = path.clone();
        let gw = gw.execute_api();
        async move {
            let (parts, _) = Request::builder().uri(path).body(()).unwrap().into_parts();
            let r = gw.call(parts, Bytes::new()).await;
            (
                r.status().as_u16(),
                r.headers().get("x-amzn-errortype").cloned(),
                r.body().clone(),
            )
        }
    };
    assert_eq!(status(&gw).await.0, 200);
    let arn = |s: &str| format!("arn:aws:execute-api:us-east-1:000000000000:{id}/{s}");

    m.set_policy(None);
    let (code, kind, body) = status(&gw).await;
    assert_eq!(
        (code, kind.unwrap().to_str().unwrap()),
        (500, "InternalServerErrorException")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"message": "Internal server error"})
    );
    m.set_policy(Some(grant(Some(&arn("prod/GET/users")))));
    assert_eq!(status(&gw).await.0, 200);
    m.set_policy(Some(grant(Some(&arn("*/GET/other")))));
    assert_eq!(status(&gw).await.0, 500);
    m.set_policy(Some(grant(Some(&arn("*/*/*")))));
    assert_eq!(status(&gw).await.0, 200);
    m.set_policy(Some(grant(Some(&arn("pro?/GET/users")))));
    assert_eq!(status(&gw).await.0, 200);
    m.set_policy(Some(grant(Some(
        "arn:aws:execute-api:us-east-1:000000000000:other/*",
    ))));
    assert_eq!(status(&gw).await.0, 500);
    gw.set_lambda_permissions(LambdaPermissions::AllowAll);
    assert_eq!(status(&gw).await.0, 200);
    gw.set_lambda_permissions(LambdaPermissions::Enforce);
    assert_eq!(status(&gw).await.0, 500);
    // An integration with a role is trusted.
    call(&h, "PutIntegration", json!({"restApiId": id, "resourceId": rid, "httpMethod": "GET", "type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": uri(),
        "credentials": "arn:aws:iam::000000000000:role/apigw"}))
        .await
        .unwrap();
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "prod"}),
    )
    .await
    .unwrap();
    assert_eq!(status(&gw).await.0, 200);
}

#[tokio::test]
async fn non_proxy_lambda_integration() {
    let m = mock(json!({"name": "Ann"}));
    let gw = ApiGateway::new(Store::temporary().unwrap(), m.clone(), 4566);
    let h = gw.rest_apis();
    let api = call(&h, "CreateRestApi", json!({"name": "np"}))
        .await
        .unwrap();
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    call(&h, "PutMethod", json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "authorizationType": "NONE"}))
        .await
        .unwrap();
    call(
        &h,
        "PutIntegration",
        json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "type": "AWS",
        "integrationHttpMethod": "POST", "uri": uri(),
        "requestTemplates": {"application/json": "{\"q\": \"$input.params('q')\"}"}}),
    )
    .await
    .unwrap();
    call(
        &h,
        "PutIntegrationResponse",
        json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "statusCode": "200",
        "responseTemplates": {"application/json": "{\"hello\": \"$input.path('$.name')\"}"}}),
    )
    .await
    .unwrap();
    call(&h, "PutIntegrationResponse", json!({"restApiId": id, "resourceId": root, "httpMethod": "GET", "statusCode": "400",
        "selectionPattern": "Bad.*", "responseTemplates": {"application/json": "{\"error\": \"$input.path('$.errorMessage')\"}"}}))
    .await
    .unwrap();
    call(
        &h,
        "CreateDeployment",
        json!({"restApiId": id, "stageName": "s"}),
    )
    .await
    .unwrap();
    let path = format!("/restapis/{id}/s/_user_request_/?q=x%20y");

    let (status, _, body) = get(&gw, &path, None, "").await;
    assert_eq!(
        (status, body.as_ref()),
        (200, br#"{"hello": "Ann"}"#.as_ref())
    );
    let (f, ev) = m.events.lock().unwrap().pop().unwrap();
    assert_eq!((f.as_str(), ev), (FN, json!({"q": "x y"})));

    *m.answer.lock().unwrap() = (
        Bytes::from_static(br#"{"errorMessage": "Bad input", "errorType": "Exception"}"#),
        Some("Unhandled".into()),
    );
    let (status, _, body) = get(&gw, &path, None, "").await;
    assert_eq!(
        (status, body.as_ref()),
        (400, br#"{"error": "Bad input"}"#.as_ref())
    );

    m.set_policy(None);
    let (status, _, _) = get(&gw, &path, None, "").await;
    assert_eq!(status, 500);
}
