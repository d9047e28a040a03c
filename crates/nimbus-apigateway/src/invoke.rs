//! Invoking a Lambda function for an integration: the permission check, the
//! integration timeout, and the reasons a call failed (each maps to the status AWS
//! answers).

use std::time::Duration;

use bytes::Bytes;

use crate::permission::split_qualifier;
use crate::{Inner, Invocation};

/// Why an integration could not get an answer from its function.
pub(crate) enum InvokeError {
    /// The function's policy does not let API Gateway invoke it (500).
    Denied,
    /// The call took longer than the integration's `timeoutInMillis` (504).
    Timeout,
    /// The invocation failed (no such function, service error; 500).
    Failed,
}

/// The integration timeout: `timeoutInMillis`, at least 50 ms.
pub(crate) fn timeout_of(ms: Option<i32>, default: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms.unwrap_or(default).max(50)).unwrap_or(29_000))
}

/// One Lambda call for an integration.
pub(crate) struct Call<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub api_id: &'a str,
    pub function: &'a str,
    /// The integration's role: set, it is trusted and the policy is not read.
    pub credentials: Option<&'a str>,
    /// The `execute-api` ARNs the request may be known by (`AWS:SourceArn`).
    pub source_arns: &'a [String],
    pub timeout: Duration,
}

impl Inner {
    pub(crate) async fn invoke_function(
        &self,
        call: &Call<'_>,
        payload: Bytes,
    ) -> Result<Invocation, InvokeError> {
        let work = async {
            self.check_permission(call).await?;
            self.invoker
                .invoke(call.account, call.region, call.function, payload)
                .await
                .map_err(|e| {
                    tracing::warn!(api = %call.api_id, function = %call.function, "Lambda invocation failed: {e}");
                    InvokeError::Failed
                })
        };
        tokio::time::timeout(call.timeout, work)
            .await
            .map_err(|_| {
                tracing::warn!(api = %call.api_id, function = %call.function, "Lambda integration timed out after {} ms", call.timeout.as_millis());
                InvokeError::Timeout
            })?
    }

    async fn check_permission(&self, call: &Call<'_>) -> Result<(), InvokeError> {
        if self.permissions.allow_all() || call.credentials.is_some_and(|c| !c.is_empty()) {
            return Ok(());
        }
        let source = call.source_arns.first().map(String::as_str).unwrap_or("");
        let deny = |why: &str| {
            tracing::warn!(
                api = %call.api_id,
                function = %call.function,
                "API Gateway has no permission to invoke {}: {why}. Grant it with: aws lambda add-permission --function-name {} --statement-id apigateway --action lambda:InvokeFunction --principal apigateway.amazonaws.com --source-arn '{source}' (or serve with --apigateway-lambda-permissions allow-all)",
                call.function,
                call.function,
            );
            InvokeError::Denied
        };
        let (function, qualifier) = split_qualifier(call.function);
        let got = self
            .invoker
            .policy(call.account, call.region, function, qualifier)
            .await
            .map_err(|e| deny(&format!("GetPolicy answered {}: {}", e.code, e.message)))?;
        let key = format!("{}/{}/{}", call.account, call.region, call.function);
        let policy = self
            .permissions
            .parsed(&key, &got.revision_id, &got.policy)
            .map_err(|e| deny(&e))?;
        if policy.allows(call.source_arns, call.account) {
            Ok(())
        } else {
            Err(deny(&format!(
                "no statement of its resource policy allows apigateway.amazonaws.com to call lambda:InvokeFunction for {source}"
            )))
        }
    }
}
