//! Plain types shared by every Nimbus crate: the request context a service sees, the
//! AWS-shaped error it answers with, ids and time formats. No I/O lives here.

mod error;
mod time_fmt;

pub use error::AwsError;
pub use time_fmt::{epoch_now, format_http_date, format_iso8601, parse_http_date, parse_iso8601};

/// The account used when a request names none (a non-numeric access key id).
pub const DEFAULT_ACCOUNT: &str = "000000000000";
/// The region used when a request names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Who is calling, where, and under which request id: what a service operation needs
/// to know about the request besides its input.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The id returned in `x-amzn-RequestId` / `x-amz-request-id` and error bodies.
    pub request_id: String,
    /// The 12-digit account the request acts in.
    pub account_id: String,
    /// The region from the SigV4 credential scope, or the server default.
    pub region: String,
    /// The access key id the request was signed with, if any.
    pub access_key_id: Option<String>,
    /// Set when the caller used temporary credentials from `sts:AssumeRole`: the
    /// assumed-role ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    pub assumed_role_arn: Option<String>,
}

impl RequestContext {
    /// A context for `account_id`/`region` with a fresh request id.
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        RequestContext {
            request_id: new_request_id(),
            account_id: account_id.into(),
            region: region.into(),
            access_key_id: None,
            assumed_role_arn: None,
        }
    }
}

/// A new request id in AWS's usual form (a UUID).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// True when `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}
