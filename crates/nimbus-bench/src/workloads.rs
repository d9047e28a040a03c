//! The workloads: each has a setup (run once per system) and a request to repeat.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::json;

use crate::load::{self, Spec};

/// A workload row: its name, how many clients, and what it sends.
pub struct Workload {
    pub name: String,
    pub clients: usize,
    pub build: fn(usize) -> Arc<Spec>,
    pub setup: Option<Setup>,
    /// Only meaningful against Nimbus (e.g. the client's own ceiling).
    pub nimbus_only: bool,
}

/// What a workload needs before it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// A table `bench` (pk S, sk S) with 10,000 items in partition `q`.
    DynamoTable,
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

fn payload_200() -> String {
    "x".repeat(160)
}

fn health(_: usize) -> Arc<Spec> {
    Arc::new(Spec { method: Method::GET, path: "/_nimbus/health".into(), headers: vec![], make_body: Arc::new(|_| Bytes::new()) })
}

fn sts(_: usize) -> Arc<Spec> {
    let mut headers = auth_headers("sts");
    headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers,
        make_body: Arc::new(|_| Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15")),
    })
}

fn put_item(_: usize) -> Arc<Spec> {
    let data = payload_200();
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers: ddb("PutItem"),
        make_body: Arc::new(move |n| {
            Bytes::from(json!({"TableName": "bench", "Item": {"pk": {"S": format!("p{n}")}, "sk": {"S": "a"}, "data": {"S": data}}}).to_string())
        }),
    })
}

fn get_item(_: usize) -> Arc<Spec> {
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers: ddb("GetItem"),
        make_body: Arc::new(|n| {
            Bytes::from(json!({"TableName": "bench", "Key": {"pk": {"S": "q"}, "sk": {"S": format!("{:05}", n % 10_000)}}}).to_string())
        }),
    })
}

fn query(_: usize) -> Arc<Spec> {
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers: ddb("Query"),
        make_body: Arc::new(|n| {
            let start = (n % 9_900) as u32;
            Bytes::from(
                json!({"TableName": "bench", "KeyConditionExpression": "pk = :p AND sk >= :s", "Limit": 100,
                       "ExpressionAttributeValues": {":p": {"S": "q"}, ":s": {"S": format!("{start:05}")}}})
                .to_string(),
            )
        }),
    })
}

fn batch_write(_: usize) -> Arc<Spec> {
    let data = payload_200();
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers: ddb("BatchWriteItem"),
        make_body: Arc::new(move |n| {
            let reqs: Vec<_> = (0..25)
                .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("b{n}")}, "sk": {"S": format!("{i:02}")}, "data": {"S": data}}}}))
                .collect();
            Bytes::from(json!({"RequestItems": {"bench": reqs}}).to_string())
        }),
    })
}

fn update_hot(_: usize) -> Arc<Spec> {
    Arc::new(Spec {
        method: Method::POST,
        path: "/".into(),
        headers: ddb("UpdateItem"),
        make_body: Arc::new(|_| {
            Bytes::from(
                json!({"TableName": "bench", "Key": {"pk": {"S": "hot"}, "sk": {"S": "k"}}, "UpdateExpression": "ADD hits :one",
                       "ExpressionAttributeValues": {":one": {"N": "1"}}})
                .to_string(),
            )
        }),
    })
}

/// Every workload, in report order.
pub fn all() -> Vec<Workload> {
    let mut w = vec![
        Workload { name: "client_ceiling(health)".into(), clients: 32, build: health, setup: None, nimbus_only: true },
        Workload { name: "sts.GetCallerIdentity".into(), clients: 32, build: sts, setup: None, nimbus_only: false },
    ];
    let ddb: [(&str, fn(usize) -> Arc<Spec>); 5] = [
        ("dynamodb.PutItem", put_item),
        ("dynamodb.GetItem", get_item),
        ("dynamodb.Query100", query),
        ("dynamodb.BatchWriteItem25", batch_write),
        ("dynamodb.UpdateItemAddHotKey", update_hot),
    ];
    for (name, build) in ddb {
        for clients in [1, 32] {
            w.push(Workload { name: format!("{name}@{clients}"), clients, build, setup: Some(Setup::DynamoTable), nimbus_only: false });
        }
    }
    w
}

/// Runs a setup against `addr`; an error means the service is missing there.
pub async fn setup(addr: &str, setup: Setup) -> Result<(), String> {
    match setup {
        Setup::DynamoTable => {
            let create = json!({
                "TableName": "bench",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"
            });
            let (status, body) = load::once(addr, Method::POST, "/", &ddb("CreateTable"), Bytes::from(create.to_string())).await?;
            if status != 200 && !String::from_utf8_lossy(&body).contains("ResourceInUse") {
                return Err(format!("CreateTable answered {status}: {}", String::from_utf8_lossy(&body)));
            }
            if String::from_utf8_lossy(&body).contains("ResourceInUse") {
                return Ok(());
            }
            let data = payload_200();
            for chunk in 0..400 {
                let reqs: Vec<_> = (0..25)
                    .map(|i| {
                        let n = chunk * 25 + i;
                        json!({"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"S": format!("{n:05}")}, "data": {"S": data}}}})
                    })
                    .collect();
                let body = Bytes::from(json!({"RequestItems": {"bench": reqs}}).to_string());
                let (status, resp) = load::once(addr, Method::POST, "/", &ddb("BatchWriteItem"), body).await?;
                if status != 200 {
                    return Err(format!("BatchWriteItem answered {status}: {}", String::from_utf8_lossy(&resp)));
                }
            }
            Ok(())
        }
    }
}
