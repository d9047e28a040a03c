//! The data plane: invoke URLs of REST and HTTP APIs.
//!
//! The edge hands over `/restapis/{apiId}/{stage}/_user_request_/{path}` requests and
//! requests whose Host is `{apiId}.execute-api.*`. We find the API's stage and what it
//! serves, select the resource/route by AWS's precedence, and run the integration.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use nimbus_edge::RawHandler;
use nimbus_model::types::{apigateway as t1, apigatewayv2 as t2};
use nimbus_protocol::BoxFuture;
use nimbus_types::new_request_id;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use crate::cors::{add_cors_headers, preflight};
use crate::db::{self, ApiIndex};
use crate::event::{event_v1, event_v2, structured_response, v2_response, Req};
use crate::invoke::{timeout_of, Call, InvokeError};
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

pub(crate) fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A matching resource or route: its path score, whether the method matched exactly
/// (not through ANY), and the path parameters.
type Candidate<T> = (Vec<u8>, bool, BTreeMap<String, String>, T);

/// `${stageVariables.name}` substitution in integration URIs.
pub(crate) fn substitute(uri: &str, vars: Option<&BTreeMap<String, String>>) -> String {
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
        let started = Instant::now();
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
            let mut trace = Trace::default();
            let mut r = self
                .rest(&index, &req, &mut trace)
                .await
                .unwrap_or_else(|e| e);
            if let Ok(v) = HeaderValue::from_str(&extended_id) {
                r.headers_mut().insert("x-amz-apigw-id", v);
            }
            self.access_log(&index, &req, &trace, &r, started);
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
            let mut trace = Trace::default();
            let mut r = self
                .http(&index, &req, &mut trace)
                .await
                .unwrap_or_else(|e| e);
            if let Ok(v) = HeaderValue::from_str(&extended_id) {
                r.headers_mut().insert("apigw-requestid", v);
            }
            self.access_log(&index, &req, &trace, &r, started);
            Ok(r)
        }
    }

    async fn rest(
        &self,
        index: &ApiIndex,
        req: &Req<'_>,
        trace: &mut Trace,
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
        trace.access_log = stage.access_log_settings.as_ref().and_then(|a| {
            crate::access_log::settings(a.destination_arn.as_deref(), a.format.as_deref())
        });
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
        let (_, exact, params, (resource, method)) = best.ok_or_else(missing_token)?;
        let method_key = if exact {
            req.method.clone()
        } else {
            "ANY".to_string()
        };
        let integ = method
            .method_integration
            .as_ref()
            .ok_or_else(missing_token)?;
        let resource_path = resource.path.clone().unwrap_or_else(|| "/".into());
        trace.resource_path = Some(resource_path.clone());
        trace.resource_id = resource.id.clone();
        let integration_started = Instant::now();
        let result = match integ.type_.as_deref() {
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
                let arns = source_arns(index, req, &method_key, &resource_path);
                let call = Call {
                    account: &index.account,
                    region: &index.region,
                    api_id: &req.api_id,
                    function: &function,
                    credentials: integ.credentials.as_deref(),
                    source_arns: &arns,
                    timeout: timeout_of(integ.timeout_in_millis, 29_000),
                };
                match self.inner.invoke_function(&call, payload).await {
                    Err(e) => Err(v1_invoke_error(e)),
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
            Some("MOCK" | "AWS" | "HTTP") => {
                let arns = source_arns(index, req, &method_key, &resource_path);
                let m = crate::mapping::Method {
                    req,
                    region: &index.region,
                    resource_path: &resource_path,
                    resource_id: resource.id.as_deref().unwrap_or(""),
                    params: &params,
                    stage_vars: stage.variables.as_ref(),
                    source_arns: &arns,
                };
                self.inner.non_proxy(&m, integ).await
            }
            Some("HTTP_PROXY") => {
                let uri = substitute(integ.uri.as_deref().unwrap_or(""), stage.variables.as_ref());
                let method = match integ.http_method.as_deref() {
                    Some("ANY") | None => req.method.clone(),
                    Some(m) => m.to_string(),
                };
                let timeout = integ.timeout_in_millis.unwrap_or(29_000);
                proxy_http(
                    req,
                    &uri,
                    &method,
                    &params,
                    timeout,
                    |status| match status {
                        504 => message(504, "Endpoint request timed out"),
                        s => v1_internal(s),
                    },
                )
                .await
            }
            _ => Err(v1_internal(500)),
        };
        trace.integration_latency = Some(integration_started.elapsed().as_millis());
        result
    }

    async fn http(
        &self,
        index: &ApiIndex,
        req: &Req<'_>,
        trace: &mut Trace,
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
        trace.access_log = stage.access_log_settings.as_ref().and_then(|a| {
            crate::access_log::settings(a.destination_arn.as_deref(), a.format.as_deref())
        });
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
        trace.route_key = Some(route_key.clone());
        let integ_id = route
            .target
            .as_deref()
            .and_then(v2::target_integration)
            .ok_or_else(not_found)?;
        let integ = integrations
            .iter()
            .find(|i| i.integration_id.as_deref() == Some(integ_id))
            .ok_or_else(v2_internal)?;
        let integration_started = Instant::now();
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
                let arns = route_source_arns(index, req, &route_key);
                let call = Call {
                    account: &index.account,
                    region: &index.region,
                    api_id: &req.api_id,
                    function: &function,
                    credentials: integ.credentials_arn.as_deref(),
                    source_arns: &arns,
                    timeout: timeout_of(integ.timeout_in_millis, 30_000),
                };
                match self.inner.invoke_function(&call, payload).await {
                    Err(InvokeError::Timeout) => return Err(message(503, "Service Unavailable")),
                    Err(_) => return Err(v2_internal()),
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
                // HTTP APIs answer a backend timeout with 503.
                proxy_http(
                    req,
                    &uri,
                    &method,
                    &params,
                    timeout,
                    |status| match status {
                        504 => message(503, "Service Unavailable"),
                        _ => v2_internal(),
                    },
                )
                .await?
            }
            _ => return Err(v2_internal()),
        };
        trace.integration_latency = Some(integration_started.elapsed().as_millis());
        if let Some(cors) = &api.cors_configuration {
            add_cors_headers(cors, req.headers, resp.headers_mut());
        }
        Ok(resp)
    }
}

/// What routing learned about a request, for its access log line.
#[derive(Default)]
struct Trace {
    access_log: Option<crate::access_log::AccessLog>,
    resource_path: Option<String>,
    resource_id: Option<String>,
    route_key: Option<String>,
    integration_latency: Option<u128>,
}

impl ExecuteApi {
    /// Writes the request's access log line when its stage asks for one.
    fn access_log(
        &self,
        index: &ApiIndex,
        req: &Req,
        trace: &Trace,
        resp: &Response<Bytes>,
        started: Instant,
    ) {
        let Some(log) = &trace.access_log else {
            return;
        };
        let mut ctx = crate::mapping::context_value(
            req,
            trace.resource_path.as_deref().unwrap_or(""),
            trace.resource_id.as_deref().unwrap_or(""),
        );
        let status = resp.status().as_u16();
        let error = (status >= 400)
            .then(|| serde_json::from_slice::<Value>(resp.body()).ok())
            .flatten()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from));
        if let Some(o) = ctx.as_object_mut() {
            o.insert("status".into(), json!(status));
            o.insert("responseLength".into(), json!(resp.body().len()));
            o.insert(
                "responseLatency".into(),
                json!(started.elapsed().as_millis()),
            );
            o.insert(
                "integrationLatency".into(),
                json!(trace.integration_latency),
            );
            o.insert("routeKey".into(), json!(trace.route_key));
            o.insert(
                "integration".into(),
                json!({"latency": trace.integration_latency}),
            );
            o.insert(
                "error".into(),
                json!({"message": error, "messageString": error.as_ref().map(|e| format!("\"{e}\""))}),
            );
        }
        let line = crate::access_log::render(&log.format, &ctx);
        let stream = format!("{}_{}", req.api_id, req.stage.trim_start_matches('$'));
        self.inner
            .write_access_log(&index.account, &index.region, log, stream, line);
    }
}

/// The `execute-api` ARNs of a REST API method: `{api}/{stage}/{METHOD}{resource path}`,
/// for the request's method and, for an `ANY` method, for `ANY` too.
fn source_arns(index: &ApiIndex, req: &Req, method_key: &str, resource_path: &str) -> Vec<String> {
    let base = format!(
        "arn:aws:execute-api:{}:{}:{}/{}",
        index.region, index.account, req.api_id, req.stage
    );
    let mut out = vec![format!("{base}/{}{resource_path}", req.method)];
    if method_key != req.method {
        out.push(format!("{base}/{method_key}{resource_path}"));
    }
    out
}

/// The `execute-api` ARNs of an HTTP API route: `{api}/{stage}/{METHOD}/{path}` (the
/// route's method and the request's), or `{api}/{stage}/$default`.
fn route_source_arns(index: &ApiIndex, req: &Req, route_key: &str) -> Vec<String> {
    let base = format!(
        "arn:aws:execute-api:{}:{}:{}/{}",
        index.region, index.account, req.api_id, req.stage
    );
    match route_key.split_once(' ') {
        Some((method, path)) => {
            let mut out = vec![format!("{base}/{}{path}", req.method)];
            if method != req.method {
                out.push(format!("{base}/{method}{path}"));
            }
            out
        }
        None => vec![format!("{base}/{route_key}")],
    }
}

/// What a REST API answers when its Lambda integration got no answer.
fn v1_invoke_error(e: InvokeError) -> Response<Bytes> {
    match e {
        InvokeError::Timeout => message(504, "Endpoint request timed out"),
        InvokeError::Denied | InvokeError::Failed => v1_internal(500),
    }
}

/// Forwards to an HTTP backend; `internal(status)` renders the gateway's own errors
/// (504 for a timeout, 502 for a bad backend answer, 500 for an unusable URL).
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
        Err(crate::forward::ForwardError::Timeout) => Err(internal(504)),
        Err(crate::forward::ForwardError::Bad) => Err(internal(502)),
        Err(crate::forward::ForwardError::Unsupported) => {
            tracing::warn!(url = %url, "HTTP_PROXY: only http:// backends are supported");
            Err(internal(500))
        }
    }
}
