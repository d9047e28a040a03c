//! Authorization-header SigV4: requests signed by aws-sigv4, verified by us.

mod common;

use std::time::Duration;

use aws_sigv4::http_request::SignableBody;
use common::*;
use nimbus_auth::{AuthError, Body, PayloadMode, ProtocolFamily};

const DDB_BODY: &[u8] = br#"{"TableName":"orders","Key":{"id":{"S":"caf\u00e9 #1"}}}"#;

fn ddb_request(opts: &Opts<'_>) -> http::request::Parts {
    signed_parts(
        "POST",
        "https://dynamodb.us-east-1.amazonaws.com/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ("user-agent", "aws-sdk-rust/1.0 os/linux"),
        ],
        opts,
    )
}

#[test]
fn json_post_with_body_verifies() {
    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    let parts = ddb_request(&opts);
    let ctx = verifier()
        .verify(&parts, Body::Bytes(DDB_BODY), false)
        .expect("verifies");
    assert_eq!(ctx.access_key_id, AKID);
    assert_eq!(ctx.account_id, ACCOUNT);
    assert_eq!(ctx.session_token, None);
    assert_eq!(ctx.scope.date, "20261122");
    assert_eq!(ctx.scope.region, "us-east-1");
    assert_eq!(ctx.scope.service, "dynamodb");
    assert!(!ctx.presigned);
    assert!(matches!(ctx.payload, PayloadMode::Sha256(_)));
    assert_eq!(ctx.amz_date(), "20261122T120000Z");

    // The body digest may also be handed over precomputed.
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(DDB_BODY).into();
    verifier()
        .verify(&parts, Body::Sha256(digest), false)
        .expect("verifies by digest");
    // Second verification hits the signing-key cache and still agrees.
    verifier()
        .verify(&parts, Body::Bytes(DDB_BODY), false)
        .expect("again");
}

#[test]
fn tampered_body_or_header_is_refused() {
    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    let parts = ddb_request(&opts);
    let v = verifier();
    assert_eq!(
        v.verify(&parts, Body::Bytes(b"{}"), false).unwrap_err(),
        AuthError::SignatureMismatch
    );

    let mut p = parts.clone();
    set_header(&mut p, "x-amz-target", "DynamoDB_20120810.DeleteItem");
    assert_eq!(
        v.verify(&p, Body::Bytes(DDB_BODY), false).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // Unsigned headers (user-agent is excluded by the signer) may change.
    let mut p = parts.clone();
    set_header(&mut p, "user-agent", "something else");
    v.verify(&p, Body::Bytes(DDB_BODY), false)
        .expect("unsigned header change is fine");

    // Whitespace in signed header values is canonicalised away.
    let mut p = parts.clone();
    set_header(&mut p, "x-amz-target", "  DynamoDB_20120810.GetItem  ");
    v.verify(&p, Body::Bytes(DDB_BODY), false).expect("trimmed");
}

#[test]
fn wrong_secret_unknown_key_and_errors_map() {
    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    opts.secret = "not-the-secret";
    let e = verifier()
        .verify(&ddb_request(&opts), Body::Bytes(DDB_BODY), false)
        .unwrap_err();
    assert_eq!(e, AuthError::SignatureMismatch);
    let j = e.aws_error(ProtocolFamily::Json);
    assert_eq!((j.code, j.status), ("InvalidSignatureException", 400));
    assert_eq!(j.message, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
    let q = e.aws_error(ProtocolFamily::Query);
    assert_eq!((q.code, q.status), ("SignatureDoesNotMatch", 403));
    let s = e.aws_error(ProtocolFamily::S3);
    assert_eq!((s.code, s.status), ("SignatureDoesNotMatch", 403));

    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    opts.akid = "AKIDUNKNOWN";
    let e = verifier()
        .verify(&ddb_request(&opts), Body::Bytes(DDB_BODY), false)
        .unwrap_err();
    assert_eq!(e, AuthError::UnknownAccessKey);
    assert_eq!(
        e.to_string(),
        "The security token included in the request is invalid."
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::Json).code,
        "UnrecognizedClientException"
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::Query).code,
        "InvalidClientTokenId"
    );
    assert_eq!(e.aws_error(ProtocolFamily::S3).code, "InvalidAccessKeyId");
    assert_eq!(e.aws_error(ProtocolFamily::S3).status, 403);
}

#[test]
fn stale_and_future_dates_are_refused() {
    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    opts.time = t0() - Duration::from_secs(20 * 60);
    let e = verifier()
        .verify(&ddb_request(&opts), Body::Bytes(DDB_BODY), false)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Signature expired: 20261122T114000Z is now earlier than 20261122T114500Z (20261122T120000Z - 15 min.)"
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::Json).code,
        "InvalidSignatureException"
    );
    let s3 = e.aws_error(ProtocolFamily::S3);
    assert_eq!((s3.code, s3.status), ("RequestTimeTooSkewed", 403));

    opts.time = t0() + Duration::from_secs(20 * 60);
    let e = verifier()
        .verify(&ddb_request(&opts), Body::Bytes(DDB_BODY), false)
        .unwrap_err();
    assert!(
        matches!(e, AuthError::SignatureNotYetCurrent { .. }),
        "{e:?}"
    );

    // 14 minutes either way is within the window.
    for t in [
        t0() - Duration::from_secs(14 * 60),
        t0() + Duration::from_secs(14 * 60),
    ] {
        opts.time = t;
        verifier()
            .verify(&ddb_request(&opts), Body::Bytes(DDB_BODY), false)
            .expect("within skew");
    }
}

#[test]
fn session_token_must_match() {
    let mut opts = Opts::new("sqs", false);
    opts.akid = TEMP_AKID;
    opts.secret = TEMP_SECRET;
    opts.token = Some(TOKEN);
    let url = "https://sqs.us-east-1.amazonaws.com/?Action=ListQueues&Version=2012-11-05";
    let parts = signed_parts("GET", url, &[], &opts);
    assert_eq!(parts.headers["x-amz-security-token"], TOKEN);
    let ctx = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .expect("verifies");
    assert_eq!(ctx.session_token.as_deref(), Some(TOKEN));
    assert_eq!(ctx.access_key_id, TEMP_AKID);

    // Temporary key signed without its token.
    opts.token = None;
    let parts = signed_parts("GET", url, &[], &opts);
    assert_eq!(
        verifier()
            .verify(&parts, Body::Bytes(b""), false)
            .unwrap_err(),
        AuthError::InvalidSecurityToken
    );

    // With another token.
    opts.token = Some("some-other-token");
    let parts = signed_parts("GET", url, &[], &opts);
    let e = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .unwrap_err();
    assert_eq!(e, AuthError::InvalidSecurityToken);
    assert_eq!(
        e.aws_error(ProtocolFamily::Query).code,
        "InvalidClientTokenId"
    );

    // A long-term key presenting a token.
    let mut opts = Opts::new("sqs", false);
    opts.token = Some(TOKEN);
    let parts = signed_parts("GET", url, &[], &opts);
    assert_eq!(
        verifier()
            .verify(&parts, Body::Bytes(b""), false)
            .unwrap_err(),
        AuthError::InvalidSecurityToken
    );
}

/// Path with spaces, an encoded slash, unicode, `+`, parentheses and dot
/// segments; query with spaces, `=`/`&` in values, unicode, repeated keys,
/// an empty value and a bare key.
const AWKWARD_PATH: &str =
    "/2015-03-31/functions/my%20fn/a%2Fb/caf%C3%A9/x%2By/%28v1%29/./sub/../tail";
const AWKWARD_QUERY: &str =
    "q=a%20b%3Dc%26d&name=%E6%97%A5%E6%9C%AC&tag=2&tag=1&Tag=0&empty=&flag&star=%2A&tilde=~";

#[test]
fn awkward_get_non_s3() {
    let opts = Opts::new("lambda", false);
    let url = format!("https://lambda.us-east-1.amazonaws.com{AWKWARD_PATH}?{AWKWARD_QUERY}");
    let parts = signed_parts("GET", &url, &[], &opts);
    let ctx = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .expect("verifies");
    assert_eq!(ctx.scope.service, "lambda");
    // The same request checked with S3 rules canonicalises differently.
    assert_eq!(
        verifier()
            .verify(&parts, Body::Bytes(b""), true)
            .unwrap_err(),
        AuthError::SignatureMismatch
    );

    // Reordering the query on the wire changes nothing (canonical sort).
    let mut p = parts.clone();
    set_uri(&mut p, &format!("{AWKWARD_PATH}?flag&tag=1&Tag=0&tag=2&empty=&name=%E6%97%A5%E6%9C%AC&q=a%20b%3Dc%26d&tilde=~&star=%2A"));
    verifier()
        .verify(&p, Body::Bytes(b""), false)
        .expect("query order is irrelevant");

    // But changing a value does.
    let mut p = parts.clone();
    set_uri(
        &mut p,
        &format!("{AWKWARD_PATH}?{}", AWKWARD_QUERY.replace("tag=2", "tag=3")),
    );
    assert_eq!(
        verifier().verify(&p, Body::Bytes(b""), false).unwrap_err(),
        AuthError::SignatureMismatch
    );
}

#[test]
fn awkward_get_s3() {
    let opts = Opts::new("s3", true);
    let path = "/my-bucket/photos//2026/my%20file%20%281%29%2B%C3%BC.jpg";
    let url = format!("https://s3.us-east-1.amazonaws.com{path}?{AWKWARD_QUERY}");
    let parts = signed_parts("GET", &url, &[("range", "bytes=0-9")], &opts);
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("verifies");
    assert_eq!(ctx.scope.service, "s3");
    // Empty body digest was signed in the header; it is checked against the body we pass.
    assert!(matches!(ctx.payload, PayloadMode::Sha256(_)));
    verifier()
        .verify(&parts, Body::Bytes(b""), true)
        .expect("verifies with body");
    // Not normalised and not double-encoded: non-S3 rules must not agree.
    assert_eq!(
        verifier()
            .verify(&parts, Body::Deferred, false)
            .unwrap_err(),
        AuthError::SignatureMismatch
    );
}

#[test]
fn s3_put_body_checked_against_declared_sha256() {
    let mut opts = Opts::new("s3", true);
    opts.body = SignableBody::Bytes(b"hello world");
    let parts = signed_parts(
        "PUT",
        "https://s3.us-east-1.amazonaws.com/bkt/key.txt",
        &[],
        &opts,
    );
    verifier()
        .verify(&parts, Body::Bytes(b"hello world"), true)
        .expect("verifies");
    let e = verifier()
        .verify(&parts, Body::Bytes(b"hello w0rld"), true)
        .unwrap_err();
    assert_eq!(e, AuthError::ContentSha256Mismatch);
    assert_eq!(
        e.aws_error(ProtocolFamily::S3).code,
        "XAmzContentSHA256Mismatch"
    );
}

#[test]
fn s3_unsigned_payload() {
    let mut opts = Opts::new("s3", true);
    opts.body = SignableBody::UnsignedPayload;
    let parts = signed_parts(
        "PUT",
        "https://s3.us-east-1.amazonaws.com/bkt/key.txt",
        &[],
        &opts,
    );
    assert_eq!(parts.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("verifies");
    assert_eq!(ctx.payload, PayloadMode::Unsigned);
    assert!(ctx.chunked_decoder().is_none());
}

#[test]
fn missing_and_malformed_authorization() {
    let (parts, ()) = http::Request::get("/")
        .header("host", "x")
        .body(())
        .expect("req")
        .into_parts();
    let e = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .unwrap_err();
    assert_eq!(e, AuthError::MissingAuthenticationToken);
    assert_eq!(e.to_string(), "Missing Authentication Token");
    assert_eq!(
        e.aws_error(ProtocolFamily::Json).code,
        "MissingAuthenticationTokenException"
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::Query).code,
        "MissingAuthenticationToken"
    );

    let (parts, ()) = http::Request::get("/")
        .header("host", "x")
        .header("x-amz-date", "20261122T120000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/dynamodb/aws4_request",
        )
        .body(())
        .expect("req")
        .into_parts();
    let e = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/dynamodb/aws4_request"
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::Json).code,
        "IncompleteSignatureException"
    );
    assert_eq!(
        e.aws_error(ProtocolFamily::S3).code,
        "AuthorizationHeaderMalformed"
    );

    // Credential scope date must be the request's date.
    let mut opts = Opts::new("dynamodb", false);
    opts.body = SignableBody::Bytes(DDB_BODY);
    let mut parts = ddb_request(&opts);
    set_header(&mut parts, "x-amz-date", "20261121T120000Z");
    assert!(matches!(
        verifier()
            .verify(&parts, Body::Bytes(DDB_BODY), false)
            .unwrap_err(),
        AuthError::InvalidCredentialScope(_)
    ));

    // SigV2 and other schemes.
    let (parts, ()) = http::Request::get("/")
        .header("authorization", "AWS AKID:c2ln")
        .body(())
        .expect("req")
        .into_parts();
    assert_eq!(
        verifier()
            .verify(&parts, Body::Bytes(b""), true)
            .unwrap_err(),
        AuthError::UnsupportedAlgorithm
    );
}
