//! Shared test helpers: sign requests with AWS's own `aws-sigv4` crate and
//! turn them into what a server sees (origin-form URI + headers).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody,
    SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use nimbus_auth::{Credential, FixedClock, Verifier};

pub const AKID: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const ACCOUNT: &str = "123456789012";
pub const TEMP_AKID: &str = "ASIATEMPEXAMPLE";
pub const TEMP_SECRET: &str = "tempSecretKeyExample/abc";
pub const TOKEN: &str = "FwoGZXIvYXdzEXAMPLE//session+token==";

/// 2026-11-22T12:00:00Z, the fixed "now" of the tests.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_348_800)
}

pub fn verifier_at(now: SystemTime) -> Verifier {
    let mut keys = HashMap::new();
    keys.insert(
        AKID.to_owned(),
        Credential {
            secret_access_key: SECRET.into(),
            account_id: ACCOUNT.into(),
            session_token: None,
        },
    );
    keys.insert(
        TEMP_AKID.to_owned(),
        Credential {
            secret_access_key: TEMP_SECRET.into(),
            account_id: ACCOUNT.into(),
            session_token: Some(TOKEN.into()),
        },
    );
    Verifier::new(Arc::new(keys)).with_clock(Arc::new(FixedClock(now)))
}

pub fn verifier() -> Verifier {
    verifier_at(t0())
}

#[derive(Clone)]
pub struct Opts<'a> {
    pub akid: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    pub s3: bool,
    pub presign: Option<Duration>,
    pub body: SignableBody<'a>,
}

impl<'a> Opts<'a> {
    pub fn new(service: &'a str, s3: bool) -> Self {
        Opts {
            akid: AKID,
            secret: SECRET,
            token: None,
            region: "us-east-1",
            service,
            time: t0(),
            s3,
            presign: None,
            body: SignableBody::Bytes(b""),
        }
    }
}

/// Sign `method url` (url absolute and already percent-encoded as it will be
/// sent) with aws-sigv4 and return the request head as a server receives it.
pub fn signed_parts(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    opts: &Opts<'_>,
) -> http::request::Parts {
    let uri: http::Uri = url.parse().expect("test url");
    let host = uri.authority().expect("absolute url").as_str().to_owned();
    let mut all: Vec<(&str, &str)> = vec![("host", host.as_str())];
    all.extend_from_slice(headers);

    let identity: Identity = Credentials::new(
        opts.akid,
        opts.secret,
        opts.token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if opts.s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    if let Some(exp) = opts.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(exp);
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.session_token_mode = SessionTokenMode::Include;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(opts.region)
        .name(opts.service)
        .time(opts.time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let signable = SignableRequest::new(method, url, all.iter().copied(), opts.body.clone())
        .expect("signable");
    let (instructions, _sig) = sign(signable, &params).expect("sign").into_parts();

    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in &all {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);

    // What the server sees: origin-form URI, Host header.
    let (mut parts, ()) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    parts.uri = pq.parse().expect("origin form");
    parts
}

/// Replace one header value.
pub fn set_header(parts: &mut http::request::Parts, name: &'static str, value: &str) {
    parts
        .headers
        .insert(name, http::HeaderValue::from_str(value).expect("header"));
}

/// Rewrite the request URI (origin form).
pub fn set_uri(parts: &mut http::request::Parts, pq: &str) {
    parts.uri = pq.parse().expect("uri");
}
