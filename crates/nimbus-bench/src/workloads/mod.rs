//! The load workloads: each has a setup (run once per system) and a request to repeat,
//! with a check of every answer. Names are stable and dotted,
//! `service.operation[.variant].cN` with N the concurrent clients, so reports compare
//! over time. Workloads that are not a stream of requests (cold starts, idle memory,
//! derived rows) live in `crate::special`.

pub mod dynamodb;
pub mod lambda;
pub mod s3;

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::load::{self, Check, Spec};

/// What setups left behind on one system (ids the requests need).
#[derive(Default, Clone)]
pub struct State {
    pub rest_api_id: Option<String>,
    pub http_api_id: Option<String>,
    pub shard_iterator: Option<String>,
}

pub type Build = Arc<dyn Fn(&State) -> Option<Arc<Spec>> + Send + Sync>;

/// A workload row: its name, how many clients, and what it sends.
pub struct Workload {
    pub name: String,
    pub clients: usize,
    pub build: Build,
    pub setup: Option<Setup>,
    /// Only meaningful against Nimbus (e.g. the client's own ceiling).
    pub nimbus_only: bool,
    /// Why `--quick` does not run it (reported as a row, never skipped silently).
    pub quick_skip: Option<&'static str>,
}

/// What a workload needs before it runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Setup {
    /// A table `bench` (pk S, sk S) with 10,000 items in partition `q`.
    DynamoTable,
    /// A table `benchgsi` with a GSI `byg` (g, s) over 2,000 items with g = `q`.
    GsiTable,
    /// A table `benchstream` with a stream and 1,000 writes in it; a TRIM_HORIZON iterator.
    Stream,
    /// A table `scale<n>` (pk S) with n items.
    Scale(u64),
    /// Buckets with 100 objects of 1 KiB and 100 of 1 MiB to read.
    Bucket,
    /// No-op functions `noop-python`, `noop-nodejs`, `noop-provided`, warmed.
    Functions,
    /// A REST API and an HTTP API proxying to `noop-python` (needs `Functions`).
    Apis,
}

impl Setup {
    /// The setups this one needs first (itself last).
    pub fn needs(self) -> Vec<Setup> {
        match self {
            Setup::Apis => vec![Setup::Functions, Setup::Apis],
            s => vec![s],
        }
    }
}

/// Runs a setup against `addr`; an error means the service (or the feature) is missing there.
pub async fn setup(addr: &str, setup: Setup, state: &mut State) -> Result<(), String> {
    match setup {
        Setup::DynamoTable => dynamodb::setup_table(addr).await,
        Setup::GsiTable => dynamodb::setup_gsi(addr).await,
        Setup::Stream => dynamodb::setup_stream(addr, state).await,
        Setup::Scale(n) => dynamodb::setup_scale(addr, n).await,
        Setup::Bucket => s3::setup(addr).await,
        Setup::Functions => lambda::setup_functions(addr).await,
        Setup::Apis => lambda::setup_apis(addr, state).await,
    }
}

/// Headers of a signed request. Both systems run with authentication off, so the
/// signature is not verified; the credential scope still names the service, which is
/// how moto (and Nimbus, for some protocols) tells services apart.
pub fn auth_headers(service: &str) -> Vec<(String, String)> {
    vec![
        ("x-amz-date".into(), "20261122T000000Z".into()),
        ("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()),
        (
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"),
        ),
    ]
}

/// Headers of a restJson1 request.
pub fn rest(service: &str) -> Vec<(String, String)> {
    let mut h = auth_headers(service);
    h.push(("content-type".into(), "application/json".into()));
    h
}

pub fn spec(method: Method, path: impl Fn(u64) -> String + Send + Sync + 'static, headers: Vec<(String, String)>, body: impl Fn(u64) -> Bytes + Send + Sync + 'static, check: Option<Check>) -> Option<Arc<Spec>> {
    Some(Arc::new(Spec { method, make_path: Arc::new(path), headers, make_body: Arc::new(body), check }))
}

pub fn post(path: &str, headers: Vec<(String, String)>, make: impl Fn(u64) -> Bytes + Send + Sync + 'static, check: Check) -> Option<Arc<Spec>> {
    let path = path.to_string();
    spec(Method::POST, move |_| path.clone(), headers, make, Some(check))
}

/// A check on the answer parsed as JSON.
pub fn json_check(f: impl Fn(u64, &Value) -> bool + Send + Sync + 'static) -> Check {
    Arc::new(move |n, _, _, body| serde_json::from_slice::<Value>(body).is_ok_and(|v| f(n, &v)))
}

/// One setup call on a fresh connection; a status ≥ 300 is an error with the answer.
pub async fn call(addr: &str, method: Method, path: &str, headers: Vec<(String, String)>, body: Value) -> Result<Value, String> {
    let body = if body.is_null() { Bytes::new() } else { Bytes::from(body.to_string()) };
    let (status, resp) = load::once(addr, method, path, &headers, body).await?;
    if status >= 300 {
        return Err(format!("{path} answered {status}: {}", load::snippet(&resp)));
    }
    Ok(serde_json::from_slice(&resp).unwrap_or(Value::Null))
}

fn health(_: &State) -> Option<Arc<Spec>> {
    spec(Method::GET, |_| "/_nimbus/health".into(), vec![], |_| Bytes::new(), None)
}

fn sts(_: &State) -> Option<Arc<Spec>> {
    let mut headers = auth_headers("sts");
    headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    let check: Check = Arc::new(|_, _, _, body| body.windows(9).any(|w| w == b"<Account>"));
    post("/", headers, |_| Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15"), check)
}

fn load_workload(name: String, clients: usize, build: Build, setup: Option<Setup>) -> Workload {
    Workload { name, clients, build, setup, nimbus_only: false, quick_skip: None }
}

/// Every load workload, in report order.
pub fn all() -> Vec<Workload> {
    let mut w = vec![
        Workload { name: "client-ceiling.health.c32".into(), clients: 32, build: Arc::new(health), setup: None, nimbus_only: true, quick_skip: None },
        load_workload("sts.getcalleridentity.c32".into(), 32, Arc::new(sts), None),
    ];
    let both: Vec<(&str, Build, Setup)> = vec![
        ("dynamodb.putitem", Arc::new(dynamodb::put_item), Setup::DynamoTable),
        ("dynamodb.getitem", Arc::new(dynamodb::get_item), Setup::DynamoTable),
        ("dynamodb.query100", Arc::new(dynamodb::query), Setup::DynamoTable),
        ("dynamodb.batchwriteitem25", Arc::new(dynamodb::batch_write), Setup::DynamoTable),
        ("dynamodb.updateitem.add-hot", Arc::new(dynamodb::update_hot), Setup::DynamoTable),
        ("dynamodb.query.gsi", Arc::new(dynamodb::query_gsi), Setup::GsiTable),
        ("s3.putobject.1kib", Arc::new(|s: &State| s3::put(s, 1024)), Setup::Bucket),
        ("s3.putobject.1mib", Arc::new(|s: &State| s3::put(s, 1 << 20)), Setup::Bucket),
        ("s3.getobject.1kib", Arc::new(|s: &State| s3::get(s, 1024)), Setup::Bucket),
        ("s3.getobject.1mib", Arc::new(|s: &State| s3::get(s, 1 << 20)), Setup::Bucket),
        ("lambda.invoke.python", Arc::new(|_: &State| lambda::invoke("noop-python")), Setup::Functions),
        ("lambda.invoke.nodejs", Arc::new(|_: &State| lambda::invoke("noop-nodejs")), Setup::Functions),
        ("lambda.invoke.provided", Arc::new(|_: &State| lambda::invoke("noop-provided")), Setup::Functions),
        ("apigateway.rest", Arc::new(lambda::rest_api), Setup::Apis),
        ("apigateway.http", Arc::new(lambda::http_api), Setup::Apis),
    ];
    for (name, build, setup) in both {
        for clients in [1, 32] {
            w.push(load_workload(format!("{name}.c{clients}"), clients, build.clone(), Some(setup)));
        }
    }
    w.push(load_workload("dynamodb.streams.getrecords.c1".into(), 1, Arc::new(dynamodb::get_records), Some(Setup::Stream)));
    for (exp, n) in [(3, 1_000u64), (5, 100_000), (6, 1_000_000)] {
        let mut wl = load_workload(format!("dynamodb.getitem.size1e{exp}.c1"), 1, Arc::new(move |_: &State| dynamodb::get_scaled(n)), Some(Setup::Scale(n)));
        if n > 1_000 {
            wl.quick_skip = Some("skipped in --quick (loading the table takes too long); measured in the full run");
        }
        w.push(wl);
    }
    w
}
