//! Workloads that are not a stream of requests: Lambda cold starts (timed one by one),
//! the memory of idle deployed functions, and rows derived from other rows (the API
//! Gateway's added latency).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use crate::load::{self, Client};
use crate::report::Row;
use crate::systems::{self, System};
use crate::workloads::{self, lambda};

/// A cold-start row: workload name, function kind and extra CreateFunction fields.
pub fn cold_variants() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("lambda.coldstart.python", "python", json!({"MemorySize": 1769})),
        ("lambda.coldstart.python-nosnapshot", "python", json!({"MemorySize": 1769, "SnapStart": {"ApplyOn": "None"}})),
        ("lambda.coldstart.python-boto3", "python-boto3", json!({"MemorySize": 1769})),
        ("lambda.coldstart.python-boto3-nosnapshot", "python-boto3", json!({"MemorySize": 1769, "SnapStart": {"ApplyOn": "None"}})),
        ("lambda.coldstart.nodejs", "nodejs", json!({"MemorySize": 1769})),
        ("lambda.coldstart.nodejs-nosnapshot", "nodejs", json!({"MemorySize": 1769, "SnapStart": {"ApplyOn": "None"}})),
        ("lambda.coldstart.provided", "provided", json!({"MemorySize": 1769})),
    ]
}

/// Cold starts of a fresh function of `kind`: `samples` times, the environment is ended
/// (an invoke whose handler exits the process, not timed) and the next invoke, which
/// needs a new environment, is timed from request to answer. Each timed answer must come
/// from a fresh environment (the handler counts its calls: the first answers n = 1).
pub async fn coldstart(s: &System, workload: &str, kind: &str, extra: &Value, samples: usize) -> Row {
    let name = workload.replace("lambda.coldstart.", "cold-").replace('.', "-");
    lambda::create_role(&s.addr).await;
    if let Err(e) = lambda::create_function(&s.addr, &name, kind, extra.clone()).await {
        return Row::missing(workload, s.name, &e);
    }
    let snap = workloads::call(&s.addr, Method::GET, &format!("/2015-03-31/functions/{name}/configuration"), workloads::rest("lambda"), Value::Null)
        .await
        .ok()
        .and_then(|c| c["SnapStart"]["OptimizationStatus"].as_str().map(str::to_string))
        .unwrap_or_else(|| "not reported".into());
    let mut client = Client::new(&s.addr);
    let path = lambda::invoke_path(&name);
    let headers = workloads::rest("lambda");
    // The first start after the deploy (for snapshot starts it also initialises the template).
    let first = match client.send(Method::POST, &path, &headers, Bytes::from_static(b"{}")).await {
        Ok((a, took)) if lambda::invoke_ok(&a.headers, &a.body) == Some(1) => took,
        Ok((a, _)) => return Row::missing(workload, s.name, &format!("first invoke answered {}: {}", a.status, load::snippet(&a.body))),
        Err(e) => return Row::missing(workload, s.name, &e),
    };
    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0u64, None::<String>);
    for _ in 0..samples {
        match client.send(Method::POST, &path, &headers, Bytes::from_static(br#"{"exit": true}"#)).await {
            Ok((a, _)) if a.headers.contains_key("x-amz-function-error") => {}
            Ok((a, _)) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("the exit call did not end the environment: {}", load::snippet(&a.body)));
                continue;
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
                continue;
            }
        }
        match client.send(Method::POST, &path, &headers, Bytes::from_static(b"{}")).await {
            Ok((a, took)) => match lambda::invoke_ok(&a.headers, &a.body) {
                Some(1) => latencies.push(took.as_micros().min(u32::MAX as u128) as u32),
                Some(n) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("answered from a warm environment (call {n})"));
                }
                None => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{}: {}", a.status, load::snippet(&a.body)));
                }
            },
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    latencies.sort_unstable();
    let mut notes = format!(
        "new environment to first response, {} of {samples} samples (previous environment ended by the handler); first start after deploy {:.1} ms; SnapStart {snap}; 1,769 MB",
        latencies.len(),
        first.as_secs_f64() * 1000.0
    );
    if kind.starts_with("python-boto3") {
        notes.push_str("; boto3 bundled in the zip from the bench venv (AWS's python runtimes provide it, Nimbus' do not)");
    }
    if let Some(e) = first_error {
        notes.push_str(&format!("; first error: {e}"));
    }
    Row { workload: workload.into(), system: s.name.into(), ops_per_s: 0.0, p50_us: load::percentile(&latencies, 0.5), p99_us: load::percentile(&latencies, 0.99), errors, notes, measured_on: String::new() }
}

/// The plain interpreter start a cold start of `workload` is compared with, as
/// (program, args, what it is): the same work outside Nimbus, no sandbox and no
/// Runtime API. `None` for custom runtimes (there is no interpreter to compare with).
fn plain_start(workload: &str) -> Option<(PathBuf, Vec<String>, String)> {
    let venv_python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench/venv/bin/python");
    if workload.starts_with("lambda.coldstart.python-boto3") {
        // The venv's interpreter: the one whose boto3 the bundled function imports.
        let args = vec!["-c".to_string(), "import boto3, json".to_string()];
        return Some((venv_python, args, "`python -c \"import boto3, json\"` (bench venv interpreter)".into()));
    }
    if workload.starts_with("lambda.coldstart.python") {
        let real = std::fs::canonicalize(&venv_python).ok()?;
        let what = format!("`{} -c pass`", real.display());
        return Some((real, vec!["-c".into(), "pass".into()], what));
    }
    if workload.starts_with("lambda.coldstart.nodejs") {
        return Some((PathBuf::from("node"), vec!["-e".into(), "0".into()], "`node -e 0`".into()));
    }
    None
}

/// The `process` row of a cold-start workload: a plain interpreter started as a
/// subprocess `samples` times, timed from spawn to exit (what a cold start would cost
/// with no snapshot and no sandbox, and no Runtime API round trip).
pub fn plain_process(workload: &str, samples: usize) -> Option<Row> {
    let (program, args, what) = plain_start(workload)?;
    let mut latencies = Vec::new();
    let mut first_error = None::<String>;
    for _ in 0..samples + 1 {
        let started = Instant::now();
        match std::process::Command::new(&program).args(&args).stdout(std::process::Stdio::null()).status() {
            Ok(s) if s.success() => latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32),
            Ok(s) => {
                first_error.get_or_insert_with(|| format!("{what} exited with {s}"));
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{what}: {e}"));
            }
        }
    }
    if latencies.len() > 1 {
        latencies.remove(0); // the first start warms the page cache
    }
    if latencies.is_empty() {
        return Some(Row::missing(workload, "process", &first_error.unwrap_or_default()));
    }
    latencies.sort_unstable();
    let notes = format!("plain subprocess start to exit of {what}, {} samples; no sandbox, no Runtime API", latencies.len());
    Some(Row { workload: workload.into(), system: "process".into(), ops_per_s: 0.0, p50_us: load::percentile(&latencies, 0.5), p99_us: load::percentile(&latencies, 0.99), errors: 0, notes, measured_on: String::new() })
}

/// Memory of `s` (resident) and every process below it (proportional, so pages forked
/// environments share are not counted many times), in MB, and how many processes that is.
fn tree_rss(s: &System) -> (f64, usize) {
    let below = s.descendants();
    (s.rss_mb() + below.iter().map(|p| systems::pss_mb(*p)).sum::<f64>(), below.len())
}

pub const IDLE_FUNCTIONS: usize = 100;
const IDLE_SECONDS: u64 = 2;

/// `lambda.idle-functions.100` on a Nimbus of its own (idle timeout 2 s): deploys 100
/// functions, invokes each once, waits until every environment is reaped, and reports
/// the memory of the server and everything below it.
pub async fn idle_functions(bin: &Path) -> Row {
    let workload = format!("lambda.idle-functions.{IDLE_FUNCTIONS}");
    let s = match systems::nimbus(bin, &[("NIMBUS_LAMBDA_IDLE_SECONDS", &IDLE_SECONDS.to_string())]).await {
        Ok(s) => s,
        Err(e) => return Row::missing(&workload, "nimbus", &e),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = tree_rss(&s);
    let mut errors = 0u64;
    let mut first_error = None::<String>;
    // Deploy and invoke 4 at a time: each first invoke is a cold start.
    for chunk in (0..IDLE_FUNCTIONS).collect::<Vec<_>>().chunks(4) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let addr = s.addr.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("idle-{i}");
                lambda::create_function(&addr, &name, "python", json!({})).await?;
                lambda::invoke_once(&addr, &name).await
            }));
        }
        for t in tasks {
            match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(1) => {}
                Ok(n) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("first invoke answered call {n}"));
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    let (peak, peak_procs) = tree_rss(&s);
    // Wait (with a deadline) until the reaper has stopped every environment and template.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left = s.descendants().len();
    while left > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        left = s.descendants().len();
    }
    // Let the allocator settle after the reaping.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, procs) = tree_rss(&s);
    let per = (after - before) / IDLE_FUNCTIONS as f64;
    let mut notes = format!(
        "MB (server RSS + PSS of the processes below it) with {IDLE_FUNCTIONS} deployed functions, each invoked once, then idle past NIMBUS_LAMBDA_IDLE_SECONDS={IDLE_SECONDS}: {before:.1} MB before deploying, {peak:.1} MB with {peak_procs} processes warm, {after:.1} MB idle with {procs} processes left = {per:.3} MB per idle function"
    );
    if procs > 0 {
        notes.push_str(" (environments not reaped within 60 s)");
        errors += 1;
    }
    if let Some(e) = first_error {
        notes.push_str(&format!("; first error: {e}"));
    }
    Row { workload, system: "nimbus".into(), ops_per_s: after, p50_us: 0.0, p99_us: 0.0, errors, notes, measured_on: String::new() }
}

/// `lambda.idle-functions.100` for a peer: it needs functions that run there; when they
/// do not, the row says why.
pub async fn idle_functions_peer(s: &System) -> Row {
    let workload = format!("lambda.idle-functions.{IDLE_FUNCTIONS}");
    lambda::create_role(&s.addr).await;
    let probe = async {
        lambda::create_function(&s.addr, "idle-probe", "python", json!({})).await?;
        lambda::invoke_once(&s.addr, "idle-probe").await
    };
    match probe.await {
        Err(e) => Row::missing(&workload, s.name, &e),
        Ok(_) => Row::noted(&workload, s.name, &format!("not measured in {}: its idle timeout and process tree are not controlled by the bench", s.name)),
    }
}

/// `apigateway.overhead.<kind>`: p50 of the API's 1-client row minus p50 of a direct
/// Invoke of the same function at 1 client, per system, from this run's rows.
pub fn overhead(rows: &[Row], systems: &[&str]) -> Vec<Row> {
    let mut out = Vec::new();
    for kind in ["rest", "http"] {
        let workload = format!("apigateway.overhead.{kind}");
        let api = format!("apigateway.{kind}.c1");
        for system in systems {
            let find = |w: &str| rows.iter().find(|r| r.workload == w && r.system == *system);
            match (find(&api), find("lambda.invoke.python.c1")) {
                (Some(a), Some(d)) if a.p50_us > 0.0 && d.p50_us > 0.0 => out.push(Row {
                    workload: workload.clone(),
                    system: system.to_string(),
                    ops_per_s: 0.0,
                    p50_us: a.p50_us - d.p50_us,
                    p99_us: 0.0,
                    errors: a.errors + d.errors,
                    notes: format!("p50 of {api} ({:.0} µs) minus p50 of lambda.invoke.python.c1 ({:.0} µs)", a.p50_us, d.p50_us),
                    measured_on: String::new(),
                }),
                (a, _) => {
                    let notes = match a {
                        Some(r) if r.notes.starts_with("missing") => r.notes.clone(),
                        _ => format!("not computed: needs {api} and lambda.invoke.python.c1 measured in this run"),
                    };
                    out.push(Row::noted(&workload, system, &notes));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workload: &str, system: &str, p50: f64) -> Row {
        Row { workload: workload.into(), system: system.into(), ops_per_s: 1000.0, p50_us: p50, p99_us: p50, errors: 0, notes: String::new(), measured_on: String::new() }
    }

    #[test]
    fn overhead_is_the_gateway_p50_minus_the_direct_invoke_p50() {
        let rows = vec![
            row("lambda.invoke.python.c1", "nimbus", 400.0),
            row("apigateway.rest.c1", "nimbus", 550.0),
            Row::missing("apigateway.rest.c1", "moto", "no functions"),
            Row::missing("lambda.invoke.python.c1", "moto", "no functions"),
        ];
        let out = overhead(&rows, &["nimbus", "moto"]);
        let find = |w: &str, s: &str| out.iter().find(|r| r.workload == w && r.system == s).cloned();
        assert_eq!(find("apigateway.overhead.rest", "nimbus").map(|r| r.p50_us), Some(150.0));
        let moto = find("apigateway.overhead.rest", "moto").expect("a moto row");
        assert!(!moto.measured() && moto.notes == "missing in moto: no functions", "{}", moto.notes);
        // No HTTP API row in this run: said, not computed.
        let http = find("apigateway.overhead.http", "nimbus").expect("an http row");
        assert!(!http.measured() && http.notes.starts_with("not computed"), "{}", http.notes);
    }
}
