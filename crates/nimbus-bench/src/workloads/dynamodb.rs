//! DynamoDB and DynamoDB Streams workloads: tables, the parallel loader and the requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use super::{auth_headers, call, json_check, post, State};
use crate::load::{self, Client, Spec};

/// How long loading a table may take before the row is reported as not loaded.
const LOAD_LIMIT: Duration = Duration::from_secs(300);

pub fn ddb(op: &str) -> Vec<(String, String)> {
    let mut h = auth_headers("dynamodb");
    h.push(("x-amz-target".into(), format!("DynamoDB_20120810.{op}")));
    h.push(("content-type".into(), "application/x-amz-json-1.0".into()));
    h
}

fn streams(op: &str) -> Vec<(String, String)> {
    let mut h = auth_headers("dynamodb");
    h.push(("x-amz-target".into(), format!("DynamoDBStreams_20120810.{op}")));
    h.push(("content-type".into(), "application/x-amz-json-1.0".into()));
    h
}

/// 160 bytes of payload: with keys and names an item is about 200 bytes.
fn payload_200() -> String {
    "x".repeat(160)
}

/// Spreads request numbers over `0..n` (consecutive numbers hit distant keys).
fn spread(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) % n
}

async fn create_table(addr: &str, body: Value) -> Result<(), String> {
    call(addr, Method::POST, "/", ddb("CreateTable"), body).await?;
    Ok(())
}

/// Writes items `0..n` (made by `item`) into `table` with BatchWriteItem from 32
/// connections at full speed, sending back whatever comes back unprocessed.
pub async fn load(addr: &str, table: &str, n: u64, item: Arc<dyn Fn(u64) -> Value + Send + Sync>) -> Result<(), String> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (addr, table, next, item) = (addr.to_string(), table.to_string(), next.clone(), item.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&addr);
            loop {
                let first = next.fetch_add(25, Ordering::Relaxed);
                if first >= n {
                    return Ok(());
                }
                let mut reqs: Vec<Value> = (first..(first + 25).min(n)).map(|i| json!({"PutRequest": {"Item": item(i)}})).collect();
                while !reqs.is_empty() {
                    if started.elapsed() > LOAD_LIMIT {
                        return Err(format!("loading {n} items into {table} took longer than {} s", LOAD_LIMIT.as_secs()));
                    }
                    let body = Bytes::from(json!({"RequestItems": {&table: reqs}}).to_string());
                    let (a, _) = client.send(Method::POST, "/", &ddb("BatchWriteItem"), body).await?;
                    if a.status >= 300 {
                        return Err(format!("BatchWriteItem answered {}: {}", a.status, load::snippet(&a.body)));
                    }
                    let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("BatchWriteItem answer: {e}"))?;
                    reqs = v["UnprocessedItems"][&table].as_array().cloned().unwrap_or_default();
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// The table `bench` (pk, sk) with 10,000 items in partition `q`.
pub async fn setup_table(addr: &str) -> Result<(), String> {
    create_table(
        addr,
        json!({
            "TableName": "bench",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .await?;
    let data = payload_200();
    load(addr, "bench", 10_000, Arc::new(move |i| json!({"pk": {"S": "q"}, "sk": {"S": format!("{i:05}")}, "data": {"S": data}}))).await
}

/// The table `benchgsi` (pk) with GSI `byg` (g, s): 2,000 items, all with g = `q`.
pub async fn setup_gsi(addr: &str) -> Result<(), String> {
    create_table(
        addr,
        json!({
            "TableName": "benchgsi",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "ALL"}}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .await?;
    let data = payload_200();
    load(addr, "benchgsi", 2_000, Arc::new(move |i| json!({"pk": {"S": format!("i{i}")}, "g": {"S": "q"}, "s": {"S": format!("{i:05}")}, "data": {"S": data}}))).await
}

/// The table `benchstream` with a NEW_AND_OLD_IMAGES stream holding 1,000 records, and
/// a TRIM_HORIZON iterator on its shard (iterators can be used again for 15 minutes).
pub async fn setup_stream(addr: &str, state: &mut State) -> Result<(), String> {
    create_table(
        addr,
        json!({
            "TableName": "benchstream",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .await?;
    let data = payload_200();
    load(addr, "benchstream", 1_000, Arc::new(move |i| json!({"pk": {"S": format!("i{i}")}, "data": {"S": data}}))).await?;
    let table = call(addr, Method::POST, "/", ddb("DescribeTable"), json!({"TableName": "benchstream"})).await?;
    let arn = table["Table"]["LatestStreamArn"].as_str().ok_or("DescribeTable gave no LatestStreamArn")?.to_string();
    let stream = call(addr, Method::POST, "/", streams("DescribeStream"), json!({"StreamArn": arn})).await?;
    let shard = stream["StreamDescription"]["Shards"][0]["ShardId"].as_str().ok_or("DescribeStream gave no shard")?.to_string();
    let it = call(addr, Method::POST, "/", streams("GetShardIterator"), json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})).await?;
    state.shard_iterator = Some(it["ShardIterator"].as_str().ok_or("GetShardIterator gave no iterator")?.to_string());
    Ok(())
}

/// The table `scale<n>` (pk) with n items `k0..k<n-1>`.
pub async fn setup_scale(addr: &str, n: u64) -> Result<(), String> {
    let table = format!("scale{n}");
    create_table(
        addr,
        json!({
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .await?;
    let data = payload_200();
    load(addr, &table, n, Arc::new(move |i| json!({"pk": {"S": format!("k{i}")}, "data": {"S": data}}))).await
}

pub fn put_item(_: &State) -> Option<Arc<Spec>> {
    let data = payload_200();
    post(
        "/",
        ddb("PutItem"),
        move |n| Bytes::from(json!({"TableName": "bench", "Item": {"pk": {"S": format!("p{n}")}, "sk": {"S": "a"}, "data": {"S": data}}}).to_string()),
        json_check(|_, v| v.as_object().is_some_and(|o| o.is_empty())),
    )
}

pub fn get_item(_: &State) -> Option<Arc<Spec>> {
    post(
        "/",
        ddb("GetItem"),
        |n| Bytes::from(json!({"TableName": "bench", "Key": {"pk": {"S": "q"}, "sk": {"S": format!("{:05}", spread(n, 10_000))}}}).to_string()),
        json_check(|n, v| v["Item"]["sk"]["S"].as_str() == Some(&format!("{:05}", spread(n, 10_000))) && v["Item"]["data"]["S"].as_str().is_some_and(|d| d.len() == 160)),
    )
}

pub fn query(_: &State) -> Option<Arc<Spec>> {
    post(
        "/",
        ddb("Query"),
        |n| {
            Bytes::from(
                json!({"TableName": "bench", "KeyConditionExpression": "pk = :p AND sk >= :s", "Limit": 100,
                       "ExpressionAttributeValues": {":p": {"S": "q"}, ":s": {"S": format!("{:05}", spread(n, 9_900))}}})
                .to_string(),
            )
        },
        json_check(|n, v| {
            v["Count"] == 100 && v["Items"].as_array().is_some_and(|a| a.len() == 100 && a[0]["sk"]["S"].as_str() == Some(&format!("{:05}", spread(n, 9_900))))
        }),
    )
}

pub fn query_gsi(_: &State) -> Option<Arc<Spec>> {
    post(
        "/",
        ddb("Query"),
        |n| {
            Bytes::from(
                json!({"TableName": "benchgsi", "IndexName": "byg", "KeyConditionExpression": "g = :g AND s >= :s", "Limit": 100,
                       "ExpressionAttributeValues": {":g": {"S": "q"}, ":s": {"S": format!("{:05}", spread(n, 1_900))}}})
                .to_string(),
            )
        },
        json_check(|n, v| {
            v["Count"] == 100 && v["Items"].as_array().is_some_and(|a| a.len() == 100 && a[0]["s"]["S"].as_str() == Some(&format!("{:05}", spread(n, 1_900))))
        }),
    )
}

pub fn batch_write(_: &State) -> Option<Arc<Spec>> {
    let data = payload_200();
    post(
        "/",
        ddb("BatchWriteItem"),
        move |n| {
            let reqs: Vec<_> = (0..25).map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("b{n}")}, "sk": {"S": format!("{i:02}")}, "data": {"S": data}}}})).collect();
            Bytes::from(json!({"RequestItems": {"bench": reqs}}).to_string())
        },
        // Every item must be written: anything left unprocessed is a wrong answer here.
        json_check(|_, v| v["UnprocessedItems"].as_object().is_some_and(|o| o.is_empty())),
    )
}

pub fn update_hot(_: &State) -> Option<Arc<Spec>> {
    post(
        "/",
        ddb("UpdateItem"),
        |_| {
            Bytes::from(
                json!({"TableName": "bench", "Key": {"pk": {"S": "hot"}, "sk": {"S": "k"}}, "UpdateExpression": "ADD hits :one",
                       "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"})
                .to_string(),
            )
        },
        json_check(|_, v| v["Attributes"]["hits"]["N"].as_str().and_then(|s| s.parse::<u64>().ok()).is_some_and(|h| h >= 1)),
    )
}

pub fn get_records(s: &State) -> Option<Arc<Spec>> {
    let it = s.shard_iterator.clone()?;
    post(
        "/",
        streams("GetRecords"),
        move |_| Bytes::from(json!({"ShardIterator": it, "Limit": 100}).to_string()),
        json_check(|_, v| v["Records"].as_array().is_some_and(|r| r.len() == 100 && r[0]["dynamodb"]["Keys"]["pk"]["S"].is_string())),
    )
}

pub fn get_scaled(n: u64) -> Option<Arc<Spec>> {
    let table = format!("scale{n}");
    post(
        "/",
        ddb("GetItem"),
        move |i| Bytes::from(json!({"TableName": table, "Key": {"pk": {"S": format!("k{}", spread(i, n))}}}).to_string()),
        json_check(move |i, v| v["Item"]["pk"]["S"].as_str() == Some(&format!("k{}", spread(i, n)))),
    )
}
