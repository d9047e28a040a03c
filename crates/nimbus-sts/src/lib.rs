//! STS: who the caller is (`GetCallerIdentity`) and temporary credentials
//! (`AssumeRole`, `GetSessionToken`).
//!
//! Issued credentials are stored durably, so they keep authenticating after a restart
//! until they expire. [`Keys`] is the credential provider the edge verifies
//! signatures with: the configured long-term keys plus every live session.

mod keys;

use std::sync::Arc;

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::sts::{Op, SERVICE};
use nimbus_model::types::sts as t;
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_types::{epoch_now, AwsError, RequestContext};

pub use keys::{role_id, Keys, Session, StaticKey};

/// Default and bounds of `DurationSeconds` for AssumeRole (AWS: 15 minutes to 12 hours,
/// default one hour).
const DEFAULT_DURATION: i64 = 3600;
const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 43_200;
/// GetSessionToken allows up to 36 hours.
const MAX_SESSION_TOKEN_DURATION: i64 = 129_600;

/// The STS service.
pub struct Sts {
    keys: Arc<Keys>,
}

impl Sts {
    pub fn new(keys: Arc<Keys>) -> Self {
        Sts { keys }
    }

    fn caller_identity(&self, ctx: &RequestContext) -> t::GetCallerIdentityResponse {
        let session = ctx.access_key_id.as_deref().and_then(|k| self.keys.session(k).ok().flatten());
        match session {
            Some(s) => t::GetCallerIdentityResponse {
                user_id: Some(s.user_id),
                account: Some(s.account_id),
                arn: Some(s.arn),
            },
            None => t::GetCallerIdentityResponse {
                user_id: Some(ctx.access_key_id.clone().unwrap_or_else(|| ctx.account_id.clone())),
                account: Some(ctx.account_id.clone()),
                arn: Some(format!("arn:aws:iam::{}:root", ctx.account_id)),
            },
        }
    }

    async fn assume_role(&self, ctx: &RequestContext, input: t::AssumeRoleRequest) -> Result<t::AssumeRoleResponse, AwsError> {
        let (account, role_name) = parse_role_arn(&input.role_arn).ok_or_else(|| {
            AwsError::new(400, "ValidationError", format!("{} is invalid", input.role_arn))
        })?;
        let duration = i64::from(input.duration_seconds.unwrap_or(DEFAULT_DURATION as i32));
        if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
            return Err(AwsError::new(
                400,
                "ValidationError",
                format!("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
            ));
        }
        let role_id = keys::role_id(&account, &role_name);
        let session = self
            .keys
            .issue(Session::assumed_role(
                &account,
                &role_name,
                &input.role_session_name,
                &role_id,
                (epoch_now() + duration as f64).floor(),
            ))
            .await?;
        let _ = ctx;
        Ok(t::AssumeRoleResponse {
            credentials: Some(credentials(&session)),
            assumed_role_user: Some(t::AssumedRoleUser {
                assumed_role_id: Some(session.user_id.clone()),
                arn: Some(session.arn.clone()),
            }),
            packed_policy_size: input.policy.as_ref().map(|p| (p.len() * 100 / 2048) as i32),
            source_identity: input.source_identity.clone(),
        })
    }

    async fn session_token(&self, ctx: &RequestContext, input: t::GetSessionTokenRequest) -> Result<t::GetSessionTokenResponse, AwsError> {
        let duration = i64::from(input.duration_seconds.unwrap_or(43_200));
        if !(MIN_DURATION..=MAX_SESSION_TOKEN_DURATION).contains(&duration) {
            return Err(AwsError::new(400, "ValidationError", "The requested DurationSeconds is out of range."));
        }
        let (arn, user_id) = match ctx.access_key_id.as_deref().and_then(|k| self.keys.session(k).ok().flatten()) {
            Some(_) => {
                return Err(AwsError::new(
                    403,
                    "AccessDenied",
                    "Cannot call GetSessionToken with session credentials",
                ))
            }
            None => (format!("arn:aws:iam::{}:root", ctx.account_id), ctx.account_id.clone()),
        };
        let session = self
            .keys
            .issue(Session { account_id: ctx.account_id.clone(), arn, user_id, ..Session::blank((epoch_now() + duration as f64).floor()) })
            .await?;
        Ok(t::GetSessionTokenResponse { credentials: Some(credentials(&session)) })
    }
}

fn credentials(s: &Session) -> t::Credentials {
    t::Credentials {
        access_key_id: Some(s.access_key_id.clone()),
        secret_access_key: Some(s.secret_access_key.clone()),
        session_token: Some(s.session_token.clone()),
        expiration: Some(nimbus_model::Timestamp(s.expiration)),
    }
}

/// `arn:aws:iam::<account>:role/<path/><name>` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(String, String)> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some(account), Some(resource)) =
        (it.next(), it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    if !nimbus_types::is_account_id(account) {
        return None;
    }
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (!name.is_empty()).then(|| (account.to_string(), name.to_string()))
}

impl Handler for Sts {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        matches!(Op::from_name(op), Some(Op::GetCallerIdentity | Op::AssumeRole | Op::GetSessionToken))
    }

    fn call<'a>(&'a self, ctx: &'a RequestContext, op: &'static Operation, input: Input) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            match Op::from_name(op.name) {
                Some(Op::GetCallerIdentity) => Output::from(&self.caller_identity(ctx)),
                Some(Op::AssumeRole) => Output::from(&self.assume_role(ctx, input.parse()?).await?),
                Some(Op::GetSessionToken) => Output::from(&self.session_token(ctx, input.parse()?).await?),
                _ => Err(nimbus_protocol::not_implemented(nimbus_protocol::Wire::Query, "STS", op.name)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_role_arn;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/to/Admin"),
            Some(("123456789012".into(), "Admin".into()))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::12345:role/x"), None);
        assert_eq!(parse_role_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(parse_role_arn("not an arn at all here"), None);
    }
}
