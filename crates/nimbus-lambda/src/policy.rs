//! Function resource policies: `AddPermission`, `RemovePermission`, `GetPolicy`.
//!
//! The statements live in the function's record (so they go away with the function and
//! a change bumps its RevisionId, as on AWS). They are rendered exactly as Lambda renders
//! them: a principal that is an account id becomes `{"AWS": "arn:aws:iam::<id>:root"}`,
//! a service principal `{"Service": ...}`, `SourceArn` an `ArnLike` condition on
//! `AWS:SourceArn`, `SourceAccount` a `StringEquals` on `AWS:SourceAccount`.
//!
//! Lambda itself does not check these on `Invoke` from the same account (callers there
//! are authorised by IAM); services that invoke functions on a principal's behalf (API
//! Gateway, S3 notifications) read them through `GetPolicy`.

use nimbus_model::types::lambda as t;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Map, Value};

use crate::model::{function_arn, FunctionRecord};
use crate::versions::{check_derived_qualifier, is_version};
use crate::{invalid, not_found, parse_name, Inner};

/// Which policy operation resolves its function: each names a missing function, version
/// or alias its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Get,
}

/// An alias name (`(?!^[0-9]+$)([a-zA-Z0-9-_]+)`) rather than a version or `$LATEST`.
fn is_alias_name(q: &str) -> bool {
    !q.is_empty() && !is_version(q) && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Inner {
    /// The function (at its qualifier) whose policy `op` reads or changes. AWS's answers,
    /// as recorded from the service (localstack's test_lambda_api.snapshot.json,
    /// test_permission_exceptions): AddPermission refuses `$LATEST`; a missing alias is
    /// "Cannot find alias arn: ..." (AddPermission, RemovePermission); RemovePermission on
    /// a missing function is "No policy found for: <arn>"; GetPolicy on a missing version
    /// is "The resource you requested does not exist.".
    pub(crate) fn resolve_for_policy(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>, op: Op) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q);
        if op == Op::Add && q.as_deref() == Some("$LATEST") {
            return Err(invalid("We currently do not support adding policies for $LATEST."));
        }
        let Some(latest) = self.load(&account, &region, &name)? else {
            if op == Op::Remove {
                return Err(AwsError::new(404, "ResourceNotFoundException", format!("No policy found for: {}", function_arn(&region, &account, &name))));
            }
            return Err(not_found(&region, &account, &name, None));
        };
        let Some(q) = q.filter(|q| q != "$LATEST") else { return Ok(latest) };
        let missing = if is_version(&q) {
            self.load_version(&account, &region, &name, &q)?.is_none()
        } else {
            is_alias_name(&q) && self.load_alias(&account, &region, &name, &q)?.is_none()
        };
        if missing {
            if op == Op::Get && is_version(&q) {
                return Err(no_policy());
            }
            if is_alias_name(&q) {
                return Err(AwsError::new(404, "ResourceNotFoundException", format!("Cannot find alias arn: {}:{q}", latest.arn())));
            }
        }
        self.resolve_qualified(latest, &q)
    }
}

/// AWS's limit on a function policy document.
const MAX_POLICY_BYTES: usize = 20 * 1024;

fn validation(field: &str, value: &str, constraint: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

fn check_statement_id(sid: &str) -> Result<(), AwsError> {
    if sid.is_empty() || sid.len() > 100 || !sid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(validation("statementId", sid, "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"));
    }
    Ok(())
}

fn check_action(action: &str) -> Result<(), AwsError> {
    let ok = action == "*"
        || action == "lambda:*"
        || action.strip_prefix("lambda:").is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()));
    if !ok {
        return Err(validation("action", action, "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])"));
    }
    Ok(())
}

/// The `Principal` element Lambda writes for an `AddPermission` principal.
fn principal(p: &str) -> Result<Value, AwsError> {
    if p == "*" {
        return Ok(Value::String("*".into()));
    }
    if nimbus_types::is_account_id(p) {
        return Ok(json!({"AWS": format!("arn:aws:iam::{p}:root")}));
    }
    if p.starts_with("arn:") {
        return Ok(json!({"AWS": p}));
    }
    if p.contains('.') && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)) {
        return Ok(json!({"Service": p}));
    }
    Err(AwsError::new(
        400,
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
    ))
}

/// Adds a statement; answers the statement as a JSON string.
pub fn add(rec: &mut FunctionRecord, input: &t::AddPermissionRequest, resource: &str) -> Result<String, AwsError> {
    check_statement_id(&input.statement_id)?;
    check_action(&input.action)?;
    if rec.policy.iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(input.statement_id.as_str())) {
        return Err(AwsError::new(
            409,
            "ResourceConflictException",
            format!(
                "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                input.statement_id
            ),
        ));
    }
    let mut condition = Map::new();
    let mut string_equals = Map::new();
    if let Some(a) = &input.source_account {
        string_equals.insert("AWS:SourceAccount".into(), Value::String(a.clone()));
    }
    if let Some(o) = &input.principal_org_id {
        string_equals.insert("aws:PrincipalOrgID".into(), Value::String(o.clone()));
    }
    if let Some(tok) = &input.event_source_token {
        string_equals.insert("lambda:EventSourceToken".into(), Value::String(tok.clone()));
    }
    if let Some(auth) = &input.function_url_auth_type {
        if auth != "NONE" && auth != "AWS_IAM" {
            return Err(validation("functionUrlAuthType", auth, "Member must satisfy enum value set: [NONE, AWS_IAM]"));
        }
        string_equals.insert("lambda:FunctionUrlAuthType".into(), Value::String(auth.clone()));
    }
    if !string_equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(string_equals));
    }
    if input.invoked_via_function_url == Some(true) {
        condition.insert("Bool".into(), json!({"lambda:InvokedViaFunctionUrl": "true"}));
    }
    if let Some(arn) = &input.source_arn {
        condition.insert("ArnLike".into(), json!({"AWS:SourceArn": arn}));
    }
    let mut statement = json!({
        "Sid": input.statement_id,
        "Effect": "Allow",
        "Principal": principal(&input.principal)?,
        "Action": input.action,
        "Resource": resource,
    });
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    rec.policy.push(statement.clone());
    if document(rec).map(|d| d.len()).unwrap_or(0) > MAX_POLICY_BYTES {
        rec.policy.pop();
        return Err(AwsError::new(
            400,
            "PolicyLengthExceededException",
            "The final policy size is bigger than the limit.",
        ));
    }
    Ok(statement.to_string())
}

/// Removes the statement `sid`.
pub fn remove(rec: &mut FunctionRecord, sid: &str) -> Result<(), AwsError> {
    if rec.policy.is_empty() {
        return Err(AwsError::new(404, "ResourceNotFoundException", "No policy is associated with the given resource."));
    }
    let before = rec.policy.len();
    rec.policy.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
    if rec.policy.len() == before {
        return Err(AwsError::new(404, "ResourceNotFoundException", format!("Statement {sid} is not found in resource policy.")));
    }
    Ok(())
}

/// The policy document as Lambda returns it from `GetPolicy`, or `None` when the function
/// has no statements.
pub fn document(rec: &FunctionRecord) -> Option<String> {
    (!rec.policy.is_empty()).then(|| json!({"Version": "2012-10-17", "Id": "default", "Statement": rec.policy}).to_string())
}

pub fn no_policy() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "The resource you requested does not exist.")
}
