//! Isolation and resource limits for Lambda execution environments, made directly from
//! Linux primitives (no Docker, no helper binary).
//!
//! [`Host::detect`] finds out once what this host allows (root? namespaces? seccomp?
//! which cgroup controllers?). [`Sandbox::command`] then builds a
//! `std::process::Command` whose `pre_exec` hook (see [`child`](crate::child) for the
//! process tree) does, between fork and exec, with async-signal-safe syscalls only:
//!
//! 1. joins the environment's cgroup(s) (memory = MemorySize, swap 0, CPU proportional to
//!    memory, pids 1024, freezer) by writing `0` to their `cgroup.procs`;
//! 2. `unshare(CLONE_NEWPID)` and forks PID 1 of the new namespace, a tiny init that
//!    forks the function and reaps orphans (the supervisor left in the host namespace
//!    mirrors the exit status, so `Child::wait` sees `signal: killed` on an OOM kill);
//! 3. in PID 1: new mount, IPC and UTS namespaces and a private root on tmpfs
//!    ([`mounts::plan`]): `/var/task` the code read-only, `/var/runtime`, `/opt` the layers,
//!    system and interpreter directories read-only, `/tmp` a tmpfs of EphemeralStorage
//!    size, a fresh `/proc`, a few devices; then `pivot_root` and a read-only `/`;
//! 4. in the function process: `RLIMIT_NOFILE`, drop to an unprivileged uid/gid with no
//!    supplementary groups and an empty capability bounding set, `PR_SET_NO_NEW_PRIVS`,
//!    and a seccomp filter ([`seccomp::filter`]) answering `EPERM` to mount, ptrace,
//!    module, keyring, reboot, swap, namespace (`unshare`, `setns`, `clone` with a
//!    namespace flag), bpf and perf calls.
//!
//! An environment with a private network ([`Sandbox::netns`], a function with a
//! `VpcConfig`) first joins that namespace, made by the server beforehand ([`net`]).
//!
//! A `pre_exec` hook is enough: everything it needs (C strings, the BPF program, the
//! mount list) is computed before fork, and what the kernel requires to happen in a
//! process of its own (being PID 1 of the namespace) is done with plain `fork` inside the
//! hook; the processes that only wait close every descriptor from 3 up so std's
//! exec-status pipe reports the real exec of the function.
//!
//! Whatever the host lacks is listed by [`Host::missing`]; with [`Mode::BestEffort`] the
//! function runs with what works, with [`Mode::Strict`] the caller refuses to run it.
//!
//! A snapshot template ([`Sandbox::template`]) is the same sandbox with
//! [`seccomp::template_filter`] and inherited descriptors ([`Sandbox::keep_fds`]); the
//! environments forked from it make their own namespaces (see `nimbus-lambda`'s template
//! module). At the server's exit its environment cgroups are thawed and killed (a frozen
//! task cannot even die); [`Layout::sweep`] does the same for servers that were killed.

pub mod cgroup;
mod child;
pub mod mounts;
pub mod net;
pub mod seccomp;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

pub use cgroup::{Cgroup, Layout, Limits};

/// The sandbox user: AWS runs functions as `sbx_user1051` (uid 993).
pub const SANDBOX_UID: u32 = 993;
pub const SANDBOX_GID: u32 = 990;
pub const NOFILE: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Strict,
    BestEffort,
    Off,
}

impl Mode {
    /// `strict`, `best-effort` (default), `off`.
    pub fn parse(s: Option<&str>) -> Result<Mode, String> {
        match s.map(str::trim).unwrap_or("") {
            "" | "best-effort" | "besteffort" | "best_effort" => Ok(Mode::BestEffort),
            "strict" => Ok(Mode::Strict),
            "off" | "none" => Ok(Mode::Off),
            other => Err(format!("NIMBUS_LAMBDA_ISOLATION must be strict, best-effort or off, not {other:?}")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::BestEffort => "best-effort",
            Mode::Off => "off",
        }
    }
}

/// What the host allows.
#[derive(Debug, Clone)]
pub struct Host {
    pub mode: Mode,
    pub root: bool,
    pub namespaces: bool,
    pub seccomp: bool,
    pub cgroups: Layout,
    /// Whether the server can make private network namespaces ([`net`]: functions with a
    /// `VpcConfig`).
    pub network: bool,
    /// Where each environment's new root tmpfs is mounted (inside its own mount namespace).
    pub root_mount: PathBuf,
}

impl Host {
    /// Probes the host (a throwaway child tries the namespaces, a tmpfs mount and seccomp).
    pub fn detect(mode: Mode) -> Host {
        let root_mount = ["/run", "/tmp"]
            .iter()
            .map(|d| Path::new(d).join("nimbus-sandbox-root"))
            .find(|p| std::fs::create_dir_all(p).is_ok())
            .unwrap_or_else(|| PathBuf::from("/tmp/nimbus-sandbox-root"));
        if mode == Mode::Off {
            return Host { mode, root: false, namespaces: false, seccomp: false, cgroups: Layout::default(), network: false, root_mount };
        }
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let (namespaces, seccomp) = probe(&root_mount);
        let cgroups = if root { Layout::detect() } else { Layout::default() };
        cgroups.sweep();
        release_at_exit(&cgroups);
        let network = root && net::probe();
        Host { mode, root, namespaces, seccomp, cgroups, network, root_mount }
    }

    /// Each limit this host cannot enforce, in words.
    pub fn missing(&self) -> Vec<String> {
        if self.mode == Mode::Off {
            return Vec::new();
        }
        let mut m = Vec::new();
        if !self.root {
            m.push("unprivileged sandbox uid and capability drop (server is not root)".to_string());
        }
        if !self.namespaces {
            m.push("mount/PID/IPC/UTS namespaces and the private filesystem (/var/task, private /tmp size, hidden host files)".to_string());
        }
        if !self.seccomp {
            m.push("seccomp syscall filter".to_string());
        }
        if !self.cgroups.memory() {
            m.push("memory limit (no writable memory cgroup)".to_string());
        }
        if !self.cgroups.cpu() {
            m.push("CPU share (no writable cpu cgroup)".to_string());
        }
        if !self.cgroups.pids() {
            m.push("process limit via pids cgroup (RLIMIT_NPROC used instead)".to_string());
        }
        if !self.cgroups.freezer() {
            m.push("freezing idle environments (no cgroup freezer)".to_string());
        }
        if !self.network {
            m.push("private network of functions with VpcConfig (no network namespaces: they reach the host network)".to_string());
        }
        m
    }

    /// One line describing what is enforced.
    pub fn describe(&self) -> String {
        if self.mode == Mode::Off {
            return "off (plain subprocesses)".into();
        }
        let mut on = Vec::new();
        if self.namespaces {
            on.push("namespaces+private fs");
        }
        if self.root && self.namespaces {
            on.push("uid 993/no caps");
        }
        if self.seccomp {
            on.push("seccomp");
        }
        if self.cgroups.memory() {
            on.push("memory");
        }
        if self.cgroups.cpu() {
            on.push("cpu");
        }
        if self.cgroups.pids() {
            on.push("pids");
        }
        if self.cgroups.freezer() {
            on.push("freezer");
        }
        if self.network {
            on.push("netns for VpcConfig");
        }
        format!("{} ({}; {})", self.mode.as_str(), on.join(", "), self.cgroups.describe())
    }
}

static EXIT_LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();

extern "C" fn release_on_exit() {
    if let Some(l) = EXIT_LAYOUT.get() {
        l.release_all(std::process::id());
    }
}

/// At the server's exit, thaws and kills its environments (frozen ones would survive it).
fn release_at_exit(layout: &Layout) {
    if EXIT_LAYOUT.set(layout.clone()).is_ok() {
        // SAFETY: atexit registers a plain `extern "C" fn()` that only reads a OnceLock and
        // writes cgroup files; it runs once, at normal process exit.
        unsafe {
            libc::atexit(release_on_exit);
        }
    }
}

/// A throwaway child tries what the sandbox needs; returns (namespaces+mounts, seccomp).
fn probe(root_mount: &Path) -> (bool, bool) {
    let Ok(target) = CString::new(root_mount.as_os_str().as_encoded_bytes()) else { return (false, false) };
    let filter = seccomp::filter();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: the hook only makes async-signal-safe syscalls with data built before fork,
    // and always ends with _exit, so the child never returns into std or execs.
    unsafe {
        cmd.pre_exec(move || {
            let null = std::ptr::null::<libc::c_char>();
            let mut code = 0;
            let namespaces = libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) == 0
                && libc::mount(null, c"/".as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) == 0
                && libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, c"size=64k".as_ptr().cast()) == 0;
            if !namespaces {
                code |= 1;
            }
            let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut libc::sock_filter };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) != 0
                || libc::syscall(libc::SYS_mount, null, c"/".as_ptr(), null, libc::MS_REMOUNT, null) == 0
            {
                code |= 2;
            }
            libc::_exit(code);
        });
    }
    match cmd.status() {
        Ok(s) => match s.code() {
            Some(c) => (c & 1 == 0, c & 2 == 0),
            None => (false, false),
        },
        Err(_) => (false, false),
    }
}

/// One execution environment's sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The function code (bound read-only at `/var/task`).
    pub code_dir: PathBuf,
    /// Nimbus' runtime directory (bound read-only at `/var/runtime`).
    pub runtime_dir: Option<PathBuf>,
    /// The function's merged layers (bound read-only at `/opt`).
    pub opt_dir: Option<PathBuf>,
    /// Host directories bound read-only at the same path (interpreter prefixes).
    pub host_ro: Vec<PathBuf>,
    /// `/tmp` size (EphemeralStorage).
    pub tmp_mb: u64,
    pub memory_mb: u64,
    pub pids_max: u64,
    pub nofile: u64,
    pub uid: u32,
    pub gid: u32,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// A snapshot template: runs under [`seccomp::template_filter`], which lets the
    /// environments forked from it make their own namespaces (see the module docs of
    /// `nimbus-lambda`'s template module).
    pub template: bool,
    /// Descriptors (already open in the server, close-on-exec) the program inherits.
    pub keep_fds: Vec<i32>,
    /// A private network namespace the environment joins (`setns`) before it drops its
    /// privileges (a function with `VpcConfig`); ignored with [`Mode::Off`].
    pub netns: Option<std::sync::Arc<net::Netns>>,
}

impl Sandbox {
    pub fn new(code_dir: PathBuf, program: PathBuf, args: Vec<String>) -> Sandbox {
        Sandbox {
            code_dir,
            runtime_dir: None,
            opt_dir: None,
            host_ro: Vec::new(),
            tmp_mb: 512,
            memory_mb: 128,
            pids_max: cgroup::PIDS_MAX,
            nofile: NOFILE,
            uid: SANDBOX_UID,
            gid: SANDBOX_GID,
            program,
            args,
            env: BTreeMap::new(),
            template: false,
            keep_fds: Vec::new(),
            netns: None,
        }
    }

    /// The mount plan on this host.
    pub fn plan(&self) -> Vec<mounts::Op> {
        mounts::plan(
            &mounts::PlanInput {
                code_dir: &self.code_dir,
                runtime_dir: self.runtime_dir.as_deref(),
                opt_dir: self.opt_dir.as_deref(),
                host_ro: &self.host_ro,
                tmp_bytes: self.tmp_mb * 1024 * 1024,
                uid: self.uid,
                gid: self.gid,
            },
            &mounts::probe_host,
        )
    }

    /// Creates the environment's cgroup (when the host has any controller). Name it
    /// `env-<server pid>-<unique id>` so [`Layout::sweep`] can clean up after a crash.
    pub fn cgroup(&self, host: &Host, name: &str) -> std::io::Result<Option<Cgroup>> {
        let l = &host.cgroups;
        if host.mode == Mode::Off || !(l.memory() || l.cpu() || l.pids() || l.freezer()) {
            return Ok(None);
        }
        Cgroup::create(l, name, Limits { memory_mb: self.memory_mb, pids_max: self.pids_max }).map(Some)
    }

    /// Builds the command: program, args, a clean environment, cwd and the sandbox hook.
    /// In the sandbox the working directory is `/var/task`.
    pub fn command(&self, host: &Host, cgroup: Option<&Cgroup>) -> std::io::Result<std::process::Command> {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args).current_dir(&self.code_dir).env_clear().envs(&self.env);
        let sandboxed = host.mode != Mode::Off;
        let namespaces = sandboxed && host.namespaces;
        let ops = if namespaces { child::compile(&host.root_mount, &self.plan())? } else { Vec::new() };
        let prepared = child::Prepared {
            procs: cgroup.map(Cgroup::procs_files).unwrap_or_default(),
            namespaces,
            root: CString::new(host.root_mount.as_os_str().as_encoded_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?,
            ops,
            hostname: c"nimbus-lambda".to_owned(),
            workdir: c"/var/task".to_owned(),
            drop_privileges: namespaces && host.root,
            uid: self.uid,
            gid: self.gid,
            nofile: self.nofile,
            nproc: (sandboxed && !host.cgroups.pids() && namespaces && host.root).then_some(self.pids_max),
            filter: (sandboxed && host.seccomp).then(|| if self.template { seccomp::template_filter() } else { seccomp::filter() }),
            keep_fds: self.keep_fds.clone(),
            linger: self.template,
            netns: self.netns.as_ref().map_or(-1, |n| n.fd()),
        };
        if !sandboxed {
            let keep = self.keep_fds.clone();
            // SAFETY: prctl(PR_SET_PDEATHSIG) and fcntl are async-signal-safe; the kernel
            // kills the child if the server dies.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    for fd in &keep {
                        if libc::fcntl(*fd, libc::F_SETFD, 0) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
            return Ok(cmd);
        }
        // The namespace descriptor in `prepared` stays open while the command exists.
        let netns = self.netns.clone();
        // SAFETY: `child::run` only makes async-signal-safe syscalls and does not allocate;
        // `prepared` is moved into the closure and lives as long as the command.
        unsafe {
            cmd.pre_exec(move || {
                let _hold = &netns;
                child::run(&prepared)
            });
        }
        Ok(cmd)
    }
}

/// Makes the code directory readable by the sandbox user (chowns the tree once; the
/// directory is mounted read-only in the sandbox, so ownership does not let it write).
pub fn prepare_code_dir(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(dir)?.uid() == uid {
        return Ok(());
    }
    fn walk(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
        let m = std::fs::symlink_metadata(p)?;
        if m.is_dir() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), uid, gid)?;
            }
        }
        std::os::unix::fs::lchown(p, Some(uid), Some(gid))
    }
    // The top directory last: its owner marks the tree as done.
    walk(dir, uid, gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(None).unwrap(), Mode::BestEffort);
        assert_eq!(Mode::parse(Some("strict")).unwrap(), Mode::Strict);
        assert_eq!(Mode::parse(Some("off")).unwrap(), Mode::Off);
        assert!(Mode::parse(Some("paranoid")).is_err());
    }

    #[test]
    fn off_reports_nothing_missing() {
        let h = Host::detect(Mode::Off);
        assert!(h.missing().is_empty());
    }
}
