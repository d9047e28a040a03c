//! What runs in the forked child between `fork` and `exec` (a `pre_exec` hook).
//!
//! Everything is prepared in the parent ([`Prepared`]: C strings, the BPF program, the
//! mount operations); the hook only makes raw syscalls (async-signal-safe: open, write,
//! close, unshare, fork, waitpid, mount, pivot_root, chdir, prctl, setrlimit, set*id, ...)
//! and never allocates.
//!
//! Process tree of one environment:
//!
//! ```text
//! nimbus
//!  └─ supervisor   (host PID namespace; what `Child` tracks; joins the cgroups,
//!      │            unshare(CLONE_NEWPID), forks, waits and mirrors the exit status)
//!      └─ init     (PID 1 of the new PID namespace; unshares mount/IPC/UTS, builds the
//!          │        root, pivot_root; forks the function and reaps orphans until it exits)
//!          └─ function (drops to the sandbox uid/gid, no capabilities, no_new_privs,
//!                       rlimits, seccomp; then std execs the runtime)
//! ```
//!
//! When init exits the kernel kills everything left in the PID namespace; every level has
//! a parent-death signal (`SIGKILL`; init, which the kernel shields from a `SIGKILL` sent
//! that way, takes `SIGTERM` with a handler that exits), so nothing outlives the server.
//! The server forks from one long-lived thread: the signal follows the forking *thread*.
//! A snapshot template's init (`linger`) keeps reaping after the template exits, until the
//! environments forked from it are gone too.

use std::ffi::CString;
use std::io;

use libc::c_int;

use crate::mounts::Op;

pub(crate) enum COp {
    Dir(CString),
    Bind { src: CString, dst: CString, readonly: bool, file: bool },
    Symlink { target: CString, dst: CString },
    Tmpfs { dst: CString, opts: CString },
    Proc(CString),
    File { dst: CString, contents: Vec<u8> },
}

pub(crate) struct Prepared {
    pub procs: Vec<CString>,
    pub namespaces: bool,
    pub root: CString,
    pub ops: Vec<COp>,
    pub hostname: CString,
    pub workdir: CString,
    pub drop_privileges: bool,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub nofile: u64,
    pub nproc: Option<u64>,
    pub filter: Option<Vec<libc::sock_filter>>,
    /// Descriptors the program inherits (their close-on-exec flag is cleared last).
    pub keep_fds: Vec<c_int>,
    /// Init keeps reaping after the program exits, until the namespace is empty (a
    /// snapshot template: the environments forked from it outlive it).
    pub linger: bool,
    /// A network namespace to join first (`-1`: stay in the server's).
    pub netns: c_int,
}

fn cstr(p: &std::path::Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with NUL"))
}

pub(crate) fn compile(root: &std::path::Path, ops: &[Op]) -> io::Result<Vec<COp>> {
    let at = |p: &std::path::Path| -> io::Result<CString> {
        let rel = p.strip_prefix("/").unwrap_or(p);
        cstr(&root.join(rel))
    };
    ops.iter()
        .map(|o| {
            Ok(match o {
                Op::Dir(p) => COp::Dir(at(p)?),
                Op::Bind { src, dst, readonly, file } => COp::Bind { src: cstr(src)?, dst: at(dst)?, readonly: *readonly, file: *file },
                Op::Symlink { target, dst } => COp::Symlink { target: cstr(target)?, dst: at(dst)? },
                Op::Tmpfs { dst, size_bytes, mode } => COp::Tmpfs {
                    dst: at(dst)?,
                    opts: CString::new(format!("size={size_bytes},mode={mode:o},nr_inodes=0")).expect("no NUL"),
                },
                Op::Proc(p) => COp::Proc(at(p)?),
                Op::File { dst, contents } => COp::File { dst: at(dst)?, contents: contents.clone() },
            })
        })
        .collect()
}

/// Writes a fixed message to stderr (async-signal-safe) and returns the current errno.
unsafe fn fail(step: &'static [u8]) -> io::Error {
    let err = io::Error::last_os_error();
    let prefix: &[u8] = b"nimbus-sandbox: setup failed at ";
    // SAFETY: write(2) on fd 2 with pointers into static byte strings.
    unsafe {
        libc::write(2, prefix.as_ptr().cast(), prefix.len());
        libc::write(2, step.as_ptr().cast(), step.len());
        libc::write(2, b"\n".as_ptr().cast(), 1);
    }
    err
}

unsafe fn check(r: c_int, step: &'static [u8]) -> io::Result<()> {
    if r < 0 {
        // SAFETY: see `fail`.
        Err(unsafe { fail(step) })
    } else {
        Ok(())
    }
}

/// Closes every descriptor from 3 up (the waiting processes must not hold std's
/// exec-status pipe, or `spawn` would never return).
unsafe fn close_from_3() {
    // SAFETY: close_range(2) only closes descriptors of this process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r != 0 {
        for fd in 3..4096 {
            // SAFETY: closing a descriptor number; EBADF is harmless.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

fn status_code(st: c_int) -> c_int {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        1
    }
}

/// The supervisor: waits for init, then exits as it did (a signal death `128+n` from
/// init is re-raised, so the server sees `signal: killed` for an OOM kill).
unsafe fn supervise(pid: libc::pid_t) -> ! {
    // SAFETY: only async-signal-safe syscalls on this process' own state.
    unsafe {
        close_from_3();
        let mut st: c_int = 0;
        loop {
            let r = libc::waitpid(pid, &mut st, 0);
            if r == pid {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
        let sig = if libc::WIFSIGNALED(st) {
            libc::WTERMSIG(st)
        } else if libc::WIFEXITED(st) && (129..=128 + 64).contains(&libc::WEXITSTATUS(st)) {
            libc::WEXITSTATUS(st) - 128
        } else {
            0
        };
        if sig > 0 {
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
        }
        libc::_exit(status_code(st));
    }
}

/// Runs in init when its parent (the supervisor) died: init's exit ends the namespace.
extern "C" fn parent_died(_: c_int) {
    // SAFETY: _exit is async-signal-safe and ends only this process.
    unsafe { libc::_exit(128 + libc::SIGKILL) }
}

/// PID 1 of the environment: reaps every orphan until the function exits (with `linger`,
/// until no process is left in the namespace).
unsafe fn init(pid: libc::pid_t, linger: bool) -> ! {
    // SAFETY: only async-signal-safe syscalls on this process' own state; the handler is a
    // plain `extern "C"` function that only calls _exit.
    unsafe {
        // The kernel ignores a parent-death SIGKILL sent to a PID namespace's init (it is
        // unkillable from inside), so init takes SIGTERM with a handler that exits: when the
        // supervisor dies, init exits and the kernel kills everything in the namespace.
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = parent_died as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        close_from_3();
        let mut code = 1;
        loop {
            let mut st: c_int = 0;
            let r = libc::waitpid(-1, &mut st, 0);
            if r == pid {
                code = status_code(st);
                if !linger {
                    libc::_exit(code);
                }
            }
            if r < 0 && *libc::__errno_location() == libc::ECHILD {
                libc::_exit(code);
            }
        }
    }
}

unsafe fn write_file(path: &CString, data: &[u8], flags: c_int, step: &'static [u8]) -> io::Result<()> {
    // SAFETY: open/write/close with a valid C string and a live byte slice.
    unsafe {
        let fd = libc::open(path.as_ptr(), flags | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
        check(fd, step)?;
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        if n < 0 {
            return Err(fail(step));
        }
    }
    Ok(())
}

unsafe fn build_root(p: &Prepared) -> io::Result<()> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: mount/mkdir/symlink/open with C strings owned by `p`, which outlives the call.
    unsafe {
        check(libc::mount(null, c"/".as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()), b"make / private")?;
        check(
            libc::mount(c"tmpfs".as_ptr(), p.root.as_ptr(), c"tmpfs".as_ptr(), libc::MS_NOSUID, c"size=4m,mode=755".as_ptr().cast()),
            b"root tmpfs",
        )?;
        for op in &p.ops {
            match op {
                COp::Dir(d) => {
                    if libc::mkdir(d.as_ptr(), 0o755) < 0 && *libc::__errno_location() != libc::EEXIST {
                        return Err(fail(b"mkdir"));
                    }
                }
                COp::Bind { src, dst, readonly, file } => {
                    if *file {
                        let fd = libc::open(dst.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
                        check(fd, b"bind target file")?;
                        libc::close(fd);
                    }
                    check(libc::mount(src.as_ptr(), dst.as_ptr(), null, libc::MS_BIND | libc::MS_REC, std::ptr::null()), b"bind mount")?;
                    if *readonly {
                        check(
                            libc::mount(
                                null,
                                dst.as_ptr(),
                                null,
                                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID,
                                std::ptr::null(),
                            ),
                            b"read-only remount",
                        )?;
                    }
                }
                COp::Symlink { target, dst } => check(libc::symlink(target.as_ptr(), dst.as_ptr()), b"symlink")?,
                COp::Tmpfs { dst, opts } => check(
                    libc::mount(c"tmpfs".as_ptr(), dst.as_ptr(), c"tmpfs".as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, opts.as_ptr().cast()),
                    b"tmp tmpfs",
                )?,
                COp::Proc(dst) => check(
                    libc::mount(c"proc".as_ptr(), dst.as_ptr(), c"proc".as_ptr(), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, std::ptr::null()),
                    b"proc",
                )?,
                COp::File { dst, contents } => write_file(dst, contents, libc::O_CREAT | libc::O_TRUNC, b"generated file")?,
            }
        }
        libc::sethostname(p.hostname.as_ptr(), p.hostname.as_bytes().len());
        check(libc::chdir(p.root.as_ptr()), b"chdir new root")?;
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as c_int, b"pivot_root")?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), b"detach old root")?;
        check(libc::chdir(c"/".as_ptr()), b"chdir /")?;
        check(
            libc::mount(null, c"/".as_ptr(), null, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID, std::ptr::null()),
            b"read-only root",
        )?;
    }
    Ok(())
}

unsafe fn drop_privileges(p: &Prepared) -> io::Result<()> {
    // SAFETY: prctl/setgroups/setres[ug]id/capset on this process only, with valid pointers.
    unsafe {
        for cap in 0..=63 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        check(libc::setgroups(0, std::ptr::null()), b"setgroups")?;
        check(libc::setresgid(p.gid, p.gid, p.gid), b"setresgid")?;
        check(libc::setresuid(p.uid, p.uid, p.uid), b"setresuid")?;
        // A uid change from 0 clears permitted/effective; clear inheritable too.
        #[repr(C)]
        struct Header {
            version: u32,
            pid: c_int,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mut h = Header { version: 0x2008_0522, pid: 0 };
        let d = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
        check(libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) as c_int, b"capset")?;
    }
    Ok(())
}

/// Writes `n` to `/proc/sys/kernel/ns_last_pid` (of the new PID namespace); best effort.
unsafe fn set_last_pid(n: libc::pid_t) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = n.max(1) as u32;
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    // SAFETY: open/write/close with a static path and a stack buffer.
    unsafe {
        let fd = libc::open(c"/proc/sys/kernel/ns_last_pid".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, buf[i..].as_ptr().cast(), buf.len() - i);
            libc::close(fd);
        }
    }
}

/// The hook itself. Runs in the supervisor; returns `Ok` only in the function process.
pub(crate) unsafe fn run(p: &Prepared) -> io::Result<()> {
    // SAFETY: every call below is a raw syscall wrapper that is async-signal-safe; all
    // pointers come from `p`, built before fork and alive for the whole hook.
    unsafe {
        for f in &p.procs {
            write_file(f, b"0", 0, b"join cgroup")?;
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if p.netns >= 0 {
            // While still privileged: every process of the environment inherits it.
            check(libc::setns(p.netns, libc::CLONE_NEWNET), b"join network namespace")?;
        }
        if p.namespaces {
            check(libc::unshare(libc::CLONE_NEWPID), b"unshare pid")?;
            let host_pid = libc::getpid();
            let pid = libc::fork();
            check(pid, b"fork init")?;
            if pid > 0 {
                supervise(pid);
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS), b"unshare mount/ipc/uts")?;
            build_root(p)?;
            // Start the namespace's pids after the supervisor's host pid, so the function's
            // pid differs between live environments (as processes on one host do).
            set_last_pid(host_pid);
            let pid = libc::fork();
            check(pid, b"fork function")?;
            if pid > 0 {
                init(pid, p.linger);
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            check(libc::chdir(p.workdir.as_ptr()), b"chdir /var/task")?;
        }
        let nofile = libc::rlimit { rlim_cur: p.nofile, rlim_max: p.nofile };
        check(libc::setrlimit(libc::RLIMIT_NOFILE, &nofile), b"RLIMIT_NOFILE")?;
        if let Some(n) = p.nproc {
            let l = libc::rlimit { rlim_cur: n, rlim_max: n };
            check(libc::setrlimit(libc::RLIMIT_NPROC, &l), b"RLIMIT_NPROC")?;
        }
        let core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &core);
        if p.drop_privileges {
            drop_privileges(p)?;
        }
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), b"no_new_privs")?;
        if let Some(f) = &p.filter {
            let prog = libc::sock_fprog { len: f.len() as u16, filter: f.as_ptr() as *mut libc::sock_filter };
            check(
                libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog),
                b"seccomp",
            )?;
        }
        for fd in &p.keep_fds {
            check(libc::fcntl(*fd, libc::F_SETFD, 0), b"keep descriptor")?;
        }
    }
    Ok(())
}
