//! One cgroup per execution environment under a Nimbus parent.
//!
//! - cgroup v2 (used when the unified hierarchy has the `memory` controller available):
//!   `<mount>/nimbus/<env>` with `memory.max`, `memory.swap.max = 0`, `cpu.max`,
//!   `pids.max`; the freezer is `cgroup.freeze`; peak memory `memory.peak`; OOM kills
//!   are counted in `memory.events`; `cgroup.kill` ends the environment.
//! - cgroup v1 otherwise: `<mount of each controller>/nimbus/<env>` for `memory`
//!   (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`, `memory.max_usage_in_bytes`,
//!   `oom_kill` in `memory.oom_control`), `cpu` (`cpu.cfs_quota_us`/`cpu.cfs_period_us`,
//!   `cpu.shares`), `cpuacct` (usage), `pids` (`pids.max`) and `freezer`
//!   (`freezer.state`), each only when its hierarchy is mounted and writable.
//!
//! The parent is at the root of each hierarchy (not under the server's own cgroup, which
//! may be owned by whoever started the server).

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// AWS: 1,769 MB of memory is one vCPU.
pub const MB_PER_VCPU: u64 = 1769;
/// CFS period used for `cpu.max` / `cpu.cfs_period_us`.
pub const CPU_PERIOD_US: u64 = 100_000;
/// Process (and thread) limit per environment.
pub const PIDS_MAX: u64 = 1024;

/// The CPU quota (µs per [`CPU_PERIOD_US`]) for a function of `memory_mb`: proportional
/// to memory (1,769 MB = one vCPU), capped at the host's cores, at least 1% of a core.
pub fn cpu_quota_us(memory_mb: u64, host_cores: u64) -> u64 {
    let cores = host_cores.max(1);
    let quota = (memory_mb as u128 * CPU_PERIOD_US as u128 / MB_PER_VCPU as u128) as u64;
    quota.clamp(CPU_PERIOD_US / 100, cores * CPU_PERIOD_US)
}

/// `cpu.shares` (v1) / `cpu.weight` (v2) proportional to memory.
pub fn cpu_shares(memory_mb: u64) -> u64 {
    (memory_mb * 1024 / MB_PER_VCPU).clamp(2, 262_144)
}

pub fn cpu_weight(memory_mb: u64) -> u64 {
    (memory_mb * 100 / MB_PER_VCPU).clamp(1, 10_000)
}

pub fn host_cores() -> u64 {
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

/// What the host offers.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `<v2 mount>/nimbus` when v2 has the controllers delegated.
    pub v2: Option<V2>,
    /// v1 parents (`<mount>/nimbus`) per controller.
    pub v1_memory: Option<PathBuf>,
    pub v1_cpu: Option<PathBuf>,
    pub v1_cpuacct: Option<PathBuf>,
    pub v1_pids: Option<PathBuf>,
    pub v1_freezer: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct V2 {
    pub parent: PathBuf,
    pub memory: bool,
    pub cpu: bool,
    pub pids: bool,
}

fn mounts() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| (f[1].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

fn writable_parent(mount: &Path) -> Option<PathBuf> {
    let p = mount.join("nimbus");
    if std::fs::create_dir_all(&p).is_err() {
        return None;
    }
    // A probe child proves we may create (and remove) cgroups here.
    let probe = p.join(format!("probe-{}", std::process::id()));
    if std::fs::create_dir(&probe).is_err() && !probe.is_dir() {
        return None;
    }
    let _ = std::fs::remove_dir(&probe);
    Some(p)
}

impl Layout {
    pub fn detect() -> Layout {
        let mut l = Layout::default();
        let all = mounts();
        if let Some((m, _, _)) = all.iter().find(|(_, t, _)| t == "cgroup2") {
            let m = PathBuf::from(m);
            let avail = std::fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| avail.split_whitespace().any(|x| x == c);
            if has("memory") {
                let want: Vec<&str> = ["memory", "cpu", "pids"].into_iter().filter(|c| has(c)).collect();
                let line = want.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
                let _ = std::fs::write(m.join("cgroup.subtree_control"), &line);
                if let Some(parent) = writable_parent(&m) {
                    let _ = std::fs::write(parent.join("cgroup.subtree_control"), &line);
                    let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
                    let on = |c: &str| enabled.split_whitespace().any(|x| x == c);
                    if on("memory") {
                        l.v2 = Some(V2 { parent, memory: true, cpu: on("cpu"), pids: on("pids") });
                        return l;
                    }
                }
            }
        }
        for (m, t, opts) in &all {
            if t != "cgroup" {
                continue;
            }
            let opts: Vec<&str> = opts.split(',').collect();
            let slot = |name: &str| opts.contains(&name);
            let m = PathBuf::from(m);
            if slot("memory") && l.v1_memory.is_none() {
                l.v1_memory = writable_parent(&m);
            }
            if slot("cpu") && l.v1_cpu.is_none() {
                l.v1_cpu = writable_parent(&m);
            }
            if slot("cpuacct") && l.v1_cpuacct.is_none() {
                l.v1_cpuacct = if l.v1_cpu.as_deref().is_some_and(|p| p.starts_with(&m)) { l.v1_cpu.clone() } else { writable_parent(&m) };
            }
            if slot("pids") && l.v1_pids.is_none() {
                l.v1_pids = writable_parent(&m);
            }
            if slot("freezer") && l.v1_freezer.is_none() {
                l.v1_freezer = writable_parent(&m);
            }
        }
        l
    }

    /// Thaws and kills every process in the environment cgroups of server `owner` (at its
    /// exit: a frozen task would otherwise outlive the server, since it cannot even die).
    pub fn release_all(&self, owner: u32) {
        let prefix = format!("env-{owner}-");
        let thaw = [self.v2.as_ref().map(|v| (&v.parent, "cgroup.freeze", "0")), self.v1_freezer.as_ref().map(|p| (p, "freezer.state", "THAWED"))];
        for (parent, file, value) in thaw.into_iter().flatten() {
            let Ok(rd) = std::fs::read_dir(parent) else { continue };
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::write(e.path().join(file), value);
                    if let Ok(text) = std::fs::read_to_string(e.path().join("cgroup.procs")) {
                        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                            // SAFETY: kill(2) with plain integers; the pid is listed in one of
                            // this server's own environment cgroups.
                            unsafe {
                                libc::kill(pid, libc::SIGKILL);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Removes environment cgroups left by servers that are gone (named
    /// `env-<server pid>-<id>`; a populated cgroup is never removed by rmdir). Processes
    /// still in them (a server killed while its environments were frozen: a frozen task
    /// cannot even die) are thawed and killed first.
    pub fn sweep(&self) {
        let dead = |name: &str| {
            let Some(rest) = name.strip_prefix("env-") else { return false };
            let owner = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
            // SAFETY: kill with signal 0 only checks that the process exists.
            !owner.is_some_and(|pid| pid > 0 && unsafe { libc::kill(pid, 0) } == 0)
        };
        let thaw = [self.v2.as_ref().map(|v| (&v.parent, "cgroup.freeze", "0")), self.v1_freezer.as_ref().map(|p| (p, "freezer.state", "THAWED"))];
        for (parent, file, value) in thaw.into_iter().flatten() {
            let Ok(rd) = std::fs::read_dir(parent) else { continue };
            for e in rd.flatten() {
                if dead(&e.file_name().to_string_lossy()) {
                    let _ = std::fs::write(e.path().join(file), value);
                    if let Ok(text) = std::fs::read_to_string(e.path().join("cgroup.procs")) {
                        for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                            // SAFETY: kill(2) with plain integers; the pid is listed in a
                            // cgroup Nimbus created for a server that no longer exists.
                            unsafe {
                                libc::kill(pid, libc::SIGKILL);
                            }
                        }
                    }
                }
            }
        }
        let parents = [self.v2.as_ref().map(|v| &v.parent), self.v1_memory.as_ref(), self.v1_cpu.as_ref(), self.v1_cpuacct.as_ref(), self.v1_pids.as_ref(), self.v1_freezer.as_ref()];
        for parent in parents.into_iter().flatten() {
            let Ok(rd) = std::fs::read_dir(parent) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix("env-") else { continue };
                let owner = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
                let alive = owner.is_some_and(|pid| {
                    // SAFETY: kill with signal 0 only checks that the process exists.
                    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
                });
                if !alive {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }

    pub fn memory(&self) -> bool {
        self.v2.is_some() || self.v1_memory.is_some()
    }
    pub fn cpu(&self) -> bool {
        self.v2.as_ref().is_some_and(|v| v.cpu) || self.v1_cpu.is_some()
    }
    pub fn pids(&self) -> bool {
        self.v2.as_ref().is_some_and(|v| v.pids) || self.v1_pids.is_some()
    }
    pub fn freezer(&self) -> bool {
        self.v2.is_some() || self.v1_freezer.is_some()
    }
    pub fn describe(&self) -> String {
        if let Some(v) = &self.v2 {
            return format!("cgroup v2 at {}", v.parent.display());
        }
        "cgroup v1".to_string()
    }
}

/// Limits of one environment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_mb: u64,
    pub pids_max: u64,
}

/// One environment's cgroup(s).
#[derive(Debug)]
pub struct Cgroup {
    /// The proportional CPU quota, applied by [`Cgroup::limit_cpu`] once init is done.
    quota_us: u64,
    v2: Option<PathBuf>,
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    pids: Option<PathBuf>,
    freezer: Option<PathBuf>,
}

fn write(dir: &Path, file: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(file), value).map_err(|e| std::io::Error::new(e.kind(), format!("{}/{file}: {e}", dir.display())))
}

fn read_u64(path: PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn keyed(path: PathBuf, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
}

impl Cgroup {
    /// Creates the cgroup(s) of environment `name` with `limits`.
    pub fn create(layout: &Layout, name: &str, limits: Limits) -> std::io::Result<Cgroup> {
        let bytes = limits.memory_mb * 1024 * 1024;
        let quota = cpu_quota_us(limits.memory_mb, host_cores());
        // The init phase runs with every host core (AWS bursts CPU during init); the
        // proportional quota applies from the first invocation (`limit_cpu`).
        let burst = host_cores() * CPU_PERIOD_US;
        let mk = |p: &Option<PathBuf>| -> std::io::Result<Option<PathBuf>> {
            match p {
                Some(parent) => {
                    let d = parent.join(name);
                    std::fs::create_dir_all(&d)?;
                    Ok(Some(d))
                }
                None => Ok(None),
            }
        };
        if let Some(v) = &layout.v2 {
            let d = v.parent.join(name);
            std::fs::create_dir_all(&d)?;
            let cg = Cgroup { quota_us: quota, v2: Some(d.clone()), memory: None, cpu: None, cpuacct: None, pids: None, freezer: None };
            write(&d, "memory.max", &bytes.to_string())?;
            let _ = write(&d, "memory.swap.max", "0");
            if v.cpu {
                write(&d, "cpu.max", &format!("{burst} {CPU_PERIOD_US}"))?;
                let _ = write(&d, "cpu.weight", &cpu_weight(limits.memory_mb).to_string());
            }
            if v.pids {
                write(&d, "pids.max", &limits.pids_max.to_string())?;
            }
            return Ok(cg);
        }
        let mut cg = Cgroup { quota_us: quota, v2: None, memory: mk(&layout.v1_memory)?, cpu: mk(&layout.v1_cpu)?, cpuacct: None, pids: mk(&layout.v1_pids)?, freezer: mk(&layout.v1_freezer)? };
        cg.cpuacct = if layout.v1_cpuacct.is_some() && layout.v1_cpuacct == layout.v1_cpu { cg.cpu.clone() } else { mk(&layout.v1_cpuacct)? };
        if let Some(d) = &cg.memory {
            write(d, "memory.limit_in_bytes", &bytes.to_string())?;
            let _ = write(d, "memory.memsw.limit_in_bytes", &bytes.to_string());
            let _ = write(d, "memory.swappiness", "0");
        }
        if let Some(d) = &cg.cpu {
            write(d, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write(d, "cpu.cfs_quota_us", &burst.to_string())?;
            let _ = write(d, "cpu.shares", &cpu_shares(limits.memory_mb).to_string());
        }
        if let Some(d) = &cg.pids {
            write(d, "pids.max", &limits.pids_max.to_string())?;
        }
        Ok(cg)
    }

    fn dirs(&self) -> Vec<&PathBuf> {
        let mut v: Vec<&PathBuf> = [&self.v2, &self.memory, &self.cpu, &self.cpuacct, &self.pids, &self.freezer].into_iter().flatten().collect();
        v.dedup();
        v
    }

    /// The `cgroup.procs` files the child writes `0` into (itself) before exec.
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs()
            .into_iter()
            .filter_map(|d| CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok())
            .collect()
    }

    /// Moves process `pid` (and the threads of its process) into this cgroup. Pages it
    /// already shares copy-on-write stay charged where they were; new ones are charged here.
    pub fn add_pid(&self, pid: u32) -> std::io::Result<()> {
        for d in self.dirs() {
            write(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Where to read the environment's CPU usage (for tests and tools).
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        if let Some(d) = &self.v2 {
            return keyed(d.join("cpu.stat"), "usage_usec ").map(|u| u * 1000);
        }
        read_u64(self.cpuacct.as_ref()?.join("cpuacct.usage"))
    }

    pub fn max_memory_bytes(&self) -> Option<u64> {
        if let Some(d) = &self.v2 {
            return read_u64(d.join("memory.peak")).or_else(|| read_u64(d.join("memory.current")));
        }
        read_u64(self.memory.as_ref()?.join("memory.max_usage_in_bytes"))
    }

    /// Whether the kernel OOM-killed a process of this environment.
    pub fn oom_killed(&self) -> bool {
        if let Some(d) = &self.v2 {
            return keyed(d.join("memory.events"), "oom_kill ").unwrap_or(0) > 0;
        }
        match &self.memory {
            Some(d) => keyed(d.join("memory.oom_control"), "oom_kill ").unwrap_or(0) > 0,
            None => false,
        }
    }

    /// Applies the CPU quota proportional to memory (called when init is done).
    pub fn limit_cpu(&self) -> std::io::Result<()> {
        if let Some(d) = &self.v2 {
            if d.join("cpu.max").exists() {
                return write(d, "cpu.max", &format!("{} {CPU_PERIOD_US}", self.quota_us));
            }
            return Ok(());
        }
        match &self.cpu {
            Some(d) => write(d, "cpu.cfs_quota_us", &self.quota_us.to_string()),
            None => Ok(()),
        }
    }

    pub fn can_freeze(&self) -> bool {
        self.v2.is_some() || self.freezer.is_some()
    }

    /// Stops every process of the environment (they keep their memory, use no CPU).
    pub fn freeze(&self) -> std::io::Result<()> {
        if let Some(d) = &self.v2 {
            return write(d, "cgroup.freeze", "1");
        }
        match &self.freezer {
            Some(d) => write(d, "freezer.state", "FROZEN"),
            None => Ok(()),
        }
    }

    pub fn thaw(&self) -> std::io::Result<()> {
        if let Some(d) = &self.v2 {
            return write(d, "cgroup.freeze", "0");
        }
        match &self.freezer {
            Some(d) => write(d, "freezer.state", "THAWED"),
            None => Ok(()),
        }
    }

    /// SIGKILLs every process in the environment (thawing it first, so v1 frozen tasks die).
    pub fn kill_all(&self) {
        let _ = self.thaw();
        if let Some(d) = &self.v2 {
            if write(d, "cgroup.kill", "1").is_ok() {
                return;
            }
        }
        for d in self.dirs() {
            if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) takes plain integers; pid comes from the cgroup's own
                    // process list, so only this environment's processes are signalled.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
    }

    /// Removes the cgroup(s); retries briefly while the last processes exit.
    pub fn remove(&self) {
        for d in self.dirs() {
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }

    /// The primary directory (for logs and tests).
    pub fn path(&self) -> Option<&Path> {
        self.v2.as_deref().or(self.memory.as_deref()).or(self.cpu.as_deref()).or(self.pids.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_proportional_to_memory_and_capped() {
        assert_eq!(cpu_quota_us(1769, 2), 100_000);
        assert_eq!(cpu_quota_us(128, 2), 7_235);
        assert_eq!(cpu_quota_us(3538, 2), 200_000);
        assert_eq!(cpu_quota_us(10240, 2), 200_000, "capped at the host's cores");
        assert_eq!(cpu_quota_us(10240, 8), 578_858);
        assert_eq!(cpu_quota_us(1, 1), 1_000, "at least 1% of a core");
        assert_eq!(cpu_shares(1769), 1024);
        assert_eq!(cpu_shares(128), 74);
        assert_eq!(cpu_weight(1769), 100);
    }
}
