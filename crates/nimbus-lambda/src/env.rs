//! Execution environments: one child process per environment, each with its own Lambda
//! Runtime API listener on an ephemeral loopback port (`AWS_LAMBDA_RUNTIME_API`).
//!
//! An invocation is handed to the environment through a channel that the runtime's
//! long-polled `GET /2018-06-01/runtime/invocation/next` reads; the runtime's
//! `/response` or `/error` POST completes it. A watcher task owns the child: it reports
//! the exit status and kills the whole process group when the environment is dropped,
//! so a crashed, hung or discarded function never outlives its environment.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// AWS: 6 MB synchronous response payload.
pub const MAX_RESPONSE: usize = 6 * 1024 * 1024;
/// AWS gives the init phase 10 seconds.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// Bytes of function output kept per invocation (LogType Tail returns the last 4 KB).
const LOG_KEEP: usize = 8 * 1024;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the runtime reported for one invocation.
#[derive(Debug)]
pub enum RuntimeResult {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
    TooLarge(usize),
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    arn: String,
    timeout_ms: u64,
    client_context: Option<String>,
    picked: Option<oneshot::Sender<()>>,
    done: oneshot::Sender<RuntimeResult>,
}

struct Shared {
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<Option<(String, oneshot::Sender<RuntimeResult>)>>,
    init_error: Mutex<Option<(String, Bytes)>>,
    failed: Notify,
    log: Mutex<Vec<u8>>,
    started: Instant,
    init_ms: Mutex<Option<f64>>,
    /// Set by the watcher when the kernel OOM-killed a process of the environment.
    oom: AtomicBool,
    /// Peak memory (MB) read from the cgroup before it was removed.
    peak_mb: AtomicU64,
    /// Until the runtime first asks for an invocation (init done), the environment runs
    /// with burst CPU; then the proportional quota is applied.
    init_cpu: Mutex<Option<Arc<nimbus_sandbox::Cgroup>>>,
}

impl Shared {
    fn new(rx: mpsc::Receiver<Invocation>, cgroup: Option<Arc<nimbus_sandbox::Cgroup>>) -> Arc<Shared> {
        Arc::new(Shared {
            next_rx: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(None),
            init_error: Mutex::new(None),
            failed: Notify::new(),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
            init_ms: Mutex::new(None),
            oom: AtomicBool::new(false),
            peak_mb: AtomicU64::new(0),
            init_cpu: Mutex::new(cgroup),
        })
    }
}

/// A running environment process the server did not spawn (forked from a template).
pub struct Adopted {
    /// Host pid of the environment's top process (it leads its own process group).
    pub pid: u32,
    pub stdout: tokio::net::unix::pipe::Receiver,
    pub stderr: tokio::net::unix::pipe::Receiver,
    /// Resolves, once the process has exited, with how it ended ("exit status 1", ...).
    pub exited: std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>,
}

type SpawnJob = (tokio::process::Command, oneshot::Sender<std::io::Result<tokio::process::Child>>);

/// Spawns `cmd` from one long-lived thread. The sandbox sets `PR_SET_PDEATHSIG`, which the
/// kernel fires when the *thread* that forked the child exits: spawned from tokio's
/// blocking pool, whose idle threads exit after 10 s, an environment (or a template, and
/// every environment forked from it) would be killed mid-invocation.
pub(crate) async fn spawn_child(cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    static SPAWNER: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<SpawnJob>>> = std::sync::OnceLock::new();
    let handle = tokio::runtime::Handle::current();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        let spawned = std::thread::Builder::new().name("nimbus-lambda-spawner".into()).spawn(move || {
            // tokio's Command registers the child with the runtime's reactor.
            let _guard = handle.enter();
            while let Ok((mut cmd, reply)) = rx.recv() {
                let _ = reply.send(cmd.spawn());
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the Lambda spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = oneshot::channel();
    lock(tx).send((cmd, reply_tx)).map_err(|_| std::io::Error::other("the Lambda spawner thread is gone"))?;
    reply_rx.await.unwrap_or_else(|_| Err(std::io::Error::other("the Lambda spawner thread is gone")))
}

/// Moves the function's output into the invocation log buffer.
fn read_output(shared: Arc<Shared>, label: String, out: Box<dyn tokio::io::AsyncRead + Send + Unpin>) {
    tokio::spawn(async move {
        let mut out = out;
        let mut buf = vec![0u8; 8192];
        loop {
            match out.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tracing::debug!(target: "nimbus_lambda::function", function = %label, "{}", String::from_utf8_lossy(&buf[..n]).trim_end());
                    let mut log = lock(&shared.log);
                    log.extend_from_slice(&buf[..n]);
                    if log.len() > LOG_KEEP * 2 {
                        let cut = log.len() - LOG_KEEP;
                        log.drain(..cut);
                    }
                }
            }
        }
    });
}

/// After the environment exited: records OOM kills and peak memory, then removes the cgroup.
fn finish_cgroup(cg: Option<Arc<nimbus_sandbox::Cgroup>>, shared: &Shared) {
    if let Some(cg) = cg {
        if cg.oom_killed() {
            shared.oom.store(true, Ordering::Relaxed);
        }
        if let Some(b) = cg.max_memory_bytes() {
            shared.peak_mb.store(b.div_ceil(1024 * 1024), Ordering::Relaxed);
        }
        tokio::task::spawn_blocking(move || {
            cg.kill_all();
            cg.remove();
        });
    }
}

/// Serves the Runtime API on the environment's own listener.
fn serve_runtime_api(listener: TcpListener, shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(runtime_api(shared, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    })
}

/// How to start an environment: the command (program, args, clean env, cwd and, when
/// isolated, the sandbox hook from `nimbus-sandbox`) and its cgroup.
pub struct Spec {
    pub program: PathBuf,
    pub command: std::process::Command,
    pub cgroup: Option<Arc<nimbus_sandbox::Cgroup>>,
    pub label: String,
    /// The CloudWatch Logs stream this environment writes to.
    pub log_stream: String,
    /// The private network of a VPC function (the Runtime API listens inside it).
    pub network: Option<Arc<crate::vpc::Network>>,
}

pub struct Env {
    pub fingerprint: String,
    /// The CloudWatch Logs stream this environment writes to (one per environment).
    pub log_stream: String,
    tx: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
    exit_rx: watch::Receiver<Option<String>>,
    kill_tx: Mutex<Option<oneshot::Sender<()>>>,
    pid: Option<u32>,
    server: tokio::task::JoinHandle<()>,
    pub last_used: Mutex<Instant>,
    reported_init: AtomicBool,
    broken: AtomicBool,
    cgroup: Option<Arc<nimbus_sandbox::Cgroup>>,
    /// Idle freezing: (invocations started, frozen now). Freezing waits a few ms after an
    /// invocation so back-to-back invocations do not pay a freeze and thaw each (a v1
    /// freezer transition can take tens of ms).
    freeze: Arc<Mutex<(u64, bool)>>,
    /// A VPC function's private network, kept while the environment lives.
    _network: Option<Arc<crate::vpc::Network>>,
}

/// Environments are recycled after this long, busy or not (as AWS does every few
/// hours), well before their role credentials (12 hours) expire.
const MAX_AGE: Duration = Duration::from_secs(4 * 3600);

/// How long an environment stays idle before it is frozen.
const FREEZE_AFTER: Duration = Duration::from_millis(5);

impl Drop for Env {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

pub enum Outcome {
    Ok(Bytes),
    /// A function error: the payload to answer and the error type for logs.
    FunctionError(Bytes),
}

pub struct RunResult {
    pub outcome: Outcome,
    /// The invocation's log: START, output, END, REPORT.
    pub log: Vec<u8>,
}

fn kill_group(pid: u32) {
    if let Ok(p) = i32::try_from(pid) {
        if p > 0 {
            // SAFETY: kill(2) with a negative pid signals the process group we created
            // for this environment (process_group(0) below); no memory is involved.
            unsafe {
                libc::kill(-p, libc::SIGKILL);
            }
        }
    }
}

fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string())
}

impl Env {
    /// Starts the process and its Runtime API listener.
    pub async fn start(spec: Spec, fingerprint: String) -> Result<Arc<Env>, String> {
        let log_stream = spec.log_stream.clone();
        let listener = match &spec.network {
            Some(n) => n.runtime_listener().await?,
            None => TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("cannot bind the Runtime API: {e}"))?,
        };
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let shared = Shared::new(rx, spec.cgroup.clone());
        let cgroup = spec.cgroup.clone();
        let mut cmd = tokio::process::Command::from(spec.command);
        cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // The command's pre_exec hook (nimbus-sandbox) sets PR_SET_PDEATHSIG, so no
        // function process outlives the server, and in isolated modes builds the sandbox.
        // Off the async workers: the sandbox is built between fork and exec, and `spawn`
        // returns only once the function's program has been exec'd.
        let spawn_start = Instant::now();
        let spawned = spawn_child(cmd).await;
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                if let Some(cg) = &cgroup {
                    cg.kill_all();
                    cg.remove();
                }
                return Err(format!("could not start {}: {e}", spec.program.display()));
            }
        };
        let pid = child.id();
        tracing::debug!(function = %spec.label, "environment process started in {:.2} ms", spawn_start.elapsed().as_secs_f64() * 1000.0);
        for out in [child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
                    child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>)]
            .into_iter()
            .flatten()
        {
            read_output(shared.clone(), spec.label.clone(), out);
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let watch_cg = cgroup.clone();
        let watch_shared = shared.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    if let Some(cg) = &watch_cg { cg.thaw().ok(); }
                    if let Some(p) = pid { kill_group(p); }
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Reap anything the function left running in its group (and its cgroup).
            if let Some(p) = pid {
                kill_group(p);
            }
            finish_cgroup(watch_cg, &watch_shared);
            let desc = match status {
                Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                    (Some(c), _) => format!("exit status {c}"),
                    (None, Some(sig)) => format!("signal: {sig} ({})", signal_name(sig)),
                    _ => "exited".to_string(),
                },
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(Some(desc));
        });
        let server = serve_runtime_api(listener, shared.clone());
        Ok(Arc::new(Env {
            fingerprint,
            log_stream,
            freeze: Arc::new(Mutex::new((0, false))),
            tx,
            shared,
            exit_rx,
            kill_tx: Mutex::new(Some(kill_tx)),
            pid,
            server,
            last_used: Mutex::new(Instant::now()),
            reported_init: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            cgroup,
            _network: spec.network,
        }))
    }

    /// Starts an environment whose process the server did not spawn itself (one forked
    /// from a snapshot template): binds the Runtime API listener, then `launch` gets its
    /// `host:port` and returns the running process.
    pub async fn start_adopted<L, F>(
        label: String,
        log_stream: String,
        cgroup: Option<Arc<nimbus_sandbox::Cgroup>>,
        fingerprint: String,
        network: Option<Arc<crate::vpc::Network>>,
        launch: L,
    ) -> Result<Arc<Env>, String>
    where
        L: FnOnce(String) -> F,
        F: std::future::Future<Output = Result<Adopted, String>>,
    {
        let listener = match &network {
            Some(n) => n.runtime_listener().await?,
            None => TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("cannot bind the Runtime API: {e}"))?,
        };
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let shared = Shared::new(rx, cgroup.clone());
        let adopted = launch(format!("127.0.0.1:{port}")).await?;
        let pid = adopted.pid;
        read_output(shared.clone(), label.clone(), Box::new(adopted.stdout));
        read_output(shared.clone(), label, Box::new(adopted.stderr));
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let watch_cg = cgroup.clone();
        let watch_shared = shared.clone();
        let mut exited = adopted.exited;
        tokio::spawn(async move {
            let desc = tokio::select! {
                d = &mut exited => d,
                _ = kill_rx => loop {
                    // The forked environment leads its own process group. A frozen (v1)
                    // task dies only once thawed: repeat until it is gone.
                    if let Some(cg) = &watch_cg { cg.thaw().ok(); }
                    kill_group(pid);
                    if let Ok(d) = tokio::time::timeout(Duration::from_millis(100), &mut exited).await {
                        break d;
                    }
                }
            };
            kill_group(pid);
            finish_cgroup(watch_cg, &watch_shared);
            let _ = exit_tx.send(Some(desc));
        });
        let server = serve_runtime_api(listener, shared.clone());
        Ok(Arc::new(Env {
            fingerprint,
            log_stream,
            freeze: Arc::new(Mutex::new((0, false))),
            tx,
            shared,
            exit_rx,
            kill_tx: Mutex::new(Some(kill_tx)),
            pid: Some(pid),
            server,
            last_used: Mutex::new(Instant::now()),
            reported_init: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            cgroup,
            _network: network,
        }))
    }

    pub fn kill(&self) {
        self.broken.store(true, Ordering::Relaxed);
        // A pending idle freeze must not freeze the dying environment.
        lock(&self.freeze).0 += 1;
        if let Some(cg) = &self.cgroup {
            // A frozen (v1) task cannot die until thawed.
            let _ = cg.thaw();
        }
        if let Some(tx) = lock(&self.kill_tx).take() {
            let _ = tx.send(());
        }
    }

    /// Whether the environment can take another invocation.
    pub fn healthy(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && self.exit_rx.borrow().is_none() && self.shared.started.elapsed() < MAX_AGE
    }

    fn max_memory_mb(&self) -> u64 {
        if let Some(cg) = &self.cgroup {
            if let Some(b) = cg.max_memory_bytes() {
                return b.div_ceil(1024 * 1024);
            }
            return self.shared.peak_mb.load(Ordering::Relaxed);
        }
        let Some(pid) = self.pid else { return 0 };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.div_ceil(1024))
            .unwrap_or(0)
    }

    /// Runs one invocation to completion, timeout or crash.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        request_id: &str,
        arn: &str,
        payload: Bytes,
        client_context: Option<String>,
        timeout_ms: u64,
        memory_mb: i32,
        want_log: bool,
    ) -> RunResult {
        lock(&self.shared.log).clear();
        if let Some(cg) = &self.cgroup {
            let mut state = lock(&self.freeze);
            state.0 += 1;
            if std::mem::replace(&mut state.1, false) {
                if let Err(e) = cg.thaw() {
                    tracing::debug!("thaw failed: {e}");
                }
            }
        }
        let start = Instant::now();
        let (done_tx, done_rx) = oneshot::channel();
        let (picked_tx, picked_rx) = oneshot::channel();
        let inv = Invocation {
            request_id: request_id.to_string(),
            payload,
            arn: arn.to_string(),
            timeout_ms,
            client_context,
            picked: Some(picked_tx),
            done: done_tx,
        };
        let mut exit_rx = self.exit_rx.clone();
        let outcome = if self.tx.send(inv).await.is_err() {
            self.kill();
            Err(Failure::Exit("environment closed".into()))
        } else {
            let timeout = Duration::from_millis(timeout_ms);
            let deadline = async move {
                match tokio::time::timeout(INIT_LIMIT, picked_rx).await {
                    Ok(Ok(())) => tokio::time::sleep(timeout).await,
                    Ok(Err(_)) => std::future::pending::<()>().await,
                    Err(_) => {}
                }
            };
            tokio::select! {
                biased;
                r = done_rx => match r {
                    Ok(r) => Ok(r),
                    Err(_) => Err(Failure::Exit("environment closed".into())),
                },
                _ = self.shared.failed.notified() => Err(Failure::Init),
                e = exit_rx.wait_for(|v| v.is_some()) => {
                    let desc = e.ok().and_then(|v| v.clone()).unwrap_or_default();
                    Err(Failure::Exit(desc))
                }
                _ = deadline => Err(Failure::Timeout),
            }
        };
        let elapsed = start.elapsed();
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let outcome = match outcome {
            Ok(RuntimeResult::Response(b)) => Outcome::Ok(b),
            Ok(RuntimeResult::Error { error_type, body }) => {
                let body = if serde_json::from_slice::<serde_json::Value>(&body).map(|v| v.is_object()).unwrap_or(false) {
                    body
                } else {
                    error_body(&error_type, &String::from_utf8_lossy(&body))
                };
                Outcome::FunctionError(body)
            }
            Ok(RuntimeResult::TooLarge(n)) => Outcome::FunctionError(error_body(
                "Function.ResponseSizeTooLarge",
                &format!("Response payload size ({n} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
            )),
            Err(Failure::Timeout) => {
                self.kill();
                let secs = elapsed.as_secs_f64();
                Outcome::FunctionError(error_body(
                    "Sandbox.Timedout",
                    &format!("{} {request_id} Task timed out after {secs:.2} seconds", nimbus_types::format_iso8601(nimbus_types::epoch_now())),
                ))
            }
            Err(Failure::Init) => {
                self.kill();
                let (error_type, body) = lock(&self.shared.init_error).take().unwrap_or_default();
                let body = if serde_json::from_slice::<serde_json::Value>(&body).map(|v| v.is_object()).unwrap_or(false) {
                    body
                } else {
                    error_body(if error_type.is_empty() { "Runtime.Unknown" } else { &error_type }, &String::from_utf8_lossy(&body))
                };
                Outcome::FunctionError(body)
            }
            Err(Failure::Exit(desc)) => {
                self.kill();
                if self.oom_killed().await {
                    Outcome::FunctionError(error_body(
                        "Runtime.OutOfMemory",
                        &format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
                    ))
                } else if let Some((error_type, body)) = lock(&self.shared.init_error).take() {
                    let _ = error_type;
                    Outcome::FunctionError(body)
                } else {
                    Outcome::FunctionError(error_body(
                        "Runtime.ExitError",
                        &format!("RequestId: {request_id} Error: Runtime exited with error: {desc}"),
                    ))
                }
            }
        };
        if want_log {
            // The function wrote its output to the pipe before it posted its result; give
            // the reader tasks a moment to move it into the buffer.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut log = format!("START RequestId: {request_id} Version: $LATEST\n").into_bytes();
        log.extend_from_slice(&lock(&self.shared.log));
        if !log.ends_with(b"\n") {
            log.push(b'\n');
        }
        let timed_out = !self.healthy() && matches!(&outcome, Outcome::FunctionError(b) if b.windows(15).any(|w| w == b"Task timed out "));
        log.extend_from_slice(format!("END RequestId: {request_id}\n").as_bytes());
        let mut report = format!(
            "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {} MB\t",
            duration_ms.ceil() as u64,
            self.max_memory_mb(),
        );
        if !self.reported_init.swap(true, Ordering::Relaxed) {
            if let Some(init) = *lock(&self.shared.init_ms) {
                report.push_str(&format!("Init Duration: {init:.2} ms\t"));
            }
        }
        report.push('\n');
        log.extend_from_slice(report.as_bytes());
        if timed_out {
            log.extend_from_slice(
                format!(
                    "{} {request_id} Task timed out after {:.2} seconds\n",
                    nimbus_types::format_iso8601(nimbus_types::epoch_now()),
                    elapsed.as_secs_f64()
                )
                .as_bytes(),
            );
        }
        *lock(&self.last_used) = Instant::now();
        if self.healthy() {
            if let Some(cg) = &self.cgroup {
                // Idle until the next invocation: background threads do not run (as on AWS).
                let (cg, freeze) = (cg.clone(), self.freeze.clone());
                let started = lock(&freeze).0;
                tokio::spawn(async move {
                    tokio::time::sleep(FREEZE_AFTER).await;
                    let mut state = lock(&freeze);
                    if state.0 == started && !state.1 {
                        match cg.freeze() {
                            Ok(()) => state.1 = true,
                            Err(e) => tracing::debug!("freeze failed: {e}"),
                        }
                    }
                });
            }
        }
        RunResult { outcome, log }
    }
}

impl Env {
    /// Whether the environment died of the memory limit (asks the watcher, which reads
    /// the cgroup's OOM counter before removing it).
    async fn oom_killed(&self) -> bool {
        if self.cgroup.is_none() {
            return false;
        }
        let mut rx = self.exit_rx.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| v.is_some())).await;
        // The watcher sets the flag before announcing the exit.
        self.shared.oom.load(Ordering::Relaxed)
    }
}

/// For provisioned concurrency: environments initialised ahead of any invocation.
impl Env {
    /// Waits until the runtime finished init (asked for its first invocation). `Err` is
    /// the init error document, or why the environment ended or did not finish in time.
    pub async fn wait_initialised(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if lock(&self.shared.init_ms).is_some() {
                return Ok(());
            }
            if let Some((error_type, body)) = lock(&self.shared.init_error).clone() {
                let body = String::from_utf8_lossy(&body).into_owned();
                return Err(if body.is_empty() { error_type } else { body });
            }
            if let Some(desc) = self.exit_rx.borrow().clone() {
                return Err(format!("Runtime exited with error: {desc}"));
            }
            if Instant::now() >= deadline {
                return Err(format!("init did not finish within {} seconds", limit.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Init ran before any invocation: no REPORT line of this environment carries it.
    pub fn skip_init_report(&self) {
        self.reported_init.store(true, Ordering::Relaxed);
    }
}

enum Failure {
    Timeout,
    Init,
    Exit(String),
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "killed",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGTERM => "terminated",
        _ => "signal",
    }
}

type Resp = Response<Full<Bytes>>;

/// The error a streamed response reported in its trailers: `Lambda-Runtime-Function-Error-Type`
/// and `Lambda-Runtime-Function-Error-Body` (base64 of the error document).
fn streamed_error(trailers: Option<&http::HeaderMap>) -> Option<(String, Bytes)> {
    use base64::Engine as _;
    let t = trailers?;
    let error_type = t.get("lambda-runtime-function-error-type")?.to_str().ok()?.to_string();
    let body = t
        .get("lambda-runtime-function-error-body")
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.as_bytes()).ok())
        .map(Bytes::from)
        .unwrap_or_else(|| error_body(&error_type, "The function's response stream failed."));
    Some((error_type, body))
}

fn reply(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    r
}

fn accepted() -> Resp {
    reply(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
}

fn trace_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    let secs = nimbus_types::epoch_now() as u64;
    format!("Root=1-{secs:08x}-{};Parent={};Sampled=0", &u[..24], &u[16..32])
}

/// The Lambda Runtime API, 2018-06-01.
async fn runtime_api(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(StatusCode::NOT_FOUND, serde_json::json!({"errorMessage": "not found", "errorType": "InvalidRequest"}));
    };
    match (method.as_str(), rest) {
        ("GET", "invocation/next") => {
            {
                let mut init = lock(&shared.init_ms);
                if init.is_none() {
                    *init = Some(shared.started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            if let Some(cg) = lock(&shared.init_cpu).take() {
                if let Err(e) = cg.limit_cpu() {
                    tracing::debug!("cpu limit failed: {e}");
                }
            }
            let inv = {
                let mut rx = shared.next_rx.lock().await;
                rx.recv().await
            };
            let Some(mut inv) = inv else {
                return reply(StatusCode::GONE, serde_json::json!({"errorMessage": "environment is shutting down", "errorType": "Runtime.Shutdown"}));
            };
            let deadline = (nimbus_types::epoch_now() * 1000.0) as u64 + inv.timeout_ms;
            let mut r = Response::new(Full::new(inv.payload.clone()));
            let h = r.headers_mut();
            let mut set = |k: &'static str, v: String| {
                if let Ok(v) = http::HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            };
            set("lambda-runtime-aws-request-id", inv.request_id.clone());
            set("lambda-runtime-deadline-ms", deadline.to_string());
            set("lambda-runtime-invoked-function-arn", inv.arn.clone());
            set("lambda-runtime-trace-id", trace_id());
            set("content-type", "application/json".into());
            if let Some(cc) = &inv.client_context {
                set("lambda-runtime-client-context", cc.clone());
            }
            if let Some(p) = inv.picked.take() {
                let _ = p.send(());
            }
            *lock(&shared.inflight) = Some((inv.request_id, inv.done));
            r
        }
        ("POST", "init/error") => {
            let error_type = req
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Runtime.Unknown")
                .to_string();
            let body = Limited::new(req.into_body(), 1024 * 1024).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            *lock(&shared.init_error) = Some((error_type, body));
            shared.failed.notify_one();
            accepted()
        }
        ("POST", rest) if rest.starts_with("invocation/") => {
            let mut parts = rest["invocation/".len()..].splitn(2, '/');
            let (Some(id), Some(kind)) = (parts.next(), parts.next()) else {
                return reply(StatusCode::NOT_FOUND, serde_json::json!({"errorMessage": "not found", "errorType": "InvalidRequest"}));
            };
            let id = id.to_string();
            let error_type = req
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("Unhandled")
                .to_string();
            let matches = lock(&shared.inflight).as_ref().is_some_and(|(cur, _)| *cur == id);
            if !matches {
                return reply(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID"}),
                );
            }
            let body = Limited::new(req.into_body(), MAX_RESPONSE).collect().await;
            let (result, resp) = match (kind, body) {
                (_, Err(e)) => {
                    let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
                    if !too_large {
                        return reply(StatusCode::BAD_REQUEST, serde_json::json!({"errorMessage": "could not read the body", "errorType": "InvalidRequest"}));
                    }
                    (
                        RuntimeResult::TooLarge(MAX_RESPONSE + 1),
                        reply(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            serde_json::json!({"errorMessage": format!("Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."), "errorType": "RequestEntityTooLarge"}),
                        ),
                    )
                }
                ("response", Ok(b)) => match streamed_error(b.trailers()) {
                    // A streaming-mode response (`Lambda-Runtime-Function-Response-Mode:
                    // streaming`, chunked) reports a mid-stream failure in its trailers.
                    Some((error_type, body)) => (RuntimeResult::Error { error_type, body }, accepted()),
                    None => (RuntimeResult::Response(b.to_bytes()), accepted()),
                },
                ("error", Ok(b)) => (RuntimeResult::Error { error_type, body: b.to_bytes() }, accepted()),
                _ => return reply(StatusCode::NOT_FOUND, serde_json::json!({"errorMessage": "not found", "errorType": "InvalidRequest"})),
            };
            if let Some((_, done)) = lock(&shared.inflight).take() {
                let _ = done.send(result);
            }
            resp
        }
        _ => reply(StatusCode::NOT_FOUND, serde_json::json!({"errorMessage": "not found", "errorType": "InvalidRequest"})),
    }
}
