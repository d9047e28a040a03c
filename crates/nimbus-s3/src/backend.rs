//! The `s3s::S3` implementation over `nimbus-store`.
//!
//! Writes: the body is streamed into a new blob (MD5 and requested checksums computed
//! on the way) on a blocking thread; only when the blob is complete is the metadata
//! committed, in one KV batch; only then is the response sent. A crash before the
//! commit leaves an orphaned temp file (removed at open) and no visible object.

use std::io::Write;
use std::ops::Bound;

use bytes::Bytes;
use futures::StreamExt;
use nimbus_store::{Direction, Store, WriteBatch};
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

pub(crate) use crate::common::*;
use crate::meta::*;
use crate::Identity;

pub(crate) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

const COMMIT_STRIPES: usize = 256;

pub struct Backend {
    pub(crate) store: Store,
    pub(crate) events: crate::notify::TargetSlot,
    /// Serializes the read-then-write of a key's versions (see [`crate::versions`]) and
    /// of a bucket's settings: one lock per stripe of `bucket/key` hashes, so writers of
    /// different keys (and their fsyncs, in fsync durability) do not wait on each other.
    commit_locks: std::sync::Arc<Vec<std::sync::Mutex<()>>>,
}

impl Backend {
    /// The commit lock for `bucket/key` (`key` empty: the bucket's settings).
    pub(crate) fn commit_lock(&self, bucket: &str, key: &str) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        let i = (h.finish() % COMMIT_STRIPES as u64) as usize;
        // A panic while holding the lock left no half-written state (writes are
        // single batches): the lock stays usable.
        self.commit_locks[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn new(store: Store, events: crate::notify::TargetSlot) -> Self {
        let b = Backend {
            store,
            events,
            commit_locks: std::sync::Arc::new((0..COMMIT_STRIPES).map(|_| std::sync::Mutex::new(())).collect()),
        };
        if let Err(e) = b.backfill_versions() {
            tracing::warn!("s3: could not backfill object versions: {e}");
        }
        b
    }

    /// A backend for lookups from other services ([`crate::internal`]): no startup work,
    /// no events.
    pub(crate) fn for_reads(store: Store) -> Self {
        Backend { store, events: Default::default(), commit_locks: std::sync::Arc::new(vec![std::sync::Mutex::new(())]) }
    }

    /// A second handle on this backend sharing its commit locks and event target, for
    /// writes from other services ([`crate::internal`]) that must serialise with requests.
    pub(crate) fn twin(&self) -> Self {
        Backend { store: self.store.clone(), events: self.events.clone(), commit_locks: self.commit_locks.clone() }
    }
}

impl Backend {
    pub(crate) fn bucket(&self, name: &str) -> S3Result<BucketMeta> {
        let raw = self
            .store
            .get(BUCKETS, name.as_bytes())
            .map_err(internal)?
            .ok_or_else(|| no_such_bucket(name))?;
        serde_json::from_slice(&raw).map_err(internal)
    }

    pub(crate) fn object(&self, bucket: &str, key: &str) -> S3Result<Option<ObjectMeta>> {
        match self
            .store
            .get(OBJECTS, &object_key(bucket, key))
            .map_err(internal)?
        {
            Some(raw) => Ok(Some(serde_json::from_slice(&raw).map_err(internal)?)),
            None => Ok(None),
        }
    }

    /// The object a read names (current, or a version); a delete marker named by
    /// version id answers 405 MethodNotAllowed.
    pub(crate) fn readable(&self, bucket: &str, key: &str, version_id: Option<&str>) -> S3Result<(BucketMeta, ObjectMeta)> {
        let (b, m) = self.select(bucket, key, version_id)?;
        if m.delete_marker {
            return Err(crate::versions::marker_not_allowed(&m));
        }
        Ok((b, m))
    }

    /// Streams `body` into a new blob `id`.
    pub(crate) async fn write_blob(
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

    pub(crate) fn delete_blob(&self, id: &str) {
        if let Err(e) = self.store.blobs().delete(id) {
            tracing::warn!("could not delete blob {id}: {e}");
        }
    }

    /// Copies blob `src` into a new blob `dst` (on a blocking thread).
    pub(crate) async fn copy_blob(&self, src: String, dst: String) -> S3Result<u64> {
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

    /// Commits `meta` as the newest version of `bucket/key` (see [`crate::versions`]).
    pub(crate) fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        extra: WriteBatch,
    ) -> S3Result<ObjectMeta> {
        self.commit_version(bucket, key, meta.clone(), extra)
    }

    /// PutObject, and POST Object with `event` `s3:ObjectCreated:Post`.
    pub(crate) async fn put_object_as(
        &self,
        req: S3Request<PutObjectInput>,
        event: &str,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = identity(&req);
        let i = &req.input;
        let b = self.bucket(&i.bucket)?;
        check_object_acl!(b, i)?;
        let tags = tags_of(i.tagging.as_deref())?;
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
            tags,
            checksums: written.checksums.clone(),
            parts: None,
            storage_class: i.storage_class.map(|s| s.as_str().to_string()),
            ..Default::default()
        };
        let meta = match self.commit_object(&i.bucket, &i.key, &meta, WriteBatch::new()) {
            Ok(m) => m,
            Err(e) => {
                // Nothing refers to the new blob: do not leave it behind.
                self.delete_blob(&meta.blob);
                return Err(e);
            }
        };
        self.notify(&who, &i.bucket, event, &i.key, Some((meta.size, &meta.etag)), meta.version_id.as_deref());
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        let b = self.bucket(&i.bucket)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta.etag)),
            version_id: crate::versions::version_header(&b, &meta),
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

    /// Lists `bucket` in key order. Returns (objects, common prefixes, truncated,
    /// last item returned: the marker to resume after).
    #[allow(clippy::type_complexity)]
    pub(crate) fn list(
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

#[async_trait::async_trait]
impl S3 for Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.bkt_create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bkt_head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.bkt_list_buckets(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.bkt_delete_bucket(req).await
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        self.bkt_put_bucket_notification_configuration(req).await
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.bkt_get_bucket_notification_configuration(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bkt_get_bucket_location(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.put_object_as(req, "s3:ObjectCreated:Put").await
    }

    async fn post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        self.post_object_form(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.copy_part(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.obj_get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.obj_head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.obj_delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.obj_delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.obj_copy_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.obj_list_objects_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.obj_list_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.mpu_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.mpu_upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.mpu_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.mpu_abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.mpu_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.mpu_list_multipart_uploads(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let i = &req.input;
        let (b, m) = self.readable(&i.bucket, &i.key, i.version_id.as_deref())?;
        let version_id = crate::versions::version_header(&b, &m);
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
            version_id,
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let who = identity(&req);
        let i = req.input;
        let tags = crate::config::validate_tags(i.tagging.tag_set, 10)?;
        let (b, m) = self.update_version(&i.bucket, &i.key, i.version_id.as_deref(), |m| m.tags = tags)?;
        self.notify(&who, &i.bucket, "s3:ObjectTagging:Put", &i.key, Some((m.size, &m.etag)), m.version_id.as_deref());
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: crate::versions::version_header(&b, &m),
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let who = identity(&req);
        let i = req.input;
        let (b, m) = self.update_version(&i.bucket, &i.key, i.version_id.as_deref(), |m| m.tags.clear())?;
        self.notify(&who, &i.bucket, "s3:ObjectTagging:Delete", &i.key, Some((m.size, &m.etag)), m.version_id.as_deref());
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput {
                version_id: crate::versions::version_header(&b, &m),
            },
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.put_versioning(req.input)?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: b.versioning.map(BucketVersioningStatus::from),
            mfa_delete: b.mfa_delete.map(MFADeleteStatus::from),
        }))
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        Ok(S3Response::new(self.list_versions(&req.input)?))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.put_bucket_tags(req.input)?;
        Ok(S3Response::with_status(PutBucketTaggingOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: self.get_bucket_tags(&req.input.bucket)?,
        }))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.delete_bucket_tags(&req.input.bucket)?;
        Ok(S3Response::with_status(DeleteBucketTaggingOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        let rules = crate::cors::parse(i.cors_configuration)?;
        self.update_bucket(&i.bucket, |b| {
            b.cors = Some(rules);
            Ok(())
        })?;
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let b = self.bucket(&req.input.bucket)?;
        let rules = b.cors.ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::NoSuchCORSConfiguration,
                "The CORS configuration does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(crate::cors::to_dto(&rules)),
        }))
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.update_bucket(&req.input.bucket, |b| {
            b.cors = None;
            Ok(())
        })?;
        Ok(S3Response::with_status(DeleteBucketCorsOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.put_policy(&req.input.bucket, &req.input.policy)?;
        Ok(S3Response::with_status(PutBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(self.get_policy(&req.input.bucket)?),
        }))
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.delete_policy(&req.input.bucket)?;
        Ok(S3Response::with_status(DeleteBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        Ok(S3Response::new(self.bucket_acl(&req.input.bucket)?))
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let i = &req.input;
        let b = self.bucket(&i.bucket)?;
        crate::config::check_acl(
            &b.account_id,
            &crate::config::AclRequest {
                canned: i.acl.as_ref().map(BucketCannedACL::as_str),
                policy: i.access_control_policy.as_ref(),
                grants: [i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref(), None],
                full_control: i.grant_full_control.as_ref(),
            },
            false,
        )?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        let (b, _) = self.readable(&i.bucket, &i.key, i.version_id.as_deref())?;
        Ok(S3Response::new(self.object_acl(&b)))
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        let (b, _) = self.readable(&i.bucket, &i.key, i.version_id.as_deref())?;
        crate::config::check_acl(
            &b.account_id,
            &crate::config::AclRequest {
                canned: i.acl.as_ref().map(ObjectCannedACL::as_str),
                policy: i.access_control_policy.as_ref(),
                grants: [i.grant_read.as_ref(), i.grant_read_acp.as_ref(), i.grant_write.as_ref(), i.grant_write_acp.as_ref(), None],
                full_control: i.grant_full_control.as_ref(),
            },
            true,
        )?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        Ok(S3Response::new(self.ownership_controls(&req.input.bucket)?))
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let i = &req.input;
        self.bucket(&i.bucket)?;
        // BucketOwnerEnforced is the only setting served (and every bucket's): setting
        // it again is a no-op; the ACL-enabled settings are refused, not ignored.
        let rules = &i.ownership_controls.rules;
        let enforced = !rules.is_empty()
            && rules
                .iter()
                .all(|r| r.object_ownership.as_str() == ObjectOwnership::BUCKET_OWNER_ENFORCED);
        if !enforced {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Only the BucketOwnerEnforced object ownership setting is supported.",
            ));
        }
        Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
    }
}

impl Backend {
    /// Sends `event` (e.g. `s3:ObjectCreated:Put`) on `bucket/key` to every matching
    /// configuration. Called after the change is committed; never fails the request.
    pub(crate) fn notify(
        &self,
        id: &Identity,
        bucket: &str,
        event: &str,
        key: &str,
        object: Option<(u64, &str)>,
        version_id: Option<&str>,
    ) {
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
        // In a bucket that has had versioning configured, a `null` version is named.
        let version_id = version_id.or(meta.versioning.is_some().then_some("null"));
        let happened = crate::notify::Happened {
            event,
            bucket,
            bucket_region: &meta.region,
            bucket_owner: &meta.account_id,
            key,
            object,
            version_id,
            requester_account: &id.account_id,
            request_id: &id.request_id,
            source_ip: "127.0.0.1",
            time_ms: now_ms(),
            sequencer: &sequencer,
        };
        crate::notify::deliver(target.as_ref(), n, &happened);
    }

    /// The ObjectRemoved event for what a delete did.
    pub(crate) fn notify_delete(&self, id: &Identity, bucket: &str, key: &str, d: &crate::versions::Deleted) {
        let event = if d.created_marker {
            "s3:ObjectRemoved:DeleteMarkerCreated"
        } else {
            "s3:ObjectRemoved:Delete"
        };
        self.notify(id, bucket, event, key, None, d.version_id.as_deref());
    }

    /// The source object of a copy: a delete marker named by version id is refused.
    pub(crate) fn copy_source_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(BucketMeta, ObjectMeta)> {
        let (b, m) = self.select(bucket, key, version_id)?;
        if m.delete_marker {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "The source of a copy request may not specifically refer to a delete marker by version id.",
            ));
        }
        Ok((b, m))
    }

    pub(crate) fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadMeta> {
        let raw = self
            .store
            .get(UPLOADS, &upload_key(bucket, key, upload_id))
            .map_err(internal)?
            .ok_or_else(no_such_upload)?;
        serde_json::from_slice(&raw).map_err(internal)
    }

    pub(crate) fn parts(&self, upload_id: &str) -> S3Result<Vec<PartMeta>> {
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

/// Refuses the ACL an object write sets unless it is the owner-only one.
macro_rules! check_object_acl {
    ($b:expr, $i:expr) => {
        crate::config::check_acl(
            &$b.account_id,
            &crate::config::AclRequest {
                canned: $i.acl.as_ref().map(ObjectCannedACL::as_str),
                policy: None,
                grants: [$i.grant_read.as_ref(), $i.grant_read_acp.as_ref(), $i.grant_write_acp.as_ref(), None, None],
                full_control: $i.grant_full_control.as_ref(),
            },
            true,
        )
    };
}
pub(crate) use check_object_acl;

/// (bucket, key, version id) of an `x-amz-copy-source`.
pub(crate) fn copy_source(c: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match c {
        CopySource::Bucket { bucket, key, version_id } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_deref().map(str::to_string),
        )),
        CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Copying from an access point or an Outpost is not supported.",
        )),
    }
}

/// Checks a `Content-MD5` header against the MD5 of what was received.
pub(crate) fn check_content_md5(content_md5: Option<&str>, received: &[u8]) -> S3Result<()> {
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
