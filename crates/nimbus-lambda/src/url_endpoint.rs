//! Lambda function URLs, data plane: an HTTP request to a URL becomes a synchronous
//! invocation with the payload format 2.0 event, and the function's answer becomes the
//! HTTP response, as AWS maps them ("Invoking Lambda function URLs").
//!
//! A URL is reached by Host, `<url-id>.lambda-url.<region>.<anything>` (AWS's
//! `...on.aws`, or `...localhost.localstack.cloud:4566` which resolves to 127.0.0.1), or,
//! for clients that cannot set Host, by path: `/_nimbus/lambda-url/<url-id>/<path>`.
//!
//! Authorization as AWS: `AuthType: NONE` still needs resource-policy statements that
//! let principal `*` call `lambda:InvokeFunctionUrl` and (since October 2025)
//! `lambda:InvokeFunction` (403 `{"Message":"Forbidden"}` without them;
//! `--lambda-url-permissions allow-all` turns the check off).
//! `AWS_IAM` needs a SigV4-signed request: the edge verifies the signature when its auth
//! is `sigv4` (in `off` mode any credentials are accepted, as for every other
//! service), and a caller from another account needs statements for its account.
//! CORS preflights are answered from the URL's `Cors`, and CORS headers are added to
//! every answer whose `Origin` is allowed.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use nimbus_model::types::lambda as t;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Map, Value};

use crate::env::Outcome;
use crate::model::FunctionRecord;
use crate::urls::UrlRecord;
use crate::{Lambda, B64, MAX_SYNC_PAYLOAD};

/// The path prefix of the path form of a function URL.
pub const PATH_PREFIX: &str = "/_nimbus/lambda-url/";

/// The URL id and the request's own path, from the Host or the path form.
pub fn locate(parts: &Parts) -> Option<(String, String)> {
    let path = parts.uri.path();
    if let Some(rest) = path.strip_prefix(PATH_PREFIX) {
        let (id, tail) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
        return Some((id.to_ascii_lowercase(), format!("/{tail}")));
    }
    let host = host_of(parts);
    let mut labels = host.split('.');
    let id = labels.next()?;
    (labels.next() == Some("lambda-url")).then(|| (id.to_string(), path.to_string()))
}

fn host_of(parts: &Parts) -> String {
    let host = parts.headers.get("host").and_then(|v| v.to_str().ok()).or_else(|| parts.uri.host()).unwrap_or("");
    host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase()
}

/// `--lambda-url-permissions allow-all`: the resource policy is not read. One setting
/// per process (one Lambda service per server).
static ALLOW_ALL: AtomicBool = AtomicBool::new(false);

fn allow_all() -> bool {
    ALLOW_ALL.load(Ordering::Relaxed)
}

fn message(status: u16, msg: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(json!({"Message": msg}).to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn forbidden() -> Response<Bytes> {
    message(403, "Forbidden")
}

/// Media types whose bodies reach the function as text; anything else is base64.
fn is_text(ct: &str) -> bool {
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.is_empty()
        || ["json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql", "csv"].iter().any(|k| ct.contains(k))
}

/// Whether the function's policy lets `caller` (`None`: anyone) invoke the URL with
/// `auth_type`: since October 2025 AWS wants both `lambda:InvokeFunctionUrl` and
/// `lambda:InvokeFunction` (the console adds the latter with the condition
/// `lambda:InvokedViaFunctionUrl`).
fn policy_allows(policy: &[Value], auth_type: &str, caller_account: Option<&str>) -> bool {
    ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"].iter().all(|action| {
        let applying: Vec<&Value> = policy.iter().filter(|s| applies(s, action, auth_type, caller_account)).collect();
        let effect = |e: &str| applying.iter().any(|s| s.get("Effect").and_then(Value::as_str) == Some(e));
        // An explicit Deny wins over any Allow, as IAM evaluates.
        effect("Allow") && !effect("Deny")
    })
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether statement `s` concerns `action` by the URL's caller in this request.
fn applies(s: &Value, action: &str, auth_type: &str, caller_account: Option<&str>) -> bool {
    let action_ok = s.get("Action").is_some_and(|a| {
        strings(a).iter().any(|a| a.eq_ignore_ascii_case(action) || a.eq_ignore_ascii_case("lambda:*") || *a == "*")
    });
    let account_arn = |arn: &str| {
        caller_account.is_some_and(|a| arn.strip_prefix("arn:aws:iam::").is_some_and(|r| r.starts_with(&format!("{a}:"))))
    };
    let principal_ok = match s.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(o)) => o.get("AWS").is_some_and(|v| strings(v).iter().any(|p| *p == "*" || account_arn(p))),
        _ => false,
    };
    // Only the function URL conditions can hold for a URL request: a statement with
    // any other condition (SourceArn, SourceAccount, ...) does not apply.
    let conditions_ok = match s.get("Condition") {
        None => true,
        Some(Value::Object(c)) => c.iter().all(|(op, kv)| {
            let Some(kv) = kv.as_object() else { return false };
            kv.iter().all(|(k, v)| match (op.as_str(), k.to_ascii_lowercase().as_str()) {
                ("StringEquals", "lambda:functionurlauthtype") => strings(v).contains(&auth_type),
                ("Bool", "lambda:invokedviafunctionurl") => strings(v).iter().any(|b| b.eq_ignore_ascii_case("true")),
                _ => false,
            })
        }),
        Some(_) => false,
    };
    action_ok && principal_ok && conditions_ok
}

fn origin_allowed(cors: &t::Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or(&[]);
    if origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    origins.iter().any(|o| o.eq_ignore_ascii_case(origin)).then(|| origin.to_string())
}

fn set(h: &mut HeaderMap, name: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name, v);
    }
}

/// CORS headers of an answer to `req` (none when its Origin is not allowed).
fn add_cors(cors: &t::Cors, req: &HeaderMap, h: &mut HeaderMap) {
    let Some(origin) = req.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()) else { return };
    let Some(allowed) = origin_allowed(cors, origin) else { return };
    set(h, "access-control-allow-origin", &allowed);
    if let Some(e) = cors.expose_headers.as_ref().filter(|e| !e.is_empty()) {
        set(h, "access-control-expose-headers", &e.join(","));
    }
    if cors.allow_credentials == Some(true) {
        set(h, "access-control-allow-credentials", "true");
    }
    if allowed != "*" {
        h.append(http::header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The answer to a CORS preflight, from the URL's configuration.
fn preflight(cors: &t::Cors, req: &HeaderMap) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    let h = r.headers_mut();
    add_cors(cors, req, h);
    if h.contains_key("access-control-allow-origin") {
        h.remove("access-control-expose-headers");
        if let Some(m) = cors.allow_methods.as_ref().filter(|m| !m.is_empty()) {
            set(h, "access-control-allow-methods", &m.join(","));
        }
        if let Some(hd) = cors.allow_headers.as_ref().filter(|m| !m.is_empty()) {
            set(h, "access-control-allow-headers", &hd.join(","));
        }
        if let Some(age) = cors.max_age {
            set(h, "access-control-max-age", &age.to_string());
        }
    }
    r
}

/// `Wed, 25 Nov 2026 16:13:15 GMT` → `25/Nov/2026:16:13:15 +0000`.
fn request_time(now: f64) -> String {
    let http = nimbus_types::format_http_date(now);
    let f: Vec<&str> = http.split(' ').collect();
    match f.as_slice() {
        [_, day, mon, year, time, _] => format!("{day}/{mon}/{year}:{time} +0000"),
        _ => http,
    }
}

/// An X-Ray trace header: `Root=1-<8 hex seconds>-<24 hex>`.
fn trace_id() -> String {
    let secs = nimbus_types::epoch_now() as u64;
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{secs:08x}-{}", &rand[..24])
}

/// The payload format 2.0 event of a URL request.
fn event(u: &UrlRecord, parts: &Parts, path: &str, body: &Bytes, caller: Option<&RequestContext>, request_id: &str) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in parts.headers.iter() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(v.split(';').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
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
    let source_ip = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    // What AWS's front end adds to every request it passes on.
    let port = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map_or("80".to_string(), |(_, p)| p.to_string());
    let added = [
        ("x-forwarded-for", source_ip.clone()),
        ("x-forwarded-proto", "http".to_string()),
        ("x-forwarded-port", port),
        ("x-amzn-trace-id", trace_id()),
    ];
    for (name, value) in added {
        headers.entry(name).or_insert_with(|| json!(value));
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), json!(v));
            }
        }
    }
    let host = host_of(parts);
    let domain = if host.split('.').nth(1) == Some("lambda-url") { host } else { format!("{}.lambda-url.{}.on.aws", u.url_id, u.region) };
    let user_agent = parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map_or(Value::Null, |s| json!(s));
    let now = nimbus_types::epoch_now();
    let protocol = match parts.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut ctx = json!({
        "accountId": "anonymous",
        "apiId": u.url_id,
        "domainName": domain,
        "domainPrefix": u.url_id,
        "http": {
            "method": parts.method.as_str(),
            "path": percent_encoding::percent_decode_str(path).decode_utf8_lossy(),
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(now),
        "timeEpoch": (now * 1000.0) as i64,
    });
    if let (Some(c), Some(obj)) = (caller.filter(|_| u.auth_type == "AWS_IAM"), ctx.as_object_mut()) {
        let key = c.access_key_id.clone().unwrap_or_default();
        let user_arn = c.assumed_role_arn.clone().unwrap_or_else(|| format!("arn:aws:iam::{}:root", c.account_id));
        obj.insert("accountId".into(), json!(c.account_id));
        obj.insert(
            "authorizer".into(),
            json!({"iam": {
                "accessKey": key,
                "accountId": c.account_id,
                "callerId": key,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": user_arn,
                "userId": key,
            }}),
        );
    }
    let mut ev = Map::new();
    ev.insert("version".into(), json!("2.0"));
    ev.insert("routeKey".into(), json!("$default"));
    ev.insert("rawPath".into(), json!(path));
    ev.insert("rawQueryString".into(), json!(raw_query));
    if !cookies.is_empty() {
        ev.insert("cookies".into(), json!(cookies));
    }
    ev.insert("headers".into(), Value::Object(headers));
    if !query.is_empty() {
        ev.insert("queryStringParameters".into(), Value::Object(query));
    }
    ev.insert("requestContext".into(), ctx);
    if !body.is_empty() {
        let ct = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        match std::str::from_utf8(body) {
            Ok(s) if is_text(ct) => {
                ev.insert("body".into(), json!(s));
                ev.insert("isBase64Encoded".into(), json!(false));
            }
            _ => {
                ev.insert("body".into(), json!(B64.encode(body)));
                ev.insert("isBase64Encoded".into(), json!(true));
            }
        }
    } else {
        ev.insert("isBase64Encoded".into(), json!(false));
    }
    Value::Object(ev)
}

fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The function's answer as HTTP: a JSON object with `statusCode` is a structured
/// response; any other JSON is a 200 whose body is that JSON (a bare string as is).
/// `None` when a structured response is malformed (AWS answers 502).
fn response(payload: &[u8]) -> Option<Response<Bytes>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let Some(obj) = v.as_object().filter(|o| o.contains_key("statusCode")) else {
        let body = match &v {
            Value::String(s) => Bytes::from(s.clone()),
            _ => Bytes::copy_from_slice(payload),
        };
        let mut r = Response::new(body);
        r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Some(r);
    };
    let status = match obj.get("statusCode")? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let mut headers = HeaderMap::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let name = HeaderName::try_from(k.as_str()).ok()?;
                headers.insert(name, HeaderValue::from_str(&header_text(v)?).ok()?);
            }
        }
        Some(_) => return None,
    }
    match obj.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(c)) => {
            for cookie in c {
                headers.append(http::header::SET_COOKIE, HeaderValue::from_str(cookie.as_str()?).ok()?);
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
        Some(Value::String(s)) if b64 => Bytes::from(B64.decode(s).ok()?),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return None,
    };
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    Some(r)
}

fn internal_error() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(b"Internal Server Error"));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

impl Lambda {
    /// Whether function URLs skip the resource-policy check (`allow-all`) or enforce it
    /// as AWS (the default).
    pub fn set_url_permissions_allow_all(&self, allow_all: bool) {
        ALLOW_ALL.store(allow_all, Ordering::Relaxed);
    }

    /// Answers one HTTP request to a function URL. The edge puts the caller's verified
    /// identity in the request's extensions (a `RequestContext`) when the request is
    /// signed, or the verification failure (an `AwsError`).
    pub async fn serve_url(&self, parts: Parts, body: Bytes) -> Response<Bytes> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut r = self.serve_url_inner(&parts, body, &request_id).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            r.headers_mut().insert("x-amzn-requestid", v);
        }
        r
    }

    async fn serve_url_inner(&self, parts: &Parts, body: Bytes, request_id: &str) -> Response<Bytes> {
        let s = &self.inner;
        let Some((url_id, path)) = locate(parts) else { return message(404, "Not Found") };
        let u = match s.url_by_id(&url_id) {
            Ok(Some(u)) => u,
            Ok(None) => return message(404, "Not Found"),
            Err(e) => {
                tracing::warn!("function URL {url_id}: {}", e.message);
                return message(500, "Internal Server Error");
            }
        };
        let cors = u.cors.clone().unwrap_or_default();
        // Preflights are the URL's to answer when it has a CORS configuration.
        if parts.method == http::Method::OPTIONS
            && u.cors.is_some()
            && parts.headers.contains_key(http::header::ORIGIN)
            && parts.headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return preflight(&cors, &parts.headers);
        }
        let mut r = self.invoke_url(&u, parts, &path, body, request_id).await;
        add_cors(&cors, &parts.headers, r.headers_mut());
        r
    }

    async fn invoke_url(&self, u: &UrlRecord, parts: &Parts, path: &str, body: Bytes, request_id: &str) -> Response<Bytes> {
        let s = &self.inner;
        let ctx = RequestContext {
            request_id: request_id.to_string(),
            account_id: u.account.clone(),
            region: u.region.clone(),
            access_key_id: None,
            assumed_role_arn: None,
        };
        let rec: FunctionRecord = match s.resolve(&ctx, &u.function, u.qualifier.as_deref()) {
            Ok(r) => r,
            Err(e) if e.status == 404 => return message(404, "Not Found"),
            Err(e) => {
                tracing::warn!("function URL {}: {}", u.url_id, e.message);
                return message(500, "Internal Server Error");
            }
        };
        let caller = parts.extensions.get::<RequestContext>();
        if u.auth_type == "AWS_IAM" {
            if parts.extensions.get::<AwsError>().is_some() {
                return forbidden();
            }
            let Some(c) = caller else { return forbidden() };
            if c.account_id != u.account && !allow_all() && !policy_allows(&rec.policy, "AWS_IAM", Some(&c.account_id)) {
                return forbidden();
            }
        } else if !allow_all() && !policy_allows(&rec.policy, "NONE", None) {
            tracing::warn!(
                "function URL {id} of {name}: the resource policy does not let principal * call both lambda:InvokeFunctionUrl and lambda:InvokeFunction. Grant them with: aws lambda add-permission --function-name {arn} --statement-id FunctionURLAllowPublicAccess --action lambda:InvokeFunctionUrl --principal '*' --function-url-auth-type NONE; aws lambda add-permission --function-name {arn} --statement-id FunctionURLAllowInvokeAction --action lambda:InvokeFunction --principal '*' --invoked-via-function-url (or serve with --lambda-url-permissions allow-all)",
                id = u.url_id,
                name = rec.name,
                arn = u.function_arn()
            );
            return forbidden();
        }
        if body.len() > MAX_SYNC_PAYLOAD {
            return message(413, &format!("Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"));
        }
        let ev = event(u, parts, path, &body, caller, request_id);
        let payload = Bytes::from(ev.to_string());
        if payload.len() > MAX_SYNC_PAYLOAD {
            return message(413, &format!("Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"));
        }
        let rec = match s.route(rec) {
            Ok(r) => r,
            Err(_) => return message(500, "Internal Server Error"),
        };
        let outcome = match s.execute(&rec, request_id, payload, None, false).await {
            Ok((o, _log)) => crate::versions::snap_start_failure(&rec, o),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Outcome::Ok(out)) => {
                if out.len() > MAX_SYNC_PAYLOAD {
                    return internal_error();
                }
                response(&out).unwrap_or_else(|| {
                    tracing::warn!("function URL {}: the function's response is not a valid function URL response", u.url_id);
                    internal_error()
                })
            }
            Ok(Outcome::FunctionError(_)) => internal_error(),
            Err(e) if e.status == 429 => message(429, "Rate Exceeded."),
            Err(e) => {
                tracing::warn!("function URL {}: invocation failed: {} {}", u.url_id, e.code, e.message);
                internal_error()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: &str, path: &str) -> Parts {
        let (p, _) = http::Request::builder().uri(path).header("host", host).body(()).unwrap().into_parts();
        p
    }

    #[test]
    fn locates_urls() {
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(locate(&parts(&format!("{id}.lambda-url.us-east-1.on.aws"), "/a/b?x=1")), Some((id.into(), "/a/b".into())));
        assert_eq!(
            locate(&parts(&format!("{id}.lambda-url.us-east-1.localhost.localstack.cloud:4566"), "/")),
            Some((id.into(), "/".into()))
        );
        assert_eq!(locate(&parts("localhost:4566", &format!("/_nimbus/lambda-url/{id}/x/y"))), Some((id.into(), "/x/y".into())));
        assert_eq!(locate(&parts("localhost:4566", &format!("/_nimbus/lambda-url/{id}"))), Some((id.into(), "/".into())));
        assert_eq!(locate(&parts("localhost:4566", "/2015-03-31/functions")), None);
    }

    #[test]
    fn policies() {
        let public = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": "x",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}});
        let invoke = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": "x",
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}});
        assert!(policy_allows(&[public.clone(), invoke.clone()], "NONE", None));
        assert!(!policy_allows(&[public.clone()], "NONE", None));
        assert!(!policy_allows(&[invoke.clone()], "NONE", None));
        assert!(!policy_allows(&[public, invoke], "AWS_IAM", Some("111111111111")));
        let both = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": "x"});
        assert!(policy_allows(&[both], "NONE", None));
        let apigw = json!({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "x",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:1:a/*"}}});
        assert!(!policy_allows(&[apigw], "NONE", None));
        let other = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"], "Resource": "x"});
        assert!(policy_allows(&[other.clone()], "AWS_IAM", Some("111111111111")));
        assert!(!policy_allows(&[other.clone()], "AWS_IAM", Some("222222222222")));
        let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": "x"});
        assert!(!policy_allows(&[other, deny], "AWS_IAM", Some("111111111111")));
    }

    #[test]
    fn responses() {
        let r = response(br#"{"statusCode": 201, "headers": {"x-a": "b"}, "cookies": ["a=1", "b=2"], "body": "aGk=", "isBase64Encoded": true}"#).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.body().as_ref(), b"hi");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        let r = response(br#"{"a": 1}"#).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body().as_ref(), br#"{"a": 1}"#);
        assert!(response(br#"{"statusCode": "x"}"#).is_none());
        assert_eq!(request_time(0.0), "01/Jan/1970:00:00:00 +0000");
    }
}
