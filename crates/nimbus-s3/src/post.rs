//! POST Object (browser form uploads). s3s parses the form, checks the policy
//! document's expiration and conditions and shapes the answer
//! (`success_action_redirect` / `success_action_status`); the write is PutObject's,
//! with the `s3:ObjectCreated:Post` event.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::backend::Backend;

impl Backend {
    pub(crate) async fn post_object_form(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        // The form's file name is not passed on by s3s, so `${filename}` cannot be
        // substituted: refuse rather than store a key with the literal placeholder.
        if req.input.key.contains("${filename}") {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The ${filename} key substitution is not supported; name the key in the form.",
            ));
        }
        let resp = self
            .put_object_as(req.map_input(into_put), "s3:ObjectCreated:Post")
            .await?;
        Ok(resp.map_output(|o| PostObjectOutput {
            bucket_key_enabled: o.bucket_key_enabled,
            checksum_crc32: o.checksum_crc32,
            checksum_crc32c: o.checksum_crc32c,
            checksum_crc64nvme: o.checksum_crc64nvme,
            checksum_sha1: o.checksum_sha1,
            checksum_sha256: o.checksum_sha256,
            checksum_type: o.checksum_type,
            e_tag: o.e_tag,
            expiration: o.expiration,
            request_charged: o.request_charged,
            sse_customer_algorithm: o.sse_customer_algorithm,
            sse_customer_key_md5: o.sse_customer_key_md5,
            ssekms_encryption_context: o.ssekms_encryption_context,
            ssekms_key_id: o.ssekms_key_id,
            server_side_encryption: o.server_side_encryption,
            size: o.size,
            version_id: o.version_id,
        }))
    }
}

fn into_put(x: PostObjectInput) -> PutObjectInput {
    PutObjectInput {
        acl: x.acl,
        body: x.body,
        bucket: x.bucket,
        bucket_key_enabled: x.bucket_key_enabled,
        cache_control: x.cache_control,
        checksum_algorithm: x.checksum_algorithm,
        checksum_crc32: x.checksum_crc32,
        checksum_crc32c: x.checksum_crc32c,
        checksum_crc64nvme: x.checksum_crc64nvme,
        checksum_sha1: x.checksum_sha1,
        checksum_sha256: x.checksum_sha256,
        content_disposition: x.content_disposition,
        content_encoding: x.content_encoding,
        content_language: x.content_language,
        content_length: x.content_length,
        content_md5: x.content_md5,
        content_type: x.content_type,
        expected_bucket_owner: x.expected_bucket_owner,
        expires: x.expires,
        grant_full_control: x.grant_full_control,
        grant_read: x.grant_read,
        grant_read_acp: x.grant_read_acp,
        grant_write_acp: x.grant_write_acp,
        if_match: x.if_match,
        if_none_match: x.if_none_match,
        key: x.key,
        metadata: x.metadata,
        object_lock_legal_hold_status: x.object_lock_legal_hold_status,
        object_lock_mode: x.object_lock_mode,
        object_lock_retain_until_date: x.object_lock_retain_until_date,
        request_payer: x.request_payer,
        sse_customer_algorithm: x.sse_customer_algorithm,
        sse_customer_key: x.sse_customer_key,
        sse_customer_key_md5: x.sse_customer_key_md5,
        ssekms_encryption_context: x.ssekms_encryption_context,
        ssekms_key_id: x.ssekms_key_id,
        server_side_encryption: x.server_side_encryption,
        storage_class: x.storage_class,
        tagging: x.tagging,
        website_redirect_location: x.website_redirect_location,
        write_offset_bytes: x.write_offset_bytes,
    }
}
