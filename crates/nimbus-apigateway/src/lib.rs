//! API Gateway: REST APIs (`apigateway`, v1) and HTTP APIs (`apigatewayv2`), their
//! control planes (restJson1, decoded by the edge) and their invoke URLs (the data
//! plane, which gets the user's raw HTTP requests from the edge).
//!
//! State lives in one keyspace of the store, per account and region (see [`db`]).
//! A REST API deployment is a snapshot of the API's resources, methods and
//! integrations, so later edits change nothing a stage serves until the API is
//! redeployed. HTTP API stages with `AutoDeploy` serve the live routes.
//!
//! OpenAPI 3.0 / Swagger 2.0 documents (JSON or YAML) import into and export from
//! both kinds of API (see the `openapi` module).
//!
//! Non-proxy integrations (`AWS` for Lambda, `HTTP`, `MOCK`) map requests and
//! responses with VTL templates (`mapping`, `vtl`); stages with `AccessLogSettings`
//! write one line per request to CloudWatch Logs (`access_log`).
//!
//! Lambda integrations call a [`FunctionInvoker`], so this crate does not depend on
//! the Lambda service. Before invoking, the gateway checks the function's resource
//! policy (Lambda `GetPolicy`) as AWS does, unless [`LambdaPermissions::AllowAll`]
//! (see the `permission` module).

mod access_log;
mod cors;
mod data;
mod db;
mod event;
mod forward;
mod ids;
mod invoke;
mod mapping;
mod openapi;
mod permission;
mod rest;
mod rest_dispatch;
mod rest_import;
mod rest_patch;
mod v2;
mod vtl;

use std::sync::Arc;

use bytes::Bytes;
use nimbus_edge::RawHandler;
use nimbus_protocol::{BoxFuture, Handler};
use nimbus_store::Store;
use nimbus_types::AwsError;

pub use data::ExecuteApi;
pub use permission::LambdaPermissions;
pub use rest::RestApis;
pub use v2::HttpApis;

/// Invokes Lambda functions for proxy integrations.
pub trait FunctionInvoker: Send + Sync + 'static {
    /// Invokes a Lambda function synchronously (RequestResponse) in `account`/`region`;
    /// `function` is a name or ARN (possibly with a qualifier).
    fn invoke<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        function: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invocation, AwsError>>;

    /// The function's resource policy (Lambda `GetPolicy`): `function` is a name or
    /// an unqualified ARN, `qualifier` a version or alias. Lambda answers 404
    /// `ResourceNotFoundException` when the function has no policy.
    fn policy<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        function: &'a str,
        qualifier: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FunctionPolicy, AwsError>>;
}

/// What `GetPolicy` answered.
#[derive(Debug, Clone, Default)]
pub struct FunctionPolicy {
    /// The policy document (JSON text).
    pub policy: String,
    /// Changes whenever the function or its policy changes.
    pub revision_id: String,
}

/// What a synchronous invocation answered.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The function's response payload (or its error document).
    pub payload: Bytes,
    /// `Unhandled`/`Handled` when the function failed (Lambda's `X-Amz-Function-Error`).
    pub function_error: Option<String>,
}

/// An invoker for when no Lambda service is wired: every call fails clearly.
pub struct NoLambda;

impl FunctionInvoker for NoLambda {
    fn invoke<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        function: &'a str,
        _: Bytes,
    ) -> BoxFuture<'a, Result<Invocation, AwsError>> {
        Box::pin(async move {
            Err(AwsError::new(
                501,
                "NotImplemented",
                format!("Lambda is not connected to API Gateway in this build; cannot invoke {function}"),
            ))
        })
    }

    fn policy<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        function: &'a str,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FunctionPolicy, AwsError>> {
        Box::pin(async move {
            Err(AwsError::new(
                501,
                "NotImplemented",
                format!("Lambda is not connected to API Gateway in this build; cannot read the policy of {function}"),
            ))
        })
    }
}

/// Shared state of the three handlers.
pub(crate) struct Inner {
    pub db: db::Db,
    pub invoker: Arc<dyn FunctionInvoker>,
    /// Serializes read-modify-write sequences of the control plane.
    pub write: tokio::sync::Mutex<()>,
    /// The edge's port, for the `apiEndpoint` of HTTP APIs.
    pub port: u16,
    /// Whether Lambda resource policies are enforced, and the parsed policies.
    pub permissions: permission::Permissions,
    /// Where stage access logs go (CloudWatch Logs), once wired.
    pub logs: std::sync::OnceLock<nimbus_logs::Logs>,
}

/// The API Gateway service: build it once, then register its three parts with the edge.
pub struct ApiGateway {
    inner: Arc<Inner>,
}

impl ApiGateway {
    /// `port` is the edge's port (used in the invoke URLs the control plane reports).
    pub fn new(store: Store, invoker: Arc<dyn FunctionInvoker>, port: u16) -> Self {
        ApiGateway {
            inner: Arc::new(Inner {
                db: db::Db::new(store),
                invoker,
                write: tokio::sync::Mutex::new(()),
                port,
                permissions: permission::Permissions::new(),
                logs: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Whether Lambda integrations need a resource policy that lets API Gateway
    /// invoke the function ([`LambdaPermissions::Enforce`], the default, as AWS) or
    /// may invoke any function ([`LambdaPermissions::AllowAll`]).
    pub fn set_lambda_permissions(&self, mode: LambdaPermissions) {
        self.inner.permissions.set_mode(mode);
    }

    /// Writes stage access logs (`AccessLogSettings`) to these CloudWatch Logs.
    pub fn send_logs_to(&self, logs: nimbus_logs::Logs) {
        let _ = self.inner.logs.set(logs);
    }

    /// The REST API (v1) control plane.
    pub fn rest_apis(&self) -> Arc<dyn Handler> {
        Arc::new(RestApis {
            inner: self.inner.clone(),
        })
    }

    /// The HTTP API (v2) control plane.
    pub fn http_apis(&self) -> Arc<dyn Handler> {
        Arc::new(HttpApis {
            inner: self.inner.clone(),
        })
    }

    /// The data plane: invoke URLs.
    pub fn execute_api(&self) -> Arc<dyn RawHandler> {
        Arc::new(ExecuteApi::new(self.inner.clone()))
    }
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new(404, "NotFoundException", message)
}

pub(crate) fn bad_request(message: impl Into<String>) -> AwsError {
    AwsError::new(400, "BadRequestException", message)
}

pub(crate) fn conflict(message: impl Into<String>) -> AwsError {
    AwsError::new(409, "ConflictException", message)
}

/// Invokes functions through a Lambda service's control-plane [`Handler`] (its
/// `Invoke` operation), so the gateway needs nothing from the Lambda crate but the
/// model both share.
pub struct HandlerInvoker {
    lambda: Arc<dyn Handler>,
}

impl HandlerInvoker {
    pub fn new(lambda: Arc<dyn Handler>) -> Self {
        HandlerInvoker { lambda }
    }
}

impl FunctionInvoker for HandlerInvoker {
    fn invoke<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        function: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invocation, AwsError>> {
        Box::pin(async move {
            let op = nimbus_model::services::lambda::SERVICE
                .operation("Invoke")
                .ok_or_else(|| AwsError::internal("the Lambda model has no Invoke operation"))?;
            if !self.lambda.implements(op.name) {
                return Err(AwsError::internal(
                    "the Lambda service does not implement Invoke",
                ));
            }
            let ctx = nimbus_types::RequestContext::new(account, region);
            let input = nimbus_protocol::Input {
                value: serde_json::json!({ "FunctionName": function, "InvocationType": "RequestResponse" }),
                payload: Some(payload),
            };
            let out = self.lambda.call(&ctx, op, input).await?;
            Ok(Invocation {
                payload: out.payload.unwrap_or_default(),
                function_error: out
                    .value
                    .get("FunctionError")
                    .and_then(|v| v.as_str())
                    .map(String::from),
            })
        })
    }

    fn policy<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        function: &'a str,
        qualifier: Option<&'a str>,
    ) -> BoxFuture<'a, Result<FunctionPolicy, AwsError>> {
        Box::pin(async move {
            let op = nimbus_model::services::lambda::SERVICE
                .operation("GetPolicy")
                .ok_or_else(|| AwsError::internal("the Lambda model has no GetPolicy operation"))?;
            if !self.lambda.implements(op.name) {
                return Err(AwsError::internal(
                    "the Lambda service does not implement GetPolicy",
                ));
            }
            let ctx = nimbus_types::RequestContext::new(account, region);
            let mut value = serde_json::json!({ "FunctionName": function });
            if let Some(q) = qualifier {
                value["Qualifier"] = serde_json::json!(q);
            }
            let out = self
                .lambda
                .call(
                    &ctx,
                    op,
                    nimbus_protocol::Input {
                        value,
                        payload: None,
                    },
                )
                .await?;
            let text = |k: &str| {
                out.value
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            Ok(FunctionPolicy {
                policy: text("Policy"),
                revision_id: text("RevisionId"),
            })
        })
    }
}

#[cfg(test)]
mod tests;
