//! The edge: one listener for every service.
//!
//! For each request it classifies (service, operation) from what the request says
//! ([`classify`]), authenticates it ([`auth`]), decodes and validates the input with the
//! service's generated model (`nimbus-protocol`), calls the service's [`Handler`], and
//! answers in the caller's protocol with a request id. Nothing a client sends can
//! panic it: every failure becomes an AWS error in the caller's protocol.

pub mod auth;
pub mod classify;
mod health;
mod s3;
mod server;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response};
use nimbus_model::schema::Service;
use nimbus_protocol::{awsjson, error, query, restjson, Handler, Wire};
use nimbus_types::{new_request_id, AwsError, RequestContext};

pub use auth::{AuthMode, Credentials};
pub use server::{serve, BoxError, EdgeBody, StreamHandler};

/// A handler that takes a whole request as it arrived (the API Gateway data plane:
/// invoke URLs carry the user's own HTTP request, not an AWS protocol).
pub trait RawHandler: Send + Sync + 'static {
    fn call<'a>(&'a self, parts: Parts, body: Bytes) -> nimbus_protocol::BoxFuture<'a, Response<Bytes>>;
}

use classify::{classify, Scope, Target};

/// The edge's settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Region for requests whose signature names none.
    pub region: String,
    /// Account for requests whose access key names none.
    pub account_id: String,
    /// Whether signatures are checked.
    pub auth: AuthMode,
    /// Largest request body read into memory (S3 streams and is not bound by it).
    pub max_body_bytes: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            region: nimbus_types::DEFAULT_REGION.into(),
            account_id: nimbus_types::DEFAULT_ACCOUNT.into(),
            auth: AuthMode::Off,
            max_body_bytes: 72 * 1024 * 1024,
        }
    }
}

/// The request router shared by every connection.
pub struct Edge {
    config: EdgeConfig,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    credentials: Arc<dyn Credentials>,
    verifier: auth::LazyVerifier,
    /// S3: takes its requests with the body unread, so objects stream.
    s3: Option<Arc<dyn StreamHandler>>,
    /// API Gateway invoke URLs.
    execute_api: Option<Arc<dyn RawHandler>>,
    /// Lambda function URLs.
    lambda_url: Option<Arc<dyn RawHandler>>,
}

impl Edge {
    pub fn new(config: EdgeConfig, credentials: Arc<dyn Credentials>) -> Self {
        Edge { config, handlers: HashMap::new(), credentials, verifier: Default::default(), s3: None, execute_api: None, lambda_url: None }
    }

    /// Registers a service; its model's service id names it (endpoint prefixes are
    /// not unique: API Gateway v1 and v2 share `apigateway`).
    pub fn register(&mut self, handler: Arc<dyn Handler>) {
        self.handlers.insert(handler.model().service_id, handler);
    }

    /// Registers the S3 service, which gets requests with their bodies unread.
    pub fn register_s3(&mut self, handler: Arc<dyn StreamHandler>) {
        self.s3 = Some(handler);
    }

    /// Registers the API Gateway data plane (invoke URLs).
    pub fn register_execute_api(&mut self, handler: Arc<dyn RawHandler>) {
        self.execute_api = Some(handler);
    }

    /// Registers Lambda function URLs. A signed request reaches the handler with the
    /// caller's `RequestContext` (or the `AwsError` of a failed verification) in its
    /// extensions; an unsigned one with neither.
    pub fn register_lambda_url(&mut self, handler: Arc<dyn RawHandler>) {
        self.lambda_url = Some(handler);
    }

    /// The key table the edge authenticates with (S3 verifies its own requests).
    pub fn credentials(&self) -> Arc<dyn Credentials> {
        self.credentials.clone()
    }

    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    fn handler_for(&self, service: &Service) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(service.service_id)
    }

    /// Answers one request whose body has been read.
    pub async fn handle(&self, parts: Parts, body: Bytes) -> Response<Bytes> {
        let request_id = new_request_id();
        let scope = Scope::of(&parts);
        let form = is_form(&parts).then(|| query::parse_params(&body));
        let get_action = (parts.method == http::Method::GET)
            .then(|| parts.uri.query().map(|q| query::parse_params(q.as_bytes())))
            .flatten()
            .filter(|p| p.contains_key("Action"));
        let params = form.filter(|p| p.contains_key("Action")).or(get_action);
        let action = params.as_ref().and_then(|p| p.get("Action")).cloned();
        let target = classify(&parts, action.as_deref(), scope.as_ref());
        let mut response = match target {
            Target::Health => health::render(self),
            Target::S3 => match auth::authenticate_s3(self, &parts, &body) {
                Ok(()) => s3::not_implemented(&parts, &request_id),
                Err(info) => s3::error(&parts, &request_id, info.status, info.code, &info.message),
            },
            Target::ExecuteApi => match &self.execute_api {
                Some(h) => h.call(parts, body).await,
                None => error::render(
                    Wire::RestJson,
                    None,
                    &AwsError::new(404, "NotFoundException", "API Gateway invoke URLs are not served yet."),
                    &request_id,
                ),
            },
            Target::LambdaUrl => match &self.lambda_url {
                Some(h) => {
                    let mut parts = parts;
                    if scope.is_some() {
                        match auth::authenticate_url(self, &parts, &body, scope.as_ref(), &request_id) {
                            Ok(ctx) => {
                                parts.extensions.insert(ctx);
                            }
                            Err(e) => {
                                parts.extensions.insert(e);
                            }
                        }
                    }
                    h.call(parts, body).await
                }
                None => error::render(
                    Wire::RestJson,
                    None,
                    &AwsError::new(404, "ResourceNotFoundException", "Lambda function URLs are not served."),
                    &request_id,
                ),
            },
            Target::RuntimeApi => error::render(
                Wire::RestJson,
                None,
                &AwsError::new(404, "ResourceNotFoundException", "The Lambda Runtime API is not served yet."),
                &request_id,
            ),
            Target::UnknownTarget { target } => error::render(
                Wire::Json,
                None,
                &AwsError::new(400, "UnknownOperationException", format!("Unknown target {target}.")),
                &request_id,
            ),
            Target::Json { service, op } => {
                self.dispatch(Wire::Json, service, &parts, body, scope, request_id.clone(), |s| {
                    let op = s.operation(&op).ok_or_else(|| error::unknown_operation(Wire::Json, s.service_id, &op))?;
                    Ok((op, Decode::Json))
                })
                .await
            }
            Target::Query { service } => {
                let params = params.unwrap_or_default();
                let action = action.unwrap_or_default();
                self.dispatch(Wire::Query, service, &parts, body, scope, request_id.clone(), move |s| {
                    let op = s.operation(&action).ok_or_else(|| error::unknown_operation(Wire::Query, s.service_id, &action))?;
                    Ok((op, Decode::Query(params)))
                })
                .await
            }
            Target::RestJson { service } => {
                let method = parts.method.as_str().to_string();
                let path = parts.uri.path().to_string();
                let q = parts.uri.query().unwrap_or("").to_string();
                self.dispatch(Wire::RestJson, service, &parts, body, scope, request_id.clone(), move |s| {
                    let route = restjson::route(s, &method, &path, &q)
                        .ok_or_else(|| error::unknown_operation(Wire::RestJson, s.service_id, &format!("{method} {path}")))?;
                    Ok((route.op, Decode::Rest(route)))
                })
                .await
            }
        };
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().entry("x-amzn-requestid").or_insert(id);
        }
        response
    }

    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        wire: Wire,
        service: &'static Service,
        parts: &Parts,
        body: Bytes,
        scope: Option<Scope>,
        request_id: String,
        find: impl FnOnce(&'static Service) -> Result<(&'static nimbus_model::schema::Operation, Decode), AwsError>,
    ) -> Response<Bytes> {
        let result = async {
            let ctx = auth::authenticate(self, service, wire, parts, &body, scope.as_ref(), &request_id)?;
            let (op, decode) = find(service)?;
            let input = match decode {
                Decode::Json => awsjson::decode(service, op, &body)?,
                Decode::Query(params) => query::decode(service, op, &params)?,
                Decode::Rest(route) => restjson::decode(service, route, parts.uri.query().unwrap_or(""), &parts.headers, body)?,
            };
            let handler = match self.handler_for(service) {
                Some(h) if h.implements(op.name) => h,
                _ => return Err(error::not_implemented(wire, service.service_id, op.name)),
            };
            let output = handler.call(&ctx, op, input).await?;
            Ok::<_, AwsError>((op, output))
        }
        .await;
        let mut response = match result {
            Ok((op, output)) => match wire {
                Wire::Json => awsjson::encode(service, op, output),
                Wire::RestJson => restjson::encode(service, op, output),
                Wire::Query => query::encode(service, op, output, &request_id),
            },
            Err(err) => {
                if err.status >= 500 {
                    tracing::warn!(service = service.endpoint_prefix, code = %err.code, "{}", err.message);
                }
                error::render(wire, Some(service), &err, &request_id)
            }
        };
        if service.endpoint_prefix == "dynamodb" {
            // The DynamoDB SDKs verify this checksum of the body.
            let crc = crc32fast::hash(response.body());
            response.headers_mut().insert("x-amz-crc32", HeaderValue::from(crc));
        }
        response
    }
}

/// How the classified request's input is to be decoded.
enum Decode {
    Json,
    Query(query::Params),
    Rest(restjson::Route),
}

pub(crate) fn is_form(parts: &Parts) -> bool {
    parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The context of a request from its identity.
pub(crate) fn context(request_id: &str, account_id: String, region: String) -> RequestContext {
    RequestContext {
        request_id: request_id.to_string(),
        account_id,
        region,
        access_key_id: None,
        assumed_role_arn: None,
    }
}
