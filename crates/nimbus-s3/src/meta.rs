//! What is stored in the KV keyspaces, as JSON values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const BUCKETS: &str = "s3.buckets";
pub const OBJECTS: &str = "s3.objects";
pub const UPLOADS: &str = "s3.uploads";
pub const PARTS: &str = "s3.parts";
/// Every version of every object (delete markers included): `bucket/key\0<16 hex>`,
/// the hex being `u64::MAX - seq`, so a key's versions scan newest first.
pub const VERSIONS: &str = "s3.versions";
/// Crate bookkeeping (the versions backfill marker).
pub const META: &str = "s3.meta";

/// `s3.buckets`: bucket name → settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketMeta {
    pub name: String,
    pub account_id: String,
    pub region: String,
    pub created_ms: i64,
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    /// The notification configuration as the client sent it (XML, re-served verbatim).
    #[serde(default)]
    pub notification_xml: Option<String>,
    /// The event notification configuration (PutBucketNotificationConfiguration).
    #[serde(default)]
    pub notifications: Option<crate::notify::Notifications>,
    /// `Enabled` or `Suspended`; None while versioning has never been configured.
    #[serde(default)]
    pub versioning: Option<String>,
    /// `Disabled` once a versioning request named MFADelete (Enabled is refused).
    #[serde(default)]
    pub mfa_delete: Option<String>,
    /// The CORS rules (PutBucketCors).
    #[serde(default)]
    pub cors: Option<Vec<crate::cors::Rule>>,
    /// The bucket policy document as the client sent it.
    #[serde(default)]
    pub policy: Option<String>,
}

/// `s3.objects`: `bucket/key` → metadata; the data is blob `blob`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ObjectMeta {
    pub blob: String,
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for multipart.
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_encoding: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Full-object checksums: algorithm (CRC32, CRC32C, SHA1, SHA256, CRC64NVME) → base64.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
    #[serde(default)]
    pub parts: Option<u32>,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// None is the `null` version (unversioned or suspended buckets).
    #[serde(default)]
    pub version_id: Option<String>,
    /// A delete marker: no data (`blob` is empty).
    #[serde(default)]
    pub delete_marker: bool,
    /// Position among the key's versions (greater is newer); 0 before the backfill.
    #[serde(default)]
    pub seq: u64,
}

/// `s3.uploads`: `bucket/key\0uploadId` → the upload's object settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiated_ms: i64,
    pub object: ObjectMeta,
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
}

/// `s3.parts`: `uploadId/NNNNN` → one uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    pub part_number: i32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + key.len() + 1);
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = versions_prefix(bucket, key);
    k.extend_from_slice(format!("{:016x}", u64::MAX - seq).as_bytes());
    k
}

/// Where the versions of `bucket/key` start: `bucket/key\0`.
pub fn versions_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k
}

/// Length of the `\0<16 hex>` suffix of a version key.
pub const VERSION_SUFFIX: usize = 17;

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub fn part_key(upload_id: &str, part: i32) -> Vec<u8> {
    format!("{upload_id}/{part:05}").into_bytes()
}

pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
