//! Non-proxy REST integrations (`AWS` for Lambda, `HTTP`, `MOCK`): the method
//! request is mapped to the integration request (request templates chosen by
//! Content-Type, `passthroughBehavior`, `requestParameters`), the integration is
//! called, an integration response is selected (`selectionPattern` against the
//! Lambda `errorMessage` or the HTTP status code) and mapped to the method response
//! (`responseTemplates`, `responseParameters`, `contentHandling`,
//! `$context.responseOverride`).

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use nimbus_model::types::apigateway as t1;
use serde_json::{json, Map, Value};

use crate::event::{canonical_header, Req};
use crate::invoke::{timeout_of, Call, InvokeError};
use crate::vtl::{self, Vtl};
use crate::Inner;

/// Characters escaped in a mapped path parameter (a path segment).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%');

/// What the method matched: everything the templates and parameters can refer to.
pub(crate) struct Method<'a> {
    pub req: &'a Req<'a>,
    pub region: &'a str,
    pub resource_path: &'a str,
    pub resource_id: &'a str,
    pub params: &'a BTreeMap<String, String>,
    pub stage_vars: Option<&'a BTreeMap<String, String>>,
    /// `{region}`-qualified method ARNs for the Lambda permission check.
    pub source_arns: &'a [String],
}

/// What the integration answered, before the integration response is selected.
struct Answer {
    headers: HeaderMap,
    body: Bytes,
    /// What selection patterns are matched against: the Lambda `errorMessage` (when
    /// the function failed) or the HTTP/MOCK status code. `None`: the default response.
    selector: Option<String>,
}

fn message(status: u16, msg: &str, kind: Option<&'static str>) -> Response<Bytes> {
    let body = serde_json::to_vec(&json!({ "message": msg })).unwrap_or_default();
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(k) = kind {
        r.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(k));
    }
    r
}

fn internal() -> Response<Bytes> {
    message(
        500,
        "Internal server error",
        Some("InternalServerErrorException"),
    )
}

/// `$context` for templates (and access logs): AWS's names.
pub(crate) fn context_value(req: &Req, resource_path: &str, resource_id: &str) -> Value {
    json!({
        "accountId": req.account,
        "apiId": req.api_id,
        "domainName": req.domain,
        "domainPrefix": req.domain_prefix(),
        "extendedRequestId": req.extended_id,
        "httpMethod": req.method,
        "identity": {
            "sourceIp": req.source_ip(),
            "userAgent": req.user_agent(),
            "accountId": "", "apiKey": "", "apiKeyId": "", "caller": "", "user": "", "userArn": "",
            "cognitoIdentityId": "", "cognitoIdentityPoolId": "",
        },
        "path": req.stage_path(),
        "protocol": req.protocol,
        "requestId": req.request_id,
        "requestTime": req.request_time(),
        "requestTimeEpoch": req.now_ms,
        "resourceId": resource_id,
        "resourcePath": resource_path,
        "stage": req.stage,
        "requestOverride": {"header": {}, "querystring": {}, "path": {}},
        "responseOverride": {"header": {}},
    })
}

/// `$input.params()`: the method request's path, query string and header parameters.
fn params_value(req: &Req, path: &BTreeMap<String, String>) -> Value {
    let mut query = Map::new();
    for (k, v) in req.query_pairs() {
        query.insert(k, Value::String(v));
    }
    let mut header = Map::new();
    for (k, v) in req.headers.iter() {
        header.insert(
            canonical_header(k.as_str()),
            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
    }
    json!({"path": path, "querystring": query, "header": header})
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty())
}

/// Renders `template` with `$input` over `body`; answers the text and `$context`
/// after the template ran (for its overrides).
fn render(
    template: &str,
    body: &str,
    params: &Value,
    context: &Value,
    stage_vars: Option<&BTreeMap<String, String>>,
) -> Result<(String, Value), String> {
    let input = vtl::Input {
        body,
        params: params.clone(),
    };
    let mut vars = HashMap::new();
    vars.insert("context".to_string(), context.clone());
    vars.insert(
        "stageVariables".to_string(),
        json!(stage_vars.cloned().unwrap_or_default()),
    );
    let mut engine = Vtl::new(&input, vars);
    let out = engine.render(template)?;
    let ctx = engine.vars.remove("context").unwrap_or(Value::Null);
    Ok((out, ctx))
}

/// A mapping source (`method.request.header.X`, `'literal'`, `stageVariables.x`,
/// `context.x`, `integration.response.header.X`, `integration.response.body[.a]`).
fn source_value(src: &str, m: &Method, params: &Value, answer: Option<&Answer>) -> Option<String> {
    if let Some(lit) = src.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(lit.to_string());
    }
    if let Some(rest) = src.strip_prefix("method.request.") {
        let (kind, name) = rest.split_once('.')?;
        let kind = match kind {
            "path" | "querystring" | "header" => kind,
            _ => return None,
        };
        let map = params.get(kind)?.as_object()?;
        let v = map.get(name).or_else(|| {
            (kind == "header")
                .then(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                })
                .flatten()
        })?;
        return v.as_str().map(String::from);
    }
    if let Some(name) = src.strip_prefix("stageVariables.") {
        return m.stage_vars.and_then(|v| v.get(name)).cloned();
    }
    if let Some(name) = src.strip_prefix("integration.response.header.") {
        return answer?
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
    }
    if let Some(rest) = src.strip_prefix("integration.response.body") {
        let body = &answer?.body;
        if rest.is_empty() {
            return Some(String::from_utf8_lossy(body).into_owned());
        }
        let doc: Value = serde_json::from_slice(body).ok()?;
        let v = vtl::json_path(&doc, &format!("${rest}")).ok()?;
        return match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        };
    }
    if let Some(name) = src.strip_prefix("context.") {
        let ctx = context_value(m.req, m.resource_path, m.resource_id);
        let mut cur = &ctx;
        for part in name.split('.') {
            cur = cur.get(part)?;
        }
        return Some(vtl::render(cur));
    }
    None
}

/// Whether `pattern` (a Java regular expression) matches all of `text`.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .is_ok_and(|re| re.is_match(text))
}

/// The integration response for `selector`: the first whose pattern matches it,
/// else the default (no pattern).
fn select<'a>(
    responses: &'a BTreeMap<String, t1::IntegrationResponse>,
    selector: Option<&str>,
) -> Option<&'a t1::IntegrationResponse> {
    if let Some(sel) = selector {
        let hit = responses.values().find(|r| {
            r.selection_pattern
                .as_deref()
                .is_some_and(|p| !p.is_empty() && pattern_matches(p, sel))
        });
        if hit.is_some() {
            return hit;
        }
    }
    responses
        .values()
        .find(|r| r.selection_pattern.as_deref().unwrap_or("").is_empty())
}

impl Inner {
    /// Runs a non-proxy integration end to end.
    pub(crate) async fn non_proxy(
        &self,
        m: &Method<'_>,
        integ: &t1::Integration,
    ) -> Result<Response<Bytes>, Response<Bytes>> {
        let req = m.req;
        let params = params_value(req, m.params);
        let context = context_value(req, m.resource_path, m.resource_id);
        let body_text = String::from_utf8_lossy(&req.body).into_owned();

        // Request mapping.
        let templates = integ.request_templates.clone().unwrap_or_default();
        let ct = content_type(req.headers).unwrap_or_else(|| "application/json".into());
        let template = templates
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&ct))
            .map(|(_, v)| v.clone());
        let passthrough = integ
            .passthrough_behavior
            .as_deref()
            .unwrap_or("WHEN_NO_MATCH");
        let mut request_ctx = context.clone();
        let mapped: Bytes = match template {
            Some(t) => {
                let (out, ctx) =
                    render(&t, &body_text, &params, &context, m.stage_vars).map_err(|e| {
                        tracing::warn!(api = %req.api_id, "request mapping template failed: {e}");
                        internal()
                    })?;
                request_ctx = ctx;
                Bytes::from(out)
            }
            None => {
                let refuse = match passthrough {
                    "NEVER" => true,
                    "WHEN_NO_TEMPLATES" => !templates.is_empty(),
                    _ => false,
                };
                if refuse {
                    return Err(message(
                        415,
                        "Unsupported Media Type",
                        Some("UnsupportedMediaTypeException"),
                    ));
                }
                convert(req.body.clone(), integ.content_handling.as_deref())
            }
        };

        // The integration.
        let answer = match integ.type_.as_deref() {
            Some("MOCK") => {
                let status = serde_json::from_slice::<Value>(&mapped)
                    .ok()
                    .and_then(|v| v.get("statusCode").cloned())
                    .and_then(|s| vtl::as_int(&s))
                    .unwrap_or(200);
                Answer {
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                    selector: Some(status.to_string()),
                }
            }
            Some("AWS") => self.call_lambda(m, integ, mapped).await?,
            Some("HTTP") => {
                self.call_http(m, integ, &params, &request_ctx, mapped)
                    .await?
            }
            _ => return Err(internal()),
        };

        // Response mapping.
        let responses = integ.integration_responses.clone().unwrap_or_default();
        let Some(ir) = select(&responses, answer.selector.as_deref()) else {
            tracing::warn!(api = %req.api_id, "Execution failed due to configuration error: No match for output mapping and no default output mapping configured");
            return Err(internal());
        };
        let mut status = ir
            .status_code
            .as_deref()
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        let mut headers = HeaderMap::new();
        let rtemplates = ir.response_templates.clone().unwrap_or_default();
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let chosen = rtemplates
            .iter()
            .find(|(k, _)| {
                accept.split(',').any(|a| {
                    a.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case(k)
                })
            })
            .or_else(|| rtemplates.get_key_value("application/json"))
            .or_else(|| rtemplates.iter().next());
        let (body, ct) = match chosen {
            Some((ct, t)) if !t.is_empty() => {
                let text = String::from_utf8_lossy(&answer.body).into_owned();
                let (out, ctx) =
                    render(t, &text, &params, &context, m.stage_vars).map_err(|e| {
                        tracing::warn!(api = %req.api_id, "response mapping template failed: {e}");
                        internal()
                    })?;
                if let Some(s) = ctx
                    .pointer("/responseOverride/status")
                    .and_then(vtl::as_int)
                    .and_then(|s| u16::try_from(s).ok())
                {
                    status = s;
                }
                if let Some(Value::Object(h)) = ctx.pointer("/responseOverride/header") {
                    for (k, v) in h {
                        put_header(&mut headers, k, &vtl::render(v));
                    }
                }
                (Bytes::from(out), ct.clone())
            }
            _ => {
                let ct = answer
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json")
                    .to_string();
                (
                    convert(answer.body.clone(), ir.content_handling.as_deref()),
                    ct,
                )
            }
        };
        for (k, src) in ir.response_parameters.iter().flatten() {
            let Some(name) = k.strip_prefix("method.response.header.") else {
                continue;
            };
            if let Some(v) = source_value(src, m, &params, Some(&answer)) {
                put_header(&mut headers, name, &v);
            }
        }
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            put_header(&mut headers, "content-type", &ct);
        }
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *r.headers_mut() = headers;
        Ok(r)
    }

    async fn call_lambda(
        &self,
        m: &Method<'_>,
        integ: &t1::Integration,
        payload: Bytes,
    ) -> Result<Answer, Response<Bytes>> {
        let uri = crate::data::substitute(integ.uri.as_deref().unwrap_or(""), m.stage_vars);
        let function = crate::data::function_of_uri(&uri).ok_or_else(internal)?;
        let call = Call {
            account: &m.req.account,
            region: m.region,
            api_id: &m.req.api_id,
            function: &function,
            credentials: integ.credentials.as_deref(),
            source_arns: m.source_arns,
            timeout: timeout_of(integ.timeout_in_millis, 29_000),
        };
        // The function gets the mapped body as its event; an empty body is `{}`.
        let payload = if payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            payload
        };
        match self.invoke_function(&call, payload).await {
            Err(InvokeError::Timeout) => Err(message(504, "Endpoint request timed out", None)),
            Err(_) => Err(internal()),
            Ok(inv) => {
                let selector = inv.function_error.as_ref().map(|_| {
                    serde_json::from_slice::<Value>(&inv.payload)
                        .ok()
                        .and_then(|v| v.get("errorMessage").map(vtl::render))
                        .unwrap_or_else(|| String::from_utf8_lossy(&inv.payload).into_owned())
                });
                Ok(Answer {
                    headers: HeaderMap::new(),
                    body: inv.payload,
                    selector,
                })
            }
        }
    }

    async fn call_http(
        &self,
        m: &Method<'_>,
        integ: &t1::Integration,
        params: &Value,
        request_ctx: &Value,
        body: Bytes,
    ) -> Result<Answer, Response<Bytes>> {
        let mut url = crate::data::substitute(integ.uri.as_deref().unwrap_or(""), m.stage_vars);
        let mut query: Vec<(String, String)> = Vec::new();
        let mut headers = HeaderMap::new();
        if let Some(ct) = m.req.headers.get(http::header::CONTENT_TYPE) {
            headers.insert(http::header::CONTENT_TYPE, ct.clone());
        }
        for (k, src) in integ.request_parameters.iter().flatten() {
            let Some(v) = source_value(src, m, params, None) else {
                continue;
            };
            if let Some(name) = k.strip_prefix("integration.request.header.") {
                put_header(&mut headers, name, &v);
            } else if let Some(name) = k.strip_prefix("integration.request.querystring.") {
                query.push((name.to_string(), v));
            } else if let Some(name) = k.strip_prefix("integration.request.path.") {
                let enc: String = percent_encoding::utf8_percent_encode(&v, PATH_SEGMENT).collect();
                url = url
                    .replace(&format!("{{{name}+}}"), &v)
                    .replace(&format!("{{{name}}}"), &enc);
            }
        }
        // `$context.requestOverride` set by the request template wins.
        if let Some(Value::Object(h)) = request_ctx.pointer("/requestOverride/header") {
            for (k, v) in h {
                put_header(&mut headers, k, &vtl::render(v));
            }
        }
        if let Some(Value::Object(q)) = request_ctx.pointer("/requestOverride/querystring") {
            for (k, v) in q {
                query.retain(|(n, _)| n != k);
                query.push((k.clone(), vtl::render(v)));
            }
        }
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter())
            .finish();
        let url = crate::forward::target_url(&url, &BTreeMap::new(), &qs);
        let method = match integ.http_method.as_deref() {
            Some("ANY") | None => m.req.method.clone(),
            Some(x) => x.to_string(),
        };
        let timeout = timeout_of(integ.timeout_in_millis, 29_000);
        match crate::forward::forward(&url, &method, &headers, body, timeout).await {
            Ok(r) => {
                let status = r.status().as_u16();
                let (parts, body) = r.into_parts();
                Ok(Answer {
                    headers: parts.headers,
                    body,
                    selector: Some(status.to_string()),
                })
            }
            Err(crate::forward::ForwardError::Timeout) => {
                Err(message(504, "Endpoint request timed out", None))
            }
            Err(_) => Err(internal()),
        }
    }
}

/// `contentHandling`: CONVERT_TO_TEXT base64-encodes, CONVERT_TO_BINARY decodes.
fn convert(body: Bytes, handling: Option<&str>) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD;
    match handling {
        Some("CONVERT_TO_TEXT") => Bytes::from(b64.encode(&body)),
        Some("CONVERT_TO_BINARY") => b64
            .decode(body.trim_ascii())
            .map(Bytes::from)
            .unwrap_or(body),
        _ => body,
    }
}

fn put_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        h.insert(n, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        let ir = |code: &str, p: Option<&str>| t1::IntegrationResponse {
            status_code: Some(code.into()),
            selection_pattern: p.map(String::from),
            ..Default::default()
        };
        let mut rs = BTreeMap::new();
        rs.insert("200".to_string(), ir("200", None));
        rs.insert("404".to_string(), ir("404", Some(".*not found.*")));
        rs.insert("400".to_string(), ir("400", Some("4\\d\\d")));
        let pick = |s: Option<&str>| select(&rs, s).and_then(|r| r.status_code.clone());
        assert_eq!(pick(None).as_deref(), Some("200"));
        assert_eq!(pick(Some("user not found")).as_deref(), Some("404"));
        assert_eq!(pick(Some("403")).as_deref(), Some("400"));
        assert_eq!(pick(Some("x403")).as_deref(), Some("200"));
        assert!(!pattern_matches("(", "("));
        assert_eq!(
            convert(Bytes::from_static(b"hi"), Some("CONVERT_TO_TEXT")).as_ref(),
            b"aGk="
        );
        assert_eq!(
            convert(Bytes::from_static(b"aGk="), Some("CONVERT_TO_BINARY")).as_ref(),
            b"hi"
        );
    }
}
