//! What the operations share: S3's common errors, timestamps and ETags, bucket-name
//! rules, checksum computation and verification, conditional-request evaluation,
//! and the listing and tagging encodings.

use std::collections::BTreeMap;

use s3s::checksum::ChecksumHasher;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use crate::front::Trailers;
use crate::meta::*;
use crate::Identity;

pub(crate) fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::warn!("s3 storage error: {e}");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

pub(crate) fn no_such_bucket(bucket: &str) -> S3Error {
    let _ = bucket;
    S3Error::with_message(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
}

pub(crate) fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

pub(crate) fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

pub(crate) fn identity<T>(req: &S3Request<T>) -> Identity {
    req.extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity {
            account_id: nimbus_types::DEFAULT_ACCOUNT.into(),
            region: nimbus_types::DEFAULT_REGION.into(),
            request_id: nimbus_types::new_request_id(),
        })
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(crate) fn ts_secs(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    t.unix_timestamp()
}

pub(crate) fn etag(e: &str) -> ETag {
    ETag::Strong(e.to_string())
}

pub(crate) fn valid_bucket_name(name: &str) -> bool {
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
pub(crate) fn hasher_for(algos: &[String]) -> ChecksumHasher {
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

pub(crate) fn checksum_map(c: s3s::dto::Checksum) -> BTreeMap<String, String> {
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
pub(crate) struct Declared {
    pub algos: Vec<String>,
    pub values: BTreeMap<String, String>,
}

pub(crate) fn declared<T>(
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

pub(crate) fn verify_checksums<T>(
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

pub(crate) struct Written {
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: BTreeMap<String, String>,
}

pub(crate) fn body_error(e: &(dyn std::error::Error + Send + Sync)) -> S3Error {
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


pub(crate) const URL_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

pub(crate) fn maybe_encode(s: &str, url: bool) -> String {
    if url {
        percent_encoding::utf8_percent_encode(s, URL_ENCODE).to_string()
    } else {
        s.to_string()
    }
}

pub(crate) fn to_object(key: &str, m: &ObjectMeta, url: bool) -> Object {
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

/// The `x-amz-tagging` header (`k1=v1&k2=v2`), validated as object tags.
pub(crate) fn parse_tagging(s: &str) -> S3Result<Vec<(String, String)>> {
    let tags = form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| Tag {
            key: Some(k.into_owned()),
            value: Some(v.into_owned()),
        })
        .collect();
    crate::config::validate_tags(tags, 10)
}

/// The object tags a write's `x-amz-tagging` header sets (none without it).
pub(crate) fn tags_of(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    Ok(header.map(parse_tagging).transpose()?.unwrap_or_default())
}

/// Evaluates If-Match / If-None-Match / If-(Un)Modified-Since like S3 (RFC 7232 order).
pub(crate) fn check_conditions(
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

pub(crate) fn put_checksums(m: &BTreeMap<String, String>) -> [Option<String>; 5] {
    [
        m.get("CRC32").cloned(),
        m.get("CRC32C").cloned(),
        m.get("SHA1").cloned(),
        m.get("SHA256").cloned(),
        m.get("CRC64NVME").cloned(),
    ]
}

pub(crate) fn md5_hex(b: &[u8]) -> String {
    hex::encode(b)
}
