//! `nimbus-bench`: measures Nimbus side by side with its peers in one run and writes
//! `target/bench/results.json` and `docs/benchmarks.md`.
//!
//! Every workload runs against every system in the same run, alternating the order
//! round by round so that drift of the machine hits both. The load generator is Rust
//! (hyper, one keep-alive connection per client) so the client is not the bottleneck;
//! its own ceiling is reported as the `client-ceiling.health.c32` row. Every answer is
//! checked, so a wrong answer counts as an error. After the load workloads come the
//! cold starts, the API Gateway overhead rows (derived from this run's rows) and the
//! memory of idle functions (on a Nimbus of its own with a 2 s idle timeout); the report
//! ends with the targets named in the issues, each met or missed.

mod load;
mod report;
mod special;
mod systems;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use report::Row;
use systems::System;

#[derive(Parser)]
#[command(about = "Benchmarks Nimbus side by side with its peers")]
struct Args {
    /// Short runs (1 s per measurement, one round, small tables) for a quick look.
    #[arg(long)]
    quick: bool,
    /// Run only workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Skip the peers (measure Nimbus alone).
    #[arg(long)]
    no_peers: bool,
    /// With --only: replace only the measured workloads' rows in the committed report
    /// (docs/benchmarks.json and .md) and keep the other rows of the previous full run.
    #[arg(long, requires = "only")]
    merge: bool,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// Where cargo puts the release binary: `CARGO_TARGET_DIR` when set (relative to the
/// workspace), else the workspace's `target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("nimbus-bench: {e}");
        std::process::exit(1);
    }
}

/// One system under one workload: its index, its spec, its runs, and the cores busy
/// during them (server, processes below it, client, whole machine; summed over runs).
type Measuring = (usize, Arc<load::Spec>, Vec<load::Measured>, [f64; 4]);

fn print(row: &Row) {
    eprintln!(
        "{:36} {:7} {:>9.0} ops/s  p50 {:>8.0} us  p99 {:>8.0} us  errors {}  {}",
        row.workload,
        row.system,
        row.ops_per_s,
        row.p50_us,
        row.p99_us,
        row.errors,
        if row.measured() && row.errors == 0 { "" } else { &row.notes }
    );
}

async fn run(args: Args) -> Result<(), String> {
    let root = root();
    eprintln!("building the release nimbus ...");
    let ok = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "nimbus"])
        .current_dir(&root)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err("cargo build --release -p nimbus failed".into());
    }
    let bin = target_dir(&root).join("release").join("nimbus");
    let started = std::time::Instant::now();
    let wanted = |name: &str| args.only.as_deref().is_none_or(|o| name.contains(o));

    let mut systems: Vec<System> = vec![systems::nimbus(&bin, &[]).await?];
    let mut rows: Vec<Row> = Vec::new();
    if !args.no_peers {
        match systems::ensure_moto(&root) {
            Ok(venv) => match systems::moto(&venv).await {
                Ok(s) => systems.push(s),
                Err(e) => rows.push(Row::missing("startup", "moto", &e)),
            },
            Err(e) => rows.push(Row::missing("startup", "moto", &e)),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for s in &systems {
        rows.push(Row { workload: "startup".into(), system: s.name.into(), ops_per_s: 0.0, p50_us: s.startup_ms, p99_us: s.startup_ms, errors: 0, notes: "ms to first healthy answer (in p50_us)".into(), measured_on: String::new() });
        rows.push(match s.rss_mb() {
            mb if mb > 0.0 => Row { workload: "idle_rss".into(), system: s.name.into(), ops_per_s: mb, p50_us: 0.0, p99_us: 0.0, errors: 0, notes: "MB resident after start (in ops_per_s)".into(), measured_on: String::new() },
            _ => Row::noted("idle_rss", s.name, "not measured: the resident size of the server process could not be read"),
        });
    }

    let (secs, rounds) = if args.quick { (1, 1) } else { (5, 2) };
    // Per system: which setups ran (Ok) or failed (Err), and what they left behind.
    let mut done: Vec<Vec<(workloads::Setup, Result<(), String>)>> = vec![Vec::new(); systems.len()];
    let mut states: Vec<workloads::State> = vec![Default::default(); systems.len()];
    for w in workloads::all() {
        if !wanted(&w.name) {
            continue;
        }
        if let (true, Some(why)) = (args.quick, w.quick_skip) {
            for s in systems.iter().filter(|s| !w.nimbus_only || s.name == "nimbus") {
                rows.push(Row::noted(&w.name, s.name, why));
                print(rows.last().expect("just pushed"));
            }
            continue;
        }
        let mut measured: Vec<Measuring> = Vec::new();
        for (i, s) in systems.iter().enumerate() {
            if w.nimbus_only && s.name != "nimbus" {
                continue;
            }
            let mut failed = None;
            for need in w.setup.map(workloads::Setup::needs).unwrap_or_default() {
                let result = match done[i].iter().find(|(st, _)| *st == need) {
                    Some((_, r)) => r.clone(),
                    None => {
                        eprintln!("setting up {need:?} on {} ...", s.name);
                        let r = workloads::setup(&s.addr, need, &mut states[i]).await;
                        done[i].push((need, r.clone()));
                        r
                    }
                };
                if let Err(e) = result {
                    failed = Some(e);
                    break;
                }
            }
            if let Some(e) = failed {
                rows.push(Row::missing(&w.name, s.name, &format!("setup failed: {e}")));
                print(rows.last().expect("just pushed"));
                continue;
            }
            match (w.build)(&states[i]) {
                Some(spec) => measured.push((i, spec, Vec::new(), [0.0; 4])),
                None => rows.push(Row::missing(&w.name, s.name, "setup left nothing to call")),
            }
        }
        for round in 0..rounds {
            let order: Vec<usize> = if round % 2 == 0 { (0..measured.len()).collect() } else { (0..measured.len()).rev().collect() };
            for k in order {
                let system = &systems[measured[k].0];
                let (before, t) = (system.cpu(), std::time::Instant::now());
                let m = load::run(&system.addr, measured[k].1.clone(), w.clients, Duration::from_secs(secs)).await;
                let used = before.cores(&system.cpu(), t.elapsed().as_secs_f64());
                for (sum, u) in measured[k].3.iter_mut().zip(used) {
                    *sum += u;
                }
                measured[k].2.push(m);
            }
        }
        for (i, _, runs, cpu) in measured {
            let mut row = Row::from_runs(&w.name, systems[i].name, w.clients, &runs);
            let n = runs.len().max(1) as f64;
            // A cheap profile: where the cores went (says why a figure is what it is).
            row.notes.push_str(&format!(
                "; {} {:.2}, processes below it {:.2}, bench client {:.2}, whole machine {:.2} of {} cores",
                report::CPU_NOTE,
                cpu[0] / n,
                cpu[1] / n,
                cpu[2] / n,
                cpu[3] / n,
                std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0)
            ));
            print(&row);
            rows.push(row);
        }
    }

    let samples = if args.quick { 3 } else { 10 };
    for (name, kind, extra) in special::cold_variants() {
        if !wanted(name) {
            continue;
        }
        for s in &systems {
            let row = special::coldstart(s, name, kind, &extra, samples).await;
            print(&row);
            rows.push(row);
        }
        if let Some(row) = special::plain_process(name, samples) {
            print(&row);
            rows.push(row);
        }
    }
    let names: Vec<&str> = systems.iter().map(|s| s.name).collect();
    if wanted("apigateway.overhead") && !args.merge {
        for row in special::overhead(&rows, &names) {
            print(&row);
            rows.push(row);
        }
    }
    if wanted("lambda.idle-functions") {
        let row = special::idle_functions(&bin).await;
        print(&row);
        rows.push(row);
        for s in systems.iter().filter(|s| s.name != "nimbus") {
            let row = special::idle_functions_peer(s).await;
            print(&row);
            rows.push(row);
        }
    }
    let today = report::today();
    for r in &mut rows {
        r.measured_on = today.clone();
    }
    if args.merge {
        if args.quick {
            return Err("--merge keeps a committed full run: it cannot be combined with --quick".into());
        }
        rows = report::merge(report::previous(&root)?, rows);
        if wanted("apigateway.overhead") {
            // From the merged rows: the direct-invoke row may come from an earlier run
            // (its day is on the row).
            let derived: Vec<Row> = special::overhead(&rows, &names)
                .into_iter()
                .map(|mut r| {
                    r.measured_on = today.clone();
                    r
                })
                .collect();
            for r in &derived {
                print(r);
            }
            rows = report::merge(rows, derived);
        }
    }
    let merged = args.merge.then(|| args.only.clone().unwrap_or_default());
    report::write(&root, &rows, &report::Meta { quick: args.quick, moto_version: systems::MOTO_VERSION, merged })?;
    eprintln!("measured in {:.0} s (after the build)", started.elapsed().as_secs_f64());
    Ok(())
}
