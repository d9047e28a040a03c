//! The workloads: each has a setup (run once per system) and a request to repeat.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use crate::load::{self, Spec};

/// What setups left behind on one system (ids the requests need).
#[derive(Default, Clone)]
pub struct State {
    pub rest_api_id: Option<String>,
    pub http_api_id: Option<String>,
}

/// A workload row: its name, how many clients, and what it sends.
pub struct Workload {
    pub name: String,
    pub clients: usize,
    pub build: fn(&State) -> Option<Arc<Spec>>,
    pub setup: Option<Setup>,
    /// Only meaningful against Nimbus (e.g. the client's own ceiling).
    pub nimbus_only: bool,
}

/// What a workload needs before it runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Setup {
    /// A table `bench` (pk S, sk S) with 10,000 items in partition `q`.
    DynamoTable,
    /// No-op functions `noop-python`, `noop-nodejs`, `noop-provided`.
    Functions,
    /// A REST API and an HTTP API proxying to `noop-python` (needs `Functions`).
    Apis,
}

fn auth_headers(service: &str) -> Vec<(String, String)> {
    vec![
        ("x-amz-date".into(), "20261122T000000Z".into()),
        (
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"),
        ),
    ]
}

fn ddb(op: &str) -> Vec<(String, String)> {
    let mut h = auth_headers("dynamodb");
    h.push(("x-amz-target".into(), format!("DynamoDB_20120810.{op}")));
    h.push(("content-type".into(), "application/x-amz-json-1.0".into()));
    h
}

fn rest(service: &str) -> Vec<(String, String)> {
    let mut h = auth_headers(service);
    h.push(("content-type".into(), "application/json".into()));
    h
}

fn payload_200() -> String {
    "x".repeat(160)
}

fn post(path: &str, headers: Vec<(String, String)>, make: impl Fn(u64) -> Bytes + Send + Sync + 'static) -> Option<Arc<Spec>> {
    Some(Arc::new(Spec { method: Method::POST, path: path.into(), headers, make_body: Arc::new(make) }))
}

fn health(_: &State) -> Option<Arc<Spec>> {
    Some(Arc::new(Spec { method: Method::GET, path: "/_nimbus/health".into(), headers: vec![], make_body: Arc::new(|_| Bytes::new()) }))
}

fn sts(_: &State) -> Option<Arc<Spec>> {
    let mut headers = auth_headers("sts");
    headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    post("/", headers, |_| Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15"))
}

fn put_item(_: &State) -> Option<Arc<Spec>> {
    let data = payload_200();
    post("/", ddb("PutItem"), move |n| {
        Bytes::from(json!({"TableName": "bench", "Item": {"pk": {"S": format!("p{n}")}, "sk": {"S": "a"}, "data": {"S": data}}}).to_string())
    })
}

fn get_item(_: &State) -> Option<Arc<Spec>> {
    post("/", ddb("GetItem"), |n| {
        Bytes::from(json!({"TableName": "bench", "Key": {"pk": {"S": "q"}, "sk": {"S": format!("{:05}", n % 10_000)}}}).to_string())
    })
}

fn query(_: &State) -> Option<Arc<Spec>> {
    post("/", ddb("Query"), |n| {
        let start = (n % 9_900) as u32;
        Bytes::from(
            json!({"TableName": "bench", "KeyConditionExpression": "pk = :p AND sk >= :s", "Limit": 100,
                   "ExpressionAttributeValues": {":p": {"S": "q"}, ":s": {"S": format!("{start:05}")}}})
            .to_string(),
        )
    })
}

fn batch_write(_: &State) -> Option<Arc<Spec>> {
    let data = payload_200();
    post("/", ddb("BatchWriteItem"), move |n| {
        let reqs: Vec<_> = (0..25)
            .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("b{n}")}, "sk": {"S": format!("{i:02}")}, "data": {"S": data}}}}))
            .collect();
        Bytes::from(json!({"RequestItems": {"bench": reqs}}).to_string())
    })
}

fn update_hot(_: &State) -> Option<Arc<Spec>> {
    post("/", ddb("UpdateItem"), |_| {
        Bytes::from(
            json!({"TableName": "bench", "Key": {"pk": {"S": "hot"}, "sk": {"S": "k"}}, "UpdateExpression": "ADD hits :one",
                   "ExpressionAttributeValues": {":one": {"N": "1"}}})
            .to_string(),
        )
    })
}

fn invoke(function: &'static str) -> Option<Arc<Spec>> {
    post(&format!("/2015-03-31/functions/{function}/invocations"), rest("lambda"), |_| Bytes::from_static(b"{}"))
}

fn invoke_python(_: &State) -> Option<Arc<Spec>> {
    invoke("noop-python")
}
fn invoke_nodejs(_: &State) -> Option<Arc<Spec>> {
    invoke("noop-nodejs")
}
fn invoke_provided(_: &State) -> Option<Arc<Spec>> {
    invoke("noop-provided")
}

fn rest_api(s: &State) -> Option<Arc<Spec>> {
    let id = s.rest_api_id.clone()?;
    Some(Arc::new(Spec { method: Method::GET, path: format!("/restapis/{id}/bench/_user_request_/hello"), headers: vec![], make_body: Arc::new(|_| Bytes::new()) }))
}

fn http_api(s: &State) -> Option<Arc<Spec>> {
    let id = s.http_api_id.clone()?;
    Some(Arc::new(Spec { method: Method::GET, path: format!("/restapis/{id}/$default/_user_request_/hello"), headers: vec![], make_body: Arc::new(|_| Bytes::new()) }))
}

type Build = fn(&State) -> Option<Arc<Spec>>;

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let mut w = vec![
        Workload { name: "client_ceiling(health)".into(), clients: 32, build: health, setup: None, nimbus_only: true },
        Workload { name: "sts.GetCallerIdentity".into(), clients: 32, build: sts, setup: None, nimbus_only: false },
    ];
    let groups: [(&str, Build, Setup); 10] = [
        ("dynamodb.PutItem", put_item, Setup::DynamoTable),
        ("dynamodb.GetItem", get_item, Setup::DynamoTable),
        ("dynamodb.Query100", query, Setup::DynamoTable),
        ("dynamodb.BatchWriteItem25", batch_write, Setup::DynamoTable),
        ("dynamodb.UpdateItemAddHotKey", update_hot, Setup::DynamoTable),
        ("lambda.InvokeWarm(python)", invoke_python, Setup::Functions),
        ("lambda.InvokeWarm(nodejs)", invoke_nodejs, Setup::Functions),
        ("lambda.InvokeWarm(provided)", invoke_provided, Setup::Functions),
        ("apigateway.RestApi->lambda(python)", rest_api, Setup::Apis),
        ("apigateway.HttpApi->lambda(python)", http_api, Setup::Apis),
    ];
    for (name, build, setup) in groups {
        for clients in [1, 32] {
            w.push(Workload { name: format!("{name}@{clients}"), clients, build, setup: Some(setup), nimbus_only: false });
        }
    }
    w
}

fn zip_of(files: &[(&str, &str, u32)]) -> Result<Vec<u8>, String> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, text, mode) in files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            z.start_file(*name, opts).map_err(|e| e.to_string())?;
            z.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        z.finish().map_err(|e| e.to_string())?;
    }
    Ok(buf.into_inner())
}

const PROVIDED_BOOTSTRAP: &str = r#"#!/bin/sh
exec python3 -c '
import os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    r = urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    r.read()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/response", data=b"{}", method="POST")).read()
'
"#;

async fn call(addr: &str, method: Method, path: &str, headers: Vec<(String, String)>, body: Value) -> Result<Value, String> {
    let (status, resp) = load::once(addr, method, path, &headers, Bytes::from(body.to_string())).await?;
    if status >= 300 {
        return Err(format!("{path} answered {status}: {}", String::from_utf8_lossy(&resp)));
    }
    Ok(serde_json::from_slice(&resp).unwrap_or(Value::Null))
}

/// Runs a setup against `addr`; an error means the service is missing there.
pub async fn setup(addr: &str, setup: Setup, state: &mut State) -> Result<(), String> {
    match setup {
        Setup::DynamoTable => {
            let create = json!({
                "TableName": "bench",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"
            });
            call(addr, Method::POST, "/", ddb("CreateTable"), create).await?;
            let data = payload_200();
            for chunk in 0..400 {
                let reqs: Vec<_> = (0..25)
                    .map(|i| {
                        let n = chunk * 25 + i;
                        json!({"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"S": format!("{n:05}")}, "data": {"S": data}}}})
                    })
                    .collect();
                call(addr, Method::POST, "/", ddb("BatchWriteItem"), json!({"RequestItems": {"bench": reqs}})).await?;
            }
            Ok(())
        }
        Setup::Functions => {
            let b64 = |z: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(z);
            let functions = [
                ("noop-python", "python3.12", "index.handler", zip_of(&[("index.py", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n", 0o644)])?),
                ("noop-nodejs", "nodejs20.x", "index.handler", zip_of(&[("index.js", "exports.handler = async () => ({statusCode: 200, body: 'ok'});\n", 0o644)])?),
                ("noop-provided", "provided.al2023", "unused", zip_of(&[("bootstrap", PROVIDED_BOOTSTRAP, 0o755)])?),
            ];
            for (name, runtime, handler, zip) in functions {
                let body = json!({"FunctionName": name, "Runtime": runtime, "Handler": handler,
                                  "Role": "arn:aws:iam::123456789012:role/bench", "Code": {"ZipFile": b64(zip)}, "Timeout": 30,
                                  // One full vCPU (1,769 MB, as on AWS): at 128 MB the cgroup CPU quota
                                  // (7% of a core, as AWS gives) would throttle the no-op itself.
                                  "MemorySize": 1769});
                call(addr, Method::POST, "/2015-03-31/functions", rest("lambda"), body).await?;
                // Warm as many environments as the widest workload has clients, so the
                // workloads measure warm invokes (cold starts are their own row).
                let mut warming = Vec::new();
                for _ in 0..32 {
                    let (addr, path) = (addr.to_string(), format!("/2015-03-31/functions/{name}/invocations"));
                    warming.push(tokio::spawn(async move { call(&addr, Method::POST, &path, rest("lambda"), json!({})).await }));
                }
                for w in warming {
                    w.await.map_err(|e| e.to_string())??;
                }
            }
            Ok(())
        }
        Setup::Apis => {
            let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:noop-python/invocations";
            let api = call(addr, Method::POST, "/restapis", rest("apigateway"), json!({"name": "bench"})).await?;
            let id = api["id"].as_str().ok_or("CreateRestApi gave no id")?.to_string();
            let resources = call(addr, Method::GET, &format!("/restapis/{id}/resources"), rest("apigateway"), json!({})).await?;
            let root = resources["item"].as_array().and_then(|a| a.first()).and_then(|r| r["id"].as_str()).ok_or("no root resource")?.to_string();
            let proxy = call(addr, Method::POST, &format!("/restapis/{id}/resources/{root}"), rest("apigateway"), json!({"pathPart": "{proxy+}"})).await?;
            let pid = proxy["id"].as_str().ok_or("CreateResource gave no id")?.to_string();
            call(addr, Method::PUT, &format!("/restapis/{id}/resources/{pid}/methods/ANY"), rest("apigateway"), json!({"authorizationType": "NONE"})).await?;
            call(addr, Method::PUT, &format!("/restapis/{id}/resources/{pid}/methods/ANY/integration"), rest("apigateway"),
                 json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri})).await?;
            call(addr, Method::POST, &format!("/restapis/{id}/deployments"), rest("apigateway"), json!({"stageName": "bench"})).await?;
            state.rest_api_id = Some(id);
            let target = "arn:aws:lambda:us-east-1:000000000000:function:noop-python";
            let http = call(addr, Method::POST, "/v2/apis", rest("apigateway"), json!({"name": "bench", "protocolType": "HTTP", "target": target})).await?;
            state.http_api_id = Some(http["apiId"].as_str().ok_or("CreateApi gave no apiId")?.to_string());
            Ok(())
        }
    }
}
