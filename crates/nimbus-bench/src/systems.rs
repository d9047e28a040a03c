//! The systems under test: Nimbus (the release binary) and the peers that run here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;

use crate::load;

/// A running system.
pub struct System {
    pub name: &'static str,
    pub addr: String,
    pub startup_ms: f64,
    child: Child,
    _dir: tempfile::TempDir,
}

impl System {
    /// Resident memory of the server process, in MB.
    pub fn rss_mb(&self) -> f64 {
        rss_mb(self.child.id())
    }

    /// The server's descendant processes (execution environments, templates, ...).
    pub fn descendants(&self) -> Vec<u32> {
        descendants(self.child.id())
    }
}

/// CPU time (user + system) of the server and of the processes below it, per pid, in
/// seconds: diffed around a measurement, it says where the machine's cores went.
#[derive(Default, Clone)]
pub struct CpuSample {
    pub server: f64,
    pub below: std::collections::HashMap<u32, f64>,
    pub client: f64,
    /// Busy time of the whole machine (every process, ours or not), summed over cores.
    pub machine: f64,
}

impl System {
    pub fn cpu(&self) -> CpuSample {
        CpuSample {
            server: cpu_seconds(self.child.id()),
            below: self.descendants().into_iter().map(|p| (p, cpu_seconds(p))).collect(),
            client: cpu_seconds(std::process::id()),
            machine: machine_busy_seconds(),
        }
    }
}

impl CpuSample {
    /// Cores busy between `self` and `later` over `wall` seconds: (server, below it,
    /// client, whole machine). Processes that ended in between are not counted (their
    /// time is lost with them); the machine figure also holds every other process.
    pub fn cores(&self, later: &CpuSample, wall: f64) -> [f64; 4] {
        let below: f64 = later.below.iter().map(|(p, t)| t - self.below.get(p).copied().unwrap_or(0.0)).sum();
        let wall = wall.max(1e-9);
        [(later.server - self.server) / wall, below / wall, (later.client - self.client) / wall, (later.machine - self.machine) / wall]
    }
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Non-idle time of all cores since boot, in seconds (the `cpu` line of `/proc/stat`).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else { return 0.0 };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = v.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum();
    busy / clock_ticks()
}

/// utime + stime of `pid` in seconds (0 when it is gone).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / clock_ticks()
}

/// Resident memory of process `pid`, in MB (0 when it is gone).
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Proportional memory of process `pid` in MB (pages shared with other processes, such
/// as those of environments forked from one template, counted once in total); 0 when gone.
pub fn pss_mb(pid: u32) -> f64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Every process below `root` in the parent tree, from `/proc/*/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(45_000)
}

async fn wait_healthy(addr: &str, path: &str, started: Instant) -> Result<f64, String> {
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok((status, _)) = load::once(addr, Method::GET, path, &[], Default::default()).await {
            if status < 500 {
                return Ok(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(format!("{addr} did not become healthy"))
}

/// Starts the release `nimbus` with a fresh data dir and `env` set.
pub async fn nimbus(bin: &Path, env: &[(&str, &str)]) -> Result<System, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .env("NIMBUS_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let startup_ms = wait_healthy(&addr, "/_nimbus/health", started).await?;
    Ok(System { name: "nimbus", addr, startup_ms, child, _dir: dir })
}

/// Starts moto's server from `venv` (installed by the bench if missing).
pub async fn moto(venv: &Path) -> Result<System, String> {
    let bin = venv.join("bin").join("moto_server");
    if !bin.exists() {
        return Err(format!("moto is not installed in {}", venv.display()));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let startup_ms = wait_healthy(&addr, "/moto-api/", started).await?;
    Ok(System { name: "moto", addr, startup_ms, child, _dir: dir })
}

/// The moto release the peer runs (pinned so reports compare over time).
pub const MOTO_VERSION: &str = "5.2.5";

/// Makes sure a venv with the pinned moto exists; answers its path.
pub fn ensure_moto(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join("target").join("bench").join("venv");
    let installed = Command::new(venv.join("bin").join("python"))
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if installed == MOTO_VERSION && venv.join("bin").join("moto_server").exists() {
        return Ok(venv);
    }
    if !venv.join("bin").join("pip").exists() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let ok = Command::new(&python).args(["-m", "venv"]).arg(&venv).status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            return Err("could not create the bench venv".into());
        }
    }
    let ok = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", &format!("moto[server]=={MOTO_VERSION}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok { Ok(venv) } else { Err("could not install moto".into()) }
}
