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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
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

/// Starts the release `nimbus` with a fresh data dir.
pub async fn nimbus(bin: &Path) -> Result<System, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .env("NIMBUS_LOG", "warn")
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

/// Makes sure a venv with the pinned moto exists; answers its path.
pub fn ensure_moto(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join("target").join("bench").join("venv");
    if venv.join("bin").join("moto_server").exists() {
        return Ok(venv);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python).args(["-m", "venv"]).arg(&venv).status().map(|s| s.success()).unwrap_or(false);
    if !ok {
        return Err("could not create the bench venv".into());
    }
    let ok = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "moto[server]==5.1.4"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok { Ok(venv) } else { Err("could not install moto".into()) }
}
