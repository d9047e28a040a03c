//! Bucket configuration kept in `BucketMeta`: versioning state, tags, the bucket policy
//! (validated as AWS validates it, stored, not enforced), CORS rules (see [`crate::cors`]
//! for how they apply), and ACLs as AWS's default Object Ownership setting
//! (BucketOwnerEnforced) has them: the owner's FULL_CONTROL grant, nothing else.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde_json::Value;

use crate::backend::{internal, Backend};
use crate::meta::*;

fn invalid_tag(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, msg.to_string())
}

/// Validates a tag set as S3 does (at most `max` tags, unique keys, lengths, no `aws:`).
pub(crate) fn validate_tags(tags: Vec<Tag>, max: usize) -> S3Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags {
        let k = t.key.unwrap_or_default();
        let v = t.value.unwrap_or_default();
        if k.is_empty() {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is too long, max 128"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is too long, max 256"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_tag("System tags cannot be added/updated by requester"));
        }
        if out.iter().any(|(o, _)| *o == k) {
            return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
        }
        out.push((k, v));
    }
    if out.len() > max {
        return Err(if max == 10 {
            S3Error::with_message(S3ErrorCode::Custom("BadRequest".into()), "Object tags cannot be greater than 10")
        } else {
            invalid_tag("Bucket tag count cannot be greater than 50")
        });
    }
    Ok(out)
}

/// The canonical user id S3 shows for an account (64 hex digits, stable).
pub(crate) fn canonical_id(account: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("nimbus-canonical-user:{account}").as_bytes()))
}

pub(crate) fn owner_of(account: &str) -> Owner {
    Owner {
        display_name: Some("nimbus".into()),
        id: Some(canonical_id(account)),
    }
}

/// The only grant an ACL-disabled bucket or object has.
fn owner_grants(account: &str) -> Vec<Grant> {
    vec![Grant {
        grantee: Some(Grantee {
            display_name: Some("nimbus".into()),
            email_address: None,
            id: Some(canonical_id(account)),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

pub(crate) fn acl_not_supported() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessControlListNotSupported,
        "The bucket does not allow ACLs",
    )
}

/// An ACL a request sets, in any of its three forms.
pub(crate) struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub policy: Option<&'a AccessControlPolicy>,
    /// `x-amz-grant-*` headers.
    pub grants: [Option<&'a String>; 5],
    /// `x-amz-grant-full-control` (the only grant header the owner-only ACL may use).
    pub full_control: Option<&'a String>,
}

/// Refuses every ACL except the bucket owner's FULL_CONTROL (`private`, or
/// `bucket-owner-full-control` on objects), as BucketOwnerEnforced buckets do.
pub(crate) fn check_acl(account: &str, acl: &AclRequest<'_>, object: bool) -> S3Result<()> {
    let owner = canonical_id(account);
    if let Some(c) = acl.canned {
        let ok = c == "private" || (object && c == "bucket-owner-full-control");
        if !ok {
            return Err(acl_not_supported());
        }
    }
    if acl.grants.iter().any(Option::is_some) {
        return Err(acl_not_supported());
    }
    if let Some(fc) = acl.full_control {
        let ids: Vec<&str> = fc.split(',').map(str::trim).collect();
        if ids.iter().any(|g| g.trim_matches('"') != format!("id={owner}") && *g != format!("id=\"{owner}\"")) {
            return Err(acl_not_supported());
        }
    }
    if let Some(p) = acl.policy {
        let grants = p.grants.as_deref().unwrap_or_default();
        let only_owner = grants.len() == 1
            && grants.iter().all(|g| {
                g.permission.as_ref().is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
                    && g.grantee.as_ref().is_some_and(|e| {
                        e.type_.as_str() == Type::CANONICAL_USER && e.id.as_deref() == Some(owner.as_str())
                    })
            });
        if !only_owner {
            return Err(acl_not_supported());
        }
    }
    Ok(())
}

fn malformed_policy(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPolicy, msg.to_string())
}

fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) if !a.is_empty() => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Validates a bucket policy document the way S3 does before storing it.
pub(crate) fn validate_policy(bucket: &str, doc: &str) -> S3Result<()> {
    if doc.len() > 20 * 1024 {
        return Err(malformed_policy("Policies must be less than 20KB"));
    }
    let v: Value = serde_json::from_str(doc)
        .ok()
        .filter(|v: &Value| v.is_object() && doc.trim_start().starts_with('{'))
        .ok_or_else(|| malformed_policy("Policies must be valid JSON and the first byte must be '{'"))?;
    let Some(top) = v.as_object() else {
        return Err(malformed_policy("Policies must be valid JSON and the first byte must be '{'"));
    };
    for k in top.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(malformed_policy(&format!("Unknown field {k}")));
        }
    }
    if let Some(ver) = top.get("Version") {
        if !matches!(ver.as_str(), Some("2012-10-17" | "2008-10-17")) {
            return Err(malformed_policy("Invalid policy document version"));
        }
    }
    let statements: Vec<&Value> = match top.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err(malformed_policy("Missing required field Statement")),
    };
    for st in statements {
        let Some(st) = st.as_object() else {
            return Err(malformed_policy("Missing required field Statement"));
        };
        for k in st.keys() {
            if !matches!(
                k.as_str(),
                "Sid" | "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
            ) {
                return Err(malformed_policy(&format!("Unknown field {k}")));
            }
        }
        match st.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            Some(e) => return Err(malformed_policy(&format!("Invalid effect: {e}"))),
            None => return Err(malformed_policy("Missing required field Effect")),
        }
        let principal = st.get("Principal").or_else(|| st.get("NotPrincipal"));
        match principal {
            None => return Err(malformed_policy("Missing required field Principal")),
            Some(Value::String(s)) if s == "*" => {}
            Some(Value::Object(m))
                if !m.is_empty()
                    && m.iter().all(|(k, v)| {
                        matches!(k.as_str(), "AWS" | "Service" | "Federated" | "CanonicalUser") && strings(v).is_some()
                    }) => {}
            Some(_) => return Err(malformed_policy("Invalid principal in policy")),
        }
        let actions = match st.get("Action").or_else(|| st.get("NotAction")) {
            None => return Err(malformed_policy("Missing required field Action")),
            Some(a) => strings(a).ok_or_else(|| malformed_policy("Policy has invalid action"))?,
        };
        for a in actions {
            let valid = a == "*"
                || a
                    .split_once(':')
                    .is_some_and(|(svc, name)| svc.eq_ignore_ascii_case("s3") && !name.is_empty());
            if !valid {
                return Err(malformed_policy("Policy has invalid action"));
            }
        }
        let resources = match st.get("Resource").or_else(|| st.get("NotResource")) {
            None => return Err(malformed_policy("Missing required field Resource")),
            Some(r) => strings(r).ok_or_else(|| malformed_policy("Policy has invalid resource"))?,
        };
        for r in resources {
            let ours = r == "*"
                || r
                    .strip_prefix("arn:aws:s3:::")
                    .is_some_and(|rest| rest == bucket || rest.starts_with(&format!("{bucket}/")) || rest == "*");
            if !ours {
                return Err(malformed_policy("Policy has invalid resource"));
            }
        }
        if let Some(c) = st.get("Condition") {
            if !c.is_object() {
                return Err(malformed_policy("Invalid Condition in policy"));
            }
        }
    }
    Ok(())
}

impl Backend {
    /// Reads, changes and writes a bucket's settings under the commit lock.
    pub(crate) fn update_bucket(&self, name: &str, change: impl FnOnce(&mut BucketMeta) -> S3Result<()>) -> S3Result<BucketMeta> {
        let _guard = self.commit_lock(name, "");
        let mut b = self.bucket(name)?;
        change(&mut b)?;
        self.store
            .put(BUCKETS, name.as_bytes().to_vec(), serde_json::to_vec(&b).map_err(internal)?)
            .map_err(internal)?;
        Ok(b)
    }

    pub(crate) fn put_versioning(&self, i: PutBucketVersioningInput) -> S3Result<()> {
        let c = i.versioning_configuration;
        let status = match c.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(s @ (BucketVersioningStatus::ENABLED | BucketVersioningStatus::SUSPENDED)) => Some(s.to_string()),
            None => None,
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ))
            }
        };
        let mfa = match c.mfa_delete.as_ref().map(MFADelete::as_str) {
            Some(MFADelete::DISABLED) => Some("Disabled".to_string()),
            None => None,
            Some(MFADelete::ENABLED) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "MFA Delete cannot be enabled: Nimbus has no MFA devices to authenticate the x-amz-mfa header.",
                ))
            }
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ))
            }
        };
        if status.is_none() && mfa.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        self.update_bucket(&i.bucket, |b| {
            if let Some(s) = status {
                b.versioning = Some(s);
            }
            if mfa.is_some() {
                b.mfa_delete = mfa;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn put_bucket_tags(&self, i: PutBucketTaggingInput) -> S3Result<()> {
        let tags = validate_tags(i.tagging.tag_set, 50)?;
        self.update_bucket(&i.bucket, |b| {
            b.tags = Some(tags);
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn get_bucket_tags(&self, bucket: &str) -> S3Result<Vec<Tag>> {
        let b = self.bucket(bucket)?;
        match b.tags {
            Some(t) => Ok(t
                .into_iter()
                .map(|(k, v)| Tag { key: Some(k), value: Some(v) })
                .collect()),
            None => Err(S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist")),
        }
    }

    pub(crate) fn delete_bucket_tags(&self, bucket: &str) -> S3Result<()> {
        self.update_bucket(bucket, |b| {
            b.tags = None;
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn put_policy(&self, bucket: &str, policy: &str) -> S3Result<()> {
        self.bucket(bucket)?;
        validate_policy(bucket, policy)?;
        self.update_bucket(bucket, |b| {
            b.policy = Some(policy.to_string());
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn get_policy(&self, bucket: &str) -> S3Result<String> {
        self.bucket(bucket)?.policy.ok_or_else(|| {
            S3Error::with_message(S3ErrorCode::NoSuchBucketPolicy, "The bucket policy does not exist")
        })
    }

    pub(crate) fn delete_policy(&self, bucket: &str) -> S3Result<()> {
        self.update_bucket(bucket, |b| {
            b.policy = None;
            Ok(())
        })?;
        Ok(())
    }

    pub(crate) fn bucket_acl(&self, bucket: &str) -> S3Result<GetBucketAclOutput> {
        let b = self.bucket(bucket)?;
        Ok(GetBucketAclOutput {
            grants: Some(owner_grants(&b.account_id)),
            owner: Some(owner_of(&b.account_id)),
        })
    }

    pub(crate) fn object_acl(&self, b: &BucketMeta) -> GetObjectAclOutput {
        GetObjectAclOutput {
            grants: Some(owner_grants(&b.account_id)),
            owner: Some(owner_of(&b.account_id)),
            request_charged: None,
        }
    }

    pub(crate) fn ownership_controls(&self, bucket: &str) -> S3Result<GetBucketOwnershipControlsOutput> {
        self.bucket(bucket)?;
        Ok(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from_static(ObjectOwnership::BUCKET_OWNER_ENFORCED),
                }],
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Sid":"r","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert!(validate_policy("b", ok).is_ok());
        let msg = |d: &str| validate_policy("b", d).unwrap_err().message().unwrap_or("").to_string();
        assert_eq!(msg("not json"), "Policies must be valid JSON and the first byte must be '{'");
        assert_eq!(msg(r#"{"Version":"2012-10-17"}"#), "Missing required field Statement");
        assert_eq!(
            msg(r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"*"}]}"#),
            "Invalid effect: Maybe"
        );
        assert_eq!(
            msg(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#),
            "Missing required field Principal"
        );
        assert_eq!(
            msg(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:Run","Resource":"*"}]}"#),
            "Policy has invalid action"
        );
        assert_eq!(
            msg(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}"#),
            "Policy has invalid resource"
        );
    }

    #[test]
    fn tags() {
        let t = |k: &str| Tag { key: Some(k.into()), value: Some("v".into()) };
        assert!(validate_tags(vec![t("a"), t("b")], 50).is_ok());
        assert_eq!(*validate_tags(vec![t("a"), t("a")], 50).unwrap_err().code(), S3ErrorCode::InvalidTag);
        assert_eq!(*validate_tags(vec![t("aws:x")], 50).unwrap_err().code(), S3ErrorCode::InvalidTag);
        assert!(validate_tags((0..11).map(|i| t(&i.to_string())).collect(), 10).is_err());
    }
}
