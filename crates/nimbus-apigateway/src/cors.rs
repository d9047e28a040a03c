//! CORS for HTTP APIs: preflights answered by the gateway from the API's
//! CorsConfiguration, and the CORS headers added to every other response.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use nimbus_model::types::apigatewayv2 as t2;

pub(crate) fn origin_allowed(cors: &t2::Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or(&[]);
    if origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

/// The gateway answers CORS preflights of HTTP APIs with a CorsConfiguration itself.
pub(crate) fn preflight(cors: &t2::Cors, headers: &HeaderMap) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let origin = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(allowed) = origin_allowed(cors, origin) else {
        return r;
    };
    let h = r.headers_mut();
    let mut set = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    set("access-control-allow-origin", allowed);
    if let Some(m) = cors.allow_methods.as_ref().filter(|m| !m.is_empty()) {
        set("access-control-allow-methods", m.join(","));
    }
    if let Some(hd) = cors.allow_headers.as_ref().filter(|m| !m.is_empty()) {
        set("access-control-allow-headers", hd.join(","));
    }
    if let Some(age) = cors.max_age {
        set("access-control-max-age", age.to_string());
    }
    if cors.allow_credentials == Some(true) {
        set("access-control-allow-credentials", "true".into());
    }
    r
}

pub(crate) fn add_cors_headers(cors: &t2::Cors, req: &HeaderMap, h: &mut HeaderMap) {
    let origin = req
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if origin.is_empty() {
        return;
    }
    let Some(allowed) = origin_allowed(cors, origin) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&allowed) {
        h.insert("access-control-allow-origin", v);
    }
    if let Some(e) = cors.expose_headers.as_ref().filter(|m| !m.is_empty()) {
        if let Ok(v) = HeaderValue::from_str(&e.join(",")) {
            h.insert("access-control-expose-headers", v);
        }
    }
    if cors.allow_credentials == Some(true) {
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
}
