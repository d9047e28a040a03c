//! The load generator: `clients` tasks, each with its own keep-alive HTTP/1.1
//! connection, sending a request as soon as the previous answer arrives, for a fixed
//! time. Latencies go into a shared list. Every answer is checked (status and, where the
//! workload says how, the body), so a fast wrong answer counts as an error, not as speed.
//!
//! Also [`Client`]: one keep-alive connection for setup steps and single timed requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Checks one answer: (request number, status, headers, body) → correct?
pub type Check = Arc<dyn Fn(u64, u16, &HeaderMap, &[u8]) -> bool + Send + Sync>;

/// One request to send; `make_path`/`make_body` may vary it per call (e.g. a fresh key).
pub struct Spec {
    pub method: Method,
    pub make_path: Arc<dyn Fn(u64) -> String + Send + Sync>,
    pub headers: Vec<(String, String)>,
    pub make_body: Arc<dyn Fn(u64) -> Bytes + Send + Sync>,
    /// Whether a 2xx answer is also the right one; `None`: any 2xx is right.
    pub check: Option<Check>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Failed requests plus wrong answers.
    pub errors: u64,
    /// Of `errors`: answers that arrived (2xx) but were wrong.
    pub wrong: u64,
    /// The first failure seen, to say in the notes why errors happened.
    pub first_error: Option<String>,
}

/// Percentile `p` (0..1) of sorted latencies.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64
}

/// Sends `spec` from `clients` connections to `addr` for `duration`.
pub async fn run(addr: &str, spec: Arc<Spec>, clients: usize, duration: Duration) -> Measured {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let addr = addr.to_string();
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            let (mut errors, mut wrong, mut first_error) = (0u64, 0u64, None::<String>);
            let mut n: u64 = (client as u64) << 40;
            'reconnect: while Instant::now() < deadline {
                let Ok(stream) = TcpStream::connect(&addr).await else {
                    errors += 1;
                    first_error.get_or_insert_with(|| "connect failed".into());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let Ok((mut sender, conn)) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await else {
                    errors += 1;
                    continue;
                };
                tokio::spawn(conn);
                while Instant::now() < deadline {
                    // A server that closes idle connections (moto does after every answer)
                    // costs a reconnect, not an error.
                    if sender.ready().await.is_err() {
                        continue 'reconnect;
                    }
                    let mut builder = Request::builder().method(spec.method.clone()).uri((spec.make_path)(n)).header("host", &addr);
                    for (k, v) in &spec.headers {
                        builder = builder.header(k, v);
                    }
                    let Ok(req) = builder.body(Full::new((spec.make_body)(n))) else {
                        errors += 1;
                        continue;
                    };
                    let this = n;
                    n += 1;
                    let t = Instant::now();
                    match sender.send_request(req).await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let close = resp.headers().get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                            let (parts, body) = resp.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes());
                            latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            match body {
                                Ok(body) if (200..300).contains(&status) => {
                                    if let Some(check) = &spec.check {
                                        if !check(this, status, &parts.headers, &body) {
                                            errors += 1;
                                            wrong += 1;
                                            first_error.get_or_insert_with(|| format!("wrong answer: {}", snippet(&body)));
                                        }
                                    }
                                }
                                Ok(body) => {
                                    errors += 1;
                                    first_error.get_or_insert_with(|| format!("{status}: {}", snippet(&body)));
                                }
                                Err(e) => {
                                    errors += 1;
                                    first_error.get_or_insert_with(|| format!("body: {e}"));
                                    continue 'reconnect;
                                }
                            }
                            if close {
                                continue 'reconnect;
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| e.to_string());
                            continue 'reconnect;
                        }
                    }
                }
            }
            (latencies, errors, wrong, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut m = Measured::default();
    for t in tasks {
        if let Ok((l, e, w, f)) = t.await {
            all.extend(l);
            m.errors += e;
            m.wrong += w;
            if m.first_error.is_none() {
                m.first_error = f;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    m.ops_per_s = all.len() as f64 / elapsed;
    m.p50_us = percentile(&all, 0.50);
    m.p99_us = percentile(&all, 0.99);
    m
}

/// The start of a body, for error notes.
pub fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(160)]).replace(['\n', '\r', '|'], " ");
    s.trim().to_string()
}

/// An answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One keep-alive connection that reconnects when the server closes it.
pub struct Client {
    addr: String,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client { addr: addr.to_string(), sender: None }
    }

    async fn connect(&mut self) -> Result<&mut http1::SendRequest<Full<Bytes>>, String> {
        if let Some(s) = &mut self.sender {
            if s.ready().await.is_ok() {
                // Re-borrow to satisfy the borrow checker across the early return.
                return self.sender.as_mut().ok_or_else(|| "no connection".to_string());
            }
        }
        let stream = TcpStream::connect(&self.addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(self.sender.insert(sender))
    }

    /// Sends one request; answers it and how long the request took on the wire (the
    /// connection is made before the clock starts).
    pub async fn send(&mut self, method: Method, path: &str, headers: &[(String, String)], body: Bytes) -> Result<(Answer, Duration), String> {
        let addr = self.addr.clone();
        let sender = self.connect().await?;
        let mut builder = Request::builder().method(method).uri(path).header("host", &addr);
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let req = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let result = async {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>(Answer { status, headers: parts.headers, body })
        }
        .await;
        let took = t.elapsed();
        match result {
            Ok(a) => {
                if a.headers.get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")) {
                    self.sender = None;
                }
                Ok((a, took))
            }
            Err(e) => {
                self.sender = None;
                Err(e)
            }
        }
    }
}

/// One request on a fresh connection, for setup steps; answers (status, body).
pub async fn once(addr: &str, method: Method, path: &str, headers: &[(String, String)], body: Bytes) -> Result<(u16, Bytes), String> {
    let (a, _) = Client::new(addr).send(method, path, headers, body).await?;
    Ok((a.status, a.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every request with 200 and the body `no`.
    async fn wrong_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = sock.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            if sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno").await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_fast_wrong_answer_counts_as_an_error() {
        let addr = wrong_server().await;
        let check: Check = Arc::new(|_, _, _, body| body == b"ok");
        let spec = Arc::new(Spec { method: Method::GET, make_path: Arc::new(|n| format!("/{n}")), headers: vec![], make_body: Arc::new(|_| Bytes::new()), check: Some(check) });
        let m = run(&addr, spec, 2, Duration::from_millis(200)).await;
        assert!(m.ops_per_s > 0.0);
        assert!(m.errors > 0 && m.errors == m.wrong, "{m:?}");
        assert_eq!(m.first_error.as_deref(), Some("wrong answer: no"));
    }

    #[test]
    fn percentiles_of_sorted_latencies() {
        let l: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&l, 0.5), 51.0);
        assert_eq!(percentile(&l, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
