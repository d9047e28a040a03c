//! Reads for other services inside Nimbus (Lambda deployment packages named by
//! `S3Bucket`/`S3Key`), with S3's lookup rules (versions, delete markers, the bucket's
//! owning account) but no HTTP in between.

use crate::backend::Backend;
use crate::front::S3Front;

/// Why an object could not be read: S3's error code and message.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub code: String,
    pub message: String,
}

impl S3Front {
    /// The bytes of `bucket/key` (the current version, or `version`), as `account`
    /// reads it. Objects larger than `max_bytes` are refused with `EntityTooLarge`
    /// before anything is read.
    pub async fn read_object(&self, account: &str, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        let fail = |e: s3s::S3Error| ReadError {
            code: e.code().as_str().to_string(),
            message: e.message().unwrap_or("").to_string(),
        };
        let backend = Backend::for_reads(self.store.clone());
        let (b, m) = backend.readable(bucket, key, version).map_err(fail)?;
        if b.account_id != account {
            return Err(ReadError { code: "AccessDenied".into(), message: "Access Denied".into() });
        }
        if m.size > max_bytes {
            return Err(ReadError {
                code: "EntityTooLarge".into(),
                message: format!("The object is {} bytes; at most {max_bytes} can be read here.", m.size),
            });
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let blob = store.blobs().get(&m.blob).ok().flatten();
            blob.and_then(|b| b.read_to_vec().ok())
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ReadError { code: "InternalError".into(), message: "The object's data could not be read.".into() })
    }
}
