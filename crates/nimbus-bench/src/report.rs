//! `target/bench/results.json` and `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::Measured;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub workload: String,
    pub system: String,
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    pub notes: String,
    /// The day the row was measured (set when the report is written).
    #[serde(default)]
    pub measured_on: String,
}

impl Row {
    /// A workload `system` cannot run (its service or a feature it needs is missing there).
    pub fn missing(workload: &str, system: &str, why: &str) -> Row {
        Row::noted(workload, system, &format!("missing in {system}: {why}"))
    }

    /// A row with no figures, only `notes` (skipped, not computable).
    pub fn noted(workload: &str, system: &str, notes: &str) -> Row {
        Row { workload: workload.into(), system: system.into(), ops_per_s: 0.0, p50_us: 0.0, p99_us: 0.0, errors: 0, notes: notes.into(), measured_on: String::new() }
    }

    /// Whether the row holds a measurement (not a missing or skipped one).
    pub fn measured(&self) -> bool {
        self.ops_per_s > 0.0 || self.p50_us != 0.0
    }

    /// Throughput averaged over the rounds; latencies as the median of the rounds'.
    pub fn from_runs(workload: &str, system: &str, clients: usize, runs: &[Measured]) -> Row {
        let n = runs.len().max(1) as f64;
        let mut p50: Vec<f64> = runs.iter().map(|r| r.p50_us).collect();
        let mut p99: Vec<f64> = runs.iter().map(|r| r.p99_us).collect();
        p50.sort_by(f64::total_cmp);
        p99.sort_by(f64::total_cmp);
        Row {
            workload: workload.into(),
            system: system.into(),
            ops_per_s: runs.iter().map(|r| r.ops_per_s).sum::<f64>() / n,
            p50_us: p50.get(p50.len() / 2).copied().unwrap_or(0.0),
            p99_us: p99.get(p99.len() / 2).copied().unwrap_or(0.0),
            errors: runs.iter().map(|r| r.errors).sum(),
            measured_on: String::new(),
            notes: {
                let mut notes = format!("{clients} clients, {} round(s)", runs.len());
                let wrong: u64 = runs.iter().map(|r| r.wrong).sum();
                if wrong > 0 {
                    notes.push_str(&format!("; {wrong} wrong answers (counted as errors)"));
                }
                if let Some(e) = runs.iter().find_map(|r| r.first_error.clone()) {
                    notes.push_str(&format!("; first error: {e}"));
                }
                notes
            },
        }
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string())))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {mem} memory, Linux {}", kernel.trim())
}

pub fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Starts the part of a row's notes that says where the cores went during it.
pub const CPU_NOTE: &str = "cores busy: server";

/// What the report says about one system's run.
pub struct Meta {
    pub quick: bool,
    pub moto_version: &'static str,
    /// `--only` pattern of a run merged into the previous report (`--merge`).
    pub merged: Option<String>,
}

/// The rows of the committed report (`docs/benchmarks.json`), for `--merge`.
pub fn previous(root: &Path) -> Result<Vec<Row>, String> {
    let path = root.join("docs").join("benchmarks.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--merge needs {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `old` with every (workload, system) row `new` measured replaced by `new`'s, in place;
/// rows new to the report go after the last row of their workload, else of their group
/// (`service.operation`), else at the end.
pub fn merge(old: Vec<Row>, new: Vec<Row>) -> Vec<Row> {
    let key = |r: &Row| (r.workload.clone(), r.system.clone());
    let mut out = old;
    for n in new {
        if let Some(o) = out.iter_mut().find(|o| key(o) == key(&n)) {
            *o = n;
            continue;
        }
        let group = |w: &str| w.split('.').take(2).collect::<Vec<_>>().join(".");
        let at = out
            .iter()
            .rposition(|o| o.workload == n.workload)
            .or_else(|| out.iter().rposition(|o| group(&o.workload) == group(&n.workload)))
            .map_or(out.len(), |i| i + 1);
        out.insert(at, n);
    }
    out
}

/// How a workload's figures are shown.
enum Kind {
    /// ms to first healthy answer, in `p50_us`.
    Startup,
    /// MB, in `ops_per_s`.
    Memory,
    /// Latency samples (cold starts, derived overheads): no throughput.
    Latency,
    /// A stream of requests: throughput and latency.
    Load,
}

fn kind(workload: &str) -> Kind {
    if workload == "startup" {
        Kind::Startup
    } else if workload == "idle_rss" || workload.starts_with("lambda.idle-functions") {
        Kind::Memory
    } else if workload.starts_with("lambda.coldstart") || workload.starts_with("apigateway.overhead") {
        Kind::Latency
    } else {
        Kind::Load
    }
}

fn find<'a>(rows: &'a [Row], workload: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.workload == workload && r.system == "nimbus")
}

/// For a merged report: which rows come from which day's run.
fn merged_note(rows: &[Row], meta: &Meta) -> String {
    let Some(only) = &meta.merged else { return String::new() };
    let mut days: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *days.entry(r.measured_on.as_str()).or_default() += 1;
    }
    let days: Vec<String> = days.iter().map(|(d, n)| format!("{n} rows on {d}")).collect();
    format!("This report merges runs: the workloads matching `{only}` were measured again on {} and replaced their rows; the other rows are carried over from earlier runs, full or merged (each row's day is in docs/benchmarks.json: {}). ", today(), days.join(", "))
}

/// The targets named in the service issues, each against this run's figure.
fn targets(rows: &[Row]) -> String {
    // (target, workload, measured value of the row, whether it meets the target, unit)
    type Rule = (&'static str, &'static str, fn(&Row) -> f64, fn(f64) -> bool, &'static str);
    let ops: fn(&Row) -> f64 = |r| r.ops_per_s;
    let p50: fn(&Row) -> f64 = |r| r.p50_us;
    let rules: Vec<Rule> = vec![
        ("DynamoDB ≥ 20,000 PutItem/s at 32 clients", "dynamodb.putitem.c32", ops, |v| v >= 20_000.0, "/s"),
        ("DynamoDB GetItem p50 < 200 µs", "dynamodb.getitem.c1", p50, |v| v < 200.0, " µs"),
        ("Lambda warm invoke p50 < 1 ms (python)", "lambda.invoke.python.c1", p50, |v| v < 1_000.0, " µs"),
        ("Lambda warm invoke p50 < 1 ms (nodejs)", "lambda.invoke.nodejs.c1", p50, |v| v < 1_000.0, " µs"),
        ("Lambda warm invoke p50 < 1 ms (provided)", "lambda.invoke.provided.c1", p50, |v| v < 1_000.0, " µs"),
        ("Lambda warm invoke ≥ 3,000/s at 32 clients (python)", "lambda.invoke.python.c32", ops, |v| v >= 3_000.0, "/s"),
        ("Lambda warm invoke ≥ 3,000/s at 32 clients (nodejs)", "lambda.invoke.nodejs.c32", ops, |v| v >= 3_000.0, "/s"),
        ("Lambda warm invoke ≥ 3,000/s at 32 clients (provided)", "lambda.invoke.provided.c32", ops, |v| v >= 3_000.0, "/s"),
        ("Python cold start < 10 ms with snapshots (function importing boto3 and json at init)", "lambda.coldstart.python-boto3", p50, |v| v < 10_000.0, " µs"),
        ("Python cold start < 10 ms with snapshots (minimal function)", "lambda.coldstart.python", p50, |v| v < 10_000.0, " µs"),
        ("Node.js cold start < 15 ms with snapshots", "lambda.coldstart.nodejs", p50, |v| v < 15_000.0, " µs"),
        ("API Gateway ≥ 3,000 req/s at 32 clients (REST)", "apigateway.rest.c32", ops, |v| v >= 3_000.0, "/s"),
        ("API Gateway ≥ 3,000 req/s at 32 clients (HTTP)", "apigateway.http.c32", ops, |v| v >= 3_000.0, "/s"),
        ("API Gateway overhead over direct Invoke < 200 µs p50 (REST)", "apigateway.overhead.rest", p50, |v| v < 200.0, " µs"),
        ("API Gateway overhead over direct Invoke < 200 µs p50 (HTTP)", "apigateway.overhead.http", p50, |v| v < 200.0, " µs"),
        ("Idle RSS ≤ 15 MB", "idle_rss", ops, |v| v <= 15.0, " MB"),
        ("Startup ≤ 50 ms", "startup", p50, |v| v <= 50.0, " ms"),
    ];
    let mut md = String::from("## Targets\n\nEach target named in the service issues against Nimbus' figure in this run. A row with errors (failed requests or wrong answers) does not meet its target whatever its speed. Latencies are measured by the client, so they include the HTTP round trip on loopback.\n\n| target | workload | measured | verdict |\n|---|---|---:|---|\n");
    for (target, workload, value, ok, unit) in rules {
        let (measured, verdict) = match find(rows, workload) {
            Some(r) if r.measured() => {
                let v = value(r);
                let verdict = if workload.starts_with("lambda.coldstart") && !r.notes.contains("SnapStart On") {
                    // The target is for snapshot starts; a normal start does not answer it.
                    "not applicable: the server did not start this function from a snapshot (see the row's notes)".into()
                } else if r.errors > 0 {
                    format!("missed ({} errors)", r.errors)
                } else if ok(v) {
                    "met".into()
                } else {
                    match r.notes.find(CPU_NOTE) {
                        Some(at) => format!("missed; {}", &r.notes[at..]),
                        None => "missed".into(),
                    }
                };
                let measured = if unit == " µs" && v >= 10_000.0 { format!("{:.1} ms", v / 1000.0) } else { format!("{v:.0}{unit}") };
                (measured, verdict)
            }
            Some(r) => (String::new(), format!("not measured: {}", r.notes)),
            None => (String::new(), "not measured in this run".into()),
        };
        md.push_str(&format!("| {target} | {workload} | {measured} | {verdict} |\n"));
    }
    if let Some(r) = find(rows, "lambda.idle-functions.100").filter(|r| r.measured()) {
        md.push_str(&format!("\nScale to zero (no number set; an idle function should cost next to nothing): {}.\n", r.notes));
    }
    md.push_str("\nWhere a load target is missed, the verdict carries the row's CPU profile: the cores the server, the processes below it (function environments) and the bench's own client kept busy during the measurement, and the whole machine's busy cores (which include any other process). When the whole machine is near its core count, the figure is bound by the machine and the split says which part to make cheaper; when it is far below, the time went to waiting, not computing.\n");
    md
}

pub fn write(root: &Path, rows: &[Row], meta: &Meta) -> Result<(), String> {
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(rows).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("results.json"), &json).map_err(|e| e.to_string())?;
    if !meta.quick {
        // The committed data behind docs/benchmarks.md, which `--merge` builds on.
        std::fs::create_dir_all(root.join("docs")).map_err(|e| e.to_string())?;
        std::fs::write(root.join("docs").join("benchmarks.json"), &json).map_err(|e| e.to_string())?;
    }

    let mut by_workload: BTreeMap<usize, (String, Vec<&Row>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in rows {
        let i = match order.iter().position(|w| *w == r.workload) {
            Some(i) => i,
            None => {
                order.push(r.workload.clone());
                order.len() - 1
            }
        };
        by_workload.entry(i).or_insert_with(|| (r.workload.clone(), Vec::new())).1.push(r);
    }
    let ceiling = find(rows, "client-ceiling.health.c32")
        .filter(|r| r.measured())
        .map(|r| format!("{:.0} requests/s at p50 {:.0} µs", r.ops_per_s, r.p50_us))
        .unwrap_or_else(|| "not measured in this run".into());
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Written by `cargo run --release -p nimbus-bench{}` on {}.\n\n- Machine: {}. The load generator runs on the same machine and shares its cores with the servers.\n- Systems: `nimbus` (the release binary, fresh data dir, default settings) and `moto` (moto_server {}, from PyPI); cold-start workloads also have a `process` row: the same interpreter started as a plain subprocess (spawn to exit), what a start costs without snapshots, sandbox or Runtime API.\n- Client ceiling: the load generator against Nimbus' trivial `GET /_nimbus/health` at 32 clients reaches {ceiling}; figures near it measure the client, not the server.\n\n{}Every workload ran against every system in the same run, alternating the order by round so that drift hits both. The load generator is Rust (hyper, one keep-alive connection per client) and checks every answer (a wrong answer counts as an error). Names are `service.operation[.variant].cN` with N concurrent clients. Ratios are Nimbus/peer: above 1 means Nimbus does more operations per second; for latency, below 1 means Nimbus answers faster.\n\n",
        match (&meta.merged, meta.quick) {
            (Some(only), _) => format!(" -- --only {only} --merge"),
            (None, true) => " -- --quick".into(),
            (None, false) => String::new(),
        },
        today(),
        machine(),
        meta.moto_version,
        merged_note(rows, meta),
    ));
    md.push_str("| workload | system | ops/s | p50 µs | p99 µs | errors | Nimbus/peer ops | Nimbus/peer p50 | notes |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (_, (name, rs)) in by_workload {
        let k = kind(&name);
        let nimbus = rs.iter().find(|r| r.system == "nimbus" && r.measured()).copied();
        for r in &rs {
            let (mut ratio_ops, mut ratio_p50) = (String::new(), String::new());
            if let Some(n) = nimbus.filter(|_| r.system != "nimbus" && r.measured()) {
                if matches!(k, Kind::Load) && r.ops_per_s > 0.0 {
                    ratio_ops = format!("{:.2}", n.ops_per_s / r.ops_per_s);
                }
                if (matches!(k, Kind::Load | Kind::Startup) || name.starts_with("lambda.coldstart")) && r.p50_us > 0.0 {
                    ratio_p50 = format!("{:.2}", n.p50_us / r.p50_us);
                }
            }
            let (ops, p50, p99) = if !r.measured() {
                (String::new(), String::new(), String::new())
            } else {
                match k {
                    Kind::Startup => (String::new(), format!("{:.0} ms", r.p50_us), String::new()),
                    Kind::Memory => (format!("{:.1} MB", r.ops_per_s), String::new(), String::new()),
                    Kind::Latency => (String::new(), format!("{:.0}", r.p50_us), if r.p99_us > 0.0 { format!("{:.0}", r.p99_us) } else { String::new() }),
                    Kind::Load => (format!("{:.0}", r.ops_per_s), format!("{:.0}", r.p50_us), format!("{:.0}", r.p99_us)),
                }
            };
            md.push_str(&format!("| {name} | {} | {ops} | {p50} | {p99} | {} | {ratio_ops} | {ratio_p50} | {} |\n", r.system, r.errors, r.notes.replace('|', "/")));
        }
    }
    md.push('\n');
    md.push_str(&targets(rows));
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).map_err(|e| e.to_string())?;
    std::fs::write(docs.join("benchmarks.md"), md).map_err(|e| e.to_string())?;
    eprintln!("wrote target/bench/results.json and docs/benchmarks.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workload: &str, ops: f64, p50: f64, errors: u64) -> Row {
        Row { workload: workload.into(), system: "nimbus".into(), ops_per_s: ops, p50_us: p50, p99_us: p50, errors, notes: String::new(), measured_on: String::new() }
    }

    fn verdict<'a>(md: &'a str, workload: &str) -> &'a str {
        md.lines().find(|l| l.contains(&format!("| {workload} |"))).unwrap_or_default()
    }

    #[test]
    fn merge_replaces_measured_rows_in_place_and_keeps_the_rest() {
        let mut old = vec![row("startup", 0.0, 20.0, 0), row("lambda.coldstart.python", 0.0, 8000.0, 0), row("lambda.coldstart.nodejs", 0.0, 99_000.0, 0), row("s3.putobject.c1", 10.0, 1.0, 0)];
        old.push(Row { system: "moto".into(), ..row("lambda.coldstart.python", 0.0, 0.0, 0) });
        let mut fresh = row("lambda.coldstart.python", 0.0, 7000.0, 0);
        fresh.measured_on = "today".into();
        let new = vec![fresh, row("lambda.coldstart.python-boto3", 0.0, 9000.0, 0), Row { system: "process".into(), ..row("lambda.coldstart.python", 0.0, 30_000.0, 0) }];
        let merged = merge(old, new);
        let names: Vec<(String, String)> = merged.iter().map(|r| (r.workload.clone(), r.system.clone())).collect();
        let want = [
            ("startup", "nimbus"),
            ("lambda.coldstart.python", "nimbus"),
            ("lambda.coldstart.nodejs", "nimbus"),
            ("s3.putobject.c1", "nimbus"),
            ("lambda.coldstart.python", "moto"),
            ("lambda.coldstart.python", "process"),
            ("lambda.coldstart.python-boto3", "nimbus"),
        ];
        assert_eq!(names, want.iter().map(|(w, s)| (w.to_string(), s.to_string())).collect::<Vec<_>>());
        assert_eq!(merged[1].p50_us, 7000.0);
        assert_eq!(merged[1].measured_on, "today");
    }

    #[test]
    fn targets_say_met_missed_and_not_measured() {
        let rows = vec![
            row("dynamodb.putitem.c32", 25_000.0, 900.0, 0),
            row("dynamodb.getitem.c1", 9_000.0, 250.0, 0),
            row("lambda.invoke.python.c1", 3_000.0, 300.0, 4),
            Row::missing("lambda.coldstart.python", "nimbus", "no python"),
            row("startup", 0.0, 20.0, 0),
        ];
        let md = targets(&rows);
        assert!(verdict(&md, "dynamodb.putitem.c32").ends_with("| met |"), "{md}");
        assert!(verdict(&md, "dynamodb.getitem.c1").ends_with("| missed |"), "{md}");
        let mut slow = row("apigateway.rest.c32", 1_800.0, 9_000.0, 0);
        slow.notes = format!("32 clients; {CPU_NOTE} 0.90, processes below it 0.80, bench client 0.20, whole machine 1.95 of 2 cores");
        let md2 = targets(&[slow]);
        assert!(verdict(&md2, "apigateway.rest.c32").ends_with("| missed; cores busy: server 0.90, processes below it 0.80, bench client 0.20, whole machine 1.95 of 2 cores |"), "{md2}");
        // Fast but with errors: never met.
        assert!(verdict(&md, "lambda.invoke.python.c1").contains("missed (4 errors)"), "{md}");
        assert!(verdict(&md, "lambda.coldstart.python").contains("not measured: missing in nimbus: no python"), "{md}");
        assert!(verdict(&md, "apigateway.rest.c32").contains("not measured in this run"), "{md}");
        assert!(verdict(&md, "startup").contains("| 20 ms | met |"), "{md}");

        let mut cold = row("lambda.coldstart.python", 0.0, 52_000.0, 0);
        cold.notes = "SnapStart Off".into();
        let md = targets(&[cold.clone()]);
        assert!(verdict(&md, "lambda.coldstart.python").contains("| 52.0 ms | not applicable"), "{md}");
        cold.notes = "SnapStart On".into();
        cold.p50_us = 8_000.0;
        assert!(verdict(&targets(&[cold]), "lambda.coldstart.python").ends_with("| 8000 µs | met |"));
    }

    #[test]
    fn wrong_answers_are_errors_in_the_row() {
        let runs = vec![
            Measured { ops_per_s: 100.0, p50_us: 10.0, p99_us: 20.0, errors: 3, wrong: 2, first_error: Some("wrong answer: {}".into()) },
            Measured { ops_per_s: 300.0, p50_us: 30.0, p99_us: 40.0, errors: 0, wrong: 0, first_error: None },
        ];
        let r = Row::from_runs("x.c1", "nimbus", 1, &runs);
        assert_eq!(r.errors, 3);
        assert_eq!(r.ops_per_s, 200.0);
        assert!(r.notes.contains("2 wrong answers") && r.notes.contains("first error: wrong answer"), "{}", r.notes);
    }
}
