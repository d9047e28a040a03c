//! Lambda resource-policy checks. AWS refuses to invoke a function for an
//! integration unless the function's resource policy (`AddPermission`) has a
//! statement that lets `apigateway.amazonaws.com` call `lambda:InvokeFunction`,
//! optionally conditioned on the method's `execute-api` ARN (`AWS:SourceArn`) and the
//! API owner's account (`AWS:SourceAccount`). Integrations with a `credentials` role
//! skip the check (the role is trusted locally).
//!
//! The policy is read through Lambda's `GetPolicy` on every call, so a
//! `RemovePermission` takes effect at once; the parsed form is cached per function
//! and reused while the policy's `RevisionId` is unchanged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Whether API Gateway needs permission to invoke Lambda functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LambdaPermissions {
    /// As AWS: the function's resource policy must allow API Gateway.
    #[default]
    Enforce,
    /// Any integration may invoke any function of its account (local convenience).
    AllowAll,
}

/// The mode and the parsed policies.
pub(crate) struct Permissions {
    allow_all: AtomicBool,
    /// `{account}/{region}/{function}:{qualifier}` → (RevisionId, parsed policy).
    cache: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

/// Cached policies before the cache is emptied (a bound, not an LRU).
const MAX_CACHED: usize = 1024;

impl Permissions {
    pub fn new() -> Self {
        Permissions {
            allow_all: AtomicBool::new(false),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_mode(&self, mode: LambdaPermissions) {
        self.allow_all
            .store(mode == LambdaPermissions::AllowAll, Ordering::Relaxed);
    }

    pub fn allow_all(&self) -> bool {
        self.allow_all.load(Ordering::Relaxed)
    }

    /// The parsed policy for `key` at `revision`, parsing `text` when the cache has
    /// another revision (or none).
    pub fn parsed(&self, key: &str, revision: &str, text: &str) -> Result<Arc<Policy>, String> {
        if !revision.is_empty() {
            if let Some((rev, p)) = self.cache.lock().ok().and_then(|c| c.get(key).cloned()) {
                if rev == revision {
                    return Ok(p);
                }
            }
        }
        let p = Arc::new(Policy::parse(text)?);
        if !revision.is_empty() {
            if let Ok(mut c) = self.cache.lock() {
                if c.len() >= MAX_CACHED {
                    c.clear();
                }
                c.insert(key.to_string(), (revision.to_string(), p.clone()));
            }
        }
        Ok(p)
    }
}

/// A statement that concerns API Gateway invoking the function.
#[derive(Debug)]
struct Statement {
    allow: bool,
    /// Every condition of the statement; all must hold.
    conditions: Vec<Condition>,
}

#[derive(Debug)]
enum Condition {
    /// `ArnLike`/`ArnEquals` `AWS:SourceArn`: any of the patterns.
    SourceArn(Vec<String>),
    /// `StringEquals` `AWS:SourceAccount`: any of the values.
    SourceAccount(Vec<String>),
    /// A condition this check cannot evaluate: it never holds (as IAM treats a key
    /// missing from the request).
    Never,
}

/// The statements of a function policy that mention API Gateway.
#[derive(Debug)]
pub(crate) struct Policy {
    statements: Vec<Statement>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn action_matches(v: &Value) -> bool {
    strings(v).iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "*" || a == "lambda:*" || a == "lambda:invokefunction"
    })
}

fn principal_matches(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "*",
        Value::Object(o) => o.iter().any(|(k, v)| match k.as_str() {
            "Service" => strings(v).iter().any(|s| s == "apigateway.amazonaws.com"),
            "AWS" => strings(v).iter().any(|s| s == "*"),
            _ => false,
        }),
        _ => false,
    }
}

fn conditions(v: Option<&Value>) -> Vec<Condition> {
    let mut out = Vec::new();
    let Some(Value::Object(ops)) = v else {
        return out;
    };
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            out.push(Condition::Never);
            continue;
        };
        for (key, values) in keys {
            let key = key.to_ascii_lowercase();
            let c = match (op.as_str(), key.as_str()) {
                ("ArnLike" | "ArnEquals", "aws:sourcearn") => Condition::SourceArn(strings(values)),
                ("StringEquals", "aws:sourceaccount") => Condition::SourceAccount(strings(values)),
                _ => Condition::Never,
            };
            out.push(c);
        }
    }
    out
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
        let list = match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let mut statements = Vec::new();
        for s in &list {
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => continue,
            };
            let (Some(action), Some(principal)) = (s.get("Action"), s.get("Principal")) else {
                continue;
            };
            if !action_matches(action) || !principal_matches(principal) {
                continue;
            }
            statements.push(Statement {
                allow,
                conditions: conditions(s.get("Condition")),
            });
        }
        Ok(Policy { statements })
    }

    /// Whether the policy lets API Gateway invoke the function for a request whose
    /// method ARN is any of `source_arns` in API owner `account`: no Deny applies
    /// and some Allow does.
    pub fn allows(&self, source_arns: &[String], account: &str) -> bool {
        let holds = |s: &Statement| {
            s.conditions.iter().all(|c| match c {
                Condition::SourceArn(patterns) => patterns
                    .iter()
                    .any(|p| source_arns.iter().any(|arn| arn_like(p, arn))),
                Condition::SourceAccount(accounts) => accounts.iter().any(|a| a == account),
                Condition::Never => false,
            })
        };
        let applies: Vec<&Statement> = self.statements.iter().filter(|s| holds(s)).collect();
        !applies.iter().any(|s| !s.allow) && applies.iter().any(|s| s.allow)
    }
}

/// IAM's `ArnLike`: each of the six colon-separated parts matched on its own, with
/// `*` (any run) and `?` (any one character).
pub(crate) fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != a.len() {
        return p.len() == 1 && glob(pattern, arn);
    }
    p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

/// `*`/`?` wildcard match (iterative, linear in practice: no backtracking blow-up).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// Splits a function name or ARN into the unqualified function and its qualifier
/// (`name:alias`, `arn:aws:lambda:r:a:function:name:3`).
pub(crate) fn split_qualifier(function: &str) -> (&str, Option<&str>) {
    if function.starts_with("arn:") {
        let parts: Vec<&str> = function.splitn(8, ':').collect();
        if parts.len() == 8 {
            let cut = function.len() - parts[7].len() - 1;
            return (&function[..cut], Some(parts[7]));
        }
        return (function, None);
    }
    match function.split_once(':') {
        Some((name, q)) if !name.is_empty() && !q.contains(':') => (name, Some(q)),
        _ => (function, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_arns() {
        assert!(glob("a*c", "abbbc") && glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*", "") && glob("**", "x") && !glob("a", "ab"));
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc/prod/GET/users/{id}";
        assert!(arn_like(
            "arn:aws:execute-api:us-east-1:000000000000:abc/*/GET/users/*",
            arn
        ));
        assert!(arn_like("arn:aws:execute-api:*:*:abc/*", arn));
        assert!(arn_like(arn, arn));
        assert!(!arn_like(
            "arn:aws:execute-api:us-east-1:000000000000:xyz/*",
            arn
        ));
        // `*` does not cross the colon-separated parts.
        assert!(!arn_like("arn:aws:*:000000000000:abc/*", arn));
        assert_eq!(
            split_qualifier("arn:aws:lambda:us-east-1:1:function:f:live"),
            ("arn:aws:lambda:us-east-1:1:function:f", Some("live"))
        );
        assert_eq!(
            split_qualifier("arn:aws:lambda:us-east-1:1:function:f"),
            ("arn:aws:lambda:us-east-1:1:function:f", None)
        );
        assert_eq!(split_qualifier("f:3"), ("f", Some("3")));
        assert_eq!(split_qualifier("f"), ("f", None));
    }

    #[test]
    fn policies() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc/prod/GET/users".to_string();
        let p = |s: &str| {
            Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#)).unwrap()
        };
        let plain = p(
            r#"{"Sid":"a","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"x"}"#,
        );
        assert!(plain.allows(std::slice::from_ref(&arn), "000000000000"));
        let cond = p(
            r#"{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:000000000000:abc/*/GET/users"}}}"#,
        );
        assert!(cond.allows(std::slice::from_ref(&arn), "000000000000"));
        let wrong = p(
            r#"{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:us-east-1:000000000000:zzz/*"}}}"#,
        );
        assert!(!wrong.allows(std::slice::from_ref(&arn), "000000000000"));
        let acct = p(
            r#"{"Effect":"Allow","Principal":"*","Action":"lambda:*","Condition":{"StringEquals":{"AWS:SourceAccount":"111111111111"}}}"#,
        );
        assert!(!acct.allows(std::slice::from_ref(&arn), "000000000000"));
        assert!(acct.allows(std::slice::from_ref(&arn), "111111111111"));
        let other = p(
            r#"{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction"}"#,
        );
        assert!(!other.allows(std::slice::from_ref(&arn), "000000000000"));
        let denied = p(
            r#"{"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"},{"Effect":"Deny","Principal":"*","Action":"*"}"#,
        );
        assert!(!denied.allows(std::slice::from_ref(&arn), "000000000000"));
        let unknown = p(
            r#"{"Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4"}}}"#,
        );
        assert!(!unknown.allows(std::slice::from_ref(&arn), "000000000000"));
        assert!(Policy::parse("nope").is_err());
    }
}
