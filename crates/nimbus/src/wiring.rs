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

/// Execution-role credentials for Lambda environments, issued by STS as `AssumeRole`
/// would (session name = the function name), so they authenticate in `sigv4` mode too.
pub struct RoleSessions(pub Arc<nimbus_sts::Keys>);

/// How long an environment's credentials last. Environments are recycled well before
/// (see `nimbus_lambda`'s maximum environment age), as AWS rotates them.
const ROLE_SESSION_SECONDS: f64 = 12.0 * 3600.0;

impl nimbus_lambda::RoleCredentials for RoleSessions {
    fn assume<'a>(
        &'a self,
        role_arn: &'a str,
        session_name: &'a str,
    ) -> nimbus_protocol::BoxFuture<'a, Result<nimbus_lambda::Credentials, nimbus_types::AwsError>> {
        Box::pin(async move {
            // arn:aws:iam::<account>:role/<path/>name — CreateFunction validated the shape.
            let mut parts = role_arn.splitn(6, ':');
            let account = parts.nth(4).unwrap_or(nimbus_types::DEFAULT_ACCOUNT);
            let resource = parts.next().unwrap_or("role/unknown");
            let name = resource.rsplit('/').next().unwrap_or(resource);
            let expiration = (nimbus_types::epoch_now() + ROLE_SESSION_SECONDS).floor();
            let role_id = nimbus_sts::role_id(account, name);
            let session = nimbus_sts::Session::assumed_role(account, name, session_name, &role_id, expiration);
            let s = self.0.issue(session).await?;
            Ok(nimbus_lambda::Credentials {
                access_key_id: s.access_key_id,
                secret_access_key: s.secret_access_key,
                session_token: s.session_token,
            })
        })
    }
}

/// Nimbus' edge served inside a VPC function's private network (on a listener Lambda
/// opened in that network namespace), with the same router as the main listener. Weak:
/// the edge owns Lambda's handler.
pub struct EdgeInVpc(pub std::sync::Weak<nimbus_edge::Edge>);

impl nimbus_lambda::VpcEndpoint for EdgeInVpc {
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let edge = self.0.clone();
        tokio::spawn(async move {
            if let Some(edge) = edge.upgrade() {
                // Runs until Lambda aborts it (the network's last environment is gone).
                nimbus_edge::serve(listener, edge, std::future::pending()).await;
            }
        })
    }
}

/// Lambda deployment packages named by `S3Bucket`/`S3Key`, read from Nimbus' S3.
pub struct S3Code(pub Arc<nimbus_s3::S3Front>);

impl nimbus_lambda::CodeSource for S3Code {
    fn fetch<'a>(
        &'a self,
        account: &'a str,
        bucket: &'a str,
        key: &'a str,
        version: Option<&'a str>,
        max_bytes: u64,
    ) -> nimbus_protocol::BoxFuture<'a, Result<Vec<u8>, nimbus_types::AwsError>> {
        Box::pin(async move {
            self.0.read_object(account, bucket, key, version, max_bytes).await.map_err(|e| {
                if e.code == "EntityTooLarge" {
                    return nimbus_types::AwsError::new(
                        400,
                        "InvalidParameterValueException",
                        format!("Unzipped size must be smaller than {max_bytes} bytes"),
                    );
                }
                // Lambda's wording for S3 failures while fetching code.
                nimbus_types::AwsError::new(
                    400,
                    "InvalidParameterValueException",
                    format!("Error occurred while GetObject. S3 Error Code: {}. S3 Error Message: {}", e.code, e.message),
                )
            })
        })
    }
}

/// DynamoDB exports and imports, written to and read from Nimbus' S3.
pub struct S3Objects(pub Arc<nimbus_s3::S3Front>);

fn s3_failure(e: nimbus_s3::ReadError) -> nimbus_dynamodb::S3Failure {
    nimbus_dynamodb::S3Failure { code: e.code, message: e.message }
}

impl nimbus_dynamodb::ObjectStore for S3Objects {
    fn put<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
    ) -> nimbus_protocol::BoxFuture<'a, Result<String, nimbus_dynamodb::S3Failure>> {
        Box::pin(async move { self.0.write_object(account, region, bucket, key, body, None).await.map_err(s3_failure) })
    }

    fn list<'a>(
        &'a self,
        account: &'a str,
        bucket: &'a str,
        prefix: &'a str,
    ) -> nimbus_protocol::BoxFuture<'a, Result<Vec<(String, u64)>, nimbus_dynamodb::S3Failure>> {
        // Far more objects than an import should name: larger prefixes are refused.
        Box::pin(async move { self.0.list_objects(account, bucket, prefix, 100_000).map_err(s3_failure) })
    }

    fn get<'a>(
        &'a self,
        account: &'a str,
        bucket: &'a str,
        key: &'a str,
        max_bytes: u64,
    ) -> nimbus_protocol::BoxFuture<'a, Result<Vec<u8>, nimbus_dynamodb::S3Failure>> {
        Box::pin(async move { self.0.read_object(account, bucket, key, None, max_bytes).await.map_err(s3_failure) })
    }
}

/// DynamoDB streams read by Lambda's event source mappings.
pub struct DynamoStreams(pub nimbus_dynamodb::DynamoDbStreams);

fn stream_error(e: nimbus_types::AwsError) -> nimbus_lambda::StreamError {
    // A malformed ARN names no stream either.
    if e.code == "ResourceNotFoundException" || e.code == "ValidationException" {
        nimbus_lambda::StreamError::NotFound
    } else {
        nimbus_lambda::StreamError::Failed(e.message)
    }
}

impl nimbus_lambda::StreamSource for DynamoStreams {
    fn describe(&self, account: &str, region: &str, arn: &str) -> Result<nimbus_lambda::StreamDescription, nimbus_lambda::StreamError> {
        let info = self.0.stream_info(account, region, arn).map_err(stream_error)?;
        Ok(nimbus_lambda::StreamDescription {
            enabled: info.enabled,
            partition_key: info.hash_key,
            shards: info
                .shards
                .into_iter()
                .map(|(shard_id, parent_shard_id)| nimbus_lambda::StreamShard { shard_id, parent_shard_id })
                .collect(),
        })
    }

    fn last_sequence(&self, account: &str, region: &str, arn: &str, shard: &str) -> Result<Option<String>, nimbus_lambda::StreamError> {
        self.0.last_sequence_number(account, region, arn, shard).map_err(stream_error)
    }

    fn read(
        &self,
        account: &str,
        region: &str,
        arn: &str,
        shard: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<nimbus_lambda::ShardRecords, nimbus_lambda::StreamError> {
        let (records, ended) = self.0.read_records(account, region, arn, shard, after, limit).map_err(stream_error)?;
        Ok(nimbus_lambda::ShardRecords { records, ended })
    }
}

/// Lambda function URLs served by the edge (`{id}.lambda-url.{region}.*` hosts and the
/// `/_nimbus/lambda-url/{id}/` path form).
pub struct LambdaUrls(pub Arc<nimbus_lambda::Lambda>);

impl nimbus_edge::RawHandler for LambdaUrls {
    fn call<'a>(&'a self, parts: http::request::Parts, body: bytes::Bytes) -> nimbus_protocol::BoxFuture<'a, http::Response<bytes::Bytes>> {
        Box::pin(self.0.serve_url(parts, body))
    }
}
