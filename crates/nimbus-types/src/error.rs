//! The error every service operation returns: AWS's error code, message and status.

use std::borrow::Cow;
use std::fmt;

/// An error as a client sees it. Codecs render it in the caller's protocol
/// (`__type` for awsJson, `x-amzn-ErrorType` for restJson, `<ErrorResponse>` for awsQuery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The AWS error code, e.g. `ResourceNotFoundException`.
    pub code: Cow<'static, str>,
    /// The human-readable message.
    pub message: String,
    /// The HTTP status code.
    pub status: u16,
    /// Whether the caller is at fault (`Sender`) or the service (`Receiver`).
    pub sender_fault: bool,
    /// Extra members of the error shape that JSON protocols put in the body beside the
    /// message (DynamoDB's `CancellationReasons` and `Item`, Lambda's `Reason`).
    pub fields: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl AwsError {
    /// A client-fault error with `status`.
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        AwsError { code: code.into(), message: message.into(), status, sender_fault: status < 500, fields: None }
    }

    /// Adds a member to the error body (JSON protocols).
    pub fn with_field(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.fields.get_or_insert_with(Default::default).insert(name.into(), value);
        self
    }

    /// `ValidationException` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    /// `InternalFailure` (500): something went wrong on our side.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalFailure", message)
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}
