//! # nimbus-s3
//!
//! S3 on the edge port. The edge hands every S3 request here with its body unread
//! ([`nimbus_edge::StreamHandler`]). This crate owns:
//!
//! - the front ([`front`], with [`form`] for POST forms and SigV2 presigned URLs):
//!   authentication with `nimbus-auth` (SigV4 headers, presigned
//!   URLs, `aws-chunked` bodies decoded and verified chunk by chunk while streaming), then
//!   the request is handed to `s3s` as an anonymous, already-decoded request;
//! - the protocol layer: `s3s` (routing, path- and virtual-hosted-style, XML, generated
//!   types; operations not implemented answer `NotImplemented`);
//! - the backend ([`backend`]): buckets and object metadata in `nimbus-store` keyspaces
//!   (`s3.buckets`, `s3.objects` keyed `bucket/key` so listings are range scans in key
//!   order, `s3.uploads`, `s3.parts`), object data in the blob store, streamed to disk;
//! - buckets ([`buckets`]); object versions ([`versions`]): every version and delete marker in `s3.versions`,
//!   the current one mirrored in `s3.objects`, both changed in one batch;
//! - bucket configuration ([`config`]: versioning, tags, policy, ACLs; [`cors`]: CORS
//!   rules and how the front applies them);
//! - object reads, deletes, copies, listings ([`objects`]); multipart uploads ([`multipart`]), UploadPartCopy ([`part_copy`]) and POST Object
//!   forms ([`post`]); what the operations share (checksums, conditionals) in [`common`];
//! - event notifications ([`notify`]).

mod backend;
mod buckets;
mod common;
mod config;
mod cors;
mod form;
mod front;
mod internal;
mod meta;
mod multipart;
mod notify;
mod objects;
mod part_copy;
mod post;
mod versions;

use std::sync::Arc;

use nimbus_edge::{AuthMode, Credentials};
use nimbus_store::Store;

pub use front::S3Front;
pub use internal::ReadError;
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
