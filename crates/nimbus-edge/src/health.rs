//! `GET /_nimbus/health`: every service Nimbus knows and whether it is served.

use bytes::Bytes;
use http::Response;
use nimbus_model::services;
use serde_json::{json, Map, Value};

use crate::Edge;

pub fn render(edge: &Edge) -> Response<Bytes> {
    let mut services_json = Map::new();
    let status = |served: bool| Value::from(if served { "running" } else { "not_implemented" });
    for s in services::ALL {
        // API Gateway v1 and v2 share an endpoint prefix.
        let name = if s.service_id == "ApiGatewayV2" { "apigatewayv2" } else { s.endpoint_prefix };
        services_json.insert(name.to_string(), status(edge.handler_for(s).is_some()));
    }
    services_json.insert("s3".into(), status(edge.s3.is_some()));
    services_json.insert("execute-api".into(), status(edge.execute_api.is_some()));
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
