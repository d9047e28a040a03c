//! POST Object forms and SigV2 presigned URLs at the front: how their signatures are
//! handled (s3s verifies them against our credentials in sigv4 mode; with signatures
//! off, a form's signature field is hidden from s3s), and S3's answer for a failed
//! policy condition.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use nimbus_edge::{Credentials, EdgeBody};

use crate::front::error_response;

/// Brings two of s3s' 400 answers in line with S3's: a failed POST policy condition
/// (s3s: 400 InvalidPolicyDocument; S3: 403 AccessDenied "Invalid according to
/// Policy: ..."), and an invalid bucket name (s3s sends no message).
pub(crate) async fn fix_error_body(response: Response<EdgeBody>, is_form: bool) -> Response<EdgeBody> {
    let (parts, body) = response.into_parts();
    // A 400 is always a short XML error document.
    let Ok(collected) = body.collect().await else {
        return error_response(400, "InvalidRequest", "The request could not be read.");
    };
    let bytes = collected.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    if is_form && text.contains("<Code>InvalidPolicyDocument</Code>") && text.contains("Policy condition") {
        let detail = text
            .split("<Message>")
            .nth(1)
            .and_then(|m| m.split("</Message>").next())
            .unwrap_or("")
            .replace("&apos;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        return error_response(
            403,
            "AccessDenied",
            &format!("Invalid according to Policy: {detail}"),
        );
    }
    if text.contains("<Code>InvalidBucketName</Code>") && !text.contains("<Message>") {
        return error_response(400, "InvalidBucketName", "The specified bucket is not valid.");
    }
    Response::from_parts(parts, Full::new(bytes).map_err(|never| match never {}).boxed())
}

/// Renames a POST form's signature fields (`x-amz-signature`, SigV2 `signature`) to
/// same-length `x-ignore-*` fields, which s3s skips, so that with signatures off a
/// signed browser form is treated like an unsigned one (its policy still applies).
/// Only the fields before the file part are rewritten (S3 requires the file last):
/// bytes are held until the file part's header (`filename=`) has been seen.
#[derive(Default)]
pub(crate) struct FormStrip {
    held: Vec<u8>,
    /// How much of `held` has been searched for `filename=` already.
    searched: usize,
}

/// Fields larger than this are not a browser form's: pass everything on unchanged.
const FORM_FIELDS_LIMIT: usize = 1024 * 1024;

impl FormStrip {
    /// Takes more body; returns the bytes to pass on once the fields are complete.
    pub(crate) fn push(&mut self, data: &[u8]) -> Option<Bytes> {
        const NEEDLE: &[u8] = b"filename=";
        self.held.extend_from_slice(data);
        // Search only what is new (plus an overlap for a needle split across pushes).
        let from = self.searched.saturating_sub(NEEDLE.len());
        let file_at = find(&self.held[from..].to_ascii_lowercase(), NEEDLE).map(|i| from + i);
        self.searched = self.held.len();
        if file_at.is_none() && self.held.len() < FORM_FIELDS_LIMIT {
            return None;
        }
        Some(self.rewrite(file_at))
    }

    /// The end of the body: whatever is held, rewritten.
    pub(crate) fn flush(&mut self) -> Bytes {
        let lower = self.held.to_ascii_lowercase();
        let at = find(&lower, b"filename=");
        self.rewrite(at)
    }

    fn rewrite(&mut self, file_at: Option<usize>) -> Bytes {
        let end = file_at.unwrap_or(self.held.len());
        for (from, to) in [
            (&b"name=\"x-amz-signature\""[..], &b"name=\"x-ignore-sig-v4\""[..]),
            (&b"name=\"signature\""[..], &b"name=\"x-ignore-\""[..]),
        ] {
            let mut start = 0;
            while let Some(i) = find(&self.held[start..end].to_ascii_lowercase(), from) {
                let at = start + i;
                self.held[at..at + to.len()].copy_from_slice(to);
                start = at + to.len();
            }
        }
        Bytes::from(std::mem::take(&mut self.held))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// s3s' access check in sigv4 mode: every request but a POST form (and a SigV2
/// presigned URL, which s3s always verifies) was verified by the front before s3s saw
/// it; a POST form must carry a (valid) signature of its own.
pub(crate) struct S3sAccess;

#[async_trait::async_trait]
impl s3s::access::S3Access for S3sAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        if cx.s3_op().name() == "PostObject" && cx.credentials().is_none() {
            return Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        }
        Ok(())
    }
}

/// s3s' secret-key lookup for what it verifies itself (sigv4 mode): POST forms and
/// SigV2 presigned URLs.
pub(crate) struct S3sAuth(pub Arc<dyn Credentials>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for S3sAuth {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        if self.0.expired(access_key) {
            return Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::ExpiredToken,
                "The provided token has expired.",
            ));
        }
        match self.0.lookup(access_key) {
            Some(c) => Ok(s3s::auth::SecretKey::from(c.secret_access_key)),
            None => Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_strip_renames_signature_fields_before_the_file_only() {
        let form = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n\
--b\r\nContent-Disposition: form-data; name=\"X-Amz-Signature\"\r\n\r\nabc\r\n\
--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n\
name=\"x-amz-signature\"\r\n--b--\r\n";
        let mut st = FormStrip::default();
        // Fed in small pieces: nothing comes out until the file part's header.
        let mut out = Vec::new();
        for chunk in form.chunks(7) {
            if let Some(b) = st.push(chunk) {
                out.extend_from_slice(&b);
                break;
            }
        }
        let consumed = out.len();
        assert!(consumed > 0 && consumed <= form.len());
        let mut all = out.clone();
        all.extend_from_slice(&form[consumed..]);
        let text = String::from_utf8(all).unwrap();
        assert_eq!(text.len(), form.len());
        assert!(text.contains("name=\"x-ignore-sig-v4\"\r\n\r\nabc"));
        // The file's content is untouched.
        assert!(text.contains("\r\n\r\nname=\"x-amz-signature\"\r\n--b--"));
    }

    #[test]
    fn form_strip_flushes_a_form_without_file() {
        let mut st = FormStrip::default();
        assert!(st.push(b"--b\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\nx\r\n--b--").is_none());
        let out = st.flush();
        assert!(String::from_utf8_lossy(&out).contains("name=\"x-ignore-\""));
    }
}
