//! Lambda: functions that really run.
//!
//! - Control plane (restJson1, `/2015-03-31/functions/...`): function metadata is stored
//!   durably in nimbus-store (keyspace `lambda.functions`), code zips in the blob store
//!   (`lambda/<sha256-hex>`, content-addressed), per account and region.
//! - Execution ([`env`]): each execution environment is a local child process that
//!   speaks the Lambda Runtime API to its own loopback listener; Python and Node.js run
//!   Nimbus' bootstrap programs (embedded in the binary, written under
//!   `<data_dir>/lambda/runtimes` at start), `provided*` runs the zip's `bootstrap`.
//! - Isolation (`nimbus-sandbox`, `NIMBUS_LAMBDA_ISOLATION`): each environment runs in its
//!   own namespaces with a private read-only filesystem (`/var/task`, sized `/tmp`), as an
//!   unprivileged uid with no capabilities and a seccomp filter, in its own cgroup (memory,
//!   CPU, pids; frozen between invocations). What the host cannot enforce is logged once
//!   at start; `strict` refuses to run functions then, `off` runs plain subprocesses.
//! - `VpcConfig` ([`vpc`]): environments of a function in a VPC run in a private network
//!   namespace that reaches only Nimbus' edge (served inside it) and their Runtime API.
//! - Warm reuse, reserved/account concurrency and idle reaping ([`pool`]).
//! - Published versions and qualified names ([`versions`]), aliases with weighted routing
//!   ([`aliases`]), provisioned concurrency kept initialised ahead ([`provisioned`]).
//! - `Event` invocations are queued durably (keyspace `lambda.events`, keyed by due time)
//!   and run by a background worker with the retries, maximum event age and destinations
//!   of the qualifier they were sent to ([`invoke_config`]; AWS's two retries by default).
//! - Runtime management configuration and runtime version ARNs ([`runtime_mgmt`]).
//! - Event source mappings on DynamoDB streams ([`esm`]): pollers that invoke functions with
//!   batches of stream records ([`esm_poller`]), filtered by `FilterCriteria` ([`esm_filter`]).
//! - Code download: `GetFunction`'s `Code.Location` points at a small loopback HTTP
//!   listener owned by this crate that serves the stored zip.

mod aliases;
mod code;
mod env;
mod esm;
mod esm_filter;
mod esm_poller;
mod invoke_config;
mod layers;
mod model;
mod policy;
mod pool;
mod provisioned;
mod runtime_mgmt;
mod code_signing;
mod runtimes;
mod template;
mod vpc;
mod versions;
mod url_endpoint;
mod urls;

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::lambda::{Op, SERVICE};
use nimbus_model::types::lambda as t;
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_store::{Direction, Store, WriteBatch};
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Value};

use env::{Env, Outcome, Spec};
use model::{function_arn, FunctionRecord, QueuedEvent, EVENTS, FUNCTIONS};
use pool::{Pools, Throttle};
use runtimes::Runtimes;
pub use esm::{ShardRecords, StreamDescription, StreamError, StreamShard, StreamSource};
pub use vpc::VpcEndpoint;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Sync payloads: 6 MB each way. Async: 256 KB.
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;
const MAX_ENV_BYTES: usize = 4 * 1024;
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Settings of the Lambda service. `LambdaConfig::new` reads overrides from
/// `NIMBUS_LAMBDA_*` environment variables (documented on each field).
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// The server's data directory (code is unpacked under `<data_dir>/lambda`).
    pub data_dir: PathBuf,
    /// The bound edge address; functions get `AWS_ENDPOINT_URL=http://<edge>`.
    pub edge: SocketAddr,
    /// Account concurrency limit (`NIMBUS_LAMBDA_CONCURRENCY`, default 1000).
    pub account_concurrency: u32,
    /// Idle environments are stopped after this long (`NIMBUS_LAMBDA_IDLE_SECONDS`, default 300).
    pub idle_timeout: Duration,
    /// Delays before the two retries of a failed Event invocation
    /// (`NIMBUS_LAMBDA_ASYNC_RETRY_DELAYS`, seconds, comma-separated; default `60,120` as AWS).
    pub async_retry_delays: Vec<Duration>,
    /// Isolation of execution environments (`NIMBUS_LAMBDA_ISOLATION`: `strict`,
    /// `best-effort` (default) or `off`); see the `nimbus-sandbox` crate.
    pub isolation: nimbus_sandbox::Mode,
}

impl LambdaConfig {
    pub fn new(data_dir: impl Into<PathBuf>, edge: SocketAddr) -> Self {
        let secs = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Duration::from_secs_f64);
        let account_concurrency = std::env::var("NIMBUS_LAMBDA_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let idle_timeout = std::env::var("NIMBUS_LAMBDA_IDLE_SECONDS").ok().and_then(|v| secs(&v)).unwrap_or(Duration::from_secs(300));
        let async_retry_delays = std::env::var("NIMBUS_LAMBDA_ASYNC_RETRY_DELAYS")
            .ok()
            .and_then(|v| v.split(',').map(secs).collect::<Option<Vec<_>>>())
            .unwrap_or_else(|| vec![Duration::from_secs(60), Duration::from_secs(120)]);
        let isolation = match nimbus_sandbox::Mode::parse(std::env::var("NIMBUS_LAMBDA_ISOLATION").ok().as_deref()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{e}; using strict");
                nimbus_sandbox::Mode::Strict
            }
        };
        LambdaConfig { data_dir: data_dir.into(), edge, account_concurrency, idle_timeout, async_retry_delays, isolation }
    }
}

/// The Lambda service.
pub struct Lambda {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: LambdaConfig,
    runtimes: Runtimes,
    pools: Arc<Pools>,
    code_root: PathBuf,
    code_url: String,
    write_lock: tokio::sync::Mutex<()>,
    events_wake: tokio::sync::Notify,
    events_running: Mutex<HashSet<Vec<u8>>>,
    /// What the host allows for isolating environments (detected once at start).
    sandbox: Arc<nimbus_sandbox::Host>,
    /// Where function logs go (CloudWatch Logs), once connected.
    logs: std::sync::OnceLock<nimbus_logs::Logs>,
    /// Issues each environment's execution-role credentials (STS), once connected.
    credentials: std::sync::OnceLock<Arc<dyn RoleCredentials>>,
    /// Where `S3Bucket`/`S3Key` code comes from, once connected.
    code_source: std::sync::OnceLock<Arc<dyn CodeSource>>,
    /// Snapshot templates: environments forked from an initialised process ([`template`]).
    templates: template::Templates,
    /// Private networks of VPC functions' environments ([`vpc`]).
    networks: vpc::Networks,
    /// Provisioned concurrency: what each configuration has allocated ([`provisioned`]).
    provisioned: provisioned::Keeper,
    /// Event source mappings' pollers ([`esm_poller`]).
    esm: esm_poller::Esm,
}

/// Temporary credentials for a function's execution role, as an environment gets them
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// Reads deployment packages from S3 (`Code.S3Bucket`/`S3Key`/`S3ObjectVersion`).
pub trait CodeSource: Send + Sync + 'static {
    /// The object's bytes, or Lambda's error for a missing bucket/key or an object
    /// larger than `max_bytes`.
    fn fetch<'a>(
        &'a self,
        account: &'a str,
        bucket: &'a str,
        key: &'a str,
        version: Option<&'a str>,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, AwsError>>;
}

/// Assumes a function's execution role (STS `AssumeRole` on Lambda's behalf, session
/// name = the function name), so the SDK inside a function signs as that role.
pub trait RoleCredentials: Send + Sync + 'static {
    fn assume<'a>(&'a self, role_arn: &'a str, session_name: &'a str) -> BoxFuture<'a, Result<Credentials, AwsError>>;
}

fn store_err(e: nimbus_store::Error) -> AwsError {
    AwsError::new(500, "ServiceException", format!("storage error: {e}"))
}

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::new(400, "InvalidParameterValueException", msg)
}

/// An address a local process can connect to (`0.0.0.0` → `127.0.0.1`).
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

fn now_ms() -> u64 {
    (nimbus_types::epoch_now() * 1000.0) as u64
}

fn last_modified() -> String {
    let s = nimbus_types::format_iso8601(nimbus_types::epoch_now());
    let s = s.trim_end_matches('Z');
    let s = if s.contains('.') { s.to_string() } else { format!("{s}.000") };
    format!("{s}+0000")
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Lambda {
    /// True when `function` (a name or an ARN, possibly qualified with a version or alias)
    /// exists in `account`/`region`.
    /// For other services that validate a destination (S3 event notifications).
    pub fn function_exists(&self, account: &str, region: &str, function: &str) -> bool {
        let ctx = RequestContext { request_id: String::new(), account_id: account.to_string(), region: region.to_string(), access_key_id: None, assumed_role_arn: None };
        self.inner.resolve(&ctx, function, None).is_ok()
    }

    /// Queues an asynchronous ("Event") invocation of `function` (a name or an ARN) on the
    /// durable event queue, exactly as `Invoke` with `InvocationType: Event` does.
    pub fn invoke_async(&self, account: &str, region: &str, function: &str, payload: Bytes) -> Result<(), AwsError> {
        let ctx = RequestContext { request_id: nimbus_types::new_request_id(), account_id: account.to_string(), region: region.to_string(), access_key_id: None, assumed_role_arn: None };
        let rec = self.inner.resolve(&ctx, function, None)?;
        if payload.len() > MAX_ASYNC_PAYLOAD {
            return Err(AwsError::new(413, "RequestEntityTooLargeException", format!("{} byte payload is too large for the Event invocation type (limit {MAX_ASYNC_PAYLOAD} bytes)", payload.len())));
        }
        self.inner.enqueue(&rec, &ctx.request_id, &payload, None)
    }

    /// Sends function logs to CloudWatch Logs (`/aws/lambda/<name>`, a stream per
    /// environment). Without it, logs are only seen through `LogType: Tail`.
    pub fn send_logs_to(&self, logs: nimbus_logs::Logs) {
        let _ = self.inner.logs.set(logs);
    }

    /// Gives each new environment credentials for the function's role from `issuer`.
    /// Without it, environments get placeholder keys naming the function's account
    /// (accepted when the edge does not check signatures).
    pub fn issue_credentials_with(&self, issuer: Arc<dyn RoleCredentials>) {
        let _ = self.inner.credentials.set(issuer);
    }

    /// Reads `S3Bucket`/`S3Key` deployment packages from `source`.
    pub fn read_code_from(&self, source: Arc<dyn CodeSource>) {
        let _ = self.inner.code_source.set(source);
    }

    /// Serves Nimbus' edge inside the private network of each VPC function's environments
    /// with `endpoint`. Without it, functions with a `VpcConfig` cannot start.
    pub fn serve_vpc_endpoint_with(&self, endpoint: Arc<dyn VpcEndpoint>) {
        self.inner.networks.serve_endpoint_with(endpoint);
    }

    /// Starts the service: discovers runtimes, writes the bootstrap programs, starts the
    /// code-download listener, the async-invoke worker and the idle reaper.
    pub async fn start(store: Store, config: LambdaConfig) -> Result<Arc<Lambda>, String> {
        let root = config.data_dir.join("lambda");
        let runtimes = Runtimes::discover(root.join("runtimes")).map_err(|e| format!("cannot write the Lambda runtimes: {e}"))?;
        tracing::info!("lambda runtimes: {}", runtimes.describe());
        runtime_mgmt::register(&runtimes);
        let mode = config.isolation;
        let sandbox = tokio::task::spawn_blocking(move || nimbus_sandbox::Host::detect(mode))
            .await
            .map_err(|e| format!("isolation probe failed: {e}"))?;
        let missing = sandbox.missing();
        if missing.is_empty() {
            tracing::info!("lambda isolation: {}", sandbox.describe());
        } else if mode == nimbus_sandbox::Mode::Strict {
            tracing::warn!("lambda isolation strict: functions will not run; cannot enforce: {}", missing.join("; "));
        } else {
            tracing::warn!("lambda isolation {}: cannot enforce: {}", sandbox.describe(), missing.join("; "));
        }
        let code_root = root.join("code");
        std::fs::create_dir_all(&code_root).map_err(|e| format!("cannot create {}: {e}", code_root.display()))?;
        let listener = tokio::net::TcpListener::bind((config.edge.ip(), 0))
            .await
            .map_err(|e| format!("cannot start the Lambda code listener: {e}"))?;
        let code_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let networks = vpc::Networks::new(config.edge);
        let inner = Arc::new(Inner {
            store,
            config,
            runtimes,
            pools: Arc::new(Pools::default()),
            code_root,
            code_url: format!("http://{}/code/", loopback(code_addr)),
            write_lock: tokio::sync::Mutex::new(()),
            events_wake: tokio::sync::Notify::new(),
            events_running: Mutex::new(HashSet::new()),
            sandbox: Arc::new(sandbox),
            logs: std::sync::OnceLock::new(),
            credentials: std::sync::OnceLock::new(),
            code_source: std::sync::OnceLock::new(),
            templates: template::Templates::new(),
            networks,
            provisioned: provisioned::Keeper::default(),
            esm: esm_poller::Esm::default(),
        });
        tokio::spawn(serve_code(listener, inner.store.clone()));
        tokio::spawn(events_worker(inner.clone()));
        tokio::spawn(provisioned::keep(inner.clone()));
        tokio::spawn(esm_poller::resume(inner.clone()));
        let reaper = inner.clone();
        tokio::spawn(async move {
            let every = (reaper.config.idle_timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
            loop {
                tokio::time::sleep(every).await;
                reaper.pools.reap(reaper.config.idle_timeout);
                reaper.templates.reap(reaper.config.idle_timeout);
            }
        });
        Ok(Arc::new(Lambda { inner }))
    }
}

/// Serves `GET /code/<sha-hex>`: the zip as stored.
async fn serve_code(listener: tokio::net::TcpListener, store: Store) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let store = store.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let store = store.clone();
                async move {
                    let hexid = req.uri().path().strip_prefix("/code/").unwrap_or("").to_string();
                    let found = if !hexid.is_empty() && hexid.len() == 64 && hexid.bytes().all(|b| b.is_ascii_hexdigit()) {
                        tokio::task::spawn_blocking(move || {
                            store.blobs().get(&format!("lambda/{hexid}")).ok().flatten().and_then(|b| b.read_to_vec().ok())
                        })
                        .await
                        .ok()
                        .flatten()
                    } else {
                        None
                    };
                    let mut resp = match found {
                        Some(data) => {
                            let mut r = http::Response::new(Full::new(Bytes::from(data)));
                            r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/zip"));
                            r
                        }
                        None => {
                            let mut r = http::Response::new(Full::new(Bytes::from_static(b"NoSuchKey")));
                            *r.status_mut() = http::StatusCode::NOT_FOUND;
                            r
                        }
                    };
                    resp.headers_mut().insert("cache-control", http::HeaderValue::from_static("no-store"));
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// `name`, `name:qualifier`, `account:function:name[:qualifier]` or a full ARN →
/// (region, account, name, qualifier).
fn parse_name<'a>(ctx: &'a RequestContext, raw: &'a str) -> Result<(String, String, String, Option<String>), AwsError> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (region, account, name, qual) = match parts.as_slice() {
        [name] => (ctx.region.as_str(), ctx.account_id.as_str(), *name, None),
        [name, q] => (ctx.region.as_str(), ctx.account_id.as_str(), *name, Some(*q)),
        [acct, "function", name] => (ctx.region.as_str(), *acct, *name, None),
        [acct, "function", name, q] => (ctx.region.as_str(), *acct, *name, Some(*q)),
        ["arn", _, "lambda", region, acct, "function", name] => (*region, *acct, *name, None),
        ["arn", _, "lambda", region, acct, "function", name, q] => (*region, *acct, *name, Some(*q)),
        _ => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            )))
        }
    };
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )));
    }
    if account != ctx.account_id {
        return Err(AwsError::new(
            403,
            "AccessDeniedException",
            format!("User is not authorized to access function {raw} in account {account}"),
        ));
    }
    Ok((region.to_string(), account.to_string(), name.to_string(), qual.map(str::to_string)))
}

fn not_found(region: &str, account: &str, name: &str, qual: Option<&str>) -> AwsError {
    let arn = function_arn(region, account, name);
    let arn = match qual {
        Some(q) => format!("{arn}:{q}"),
        None => arn,
    };
    AwsError::new(404, "ResourceNotFoundException", format!("Function not found: {arn}"))
}

fn check_role(role: &str) -> Result<(), AwsError> {
    let ok = (|| {
        let rest = role.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        if !partition.starts_with("aws") {
            return None;
        }
        let rest = rest.strip_prefix("iam::")?;
        let (acct, res) = rest.split_once(':')?;
        let name = res.strip_prefix("role/")?;
        (nimbus_types::is_account_id(acct)
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b)))
        .then_some(())
    })();
    ok.ok_or_else(|| {
        AwsError::validation(format!(
            "1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
        ))
    })
}

fn check_range(v: i32, min: i32, max: i32, field: &str) -> Result<(), AwsError> {
    if v < min {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if v > max {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(())
}

fn check_runtime(rt: &str) -> Result<(), AwsError> {
    if Runtimes::is_known(rt) {
        return Ok(());
    }
    let deprecated = ["python2.7", "python3.6", "python3.7", "python3.8", "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "ruby2.5", "ruby2.7", "java8", "go1.x"];
    if deprecated.contains(&rt) {
        return Err(invalid(format!(
            "The runtime parameter of {rt} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    Err(invalid(format!(
        "Runtime {rt} is not supported by Nimbus. Supported runtimes: python3.9-python3.13, nodejs18.x, nodejs20.x, nodejs22.x, provided, provided.al2, provided.al2023."
    )))
}

fn check_env(vars: &BTreeMap<String, String>) -> Result<(), AwsError> {
    let reserved: Vec<&str> = vars.keys().map(String::as_str).filter(|k| RESERVED_ENV.contains(k)).collect();
    if !reserved.is_empty() {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for k in vars.keys() {
        let ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
            ));
        }
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > MAX_ENV_BYTES {
        return Err(invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(())
}

/// `LoggingConfig` as Nimbus can honour it: `LogGroup` (the function's logs go there;
/// a later update without it keeps the group) and the `Text` format. The `JSON` format
/// and the log levels, which only apply to it, are refused rather than ignored: Nimbus'
/// runtimes write text logs only.
fn check_logging(old: Option<&t::LoggingConfig>, new: Option<&t::LoggingConfig>) -> Result<Option<t::LoggingConfig>, AwsError> {
    let Some(new) = new else { return Ok(old.cloned()) };
    if new.log_format.as_deref().is_some_and(|f| f != "Text") || new.application_log_level.is_some() || new.system_log_level.is_some() {
        return Err(invalid(
            "Nimbus writes function logs as Text only: LoggingConfig LogFormat JSON, ApplicationLogLevel and SystemLogLevel are not supported.",
        ));
    }
    let log_group = new.log_group.clone().or_else(|| old.and_then(|o| o.log_group.clone()));
    Ok(Some(t::LoggingConfig { log_format: Some("Text".into()), log_group, ..Default::default() }))
}

/// Settings whose effect needs a service Nimbus does not have: refused, not ignored.
fn check_unsupported_config(dlq: Option<&t::DeadLetterConfig>, fs: Option<&Vec<t::FileSystemConfig>>) -> Result<(), AwsError> {
    if dlq.is_some_and(|d| d.target_arn.as_deref().is_some_and(|a| !a.is_empty())) {
        return Err(invalid(
            "Nimbus has no SQS or SNS yet, so DeadLetterConfig is not supported: send failed asynchronous invocations to a Lambda function with an OnFailure destination (PutFunctionEventInvokeConfig).",
        ));
    }
    if fs.is_some_and(|f| !f.is_empty()) {
        return Err(invalid("Nimbus has no EFS: FileSystemConfigs are not supported."));
    }
    Ok(())
}

fn check_architectures(a: &Option<Vec<String>>) -> Result<Vec<String>, AwsError> {
    match a {
        None => Ok(vec!["x86_64".into()]),
        Some(v) if v.len() == 1 && (v[0] == "x86_64" || v[0] == "arm64") => Ok(v.clone()),
        Some(v) => Err(AwsError::validation(format!(
            "1 validation error detected: Value '[{}]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1, Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            v.join(", ")
        ))),
    }
}

impl Inner {
    fn load(&self, account: &str, region: &str, name: &str) -> Result<Option<FunctionRecord>, AwsError> {
        let raw = self.store.get(FUNCTIONS, FunctionRecord::key(account, region, name).as_bytes()).map_err(store_err)?;
        match raw {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt function record: {e}"))),
        }
    }

    fn save(&self, rec: &FunctionRecord) -> Result<(), AwsError> {
        if rec.version.is_some() || rec.alias.is_some() {
            return self.save_qualified(rec);
        }
        let v = serde_json::to_vec(rec).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(FUNCTIONS, FunctionRecord::key(&rec.account, &rec.region, &rec.name), v).map_err(store_err)
    }

    /// Resolves a FunctionName (+Qualifier) to its record: `$LATEST`, a published version
    /// or the version an alias points at ([`versions`]).
    fn resolve(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        versions::check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q);
        let rec = self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, None))?;
        match q.as_deref() {
            None | Some("$LATEST") => Ok(rec),
            Some(other) => self.resolve_qualified(rec, other),
        }
    }

    fn all_functions(&self, prefix: &str) -> Result<Vec<FunctionRecord>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(FUNCTIONS, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(r) = serde_json::from_slice::<FunctionRecord>(&v) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn put_code(&self, zip: Vec<u8>, op: &str, from_s3: bool) -> Result<code::Checked, AwsError> {
        let op = op.to_string();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let checked = code::check(&zip, &op, from_s3)?;
            let id = format!("lambda/{}", checked.sha_hex);
            if store.blobs().get(&id).map_err(store_err)?.is_none() {
                store.blobs().put(&id, zip.as_slice()).map_err(store_err)?;
            }
            Ok(checked)
        })
        .await
        .map_err(|e| AwsError::internal(e.to_string()))?
    }

    /// Deletes a code blob (and its unpacked copy) no function refers to any more.
    fn gc_code(&self, hexid: &str) {
        let Ok(all) = self.all_functions("") else { return };
        if all.iter().any(|r| r.code_hex == hexid) || self.version_uses_code(hexid) || self.layer_blob_in_use(hexid, &all) {
            return;
        }
        let _ = self.store.blobs().delete(&format!("lambda/{hexid}"));
        let _ = std::fs::remove_dir_all(self.code_root.join(hexid));
    }

    async fn create_function(&self, ctx: &RequestContext, input: t::CreateFunctionRequest) -> Result<t::FunctionConfiguration, AwsError> {
        let (region, account, name, q) = parse_name(ctx, &input.function_name)?;
        if q.is_some() {
            return Err(invalid("Function name cannot contain a qualifier when creating a function."));
        }
        let package_type = input.package_type.clone().unwrap_or_else(|| "Zip".into());
        if package_type != "Zip" {
            return Err(invalid("Nimbus runs Zip packages only: container image functions (PackageType Image) are not supported."));
        }
        let (Some(runtime), Some(handler)) = (input.runtime.clone(), input.handler.clone()) else {
            return Err(invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages."));
        };
        check_runtime(&runtime)?;
        check_role(&input.role)?;
        check_unsupported_config(input.dead_letter_config.as_ref(), input.file_system_configs.as_ref())?;
        if let Some(arn) = input.code_signing_config_arn.as_deref().filter(|a| !a.is_empty()) {
            // Nimbus has no code signing configurations, so none can exist.
            return Err(code_signing::not_found(arn));
        }
        let memory = input.memory_size.unwrap_or(128);
        check_range(memory, 128, 10240, "memorySize")?;
        let timeout = input.timeout.unwrap_or(3);
        check_range(timeout, 1, 900, "timeout")?;
        let ephemeral = input.ephemeral_storage.as_ref().map(|e| e.size).unwrap_or(512);
        check_range(ephemeral, 512, 10240, "ephemeralStorage.size")?;
        let env = input.environment.as_ref().and_then(|e| e.variables.clone());
        if let Some(v) = &env {
            check_env(v)?;
        }
        let architectures = check_architectures(&input.architectures)?;
        let layers = self.function_layers(ctx, &region, input.layers.as_deref().unwrap_or_default())?;
        let snap_start = template::check_snap_start(input.snap_start.as_ref().and_then(|s| s.apply_on.as_deref()), &runtime)?;
        let vpc = input.vpc_config.as_ref().map(vpc::check).transpose()?;
        let c = &input.code;
        let (zip, from_s3) = self
            .code_from(ctx, c.zip_file.as_ref().map(|z| &z.0), &c.s3_bucket, &c.s3_key, &c.s3_object_version, c.image_uri.is_some())
            .await?;
        layers::check_size(layers::inspect(&zip).0, &layers)?;
        let _guard = self.write_lock.lock().await;
        if self.load(&account, &region, &name)?.is_some() {
            return Err(AwsError::new(409, "ResourceConflictException", format!("Function already exist: {name}")));
        }
        let checked = self.put_code(zip, "CreateFunction", from_s3).await?;
        let rec = FunctionRecord {
            account,
            region,
            name,
            runtime: Some(runtime),
            role: input.role.clone(),
            handler: Some(handler),
            description: input.description.clone().unwrap_or_default(),
            timeout,
            memory,
            env,
            ephemeral,
            architectures,
            package_type,
            tags: input.tags.clone().unwrap_or_default(),
            code_sha256: checked.sha_b64,
            code_hex: checked.sha_hex,
            code_size: checked.size,
            last_modified: last_modified(),
            revision_id: new_revision(),
            reserved_concurrency: None,
            tracing_mode: input.tracing_config.as_ref().and_then(|t| t.mode.clone()),
            logging: check_logging(None, input.logging_config.as_ref())?,
            kms_key_arn: input.kms_key_arn.clone().filter(|k| !k.is_empty()),
            policy: Vec::new(),
            snap_start,
            vpc,
            version: None,
            alias: None,
            last_version: 0,
            layers,
        };
        self.save(&rec)?;
        if input.publish == Some(true) {
            return self.publish_on_create(&rec);
        }
        Ok(rec.configuration())
    }

    fn get_function(&self, ctx: &RequestContext, input: t::GetFunctionRequest) -> Result<t::GetFunctionResponse, AwsError> {
        let (rec, configuration) = self.resolve_shown(ctx, &input.function_name, input.qualifier.as_deref())?;
        Ok(t::GetFunctionResponse {
            configuration: Some(configuration),
            code: Some(t::FunctionCodeLocation {
                repository_type: Some("S3".into()),
                location: Some(format!("{}{}", self.code_url, rec.code_hex)),
                ..Default::default()
            }),
            tags: (!rec.tags.is_empty()).then(|| rec.tags.clone()),
            concurrency: rec.reserved_concurrency.map(|r| t::Concurrency { reserved_concurrent_executions: Some(r) }),
            ..Default::default()
        })
    }

    fn list_functions(&self, ctx: &RequestContext, input: t::ListFunctionsRequest) -> Result<t::ListFunctionsResponse, AwsError> {
        let max = input.max_items.unwrap_or(50);
        check_range(max, 1, 10000, "maxItems")?;
        if input.function_version.is_some() {
            return self.list_functions_all(ctx, &input, max);
        }
        let prefix = format!("{}/{}/", ctx.account_id, ctx.region);
        let start = match &input.marker {
            Some(m) => {
                let name = String::from_utf8(B64.decode(m).map_err(|_| invalid("Invalid Marker"))?).map_err(|_| invalid("Invalid Marker"))?;
                format!("{prefix}{name}\u{1}")
            }
            None => prefix.clone(),
        };
        let mut functions = Vec::new();
        let mut next_marker = None;
        let end = format!("{prefix}\u{ff}");
        for kv in self.store.range(FUNCTIONS, start.as_bytes()..end.as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            let Ok(rec) = serde_json::from_slice::<FunctionRecord>(&v) else { continue };
            if functions.len() as i32 == max {
                if let Some(last) = functions.last() {
                    let last: &t::FunctionConfiguration = last;
                    next_marker = last.function_name.as_ref().map(|n| B64.encode(n));
                }
                break;
            }
            functions.push(versions::list_item(rec.configuration()));
        }
        Ok(t::ListFunctionsResponse { next_marker, functions: Some(functions) })
    }

    fn check_revision(rec: &FunctionRecord, given: &Option<String>) -> Result<(), AwsError> {
        match given {
            Some(r) if *r != rec.revision_id => Err(AwsError::new(
                412,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            )),
            _ => Ok(()),
        }
    }

    /// The deployment package: the uploaded `ZipFile`, or the S3 object named by
    /// `S3Bucket`/`S3Key`/`S3ObjectVersion` (read through Nimbus' own S3).
    async fn code_from(
        &self,
        ctx: &RequestContext,
        zip: Option<&Vec<u8>>,
        bucket: &Option<String>,
        key: &Option<String>,
        version: &Option<String>,
        image: bool,
    ) -> Result<(Vec<u8>, bool), AwsError> {
        if let Some(z) = zip {
            return Ok((z.clone(), false));
        }
        if image {
            return Err(invalid("Nimbus runs Zip packages only: ImageUri is not supported."));
        }
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err(invalid("Please provide a source for function code."));
        };
        let Some(source) = self.code_source.get() else {
            return Err(invalid("Nimbus cannot read code from S3 in this build: upload the package as ZipFile."));
        };
        Ok((source.fetch(&ctx.account_id, bucket, key, version.as_deref(), code::MAX_UNZIPPED).await?, true))
    }

    async fn update_code(&self, ctx: &RequestContext, input: t::UpdateFunctionCodeRequest) -> Result<t::FunctionConfiguration, AwsError> {
        let (zip, from_s3) = self
            .code_from(ctx, input.zip_file.as_ref().map(|z| &z.0), &input.s3_bucket, &input.s3_key, &input.s3_object_version, input.image_uri.is_some())
            .await?;
        let architectures = match &input.architectures {
            Some(_) => Some(check_architectures(&input.architectures)?),
            None => None,
        };
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_latest(ctx, &input.function_name)?;
        Self::check_revision(&rec, &input.revision_id)?;
        layers::check_size(layers::inspect(&zip).0, &rec.layers)?;
        if input.dry_run == Some(true) {
            let checked = tokio::task::spawn_blocking(move || code::check(&zip, "UpdateFunctionCode", from_s3))
                .await
                .map_err(|e| AwsError::internal(e.to_string()))??;
            rec.code_sha256 = checked.sha_b64;
            rec.code_size = checked.size;
            return Ok(rec.configuration());
        }
        let checked = self.put_code(zip, "UpdateFunctionCode", from_s3).await?;
        let old = std::mem::replace(&mut rec.code_hex, checked.sha_hex);
        rec.code_sha256 = checked.sha_b64;
        rec.code_size = checked.size;
        if let Some(a) = architectures {
            rec.architectures = a;
        }
        rec.last_modified = last_modified();
        rec.revision_id = new_revision();
        self.save(&rec)?;
        self.pools.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        self.templates.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        if old != rec.code_hex {
            self.gc_code(&old);
        }
        if input.publish == Some(true) {
            return Ok(self.publish_now(&rec, None)?.configuration());
        }
        Ok(rec.configuration())
    }

    async fn update_configuration(&self, ctx: &RequestContext, input: t::UpdateFunctionConfigurationRequest) -> Result<t::FunctionConfiguration, AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_latest(ctx, &input.function_name)?;
        Self::check_revision(&rec, &input.revision_id)?;
        if let Some(r) = &input.role {
            check_role(r)?;
            rec.role = r.clone();
        }
        if let Some(rt) = &input.runtime {
            check_runtime(rt)?;
            rec.runtime = Some(rt.clone());
        }
        if let Some(h) = &input.handler {
            rec.handler = Some(h.clone());
        }
        if let Some(d) = &input.description {
            rec.description = d.clone();
        }
        if let Some(v) = input.timeout {
            check_range(v, 1, 900, "timeout")?;
            rec.timeout = v;
        }
        if let Some(v) = input.memory_size {
            check_range(v, 128, 10240, "memorySize")?;
            rec.memory = v;
        }
        if let Some(e) = &input.ephemeral_storage {
            check_range(e.size, 512, 10240, "ephemeralStorage.size")?;
            rec.ephemeral = e.size;
        }
        if let Some(e) = &input.environment {
            let vars = e.variables.clone().unwrap_or_default();
            check_env(&vars)?;
            rec.env = Some(vars);
        }
        if let Some(tc) = &input.tracing_config {
            rec.tracing_mode = tc.mode.clone();
        }
        if let Some(l) = &input.logging_config {
            rec.logging = check_logging(rec.logging.as_ref(), Some(l))?;
        }
        if let Some(k) = &input.kms_key_arn {
            rec.kms_key_arn = (!k.is_empty()).then(|| k.clone());
        }
        check_unsupported_config(input.dead_letter_config.as_ref(), input.file_system_configs.as_ref())?;
        let old_layers = rec.layers.clone();
        if let Some(l) = &input.layers {
            rec.layers = self.function_layers(ctx, &rec.region, l)?;
            layers::check_size(self.code_unzipped(&rec.code_hex).await?, &rec.layers)?;
        }
        if let Some(s) = &input.snap_start {
            rec.snap_start = s.apply_on.clone();
        }
        if let Some(v) = &input.vpc_config {
            rec.vpc = Some(vpc::check(v)?);
        }
        template::check_snap_start(rec.snap_start.as_deref(), rec.runtime.as_deref().unwrap_or_default())?;
        rec.last_modified = last_modified();
        rec.revision_id = new_revision();
        self.save(&rec)?;
        self.pools.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        self.templates.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        if old_layers != rec.layers {
            self.gc_layers(&old_layers);
        }
        Ok(rec.configuration())
    }

    async fn delete_function(&self, ctx: &RequestContext, input: t::DeleteFunctionRequest) -> Result<(), AwsError> {
        let _guard = self.write_lock.lock().await;
        if self.delete_qualified(ctx, &input)? {
            return Ok(());
        }
        let rec = self.resolve(ctx, &input.function_name, None)?;
        if let Some(q) = input.qualifier.as_deref().filter(|q| *q != "$LATEST") {
            return Err(not_found(&rec.region, &rec.account, &rec.name, Some(q)));
        }
        self.store.delete(FUNCTIONS, FunctionRecord::key(&rec.account, &rec.region, &rec.name)).map_err(store_err)?;
        self.pools.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        self.templates.retire(&FunctionRecord::key(&rec.account, &rec.region, &rec.name));
        self.delete_all_versions(&rec)?;
        self.delete_urls(&rec.account, &rec.region, &rec.name, None)?;
        self.gc_code(&rec.code_hex);
        self.gc_layers(&rec.layers);
        Ok(())
    }

    fn total_reserved(&self, account: &str, except: Option<&str>) -> Result<i64, AwsError> {
        Ok(self
            .all_functions(&format!("{account}/"))?
            .iter()
            .filter(|r| Some(r.name.as_str()) != except)
            .filter_map(|r| r.reserved_concurrency)
            .map(i64::from)
            .sum())
    }

    async fn put_concurrency(&self, ctx: &RequestContext, input: t::PutFunctionConcurrencyRequest) -> Result<t::Concurrency, AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_for_concurrency(ctx, &input.function_name, true)?;
        let v = input.reserved_concurrent_executions;
        if v < 0 {
            check_range(v, 0, i32::MAX, "reservedConcurrentExecutions")?;
        }
        let others = self.total_reserved(&rec.account, Some(&rec.name))? + self.check_reserved_covers_provisioned(&rec, v)?;
        if i64::from(self.config.account_concurrency) - others - i64::from(v) < 100 {
            return Err(invalid(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
            ));
        }
        rec.reserved_concurrency = Some(v);
        self.save(&rec)?;
        Ok(t::Concurrency { reserved_concurrent_executions: Some(v) })
    }

    async fn delete_concurrency(&self, ctx: &RequestContext, input: t::DeleteFunctionConcurrencyRequest) -> Result<(), AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_for_concurrency(ctx, &input.function_name, false)?;
        rec.reserved_concurrency = None;
        self.save(&rec)
    }

    fn account_settings(&self, ctx: &RequestContext) -> Result<t::GetAccountSettingsResponse, AwsError> {
        let all = self.all_functions(&format!("{}/", ctx.account_id))?;
        let reserved: i64 = all.iter().filter_map(|r| r.reserved_concurrency).map(i64::from).sum();
        let in_region: Vec<&FunctionRecord> = all.iter().filter(|r| r.region == ctx.region).collect();
        Ok(t::GetAccountSettingsResponse {
            account_limit: Some(t::AccountLimit {
                total_code_size: Some(80_530_636_800),
                code_size_unzipped: Some(code::MAX_UNZIPPED as i64),
                code_size_zipped: Some(code::MAX_ZIPPED as i64),
                concurrent_executions: Some(self.config.account_concurrency as i32),
                unreserved_concurrent_executions: Some((i64::from(self.config.account_concurrency) - reserved - self.provisioned_unreserved(&ctx.account_id)?) as i32),
            }),
            account_usage: Some(t::AccountUsage {
                total_code_size: Some(in_region.iter().map(|r| r.code_size).sum()),
                function_count: Some(in_region.len() as i64),
            }),
        })
    }

    async fn add_permission(&self, ctx: &RequestContext, input: t::AddPermissionRequest) -> Result<t::AddPermissionResponse, AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_for_policy(ctx, &input.function_name, input.qualifier.as_deref(), policy::Op::Add)?;
        Self::check_revision(&rec, &input.revision_id)?;
        let resource = match input.qualifier.as_deref() {
            Some(q) => format!("{}:{q}", rec.arn()),
            None => rec.qualified_arn(),
        };
        let statement = policy::add(&mut rec, &input, &resource)?;
        rec.revision_id = new_revision();
        self.save(&rec)?;
        Ok(t::AddPermissionResponse { statement: Some(statement) })
    }

    async fn remove_permission(&self, ctx: &RequestContext, input: t::RemovePermissionRequest) -> Result<(), AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut rec = self.resolve_for_policy(ctx, &input.function_name, input.qualifier.as_deref(), policy::Op::Remove)?;
        Self::check_revision(&rec, &input.revision_id)?;
        policy::remove(&mut rec, &input.statement_id)?;
        rec.revision_id = new_revision();
        self.save(&rec)
    }

    fn resolve_arn_resource(&self, ctx: &RequestContext, arn: &str) -> Result<FunctionRecord, AwsError> {
        self.resolve_for_tags(ctx, arn)
    }

    // ---- execution ----

    fn fingerprint(rec: &FunctionRecord) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}|{}|{}|{}|{}|{}",
            rec.version_name(),
            rec.code_hex,
            rec.role,
            rec.runtime,
            rec.handler,
            rec.memory,
            rec.timeout,
            rec.ephemeral,
            serde_json::to_string(&rec.env).unwrap_or_default(),
            // An environment made for another network must not serve the new one.
            serde_json::to_string(&rec.vpc).unwrap_or_default()
        ) + &layers::fingerprint(&rec.layers)
            // Baked into the environment (AWS_LAMBDA_LOG_GROUP_NAME) and where its logs go.
            + "|"
            + &rec.log_group()
    }

    async fn spawn_env(&self, rec: &FunctionRecord, fingerprint: String) -> Result<Result<Arc<Env>, Bytes>, AwsError> {
        self.spawn_env_as(rec, fingerprint, "on-demand").await
    }

    /// Starts an environment; `init_type` is its `AWS_LAMBDA_INITIALIZATION_TYPE`
    /// (`on-demand`, or `provisioned-concurrency`, which runs init now and never forks).
    async fn spawn_env_as(&self, rec: &FunctionRecord, fingerprint: String, init_type: &str) -> Result<Result<Arc<Env>, Bytes>, AwsError> {
        let code_dir = self.code_root.join(&rec.code_hex);
        if !code_dir.is_dir() {
            let store = self.store.clone();
            let id = format!("lambda/{}", rec.code_hex);
            let dest = code_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<(), String> {
                let blob = store.blobs().get(&id).map_err(|e| e.to_string())?.ok_or("the function's code is missing from the blob store")?;
                let data = blob.read_to_vec().map_err(|e| e.to_string())?;
                code::unpack(&data, &dest)
            })
            .await
            .map_err(|e| AwsError::internal(e.to_string()))?
            .map_err(|e| AwsError::new(500, "ServiceException", format!("could not unpack the function code: {e}")))?;
        }
        let host = self.sandbox.clone();
        let isolated = host.mode != nimbus_sandbox::Mode::Off;
        if host.mode == nimbus_sandbox::Mode::Strict {
            let missing = host.missing();
            if !missing.is_empty() {
                return Err(AwsError::new(
                    500,
                    "ServiceException",
                    format!("NIMBUS_LAMBDA_ISOLATION=strict refuses to run functions on this host, which lacks: {}", missing.join("; ")),
                ));
            }
        }
        // In the sandbox the code is at /var/task and the runtime at /var/runtime.
        let private_fs = isolated && host.namespaces;
        if private_fs && host.root {
            let dir = code_dir.clone();
            tokio::task::spawn_blocking(move || nimbus_sandbox::prepare_code_dir(&dir, nimbus_sandbox::SANDBOX_UID, nimbus_sandbox::SANDBOX_GID))
                .await
                .map_err(|e| AwsError::internal(e.to_string()))?
                .map_err(|e| AwsError::new(500, "ServiceException", format!("could not prepare the function code: {e}")))?;
        }
        let opt_dir = self.opt_dir(rec, private_fs && host.root).await?;
        let runtime = rec.runtime.clone().unwrap_or_default();
        let launch = match layers::launch(&self.runtimes, &runtime, &code_dir, opt_dir.as_deref()) {
            Ok(l) => l,
            Err(msg) if runtime.starts_with("provided") => {
                return Ok(Err(Bytes::from(json!({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": msg}).to_string())))
            }
            Err(msg) => return Err(AwsError::new(502, "InvalidRuntimeException", msg)),
        };
        let runtimes::Launch::Program { program, args } = launch;
        let (task_root, runtime_dir) = if private_fs {
            (PathBuf::from("/var/task"), PathBuf::from("/var/runtime"))
        } else {
            (code_dir.clone(), self.runtimes.dir.clone())
        };
        let mut host_ro = Vec::new();
        let (program, args) = if private_fs {
            let in_opt = opt_dir.as_ref().and_then(|o| program.strip_prefix(o).ok()).map(|rel| PathBuf::from("/opt").join(rel));
            let program = match program.strip_prefix(&code_dir) {
                Ok(rel) => task_root.join(rel),
                Err(_) if in_opt.is_some() => in_opt.unwrap_or_default(),
                Err(_) => {
                    // The interpreter's prefix (<prefix>/bin/python3.x) is bound read-only.
                    let real = std::fs::canonicalize(&program).unwrap_or_else(|_| program.clone());
                    if let Some(bin) = real.parent() {
                        let prefix = if bin.file_name().is_some_and(|n| n == "bin") { bin.parent().unwrap_or(bin) } else { bin };
                        host_ro.push(prefix.to_path_buf());
                    }
                    program
                }
            };
            let args = args
                .into_iter()
                .map(|a| match std::path::Path::new(&a).strip_prefix(&self.runtimes.dir) {
                    Ok(rel) => runtime_dir.join(rel).to_string_lossy().into_owned(),
                    Err(_) => a,
                })
                .collect::<Vec<_>>();
            (program, args)
        } else {
            (program, args)
        };
        let date = nimbus_types::format_iso8601(nimbus_types::epoch_now());
        let log_stream = format!(
            "{}/{}/{}/[{}]{}",
            &date[0..4],
            &date[5..7],
            &date[8..10],
            rec.version_name(),
            uuid::Uuid::new_v4().simple()
        );
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let host_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        vars.insert("PATH".into(), host_path);
        vars.insert("LANG".into(), "en_US.UTF-8".into());
        if let Ok(home) = std::env::var("HOME") {
            vars.insert("HOME".into(), home);
        }
        vars.insert("TZ".into(), ":UTC".into());
        vars.insert("PYTHONUNBUFFERED".into(), "1".into());
        vars.insert("AWS_ENDPOINT_URL".into(), format!("http://{}", loopback(self.config.edge)));
        let private_net = self.networks.wanted(rec.vpc.as_ref(), &host, &rec.name);
        if private_net {
            vars.insert("AWS_ENDPOINT_URL".into(), self.networks.endpoint_url());
        }
        let creds = match self.credentials.get() {
            Some(issuer) => issuer.assume(&rec.role, &rec.name).await?,
            // A 12-digit access key acts in that account at an edge that does not check
            // signatures: calls the function makes land in the function's own account.
            None => Credentials {
                access_key_id: rec.account.clone(),
                secret_access_key: "nimbus-lambda-secret".into(),
                session_token: "nimbus-lambda-session".into(),
            },
        };
        vars.insert("AWS_ACCESS_KEY_ID".into(), creds.access_key_id);
        vars.insert("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key);
        vars.insert("AWS_SESSION_TOKEN".into(), creds.session_token);
        let opt_view = if private_fs { Some(PathBuf::from("/opt")) } else { opt_dir.clone() };
        layers::search_paths(&mut vars, &runtime, &task_root, &runtime_dir, opt_view.as_deref(), private_fs);
        if let Some(user) = &rec.env {
            for (k, v) in user {
                vars.insert(k.clone(), v.clone());
            }
        }
        vars.insert("_HANDLER".into(), rec.handler.clone().unwrap_or_default());
        vars.insert("LAMBDA_TASK_ROOT".into(), task_root.to_string_lossy().into_owned());
        vars.insert("LAMBDA_RUNTIME_DIR".into(), runtime_dir.to_string_lossy().into_owned());
        vars.insert("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{runtime}"));
        vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), rec.name.clone());
        vars.insert("AWS_LAMBDA_FUNCTION_VERSION".into(), rec.version_name().into());
        vars.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), rec.memory.to_string());
        vars.insert("AWS_LAMBDA_LOG_GROUP_NAME".into(), rec.log_group());
        vars.insert("AWS_LAMBDA_LOG_STREAM_NAME".into(), log_stream.clone());
        vars.insert("AWS_LAMBDA_INITIALIZATION_TYPE".into(), init_type.into());
        vars.insert("AWS_REGION".into(), rec.region.clone());
        vars.insert("AWS_DEFAULT_REGION".into(), rec.region.clone());
        let mut sb = nimbus_sandbox::Sandbox::new(code_dir, program.clone(), args);
        sb.runtime_dir = Some(self.runtimes.dir.clone());
        sb.host_ro = host_ro;
        sb.opt_dir = opt_dir;
        sb.tmp_mb = rec.ephemeral.max(512) as u64;
        sb.memory_mb = rec.memory.max(128) as u64;
        sb.env = vars;
        let cgroup = match sb.cgroup(&host, &format!("env-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())) {
            Ok(c) => c.map(Arc::new),
            Err(e) if host.mode == nimbus_sandbox::Mode::Strict => {
                return Err(AwsError::new(500, "ServiceException", format!("NIMBUS_LAMBDA_ISOLATION=strict: cannot create the environment's cgroup: {e}")));
            }
            Err(e) => {
                tracing::warn!("lambda: running {} without cgroup limits: {e}", rec.name);
                None
            }
        };
        let forked = self
            .templates
            .start_env(template::Request {
                key: &rec.env_key(),
                fingerprint: &fingerprint,
                runtime: &runtime,
                label: &rec.name,
                log_stream: &log_stream,
                host: &host,
                sandbox: &sb,
                cgroup: cgroup.clone(),
                enabled: rec.snap_start.as_deref() != Some("None") && init_type == "on-demand",
                network: private_net.then_some(&self.networks),
            })
            .await;
        if let Some(started) = forked {
            return Ok(if rec.version.is_some() { versions::note_restored(started) } else { started });
        }
        let network = match private_net {
            true => Some(self.networks.create().await.map_err(|e| AwsError::new(500, "ServiceException", e))?),
            false => None,
        };
        sb.netns = network.as_ref().map(|n| n.netns());
        let command = sb.command(&host, cgroup.as_deref()).map_err(|e| AwsError::internal(format!("cannot prepare the sandbox: {e}")))?;
        let spec = Spec { program, command, cgroup, label: rec.name.clone(), log_stream, network };
        match Env::start(spec, fingerprint).await {
            Ok(e) => Ok(Ok(e)),
            Err(msg) => Ok(Err(Bytes::from(json!({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": msg}).to_string()))),
        }
    }

    /// Runs one invocation synchronously. `Err` is a throttle or a service error.
    async fn execute(
        &self,
        rec: &FunctionRecord,
        request_id: &str,
        payload: Bytes,
        client_context: Option<String>,
        want_log: bool,
    ) -> Result<(Outcome, Vec<u8>), AwsError> {
        let key = FunctionRecord::key(&rec.account, &rec.region, &rec.name);
        let fp = Self::fingerprint(rec);
        let (slot, warm) = match self.pools.acquire(&key, &rec.account, &fp, rec.reserved_concurrency, self.config.account_concurrency) {
            Ok(x) => x,
            Err(Throttle::Reserved) => {
                return Err(AwsError::new(429, "TooManyRequestsException", "Rate Exceeded.")
                    .with_field("Reason", "ReservedFunctionConcurrentInvocationLimitExceeded".into()));
            }
            Err(Throttle::Account) => {
                return Err(AwsError::new(429, "TooManyRequestsException", "Rate Exceeded.")
                    .with_field("Reason", "ConcurrentInvocationLimitExceeded".into()));
            }
        };
        let env = match warm {
            Some(e) => e,
            None => match self.spawn_env(rec, fp.clone()).await? {
                Ok(e) => e,
                Err(body) => {
                    drop(slot);
                    let log = format!("START RequestId: {request_id} Version: $LATEST\n{}\nEND RequestId: {request_id}\n", String::from_utf8_lossy(&body));
                    return Ok((Outcome::FunctionError(body), log.into_bytes()));
                }
            },
        };
        let mut r = env
            .run(request_id, &rec.qualified_arn(), payload, client_context, rec.timeout as u64 * 1000, rec.memory, want_log)
            .await;
        versions::label_start(&mut r.log, rec.version_name());
        if rec.version.is_some() {
            versions::label_restore(&mut r.log, &env.log_stream);
        }
        let log_stream = env.log_stream.clone();
        self.pools.release(&key, env, &fp);
        drop(slot);
        self.write_logs(rec, &log_stream, &r.log).await;
        Ok((r.outcome, r.log))
    }

    /// Sends an invocation's log (START, the function's output, END, REPORT) to
    /// CloudWatch Logs, one event per line, in the environment's stream.
    async fn write_logs(&self, rec: &FunctionRecord, stream: &str, log: &[u8]) {
        let Some(logs) = self.logs.get() else { return };
        let now = now_ms() as i64;
        let events: Vec<(i64, String)> =
            String::from_utf8_lossy(log).lines().filter(|l| !l.is_empty()).map(|l| (now, l.to_string())).collect();
        let (logs, account, region, group, stream) =
            (logs.clone(), rec.account.clone(), rec.region.clone(), rec.log_group(), stream.to_string());
        let written = tokio::task::spawn_blocking(move || logs.append(&account, &region, &group, &stream, events)).await;
        if let Ok(Err(e)) = written {
            tracing::warn!("lambda: could not write logs of {}: {e}", rec.name);
        }
    }

    async fn invoke(&self, ctx: &RequestContext, input: t::InvocationRequest, payload: Option<Bytes>) -> Result<Output, AwsError> {
        let rec = self.route(self.resolve(ctx, &input.function_name, input.qualifier.as_deref())?)?;
        let payload = payload.unwrap_or_else(|| Bytes::from_static(b"{}"));
        let kind = input.invocation_type.as_deref().unwrap_or("RequestResponse");
        let limit = if kind == "Event" { MAX_ASYNC_PAYLOAD } else { MAX_SYNC_PAYLOAD };
        if payload.len() > limit {
            return Err(AwsError::new(
                413,
                "RequestEntityTooLargeException",
                format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
            ));
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
            return Err(AwsError::new(
                400,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: Could not parse payload into json: {e}"),
            ));
        }
        let client_context = match &input.client_context {
            Some(cc) => Some(
                B64.decode(cc)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| AwsError::new(400, "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object."))?,
            ),
            None => None,
        };
        match kind {
            "DryRun" => Ok(Output { value: json!({"StatusCode": 204}), payload: None }),
            "Event" => {
                self.enqueue(&rec, &ctx.request_id, &payload, client_context)?;
                Ok(Output { value: json!({"StatusCode": 202}), payload: None })
            }
            _ => {
                let tail = input.log_type.as_deref() == Some("Tail");
                let (outcome, log) = self.execute(&rec, &ctx.request_id, payload, client_context, tail).await?;
                let outcome = versions::snap_start_failure(&rec, outcome)?;
                let mut value = json!({"StatusCode": 200, "ExecutedVersion": rec.version_name()});
                if tail {
                    let start = log.len().saturating_sub(4096);
                    value["LogResult"] = Value::String(B64.encode(&log[start..]));
                }
                let body = match outcome {
                    Outcome::Ok(b) => b,
                    Outcome::FunctionError(b) => {
                        value["FunctionError"] = Value::String("Unhandled".into());
                        b
                    }
                };
                Ok(Output { value, payload: Some(body) })
            }
        }
    }

    // ---- async invocations ----

    fn enqueue(&self, rec: &FunctionRecord, request_id: &str, payload: &[u8], client_context: Option<String>) -> Result<(), AwsError> {
        let ev = QueuedEvent {
            id: request_id.to_string(),
            account: rec.account.clone(),
            region: rec.region.clone(),
            name: rec.name.clone(),
            payload: B64.encode(payload),
            attempt: 0,
            client_context,
            qualifier: rec.alias.clone().or_else(|| rec.version.clone()),
            first_ms: now_ms(),
        };
        let key = format!("{:020}/{}", now_ms(), ev.id);
        let v = serde_json::to_vec(&ev).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(EVENTS, key, v).map_err(store_err)?;
        self.events_wake.notify_one();
        Ok(())
    }

    async fn run_event(self: Arc<Self>, key: Vec<u8>, ev: QueuedEvent) {
        let rec = match self.load_event_target(&ev) {
            Ok(Some(r)) => r,
            _ => {
                tracing::warn!(function = %ev.name, request_id = %ev.id, "dropping an async invocation: the function no longer exists");
                let _ = self.store.delete(EVENTS, key.clone());
                lock(&self.events_running).remove(&key);
                return;
            }
        };
        // The qualifier's MaximumRetryAttempts, MaximumEventAgeInSeconds and destinations.
        let settings = self.async_settings(&ev);
        let mut batch = WriteBatch::new();
        batch.delete(EVENTS, key.clone());
        if settings.expired(&ev) {
            tracing::warn!(function = %ev.name, request_id = %ev.id, "dropping an async invocation older than its maximum event age");
            if let Some((k, v)) = self.destination_event(&ev, &settings, invoke_config::Finish::EventAgeExceeded) {
                batch.put(EVENTS, k, v);
            }
            if let Err(e) = self.store.write(batch) {
                tracing::error!("could not update the async invocation queue: {e}");
            }
            lock(&self.events_running).remove(&key);
            self.events_wake.notify_one();
            return;
        }
        let payload = Bytes::from(B64.decode(&ev.payload).unwrap_or_default());
        let result = self.execute(&rec, &ev.id, payload, ev.client_context.clone(), false).await;
        match result {
            Ok((Outcome::Ok(body), _)) => {
                if let Some((k, v)) = self.destination_event(&ev, &settings, invoke_config::Finish::Success(&rec, &body)) {
                    batch.put(EVENTS, k, v);
                }
            }
            Ok((Outcome::FunctionError(body), _)) => {
                let attempt = ev.attempt as usize;
                // More retries than configured delays reuse the last delay.
                let delays = &self.config.async_retry_delays;
                let delay = (ev.attempt < settings.max_retries.max(0) as u32).then(|| delays.get(attempt).or(delays.last()).copied().unwrap_or_default());
                if let Some(delay) = delay {
                    let next = QueuedEvent { attempt: ev.attempt + 1, ..ev.clone() };
                    // A retry due after the event's maximum age runs when it expires, and is dropped then.
                    let due = settings.retry_due(&ev, now_ms() + delay.as_millis() as u64);
                    if let Ok(v) = serde_json::to_vec(&next) {
                        batch.put(EVENTS, format!("{due:020}/{}", next.id), v);
                    }
                } else {
                    tracing::warn!(
                        function = %ev.name, request_id = %ev.id, attempts = attempt + 1,
                        "dropping an async invocation after its retries: {}", String::from_utf8_lossy(&body)
                    );
                    if let Some((k, v)) = self.destination_event(&ev, &settings, invoke_config::Finish::RetriesExhausted(&rec, &body)) {
                        batch.put(EVENTS, k, v);
                    }
                }
            }
            Err(e) => {
                // Throttled or a service error: try again shortly, without counting an attempt.
                let due = now_ms() + if e.status == 429 { 200 } else { 1000 };
                if let Ok(v) = serde_json::to_vec(&ev) {
                    batch.put(EVENTS, format!("{due:020}/{}", ev.id), v);
                }
            }
        }
        if let Err(e) = self.store.write(batch) {
            tracing::error!("could not update the async invocation queue: {e}");
        }
        lock(&self.events_running).remove(&key);
        self.events_wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts every due queued event; sleeps until the next one is due or a new one arrives.
async fn events_worker(inner: Arc<Inner>) {
    loop {
        let now = now_ms();
        let mut next_due: Option<u64> = None;
        let mut due = Vec::new();
        match inner.store.prefix(EVENTS, b"", Direction::Forward) {
            Ok(scan) => {
                for kv in scan {
                    let Ok((k, v)) = kv else { break };
                    let ts = std::str::from_utf8(&k[..k.len().min(20)]).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                    if ts > now {
                        next_due = Some(ts);
                        break;
                    }
                    if lock(&inner.events_running).contains(&k) {
                        continue;
                    }
                    match serde_json::from_slice::<QueuedEvent>(&v) {
                        Ok(ev) => due.push((k, ev)),
                        Err(_) => {
                            let _ = inner.store.delete(EVENTS, k);
                        }
                    }
                    if due.len() >= 256 {
                        next_due = Some(now);
                        break;
                    }
                }
            }
            Err(e) => tracing::error!("cannot read the async invocation queue: {e}"),
        }
        for (k, ev) in due {
            lock(&inner.events_running).insert(k.clone());
            tokio::spawn(inner.clone().run_event(k, ev));
        }
        let wait = match next_due {
            Some(ts) => Duration::from_millis(ts.saturating_sub(now_ms()).max(1)),
            None => Duration::from_secs(5),
        };
        let _ = tokio::time::timeout(wait, inner.events_wake.notified()).await;
    }
}

impl Handler for Lambda {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        if Op::from_name(op).is_some_and(layers::implements) || Op::from_name(op).is_some_and(urls::implements) {
            return true;
        }
        if Op::from_name(op).is_some_and(esm::implements) {
            return true;
        }
        if Op::from_name(op).is_some_and(invoke_config::implements)
            || Op::from_name(op).is_some_and(runtime_mgmt::implements)
            || Op::from_name(op).is_some_and(code_signing::implements)
        {
            return true;
        }
        matches!(
            Op::from_name(op),
            Some(
                Op::CreateFunction
                    | Op::GetFunction
                    | Op::GetFunctionConfiguration
                    | Op::ListFunctions
                    | Op::UpdateFunctionCode
                    | Op::UpdateFunctionConfiguration
                    | Op::DeleteFunction
                    | Op::Invoke
                    | Op::InvokeAsync
                    | Op::PutFunctionConcurrency
                    | Op::GetFunctionConcurrency
                    | Op::DeleteFunctionConcurrency
                    | Op::GetAccountSettings
                    | Op::ListTags
                    | Op::TagResource
                    | Op::UntagResource
                    | Op::AddPermission
                    | Op::RemovePermission
                    | Op::GetPolicy
            )
        ) || versions::implements(op)
    }

    fn call<'a>(&'a self, ctx: &'a RequestContext, op: &'static Operation, input: Input) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            let s = &self.inner;
            match Op::from_name(op.name) {
                Some(Op::CreateFunction) => Output::from(&s.create_function(ctx, input.parse()?).await?),
                Some(Op::GetFunction) => Output::from(&s.get_function(ctx, input.parse()?)?),
                Some(Op::GetFunctionConfiguration) => {
                    let i: t::GetFunctionConfigurationRequest = input.parse()?;
                    Output::from(&s.resolve_shown(ctx, &i.function_name, i.qualifier.as_deref())?.1)
                }
                Some(Op::ListFunctions) => Output::from(&s.list_functions(ctx, input.parse()?)?),
                Some(Op::UpdateFunctionCode) => Output::from(&s.update_code(ctx, input.parse()?).await?),
                Some(Op::UpdateFunctionConfiguration) => Output::from(&s.update_configuration(ctx, input.parse()?).await?),
                Some(Op::DeleteFunction) => {
                    s.delete_function(ctx, input.parse()?).await?;
                    Ok(Output::default())
                }
                Some(Op::Invoke) => {
                    let payload = input.payload.clone();
                    s.invoke(ctx, input.parse()?, payload).await
                }
                Some(Op::InvokeAsync) => {
                    #[derive(serde::Deserialize)]
                    struct Req {
                        #[serde(rename = "FunctionName")]
                        function_name: String,
                    }
                    let i: Req = input.parse()?;
                    let rec = s.resolve(ctx, &i.function_name, None)?;
                    let payload = input.payload.unwrap_or_else(|| Bytes::from_static(b"{}"));
                    if payload.len() > MAX_ASYNC_PAYLOAD {
                        return Err(AwsError::new(
                            413,
                            "RequestEntityTooLargeException",
                            format!("Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation"),
                        ));
                    }
                    s.enqueue(&rec, &ctx.request_id, &payload, None)?;
                    Ok(Output { value: json!({"Status": 202}), payload: None })
                }
                Some(Op::PutFunctionConcurrency) => Output::from(&s.put_concurrency(ctx, input.parse()?).await?),
                Some(Op::GetFunctionConcurrency) => {
                    let i: t::GetFunctionConcurrencyRequest = input.parse()?;
                    let rec = s.resolve_for_concurrency(ctx, &i.function_name, false)?;
                    Output::from(&t::GetFunctionConcurrencyResponse { reserved_concurrent_executions: rec.reserved_concurrency })
                }
                Some(Op::DeleteFunctionConcurrency) => {
                    s.delete_concurrency(ctx, input.parse()?).await?;
                    Ok(Output::default())
                }
                Some(Op::GetAccountSettings) => Output::from(&s.account_settings(ctx)?),
                Some(o @ (Op::ListTags | Op::TagResource | Op::UntagResource)) if esm::names_mapping(&input) => s.esm_tags(ctx, o, input).await,
                Some(Op::ListTags) => {
                    let i: t::ListTagsRequest = input.parse()?;
                    let rec = s.resolve_arn_resource(ctx, &i.resource)?;
                    Output::from(&t::ListTagsResponse { tags: Some(rec.tags) })
                }
                Some(Op::TagResource) => {
                    let i: t::TagResourceRequest = input.parse()?;
                    let _guard = s.write_lock.lock().await;
                    let mut rec = s.resolve_arn_resource(ctx, &i.resource)?;
                    rec.tags.extend(i.tags);
                    if rec.tags.len() > 50 {
                        return Err(invalid("Number of tags exceeds resource tag limit."));
                    }
                    s.save(&rec)?;
                    Ok(Output::default())
                }
                Some(Op::UntagResource) => {
                    let i: t::UntagResourceRequest = input.parse()?;
                    let _guard = s.write_lock.lock().await;
                    let mut rec = s.resolve_arn_resource(ctx, &i.resource)?;
                    for k in &i.tag_keys {
                        rec.tags.remove(k);
                    }
                    s.save(&rec)?;
                    Ok(Output::default())
                }
                Some(Op::AddPermission) => Output::from(&s.add_permission(ctx, input.parse()?).await?),
                Some(Op::RemovePermission) => {
                    s.remove_permission(ctx, input.parse()?).await?;
                    Ok(Output::default())
                }
                Some(Op::GetPolicy) => {
                    let i: t::GetPolicyRequest = input.parse()?;
                    let rec = s.resolve_for_policy(ctx, &i.function_name, i.qualifier.as_deref(), policy::Op::Get)?;
                    let doc = policy::document(&rec).ok_or_else(policy::no_policy)?;
                    Output::from(&t::GetPolicyResponse { policy: Some(doc), revision_id: Some(rec.revision_id) })
                }
                Some(other) if versions::implements(op.name) => s.call_versions(ctx, other, input).await,
                Some(o) if layers::implements(o) => s.layer_call(ctx, o, input).await,
                Some(o) if esm::implements(o) => s.esm_call(ctx, o, input).await,
                Some(o) if urls::implements(o) => s.url_call(ctx, o, input).await,
                Some(o) if invoke_config::implements(o) => s.invoke_config_call(ctx, o, input).await,
                Some(o) if runtime_mgmt::implements(o) => s.runtime_mgmt_call(ctx, o, input).await,
                Some(o) if code_signing::implements(o) => s.code_signing_call(ctx, o, input).await,
                _ => Err(AwsError::internal(format!("{} is not implemented", op.name))),
            }
        })
    }
}
