//! The `s3s::S3` implementation over `nimbus-store`.
//!
//! Writes: the body is streamed into a new blob (MD5 and requested checksums computed
//! on the way) on a blocking thread; only when the blob is complete is the metadata
//! committed, in one KV batch; only then is the response sent. A crash before the
//! commit leaves an orphaned temp file (removed at open) and no visible object.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::Bound;

use bytes::Bytes;
use futures::StreamExt;
use nimbus_store::{Direction, Store, WriteBatch};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use tokio::io::AsyncSeekExt;

use crate::front::Trailers;
use crate::meta::*;
use crate::Identity;

const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

pub struct Backend {
    store: Store,
    events: crate::notify::TargetSlot,
}

impl Backend {
    pub fn new(store: Store, events: crate::notify::TargetSlot) -> Self {
        Backend { store, events }
    }
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::warn!("s3 storage error: {e}");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

fn no_such_bucket(bucket: &str) -> S3Error {
    let _ = bucket;
    S3Error::with_message(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
}

fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

fn identity<T>(req: &S3Request<T>) -> Identity {
    req.extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity {
            account_id: nimbus_types::DEFAULT_ACCOUNT.into(),
            region: nimbus_types::DEFAULT_REGION.into(),
            request_id: nimbus_types::new_request_id(),
        })
}

fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

fn ts_secs(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    t.unix_timestamp()
}

fn etag(e: &str) -> ETag {
    ETag::Strong(e.to_string())
}

fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let ok_chars = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-');
    let ends = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ip_like = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    ok_chars
        && ends(b[0])
        && ends(b[b.len() - 1])
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !ip_like
        && !name.starts_with("xn--")
        && !name.ends_with("-s3alias")
}

/// Which checksum algorithms a write asked for.
fn hasher_for(algos: &[String]) -> ChecksumHasher {
    let mut h = ChecksumHasher::default();
    for a in algos {
        match a.as_str() {
            "CRC32" => h.crc32 = Some(Default::default()),
            "CRC32C" => h.crc32c = Some(Default::default()),
            "SHA1" => h.sha1 = Some(Default::default()),
            "SHA256" => h.sha256 = Some(Default::default()),
            "CRC64NVME" => h.crc64nvme = Some(Default::default()),
            _ => {}
        }
    }
    h
}

fn checksum_map(c: s3s::dto::Checksum) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Some(v) = c.checksum_crc32 {
        m.insert("CRC32".into(), v);
    }
    if let Some(v) = c.checksum_crc32c {
        m.insert("CRC32C".into(), v);
    }
    if let Some(v) = c.checksum_sha1 {
        m.insert("SHA1".into(), v);
    }
    if let Some(v) = c.checksum_sha256 {
        m.insert("SHA256".into(), v);
    }
    if let Some(v) = c.checksum_crc64nvme {
        m.insert("CRC64NVME".into(), v);
    }
    m
}

/// The checksums a write declared: algorithm → expected value (None = compute only).
struct Declared {
    algos: Vec<String>,
    values: BTreeMap<String, String>,
}

fn declared<T>(
    req: &S3Request<T>,
    algorithm: Option<&ChecksumAlgorithm>,
    given: [(&str, Option<&String>); 5],
) -> Declared {
    let mut algos = Vec::new();
    let mut values = BTreeMap::new();
    for (name, v) in given {
        if let Some(v) = v {
            algos.push(name.to_string());
            values.insert(name.to_string(), v.clone());
        }
    }
    if let Some(a) = algorithm {
        algos.push(a.as_str().to_ascii_uppercase());
    }
    if let Some(t) = req
        .headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
    {
        for name in t.split(',') {
            if let Some(a) = name
                .trim()
                .to_ascii_lowercase()
                .strip_prefix("x-amz-checksum-")
            {
                algos.push(a.to_ascii_uppercase());
            }
        }
    }
    algos.sort();
    algos.dedup();
    Declared { algos, values }
}

fn verify_checksums<T>(
    req: &S3Request<T>,
    d: &Declared,
    got: &BTreeMap<String, String>,
) -> S3Result<()> {
    let trailers = req.extensions.get::<Trailers>();
    for a in &d.algos {
        let want = d.values.get(a).cloned().or_else(|| {
            trailers.and_then(|t| t.get(&format!("x-amz-checksum-{}", a.to_ascii_lowercase())))
        });
        if let (Some(want), Some(got)) = (want, got.get(a)) {
            if &want != got {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {a} you specified did not match the calculated checksum."),
                ));
            }
        }
    }
    Ok(())
}

struct Written {
    size: u64,
    md5: [u8; 16],
    checksums: BTreeMap<String, String>,
}

fn body_error(e: &(dyn std::error::Error + Send + Sync)) -> S3Error {
    let msg = e.to_string();
    if msg.contains("SHA256Mismatch") {
        S3Error::with_message(
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    } else if msg.to_ascii_lowercase().contains("signature") {
        S3Error::with_message(
            S3ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided.",
        )
    } else {
        S3Error::with_message(
            S3ErrorCode::IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        )
    }
}

impl Backend {
    fn bucket(&self, name: &str) -> S3Result<BucketMeta> {
        let raw = self
            .store
            .get(BUCKETS, name.as_bytes())
            .map_err(internal)?
            .ok_or_else(|| no_such_bucket(name))?;
        serde_json::from_slice(&raw).map_err(internal)
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<Option<ObjectMeta>> {
        match self
            .store
            .get(OBJECTS, &object_key(bucket, key))
            .map_err(internal)?
        {
            Some(raw) => Ok(Some(serde_json::from_slice(&raw).map_err(internal)?)),
            None => Ok(None),
        }
    }

    fn existing_object(&self, bucket: &str, key: &str) -> S3Result<ObjectMeta> {
        self.bucket(bucket)?;
        self.object(bucket, key)?.ok_or_else(no_such_key)
    }

    /// Streams `body` into a new blob `id`.
    async fn write_blob(
        &self,
        id: String,
        body: Option<StreamingBlob>,
        algos: &[String],
    ) -> S3Result<Written> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(16);
        let store = self.store.clone();
        let mut hasher = hasher_for(algos);
        let task = tokio::task::spawn_blocking(move || -> Result<Option<Written>, String> {
            let mut writer = store.blobs().writer(&id).map_err(|e| e.to_string())?;
            let mut md5 = Md5::new();
            let mut size = 0u64;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    Some(data) => {
                        md5.update(&data);
                        hasher.update(&data);
                        size += data.len() as u64;
                        writer.write_all(&data).map_err(|e| e.to_string())?;
                    }
                    None => {
                        writer.finish().map_err(|e| e.to_string())?;
                        let md5: [u8; 16] = md5.finalize();
                        return Ok(Some(Written {
                            size,
                            md5,
                            checksums: checksum_map(hasher.finalize()),
                        }));
                    }
                }
            }
            // The sender went away without the end marker: the body failed; the
            // unfinished writer is dropped, which discards the temp file.
            Ok(None)
        });
        let mut failure = None;
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(data) => {
                        if tx.send(Some(data)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        failure = Some(body_error(e.as_ref()));
                        break;
                    }
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(None).await;
        }
        drop(tx);
        let result = task.await.map_err(internal)?.map_err(internal)?;
        if let Some(f) = failure {
            return Err(f);
        }
        result.ok_or_else(|| internal("blob writer stopped"))
    }

    fn delete_blob(&self, id: &str) {
        if let Err(e) = self.store.blobs().delete(id) {
            tracing::warn!("could not delete blob {id}: {e}");
        }
    }

    /// Copies blob `src` into a new blob `dst` (on a blocking thread).
    async fn copy_blob(&self, src: String, dst: String) -> S3Result<u64> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let mut blob = store
                .blobs()
                .get(&src)
                .map_err(|e| e.to_string())?
                .ok_or("source blob missing")?;
            let mut w = store.blobs().writer(&dst).map_err(|e| e.to_string())?;
            std::io::copy(&mut blob, &mut w).map_err(|e| e.to_string())?;
            w.finish().map_err(|e| e.to_string())
        })
        .await
        .map_err(internal)?
        .map_err(internal)
    }

    fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        extra: WriteBatch,
    ) -> S3Result<Option<ObjectMeta>> {
        let old = self.object(bucket, key)?;
        let mut batch = extra;
        batch.put(
            OBJECTS,
            object_key(bucket, key),
            serde_json::to_vec(meta).map_err(internal)?,
        );
        self.store.write(batch).map_err(internal)?;
        if let Some(old) = &old {
            if old.blob != meta.blob {
                self.delete_blob(&old.blob);
            }
        }
        Ok(old)
    }

    /// Lists `bucket` in key order. Returns (objects, common prefixes, truncated,
    /// last item returned: the marker to resume after).
    #[allow(clippy::type_complexity)]
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: usize,
    ) -> S3Result<(Vec<(String, ObjectMeta)>, Vec<String>, bool, Option<String>)> {
        let base = object_key(bucket, "");
        let mut lower = Bound::Included(object_key(bucket, prefix));
        if let Some(after) = after {
            if after.as_bytes() >= prefix.as_bytes() {
                let mut k = object_key(bucket, after);
                // A common prefix marker: skip every key under it (0xFF is never in UTF-8).
                if delimiter.is_some_and(|d| !d.is_empty() && after.ends_with(d)) {
                    k.push(0xFF);
                    lower = Bound::Included(k);
                } else {
                    lower = Bound::Excluded(k);
                }
            }
        }
        let scan = self
            .store
            .range(
                OBJECTS,
                (lower, Bound::<Vec<u8>>::Unbounded),
                Direction::Forward,
            )
            .map_err(internal)?;
        let mut objects = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last = None;
        for item in scan {
            let (k, v) = item.map_err(internal)?;
            if !k.starts_with(&base) {
                break;
            }
            let Ok(key) = std::str::from_utf8(&k[base.len()..]) else {
                continue;
            };
            if !key.starts_with(prefix) {
                break;
            }
            let common = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|i| key[..prefix.len() + i + d.len()].to_string())
            });
            if let Some(cp) = &common {
                if prefixes.last() == Some(cp) {
                    continue;
                }
            }
            if objects.len() + prefixes.len() >= max_keys {
                truncated = true;
                break;
            }
            match common {
                Some(cp) => {
                    last = Some(cp.clone());
                    prefixes.push(cp);
                }
                None => {
                    let meta: ObjectMeta = serde_json::from_slice(&v).map_err(internal)?;
                    last = Some(key.to_string());
                    objects.push((key.to_string(), meta));
                }
            }
        }
        Ok((objects, prefixes, truncated, last))
    }
}

const URL_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn maybe_encode(s: &str, url: bool) -> String {
    if url {
        percent_encoding::utf8_percent_encode(s, URL_ENCODE).to_string()
    } else {
        s.to_string()
    }
}

fn to_object(key: &str, m: &ObjectMeta, url: bool) -> Object {
    Object {
        key: Some(maybe_encode(key, url)),
        e_tag: Some(etag(&m.etag)),
        last_modified: Some(ts(m.last_modified_ms)),
        size: Some(m.size as i64),
        storage_class: Some(ObjectStorageClass::from(
            m.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
        )),
        ..Default::default()
    }
}

fn parse_tagging(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Evaluates If-Match / If-None-Match / If-(Un)Modified-Since like S3 (RFC 7232 order).
fn check_conditions(
    m: &ObjectMeta,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let current = etag(&m.etag);
    let modified = m.last_modified_ms.div_euclid(1000);
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.weak_cmp(&current),
    };
    let failed = || {
        S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    match if_match {
        Some(c) => {
            if !matches(c) {
                return Err(failed());
            }
        }
        None => {
            if let Some(t) = if_unmodified_since {
                if modified > ts_secs(t) {
                    return Err(failed());
                }
            }
        }
    }
    let not_modified = || S3Error::with_message(S3ErrorCode::NotModified, "Not Modified");
    match if_none_match {
        Some(c) => {
            if matches(c) {
                return Err(not_modified());
            }
        }
        None => {
            if let Some(t) = if_modified_since {
                if modified <= ts_secs(t) {
                    return Err(not_modified());
                }
            }
        }
    }
    Ok(())
}

fn put_checksums(m: &BTreeMap<String, String>) -> [Option<String>; 5] {
    [
        m.get("CRC32").cloned(),
        m.get("CRC32C").cloned(),
        m.get("SHA1").cloned(),
        m.get("SHA256").cloned(),
        m.get("CRC64NVME").cloned(),
    ]
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(b)
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let id = identity(&req);
        let input = req.input;
        if !valid_bucket_name(&input.bucket) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                "The specified bucket is not valid.",
            ));
        }
        if let Some(raw) = self
            .store
            .get(BUCKETS, input.bucket.as_bytes())
            .map_err(internal)?
        {
            let b: BucketMeta = serde_json::from_slice(&raw).map_err(internal)?;
            if b.account_id == id.account_id {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            return Err(S3Error::with_message(
                S3ErrorCode::BucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            ));
        }
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_string())
            .filter(|c| !c.is_empty());
        if let Some(c) = &constraint {
            if c == "us-east-1" {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidLocationConstraint,
                    "The specified location-constraint is not valid",
                ));
            }
        }
        let region = constraint
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        let meta = BucketMeta {
            name: input.bucket.clone(),
            account_id: id.account_id,
            region,
            created_ms: now_ms(),
            tags: None,
            notification_xml: None,
            notifications: None,
        };
        self.store
            .put(
                BUCKETS,
                input.bucket.as_bytes().to_vec(),
                serde_json::to_vec(&meta).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let id = identity(&req);
        let mut buckets = Vec::new();
        for item in self
            .store
            .prefix(BUCKETS, b"", Direction::Forward)
            .map_err(internal)?
        {
            let (_, v) = item.map_err(internal)?;
            let b: BucketMeta = serde_json::from_slice(&v).map_err(internal)?;
            if b.account_id != id.account_id {
                continue;
            }
            if let Some(p) = &req.input.prefix {
                if !b.name.starts_with(p.as_str()) {
                    continue;
                }
            }
            buckets.push(Bucket {
                name: Some(b.name),
                creation_date: Some(ts(b.created_ms)),
                bucket_region: Some(b.region),
            });
        }
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("nimbus".into()),
                id: Some(id.account_id),
            }),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = &req.input.bucket;
        self.bucket(name)?;
        let mut scan = self
            .store
            .prefix(OBJECTS, &object_key(name, ""), Direction::Forward)
            .map_err(internal)?;
        if scan.next().is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ));
        }
        // Abandoned multipart uploads go with the bucket.
        let mut batch = WriteBatch::new();
        let mut blobs = Vec::new();
        for item in self
            .store
            .prefix(UPLOADS, &object_key(name, ""), Direction::Forward)
            .map_err(internal)?
        {
            let (k, v) = item.map_err(internal)?;
            if let Ok(u) = serde_json::from_slice::<UploadMeta>(&v) {
                for p in self
                    .store
                    .prefix(
                        PARTS,
                        format!("{}/", u.upload_id).as_bytes(),
                        Direction::Forward,
                    )
                    .map_err(internal)?
                {
                    let (pk, pv) = p.map_err(internal)?;
                    if let Ok(pm) = serde_json::from_slice::<PartMeta>(&pv) {
                        blobs.push(pm.blob);
                    }
                    batch.delete(PARTS, pk);
                }
            }
            batch.delete(UPLOADS, k);
        }
        batch.delete(BUCKETS, name.as_bytes().to_vec());
        self.store.write(batch).map_err(internal)?;
        for b in blobs {
            self.delete_blob(&b);
        }
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        let mut meta = self.bucket(&input.bucket)?;
        let target = self.events.get().cloned();
        let (account, region) = (meta.account_id.clone(), meta.region.clone());
        let exists = |arn: &str| target.as_ref().map(|t| t.exists(&account, &region, arn));
        let parsed = crate::notify::parse(
            input.notification_configuration,
            input.skip_destination_validation.unwrap_or(false),
            &exists,
        )?;
        meta.notifications = (!parsed.destinations.is_empty() || parsed.event_bridge).then_some(parsed);
        self.store
            .put(
                BUCKETS,
                input.bucket.as_bytes().to_vec(),
                serde_json::to_vec(&meta).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput::default()))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let meta = self.bucket(&req.input.bucket)?;
        let c = meta
            .notifications
            .as_ref()
            .map(crate::notify::to_dto)
            .unwrap_or_default();
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: c.event_bridge_configuration,
            lambda_function_configurations: c.lambda_function_configurations,
            queue_configurations: c.queue_configurations,
            topic_configurations: c.topic_configurations,
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        let location_constraint =
            (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = identity(&req);
        let i = &req.input;
        self.bucket(&i.bucket)?;
        if let Some(c) = &i.if_none_match {
            if matches!(c, ETagCondition::Any) && self.object(&i.bucket, &i.key)?.is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold",
                ));
            }
        }
        if let Some(c) = &i.if_match {
            let Some(cur) = self.object(&i.bucket, &i.key)? else {
                return Err(no_such_key());
            };
            if let ETagCondition::ETag(e) = c {
                if !e.weak_cmp(&etag(&cur.etag)) {
                    return Err(S3Error::with_message(
                        S3ErrorCode::PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold",
                    ));
                }
            }
        }
        let decl = declared(
            &req,
            i.checksum_algorithm.as_ref(),
            [
                ("CRC32", i.checksum_crc32.as_ref()),
                ("CRC32C", i.checksum_crc32c.as_ref()),
                ("SHA1", i.checksum_sha1.as_ref()),
                ("SHA256", i.checksum_sha256.as_ref()),
                ("CRC64NVME", i.checksum_crc64nvme.as_ref()),
            ],
        );
        let blob = format!("s3/{}", uuid::Uuid::new_v4().simple());
        let mut req = req;
        let body = req.input.body.take();
        let written = self.write_blob(blob.clone(), body, &decl.algos).await?;
        let check = check_content_md5(req.input.content_md5.as_deref(), &written.md5)
            .and_then(|()| verify_checksums(&req, &decl, &written.checksums));
        if let Err(e) = check {
            self.delete_blob(&blob);
            return Err(e);
        }
        let i = req.input;
        let meta = ObjectMeta {
            blob,
            size: written.size,
            etag: md5_hex(&written.md5),
            last_modified_ms: now_ms(),
            content_type: i.content_type.map(|c| c.to_string()),
            content_encoding: i.content_encoding,
            content_disposition: i.content_disposition,
            content_language: i.content_language,
            cache_control: i.cache_control,
            expires: None,
            metadata: i
                .metadata
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            tags: i.tagging.as_deref().map(parse_tagging).unwrap_or_default(),
            checksums: written.checksums.clone(),
            parts: None,
            storage_class: i.storage_class.map(|s| s.as_str().to_string()),
        };
        self.commit_object(&i.bucket, &i.key, &meta, WriteBatch::new())?;
        self.notify(&who, &i.bucket, "s3:ObjectCreated:Put", &i.key, Some((meta.size, &meta.etag)));
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64,
            checksum_type: (!meta.checksums.is_empty())
                .then(|| ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let m = self.existing_object(&i.bucket, &i.key)?;
        check_conditions(
            &m,
            i.if_match.as_ref(),
            i.if_none_match.as_ref(),
            i.if_modified_since.as_ref(),
            i.if_unmodified_since.as_ref(),
        )?;
        let (start, len, content_range) = match &i.range {
            None => (0, m.size, None),
            Some(r) => {
                let r = r.check(m.size)?;
                (
                    r.start,
                    r.end - r.start,
                    Some(format!(
                        "bytes {}-{}/{}",
                        r.start,
                        r.end.saturating_sub(1),
                        m.size
                    )),
                )
            }
        };
        let blob = self
            .store
            .blobs()
            .get(&m.blob)
            .map_err(internal)?
            .ok_or_else(|| internal("blob missing"))?;
        let mut file = tokio::fs::File::from_std(blob.into_file());
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
        }
        use tokio::io::AsyncReadExt;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
        let whole = content_range.is_none();
        let with_sums = whole
            && i.checksum_mode
                .as_ref()
                .is_some_and(|c| c.as_str() == ChecksumMode::ENABLED);
        let sums = if with_sums {
            m.checksums.clone()
        } else {
            BTreeMap::new()
        };
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&sums);
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(len as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            last_modified: Some(ts(m.last_modified_ms)),
            e_tag: Some(etag(&m.etag)),
            metadata: (!m.metadata.is_empty()).then(|| m.metadata.clone().into_iter().collect()),
            content_type: m.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: m.content_encoding.clone(),
            content_disposition: m.content_disposition.clone(),
            content_language: m.content_language.clone(),
            cache_control: m.cache_control.clone(),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64,
            parts_count: m.parts.map(|p| p as i32),
            tag_count: (!m.tags.is_empty()).then_some(m.tags.len() as i32),
            ..Default::default()
        };
        if out.content_type.is_none() {
            out.content_type = "binary/octet-stream".parse().ok();
        }
        if m.storage_class.as_deref().is_some_and(|s| s != "STANDARD") {
            out.storage_class = m.storage_class.clone().map(StorageClass::from);
        }
        Ok(S3Response::new(out))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let m = self.existing_object(&i.bucket, &i.key)?;
        check_conditions(
            &m,
            i.if_match.as_ref(),
            i.if_none_match.as_ref(),
            i.if_modified_since.as_ref(),
            i.if_unmodified_since.as_ref(),
        )?;
        let (len, content_range) = match &i.range {
            None => (m.size, None),
            Some(r) => {
                let r = r.check(m.size)?;
                (
                    r.end - r.start,
                    Some(format!(
                        "bytes {}-{}/{}",
                        r.start,
                        r.end.saturating_sub(1),
                        m.size
                    )),
                )
            }
        };
        let with_sums = content_range.is_none()
            && i.checksum_mode
                .as_ref()
                .is_some_and(|c| c.as_str() == ChecksumMode::ENABLED);
        let sums = if with_sums {
            m.checksums.clone()
        } else {
            BTreeMap::new()
        };
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&sums);
        let mut out = HeadObjectOutput {
            content_length: Some(len as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            last_modified: Some(ts(m.last_modified_ms)),
            e_tag: Some(etag(&m.etag)),
            metadata: (!m.metadata.is_empty()).then(|| m.metadata.clone().into_iter().collect()),
            content_type: m.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: m.content_encoding.clone(),
            content_disposition: m.content_disposition.clone(),
            content_language: m.content_language.clone(),
            cache_control: m.cache_control.clone(),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64,
            parts_count: m.parts.map(|p| p as i32),
            ..Default::default()
        };
        if out.content_type.is_none() {
            out.content_type = "binary/octet-stream".parse().ok();
        }
        if m.storage_class.as_deref().is_some_and(|s| s != "STANDARD") {
            out.storage_class = m.storage_class.clone().map(StorageClass::from);
        }
        Ok(S3Response::new(out))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = identity(&req);
        let i = &req.input;
        self.bucket(&i.bucket)?;
        if let Some(old) = self.object(&i.bucket, &i.key)? {
            self.store
                .delete(OBJECTS, object_key(&i.bucket, &i.key))
                .map_err(internal)?;
            self.delete_blob(&old.blob);
        }
        self.notify(&who, &i.bucket, "s3:ObjectRemoved:Delete", &i.key, None);
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = identity(&req);
        let i = &req.input;
        self.bucket(&i.bucket)?;
        let quiet = i.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in &i.delete.objects {
            let result = (|| -> S3Result<()> {
                if let Some(old) = self.object(&i.bucket, &o.key)? {
                    self.store
                        .delete(OBJECTS, object_key(&i.bucket, &o.key))
                        .map_err(internal)?;
                    self.delete_blob(&old.blob);
                }
                Ok(())
            })();
            match result {
                Ok(()) => {
                    self.notify(&who, &i.bucket, "s3:ObjectRemoved:Delete", &o.key, None);
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(o.key.clone()),
                            ..Default::default()
                        });
                    }
                }
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(o.key.clone()),
                    message: e.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let who = identity(&req);
        let i = req.input;
        let (src_bucket, src_key) = match &i.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => {
                return Err(s3_error!(NotImplemented))
            }
        };
        let src = self.existing_object(&src_bucket, &src_key)?;
        self.bucket(&i.bucket)?;
        check_conditions(
            &src,
            i.copy_source_if_match.as_ref(),
            i.copy_source_if_none_match.as_ref(),
            i.copy_source_if_modified_since.as_ref(),
            i.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                S3Error::with_message(
                    S3ErrorCode::PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold",
                )
            } else {
                e
            }
        })?;
        let replace = i
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src_bucket == i.bucket && src_key == i.key && !replace && i.storage_class.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let blob = format!("s3/{}", uuid::Uuid::new_v4().simple());
        self.copy_blob(src.blob.clone(), blob.clone()).await?;
        let mut meta = src.clone();
        meta.blob = blob;
        meta.last_modified_ms = now_ms();
        if replace {
            meta.content_type = i.content_type.map(|c| c.to_string());
            meta.content_encoding = i.content_encoding;
            meta.content_disposition = i.content_disposition;
            meta.content_language = i.content_language;
            meta.cache_control = i.cache_control;
            meta.metadata = i
                .metadata
                .map(|m| m.into_iter().collect())
                .unwrap_or_default();
        }
        if i.tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE)
        {
            meta.tags = i.tagging.as_deref().map(parse_tagging).unwrap_or_default();
        }
        if let Some(sc) = i.storage_class {
            meta.storage_class = Some(sc.as_str().to_string());
        }
        self.commit_object(&i.bucket, &i.key, &meta, WriteBatch::new())?;
        self.notify(&who, &i.bucket, "s3:ObjectCreated:Copy", &i.key, Some((meta.size, &meta.etag)));
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(ts(meta.last_modified_ms)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_crc64nvme: crc64,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let url = i
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let max_keys = i.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Argument maxKeys must be an integer between 0 and 2147483647",
            ));
        }
        let prefix = i.prefix.clone().unwrap_or_default();
        let after = match &i.continuation_token {
            Some(t) => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            "The continuation token provided is incorrect",
                        )
                    })?;
                Some(raw)
            }
            None => i.start_after.clone(),
        };
        let (objects, prefixes, truncated, last) = self.list(
            &i.bucket,
            &prefix,
            i.delimiter.as_deref(),
            after.as_deref(),
            max_keys.min(1000) as usize,
        )?;
        let next = if truncated {
            use base64::Engine;
            last.map(|l| base64::engine::general_purpose::STANDARD.encode(l.as_bytes()))
        } else {
            None
        };
        let key_count = (objects.len() + prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket.clone()),
            prefix: Some(maybe_encode(&prefix, url)),
            delimiter: i.delimiter.as_deref().map(|d| maybe_encode(d, url)),
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            is_truncated: Some(truncated),
            continuation_token: i.continuation_token.clone(),
            next_continuation_token: next,
            start_after: i.start_after.as_deref().map(|s| maybe_encode(s, url)),
            encoding_type: i.encoding_type.clone(),
            contents: Some(objects.iter().map(|(k, m)| to_object(k, m, url)).collect()),
            common_prefixes: Some(
                prefixes
                    .iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(maybe_encode(p, url)),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let url = i
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let max_keys = i.max_keys.unwrap_or(1000).clamp(0, 1000);
        let prefix = i.prefix.clone().unwrap_or_default();
        let (objects, prefixes, truncated, last) = self.list(
            &i.bucket,
            &prefix,
            i.delimiter.as_deref(),
            i.marker.as_deref(),
            max_keys as usize,
        )?;
        let owner = Owner {
            display_name: Some("nimbus".into()),
            id: Some(identity_owner()),
        };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket.clone()),
            prefix: Some(maybe_encode(&prefix, url)),
            delimiter: i.delimiter.as_deref().map(|d| maybe_encode(d, url)),
            marker: Some(
                i.marker
                    .as_deref()
                    .map(|m| maybe_encode(m, url))
                    .unwrap_or_default(),
            ),
            max_keys: Some(i.max_keys.unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_marker: if truncated && i.delimiter.is_some() {
                last.map(|l| maybe_encode(&l, url))
            } else {
                None
            },
            encoding_type: i.encoding_type.clone(),
            contents: Some(
                objects
                    .iter()
                    .map(|(k, m)| {
                        let mut o = to_object(k, m, url);
                        o.owner = Some(owner.clone());
                        o
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                prefixes
                    .iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(maybe_encode(p, url)),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let algo = i
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_ascii_uppercase());
        let ctype = i.checksum_type.as_ref().map(|t| t.as_str().to_string());
        let upload = UploadMeta {
            bucket: i.bucket.clone(),
            key: i.key.clone(),
            upload_id: upload_id.clone(),
            initiated_ms: now_ms(),
            checksum_algorithm: algo.clone(),
            object: ObjectMeta {
                content_type: i.content_type.map(|c| c.to_string()),
                content_encoding: i.content_encoding,
                content_disposition: i.content_disposition,
                content_language: i.content_language,
                cache_control: i.cache_control,
                metadata: i
                    .metadata
                    .map(|m| m.into_iter().collect())
                    .unwrap_or_default(),
                tags: i.tagging.as_deref().map(parse_tagging).unwrap_or_default(),
                storage_class: i.storage_class.map(|s| s.as_str().to_string()),
                // Remembered here until completion: the requested checksum type.
                checksums: ctype
                    .iter()
                    .map(|t| ("__type".to_string(), t.clone()))
                    .collect(),
                ..Default::default()
            },
        };
        self.store
            .put(
                UPLOADS,
                upload_key(&i.bucket, &i.key, &upload_id),
                serde_json::to_vec(&upload).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algo.map(ChecksumAlgorithm::from),
            checksum_type: ctype.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let i = &req.input;
        self.bucket(&i.bucket)?;
        if !(1..=10000).contains(&i.part_number) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let upload = self.upload(&i.bucket, &i.key, &i.upload_id)?;
        let decl = declared(
            &req,
            i.checksum_algorithm.as_ref(),
            [
                ("CRC32", i.checksum_crc32.as_ref()),
                ("CRC32C", i.checksum_crc32c.as_ref()),
                ("SHA1", i.checksum_sha1.as_ref()),
                ("SHA256", i.checksum_sha256.as_ref()),
                ("CRC64NVME", i.checksum_crc64nvme.as_ref()),
            ],
        );
        let mut algos = decl.algos.clone();
        if let Some(a) = &upload.checksum_algorithm {
            algos.push(a.clone());
        }
        let blob = format!("s3-part/{}", uuid::Uuid::new_v4().simple());
        let mut req = req;
        let body = req.input.body.take();
        let written = self.write_blob(blob.clone(), body, &algos).await?;
        let check = check_content_md5(req.input.content_md5.as_deref(), &written.md5)
            .and_then(|()| verify_checksums(&req, &decl, &written.checksums));
        if let Err(e) = check {
            self.delete_blob(&blob);
            return Err(e);
        }
        let i = req.input;
        let part = PartMeta {
            part_number: i.part_number,
            blob: blob.clone(),
            size: written.size,
            etag: md5_hex(&written.md5),
            last_modified_ms: now_ms(),
            checksums: written.checksums.clone(),
        };
        let pk = part_key(&i.upload_id, i.part_number);
        let old: Option<PartMeta> = self
            .store
            .get(PARTS, &pk)
            .map_err(internal)?
            .and_then(|v| serde_json::from_slice(&v).ok());
        self.store
            .put(PARTS, pk, serde_json::to_vec(&part).map_err(internal)?)
            .map_err(internal)?;
        if let Some(old) = old {
            self.delete_blob(&old.blob);
        }
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&part.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64,
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let who = identity(&req);
        let i = req.input;
        self.bucket(&i.bucket)?;
        let upload = self.upload(&i.bucket, &i.key, &i.upload_id)?;
        let stored = self.parts(&i.upload_id)?;
        let requested = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if requested.is_empty() {
            return Err(S3Error::with_message(S3ErrorCode::MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"));
        }
        let invalid_part = || {
            S3Error::with_message(
                S3ErrorCode::InvalidPart,
                "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
        };
        let mut chosen: Vec<PartMeta> = Vec::new();
        let mut prev = 0;
        for p in &requested {
            let n = p.part_number.ok_or_else(invalid_part)?;
            if n <= prev {
                return Err(S3Error::with_message(S3ErrorCode::InvalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number."));
            }
            prev = n;
            let part = stored
                .iter()
                .find(|s| s.part_number == n)
                .ok_or_else(invalid_part)?;
            if let Some(e) = &p.e_tag {
                if e.value().trim_matches('"') != part.etag {
                    return Err(invalid_part());
                }
            }
            chosen.push(part.clone());
        }
        for p in &chosen[..chosen.len() - 1] {
            if p.size < MIN_PART_SIZE {
                return Err(S3Error::with_message(
                    S3ErrorCode::EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size.",
                ));
            }
        }
        // Concatenate the parts into the object's blob.
        let full_object = upload
            .object
            .checksums
            .get("__type")
            .is_some_and(|t| t == "FULL_OBJECT");
        let algo = upload.checksum_algorithm.clone();
        let blob = format!("s3/{}", uuid::Uuid::new_v4().simple());
        let store = self.store.clone();
        let part_blobs: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let dst = blob.clone();
        let full_algos: Vec<String> = if full_object {
            algo.iter().cloned().collect()
        } else {
            Vec::new()
        };
        let (size, full_sums) = tokio::task::spawn_blocking(
            move || -> Result<(u64, BTreeMap<String, String>), String> {
                let mut w = store.blobs().writer(&dst).map_err(|e| e.to_string())?;
                let mut hasher = hasher_for(&full_algos);
                let mut buf = vec![0u8; 256 * 1024];
                for pb in &part_blobs {
                    let mut b = store
                        .blobs()
                        .get(pb)
                        .map_err(|e| e.to_string())?
                        .ok_or("part blob missing")?;
                    loop {
                        let n = b.read(&mut buf).map_err(|e| e.to_string())?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                        w.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                    }
                }
                let size = w.finish().map_err(|e| e.to_string())?;
                Ok((size, checksum_map(hasher.finalize())))
            },
        )
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for p in &chosen {
            md5s.extend(hex::decode(&p.etag).map_err(internal)?);
        }
        let etag_value = format!("{}-{}", md5_hex(&Md5::checksum(&md5s)), chosen.len());
        let mut checksums = BTreeMap::new();
        if full_object {
            checksums = full_sums;
        } else if let Some(a) = &algo {
            // Composite checksum: the checksum of the parts' checksums, "-N".
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut raw = Vec::new();
            let mut all = true;
            for p in &chosen {
                match p.checksums.get(a).and_then(|v| b64.decode(v).ok()) {
                    Some(d) => raw.extend(d),
                    None => all = false,
                }
            }
            if all {
                let mut h = hasher_for(std::slice::from_ref(a));
                h.update(&raw);
                if let Some(v) = checksum_map(h.finalize()).remove(a) {
                    checksums.insert(a.clone(), format!("{v}-{}", chosen.len()));
                }
            }
        }
        let mut meta = upload.object.clone();
        meta.checksums = checksums;
        meta.blob = blob;
        meta.size = size;
        meta.etag = etag_value;
        meta.last_modified_ms = now_ms();
        meta.parts = Some(chosen.len() as u32);
        let mut batch = WriteBatch::new();
        batch.delete(UPLOADS, upload_key(&i.bucket, &i.key, &i.upload_id));
        for p in &stored {
            batch.delete(PARTS, part_key(&i.upload_id, p.part_number));
        }
        self.commit_object(&i.bucket, &i.key, &meta, batch)?;
        for p in &stored {
            self.delete_blob(&p.blob);
        }
        self.notify(&who, &i.bucket, "s3:ObjectCreated:CompleteMultipartUpload", &i.key, Some((meta.size, &meta.etag)));
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            e_tag: Some(etag(&meta.etag)),
            location: Some(format!("/{}/{}", i.bucket, i.key)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64,
            checksum_type: (!meta.checksums.is_empty()).then(|| {
                ChecksumType::from_static(if full_object {
                    ChecksumType::FULL_OBJECT
                } else {
                    ChecksumType::COMPOSITE
                })
            }),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        self.upload(&i.bucket, &i.key, &i.upload_id)?;
        let parts = self.parts(&i.upload_id)?;
        let mut batch = WriteBatch::new();
        batch.delete(UPLOADS, upload_key(&i.bucket, &i.key, &i.upload_id));
        for p in &parts {
            batch.delete(PARTS, part_key(&i.upload_id, p.part_number));
        }
        self.store.write(batch).map_err(internal)?;
        for p in &parts {
            self.delete_blob(&p.blob);
        }
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let upload = self.upload(&i.bucket, &i.key, &i.upload_id)?;
        let marker: i32 = i.part_number_marker.unwrap_or(0);
        let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let all: Vec<PartMeta> = self
            .parts(&i.upload_id)?
            .into_iter()
            .filter(|p| p.part_number > marker)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<PartMeta> = all.into_iter().take(max).collect();
        let next = if truncated {
            page.last().map(|p| p.part_number)
        } else {
            None
        };
        let parts = page
            .iter()
            .map(|p| {
                let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&p.checksums);
                Part {
                    part_number: Some(p.part_number),
                    e_tag: Some(etag(&p.etag)),
                    size: Some(p.size as i64),
                    last_modified: Some(ts(p.last_modified_ms)),
                    checksum_crc32: crc32,
                    checksum_crc32c: crc32c,
                    checksum_sha1: sha1,
                    checksum_sha256: sha256,
                    checksum_crc64nvme: crc64,
                }
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(i.bucket),
            key: Some(i.key),
            upload_id: Some(i.upload_id),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            part_number_marker: i.part_number_marker,
            next_part_number_marker: next,
            parts: Some(parts),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let prefix = i.prefix.clone().unwrap_or_default();
        let max = i.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let mut uploads = Vec::new();
        let mut truncated = false;
        for item in self
            .store
            .prefix(UPLOADS, &object_key(&i.bucket, &prefix), Direction::Forward)
            .map_err(internal)?
        {
            let (_, v) = item.map_err(internal)?;
            let u: UploadMeta = serde_json::from_slice(&v).map_err(internal)?;
            if let Some(km) = &i.key_marker {
                if u.key.as_str() <= km.as_str() {
                    continue;
                }
            }
            if uploads.len() >= max {
                truncated = true;
                break;
            }
            uploads.push(u);
        }
        let next_key = if truncated {
            uploads.last().map(|u| u.key.clone())
        } else {
            None
        };
        let next_id = if truncated {
            uploads.last().map(|u| u.upload_id.clone())
        } else {
            None
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(i.bucket),
            prefix: i.prefix,
            key_marker: i.key_marker,
            upload_id_marker: i.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(ts(u.initiated_ms)),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let m = self.existing_object(&req.input.bucket, &req.input.key)?;
        let tag_set = m
            .tags
            .into_iter()
            .map(|(k, v)| Tag {
                key: Some(k),
                value: Some(v),
            })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set,
            version_id: None,
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let i = req.input;
        let mut m = self.existing_object(&i.bucket, &i.key)?;
        m.tags = i
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        self.store
            .put(
                OBJECTS,
                object_key(&i.bucket, &i.key),
                serde_json::to_vec(&m).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let i = req.input;
        let mut m = self.existing_object(&i.bucket, &i.key)?;
        m.tags.clear();
        self.store
            .put(
                OBJECTS,
                object_key(&i.bucket, &i.key),
                serde_json::to_vec(&m).map_err(internal)?,
            )
            .map_err(internal)?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

fn identity_owner() -> String {
    nimbus_types::DEFAULT_ACCOUNT.to_string()
}

impl Backend {
    /// Sends `event` (e.g. `s3:ObjectCreated:Put`) on `bucket/key` to every matching
    /// configuration. Called after the change is committed; never fails the request.
    fn notify(&self, id: &Identity, bucket: &str, event: &str, key: &str, object: Option<(u64, &str)>) {
        let Some(target) = self.events.get() else { return };
        let meta = match self.bucket(bucket) {
            Ok(m) => m,
            Err(_) => return,
        };
        let Some(n) = &meta.notifications else { return };
        if crate::notify::matching(n, event, key).is_empty() {
            return;
        }
        let sequencer = crate::notify::next_sequencer();
        let happened = crate::notify::Happened {
            event,
            bucket,
            bucket_region: &meta.region,
            bucket_owner: &meta.account_id,
            key,
            object,
            version_id: None,
            requester_account: &id.account_id,
            request_id: &id.request_id,
            source_ip: "127.0.0.1",
            time_ms: now_ms(),
            sequencer: &sequencer,
        };
        crate::notify::deliver(target.as_ref(), n, &happened);
    }

    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadMeta> {
        let raw = self
            .store
            .get(UPLOADS, &upload_key(bucket, key, upload_id))
            .map_err(internal)?
            .ok_or_else(no_such_upload)?;
        serde_json::from_slice(&raw).map_err(internal)
    }

    fn parts(&self, upload_id: &str) -> S3Result<Vec<PartMeta>> {
        let mut out = Vec::new();
        for item in self
            .store
            .prefix(
                PARTS,
                format!("{upload_id}/").as_bytes(),
                Direction::Forward,
            )
            .map_err(internal)?
        {
            let (_, v) = item.map_err(internal)?;
            out.push(serde_json::from_slice(&v).map_err(internal)?);
        }
        Ok(out)
    }
}

/// Checks a `Content-MD5` header against the MD5 of what was received.
fn check_content_md5(content_md5: Option<&str>, received: &[u8]) -> S3Result<()> {
    let Some(md5) = content_md5 else { return Ok(()) };
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD
        .decode(md5)
        .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidDigest, "The Content-MD5 you specified was invalid."))?;
    if want != received {
        return Err(S3Error::with_message(
            S3ErrorCode::BadDigest,
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}
