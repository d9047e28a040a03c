//! Throws malformed and random requests at the real router (every modelled service and
//! operation, every protocol) and checks each gets an AWS-shaped 4xx/5xx answer with a
//! request id, never a panic.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use nimbus_auth::{Credential, CredentialProvider};
use nimbus_edge::{Credentials, Edge, EdgeConfig};
use nimbus_model::schema::Protocol;
use nimbus_model::services;

struct NoKeys;

impl CredentialProvider for NoKeys {
    fn lookup(&self, _: &str) -> Option<Credential> {
        None
    }
}

impl Credentials for NoKeys {
    fn account_of(&self, _: &str, default_account: &str) -> String {
        default_account.to_string()
    }
    fn expired(&self, _: &str) -> bool {
        false
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const BODIES: &[&str] = &[
    "",
    "{",
    "[]",
    "null",
    "\"x\"",
    "{\"TableName\": 5}",
    "{\"Limit\": -1, \"TableName\": \"\"}",
    "{\"a\": {\"b\": {\"c\": [1, 2, {\"d\": null}]}}}",
    "{\"Item\": {\"k\": {\"S\": \"v\"}}, \"TableName\": \"t\"}",
    "Action=AssumeRole&RoleArn=&RoleSessionName=%FF%FE",
    "Action=ListUsers&MaxItems=notanumber&Marker.member.1=x",
    "<?xml version=\"1.0\"?><not-closed>",
    "\u{0}\u{1}\u{2}",
];

fn edge() -> Edge {
    Edge::new(EdgeConfig::default(), Arc::new(NoKeys))
}

fn check(resp: &http::Response<Bytes>, what: &str) {
    let status = resp.status().as_u16();
    assert!(status == 200 || (400..600).contains(&status), "{what}: status {status}");
    assert!(
        resp.headers().contains_key("x-amzn-requestid") || resp.headers().contains_key("x-amz-request-id"),
        "{what}: no request id"
    );
}

#[tokio::test]
async fn random_requests_to_every_operation_get_protocol_errors() {
    let edge = edge();
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let mut count = 0;
    for service in services::ALL {
        for op in service.operations {
            for _ in 0..3 {
                let garbage = String::from_utf8_lossy(&rng.bytes(64)).into_owned();
                let body = if rng.next() % 4 == 0 { garbage } else { rng.pick(BODIES).to_string() };
                let mut req = Request::builder();
                let uri;
                if let Some(prefix) = service.target_prefix {
                    uri = "/".to_string();
                    req = req.method("POST").header("x-amz-target", format!("{prefix}.{}", op.name));
                } else if service.protocol == Protocol::RestJson {
                    // Fill labels with odd values.
                    uri = op
                        .request_uri
                        .split('?')
                        .next()
                        .unwrap_or("/")
                        .split('/')
                        .map(|s| if s.starts_with('{') { *rng.pick(&["x", "%FF", "..", "a%2Fb", "%E2%82%AC"]) } else { s })
                        .collect::<Vec<_>>()
                        .join("/");
                    req = req.method(op.http_method).header("x-amz-date", "garbage").header("x-amz-log-type", "\u{7f}");
                } else {
                    uri = "/".to_string();
                    req = req.method("POST").header("content-type", "application/x-www-form-urlencoded");
                }
                let body = if service.protocol == Protocol::Query {
                    format!("Action={}&Version={}&{}", op.name, service.api_version, body)
                } else {
                    body
                };
                let Ok(request) = req.uri(uri.as_str()).body(()) else { continue };
                let (parts, ()) = request.into_parts();
                let resp = edge.handle(parts, Bytes::from(body)).await;
                check(&resp, &format!("{} {}", service.endpoint_prefix, op.name));
                count += 1;
            }
        }
    }
    assert!(count > 2000, "only {count} requests were sent");
}

#[tokio::test]
async fn random_bytes_and_paths() {
    let edge = edge();
    let mut rng = Rng(42);
    for i in 0..2000 {
        let path: String = format!("/{}", rng.pick(&["", "restapis", "2015-03-31/functions", "v2/apis", "bucket/key", "_nimbus/health", "%%%", "a?b=c&&&="]));
        let method = *rng.pick(&["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]);
        let mut req = Request::builder().method(method).uri(path.as_str());
        if i % 3 == 0 {
            req = req.header("x-amz-target", String::from_utf8_lossy(&rng.bytes(8)).replace(|c: char| !c.is_ascii_graphic(), "."));
        }
        if i % 5 == 0 {
            req = req.header("authorization", "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=");
        }
        if i % 7 == 0 {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let Ok(request) = req.body(()) else { continue };
        let (parts, ()) = request.into_parts();
        let len = (rng.next() % 4096) as usize;
        let resp = edge.handle(parts, Bytes::from(rng.bytes(len))).await;
        check(&resp, &path);
    }
}
