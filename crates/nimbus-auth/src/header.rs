//! Parsing of the `Authorization: AWS4-HMAC-SHA256 ...` header and of the
//! credential (`AKID/date/region/service/aws4_request`) it carries.

use crate::error::AuthError;

/// The only algorithm accepted.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credential scope of a signature: which day, region and service the
/// derived key is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// e.g. `dynamodb`, `s3`.
    pub service: String,
}

impl CredentialScope {
    /// `date/region/service/aws4_request`, as it appears in strings to sign.
    pub fn to_scope_string(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The access key and scope from a `Credential=` value.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCredential {
    pub access_key_id: String,
    pub scope: CredentialScope,
}

/// Parse `AKID/YYYYMMDD/region/service/aws4_request`. `malformed` builds the
/// error for a value that does not have that shape (header and query forms
/// report it under different codes).
pub(crate) fn parse_credential(
    value: &str,
    malformed: fn(String) -> AuthError,
) -> Result<ParsedCredential, AuthError> {
    // Split from the right: the four scope parts never contain '/', so any
    // extra '/' would belong to the key id (and then fail lookup, not panic).
    let mut it = value.rsplitn(5, '/');
    let (term, service, region, date, akid) = match (it.next(), it.next(), it.next(), it.next(), it.next()) {
        (Some(t), Some(s), Some(r), Some(d), Some(a)) => (t, s, r, d, a),
        _ => {
            return Err(malformed(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'"
            )))
        }
    };
    if akid.is_empty() || date.is_empty() || region.is_empty() || service.is_empty() {
        return Err(malformed(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'"
        )));
    }
    if term != "aws4_request" {
        return Err(AuthError::InvalidCredentialScope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'."
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::InvalidCredentialScope(format!(
            "Credential should be scoped to a valid date in YYYYMMDD form, not '{date}'."
        )));
    }
    Ok(ParsedCredential {
        access_key_id: akid.to_owned(),
        scope: CredentialScope {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
    })
}

/// The three parts of the Authorization header.
#[derive(Debug, Clone)]
pub(crate) struct ParsedAuthorization {
    pub credential: ParsedCredential,
    pub signed_headers: String,
    pub signature: String,
}

/// Parse `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
/// `has_date` folds the "no date header" complaint into the same message, as
/// AWS does.
pub(crate) fn parse_authorization(
    value: &str,
    has_date: bool,
) -> Result<ParsedAuthorization, AuthError> {
    let value = value.trim();
    let rest = match value.split_once([' ', '\t']) {
        Some((alg, rest)) if alg == ALGORITHM => rest,
        None if value == ALGORITHM => "",
        _ => return Err(AuthError::UnsupportedAlgorithm),
    };

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }

    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(AuthError::IncompleteSignature(format!(
            "{missing}Authorization={value}"
        )));
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::IncompleteSignature(format!(
            "Authorization={value}"
        )));
    };
    Ok(ParsedAuthorization {
        credential: parse_credential(credential, AuthError::IncompleteSignature)?,
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_well_formed_header() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd",
            true,
        )
        .expect("valid");
        assert_eq!(a.credential.access_key_id, "AKID");
        assert_eq!(a.credential.scope.service, "dynamodb");
        assert_eq!(a.signed_headers, "host;x-amz-date");
        assert_eq!(a.signature, "abcd");
    }

    #[test]
    fn reports_every_missing_part() {
        let e = parse_authorization("AWS4-HMAC-SHA256 SignedHeaders=host", false).unwrap_err();
        let AuthError::IncompleteSignature(msg) = e else {
            panic!("wrong error {e:?}")
        };
        assert!(msg.starts_with(
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="
        ), "{msg}");
    }

    #[test]
    fn other_algorithms_are_refused() {
        assert_eq!(
            parse_authorization("AWS AKID:sig", true).unwrap_err(),
            AuthError::UnsupportedAlgorithm
        );
        assert_eq!(
            parse_authorization("", true).unwrap_err(),
            AuthError::UnsupportedAlgorithm
        );
    }

    #[test]
    fn bad_credentials() {
        assert!(matches!(
            parse_credential(
                "AKID/20261122/us-east-1/aws4_request",
                AuthError::IncompleteSignature
            ),
            Err(AuthError::IncompleteSignature(_))
        ));
        assert!(matches!(
            parse_credential(
                "AKID/20261122/us-east-1/s3/aws5_request",
                AuthError::IncompleteSignature
            ),
            Err(AuthError::InvalidCredentialScope(_))
        ));
        // An odd key id parses (and then simply fails lookup).
        assert!(parse_credential(
            "//20261122/us-east-1/s3/aws4_request",
            AuthError::IncompleteSignature
        )
        .is_ok());
    }
}
