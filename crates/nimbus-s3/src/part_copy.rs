//! UploadPartCopy: a part of a multipart upload copied from (a byte range of) an
//! existing object version, with the copy-source conditionals of CopyObject.

use std::io::{Read, Seek, SeekFrom, Write};

use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::backend::*;
use crate::meta::*;

/// The largest object CopyObject / UploadPartCopy copies whole (5 GiB).
const MAX_COPY_SOURCE: u64 = 5 * 1024 * 1024 * 1024;

/// Parses `bytes=first-last` against an object of `size` bytes: (start, length).
fn copy_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let syntax = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(syntax)?;
    let first: u64 = first.parse().map_err(|_| syntax())?;
    let last: u64 = last.parse().map_err(|_| syntax())?;
    if first > last || last >= size {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last - first + 1))
}

impl Backend {
    pub(crate) async fn copy_part(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let i = req.input;
        self.bucket(&i.bucket)?;
        if !(1..=10000).contains(&i.part_number) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let upload = self.upload(&i.bucket, &i.key, &i.upload_id)?;
        let (src_bucket, src_key, src_version) = copy_source(&i.copy_source)?;
        let (src_b, src) = self.copy_source_object(&src_bucket, &src_key, src_version.as_deref())?;
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
        let (start, len) = match i.copy_source_range.as_deref() {
            Some(r) => copy_range(r, src.size)?,
            None => {
                if src.size > MAX_COPY_SOURCE {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        format!("The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SOURCE}"),
                    ));
                }
                (0, src.size)
            }
        };
        let algos: Vec<String> = upload.checksum_algorithm.iter().cloned().collect();
        let blob = format!("s3-part/{}", uuid::Uuid::new_v4().simple());
        let store = self.store.clone();
        let (src_blob, dst) = (src.blob.clone(), blob.clone());
        let (size, md5, checksums) = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let b = store
                .blobs()
                .get(&src_blob)
                .map_err(|e| e.to_string())?
                .ok_or("source blob missing")?;
            let mut file = b.into_file();
            file.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
            let mut reader = file.take(len);
            let mut w = store.blobs().writer(&dst).map_err(|e| e.to_string())?;
            let mut md5 = Md5::new();
            let mut hasher = hasher_for(&algos);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                md5.update(&buf[..n]);
                hasher.update(&buf[..n]);
                w.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            }
            let size = w.finish().map_err(|e| e.to_string())?;
            let md5: [u8; 16] = md5.finalize();
            Ok((size, md5, checksum_map(hasher.finalize())))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        if size != len {
            self.delete_blob(&blob);
            return Err(internal("source blob shorter than its metadata"));
        }
        let part = PartMeta {
            part_number: i.part_number,
            blob,
            size,
            etag: md5_hex(&md5),
            last_modified_ms: now_ms(),
            checksums,
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
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(ts(part.last_modified_ms)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_crc64nvme: crc64,
            }),
            copy_source_version_id: crate::versions::version_header(&src_b, &src),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(copy_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(copy_range("bytes=5-5", 10).unwrap(), (5, 1));
        assert!(copy_range("bytes=5-10", 10).is_err());
        assert!(copy_range("bytes=6-5", 10).is_err());
        assert!(copy_range("bytes=-5", 10).is_err());
        assert!(copy_range("0-5", 10).is_err());
    }
}
