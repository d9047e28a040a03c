//! Presigned URLs: signed by aws-sigv4 (query-string location), verified by us.

mod common;

use std::time::Duration;

use aws_sigv4::http_request::SignableBody;
use common::*;
use nimbus_auth::{AuthError, Body, PayloadMode, ProtocolFamily};

const OBJECT_URL: &str = "https://examplebucket.s3.amazonaws.com/reports/2026%20Q4/r%C3%A9sum%C3%A9.pdf?versionId=3%2FL4kq&response-content-disposition=attachment%3B%20filename%3D%22a%20b.pdf%22";

fn presigned_get(opts_mut: impl FnOnce(&mut Opts<'static>)) -> http::request::Parts {
    let mut opts = Opts::new("s3", true);
    opts.presign = Some(Duration::from_secs(3600));
    opts.body = SignableBody::UnsignedPayload;
    opts_mut(&mut opts);
    signed_parts("GET", OBJECT_URL, &[], &opts)
}

#[test]
fn valid_presigned_get() {
    let parts = presigned_get(|_| {});
    let q = parts.uri.query().expect("query");
    assert!(
        q.contains("X-Amz-Signature=") && q.contains("X-Amz-Expires=3600"),
        "{q}"
    );
    assert!(parts.headers.get("authorization").is_none());
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("verifies");
    assert!(ctx.presigned);
    assert_eq!(ctx.payload, PayloadMode::Unsigned);
    assert_eq!(ctx.access_key_id, AKID);
    assert_eq!(ctx.scope.service, "s3");

    // Valid until the last second of its lifetime.
    verifier_at(t0() + Duration::from_secs(3600))
        .verify(&parts, Body::Deferred, true)
        .expect("still valid");
}

#[test]
fn expired_presigned_get() {
    let parts = presigned_get(|_| {});
    let e = verifier_at(t0() + Duration::from_secs(3601))
        .verify(&parts, Body::Deferred, true)
        .unwrap_err();
    assert_eq!(e, AuthError::PresignedUrlExpired);
    let s3 = e.aws_error(ProtocolFamily::S3);
    assert_eq!(
        (s3.code, s3.status, s3.message.as_str()),
        ("AccessDenied", 403, "Request has expired")
    );

    // A long-lived URL is fine well past the 15-minute skew window.
    let parts = presigned_get(|o| o.presign = Some(Duration::from_secs(604_800)));
    verifier_at(t0() + Duration::from_secs(6 * 86400))
        .verify(&parts, Body::Deferred, true)
        .expect("valid for a week");

    // Signed for the future.
    let parts = presigned_get(|o| o.time = t0() + Duration::from_secs(3600));
    assert!(matches!(
        verifier().verify(&parts, Body::Deferred, true).unwrap_err(),
        AuthError::SignatureNotYetCurrent { .. }
    ));
}

#[test]
fn tampered_presigned_get() {
    let parts = presigned_get(|_| {});
    let q = parts.uri.query().expect("query").to_owned();
    let path = parts.uri.path().to_owned();

    // Another object.
    let mut p = parts.clone();
    set_uri(
        &mut p,
        &format!("{}?{q}", path.replace("reports", "secrets")),
    );
    assert_eq!(
        verifier().verify(&p, Body::Deferred, true).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // Another version.
    let mut p = parts.clone();
    set_uri(
        &mut p,
        &format!(
            "{path}?{}",
            q.replace("versionId=3%2FL4kq", "versionId=other")
        ),
    );
    assert_eq!(
        verifier().verify(&p, Body::Deferred, true).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // A longer lifetime.
    let mut p = parts.clone();
    set_uri(
        &mut p,
        &format!(
            "{path}?{}",
            q.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
        ),
    );
    assert_eq!(
        verifier().verify(&p, Body::Deferred, true).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // Another method.
    let mut p = parts.clone();
    p.method = http::Method::DELETE;
    assert_eq!(
        verifier().verify(&p, Body::Deferred, true).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // Out-of-range X-Amz-Expires is rejected before any signature work.
    let mut p = parts.clone();
    set_uri(
        &mut p,
        &format!(
            "{path}?{}",
            q.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801")
        ),
    );
    let e = verifier().verify(&p, Body::Deferred, true).unwrap_err();
    assert!(matches!(e, AuthError::MalformedPresignedQuery(_)), "{e:?}");
    assert_eq!(
        e.aws_error(ProtocolFamily::S3).code,
        "AuthorizationQueryParametersError"
    );

    // Both auth mechanisms at once.
    let mut p = parts.clone();
    set_header(&mut p, "authorization", "AWS4-HMAC-SHA256 Credential=x");
    assert_eq!(
        verifier().verify(&p, Body::Deferred, true).unwrap_err(),
        AuthError::MultipleAuthMechanisms
    );
}

#[test]
fn presigned_with_session_token() {
    let parts = presigned_get(|o| {
        o.akid = TEMP_AKID;
        o.secret = TEMP_SECRET;
        o.token = Some(TOKEN);
    });
    assert!(parts
        .uri
        .query()
        .expect("q")
        .contains("X-Amz-Security-Token="));
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("verifies");
    assert_eq!(ctx.session_token.as_deref(), Some(TOKEN));

    let parts = presigned_get(|o| {
        o.akid = TEMP_AKID;
        o.secret = TEMP_SECRET;
    });
    assert_eq!(
        verifier().verify(&parts, Body::Deferred, true).unwrap_err(),
        AuthError::InvalidSecurityToken
    );
}

#[test]
fn presigned_non_s3_service() {
    // Like the presigned sts:GetCallerIdentity URLs EKS uses; the signer
    // hashes the (empty) body instead of UNSIGNED-PAYLOAD.
    let mut opts = Opts::new("sts", false);
    opts.presign = Some(Duration::from_secs(60));
    opts.body = SignableBody::Bytes(b"");
    let parts = signed_parts(
        "GET",
        "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        &[("x-k8s-aws-id", "my-cluster")],
        &opts,
    );
    let ctx = verifier()
        .verify(&parts, Body::Bytes(b""), false)
        .expect("verifies");
    assert!(ctx.presigned);
    assert_eq!(ctx.scope.service, "sts");
    // The signed header is covered.
    let mut p = parts.clone();
    set_header(&mut p, "x-k8s-aws-id", "other-cluster");
    assert_eq!(
        verifier().verify(&p, Body::Bytes(b""), false).unwrap_err(),
        AuthError::SignatureMismatch
    );
}
