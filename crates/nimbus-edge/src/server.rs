//! The listener: HTTP/1.1 and HTTP/2 (h2c) on one port, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use nimbus_protocol::{error, Wire};
use nimbus_types::{new_request_id, AwsError};
use tokio::net::TcpListener;

use crate::classify::{classify, Scope, Target};
use crate::{is_form, Edge};

/// An error inside a response body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every edge response: whole for most services, streamed for S3.
pub type EdgeBody = BoxBody<Bytes, BoxError>;

/// A service that takes requests with their bodies unread (S3 streams objects that
/// can be many GB, so they are never collected in memory).
pub trait StreamHandler: Send + Sync + 'static {
    fn call(&self, req: Request<Incoming>) -> nimbus_protocol::BoxFuture<'static, Response<EdgeBody>>;
}

fn whole(b: Bytes) -> EdgeBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// Serves `edge` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (for up to 30 s) before returning.
pub async fn serve(listener: TcpListener, edge: Arc<Edge>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let edge = edge.clone();
                let service = service_fn(move |req| {
                    let edge = edge.clone();
                    async move { Ok::<_, Infallible>(answer(&edge, req).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
}

/// Whether a request is for S3, decided before its body is read: an awsQuery
/// request (a form POST) never is. A presigned PUT may carry any content type.
fn is_s3(parts: &http::request::Parts) -> bool {
    if parts.method == http::Method::POST && is_form(parts) {
        return false;
    }
    let action = parts
        .uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "Action").map(|(_, v)| v.into_owned()));
    matches!(classify(parts, action.as_deref(), Scope::of(parts).as_ref()), Target::S3)
}

async fn answer(edge: &Edge, req: Request<Incoming>) -> Response<EdgeBody> {
    if let Some(s3) = &edge.s3 {
        let (parts, body) = req.into_parts();
        if is_s3(&parts) {
            return s3.call(Request::from_parts(parts, body)).await;
        }
        return collected(edge, Request::from_parts(parts, body)).await;
    }
    collected(edge, req).await
}

async fn collected(edge: &Edge, req: Request<Incoming>) -> Response<EdgeBody> {
    let (parts, body) = req.into_parts();
    let limit = edge.config().max_body_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
            let err = if too_large {
                AwsError::new(413, "RequestEntityTooLargeException", format!("Request must be smaller than {limit} bytes."))
            } else {
                AwsError::new(400, "IncompleteBody", "The request body could not be read.")
            };
            let wire = if parts.headers.contains_key("x-amz-target") { Wire::Json } else { Wire::RestJson };
            let response = error::render(wire, None, &err, &new_request_id());
            return response.map(whole);
        }
    };
    edge.handle(parts, body).await.map(whole)
}
