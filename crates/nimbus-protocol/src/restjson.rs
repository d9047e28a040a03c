//! restJson1: the operation is chosen by method and path (the model's `requestUri`
//! templates), and input members are bound from the path, query string, headers and
//! JSON body as each member's `location` says.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use nimbus_model::schema::{Location, Operation, Service, ShapeKind, TimestampFormat};
use nimbus_types::{format_http_date, format_iso8601, parse_http_date, parse_iso8601, AwsError};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::{check_input, wire_json, Input, Output, Wire};

/// An operation matched by method and path, with its URI labels (percent-decoded).
#[derive(Debug)]
pub struct Route {
    pub op: &'static Operation,
    pub labels: HashMap<&'static str, String>,
}

/// One segment of a compiled `requestUri` template.
enum Seg {
    Literal(&'static str),
    Label(&'static str),
    Greedy(&'static str),
}

/// A `requestUri` template split once, so routing a request allocates nothing per
/// candidate operation.
struct Template {
    op: &'static Operation,
    segs: Vec<Seg>,
    required_query: Vec<&'static str>,
}

fn templates(service: &'static Service) -> Arc<Vec<Template>> {
    static CACHE: OnceLock<RwLock<HashMap<usize, Arc<Vec<Template>>>>> = OnceLock::new();
    let key = service as *const Service as usize;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.read().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let compiled: Vec<Template> = service
        .operations
        .iter()
        .map(|op| {
            let (path, query) = op.request_uri.split_once('?').unwrap_or((op.request_uri, ""));
            let segs = path
                .trim_start_matches('/')
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| match s.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(greedy) => Seg::Greedy(greedy),
                        None => Seg::Label(name),
                    },
                    None => Seg::Literal(s),
                })
                .collect();
            let required_query = query
                .split('&')
                .filter(|s| !s.is_empty())
                .map(|kv| kv.split('=').next().unwrap_or(kv))
                .collect();
            Template { op, segs, required_query }
        })
        .collect();
    let compiled = Arc::new(compiled);
    if let Ok(mut c) = cache.write() {
        c.insert(key, compiled.clone());
    }
    compiled
}

/// Finds the operation whose `requestUri` template matches. Among several matches the
/// most specific wins (most literal segments, then most required query keys).
pub fn route(service: &'static Service, method: &str, path: &str, query: &str) -> Option<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let query_keys: Vec<String> = if query.is_empty() {
        Vec::new()
    } else {
        form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect()
    };
    let mut best: Option<((usize, usize), &Template)> = None;
    let templates = templates(service);
    for t in templates.iter() {
        if !t.op.http_method.eq_ignore_ascii_case(method) {
            continue;
        }
        if !t.required_query.iter().all(|k| query_keys.iter().any(|q| q == k)) {
            continue;
        }
        let Some(literals) = matches(&t.segs, &segments) else { continue };
        let score = (literals, t.required_query.len());
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, t));
        }
    }
    let (_, t) = best?;
    let mut labels = HashMap::new();
    for (i, seg) in t.segs.iter().enumerate() {
        match seg {
            Seg::Label(name) => {
                labels.insert(*name, decode_label(segments[i]));
            }
            Seg::Greedy(name) => {
                labels.insert(*name, decode_label(&segments[i..].join("/")));
            }
            Seg::Literal(_) => {}
        }
    }
    Some(Route { op: t.op, labels })
}

/// The number of literal segments when `segs` matches `segments`.
fn matches(segs: &[Seg], segments: &[&str]) -> Option<usize> {
    let mut literals = 0;
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Literal(l) => {
                if segments.get(i) != Some(l) {
                    return None;
                }
                literals += 1;
            }
            Seg::Label(_) => {
                segments.get(i)?;
            }
            Seg::Greedy(_) => return (segments.len() > i).then_some(literals),
        }
    }
    (segments.len() == segs.len()).then_some(literals)
}

fn decode_label(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn bad(message: impl Into<String>) -> AwsError {
    AwsError::new(400, "SerializationException", message)
}

/// Converts a string from a URI label, query value or header into the member's type.
fn scalar(service: &Service, target: u16, raw: &str, ts: Option<TimestampFormat>, default_ts: TimestampFormat, json_value: bool, name: &str) -> Result<Value, AwsError> {
    Ok(match &service.shape(target).kind {
        ShapeKind::Integer { .. } => Value::from(
            raw.trim().parse::<i64>().map_err(|_| bad(format!("Value '{raw}' for {name} is not an integer")))?,
        ),
        ShapeKind::Float { .. } => Value::from(
            raw.trim().parse::<f64>().map_err(|_| bad(format!("Value '{raw}' for {name} is not a number")))?,
        ),
        ShapeKind::Boolean => match raw.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad(format!("Value '{raw}' for {name} is not a boolean"))),
        },
        ShapeKind::Timestamp { format } => {
            let secs = match ts.or(*format).unwrap_or(default_ts) {
                TimestampFormat::Rfc822 => parse_http_date(raw),
                TimestampFormat::Iso8601 => parse_iso8601(raw),
                TimestampFormat::UnixTimestamp => raw.trim().parse::<f64>().ok(),
            }
            .or_else(|| parse_iso8601(raw))
            .ok_or_else(|| bad(format!("Value '{raw}' for {name} is not a valid timestamp")))?;
            serde_json::Number::from_f64(secs).map(Value::Number).unwrap_or(Value::Null)
        }
        ShapeKind::String(_) if json_value => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .map_err(|_| bad(format!("Value for {name} is not base64-encoded JSON")))?;
            let text = String::from_utf8(decoded).map_err(|_| bad(format!("Value for {name} is not UTF-8")))?;
            Value::String(text)
        }
        _ => Value::String(raw.to_string()),
    })
}

/// Decodes and validates a restJson request for a routed operation.
pub fn decode(
    service: &Service,
    route: Route,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Input, AwsError> {
    let op = route.op;
    let Some(shape_id) = op.input else {
        return Ok(Input::default());
    };
    let ShapeKind::Structure(st) = &service.shape(shape_id).kind else {
        return Err(AwsError::internal("input shape is not a structure"));
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let mut value = Map::new();
    let mut payload = None;
    let mut bound_query: Vec<&str> = Vec::new();
    for m in st.members {
        let name = m.wire_name();
        let v = match m.location {
            Location::Uri => match route.labels.get(name) {
                Some(raw) => Some(scalar(service, m.target, raw, m.timestamp_format, TimestampFormat::Iso8601, false, name)?),
                None => None,
            },
            Location::Querystring => {
                bound_query.push(name);
                match &service.shape(m.target).kind {
                    ShapeKind::List(l) => {
                        let items: Vec<Value> = params
                            .iter()
                            .filter(|(k, _)| k == name)
                            .map(|(_, v)| scalar(service, l.member, v, None, TimestampFormat::Iso8601, false, name))
                            .collect::<Result<_, _>>()?;
                        (!items.is_empty()).then_some(Value::Array(items))
                    }
                    ShapeKind::Map(_) => None, // filled below from the unbound keys
                    _ => match params.iter().find(|(k, _)| k == name) {
                        Some((_, raw)) => Some(scalar(service, m.target, raw, m.timestamp_format, TimestampFormat::Iso8601, false, name)?),
                        None => None,
                    },
                }
            }
            Location::Header => match headers.get(name).and_then(|v| v.to_str().ok()) {
                Some(raw) => match &service.shape(m.target).kind {
                    ShapeKind::List(l) => Some(Value::Array(
                        raw.split(',')
                            .map(|s| scalar(service, l.member, s.trim(), None, TimestampFormat::Rfc822, false, name))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Some(scalar(service, m.target, raw, m.timestamp_format, TimestampFormat::Rfc822, m.json_value, name)?),
                },
                None => None,
            },
            Location::Headers => {
                let prefix = m.location_name.unwrap_or("").to_ascii_lowercase();
                let map: Map<String, Value> = headers
                    .iter()
                    .filter(|(k, _)| k.as_str().starts_with(&prefix))
                    .filter_map(|(k, v)| Some((k.as_str()[prefix.len()..].to_string(), Value::String(v.to_str().ok()?.to_string()))))
                    .collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Location::StatusCode => None,
            Location::Body => continue,
        };
        if let Some(v) = v {
            value.insert(m.name.to_string(), v);
        }
    }
    // A map bound to the query string takes every key no other member took.
    for m in st.members.iter().filter(|m| m.location == Location::Querystring) {
        if matches!(service.shape(m.target).kind, ShapeKind::Map(_)) {
            let map: Map<String, Value> = params
                .iter()
                .filter(|(k, _)| !bound_query.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            if !map.is_empty() {
                value.insert(m.name.to_string(), Value::Object(map));
            }
        }
    }
    // The body: a payload member takes all of it, otherwise body members come from a
    // JSON object.
    if let Some(member) = st.payload.and_then(|p| st.members.iter().find(|m| m.name == p)) {
        match &service.shape(member.target).kind {
            ShapeKind::Blob { .. } | ShapeKind::String(_) => {
                if !body.is_empty() {
                    payload = Some(body);
                }
            }
            _ => {
                if !body.is_empty() {
                    let v: Value = serde_json::from_slice(&body)
                        .map_err(|e| bad(format!("Could not parse request body into json: {e}")))?;
                    value.insert(member.name.to_string(), wire_json::from_wire(service, member.target, v));
                }
            }
        }
    } else if st.members.iter().any(|m| m.location == Location::Body) && !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("Could not parse request body into json: {e}")))?;
        let Value::Object(_) = parsed else {
            return Err(bad("Start of structure or map found where not expected."));
        };
        if let Value::Object(fields) = wire_json::from_wire(service, shape_id, parsed) {
            for (k, v) in fields {
                value.entry(k).or_insert(v);
            }
        }
    }
    // A blob or string payload travels in `payload`, not in `value`; a non-empty body
    // satisfies the member's `required` trait.
    let placeholder = match (&payload, st.payload) {
        (Some(_), Some(p)) if !value.contains_key(p) => {
            value.insert(p.to_string(), Value::String(String::new()));
            Some(p)
        }
        _ => None,
    };
    let mut value = Value::Object(value);
    check_input(service, Wire::RestJson, shape_id, &value)?;
    if let (Some(p), Value::Object(map)) = (placeholder, &mut value) {
        map.remove(p);
    }
    Ok(Input { value, payload })
}

/// Renders a successful restJson response: header and status-code members leave the
/// body, a payload member becomes the whole body.
pub fn encode(service: &Service, op: &Operation, output: Output) -> Response<Bytes> {
    let mut status = op.response_code;
    let mut headers = HeaderMap::new();
    let mut body = Bytes::new();
    let mut content_type = "application/json";
    let st = op.output.and_then(|id| match &service.shape(id).kind {
        ShapeKind::Structure(st) => Some((id, st)),
        _ => None,
    });
    if let (Some((shape_id, st)), Value::Object(mut fields)) = (st, output.value) {
        for m in st.members {
            if m.location == Location::Body {
                continue;
            }
            let Some(v) = fields.remove(m.name) else { continue };
            match m.location {
                Location::StatusCode => {
                    if let Some(code) = v.as_u64() {
                        status = code as u16;
                    }
                }
                Location::Header => {
                    if let Some(text) = header_text(service, m.target, &v, m.timestamp_format, m.json_value) {
                        if let (Ok(n), Ok(hv)) = (HeaderName::try_from(m.wire_name()), HeaderValue::from_str(&text)) {
                            headers.insert(n, hv);
                        }
                    }
                }
                Location::Headers => {
                    let prefix = m.location_name.unwrap_or("");
                    if let Value::Object(map) = v {
                        for (k, v) in map {
                            if let (Ok(n), Some(Ok(hv))) = (
                                HeaderName::try_from(format!("{prefix}{k}")),
                                v.as_str().map(HeaderValue::from_str),
                            ) {
                                headers.insert(n, hv);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(member) = st.payload.and_then(|p| st.members.iter().find(|m| m.name == p)) {
            match &service.shape(member.target).kind {
                ShapeKind::Blob { .. } | ShapeKind::String(_) => {
                    content_type = "application/octet-stream";
                    body = output.payload.unwrap_or_default();
                }
                _ => {
                    if let Some(v) = fields.remove(member.name) {
                        body = Bytes::from(wire_json::to_wire(service, member.target, v).to_string());
                    }
                }
            }
        } else {
            body = Bytes::from(wire_json::to_wire(service, shape_id, Value::Object(fields)).to_string());
        }
    } else if op.output.is_some() {
        body = Bytes::from_static(b"{}");
    }
    let mut response = Response::builder().status(status).body(body).unwrap_or_default();
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static(content_type));
    }
    response.headers_mut().extend(headers);
    response
}

fn header_text(service: &Service, target: u16, v: &Value, ts: Option<TimestampFormat>, json_value: bool) -> Option<String> {
    match (&service.shape(target).kind, v) {
        (ShapeKind::Timestamp { format }, Value::Number(n)) => {
            let secs = n.as_f64()?;
            Some(match ts.or(*format).unwrap_or(TimestampFormat::Rfc822) {
                TimestampFormat::Rfc822 => format_http_date(secs),
                TimestampFormat::Iso8601 => format_iso8601(secs),
                TimestampFormat::UnixTimestamp => n.to_string(),
            })
        }
        (ShapeKind::String(_), Value::String(s)) if json_value => {
            Some(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
        }
        (_, Value::String(s)) => Some(s.clone()),
        (ShapeKind::List(l), Value::Array(items)) => Some(
            items.iter().filter_map(|i| header_text(service, l.member, i, ts, false)).collect::<Vec<_>>().join(","),
        ),
        (_, Value::Null) => None,
        (_, other) => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::route;
    use nimbus_model::services::{apigateway, lambda};

    fn op(service: &'static nimbus_model::schema::Service, method: &str, path: &str, query: &str) -> Option<&'static str> {
        route(service, method, path, query).map(|r| r.op.name)
    }

    #[test]
    fn routes_lambda_paths() {
        let s = &lambda::SERVICE;
        assert_eq!(op(s, "POST", "/2015-03-31/functions/my-fn/invocations", ""), Some("Invoke"));
        assert_eq!(op(s, "GET", "/2015-03-31/functions/my-fn", ""), Some("GetFunction"));
        assert_eq!(op(s, "GET", "/2015-03-31/functions/my-fn/configuration", ""), Some("GetFunctionConfiguration"));
        assert_eq!(op(s, "GET", "/2015-03-31/functions/", ""), Some("ListFunctions"));
        assert_eq!(op(s, "POST", "/2015-03-31/functions", ""), Some("CreateFunction"));
        assert_eq!(op(s, "DELETE", "/2015-03-31/functions/x", ""), Some("DeleteFunction"));
        assert_eq!(op(s, "GET", "/nowhere", ""), None);
        let r = route(s, "POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations", "").unwrap();
        assert_eq!(r.labels["FunctionName"], "arn:aws:lambda:us-east-1:000000000000:function:f");
    }

    #[test]
    fn routes_apigateway_paths() {
        let s = &apigateway::SERVICE;
        assert_eq!(op(s, "GET", "/restapis", ""), Some("GetRestApis"));
        assert_eq!(op(s, "POST", "/restapis/abc/resources/def", ""), Some("CreateResource"));
        assert_eq!(op(s, "PUT", "/restapis/abc/resources/def/methods/GET/integration", ""), Some("PutIntegration"));
    }
}
