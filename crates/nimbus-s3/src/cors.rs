//! Bucket CORS: the stored rules (PutBucketCors validates them as S3 does) and how
//! they apply: the front answers `OPTIONS` preflights from the rules, and adds the
//! `Access-Control-*` headers to responses for requests whose `Origin` and method a
//! rule allows.

use http::{HeaderMap, HeaderValue, Method};
use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde::{Deserialize, Serialize};

/// One CORS rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

const METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "DELETE"];

fn invalid(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

/// Validates a PutBucketCors body and turns it into what is stored.
pub(crate) fn parse(c: CORSConfiguration) -> S3Result<Vec<Rule>> {
    if c.cors_rules.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    if c.cors_rules.len() > 100 {
        return Err(invalid(
            "The number of CORS rules should not exceed allowed limit of 100 rules.".into(),
        ));
    }
    let mut out = Vec::new();
    for r in c.cors_rules {
        if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        for m in &r.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(invalid(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(invalid(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
        }
        for h in r.allowed_headers.iter().flatten() {
            if h.matches('*').count() > 1 {
                return Err(invalid(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
        }
        out.push(Rule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        });
    }
    Ok(out)
}

pub(crate) fn to_dto(rules: &[Rule]) -> Vec<CORSRule> {
    rules
        .iter()
        .map(|r| CORSRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
            expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

/// `pattern` with at most one `*` matches `value` (case-insensitively when asked).
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail),
    }
}

/// The first rule allowing `origin`, `method` and every header in `headers`.
pub(crate) fn find<'a>(rules: &'a [Rule], origin: &str, method: &str, headers: &[String]) -> Option<&'a Rule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h, true)))
    })
}

/// The headers a matching rule adds to a response (preflight or actual request).
pub(crate) fn allow_headers(rule: &Rule, origin: &str, requested_headers: Option<&str>, out: &mut HeaderMap) {
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    if any_origin {
        set("access-control-allow-origin", "*");
    } else {
        set("access-control-allow-origin", origin);
        set("access-control-allow-credentials", "true");
    }
    set("access-control-allow-methods", &rule.allowed_methods.join(", "));
    if let Some(h) = requested_headers.filter(|h| !h.trim().is_empty()) {
        set("access-control-allow-headers", h);
    }
    if !rule.expose_headers.is_empty() {
        set("access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", &age.to_string());
    }
    set("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
}

/// What a preflight gets: Ok(headers) or Err((status, code, message)).
pub(crate) fn preflight(
    rules: Option<&[Rule]>,
    headers: &HeaderMap,
) -> Result<HeaderMap, (u16, &'static str, &'static str)> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let Some(origin) = get("origin") else {
        return Err((400, "BadRequest", "Insufficient information. Origin request header needed."));
    };
    let Some(method) = get("access-control-request-method") else {
        return Err((400, "BadRequest", "Invalid Access-Control-Request-Method: null"));
    };
    let Some(rules) = rules else {
        return Err((403, "CORSResponse", "CORS is not enabled for this bucket."));
    };
    let requested = get("access-control-request-headers");
    let wanted: Vec<String> = requested
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match find(rules, origin, method, &wanted) {
        Some(rule) => {
            let mut out = HeaderMap::new();
            allow_headers(rule, origin, requested, &mut out);
            Ok(out)
        }
        None => Err((
            403,
            "CORSResponse",
            "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        )),
    }
}

/// The headers an actual (non-preflight) request's response gets, if a rule allows it.
pub(crate) fn actual(rules: &[Rule], method: &Method, headers: &HeaderMap) -> Option<HeaderMap> {
    let origin = headers.get("origin")?.to_str().ok()?;
    let rule = find(rules, origin, method.as_str(), &[])?;
    let mut out = HeaderMap::new();
    allow_headers(rule, origin, None, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule {
            id: None,
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["x-amz-*".into(), "content-type".into()],
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(300),
        }
    }

    #[test]
    fn matching() {
        let rules = [rule()];
        assert!(find(&rules, "https://app.example.com", "GET", &[]).is_some());
        assert!(find(&rules, "https://app.example.org", "GET", &[]).is_none());
        assert!(find(&rules, "https://app.example.com", "DELETE", &[]).is_none());
        assert!(find(&rules, "https://a.example.com", "PUT", &["x-amz-meta-a".into(), "content-type".into()]).is_some());
        assert!(find(&rules, "https://a.example.com", "PUT", &["authorization".into()]).is_none());
    }
}
