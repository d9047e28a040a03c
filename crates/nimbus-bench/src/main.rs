//! `nimbus-bench`: measures Nimbus side by side with its peers in one run and writes
//! `target/bench/results.json` and `docs/benchmarks.md`.
//!
//! Every workload runs against every system in the same run, alternating the order
//! round by round so that drift of the machine hits both. The load generator is Rust
//! (hyper, one keep-alive connection per client) so the client is not the bottleneck;
//! its own ceiling is reported as the `client_ceiling` row.

mod load;
mod report;
mod systems;
mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use report::Row;
use systems::System;

#[derive(Parser)]
#[command(about = "Benchmarks Nimbus side by side with its peers")]
struct Args {
    /// Short runs (2 s per measurement, one round) for a quick look.
    #[arg(long)]
    quick: bool,
    /// Run only workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Skip the peers (measure Nimbus alone).
    #[arg(long)]
    no_peers: bool,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("nimbus-bench: {e}");
        std::process::exit(1);
    }
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
    let bin = root.join("target").join("release").join("nimbus");

    let mut systems: Vec<System> = vec![systems::nimbus(&bin).await?];
    let mut rows = Vec::new();
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
        rows.push(Row { workload: "startup".into(), system: s.name.into(), ops_per_s: 0.0, p50_us: s.startup_ms, p99_us: s.startup_ms, errors: 0, notes: "ms to first healthy answer (in p50_us)".into() });
        rows.push(Row { workload: "idle_rss".into(), system: s.name.into(), ops_per_s: s.rss_mb(), p50_us: 0.0, p99_us: 0.0, errors: 0, notes: "MB resident after start (in ops_per_s)".into() });
    }

    let (secs, rounds) = if args.quick { (2, 1) } else { (5, 2) };
    // Per system: which setups ran (Ok) or failed (Err), and what they left behind.
    let mut done: Vec<Vec<(workloads::Setup, Result<(), String>)>> = vec![Vec::new(); systems.len()];
    let mut states: Vec<workloads::State> = vec![Default::default(); systems.len()];
    for w in workloads::all() {
        if args.only.as_deref().is_some_and(|o| !w.name.contains(o)) {
            continue;
        }
        let mut measured: Vec<(usize, Arc<load::Spec>, Vec<load::Measured>)> = Vec::new();
        for (i, s) in systems.iter().enumerate() {
            if w.nimbus_only && s.name != "nimbus" {
                continue;
            }
            if let Some(setup) = w.setup {
                let needs: &[workloads::Setup] = match setup {
                    workloads::Setup::Apis => &[workloads::Setup::Functions, workloads::Setup::Apis],
                    _ => std::slice::from_ref(&setup),
                };
                let mut failed = None;
                for need in needs {
                    let result = match done[i].iter().find(|(st, _)| st == need) {
                        Some((_, r)) => r.clone(),
                        None => {
                            let r = workloads::setup(&s.addr, *need, &mut states[i]).await;
                            done[i].push((*need, r.clone()));
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
                    continue;
                }
            }
            match (w.build)(&states[i]) {
                Some(spec) => measured.push((i, spec, Vec::new())),
                None => rows.push(Row::missing(&w.name, s.name, "setup left nothing to call")),
            }
        }
        for round in 0..rounds {
            let order: Vec<usize> = if round % 2 == 0 { (0..measured.len()).collect() } else { (0..measured.len()).rev().collect() };
            for k in order {
                let addr = systems[measured[k].0].addr.clone();
                let m = load::run(&addr, measured[k].1.clone(), w.clients, Duration::from_secs(secs)).await;
                measured[k].2.push(m);
            }
        }
        for (i, _, runs) in measured {
            let row = Row::from_runs(&w.name, systems[i].name, w.clients, &runs);
            eprintln!("{:34} {:8} {:>10.0} ops/s  p50 {:>8.0} us  p99 {:>8.0} us  errors {}", row.workload, row.system, row.ops_per_s, row.p50_us, row.p99_us, row.errors);
            rows.push(row);
        }
    }
    report::write(&root, &rows, args.quick)
}
