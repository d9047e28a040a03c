//! Reads, writes and listings for other services inside Nimbus (Lambda deployment
//! packages named by `S3Bucket`/`S3Key`, DynamoDB exports and imports), with S3's rules
//! (versions, delete markers, the bucket's owning account, event notifications) but no
//! HTTP in between. Writes go through the request backend's commit path (see
//! [`Backend::twin`]), so they behave as a PutObject does.

use crate::backend::Backend;
use crate::front::S3Front;
use crate::meta::{now_ms, ObjectMeta};

/// Why an object could not be read: S3's error code and message.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub code: String,
    pub message: String,
}

fn fail(e: s3s::S3Error) -> ReadError {
    ReadError { code: e.code().as_str().to_string(), message: e.message().unwrap_or("").to_string() }
}

fn access_denied() -> ReadError {
    ReadError { code: "AccessDenied".into(), message: "Access Denied".into() }
}

impl S3Front {
    /// Writes `body` as `bucket/key` on behalf of `account` (which must own the bucket),
    /// as a PutObject would: a new version in a versioned bucket, and an
    /// `s3:ObjectCreated:Put` notification. Returns the object's ETag (hex MD5).
    pub async fn write_object(&self, account: &str, region: &str, bucket: &str, key: &str, body: Vec<u8>, content_type: Option<&str>) -> Result<String, ReadError> {
        let backend = &self.writer;
        let b = backend.bucket(bucket).map_err(fail)?;
        if b.account_id != account {
            return Err(access_denied());
        }
        let blob = format!("s3/{}", uuid::Uuid::new_v4().simple());
        let data = bytes::Bytes::from(body);
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(data) });
        let written = backend.write_blob(blob.clone(), Some(s3s::dto::StreamingBlob::wrap(stream)), &[]).await.map_err(fail)?;
        let meta = ObjectMeta {
            blob,
            size: written.size,
            etag: crate::common::md5_hex(&written.md5),
            last_modified_ms: now_ms(),
            content_type: content_type.map(str::to_string),
            checksums: written.checksums.clone(),
            ..Default::default()
        };
        let meta = match backend.commit_object(bucket, key, &meta, nimbus_store::WriteBatch::new()) {
            Ok(m) => m,
            Err(e) => {
                backend.delete_blob(&meta.blob);
                return Err(fail(e));
            }
        };
        let who = crate::Identity { account_id: account.to_string(), region: region.to_string(), request_id: uuid::Uuid::new_v4().simple().to_string() };
        backend.notify(&who, bucket, "s3:ObjectCreated:Put", key, Some((meta.size, &meta.etag)), meta.version_id.as_deref());
        Ok(meta.etag)
    }

    /// Every current object key under `prefix` in `bucket` (owned by `account`), in key
    /// order, with its size; at most `max` keys (more answer `TooManyObjects`).
    pub fn list_objects(&self, account: &str, bucket: &str, prefix: &str, max: usize) -> Result<Vec<(String, u64)>, ReadError> {
        let backend = &self.writer;
        let b = backend.bucket(bucket).map_err(fail)?;
        if b.account_id != account {
            return Err(access_denied());
        }
        let (objects, _, truncated, _) = backend.list(bucket, prefix, None, None, max).map_err(fail)?;
        if truncated {
            return Err(ReadError { code: "TooManyObjects".into(), message: format!("More than {max} objects are under the prefix.") });
        }
        Ok(objects.into_iter().map(|(k, m)| (k, m.size)).collect())
    }

    /// The bytes of `bucket/key` (the current version, or `version`), as `account`
    /// reads it. Objects larger than `max_bytes` are refused with `EntityTooLarge`
    /// before anything is read.
    pub async fn read_object(&self, account: &str, bucket: &str, key: &str, version: Option<&str>, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
        let backend = Backend::for_reads(self.store.clone());
        let (b, m) = backend.readable(bucket, key, version).map_err(fail)?;
        if b.account_id != account {
            return Err(access_denied());
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
