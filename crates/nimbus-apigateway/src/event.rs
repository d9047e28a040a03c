//! Lambda proxy events (payload formats 1.0 and 2.0) built from a request, and
//! proxy responses mapped back to HTTP.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::data::decode;

/// What the integrations need to know about the request.
pub(crate) struct Req<'a> {
    pub method: String,
    /// The path inside the stage (raw).
    pub path: String,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub api_id: String,
    pub account: String,
    pub stage: String,
    pub domain: String,
    pub request_id: String,
    pub extended_id: String,
    pub now_ms: i64,
    pub protocol: String,
}

impl Req<'_> {
    pub(crate) fn source_ip(&self) -> String {
        self.headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "127.0.0.1".into())
    }

    pub(crate) fn user_agent(&self) -> Value {
        self.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| json!(s))
            .unwrap_or(Value::Null)
    }

    pub(crate) fn request_time(&self) -> String {
        let fmt = time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        );
        time::OffsetDateTime::from_unix_timestamp(self.now_ms / 1000)
            .ok()
            .and_then(|t| t.format(&fmt).ok())
            .unwrap_or_default()
    }

    pub(crate) fn domain_prefix(&self) -> String {
        self.domain.split('.').next().unwrap_or("").to_string()
    }

    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The body as the event carries it: text, or base64 for binary content.
    pub(crate) fn event_body(&self, binary_types: &[String]) -> (Value, bool) {
        if self.body.is_empty() {
            return (Value::Null, false);
        }
        let ct = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ct = ct.split(';').next().unwrap_or("").trim();
        let binary = binary_types.iter().any(|b| media_matches(b, ct));
        match std::str::from_utf8(&self.body) {
            Ok(s) if !binary => (json!(s), false),
            _ => (
                json!(base64::engine::general_purpose::STANDARD.encode(&self.body)),
                true,
            ),
        }
    }

    /// Headers as v1 gives them: last value and every value per name.
    pub(crate) fn v1_headers(&self) -> (Value, Value) {
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in self.headers.iter() {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let name = canonical_header(name.as_str());
            single.insert(name.clone(), json!(v));
            match multi.get_mut(&name) {
                Some(Value::Array(a)) => a.push(json!(v)),
                _ => {
                    multi.insert(name, json!([v]));
                }
            }
        }
        if single.is_empty() {
            (Value::Null, Value::Null)
        } else {
            (Value::Object(single), Value::Object(multi))
        }
    }

    pub(crate) fn v1_query(&self) -> (Value, Value) {
        let pairs = self.query_pairs();
        if pairs.is_empty() {
            return (Value::Null, Value::Null);
        }
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (k, v) in pairs {
            single.insert(k.clone(), json!(v));
            match multi.get_mut(&k) {
                Some(Value::Array(a)) => a.push(json!(v)),
                _ => {
                    multi.insert(k, json!([v]));
                }
            }
        }
        (Value::Object(single), Value::Object(multi))
    }

    /// The stage-prefixed path AWS reports in `requestContext.path`.
    pub(crate) fn stage_path(&self) -> String {
        if self.stage == "$default" {
            self.path.clone()
        } else {
            format!("/{}{}", self.stage, self.path)
        }
    }
}

/// `Content-Type` → `Content-Type`: HTTP/1 header names arrive lowercased; AWS passes
/// them as the client wrote them, which clients nearly always write capitalized.
pub(crate) fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn media_matches(pattern: &str, ct: &str) -> bool {
    if pattern == "*/*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(major) => ct.split('/').next() == Some(major),
        None => pattern.eq_ignore_ascii_case(ct),
    }
}

fn params_value(p: &BTreeMap<String, String>) -> Value {
    if p.is_empty() {
        Value::Null
    } else {
        json!(p)
    }
}

fn vars_value(v: Option<&BTreeMap<String, String>>) -> Value {
    match v {
        Some(v) if !v.is_empty() => json!(v),
        _ => Value::Null,
    }
}

/// The Lambda proxy event, payload format 1.0 (REST APIs, and HTTP APIs asking for 1.0).
#[allow(clippy::too_many_arguments)]
pub(crate) fn event_v1(
    req: &Req,
    resource_path: &str,
    resource_id: Option<&str>,
    route_key: Option<&str>,
    path_params: &BTreeMap<String, String>,
    stage_vars: Option<&BTreeMap<String, String>>,
    binary_types: &[String],
) -> Value {
    let (headers, multi_headers) = req.v1_headers();
    let (query, multi_query) = req.v1_query();
    let (body, b64) = req.event_body(binary_types);
    let mut ctx = json!({
        "accountId": req.account,
        "apiId": req.api_id,
        "domainName": req.domain,
        "domainPrefix": req.domain_prefix(),
        "extendedRequestId": req.extended_id,
        "httpMethod": req.method,
        "identity": {
            "accessKey": null,
            "accountId": null,
            "caller": null,
            "cognitoAuthenticationProvider": null,
            "cognitoAuthenticationType": null,
            "cognitoIdentityId": null,
            "cognitoIdentityPoolId": null,
            "principalOrgId": null,
            "sourceIp": req.source_ip(),
            "user": null,
            "userAgent": req.user_agent(),
            "userArn": null,
        },
        "path": req.stage_path(),
        "protocol": req.protocol,
        "requestId": req.request_id,
        "requestTime": req.request_time(),
        "requestTimeEpoch": req.now_ms,
        "resourcePath": resource_path,
        "stage": req.stage,
    });
    if let Some(obj) = ctx.as_object_mut() {
        match (resource_id, route_key) {
            (Some(id), _) => {
                obj.insert("resourceId".into(), json!(id));
            }
            (None, Some(key)) => {
                obj.insert("resourceId".into(), json!(key));
                obj.insert("routeKey".into(), json!(key));
            }
            _ => {}
        }
    }
    let mut event = json!({
        "resource": resource_path,
        "path": req.path_decoded(),
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": params_value(path_params),
        "stageVariables": vars_value(stage_vars),
        "requestContext": ctx,
        "body": body,
        "isBase64Encoded": b64,
    });
    if route_key.is_some() {
        if let Some(obj) = event.as_object_mut() {
            obj.insert("version".into(), json!("1.0"));
        }
    }
    event
}

impl Req<'_> {
    pub(crate) fn path_decoded(&self) -> String {
        decode(&self.path)
    }
}

/// The Lambda proxy event, payload format 2.0 (HTTP APIs).
pub(crate) fn event_v2(
    req: &Req,
    route_key: &str,
    path_params: &BTreeMap<String, String>,
    stage_vars: Option<&BTreeMap<String, String>>,
) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in req.headers.iter() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                v.split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), json!(v));
            }
        }
    }
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in req.query_pairs() {
        match query.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                query.insert(k, json!(v));
            }
        }
    }
    let (body, b64) = req.event_body(&[]);
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(route_key));
    event.insert("rawPath".into(), json!(req.stage_path()));
    event.insert("rawQueryString".into(), json!(req.query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), Value::Object(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), Value::Object(query));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": req.account,
            "apiId": req.api_id,
            "domainName": req.domain,
            "domainPrefix": req.domain_prefix(),
            "http": {
                "method": req.method,
                "path": decode(&req.stage_path()),
                "protocol": req.protocol,
                "sourceIp": req.source_ip(),
                "userAgent": req.user_agent(),
            },
            "requestId": req.extended_id,
            "routeKey": route_key,
            "stage": req.stage,
            "time": req.request_time(),
            "timeEpoch": req.now_ms,
        }),
    );
    if !body.is_null() {
        event.insert("body".into(), body);
    }
    if !path_params.is_empty() {
        event.insert("pathParameters".into(), json!(path_params));
    }
    event.insert("isBase64Encoded".into(), json!(b64));
    if let Some(v) = stage_vars.filter(|v| !v.is_empty()) {
        event.insert("stageVariables".into(), json!(v));
    }
    Value::Object(event)
}

pub(crate) fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn add_header(h: &mut HeaderMap, name: &str, value: &str) -> Result<(), ()> {
    let n = HeaderName::try_from(name).map_err(|_| ())?;
    let v = HeaderValue::from_str(value).map_err(|_| ())?;
    h.append(n, v);
    Ok(())
}

/// Maps a structured proxy response (`statusCode`, `headers`, `multiValueHeaders`,
/// `cookies`, `body`, `isBase64Encoded`) to HTTP; `None` when it is malformed.
pub(crate) fn structured_response(v: &Value) -> Option<Response<Bytes>> {
    let obj = v.as_object()?;
    let status = match obj.get("statusCode")? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let mut headers = HeaderMap::new();
    match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, vals) in m {
                for v in vals.as_array()? {
                    add_header(&mut headers, k, &header_text(v)?).ok()?;
                }
            }
        }
        Some(_) => return None,
    }
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let n = HeaderName::try_from(k.as_str()).ok()?;
                headers.remove(&n);
                add_header(&mut headers, k, &header_text(v)?).ok()?;
            }
        }
        Some(_) => return None,
    }
    match obj.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(c)) => {
            for cookie in c {
                add_header(&mut headers, "set-cookie", cookie.as_str()?).ok()?;
            }
        }
        Some(_) => return None,
    }
    let b64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if b64 => {
            Bytes::from(base64::engine::general_purpose::STANDARD.decode(s).ok()?)
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return None,
    };
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    Some(r)
}

/// Payload format 2.0: a structured response when it has `statusCode`, otherwise the
/// value itself is the 200 JSON body (a bare string is sent as is).
pub(crate) fn v2_response(payload: &[u8]) -> Option<Response<Bytes>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    if v.as_object().is_some_and(|o| o.contains_key("statusCode")) {
        return structured_response(&v);
    }
    let body = match &v {
        Value::String(s) => Bytes::from(s.clone()),
        other => Bytes::from(serde_json::to_vec(other).ok()?),
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Some(r)
}
