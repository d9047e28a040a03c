//! Object reads, deletes, copies and listings: GetObject and HeadObject (ranges,
//! conditionals, versions, checksums), DeleteObject and DeleteObjects (versions and
//! delete markers), CopyObject, ListObjects and ListObjectsV2.

use std::collections::BTreeMap;

use nimbus_store::WriteBatch;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use tokio::io::AsyncSeekExt;

use crate::backend::*;
use crate::meta::*;

/// (first byte, length, Content-Range) of a GET or HEAD with an optional Range.
fn read_range(m: &ObjectMeta, range: Option<&Range>) -> S3Result<(u64, u64, Option<String>)> {
    Ok(match range {
        None => (0, m.size, None),
        Some(r) => {
            let r = r.check(m.size)?;
            let shown = format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), m.size);
            (r.start, r.end - r.start, Some(shown))
        }
    })
}

/// The stored checksums, shown only for a whole-object read with ChecksumMode ENABLED.
fn shown_checksums(m: &ObjectMeta, whole: bool, mode: Option<&ChecksumMode>) -> [Option<String>; 5] {
    if whole && mode.is_some_and(|c| c.as_str() == ChecksumMode::ENABLED) {
        put_checksums(&m.checksums)
    } else {
        put_checksums(&BTreeMap::new())
    }
}

/// The headers GetObject and HeadObject share (s3s gives them distinct output types):
/// `$ty { extra fields }`, then the bucket, object meta, length, Content-Range and the
/// checksums from [`shown_checksums`].
macro_rules! object_output {
    ($ty:ident { $($extra:tt)* }, $b:expr, $m:expr, $len:expr, $content_range:expr, $sums:expr) => {{
        let [crc32, crc32c, sha1, sha256, crc64] = $sums;
        let m = &$m;
        let mut out = $ty {
            $($extra)*
            content_length: Some($len as i64),
            content_range: $content_range,
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
            version_id: crate::versions::version_header(&$b, m),
            ..Default::default()
        };
        if out.content_type.is_none() {
            out.content_type = "binary/octet-stream".parse().ok();
        }
        if m.storage_class.as_deref().is_some_and(|s| s != "STANDARD") {
            out.storage_class = m.storage_class.clone().map(StorageClass::from);
        }
        out
    }};
}

impl Backend {
    pub(crate) async fn obj_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let (b, m) = self.readable(&i.bucket, &i.key, i.version_id.as_deref())?;
        check_conditions(
            &m,
            i.if_match.as_ref(),
            i.if_none_match.as_ref(),
            i.if_modified_since.as_ref(),
            i.if_unmodified_since.as_ref(),
        )?;
        let (start, len, content_range) = read_range(&m, i.range.as_ref())?;
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
        let sums = shown_checksums(&m, content_range.is_none(), i.checksum_mode.as_ref());
        let out = object_output!(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            tag_count: (!m.tags.is_empty()).then_some(m.tags.len() as i32),
        }, b, m, len, content_range, sums);
        Ok(S3Response::new(out))
    }
    pub(crate) async fn obj_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let (b, m) = self.readable(&i.bucket, &i.key, i.version_id.as_deref())?;
        check_conditions(
            &m,
            i.if_match.as_ref(),
            i.if_none_match.as_ref(),
            i.if_modified_since.as_ref(),
            i.if_unmodified_since.as_ref(),
        )?;
        let (_, len, content_range) = read_range(&m, i.range.as_ref())?;
        let sums = shown_checksums(&m, content_range.is_none(), i.checksum_mode.as_ref());
        let out = object_output!(HeadObjectOutput {}, b, m, len, content_range, sums);
        Ok(S3Response::new(out))
    }
    pub(crate) async fn obj_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = identity(&req);
        let i = &req.input;
        let d = match i.version_id.as_deref() {
            Some(v) => self.delete_version(&i.bucket, &i.key, v)?,
            None => self.delete_current(&i.bucket, &i.key)?,
        };
        self.notify_delete(&who, &i.bucket, &i.key, &d);
        Ok(S3Response::with_status(
            DeleteObjectOutput {
                delete_marker: d.delete_marker.then_some(true),
                version_id: d
                    .report_version
                    .then(|| d.version_id.clone().unwrap_or_else(|| "null".into())),
                ..Default::default()
            },
            http::StatusCode::NO_CONTENT,
        ))
    }
    pub(crate) async fn obj_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = identity(&req);
        let i = &req.input;
        self.bucket(&i.bucket)?;
        if i.delete.objects.len() > 1000 {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let quiet = i.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for o in &i.delete.objects {
            let result = match o.version_id.as_deref() {
                Some(v) => self.delete_version(&i.bucket, &o.key, v),
                None => self.delete_current(&i.bucket, &o.key),
            };
            match result {
                Ok(d) => {
                    self.notify_delete(&who, &i.bucket, &o.key, &d);
                    if !quiet {
                        let vid = d.version_id.clone().unwrap_or_else(|| "null".into());
                        deleted.push(if d.created_marker {
                            DeletedObject {
                                key: Some(o.key.clone()),
                                delete_marker: Some(true),
                                delete_marker_version_id: Some(vid),
                                version_id: None,
                            }
                        } else {
                            DeletedObject {
                                key: Some(o.key.clone()),
                                version_id: o.version_id.clone(),
                                delete_marker: d.delete_marker.then_some(true),
                                delete_marker_version_id: d.delete_marker.then_some(vid),
                            }
                        });
                    }
                }
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(o.key.clone()),
                    message: e.message().map(str::to_string),
                    version_id: o.version_id.clone(),
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
    pub(crate) async fn obj_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let who = identity(&req);
        let i = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&i.copy_source)?;
        let (src_b, src) = self.copy_source_object(&src_bucket, &src_key, src_version.as_deref())?;
        let dst_b = self.bucket(&i.bucket)?;
        check_object_acl!(dst_b, i)?;
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
        if src_bucket == i.bucket && src_key == i.key && src_version.is_none() && !replace && i.storage_class.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let new_tags = match &i.tagging_directive {
            Some(d) if d.as_str() == TaggingDirective::REPLACE => Some(tags_of(i.tagging.as_deref())?),
            _ => None,
        };
        let blob = format!("s3/{}", uuid::Uuid::new_v4().simple());
        self.copy_blob(src.blob.clone(), blob.clone()).await?;
        let mut meta = src.clone();
        meta.blob = blob;
        meta.last_modified_ms = now_ms();
        meta.version_id = None;
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
        if let Some(tags) = new_tags {
            meta.tags = tags;
        }
        if let Some(sc) = i.storage_class {
            meta.storage_class = Some(sc.as_str().to_string());
        }
        let meta = match self.commit_object(&i.bucket, &i.key, &meta, WriteBatch::new()) {
            Ok(m) => m,
            Err(e) => {
                self.delete_blob(&meta.blob);
                return Err(e);
            }
        };
        self.notify(&who, &i.bucket, "s3:ObjectCreated:Copy", &i.key, Some((meta.size, &meta.etag)), meta.version_id.as_deref());
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        Ok(S3Response::new(CopyObjectOutput {
            version_id: crate::versions::version_header(&dst_b, &meta),
            copy_source_version_id: crate::versions::version_header(&src_b, &src),
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
    pub(crate) async fn obj_list_objects_v2(
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
    pub(crate) async fn obj_list_objects(
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
        let owner = crate::config::owner_of(&self.bucket(&i.bucket)?.account_id);
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
}
