//! `GET /_nimbus/health`: every service Nimbus knows and whether it is served.

use bytes::Bytes;
use http::Response;
use nimbus_model::services;
use serde_json::{json, Map, Value};

use crate::Edge;

pub fn render(edge: &Edge) -> Response<Bytes> {
    let mut services_json = Map::new();
    for s in services::ALL {
        let status = if edge.handler_for(s).is_some() { "running" } else { "not_implemented" };
        services_json.insert(s.endpoint_prefix.to_string(), Value::from(status));
    }
    services_json.insert("s3".into(), Value::from("not_implemented"));
    let body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "services": services_json,
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap_or_default()
}
