//! AWS Signature Version 4 verification (the server side).
//!
//! [`Verifier::verify`] takes the request head (`http::request::Parts`) and the
//! body (or its digest) and returns the authenticated identity and credential
//! scope ([`AuthContext`]) or an [`AuthError`], which maps to the error code
//! and status each AWS protocol family uses ([`AuthError::aws_error`]).
//!
//! Both forms are supported: the `Authorization: AWS4-HMAC-SHA256 ...` header
//! and presigned URLs (`X-Amz-Signature` in the query). S3 uploads in
//! `aws-chunked` encoding are decoded and verified chunk by chunk with
//! [`ChunkedDecoder`] (from [`AuthContext::chunked_decoder`]).
//!
//! ```no_run
//! use std::{collections::HashMap, sync::Arc};
//! use nimbus_auth::{Body, Credential, Verifier};
//!
//! let mut keys = HashMap::new();
//! keys.insert("AKIDEXAMPLE".to_owned(), Credential {
//!     secret_access_key: "secret".into(), account_id: "000000000000".into(), session_token: None,
//! });
//! let verifier = Verifier::new(Arc::new(keys));
//! # let (parts, _) = http::Request::new(()).into_parts();
//! match verifier.verify(&parts, Body::Bytes(b"{}"), false) {
//!     Ok(ctx) => println!("{} in {}", ctx.access_key_id, ctx.scope.region),
//!     Err(e) => println!("{:?}", e.aws_error(nimbus_auth::ProtocolFamily::Json)),
//! }
//! ```

mod canonical;
mod chunked;
mod error;
mod header;
mod presign;
mod signing;
mod time;
mod verify;

pub use chunked::{
    decode_chunked_body, ChunkSigningContext, ChunkedDecoder, DecodedBody, StreamingMode,
    MAX_SIGNED_CHUNK,
};
pub use error::{AuthError, AwsErrorInfo, ProtocolFamily};
pub use header::CredentialScope;
pub use presign::MAX_PRESIGNED_EXPIRES_SECS;
pub use signing::SigningKey;
pub use time::{Clock, FixedClock, SystemClock};
pub use verify::{
    AuthContext, Body, Credential, CredentialProvider, PayloadMode, Verifier, MAX_CLOCK_SKEW,
};
