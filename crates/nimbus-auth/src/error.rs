//! The one error type of SigV4 verification, and its mapping to the error
//! codes and HTTP statuses each AWS protocol family answers with.

/// Why a request was not authenticated.
///
/// The `Display` text is the message AWS's JSON/query services send; S3 uses
/// its own wording for some of them, see [`AuthError::aws_error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing Authentication Token
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,

    /// The Authorization header lacks a required part; the text says which
    /// (e.g. "Authorization header requires 'Signature' parameter.").
    #[error("{0}")]
    IncompleteSignature(String),

    /// The presigned-URL query parameters are missing or malformed; the text
    /// says which.
    #[error("{0}")]
    MalformedPresignedQuery(String),

    /// The credential scope is not `date/region/service/aws4_request`, or its
    /// date is not the request's date; the text says how.
    #[error("{0}")]
    InvalidCredentialScope(String),

    /// The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.
    #[error("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")]
    UnsupportedAlgorithm,

    /// Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")]
    MultipleAuthMechanisms,

    /// Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.
    #[error(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )]
    MissingDate,

    /// The security token included in the request is invalid.
    /// (AWS's UnrecognizedClientException text for an unknown access key.)
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,

    /// The security token included in the request is invalid.
    /// (The credential needs a session token and the request's is missing or
    /// different, or the request carries one the credential does not have.)
    #[error("The security token included in the request is invalid.")]
    InvalidSecurityToken,

    /// The security token included in the request is expired
    #[error("The security token included in the request is expired")]
    ExpiredToken,

    /// The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,

    /// Signature expired: {request_time} is now earlier than {earliest} ({now} - 15 min.)
    #[error("Signature expired: {request_time} is now earlier than {earliest} ({now} - 15 min.)")]
    SignatureExpired {
        /// The request's timestamp, `YYYYMMDDTHHMMSSZ`.
        request_time: String,
        /// The oldest timestamp still accepted.
        earliest: String,
        /// The server clock.
        now: String,
    },

    /// Signature not yet current: {request_time} is still later than {latest} ({now} + 15 min.)
    #[error(
        "Signature not yet current: {request_time} is still later than {latest} ({now} + 15 min.)"
    )]
    SignatureNotYetCurrent {
        /// The request's timestamp, `YYYYMMDDTHHMMSSZ`.
        request_time: String,
        /// The newest timestamp still accepted.
        latest: String,
        /// The server clock.
        now: String,
    },

    /// Request has expired
    #[error("Request has expired")]
    PresignedUrlExpired,

    /// The provided 'x-amz-content-sha256' header must be a valid SHA256.
    #[error("The provided 'x-amz-content-sha256' header must be a valid SHA256.")]
    InvalidContentSha256,

    /// Missing required header for this request: x-amz-content-sha256
    #[error("Missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,

    /// The provided 'x-amz-content-sha256' header does not match what was computed.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,

    /// The chunk signature we calculated does not match the signature you provided.
    #[error("The chunk signature we calculated does not match the signature you provided.")]
    ChunkSignatureMismatch,

    /// The aws-chunked body is malformed; the text says where.
    #[error("Malformed aws-chunked body: {0}")]
    MalformedChunk(String),

    /// The request body ended before the final chunk (or its trailers).
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    IncompleteBody,
}

/// Which family of AWS wire protocol the error will be rendered in; they use
/// different codes (and statuses) for the same failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolFamily {
    /// awsJson1.0/1.1 and restJson1 services (DynamoDB, Lambda, SQS-json, ...).
    Json,
    /// awsQuery/ec2Query services (STS, IAM, SNS, ...).
    Query,
    /// S3 (restXml with S3's own error codes).
    S3,
}

/// An AWS error code, HTTP status and message for one [`AuthError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsErrorInfo {
    /// The code, e.g. `InvalidSignatureException` or `SignatureDoesNotMatch`.
    pub code: &'static str,
    /// The HTTP status to answer with.
    pub status: u16,
    /// The message text.
    pub message: String,
}

impl AuthError {
    /// The error code, HTTP status and message AWS answers with for this
    /// failure in the given protocol family.
    pub fn aws_error(&self, family: ProtocolFamily) -> AwsErrorInfo {
        use AuthError::*;
        use ProtocolFamily::*;
        let own = self.to_string();
        let (code, status, message): (&'static str, u16, String) = match (family, self) {
            // DynamoDB & co. word it differently from API Gateway's bare
            // "Missing Authentication Token".
            (Json, MissingAuthenticationToken) => (
                "MissingAuthenticationTokenException",
                400,
                "Request is missing Authentication Token".into(),
            ),
            (Query, MissingAuthenticationToken) => (
                "MissingAuthenticationToken",
                403,
                "Request is missing Authentication Token".into(),
            ),
            // S3 treats an unsigned request as anonymous; anonymous is denied.
            (S3, MissingAuthenticationToken) => ("AccessDenied", 403, "Access Denied".into()),

            (Json, IncompleteSignature(_) | MalformedPresignedQuery(_) | MissingDate) => {
                ("IncompleteSignatureException", 400, own)
            }
            (Query, IncompleteSignature(_) | MalformedPresignedQuery(_) | MissingDate) => {
                ("IncompleteSignature", 400, own)
            }
            (S3, IncompleteSignature(_)) => ("AuthorizationHeaderMalformed", 400, own),
            (S3, MalformedPresignedQuery(_)) => ("AuthorizationQueryParametersError", 400, own),
            (S3, MissingDate) => (
                "AccessDenied",
                403,
                "AWS authentication requires a valid Date or x-amz-date header".into(),
            ),

            (Json, InvalidCredentialScope(_)) => ("InvalidSignatureException", 400, own),
            (Query, InvalidCredentialScope(_)) => ("SignatureDoesNotMatch", 403, own),
            (S3, InvalidCredentialScope(_)) => ("AuthorizationHeaderMalformed", 400, own),

            (Json, UnsupportedAlgorithm) => ("IncompleteSignatureException", 400, own),
            (Query, UnsupportedAlgorithm) => ("IncompleteSignature", 400, own),
            (S3, UnsupportedAlgorithm) => ("InvalidRequest", 400, own),

            (Json, MultipleAuthMechanisms) => ("InvalidSignatureException", 400, own),
            (Query, MultipleAuthMechanisms) => ("InvalidParameterCombination", 400, own),
            (S3, MultipleAuthMechanisms) => ("InvalidArgument", 400, own),

            (Json, UnknownAccessKey | InvalidSecurityToken) => ("UnrecognizedClientException", 400, own),
            (Query, UnknownAccessKey | InvalidSecurityToken) => ("InvalidClientTokenId", 403, own),
            (S3, UnknownAccessKey) => (
                "InvalidAccessKeyId",
                403,
                "The AWS Access Key Id you provided does not exist in our records.".into(),
            ),
            (S3, InvalidSecurityToken) => (
                "InvalidToken",
                400,
                "The provided token is malformed or otherwise invalid.".into(),
            ),

            (Json, ExpiredToken) => ("ExpiredTokenException", 400, own),
            (Query, ExpiredToken) => ("ExpiredToken", 403, own),
            (S3, ExpiredToken) => ("ExpiredToken", 400, "The provided token has expired.".into()),

            (Json, SignatureMismatch | ChunkSignatureMismatch) => ("InvalidSignatureException", 400, own),
            (Query, SignatureMismatch | ChunkSignatureMismatch) => ("SignatureDoesNotMatch", 403, own),
            (S3, SignatureMismatch | ChunkSignatureMismatch) => (
                "SignatureDoesNotMatch",
                403,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
            ),

            (Json, SignatureExpired { .. } | SignatureNotYetCurrent { .. }) => {
                ("InvalidSignatureException", 400, own)
            }
            (Query, SignatureExpired { .. } | SignatureNotYetCurrent { .. }) => {
                ("SignatureDoesNotMatch", 403, own)
            }
            (S3, SignatureExpired { .. } | SignatureNotYetCurrent { .. }) => (
                "RequestTimeTooSkewed",
                403,
                "The difference between the request time and the current time is too large.".into(),
            ),

            (Json, PresignedUrlExpired) => ("InvalidSignatureException", 400, own),
            (Query, PresignedUrlExpired) => ("SignatureDoesNotMatch", 403, own),
            (S3, PresignedUrlExpired) => ("AccessDenied", 403, own),

            (Json, InvalidContentSha256 | ContentSha256Mismatch | MissingContentSha256) => {
                ("InvalidSignatureException", 400, own)
            }
            (Query, InvalidContentSha256 | ContentSha256Mismatch | MissingContentSha256) => {
                ("SignatureDoesNotMatch", 403, own)
            }
            (S3, InvalidContentSha256) => ("InvalidArgument", 400, own),
            (S3, MissingContentSha256) => ("InvalidRequest", 400, own),
            (S3, ContentSha256Mismatch) => ("XAmzContentSHA256Mismatch", 400, own),

            (Json | Query, MalformedChunk(_) | IncompleteBody) => ("SerializationException", 400, own),
            (S3, MalformedChunk(_)) => ("InvalidRequest", 400, own),
            (S3, IncompleteBody) => ("IncompleteBody", 400, own),
        };
        AwsErrorInfo {
            code,
            status,
            message,
        }
    }
}
