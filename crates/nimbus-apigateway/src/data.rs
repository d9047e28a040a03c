//! The data plane: invoke URLs of REST and HTTP APIs.
//!
//! The edge hands over `/restapis/{apiId}/{stage}/_user_request_/{path}` requests and
//! requests whose Host is `{apiId}.execute-api.*`. We find the API's stage and what it
//! serves, select the resource/route by AWS's precedence, and run the integration.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use nimbus_edge::RawHandler;
use nimbus_model::types::{apigateway as t1, apigatewayv2 as t2};
use nimbus_protocol::BoxFuture;
use nimbus_types::new_request_id;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use crate::db::{self, ApiIndex};
use crate::{ids, rest, v2, Inner};

/// The invoke-URL handler.
pub struct ExecuteApi {
    inner: Arc<Inner>,
    /// REST API deployments by `{apiId}/{deploymentId}`: immutable once written, so
    /// they are decoded once rather than on every request.
    deployments: Mutex<HashMap<String, Arc<rest::DeploymentRecord>>>,
}

/// Cached deployments before the cache is emptied (a bound, not an LRU: deployments are few).
const MAX_CACHED_DEPLOYMENTS: usize = 256;

/// API Gateway's payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

impl ExecuteApi {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        ExecuteApi {
            inner,
            deployments: Mutex::new(HashMap::new()),
        }
    }

    fn rest_deployment(
        &self,
        index: &ApiIndex,
        api: &str,
        id: &str,
    ) -> Option<Arc<rest::DeploymentRecord>> {
        let key = format!("{api}/{id}");
        if let Some(hit) = self
            .deployments
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Some(hit);
        }
        let dep_key = db::child_key("v1", &index.account, &index.region, api, "dep", id);
        let rec: rest::DeploymentRecord = self.inner.db.get(&dep_key).ok().flatten()?;
        let rec = Arc::new(rec);
        if let Ok(mut c) = self.deployments.lock() {
            if c.len() >= MAX_CACHED_DEPLOYMENTS {
                c.clear();
            }
            c.insert(key, rec.clone());
        }
        Some(rec)
    }
}

impl RawHandler for ExecuteApi {
    fn call<'a>(&'a self, parts: Parts, body: Bytes) -> BoxFuture<'a, Response<Bytes>> {
        Box::pin(async move {
            let request_id = new_request_id();
            let mut resp = match self.handle(&parts, body, &request_id).await {
                Ok(r) | Err(r) => r,
            };
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                h.insert("x-amzn-requestid", v);
            }
            resp
        })
    }
}

/// Where an invoke URL points.
#[derive(Debug, PartialEq)]
pub(crate) struct Target {
    pub api_id: String,
    /// The stage named by the path form; the host form names it in the path.
    pub stage: Option<String>,
    /// The path after the stage (path form) or the whole path (host form), raw.
    pub path: String,
    pub domain: String,
}

pub(crate) fn parse_target(parts: &Parts) -> Option<Target> {
    let path = parts.uri.path();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host_name = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    if let Some(rest) = path.strip_prefix("/restapis/") {
        let mut it = rest.splitn(4, '/');
        let (Some(api), Some(stage), Some("_user_request_")) = (it.next(), it.next(), it.next())
        else {
            return host_target(&host_name, path);
        };
        let tail = it.next().unwrap_or("");
        return Some(Target {
            api_id: api.to_string(),
            stage: Some(percent_decode_str(stage).decode_utf8_lossy().into_owned()),
            path: format!("/{tail}"),
            domain: if host_name.is_empty() {
                "localhost".into()
            } else {
                host_name
            },
        });
    }
    host_target(&host_name, path)
}

fn host_target(host_name: &str, path: &str) -> Option<Target> {
    let mut labels = host_name.split('.');
    let api = labels.next()?;
    (labels.next() == Some("execute-api") && !api.is_empty()).then(|| Target {
        api_id: api.to_string(),
        stage: None,
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
        domain: host_name.to_string(),
    })
}

/// The Lambda function an integration URI names: the function ARN inside
/// `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`,
/// or a function ARN given directly (HTTP APIs).
pub fn function_of_uri(uri: &str) -> Option<String> {
    if let Some((_, rest)) = uri.split_once(":lambda:path/") {
        let rest = rest.split_once("/functions/")?.1;
        let f = rest.strip_suffix("/invocations")?;
        return (!f.is_empty()).then(|| f.to_string());
    }
    if uri.starts_with("arn:") && uri.contains(":lambda:") && uri.contains(":function:") {
        return Some(uri.to_string());
    }
    None
}

fn message(status: u16, msg: &str) -> Response<Bytes> {
    let body = serde_json::to_vec(&json!({ "message": msg })).unwrap_or_default();
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn missing_token() -> Response<Bytes> {
    let mut r = message(403, "Missing Authentication Token");
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("MissingAuthenticationTokenException"),
    );
    r
}

fn forbidden() -> Response<Bytes> {
    let mut r = message(403, "Forbidden");
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("ForbiddenException"),
    );
    r
}

fn v1_internal(status: u16) -> Response<Bytes> {
    let mut r = message(status, "Internal server error");
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("InternalServerErrorException"),
    );
    r
}

fn v2_internal() -> Response<Bytes> {
    message(500, "Internal Server Error")
}

/// Scores how well a resource/route path template matches the request's segments:
/// per segment 3 for a literal, 2 for `{param}`, 1 for a greedy `{proxy+}`; compared
/// lexicographically, this is AWS's "most specific path wins".
pub(crate) fn match_path(
    template: &str,
    segs: &[&str],
) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let mut score = Vec::with_capacity(parts.len());
    let mut params = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        if let Some(name) = p.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if i >= segs.len() {
                return None;
            }
            params.insert(name.to_string(), decode(&segs[i..].join("/")));
            score.push(1);
            return Some((score, params));
        }
        let seg = segs.get(i)?;
        if let Some(name) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if seg.is_empty() {
                return None;
            }
            params.insert(name.to_string(), decode(seg));
            score.push(2);
        } else if decode(seg) == *p {
            score.push(3);
        } else {
            return None;
        }
    }
    (segs.len() == parts.len()).then_some((score, params))
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A matching resource or route: its path score, whether the method matched exactly
/// (not through ANY), and the path parameters.
type Candidate<T> = (Vec<u8>, bool, BTreeMap<String, String>, T);

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
    fn source_ip(&self) -> String {
        self.headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "127.0.0.1".into())
    }

    fn user_agent(&self) -> Value {
        self.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| json!(s))
            .unwrap_or(Value::Null)
    }

    fn request_time(&self) -> String {
        let fmt = time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        );
        time::OffsetDateTime::from_unix_timestamp(self.now_ms / 1000)
            .ok()
            .and_then(|t| t.format(&fmt).ok())
            .unwrap_or_default()
    }

    fn domain_prefix(&self) -> String {
        self.domain.split('.').next().unwrap_or("").to_string()
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The body as the event carries it: text, or base64 for binary content.
    fn event_body(&self, binary_types: &[String]) -> (Value, bool) {
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
    fn v1_headers(&self) -> (Value, Value) {
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

    fn v1_query(&self) -> (Value, Value) {
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
    fn stage_path(&self) -> String {
        if self.stage == "$default" {
            self.path.clone()
        } else {
            format!("/{}{}", self.stage, self.path)
        }
    }
}

/// `Content-Type` → `Content-Type`: HTTP/1 header names arrive lowercased; AWS passes
/// them as the client wrote them, which clients nearly always write capitalized.
fn canonical_header(name: &str) -> String {
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

fn media_matches(pattern: &str, ct: &str) -> bool {
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
    fn path_decoded(&self) -> String {
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

fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn add_header(h: &mut HeaderMap, name: &str, value: &str) -> Result<(), ()> {
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

/// `${stageVariables.name}` substitution in integration URIs.
fn substitute(uri: &str, vars: Option<&BTreeMap<String, String>>) -> String {
    let Some(vars) = vars else {
        return uri.to_string();
    };
    let mut out = uri.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{stageVariables.{k}}}"), v);
    }
    out
}

impl ExecuteApi {
    async fn handle(
        &self,
        parts: &Parts,
        body: Bytes,
        request_id: &str,
    ) -> Result<Response<Bytes>, Response<Bytes>> {
        let target = parse_target(parts).ok_or_else(forbidden)?;
        if body.len() > MAX_PAYLOAD {
            return Err(message(413, "Request Too Long"));
        }
        let index: ApiIndex = self
            .inner
            .db
            .get(&db::idx_key(&target.api_id))
            .ok()
            .flatten()
            .ok_or_else(forbidden)?;
        let now_ms = (nimbus_types::epoch_now() * 1000.0) as i64;
        let protocol = match parts.version {
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        let extended_id = ids::extended_request_id();
        let mk = |stage: String, path: String| Req {
            method: parts.method.as_str().to_string(),
            path,
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: body.clone(),
            api_id: target.api_id.clone(),
            account: index.account.clone(),
            stage,
            domain: target.domain.clone(),
            request_id: request_id.to_string(),
            extended_id: extended_id.clone(),
            now_ms,
            protocol: protocol.to_string(),
        };
        if index.version == 1 {
            let (stage, path) = match &target.stage {
                Some(s) => (s.clone(), target.path.clone()),
                None => {
                    let p = target.path.trim_start_matches('/');
                    let (s, rest) = p.split_once('/').unwrap_or((p, ""));
                    (decode(s), format!("/{rest}"))
                }
            };
            let req = mk(stage, path);
            let mut r = self.rest(&index, &req).await?;
            if let Ok(v) = HeaderValue::from_str(&extended_id) {
                r.headers_mut().insert("x-amz-apigw-id", v);
            }
            Ok(r)
        } else {
            let s = v2::Scope {
                account: &index.account,
                region: &index.region,
                api: &target.api_id,
            };
            let (stage, path) = match &target.stage {
                Some(st) => (st.clone(), target.path.clone()),
                None => {
                    // Host form: a named stage is the first path segment; otherwise $default.
                    let p = target.path.trim_start_matches('/');
                    let (first, rest) = p.split_once('/').unwrap_or((p, ""));
                    let named = !first.is_empty()
                        && first != "$default"
                        && self
                            .inner
                            .db
                            .get::<t2::Stage>(&s.key("stage", &decode(first)))
                            .ok()
                            .flatten()
                            .is_some();
                    if named {
                        (decode(first), format!("/{rest}"))
                    } else {
                        ("$default".to_string(), target.path.clone())
                    }
                }
            };
            let req = mk(stage, path);
            let mut r = self.http(&index, &req).await?;
            if let Ok(v) = HeaderValue::from_str(&extended_id) {
                r.headers_mut().insert("apigw-requestid", v);
            }
            Ok(r)
        }
    }

    async fn rest(
        &self,
        index: &ApiIndex,
        req: &Req<'_>,
    ) -> Result<Response<Bytes>, Response<Bytes>> {
        let api_key = db::api_key("v1", &index.account, &index.region, &req.api_id);
        let api: t1::RestApi = self
            .inner
            .db
            .get(&api_key)
            .ok()
            .flatten()
            .ok_or_else(forbidden)?;
        let stage_key = db::child_key(
            "v1",
            &index.account,
            &index.region,
            &req.api_id,
            "stage",
            &req.stage,
        );
        let stage: t1::Stage = self
            .inner
            .db
            .get(&stage_key)
            .ok()
            .flatten()
            .ok_or_else(forbidden)?;
        let dep_id = stage.deployment_id.clone().unwrap_or_default();
        let dep = self
            .rest_deployment(index, &req.api_id, &dep_id)
            .ok_or_else(forbidden)?;
        let segs = segments(&req.path);
        // The most specific resource that has this method (or ANY).
        let mut best: Option<Candidate<(&t1::Resource, &t1::Method)>> = None;
        for r in &dep.resources {
            let Some(methods) = &r.resource_methods else {
                continue;
            };
            let (exact, m) = match (methods.get(&req.method), methods.get("ANY")) {
                (Some(m), _) => (true, m),
                (None, Some(m)) => (false, m),
                _ => continue,
            };
            let Some((score, params)) = match_path(r.path.as_deref().unwrap_or("/"), &segs) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(s, e, ..)| (&score, exact) > (s, *e))
            {
                best = Some((score, exact, params, (r, m)));
            }
        }
        let (_, _, params, (resource, method)) = best.ok_or_else(missing_token)?;
        let integ = method
            .method_integration
            .as_ref()
            .ok_or_else(missing_token)?;
        let resource_path = resource.path.clone().unwrap_or_else(|| "/".into());
        match integ.type_.as_deref() {
            Some("AWS_PROXY") => {
                let uri = substitute(integ.uri.as_deref().unwrap_or(""), stage.variables.as_ref());
                let function = function_of_uri(&uri).ok_or_else(|| v1_internal(500))?;
                let event = event_v1(
                    req,
                    &resource_path,
                    resource.id.as_deref(),
                    None,
                    &params,
                    stage.variables.as_ref(),
                    api.binary_media_types.as_deref().unwrap_or(&[]),
                );
                let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                match self
                    .inner
                    .invoker
                    .invoke(&index.account, &index.region, &function, payload)
                    .await
                {
                    Err(e) => {
                        tracing::warn!(api = %req.api_id, function = %function, "Lambda invocation failed: {e}");
                        Err(v1_internal(500))
                    }
                    Ok(inv) if inv.function_error.is_some() => Err(v1_internal(502)),
                    Ok(inv) => serde_json::from_slice::<Value>(&inv.payload)
                        .ok()
                        .and_then(|v| structured_response(&v))
                        .ok_or_else(|| {
                            tracing::warn!(api = %req.api_id, "Malformed Lambda proxy response");
                            v1_internal(502)
                        }),
                }
            }
            Some("MOCK") => Ok(mock_response(integ)),
            Some("HTTP_PROXY") => {
                let uri = substitute(integ.uri.as_deref().unwrap_or(""), stage.variables.as_ref());
                let method = match integ.http_method.as_deref() {
                    Some("ANY") | None => req.method.clone(),
                    Some(m) => m.to_string(),
                };
                let timeout = integ.timeout_in_millis.unwrap_or(29_000);
                proxy_http(req, &uri, &method, &params, timeout, v1_internal).await
            }
            _ => Err(v1_internal(500)),
        }
    }

    async fn http(
        &self,
        index: &ApiIndex,
        req: &Req<'_>,
    ) -> Result<Response<Bytes>, Response<Bytes>> {
        let s = v2::Scope {
            account: &index.account,
            region: &index.region,
            api: &req.api_id,
        };
        let not_found = || message(404, "Not Found");
        let api: t2::Api = self
            .inner
            .db
            .get(&s.api_key())
            .ok()
            .flatten()
            .ok_or_else(not_found)?;
        let stage: t2::Stage = self
            .inner
            .db
            .get(&s.key("stage", &req.stage))
            .ok()
            .flatten()
            .ok_or_else(not_found)?;
        if let Some(cors) = &api.cors_configuration {
            if req.method == "OPTIONS" && req.headers.contains_key("access-control-request-method")
            {
                return Ok(preflight(cors, req.headers));
            }
        }
        let (routes, integrations): (Vec<t2::Route>, Vec<t2::Integration>) =
            if stage.auto_deploy == Some(true) {
                (
                    self.inner
                        .db
                        .list(&s.prefix("route"))
                        .map_err(|_| v2_internal())?,
                    self.inner
                        .db
                        .list(&s.prefix("integ"))
                        .map_err(|_| v2_internal())?,
                )
            } else {
                let dep_id = stage.deployment_id.clone().ok_or_else(not_found)?;
                let dep: v2::DeploymentRecord = self
                    .inner
                    .db
                    .get(&s.key("dep", &dep_id))
                    .ok()
                    .flatten()
                    .ok_or_else(not_found)?;
                (dep.routes, dep.integrations)
            };
        let segs = segments(&req.path);
        let mut best: Option<Candidate<&t2::Route>> = None;
        let mut default = None;
        for r in &routes {
            let key = r.route_key.as_deref().unwrap_or("");
            if key == "$default" {
                default = Some(r);
                continue;
            }
            let Some((method, path)) = key.split_once(' ') else {
                continue;
            };
            let exact = method == req.method;
            if !exact && method != "ANY" {
                continue;
            }
            let Some((score, params)) = match_path(path, &segs) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(s, e, ..)| (&score, exact) > (s, *e))
            {
                best = Some((score, exact, params, r));
            }
        }
        let (route, params) = match best {
            Some((_, _, p, r)) => (r, p),
            None => (default.ok_or_else(not_found)?, BTreeMap::new()),
        };
        let route_key = route.route_key.clone().unwrap_or_default();
        let integ_id = route
            .target
            .as_deref()
            .and_then(v2::target_integration)
            .ok_or_else(not_found)?;
        let integ = integrations
            .iter()
            .find(|i| i.integration_id.as_deref() == Some(integ_id))
            .ok_or_else(v2_internal)?;
        let mut resp = match integ.integration_type.as_deref() {
            Some("AWS_PROXY") => {
                let uri = substitute(
                    integ.integration_uri.as_deref().unwrap_or(""),
                    stage.stage_variables.as_ref(),
                );
                let function = function_of_uri(&uri).ok_or_else(v2_internal)?;
                let v1 = integ.payload_format_version.as_deref() == Some("1.0");
                let event = if v1 {
                    let resource = route_key
                        .split_once(' ')
                        .map(|(_, p)| p.to_string())
                        .unwrap_or_else(|| "$default".into());
                    event_v1(
                        req,
                        &resource,
                        None,
                        Some(&route_key),
                        &params,
                        stage.stage_variables.as_ref(),
                        &[],
                    )
                } else {
                    event_v2(req, &route_key, &params, stage.stage_variables.as_ref())
                };
                let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                match self
                    .inner
                    .invoker
                    .invoke(&index.account, &index.region, &function, payload)
                    .await
                {
                    Err(e) => {
                        tracing::warn!(api = %req.api_id, function = %function, "Lambda invocation failed: {e}");
                        return Err(v2_internal());
                    }
                    Ok(inv) if inv.function_error.is_some() => return Err(v2_internal()),
                    Ok(inv) => {
                        let mapped = if v1 {
                            serde_json::from_slice::<Value>(&inv.payload)
                                .ok()
                                .and_then(|v| structured_response(&v))
                        } else {
                            v2_response(&inv.payload)
                        };
                        mapped.ok_or_else(v2_internal)?
                    }
                }
            }
            Some("HTTP_PROXY") => {
                let uri = substitute(
                    integ.integration_uri.as_deref().unwrap_or(""),
                    stage.stage_variables.as_ref(),
                );
                let method = match integ.integration_method.as_deref() {
                    Some("ANY") | None => req.method.clone(),
                    Some(m) => m.to_string(),
                };
                let timeout = integ.timeout_in_millis.unwrap_or(30_000);
                proxy_http(req, &uri, &method, &params, timeout, |_| v2_internal()).await?
            }
            _ => return Err(v2_internal()),
        };
        if let Some(cors) = &api.cors_configuration {
            add_cors_headers(cors, req.headers, resp.headers_mut());
        }
        Ok(resp)
    }
}

/// Forwards to an HTTP backend; `internal(status)` renders the gateway's own errors.
async fn proxy_http(
    req: &Req<'_>,
    uri: &str,
    method: &str,
    params: &BTreeMap<String, String>,
    timeout_ms: i32,
    internal: impl Fn(u16) -> Response<Bytes>,
) -> Result<Response<Bytes>, Response<Bytes>> {
    let url = crate::forward::target_url(uri, params, req.query);
    let timeout =
        std::time::Duration::from_millis(u64::try_from(timeout_ms.max(50)).unwrap_or(29_000));
    match crate::forward::forward(&url, method, req.headers, req.body.clone(), timeout).await {
        Ok(r) => Ok(r),
        Err(crate::forward::ForwardError::Timeout) => {
            Err(message(504, "Endpoint request timed out"))
        }
        Err(crate::forward::ForwardError::Bad) => Err(internal(502)),
        Err(crate::forward::ForwardError::Unsupported) => {
            tracing::warn!(url = %url, "HTTP_PROXY: only http:// backends are supported");
            Err(internal(500))
        }
    }
}

/// A MOCK integration answers its integration response: the default one (no
/// selection pattern), or the one whose status the request template selects.
fn mock_response(integ: &t1::Integration) -> Response<Bytes> {
    let Some(responses) = integ
        .integration_responses
        .as_ref()
        .filter(|r| !r.is_empty())
    else {
        return v1_internal(500);
    };
    let selected = integ
        .request_templates
        .as_ref()
        .and_then(|t| t.get("application/json"))
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| {
            v.get("statusCode").and_then(|s| {
                s.as_u64()
                    .map(|n| n.to_string())
                    .or_else(|| s.as_str().map(String::from))
            })
        })
        .and_then(|code| responses.get(&code));
    let ir = selected
        .or_else(|| {
            responses
                .values()
                .find(|r| r.selection_pattern.as_deref().unwrap_or("").is_empty())
        })
        .or_else(|| responses.values().next());
    let Some(ir) = ir else {
        return v1_internal(500);
    };
    let status = ir
        .status_code
        .as_deref()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = ir
        .response_templates
        .as_ref()
        .and_then(|t| t.get("application/json").or_else(|| t.values().next()))
        .filter(|t| !t.contains('$') && !t.contains('#'))
        .cloned()
        .unwrap_or_default();
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in ir.response_parameters.iter().flatten() {
        if let Some(name) = k.strip_prefix("method.response.header.") {
            if let Some(lit) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                if let (Ok(n), Ok(hv)) = (HeaderName::try_from(name), HeaderValue::from_str(lit)) {
                    r.headers_mut().insert(n, hv);
                }
            }
        }
    }
    r
}

fn origin_allowed(cors: &t2::Cors, origin: &str) -> Option<String> {
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
fn preflight(cors: &t2::Cors, headers: &HeaderMap) -> Response<Bytes> {
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

fn add_cors_headers(cors: &t2::Cors, req: &HeaderMap, h: &mut HeaderMap) {
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
