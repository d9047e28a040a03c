//! The front: authenticates a request with `nimbus-auth`, unwraps its body
//! (`aws-chunked` decoding, payload digest checks) as a stream, strips the signature
//! and hands s3s an anonymous request carrying the caller's [`Identity`]. Answers
//! s3s's response as an [`EdgeBody`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use nimbus_auth::{ChunkedDecoder, PayloadMode, ProtocolFamily, StreamingMode, Verifier};
use nimbus_edge::auth::AsProvider;
use nimbus_edge::{AuthMode, BoxError, Credentials, EdgeBody, StreamHandler};
use nimbus_store::Store;
use sha2::{Digest, Sha256};

use crate::backend::Backend;
use crate::form::{fix_error_body, FormStrip, S3sAccess, S3sAuth};
use crate::{Identity, S3Config};

/// Trailers of an `aws-chunked` body (e.g. `x-amz-checksum-crc32`), filled in when the
/// body has been read to its end. Shared through the request extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trailers(pub Arc<Mutex<Vec<(String, String)>>>);

impl Trailers {
    pub fn get(&self, name: &str) -> Option<String> {
        let guard = self.0.lock().ok()?;
        guard
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The largest file a POST Object form may carry (see [`S3Front::new`]).
pub const POST_OBJECT_MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;

/// The S3 service registered with the edge.
pub struct S3Front {
    s3s: s3s::service::S3Service,
    config: S3Config,
    credentials: Arc<dyn Credentials>,
    verifier: Option<Verifier>,
    events: crate::notify::TargetSlot,
    pub(crate) store: Store,
    /// The request backend's twin, for writes from other services ([`crate::internal`]).
    pub(crate) writer: Backend,
}

impl S3Front {
    pub(crate) fn new(store: Store, credentials: Arc<dyn Credentials>, config: S3Config) -> Self {
        let events = crate::notify::TargetSlot::default();
        let backend = Backend::new(store.clone(), events.clone());
        let writer = backend.twin();
        let mut builder = s3s::service::S3ServiceBuilder::new(backend);
        builder.set_host(VirtualHosts);
        // s3s holds a POST Object's file in memory before the write (to check the
        // policy's content-length-range): cap it well below AWS's 5 GB so a form
        // upload cannot exhaust memory; larger ones answer EntityTooLarge.
        let mut s3s_config = s3s::config::S3Config::default();
        s3s_config.post_object_max_file_size = POST_OBJECT_MAX_FILE_SIZE;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3s_config))));
        if config.auth == AuthMode::Sigv4 {
            // Only POST Object forms (their signature is in the form) and SigV2
            // presigned URLs reach s3s signed; every other request is verified here
            // and handed on anonymous.
            builder.set_auth(S3sAuth(credentials.clone()));
            builder.set_access(S3sAccess);
        }
        let verifier = (config.auth == AuthMode::Sigv4)
            .then(|| Verifier::new(credentials.clone().as_provider()));
        S3Front {
            s3s: builder.build(),
            config,
            credentials,
            verifier,
            events,
            store,
            writer,
        }
    }

    /// The CORS rules of the bucket a request addresses (None: no bucket or no rules).
    fn cors_rules(&self, parts: &http::request::Parts) -> Option<Vec<crate::cors::Rule>> {
        let name = bucket_of(parts)?;
        let raw = self.store.get(crate::meta::BUCKETS, name.as_bytes()).ok()??;
        serde_json::from_slice::<crate::meta::BucketMeta>(&raw).ok()?.cors
    }

    /// Sets where event notifications go (once; later calls are ignored). Until it is
    /// set, configurations naming Lambda functions cannot be validated and nothing is sent.
    pub fn set_event_target(&self, target: std::sync::Arc<dyn crate::EventTarget>) {
        let _ = self.events.set(target);
    }

    /// Authenticates and rewrites the request for s3s.
    #[allow(clippy::result_large_err)]
    fn prepare(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        read_all: Arc<AtomicBool>,
    ) -> Result<s3s::HttpRequest, Response<EdgeBody>> {
        let (mut parts, body) = req.into_parts();
        let (scope_key, scope_region) = scope_of(&parts);
        let mut identity = Identity {
            account_id: self.config.account_id.clone(),
            region: self.config.region.clone(),
            request_id: request_id.to_string(),
        };
        if let Some(r) = scope_region.filter(|r| !r.is_empty()) {
            identity.region = r;
        }
        let content_sha = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let decoded_len = parts
            .headers
            .get("x-amz-decoded-content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());

        let mut decoder = None;
        let mut digest = None;
        let form_post = parts.method == http::Method::POST
            && parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
            && !parts.headers.contains_key(http::header::AUTHORIZATION);
        // A SigV2 presigned URL (`aws s3 presign`): nimbus-auth verifies SigV4 only.
        let v2_presigned = !parts.headers.contains_key(http::header::AUTHORIZATION)
            && parts.uri.query().is_some_and(|q| {
                let names: Vec<_> = form_urlencoded::parse(q.as_bytes()).map(|(k, _)| k).collect();
                names.iter().any(|n| n == "AWSAccessKeyId") && names.iter().any(|n| n == "Signature")
            });
        let mut strip = None;
        match &self.verifier {
            // A browser form or a SigV2 presigned URL: s3s checks the signature against
            // our credentials (see `S3sAuth`).
            Some(_) if form_post || v2_presigned => {
                if let Some(key) = &scope_key {
                    identity.account_id = self.credentials.account_of(key, &self.config.account_id);
                }
            }
            None if form_post => {
                // Signatures are not checked: hide the form's signature field from s3s
                // (it would need the client's secret) by renaming it to an ignored field.
                strip = Some(FormStrip::default());
            }
            None => {
                if let Some(key) = &scope_key {
                    if self.credentials.expired(key) {
                        return Err(auth_error(nimbus_auth::AuthError::ExpiredToken));
                    }
                    identity.account_id = self.credentials.account_of(key, &self.config.account_id);
                }
                if let Some(mode) = content_sha
                    .as_deref()
                    .and_then(StreamingMode::from_content_sha256)
                {
                    let _ = mode;
                    // Signatures are not checked: decode every streaming form as unsigned
                    // (chunk-signature extensions are ignored, trailers kept).
                    decoder =
                        ChunkedDecoder::new(StreamingMode::UnsignedTrailer, None, decoded_len).ok();
                }
            }
            Some(verifier) => {
                if let Some(key) = &scope_key {
                    if self.credentials.expired(key) {
                        return Err(auth_error(nimbus_auth::AuthError::ExpiredToken));
                    }
                }
                let ctx = verifier
                    .verify(&parts, nimbus_auth::Body::Deferred, true)
                    .map_err(auth_error)?;
                identity.account_id = ctx.account_id.clone();
                if !ctx.scope.region.is_empty() {
                    identity.region = ctx.scope.region.clone();
                }
                match ctx.payload {
                    PayloadMode::Sha256(d) => digest = Some(d),
                    PayloadMode::Unsigned => {}
                    PayloadMode::Streaming(_) => {
                        decoder = ctx.chunked_decoder();
                        if decoder.is_none() {
                            return Err(error_response(
                                400,
                                "InvalidRequest",
                                "Invalid aws-chunked request.",
                            ));
                        }
                    }
                }
            }
        }

        // Present the request to s3s as anonymous and already decoded.
        parts.headers.remove(http::header::AUTHORIZATION);
        parts.headers.remove("x-amz-content-sha256");
        parts.headers.remove("x-amz-security-token");
        if decoder.is_some() {
            parts.headers.remove("x-amz-decoded-content-length");
            match decoded_len {
                Some(n) => {
                    parts
                        .headers
                        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
                }
                None => {
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                }
            }
            let ce: Vec<String> = parts
                .headers
                .get(http::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && *s != "aws-chunked")
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            parts.headers.remove(http::header::CONTENT_ENCODING);
            if !ce.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&ce.join(",")) {
                    parts.headers.insert(http::header::CONTENT_ENCODING, v);
                }
            }
        }
        if let Some(q) = parts.uri.query() {
            // SigV2 presigned URLs (`aws s3 presign`): the signature is not checked
            // (auth off) or was refused above (sigv4); s3s must not see it either.
            let v2 = self.verifier.is_none() && q.contains("AWSAccessKeyId=");
            if q.contains("X-Amz-") || q.contains("x-amz-") || v2 {
                let kept: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| {
                        !(is_presign_param(k)
                            || v2 && matches!(k.as_ref(), "AWSAccessKeyId" | "Signature" | "Expires"))
                    })
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let mut path_and_query = parts.uri.path().to_string();
                if !kept.is_empty() {
                    path_and_query.push('?');
                    let encoded: Vec<String> = kept
                        .iter()
                        .map(|(k, v)| {
                            if v.is_empty() {
                                enc(k)
                            } else {
                                format!("{}={}", enc(k), enc(v))
                            }
                        })
                        .collect();
                    path_and_query.push_str(&encoded.join("&"));
                }
                let mut uri = http::uri::Parts::default();
                uri.path_and_query = path_and_query.parse().ok();
                if let Ok(u) = http::Uri::from_parts(uri) {
                    parts.uri = u;
                }
            }
        }

        let trailers = Trailers::default();
        parts.extensions.insert(identity);
        parts.extensions.insert(trailers.clone());
        let exact = if decoder.is_some() { decoded_len } else { None };
        if body.is_end_stream() {
            read_all.store(true, Ordering::Relaxed);
        }
        let body = FrontBody {
            read_all,
            inner: body,
            decoder,
            digest: digest.map(|d| (Sha256::new(), d)),
            trailers,
            exact,
            done: false,
            strip,
        };
        Ok(Request::from_parts(
            parts,
            s3s::Body::http_body_unsync(body),
        ))
    }
}

impl StreamHandler for S3Front {
    fn call(
        &self,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<EdgeBody>> + Send + 'static>> {
        // The edge holds us in an Arc for its lifetime; s3s' service is a cheap clone.
        let s3s = self.s3s.clone();
        let request_id = nimbus_types::new_request_id();
        // CORS: preflights are answered from the bucket's rules (browsers do not sign
        // them); other requests with an Origin get the matching rule's headers.
        let (parts, body) = req.into_parts();
        let is_preflight = parts.method == http::Method::OPTIONS;
        let cors = if is_preflight || parts.headers.contains_key(http::header::ORIGIN) {
            self.cors_rules(&parts)
        } else {
            None
        };
        if is_preflight {
            let mut response = match crate::cors::preflight(cors.as_deref(), &parts.headers) {
                Ok(headers) => {
                    let mut r = Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed());
                    r.headers_mut().extend(headers);
                    r
                }
                Err((status, code, message)) => error_response(status, code, message),
            };
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-amz-request-id", v);
            }
            return Box::pin(async move { response });
        }
        let cors_headers = cors
            .as_deref()
            .and_then(|rules| crate::cors::actual(rules, &parts.method, &parts.headers));
        let req = Request::from_parts(parts, body);
        let is_form = req.method() == http::Method::POST
            && req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        // A client that sent `Expect: 100-continue` and got its answer before the body
        // was read (an early error) does not send the body: the connection cannot be
        // reused (hyper would take the next request's first bytes for the body).
        let expects_continue = req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let read_all = Arc::new(AtomicBool::new(false));
        let prepared = self.prepare(req, &request_id, read_all.clone());
        Box::pin(async move {
            let mut response = match prepared {
                Ok(req) => match s3s.call(req).await {
                    Ok(resp) => resp.map(|b| BodyExt::map_err(b, |e| -> BoxError { e }).boxed()),
                    Err(e) => {
                        tracing::warn!("s3 request failed: {e:?}");
                        error_response(
                            500,
                            "InternalError",
                            "We encountered an internal error. Please try again.",
                        )
                    }
                },
                Err(e) => e,
            };
            if response.status() == http::StatusCode::BAD_REQUEST {
                response = fix_error_body(response, is_form).await;
            }
            if let Some(h) = cors_headers {
                response.headers_mut().extend(h);
            }
            if expects_continue && !read_all.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .entry("x-amz-request-id")
                    .or_insert(v.clone());
                response.headers_mut().entry("x-amz-id-2").or_insert(v);
            }
            response
        })
    }
}

fn is_presign_param(k: &str) -> bool {
    matches!(
        k,
        "X-Amz-Algorithm"
            | "X-Amz-Credential"
            | "X-Amz-Date"
            | "X-Amz-Expires"
            | "X-Amz-SignedHeaders"
            | "X-Amz-Signature"
            | "X-Amz-Security-Token"
            | "X-Amz-Content-Sha256"
    )
}

const QUERY_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_ENCODE).to_string()
}

/// The access key id and region a request names (header or presigned query), unverified.
fn scope_of(parts: &http::request::Parts) -> (Option<String>, Option<String>) {
    let credential = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split("Credential=")
                .nth(1)
                .map(|s| s.split([',', ' ']).next().unwrap_or("").to_string())
        })
        .or_else(|| {
            parts.uri.query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "X-Amz-Credential")
                    .map(|(_, v)| v.into_owned())
            })
        });
    match credential {
        Some(c) => {
            let mut it = c.split('/');
            let key = it.next().filter(|k| !k.is_empty()).map(str::to_owned);
            let region = it.nth(1).map(str::to_owned);
            (key, region)
        }
        // A SigV2 presigned URL names its key only (no region).
        None => (
            parts.uri.query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "AWSAccessKeyId")
                    .map(|(_, v)| v.into_owned())
                    .filter(|k| !k.is_empty())
            }),
            None,
        ),
    }
}

fn auth_error(e: nimbus_auth::AuthError) -> Response<EdgeBody> {
    let info = e.aws_error(ProtocolFamily::S3);
    error_response(info.status, info.code, &info.message)
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub(crate) fn error_response(status: u16, code: &str, message: &str) -> Response<EdgeBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
        xml_escape(code),
        xml_escape(message)
    );
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// The request body as s3s sees it: `aws-chunked` decoded (and verified in sigv4
/// mode), the signed payload digest checked at the end.
struct FrontBody {
    /// Set once the client's body has been read to its end.
    read_all: Arc<AtomicBool>,
    inner: Incoming,
    decoder: Option<ChunkedDecoder>,
    digest: Option<(Sha256, [u8; 32])>,
    trailers: Trailers,
    exact: Option<u64>,
    done: bool,
    /// Form POSTs when signatures are not checked (see [`FormStrip`]).
    strip: Option<FormStrip>,
}

#[derive(Debug)]
struct BodyError(String);
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BodyError {}

impl FrontBody {
    fn finish(&mut self) -> Result<(), BoxError> {
        self.done = true;
        if let Some(dec) = &mut self.decoder {
            dec.finish()
                .map_err(|e| Box::new(BodyError(e.to_string())) as BoxError)?;
            if let Ok(mut t) = self.trailers.0.lock() {
                *t = dec.trailers().to_vec();
            }
        }
        if let Some((hasher, want)) = self.digest.take() {
            let got: [u8; 32] = hasher.finalize().into();
            if got != want {
                return Err(Box::new(BodyError("XAmzContentSHA256Mismatch".into())));
            }
        }
        Ok(())
    }
}

impl HttpBody for FrontBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.read_all.store(true, Ordering::Relaxed);
                    if let Some(mut st) = this.strip.take() {
                        let rest = st.flush();
                        if !rest.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(rest))));
                        }
                    }
                    return match this.finish() {
                        Ok(()) => Poll::Ready(None),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Some(dec) = &mut this.decoder {
                        let mut out = Vec::new();
                        if let Err(e) = dec.push(&data, &mut out) {
                            this.done = true;
                            return Poll::Ready(Some(Err(Box::new(BodyError(e.to_string())))));
                        }
                        if out.is_empty() {
                            continue;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                    if let Some((h, _)) = &mut this.digest {
                        h.update(&data);
                    }
                    if let Some(st) = &mut this.strip {
                        match st.push(&data) {
                            Some(out) => {
                                this.strip = None;
                                return Poll::Ready(Some(Ok(Frame::data(out))));
                            }
                            None => continue,
                        }
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match (self.decoder.is_some(), self.exact) {
            (true, Some(n)) => SizeHint::with_exact(n),
            (true, None) => SizeHint::default(),
            (false, _) => self.inner.size_hint(),
        }
    }
}

/// The bucket a request addresses: from a virtual-hosted-style host, else the first
/// path segment.
fn bucket_of(parts: &http::request::Parts) -> Option<String> {
    use s3s::host::S3Host;
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host());
    if let Some(h) = host {
        if let Ok(vh) = VirtualHosts.parse_host_header(h) {
            if let Some(b) = vh.bucket() {
                return Some(b.to_string());
            }
        }
    }
    parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

/// Virtual-hosted-style: `bucket.s3.<anything>` and `bucket.localhost`; every other
/// host (IP addresses, `localhost`, `s3.<region>.amazonaws.com`) is path-style.
struct VirtualHosts;

impl s3s::host::S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let labels: Vec<&str> = name.split('.').collect();
        let vh = s3s::host::VirtualHost::new(host);
        if let Some(i) = labels
            .iter()
            .position(|l| *l == "s3" || l.starts_with("s3-"))
        {
            if i > 0 {
                return Ok(vh.with_bucket(labels[..i].join(".").to_ascii_lowercase()));
            }
            return Ok(vh);
        }
        if labels.len() > 1 && labels.last() == Some(&"localhost") {
            return Ok(vh.with_bucket(labels[..labels.len() - 1].join(".").to_ascii_lowercase()));
        }
        Ok(vh)
    }
}
