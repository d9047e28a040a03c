//! Stage access logs: one line per request, rendered from the stage's
//! `AccessLogSettings.format` (`$context.*` variables inside JSON, CLF, XML or CSV
//! text as users write them) and appended to the CloudWatch Logs group named by
//! `destinationArn`, off the request path.

use serde_json::Value;

use nimbus_types::AwsError;

use crate::{bad_request, Inner};

/// Where and how a stage logs.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog {
    pub group: String,
    pub format: String,
}

/// The log group an ARN names: `arn:aws:logs:{region}:{account}:log-group:{name}[:*]`.
fn group_of(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(6, ':');
    let (_partition, service, _region, _account, kind) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = parts.next()?;
    if service != "logs" || kind != "log-group" {
        return None;
    }
    let name = name.strip_suffix(":*").unwrap_or(name);
    (!name.is_empty() && !name.contains(':')).then(|| name.to_string())
}

/// Checks settings as UpdateStage/CreateStage receive them.
pub(crate) fn validate(arn: Option<&str>, format: Option<&str>) -> Result<(), AwsError> {
    if let Some(arn) = arn.filter(|a| !a.is_empty()) {
        if group_of(arn).is_none() {
            return Err(bad_request(format!(
                "Invalid ARN specified in the request: {arn} (expected arn:aws:logs:{{region}}:{{account}}:log-group:{{name}})"
            )));
        }
    }
    if let Some(f) = format.filter(|f| !f.is_empty()) {
        if f.trim_end_matches('\n').contains('\n') {
            return Err(bad_request(
                "Access Log format must be single line, new line character is allowed only at end of the format",
            ));
        }
        if !f.contains("$context.requestId") && !f.contains("$context.extendedRequestId") {
            return Err(bad_request(
                "Access Log format must contain at least one of $context.requestId or $context.extendedRequestId",
            ));
        }
    }
    Ok(())
}

/// The settings in force: both a destination and a format.
pub(crate) fn settings(arn: Option<&str>, format: Option<&str>) -> Option<AccessLog> {
    let group = group_of(arn?)?;
    let format = format
        .filter(|f| !f.is_empty())?
        .trim_end_matches('\n')
        .to_string();
    Some(AccessLog { group, format })
}

/// Replaces every `$context.a.b` with its value; a variable without a value is `-`,
/// as API Gateway writes it.
pub(crate) fn render(format: &str, ctx: &Value) -> String {
    const PREFIX: &str = "$context.";
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(after.len());
        // A trailing dot ends the sentence, not the name.
        let name = after[..len].trim_end_matches('.');
        if name.is_empty() {
            out.push_str(PREFIX);
            rest = after;
            continue;
        }
        let mut cur = Some(ctx);
        for part in name.split('.') {
            cur = cur.and_then(|v| v.get(part));
        }
        match cur {
            None | Some(Value::Null) => out.push('-'),
            Some(Value::String(s)) if s.is_empty() => out.push('-'),
            Some(v) => out.push_str(&crate::vtl::render(v)),
        }
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

impl Inner {
    /// Appends `line` to the stage's log group (stream `stream`) in the background.
    pub(crate) fn write_access_log(
        &self,
        account: &str,
        region: &str,
        log: &AccessLog,
        stream: String,
        line: String,
    ) {
        let Some(logs) = self.logs.get().cloned() else {
            return;
        };
        let (account, region, group) = (account.to_string(), region.to_string(), log.group.clone());
        let now = (nimbus_types::epoch_now() * 1000.0) as i64;
        tokio::task::spawn_blocking(move || {
            if let Err(e) = logs.append(&account, &region, &group, &stream, vec![(now, line)]) {
                tracing::warn!(group = %group, "cannot write an API Gateway access log: {}", e.message);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        let ctx = json!({"requestId": "r1", "identity": {"sourceIp": "1.2.3.4", "caller": ""}, "status": 200});
        assert_eq!(
            render(
                r#"{"id":"$context.requestId","ip":"$context.identity.sourceIp","s":$context.status,"c":"$context.identity.caller","x":"$context.nope"}"#,
                &ctx
            ),
            r#"{"id":"r1","ip":"1.2.3.4","s":200,"c":"-","x":"-"}"#
        );
        assert_eq!(
            render(
                "$context.identity.sourceIp - - [$context.requestId] $context.status.",
                &ctx
            ),
            "1.2.3.4 - - [r1] 200."
        );
        assert_eq!(
            render("<r>$context.requestId</r>,$context.", &ctx),
            "<r>r1</r>,$context."
        );
        assert_eq!(
            group_of("arn:aws:logs:us-east-1:000000000000:log-group:/aws/apigw/x:*").as_deref(),
            Some("/aws/apigw/x")
        );
        assert_eq!(
            group_of("arn:aws:logs:us-east-1:000000000000:log-group:g").as_deref(),
            Some("g")
        );
        assert!(group_of("arn:aws:s3:::bucket").is_none());
        assert!(validate(Some("nope"), None).is_err());
        assert!(validate(None, Some("$context.status")).is_err());
        assert!(validate(None, Some("$context.requestId\n$context.status")).is_err());
        assert!(validate(None, Some("$context.requestId\n")).is_ok());
    }
}
