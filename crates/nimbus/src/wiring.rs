//! Connections between services that must not depend on each other.

use std::sync::Arc;

/// S3 event notifications delivered to Lambda's durable async ("Event") queue.
pub struct LambdaEvents(pub Arc<nimbus_lambda::Lambda>);

impl nimbus_s3::EventTarget for LambdaEvents {
    fn exists(&self, account: &str, region: &str, arn: &str) -> bool {
        self.0.function_exists(account, region, arn)
    }

    fn deliver(&self, account: &str, region: &str, arn: &str, event: nimbus_s3::EventJson) {
        let payload = event.to_string().into_bytes();
        if let Err(e) = self.0.invoke_async(account, region, arn, payload.into()) {
            tracing::warn!(function = %arn, "could not queue an S3 event notification: {e:?}");
        }
    }
}
