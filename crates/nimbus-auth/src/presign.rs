//! Parsing of presigned-URL (query-string) authentication parameters.

use std::time::SystemTime;

use crate::error::AuthError;
use crate::header::{parse_credential, ParsedCredential, ALGORITHM};
use crate::time::parse_amz_date;

/// Longest validity AWS allows for a presigned URL: one week.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;

/// The `X-Amz-*` values of a presigned request.
#[derive(Debug, Clone)]
pub(crate) struct ParsedPresigned {
    pub credential: ParsedCredential,
    pub amz_date: String,
    pub time: SystemTime,
    /// `None` only for non-S3 services, which tolerate its absence (the normal
    /// clock-skew window applies then).
    pub expires_secs: Option<u64>,
    pub signed_headers: String,
    pub signature: String,
    pub security_token: Option<String>,
    pub content_sha256: Option<String>,
}

fn err(msg: &str) -> AuthError {
    AuthError::MalformedPresignedQuery(msg.to_owned())
}

/// Whether the query carries presigned authentication at all.
pub(crate) fn is_presigned(params: &[(String, String)]) -> bool {
    params
        .iter()
        .any(|(k, _)| k == "X-Amz-Algorithm" || k == "X-Amz-Signature" || k == "X-Amz-Credential")
}

/// Parse and check the presigned parameters (decoded query pairs).
pub(crate) fn parse_presigned(
    params: &[(String, String)],
    s3: bool,
) -> Result<ParsedPresigned, AuthError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (algorithm, credential, date, signed_headers, signature) = match (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
    ) {
        (Some(a), Some(c), Some(d), Some(h), Some(s)) if !(s3 && get("X-Amz-Expires").is_none()) => (a, c, d, h, s),
        _ => {
            return Err(err(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ))
        }
    };
    if algorithm != ALGORITHM {
        return Err(err("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let time = parse_amz_date(date).ok_or_else(|| {
        err("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    let expires_secs = match get("X-Amz-Expires") {
        None => None,
        Some(v) => {
            // Digits only: u64::from_str would also accept a leading '+'.
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("X-Amz-Expires should be a number"));
            }
            let n: u64 = v.parse().map_err(|_| {
                err("X-Amz-Expires must be less than a week (in seconds) that is 604800")
            })?;
            if n == 0 {
                return Err(err("X-Amz-Expires must be non-negative and non-zero"));
            }
            if n > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(err(
                    "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                ));
            }
            Some(n)
        }
    };
    if signed_headers.is_empty() || signature.is_empty() {
        return Err(err(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    }
    Ok(ParsedPresigned {
        credential: parse_credential(credential, AuthError::MalformedPresignedQuery)?,
        amz_date: date.to_owned(),
        time,
        expires_secs,
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        security_token: get("X-Amz-Security-Token").map(str::to_owned),
        content_sha256: get("X-Amz-Content-Sha256").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKID/20261122/us-east-1/s3/aws4_request",
            ),
            ("X-Amz-Date", "20261122T000000Z"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", "00"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    }

    #[test]
    fn expires_bounds() {
        assert!(parse_presigned(&params(&[("X-Amz-Expires", "604800")]), true).is_ok());
        assert!(parse_presigned(&params(&[("X-Amz-Expires", "604801")]), true).is_err());
        assert!(parse_presigned(&params(&[("X-Amz-Expires", "0")]), true).is_err());
        assert!(parse_presigned(&params(&[("X-Amz-Expires", "+5")]), true).is_err());
        assert!(parse_presigned(
            &params(&[("X-Amz-Expires", "99999999999999999999999")]),
            true
        )
        .is_err());
        // S3 requires X-Amz-Expires; other services tolerate its absence.
        assert!(parse_presigned(&params(&[]), true).is_err());
        assert!(parse_presigned(&params(&[]), false).is_ok());
    }

    #[test]
    fn wrong_algorithm() {
        let mut p = params(&[("X-Amz-Expires", "60")]);
        p[0].1 = "AWS4-ECDSA-P256-SHA256".into();
        assert!(matches!(
            parse_presigned(&p, true),
            Err(AuthError::MalformedPresignedQuery(_))
        ));
    }
}
