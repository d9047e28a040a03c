//! The load generator: `clients` tasks, each with its own keep-alive HTTP/1.1
//! connection, sending a request as soon as the previous answer arrives, for a fixed
//! time. Latencies go into a shared list; the client does no parsing beyond the status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request to send; `make` may vary it per call (e.g. a fresh key).
pub struct Spec {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub make_body: Arc<dyn Fn(u64) -> Bytes + Send + Sync>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
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
            let mut errors = 0u64;
            let mut n: u64 = (client as u64) << 40;
            'reconnect: while Instant::now() < deadline {
                let Ok(stream) = TcpStream::connect(&addr).await else {
                    errors += 1;
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
                    let mut builder = Request::builder().method(spec.method.clone()).uri(&spec.path).header("host", &addr);
                    for (k, v) in &spec.headers {
                        builder = builder.header(k, v);
                    }
                    let Ok(req) = builder.body(Full::new((spec.make_body)(n))) else {
                        errors += 1;
                        continue;
                    };
                    n += 1;
                    let t = Instant::now();
                    match sender.send_request(req).await {
                        Ok(resp) => {
                            let ok = resp.status().is_success();
                            let close = resp.headers().get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                            let _ = resp.into_body().collect().await;
                            latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            if !ok {
                                errors += 1;
                            }
                            if close {
                                continue 'reconnect;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            continue 'reconnect;
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        all[((all.len() as f64 - 1.0) * p).round() as usize] as f64
    };
    Measured { ops_per_s: all.len() as f64 / elapsed, p50_us: pct(0.50), p99_us: pct(0.99), errors }
}

/// One request, for setup steps; answers (status, body).
pub async fn once(addr: &str, method: Method, path: &str, headers: &[(String, String)], body: Bytes) -> Result<(u16, Bytes), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut builder = Request::builder().method(method).uri(path).header("host", addr);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let req = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body))
}
