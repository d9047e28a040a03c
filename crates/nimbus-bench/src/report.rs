//! `target/bench/results.json` and `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::load::Measured;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub system: String,
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    pub notes: String,
}

impl Row {
    pub fn missing(workload: &str, system: &str, why: &str) -> Row {
        Row { workload: workload.into(), system: system.into(), ops_per_s: 0.0, p50_us: 0.0, p99_us: 0.0, errors: 0, notes: format!("missing: {why}") }
    }

    /// Throughput summed over rounds' time; latencies as the median of the rounds'.
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
            notes: format!("{clients} clients, {} round(s)", runs.len()),
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

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn write(root: &Path, rows: &[Row], quick: bool) -> Result<(), String> {
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(rows).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("results.json"), json).map_err(|e| e.to_string())?;

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
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Written by `cargo run --release -p nimbus-bench{}` on {} ({}). Every workload ran against every system in the same run, alternating order by round. The load generator is Rust (hyper, one keep-alive connection per client); its ceiling is the `client_ceiling` row. Ratios are Nimbus/peer: above 1 means Nimbus does more operations per second; for latency, below 1 means Nimbus answers faster.\n\n",
        if quick { " -- --quick" } else { "" },
        today(),
        machine()
    ));
    md.push_str("| workload | system | ops/s | p50 µs | p99 µs | errors | Nimbus/peer ops | Nimbus/peer p50 | notes |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (_, (name, rs)) in by_workload {
        let nimbus = rs.iter().find(|r| r.system == "nimbus").copied();
        for r in &rs {
            let (ratio_ops, ratio_p50) = match (nimbus, r.system.as_str()) {
                (Some(n), s) if s != "nimbus" && r.ops_per_s > 0.0 && r.p50_us > 0.0 && n.ops_per_s > 0.0 => {
                    if name == "idle_rss" || name == "startup" {
                        (String::new(), String::new())
                    } else {
                        (format!("{:.2}", n.ops_per_s / r.ops_per_s), format!("{:.2}", n.p50_us / r.p50_us))
                    }
                }
                _ => (String::new(), String::new()),
            };
            let (ops, p50, p99) = match name.as_str() {
                "startup" => ("".to_string(), format!("{:.0} ms", r.p50_us), String::new()),
                "idle_rss" => (format!("{:.1} MB", r.ops_per_s), String::new(), String::new()),
                _ => (format!("{:.0}", r.ops_per_s), format!("{:.0}", r.p50_us), format!("{:.0}", r.p99_us)),
            };
            md.push_str(&format!("| {name} | {} | {ops} | {p50} | {p99} | {} | {ratio_ops} | {ratio_p50} | {} |\n", r.system, r.errors, r.notes));
        }
    }
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).map_err(|e| e.to_string())?;
    std::fs::write(docs.join("benchmarks.md"), md).map_err(|e| e.to_string())?;
    eprintln!("wrote target/bench/results.json and docs/benchmarks.md");
    Ok(())
}
