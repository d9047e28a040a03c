//! # nimbus-s3
//!
//! S3 on the edge port. The edge hands every S3 request here with its body unread
//! ([`nimbus_edge::StreamHandler`]). This crate owns:
//!
//! - the front ([`front`]): authentication with `nimbus-auth` (SigV4 headers, presigned
//!   URLs, `aws-chunked` bodies decoded and verified chunk by chunk while streaming), then
//!   the request is handed to `s3s` as an anonymous, already-decoded request;
//! - the protocol layer: `s3s` (routing, path- and virtual-hosted-style, XML, generated
//!   types; operations not implemented answer `NotImplemented`);
//! - the backend ([`backend`]): buckets and object metadata in `nimbus-store` keyspaces
//!   (`s3.buckets`, `s3.objects` keyed `bucket/key` so listings are range scans in key
//!   order, `s3.uploads`, `s3.parts`), object data in the blob store, streamed to disk.

mod backend;
mod front;
mod meta;
mod notify;

use std::sync::Arc;

use nimbus_edge::{AuthMode, Credentials};
use nimbus_store::Store;

pub use front::S3Front;
pub use notify::EventTarget;
/// The JSON value an [`EventTarget`] receives (`{"Records": [record]}`).
pub use serde_json::Value as EventJson;

/// What the S3 service needs from the binary.
pub struct S3Config {
    /// Region for requests whose signature names none.
    pub region: String,
    /// Account for requests whose access key names none.
    pub account_id: String,
    /// Whether signatures are checked.
    pub auth: AuthMode,
}

/// Builds the S3 service for `Edge::register_s3`.
pub fn service(store: Store, credentials: Arc<dyn Credentials>, config: S3Config) -> Arc<S3Front> {
    Arc::new(S3Front::new(store, credentials, config))
}

/// Who made a request (put into the s3s request extensions by the front).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub account_id: String,
    pub region: String,
    /// The `x-amz-request-id` the front answers with.
    pub request_id: String,
}
