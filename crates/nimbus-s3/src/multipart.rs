//! Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload
//! (parts concatenated into the object's blob, ETag `md5-of-md5s-N`, composite or
//! full-object checksums), AbortMultipartUpload, ListParts, ListMultipartUploads.
//! Uploads live in `s3.uploads`, parts in `s3.parts` with a blob each.
//! (UploadPartCopy is in [`crate::part_copy`].)

use std::collections::BTreeMap;
use std::io::{Read, Write};

use nimbus_store::{Direction, WriteBatch};
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::backend::*;
use crate::meta::*;

impl Backend {
    pub(crate) async fn mpu_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let i = req.input;
        let b = self.bucket(&i.bucket)?;
        check_object_acl!(b, i)?;
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
                tags: tags_of(i.tagging.as_deref())?,
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

    pub(crate) async fn mpu_upload_part(
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

    pub(crate) async fn mpu_complete_multipart_upload(
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
        let meta = self.commit_object(&i.bucket, &i.key, &meta, batch)?;
        for p in &stored {
            self.delete_blob(&p.blob);
        }
        self.notify(&who, &i.bucket, "s3:ObjectCreated:CompleteMultipartUpload", &i.key, Some((meta.size, &meta.etag)), meta.version_id.as_deref());
        let b = self.bucket(&i.bucket)?;
        let [crc32, crc32c, sha1, sha256, crc64] = put_checksums(&meta.checksums);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            e_tag: Some(etag(&meta.etag)),
            location: Some(format!("/{}/{}", i.bucket, i.key)),
            version_id: crate::versions::version_header(&b, &meta),
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

    pub(crate) async fn mpu_abort_multipart_upload(
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

    pub(crate) async fn mpu_list_parts(
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

    pub(crate) async fn mpu_list_multipart_uploads(
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
}
