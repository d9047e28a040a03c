//! Snapshot (fork) starts: one initialised template process per function, and execution
//! environments forked from it (Nimbus' SnapStart, for `$LATEST` and every Python and
//! Node.js function).
//!
//! A template is started like an environment (same sandbox: namespaces, private root,
//! uid 993, no capabilities, `no_new_privs`, its own cgroup with the function's memory
//! limit) but with `NIMBUS_TEMPLATE_FD` naming a `SOCK_SEQPACKET` control socket. The
//! bootstrap runs the init phase (imports, module-level code, `before_snapshot` hooks),
//! answers `ready` (or `init-error`, and the server falls back to a normal start, which
//! reports the init error as today) and then forks one environment per `fork` request.
//!
//! A `fork` request carries three descriptors (SCM_RIGHTS): the environment's own channel
//! (a socketpair whose server end has `SO_PASSCRED`) and the write ends of its stdout and
//! stderr pipes. For the fork the server moves the template into the environment's
//! cgroup (`cgroup.procs`) and back once the child has said `hello`: the child is born in
//! the environment's cgroup, so the pages it shares with the template stay charged to the
//! template while its page tables and every page it copies or allocates are charged to
//! the environment (forking first and moving the child after would leave those early
//! copies charged to the template, which then runs out of memory under many cold starts).
//! The kernel stamps `hello` with the child's pid as the server sees it (SCM_CREDENTIALS);
//! the server then sends the per-environment values: the Runtime API endpoint, log stream,
//! credentials, `/tmp` size and the full seccomp filter. None of them is in the template.
//!
//! # How a forked environment gets a private /tmp without capabilities
//!
//! The template runs unprivileged (uid 993, no capabilities) because the function's init
//! code runs in it. A process without capabilities cannot `unshare(CLONE_NEWNS)` or
//! `mount`, but it can create a user namespace, and inside it, it holds every capability
//! over the namespaces it then owns. So the template makes each environment with
//! `clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWIPC)` (Python; the Node.js
//! bootstrap forks and then `unshare`s the same four, which costs it one more process):
//! the new process is PID 1 of its own PID namespace, maps only its own uid and gid
//! (993/990: it stays `sbx_user1051`, and no other host id exists in the namespace),
//! mounts a fresh tmpfs of EphemeralStorage size on `/tmp` (a copy of the template's
//! `/tmp`, usually empty) and its own `/proc`, forks the function process, and both drop
//! every capability and the bounding set and stack the full seccomp filter. PID 1 stays
//! as the environment's init: it reaps orphans and reports how the function ended on the
//! environment's channel. Every mount inherited from the
//! template's sandbox is locked by the kernel (it came from a more privileged mount
//! namespace): the code, the runtime and the root stay read-only and cannot be unmounted
//! to reveal anything. Memory, CPU, pids and freezer limits come from the environment's
//! own cgroup, as for a normal start.
//!
//! The one difference to a normal start is the template's seccomp filter
//! (`nimbus_sandbox::seccomp::template_filter`): it must let the child make those calls,
//! so `unshare` with exactly those four flags and `mount` with exactly the tmpfs or proc
//! flags are allowed in the template (compared by value; every other denied call stays
//! denied). The function's init code could therefore create such namespaces and mount a
//! tmpfs inside them, as any unprivileged user can on most distributions; nothing it
//! mounts is visible outside its own namespace. Environments run the full filter, so the
//! function's handler cannot. The alternative (a privileged template that drops its
//! privileges after the fork) would run the function's init code with privileges.
//!
//! # What a function sees (as AWS documents for SnapStart)
//! - Module-level state from init is shared by every environment forked from the
//!   template (copy-on-write): `random` is reseeded after the fork, but a `random.Random`
//!   instance made at init and any unique value computed at init (ids, tokens, temp file
//!   names) repeat across environments: compute them in the handler or an
//!   `after_restore` hook. `os.urandom`, `secrets` and `uuid.uuid4` are unaffected.
//! - Threads started at init do not exist in the environments (fork copies one thread).
//! - `AWS_LAMBDA_INITIALIZATION_TYPE` is `snap-start`; the log stream, Runtime API
//!   endpoint and credentials are set after the fork. The template runs init with the
//!   credentials issued for the environment that started it (init code that makes SDK
//!   clients needs some, as on AWS); a client made at init keeps those until they expire,
//!   so long-lived functions should make clients in the handler or an `after_restore` hook.
//! - `snapshot_restore_py` (`register_before_snapshot`, `register_after_restore`) works
//!   as on AWS; an `after_restore` hook that raises fails the environment's start with
//!   `Runtime.AfterRestoreError`.
//! - Python's hash seed is the template's (fixed at interpreter start).
//!
//! # Node.js
//!
//! Node exposes no `fork`, so `runtimes/nodejs/fork.c`, a small N-API addon built by
//! build.rs with the host C compiler and embedded next to the bootstrap, does the system
//! calls; `runtimes/nodejs/template.js` drives it (same protocol and sandbox steps as
//! above). What makes forking a running Node safe:
//! - Only the forking thread survives. The template starts with `--single-threaded` (V8
//!   compiles, marks, sweeps and scavenges on the main thread, so it never posts work to
//!   its platform workers, which the children do not have) and `--v8-pool-size=1`. libuv's
//!   threadpool re-creates itself in a child (its `pthread_atfork` handler), so async `fs`,
//!   `dns.lookup`, `zlib` and `crypto` work; work still queued in the template when it forked
//!   never completes in the children.
//! - The child calls `uv_loop_fork` on Node's loop: it gets its own epoll descriptor, wakeup
//!   and signal pipes, with every watcher re-registered.
//! - V8 marks its heap pages `MADV_DONTFORK`; the addon makes every mapping inheritable
//!   again before each fork (else the child faults on its first heap access).
//! - Node's own exit path tears down its platform and joins the template's worker threads,
//!   which a forked process lacks (it would wait forever): in an environment
//!   `process.reallyExit` (what `process.exit` calls after the `exit` listeners) is
//!   `_exit`; stdout and stderr are pipes, written synchronously, so nothing is lost.
//! - The template runs init, then one turn of the event loop (so an unhandled rejection from
//!   init ends it and the function starts normally, reporting what a normal start reports),
//!   then blocks in the addon's fork loop: nothing of the function's runs in the template
//!   after init.
//!
//! What a Node function sees, beyond the list above (there are no SnapStart hooks for Node
//! on AWS, and Nimbus offers none):
//! - `Math.random` is replaced, before the function's code loads, by a generator fed from
//!   `crypto.randomFillSync` whose buffer is discarded at each fork (V8 seeds its own once
//!   per isolate, so every child would repeat the template's sequence). `Math.random` of a
//!   `vm` context made at init or later is V8's and repeats across environments.
//! - `crypto.randomUUID` (and `globalThis.crypto.randomUUID`) bypass Node's entropy cache
//!   while in the template, so each environment fills its own; `randomBytes`,
//!   `getRandomValues` and `randomFill` draw from OpenSSL, which reseeds after a fork.
//!   `crypto.randomInt` serves from a cache: values drawn at init repeat across
//!   environments until it is refilled. Ids, tokens or keys computed at init are the same in
//!   every environment: compute them in the handler.
//! - `process.pid` / `process.ppid` are the environment's; `process.uptime()` and
//!   `performance.now()` count from the template's start.
//! - Sockets, servers, timers and intervals created at init are shared with the template:
//!   a connection opened at init is one TCP connection, used by every environment forked
//!   from it at once (reconnect in the handler, as AWS advises for SnapStart); a timer or
//!   interval set at init fires in each environment (late, if the template was idle), never
//!   in the template. Workers (`worker_threads`) and child processes started at init do not
//!   exist in the environments.
//!
//! Without a C compiler at build time the addon is empty and Node.js environments start
//! normally (said once in the log). As on AWS, `SnapStart.ApplyOn` = `PublishedVersions`
//! is refused for Node.js runtimes; `None` switches snapshots off for the function.
//!
//! A VPC function's template runs in a private network namespace of its own and every
//! environment forked from it stays in it (see the vpc module); each fork's Runtime API
//! listener is opened inside that namespace.
//!
//! A template counts as idle memory: it is killed when its function is updated or
//! deleted ([`Templates::retire`]) and when the function has not started an environment
//! for the idle timeout ([`Templates::reap`]). Environments already forked outlive their
//! template (its PID 1 keeps reaping them).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::env::{Adopted, Env};

/// AWS gives the init phase 10 seconds.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How long a forked child may take to say hello and to finish its setup.
const FORK_LIMIT: Duration = Duration::from_secs(10);
/// Values each environment gets after the fork (never in the template).
pub const PER_ENV: &[&str] = &["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `NIMBUS_LAMBDA_SNAPSHOTS`: `on` (default) or `off`; read once.
pub fn snapshots_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(read_setting)
}

/// Set when the host turned out unable to fork environments (reported as `Off`).
static HOST_BROKEN: AtomicBool = AtomicBool::new(false);

/// Whether environments of a function with `SnapStart.ApplyOn` = `apply_on` (unset: the
/// server default) and `runtime` start from a template: what `OptimizationStatus` reports.
///
/// AWS applies SnapStart to published versions only; Nimbus snapshots published versions
/// and `$LATEST` alike (one template per version) unless `ApplyOn` is explicitly `None` or
/// the server runs with `NIMBUS_LAMBDA_SNAPSHOTS=off`.
pub fn applies(apply_on: Option<&str>, runtime: &str) -> bool {
    snapshots_enabled() && !HOST_BROKEN.load(Ordering::Relaxed) && apply_on != Some("None") && runtime_supported(runtime)
}

/// Validates `SnapStart.ApplyOn` for `runtime` (as AWS: an unsupported runtime is refused
/// when SnapStart is requested).
pub fn check_snap_start(apply_on: Option<&str>, runtime: &str) -> Result<Option<String>, nimbus_types::AwsError> {
    match apply_on {
        None => Ok(None),
        Some("None") => Ok(Some("None".into())),
        // As AWS: SnapStart is configurable for Python only (Node.js functions are still
        // forked by default here, see the module docs).
        Some("PublishedVersions") if crate::runtimes::PYTHON_RUNTIMES.contains(&runtime) => Ok(Some("PublishedVersions".into())),
        Some("PublishedVersions") => Err(nimbus_types::AwsError::new(
            400,
            "InvalidParameterValueException",
            format!("{runtime} is not supported for SnapStart enabled functions."),
        )),
        Some(other) => Err(nimbus_types::AwsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'snapStart.applyOn' failed to satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]"
        ))),
    }
}

fn read_setting() -> bool {
    match std::env::var("NIMBUS_LAMBDA_SNAPSHOTS").ok().as_deref().map(str::trim) {
        None | Some("") | Some("on") | Some("true") | Some("1") => true,
        Some("off") | Some("false") | Some("0") => false,
        Some(other) => {
            tracing::warn!("NIMBUS_LAMBDA_SNAPSHOTS must be on or off, not {other:?}; using on");
            true
        }
    }
}

/// Whether `runtime` can start from a template on this server.
pub fn runtime_supported(runtime: &str) -> bool {
    crate::runtimes::PYTHON_RUNTIMES.contains(&runtime) || (crate::runtimes::NODE_RUNTIMES.contains(&runtime) && !crate::runtimes::NODE_FORK_ADDON.is_empty())
}

struct Template {
    fingerprint: String,
    /// Server end of the control socket (blocking); one fork request at a time.
    ctl: Mutex<OwnedFd>,
    /// Host pid of the template process (from the kernel's credentials on `ready`).
    pid: AtomicU32,
    /// Set when the template exited or was killed (its watcher or [`Template::kill`]).
    dead: Arc<AtomicBool>,
    last_used: Mutex<Instant>,
    /// The template's own cgroup (it returns there after each fork).
    cgroup: Option<Arc<nimbus_sandbox::Cgroup>>,
    /// A VPC function's private network: the template runs in it and its forks inherit it.
    network: Option<Arc<crate::vpc::Network>>,
}

impl Template {
    fn kill(&self) {
        self.dead.store(true, Ordering::Relaxed);
        let pid = self.pid.load(Ordering::Relaxed);
        if pid > 0 {
            // SAFETY: kill(2) with plain integers; the pid is the template process, which
            // the server keeps alive as a grandchild (its PID 1 reaps the environments).
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

enum Slot {
    /// Being started; waiters wait on the notify.
    Starting(String, Arc<tokio::sync::Notify>),
    Ready(Arc<Template>),
    /// Init failed (or the host cannot fork environments) for this fingerprint: normal starts.
    Failed(String),
}

/// Every function's template.
pub struct Templates {
    enabled: bool,
    slots: Mutex<HashMap<String, Slot>>,
    said_node: AtomicBool,
    said_broken: AtomicBool,
}

/// What an environment start needs from `spawn_env`.
pub struct Request<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub runtime: &'a str,
    pub label: &'a str,
    pub log_stream: &'a str,
    pub host: &'a nimbus_sandbox::Host,
    /// The environment's sandbox as a normal start would run it.
    pub sandbox: &'a nimbus_sandbox::Sandbox,
    pub cgroup: Option<Arc<nimbus_sandbox::Cgroup>>,
    /// The function's own switch (`SnapStart.ApplyOn` not `None`).
    pub enabled: bool,
    /// Set for a VPC function: the template gets a private network of its own.
    pub network: Option<&'a crate::vpc::Networks>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let enabled = snapshots_enabled();
        if enabled && std::fs::read_to_string("/proc/sys/user/max_user_namespaces").map(|v| v.trim() == "0").unwrap_or(false) {
            HOST_BROKEN.store(true, Ordering::Relaxed);
            tracing::warn!("lambda snapshots: user namespaces are disabled on this host (user.max_user_namespaces = 0); environments start normally");
        }
        Templates { enabled, slots: Mutex::new(HashMap::new()), said_node: AtomicBool::new(false), said_broken: AtomicBool::new(false) }
    }

    /// Kills the template of function `key` (its code or configuration changed, or it was deleted).
    pub fn retire(&self, key: &str) {
        let old = lock(&self.slots).remove(key);
        if let Some(Slot::Ready(t)) = old {
            t.kill();
        }
    }

    /// Kills templates that have not forked an environment for `idle_for`.
    pub fn reap(&self, idle_for: Duration) {
        let mut dead = Vec::new();
        lock(&self.slots).retain(|_, s| match s {
            Slot::Ready(t) => {
                let keep = !t.dead.load(Ordering::Relaxed) && lock(&t.last_used).elapsed() < idle_for;
                if !keep {
                    dead.push(t.clone());
                }
                keep
            }
            _ => true,
        });
        for t in dead {
            t.kill();
        }
    }

    /// Starts an environment by forking the function's template (starting the template
    /// first when there is none). `None`: start it normally (snapshots off, unsupported
    /// runtime or host, or the function's init failed in the template).
    ///
    /// `Some(Err(body))`: the function's init failed in the template just now; `body` is
    /// the init error, answered as a normal start answers it (init is not run twice).
    pub async fn start_env(&self, req: Request<'_>) -> Option<Result<Arc<Env>, bytes::Bytes>> {
        if !self.enabled || !req.enabled || HOST_BROKEN.load(Ordering::Relaxed) {
            return None;
        }
        if !runtime_supported(req.runtime) {
            if req.runtime.starts_with("nodejs") && !self.said_node.swap(true, Ordering::Relaxed) {
                tracing::info!("lambda snapshots: Node.js environments start normally (this build has no fork addon: there was no C compiler when it was built)");
            }
            return None;
        }
        let template = match self.template(&req).await? {
            Ok(t) => t,
            Err(init_error) => return Some(Err(init_error)),
        };
        *lock(&template.last_used) = Instant::now();
        match fork(&template, &req).await {
            Ok(env) => Some(Ok(env)),
            Err(e) => {
                if !self.said_broken.swap(true, Ordering::Relaxed) {
                    tracing::warn!("lambda snapshots: forking an environment of {} failed ({e}); starting it normally", req.label);
                } else {
                    tracing::debug!("lambda snapshots: fork failed: {e}");
                }
                // A broken template would fail every time: forget it (the next start makes a new one).
                let mut slots = lock(&self.slots);
                if matches!(slots.get(req.key), Some(Slot::Ready(t)) if Arc::ptr_eq(t, &template)) {
                    slots.insert(req.key.to_string(), Slot::Failed(req.fingerprint.to_string()));
                }
                drop(slots);
                template.kill();
                None
            }
        }
    }

    /// The function's ready template for `req.fingerprint`, starting it when needed.
    async fn template(&self, req: &Request<'_>) -> Option<Result<Arc<Template>, bytes::Bytes>> {
        loop {
            let wait = {
                let mut slots = lock(&self.slots);
                match slots.get(req.key) {
                    Some(Slot::Ready(t)) if t.fingerprint == req.fingerprint && !t.dead.load(Ordering::Relaxed) => return Some(Ok(t.clone())),
                    Some(Slot::Failed(fp)) if fp == req.fingerprint => return None,
                    Some(Slot::Starting(fp, n)) if fp == req.fingerprint => Some(n.clone()),
                    _ => {
                        if let Some(Slot::Ready(old)) = slots.remove(req.key) {
                            old.kill();
                        }
                        slots.insert(req.key.to_string(), Slot::Starting(req.fingerprint.to_string(), Arc::new(tokio::sync::Notify::new())));
                        None
                    }
                }
            };
            if let Some(n) = wait {
                let notified = n.notified();
                // Re-check after registering, so a start that finished in between is seen.
                let still = matches!(lock(&self.slots).get(req.key), Some(Slot::Starting(fp, m)) if fp == req.fingerprint && Arc::ptr_eq(m, &n));
                if still {
                    notified.await;
                }
                continue;
            }
            let started = start_template(req).await;
            let mut slots = lock(&self.slots);
            let notify = match slots.get(req.key) {
                Some(Slot::Starting(fp, n)) if fp == req.fingerprint => Some(n.clone()),
                _ => None,
            };
            let result = match started {
                Ok(t) => {
                    if notify.is_some() {
                        slots.insert(req.key.to_string(), Slot::Ready(t.clone()));
                        Some(Ok(t))
                    } else {
                        // Retired while starting.
                        t.kill();
                        None
                    }
                }
                Err(e) => {
                    if notify.is_some() {
                        slots.insert(req.key.to_string(), Slot::Failed(req.fingerprint.to_string()));
                    }
                    match e {
                        // Later starts of this version start normally and report their own.
                        StartError::Init(body) => Some(Err(body)),
                        StartError::Other(e) => {
                            tracing::debug!(function = %req.label, "lambda snapshots: no template ({e}); starting normally");
                            None
                        }
                    }
                }
            };
            drop(slots);
            if let Some(n) = notify {
                n.notify_waiters();
            }
            return result;
        }
    }
}

// ---- sockets ----

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A close-on-exec SOCK_SEQPACKET pair; the first end gets `SO_PASSCRED` (the server's).
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into the array we own.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a pointer to a live c_int of the given size.
    cvt(unsafe {
        libc::setsockopt(a.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, (&one as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as u32)
    })?;
    Ok((a, b))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_timeout(fd: &OwnedFd, d: Duration) -> io::Result<()> {
    let tv = libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as libc::suseconds_t };
    // SAFETY: setsockopt with a pointer to a live timeval of the given size.
    cvt(unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&tv as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32)
    })?;
    Ok(())
}

/// Sends `msg` with `fds` attached (SCM_RIGHTS).
fn send_fds(sock: &OwnedFd, msg: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: msg.as_ptr() as *mut libc::c_void, iov_len: msg.len() };
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid empty header; the pointers set below point
    // into `iov` and `cbuf`, which live until sendmsg returns.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = &mut iov;
    mh.msg_iovlen = 1;
    if !fds.is_empty() {
        mh.msg_control = cbuf.as_mut_ptr().cast();
        mh.msg_controllen = space as _;
        // SAFETY: the control buffer is large enough for one header with `payload` bytes
        // (CMSG_SPACE), so CMSG_FIRSTHDR is non-null and CMSG_DATA has room for the fds.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&mh);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(payload) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), payload as usize);
        }
    }
    // SAFETY: `mh` describes live buffers (see above).
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &mh, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one message; returns its bytes and the sender's pid (SCM_CREDENTIALS, present
/// because the socket has SO_PASSCRED). Descriptors sent along are closed.
fn recv_cred(sock: &OwnedFd, flags: libc::c_int) -> io::Result<(Vec<u8>, Option<u32>)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = [0u64; 64];
    // SAFETY: an all-zero msghdr is a valid empty header; the pointers set below point
    // into `iov` and `cbuf`, which live until recvmsg returns.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = &mut iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.as_mut_ptr().cast();
    mh.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: `mh` describes live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut mh, flags | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut pid = None;
    // SAFETY: walking the control messages the kernel wrote, with the libc macros that
    // bound every header by msg_controllen; data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&mh);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS && len >= std::mem::size_of::<libc::ucred>() {
                let cred: libc::ucred = std::ptr::read_unaligned(data.cast());
                if cred.pid > 0 {
                    pid = Some(cred.pid as u32);
                }
            } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd: RawFd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    libc::close(fd);
                }
            }
            c = libc::CMSG_NXTHDR(&mh, c);
        }
    }
    buf.truncate(n as usize);
    Ok((buf, pid))
}

/// What a dead child left in a pipe (for the error message), without blocking.
fn drain(fd: &OwnedFd) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: fcntl/read on a descriptor we own, into a buffer we own.
    let n = unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
    };
    if n <= 0 {
        return "no output".into();
    }
    String::from_utf8_lossy(&buf[..n as usize]).trim().to_string()
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

// ---- template and environment starts ----

/// Why a template did not start.
enum StartError {
    /// The function's init failed: the error payload its runtime reported.
    Init(bytes::Bytes),
    Other(String),
}

impl From<String> for StartError {
    fn from(s: String) -> Self {
        StartError::Other(s)
    }
}

async fn start_template(req: &Request<'_>) -> Result<Arc<Template>, StartError> {
    let (srv, cli) = seqpacket_pair().map_err(|e| format!("control socket: {e}"))?;
    let mut sb = req.sandbox.clone();
    sb.template = true;
    sb.keep_fds = vec![cli.as_raw_fd()];
    for k in PER_ENV {
        // Credentials are needed by clients made at init (as on AWS); they are set again
        // after the fork, with the environment's own values.
        if !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET") && !k.starts_with("AWS_SESSION") {
            sb.env.remove(*k);
        }
    }
    if crate::runtimes::NODE_RUNTIMES.contains(&req.runtime) {
        let flags = crate::runtimes::NODE_TEMPLATE_FLAGS.iter().map(|f| f.to_string());
        sb.args.splice(0..0, flags);
    }
    sb.env.insert("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "snap-start".into());
    sb.env.insert("NIMBUS_TEMPLATE_FD".into(), cli.as_raw_fd().to_string());
    if isolates(req.host) {
        sb.env.insert("NIMBUS_TEMPLATE_ISOLATE".into(), "1".into());
    }
    let network = match req.network {
        Some(n) => Some(n.create().await?),
        None => None,
    };
    sb.netns = network.as_ref().map(|n| n.netns());
    let cgroup = match sb.cgroup(req.host, &format!("env-{}-tpl-{}", std::process::id(), uuid::Uuid::new_v4().simple())) {
        Ok(c) => c.map(Arc::new),
        Err(e) => return Err(format!("template cgroup: {e}").into()),
    };
    let command = sb.command(req.host, cgroup.as_deref()).map_err(|e| format!("template sandbox: {e}"))?;
    let mut cmd = tokio::process::Command::from(command);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // From the long-lived spawner thread: PR_SET_PDEATHSIG follows the forking thread.
    let spawned = crate::env::spawn_child(cmd).await;
    drop(cli);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            if let Some(cg) = &cgroup {
                cg.kill_all();
                cg.remove();
            }
            return Err(format!("could not start the template: {e}").into());
        }
    };
    // The template's own output (its init phase) goes to the server log.
    for out in [child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>)]
        .into_iter()
        .flatten()
    {
        let label = req.label.to_string();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut out = out;
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = out.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tracing::debug!(target: "nimbus_lambda::function", function = %label, "template: {}", String::from_utf8_lossy(&buf[..n]).trim_end());
            }
        });
    }
    // The sandbox supervisor exits once the template and every environment forked from it
    // are gone (the template's PID 1 lingers); PR_SET_PDEATHSIG ends them all with the server.
    let dead = Arc::new(AtomicBool::new(false));
    let watch_dead = dead.clone();
    let watch_cg = cgroup.clone();
    tokio::spawn(async move {
        let _ = child.wait().await;
        watch_dead.store(true, Ordering::Relaxed);
        if let Some(cg) = watch_cg {
            tokio::task::spawn_blocking(move || {
                cg.kill_all();
                cg.remove();
            });
        }
    });
    let srv = Arc::new(srv);
    let wait_srv = srv.clone();
    let first = tokio::task::spawn_blocking(move || {
        set_timeout(&wait_srv, INIT_LIMIT)?;
        recv_cred(&wait_srv, 0)
    })
    .await
    .map_err(|e| e.to_string())?;
    let fail = |msg: String| -> Result<Arc<Template>, StartError> {
        // Nothing was forked yet: end the whole template sandbox.
        if let Some(cg) = &cgroup {
            cg.kill_all();
        }
        Err(StartError::Other(msg))
    };
    let (msg, pid) = match first {
        Ok(x) => x,
        Err(e) => return fail(format!("the template did not finish init: {e}")),
    };
    if let Some(body) = msg.strip_prefix(b"init-error ") {
        let _ = fail(String::new());
        return Err(StartError::Init(bytes::Bytes::copy_from_slice(body)));
    }
    if msg != b"ready" {
        return fail(format!("unexpected first message from the template: {}", String::from_utf8_lossy(&msg).chars().take(300).collect::<String>()));
    }
    let Some(pid) = pid else { return fail("the template's ready message carried no credentials".into()) };
    if let Some(cg) = &cgroup {
        // The template is idle from now on: the proportional CPU quota applies.
        let _ = cg.limit_cpu();
    }
    let srv = Arc::try_unwrap(srv).map_err(|_| "control socket still shared".to_string())?;
    Ok(Arc::new(Template {
        fingerprint: req.fingerprint.to_string(),
        ctl: Mutex::new(srv),
        pid: AtomicU32::new(pid),
        dead,
        last_used: Mutex::new(Instant::now()),
        cgroup,
        network,
    }))
}

/// Whether environments made from a template get namespaces of their own (the template
/// is told at start, so it clones each one straight into them; each fork's setup says it
/// again).
fn isolates(host: &nimbus_sandbox::Host) -> bool {
    host.mode != nimbus_sandbox::Mode::Off && host.namespaces && host.root
}

/// Forks one environment from `t`.
async fn fork(t: &Arc<Template>, req: &Request<'_>) -> Result<Arc<Env>, String> {
    let isolate = isolates(req.host);
    let seccomp = if isolate && req.host.seccomp {
        hex::encode(nimbus_sandbox::seccomp::to_bytes(&nimbus_sandbox::seccomp::filter()))
    } else {
        String::new()
    };
    let mut per_env: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for k in PER_ENV {
        if let Some(v) = req.sandbox.env.get(*k) {
            per_env.insert(k.to_string(), serde_json::Value::String(v.clone()));
        }
    }
    let tmp_bytes = req.sandbox.tmp_mb * 1024 * 1024;
    let cgroup = req.cgroup.clone();
    let network = t.network.clone();
    let t = t.clone();
    Env::start_adopted(req.label.to_string(), req.log_stream.to_string(), req.cgroup.clone(), req.fingerprint.to_string(), network, move |api| async move {
        per_env.insert("AWS_LAMBDA_RUNTIME_API".into(), serde_json::Value::String(api));
        let cfg = serde_json::json!({"isolate": isolate, "tmp_bytes": tmp_bytes, "seccomp": seccomp, "env": per_env});
        let forked = tokio::task::spawn_blocking(move || fork_blocking(&t, cgroup.as_deref(), cfg))
            .await
            .map_err(|e| e.to_string())??;
        let (pid, pidfd, chan, out, err) = forked;
        let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(out).map_err(|e| e.to_string())?;
        let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(err).map_err(|e| e.to_string())?;
        // SAFETY: the OwnedFd is moved into the AsyncFd, so the descriptor stays open and
        // refers to the same pidfd for the AsyncFd's whole lifetime.
        let pidfd = unsafe { tokio::io::unix::AsyncFd::register(pidfd) }.map_err(|e| e.to_string())?;
        let exited = Box::pin(async move {
            // Readiness can be spurious: the process is gone only when poll(2) says so.
            loop {
                let Ok(mut guard) = pidfd.readable().await else { break };
                let mut pfd = libc::pollfd { fd: pidfd.get_ref().as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: poll(2) on one pollfd we own, without waiting.
                let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                if n > 0 && pfd.revents & libc::POLLIN != 0 {
                    break;
                }
                guard.clear_ready();
            }
            // The environment's supervisor reports how the environment ended before it exits.
            match recv_cred(&chan, libc::MSG_DONTWAIT) {
                Ok((m, _)) => describe_exit(&m),
                Err(_) => "signal: 9 (killed)".to_string(),
            }
        });
        Ok(Adopted { pid, stdout, stderr, exited })
    })
    .await
}

fn describe_exit(m: &[u8]) -> String {
    let s = String::from_utf8_lossy(m);
    if let Some(sig) = s.strip_prefix("signal ").and_then(|v| v.trim().parse::<i32>().ok()) {
        let name = match sig {
            libc::SIGKILL => "killed",
            libc::SIGSEGV => "segmentation fault",
            libc::SIGABRT => "aborted",
            libc::SIGTERM => "terminated",
            _ => "signal",
        };
        return format!("signal: {sig} ({name})");
    }
    if let Some(code) = s.strip_prefix("exit ").and_then(|v| v.trim().parse::<i32>().ok()) {
        return format!("exit status {code}");
    }
    "signal: 9 (killed)".to_string()
}

type Forked = (u32, OwnedFd, OwnedFd, OwnedFd, OwnedFd);

/// The blocking part of a fork: request, hello (pid), cgroup, per-environment values, setup.
fn fork_blocking(t: &Template, cgroup: Option<&nimbus_sandbox::Cgroup>, mut cfg: serde_json::Value) -> Result<Forked, String> {
    if t.dead.load(Ordering::Relaxed) {
        return Err("the template has exited".into());
    }
    let t0 = Instant::now();
    let (chan, child_chan) = seqpacket_pair().map_err(|e| e.to_string())?;
    let (out_r, out_w) = pipe().map_err(|e| e.to_string())?;
    let (err_r, err_w) = pipe().map_err(|e| e.to_string())?;
    set_timeout(&chan, FORK_LIMIT).map_err(|e| e.to_string())?;
    let hello = {
        // The template forks from inside the environment's cgroup, so everything the child
        // ever allocates (its page tables, every page it copies) is charged to the
        // environment, never to the template; then it returns to its own cgroup. One fork
        // at a time.
        let ctl = lock(&t.ctl);
        let tpid = t.pid.load(Ordering::Relaxed);
        if let Some(cg) = cgroup {
            cg.add_pid(tpid).map_err(|e| format!("cannot move the template into the environment's cgroup: {e}"))?;
        }
        let sent = send_fds(&ctl, b"fork", &[child_chan.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()]).map_err(|e| format!("fork request: {e}"));
        let hello = sent.and_then(|()| recv_cred(&chan, 0).map_err(|e| format!("the forked environment did not answer: {e}")));
        if let (Some(_), Some(own)) = (cgroup, &t.cgroup) {
            if let Err(e) = own.add_pid(tpid) {
                t.dead.store(true, Ordering::Relaxed);
                return Err(format!("cannot move the template back into its cgroup: {e}"));
            }
        }
        hello?
    };
    drop((child_chan, out_w, err_w));
    let (hello, pid) = hello;
    let pid = match (hello.as_slice(), pid) {
        (b"hello", Some(p)) => p,
        _ => return Err(format!("unexpected hello from the forked environment: {:?}", String::from_utf8_lossy(&hello))),
    };
    let kill = || {
        // SAFETY: kill(2) with plain integers; `pid` is the process that just said hello
        // on this environment's own channel and leads its own process group.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
            libc::kill(pid as i32, libc::SIGKILL);
        }
    };
    let t_hello = t0.elapsed();
    let pidfd = match pidfd_open(pid) {
        Ok(p) => p,
        Err(e) => {
            kill();
            return Err(format!("pidfd_open: {e}"));
        }
    };
    cfg["host_pid"] = serde_json::Value::from(pid);
    if let Err(e) = send_fds(&chan, cfg.to_string().as_bytes(), &[]) {
        kill();
        return Err(format!("cannot configure the environment: {e}"));
    }
    // The environment says `up` once it runs in its own namespaces with the full filter.
    match recv_cred(&chan, 0) {
        Ok((m, _)) if m == b"up" => {}
        Ok((m, _)) => {
            kill();
            let mut why = String::from_utf8_lossy(&m).into_owned();
            if why.is_empty() {
                why = format!("it exited: {}", drain(&err_r));
            }
            return Err(format!("environment setup failed: {}", why.chars().take(1000).collect::<String>()));
        }
        Err(e) => {
            kill();
            return Err(format!("environment setup did not finish: {e}"));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    tracing::debug!(
        "forked environment {pid}: hello (cgroups and fork) {:.2} ms, up {:.2} ms",
        ms(t_hello),
        ms(t0.elapsed())
    );
    Ok((pid, pidfd, chan, out_r, err_r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_start_settings() {
        assert_eq!(check_snap_start(None, "python3.12").unwrap(), None);
        assert_eq!(check_snap_start(Some("None"), "nodejs20.x").unwrap(), Some("None".into()));
        assert_eq!(check_snap_start(Some("PublishedVersions"), "python3.9").unwrap(), Some("PublishedVersions".into()));
        let e = check_snap_start(Some("PublishedVersions"), "nodejs20.x").unwrap_err();
        assert_eq!(e.code, "InvalidParameterValueException");
        assert_eq!(e.message, "nodejs20.x is not supported for SnapStart enabled functions.");
        assert_eq!(check_snap_start(Some("Sometimes"), "python3.12").unwrap_err().status, 400);
        assert!(!applies(Some("None"), "python3.12"));
        assert!(!applies(None, "provided.al2023"));
    }

    #[test]
    fn exit_reports() {
        assert_eq!(describe_exit(b"exit 3"), "exit status 3");
        assert_eq!(describe_exit(b"signal 9"), "signal: 9 (killed)");
        assert_eq!(describe_exit(b"signal 11"), "signal: 11 (segmentation fault)");
        assert_eq!(describe_exit(b""), "signal: 9 (killed)");
        assert_eq!(describe_exit(b"garbage"), "signal: 9 (killed)");
    }
}
