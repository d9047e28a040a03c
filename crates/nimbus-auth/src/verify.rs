//! The verifier: from request parts (and the body or its digest) to an
//! authenticated identity, or the reason it is refused.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;

use crate::canonical::{
    canonical_headers, canonical_query_candidates, canonical_request, canonical_uri_candidates,
    decoded_query_params, string_to_sign,
};
use crate::chunked::{ChunkSigningContext, ChunkedDecoder, StreamingMode};
use crate::error::AuthError;
use crate::header::{parse_authorization, CredentialScope, ParsedCredential};
use crate::presign::{is_presigned, parse_presigned};
use crate::signing::{ct_eq, sha256, signature_matches, KeyCache, SigningKey};
use crate::time::{format_amz_date, parse_amz_date, parse_http_date, Clock, SystemClock};

/// What the credential provider knows about an access key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The secret the request must have been signed with.
    pub secret_access_key: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// For temporary credentials: the token the request must carry.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credential {
    // Keep secrets out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("account_id", &self.account_id)
            .field("session_token", &self.session_token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// Looks up access keys (IAM users, STS sessions, the root key, ...).
pub trait CredentialProvider: Send + Sync {
    /// The credential for `access_key_id`, or `None` if unknown (or expired).
    fn lookup(&self, access_key_id: &str) -> Option<Credential>;
}

impl<F> CredentialProvider for F
where
    F: Fn(&str) -> Option<Credential> + Send + Sync,
{
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        self(access_key_id)
    }
}

impl CredentialProvider for std::collections::HashMap<String, Credential> {
    fn lookup(&self, access_key_id: &str) -> Option<Credential> {
        self.get(access_key_id).cloned()
    }
}

/// The request body as far as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// The whole body.
    Bytes(&'a [u8]),
    /// The SHA-256 of the whole body.
    Sha256([u8; 32]),
    /// Not read yet (streamed S3 uploads): the request must then carry
    /// `x-amz-content-sha256`, and a hex digest there is for the caller to
    /// check while streaming (see [`PayloadMode::Sha256`]).
    Deferred,
}

/// What the signature says about the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// Signed with this body digest. Already checked against the body when it
    /// was given as [`Body::Bytes`] or [`Body::Sha256`]; with
    /// [`Body::Deferred`] the caller must check it once the body is read.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// One of the `aws-chunked` streaming modes; decode the body with
    /// [`AuthContext::chunked_decoder`].
    Streaming(StreamingMode),
}

/// A successfully authenticated request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// The account the key belongs to (from the credential provider).
    pub account_id: String,
    /// The session token, for temporary credentials.
    pub session_token: Option<String>,
    /// Date, region and service the request was signed for.
    pub scope: CredentialScope,
    /// When the request was signed.
    pub signed_at: SystemTime,
    /// Whether it was a presigned URL (query-string auth).
    pub presigned: bool,
    /// How the payload is covered.
    pub payload: PayloadMode,
    /// `x-amz-decoded-content-length`, for streaming uploads.
    pub decoded_content_length: Option<u64>,
    amz_date: String,
    signature: [u8; 32],
    signing_key: SigningKey,
}

impl AuthContext {
    /// The verified request signature, hex (the seed of chunk signatures).
    pub fn signature_hex(&self) -> String {
        hex::encode(self.signature)
    }

    /// The request timestamp as signed, `YYYYMMDDTHHMMSSZ`.
    pub fn amz_date(&self) -> &str {
        &self.amz_date
    }

    /// A decoder for the body when the payload is `aws-chunked`
    /// ([`PayloadMode::Streaming`]); `None` otherwise.
    pub fn chunked_decoder(&self) -> Option<ChunkedDecoder> {
        let PayloadMode::Streaming(mode) = self.payload else {
            return None;
        };
        let signing = ChunkSigningContext {
            key: self.signing_key,
            amz_date: self.amz_date.clone(),
            scope: self.scope.to_scope_string(),
            seed_signature: self.signature,
        };
        ChunkedDecoder::new(mode, Some(signing), self.decoded_content_length).ok()
    }
}

/// Verifies SigV4-signed requests (Authorization header and presigned URLs).
pub struct Verifier {
    provider: Arc<dyn CredentialProvider>,
    clock: Arc<dyn Clock>,
    keys: KeyCache,
    max_skew: Duration,
}

/// How far a request's timestamp may be from the server clock (AWS: 15 min).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const CONTENT_SHA256: &str = "x-amz-content-sha256";
const SECURITY_TOKEN: &str = "x-amz-security-token";

/// What both auth forms reduce to before the signature is computed.
struct Claim<'a> {
    credential: ParsedCredential,
    amz_date: String,
    time: SystemTime,
    signed_headers: String,
    signature: String,
    request_token: Option<String>,
    query_exclude: &'a [&'a str],
    presigned: bool,
    /// Presigned only: `X-Amz-Expires`.
    expires_secs: Option<u64>,
    /// Presigned only: `X-Amz-Content-Sha256`.
    query_content_sha256: Option<String>,
}

impl Verifier {
    /// A verifier over `provider`, using the system clock.
    pub fn new(provider: Arc<dyn CredentialProvider>) -> Self {
        Self {
            provider,
            clock: Arc::new(SystemClock),
            keys: KeyCache::default(),
            max_skew: MAX_CLOCK_SKEW,
        }
    }

    /// Use another clock (tests, replays).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The derived signing key for a scope, from the cache.
    pub fn signing_key(&self, secret: &str, scope: &CredentialScope) -> SigningKey {
        self.keys
            .get(secret, &scope.date, &scope.region, &scope.service)
    }

    /// Verify a request. `s3` selects S3's canonicalisation (path neither
    /// normalised nor encoded twice) and S3's rules for presigned URLs.
    pub fn verify(
        &self,
        parts: &Parts,
        body: Body<'_>,
        s3: bool,
    ) -> Result<AuthContext, AuthError> {
        let query = parts.uri.query().unwrap_or("");
        let params = decoded_query_params(query);
        let header = parts.headers.get(http::header::AUTHORIZATION);
        let presigned = is_presigned(&params);

        let claim = match (header, presigned) {
            (Some(_), true) => return Err(AuthError::MultipleAuthMechanisms),
            (None, false) => return Err(AuthError::MissingAuthenticationToken),
            (Some(h), false) => self.header_claim(parts, h)?,
            (None, true) => self.presigned_claim(parts, &params, s3)?,
        };

        let scope = &claim.credential.scope;
        if claim.amz_date.get(..8) != Some(scope.date.as_str()) {
            return Err(AuthError::InvalidCredentialScope(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                scope.date,
                claim.amz_date.get(..8).unwrap_or(""),
                claim.amz_date
            )));
        }

        let cred = self
            .provider
            .lookup(&claim.credential.access_key_id)
            .ok_or(AuthError::UnknownAccessKey)?;
        match (&cred.session_token, &claim.request_token) {
            (None, None) => {}
            (Some(want), Some(got)) if ct_eq(want.as_bytes(), got.as_bytes()) => {}
            _ => return Err(AuthError::InvalidSecurityToken),
        }

        let signed: Vec<&str> = claim.signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(AuthError::IncompleteSignature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }

        let (payload_candidates, declared) = payload_candidates(parts, &claim, body, s3)?;

        let key = self.signing_key(&cred.secret_access_key, scope);
        let scope_string = scope.to_scope_string();
        let headers = canonical_headers(parts, &signed).ok_or(AuthError::SignatureMismatch)?;
        let uris = canonical_uri_candidates(parts.uri.path(), s3);
        let queries = canonical_query_candidates(query, claim.query_exclude);

        let mut matched = None;
        'search: for uri in &uris {
            for q in &queries {
                for (i, payload) in payload_candidates.iter().enumerate() {
                    let cr = canonical_request(
                        parts.method.as_str(),
                        uri,
                        q,
                        &headers,
                        &claim.signed_headers,
                        payload,
                    );
                    let computed = key.sign(&string_to_sign(&claim.amz_date, &scope_string, &cr));
                    if signature_matches(&computed, &claim.signature) {
                        matched = Some((computed, i));
                        break 'search;
                    }
                }
            }
        }
        let Some((signature, which)) = matched else {
            return Err(AuthError::SignatureMismatch);
        };

        // Checked after the signature so that a forged request learns nothing
        // from the clock; an authentic but stale one gets the precise reason.
        self.check_time(&claim)?;

        let payload = match declared {
            Some(mode) => mode,
            None => payload_mode_of(&payload_candidates[which])?,
        };
        if let PayloadMode::Sha256(declared) = payload {
            let actual = match body {
                Body::Bytes(b) => Some(sha256(b)),
                Body::Sha256(d) => Some(d),
                Body::Deferred => None,
            };
            if actual.is_some_and(|a| !ct_eq(&a, &declared)) {
                return Err(AuthError::ContentSha256Mismatch);
            }
        }

        let decoded_content_length = parts
            .headers
            .get("x-amz-decoded-content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());

        Ok(AuthContext {
            access_key_id: claim.credential.access_key_id,
            account_id: cred.account_id,
            session_token: cred.session_token,
            scope: claim.credential.scope,
            signed_at: claim.time,
            presigned: claim.presigned,
            payload,
            decoded_content_length,
            amz_date: claim.amz_date,
            signature,
            signing_key: key,
        })
    }

    fn header_claim(
        &self,
        parts: &Parts,
        header: &http::HeaderValue,
    ) -> Result<Claim<'static>, AuthError> {
        let value = header.to_str().map_err(|_| {
            AuthError::IncompleteSignature("Authorization header is not valid ASCII.".into())
        })?;
        let amz_date = parts
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let http_date = parts
            .headers
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let parsed = parse_authorization(value, amz_date.is_some() || http_date.is_some())?;

        let (amz_date, time) = match (amz_date, http_date) {
            (Some(d), _) => {
                let t = parse_amz_date(d).ok_or_else(|| {
                    AuthError::IncompleteSignature(format!(
                        "Date must be in ISO-8601 'basic format'. Got '{d}'."
                    ))
                })?;
                (d.to_owned(), t)
            }
            (None, Some(d)) => {
                let t = parse_http_date(d).ok_or(AuthError::MissingDate)?;
                (format_amz_date(t), t)
            }
            (None, None) => return Err(AuthError::MissingDate),
        };
        Ok(Claim {
            credential: parsed.credential,
            amz_date,
            time,
            signed_headers: parsed.signed_headers,
            signature: parsed.signature,
            request_token: header_str(parts, SECURITY_TOKEN),
            query_exclude: &[],
            presigned: false,
            expires_secs: None,
            query_content_sha256: None,
        })
    }

    fn presigned_claim(
        &self,
        parts: &Parts,
        params: &[(String, String)],
        s3: bool,
    ) -> Result<Claim<'static>, AuthError> {
        let p = parse_presigned(params, s3)?;
        Ok(Claim {
            credential: p.credential,
            amz_date: p.amz_date,
            time: p.time,
            signed_headers: p.signed_headers,
            signature: p.signature,
            // Some presigners put the token in a header rather than the query.
            request_token: p
                .security_token
                .or_else(|| header_str(parts, SECURITY_TOKEN)),
            query_exclude: &["X-Amz-Signature"],
            presigned: true,
            expires_secs: p.expires_secs,
            query_content_sha256: p.content_sha256,
        })
    }

    fn check_time(&self, claim: &Claim<'_>) -> Result<(), AuthError> {
        let now = self.clock.now();
        let expires = claim.expires_secs;
        // Not yet valid: too far in the future, both forms.
        if claim.time > now + self.max_skew {
            return Err(AuthError::SignatureNotYetCurrent {
                request_time: claim.amz_date.clone(),
                latest: format_amz_date(now + self.max_skew),
                now: format_amz_date(now),
            });
        }
        match expires {
            Some(secs) => {
                if now > claim.time + Duration::from_secs(secs) {
                    return Err(AuthError::PresignedUrlExpired);
                }
            }
            None => {
                let earliest = now
                    .checked_sub(self.max_skew)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                if claim.time < earliest {
                    return Err(AuthError::SignatureExpired {
                        request_time: claim.amz_date.clone(),
                        earliest: format_amz_date(earliest),
                        now: format_amz_date(now),
                    });
                }
            }
        }
        Ok(())
    }
}

fn header_str(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

fn is_hex_digest(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The payload mode a `x-amz-content-sha256` value (or computed hash) means.
fn payload_mode_of(v: &str) -> Result<PayloadMode, AuthError> {
    if v == "UNSIGNED-PAYLOAD" {
        return Ok(PayloadMode::Unsigned);
    }
    if let Some(mode) = StreamingMode::from_content_sha256(v) {
        return Ok(PayloadMode::Streaming(mode));
    }
    let mut d = [0u8; 32];
    if is_hex_digest(v) && hex::decode_to_slice(v, &mut d).is_ok() {
        return Ok(PayloadMode::Sha256(d));
    }
    Err(AuthError::InvalidContentSha256)
}

/// The payload hashes the signature may have used, most likely first, and
/// (when fixed by the request) the payload mode.
fn payload_candidates(
    parts: &Parts,
    claim: &Claim<'_>,
    body: Body<'_>,
    s3: bool,
) -> Result<(Vec<String>, Option<PayloadMode>), AuthError> {
    let body_hash = match body {
        Body::Bytes(b) => Some(hex::encode(sha256(b))),
        Body::Sha256(d) => Some(hex::encode(d)),
        Body::Deferred => None,
    };
    let header = parts
        .headers
        .get(CONTENT_SHA256)
        .map(|v| v.to_str().map(str::trim));
    let header = match header {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return Err(AuthError::InvalidContentSha256),
    };

    if claim.presigned {
        if let Some(v) = &claim.query_content_sha256 {
            let mode = payload_mode_of(v)?;
            return Ok((vec![v.clone()], Some(mode)));
        }
        let mut c = vec!["UNSIGNED-PAYLOAD".to_owned()];
        // Non-S3 presigners (botocore's SigV4QueryAuth, aws-sigv4 given the
        // body) sign the body hash instead.
        if !s3 {
            for h in [header.map(str::to_owned), body_hash].into_iter().flatten() {
                if !c.contains(&h) {
                    c.push(h);
                }
            }
        }
        return Ok((c, None));
    }

    match (header, body_hash) {
        (Some(v), _) => {
            let mode = payload_mode_of(v)?;
            Ok((vec![v.to_owned()], Some(mode)))
        }
        (None, Some(h)) => Ok((vec![h], None)),
        (None, None) => Err(AuthError::MissingContentSha256),
    }
}
