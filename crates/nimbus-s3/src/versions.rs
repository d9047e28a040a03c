//! Object versions: every write of a key becomes a version in `s3.versions`, and
//! `s3.objects` holds the current one (absent when the newest version is a delete
//! marker), so plain reads and listings stay one lookup or one range scan.
//!
//! Unversioned and suspended buckets write the `null` version, replacing the key's
//! previous `null` version; enabled buckets add a version with a fresh id. Every change
//! of a key's versions and its current entry is one KV batch, taken under a commit
//! lock so concurrent writers of one key cannot interleave their read-then-write.
//!
//! A version id is 32 hex digits: the version's sequence number, then 16 random digits.
//! A key's versions sort newest first (the stored key holds `u64::MAX - seq`).

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use nimbus_store::{Direction, WriteBatch};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::backend::{internal, no_such_key, Backend};
use crate::meta::*;

/// A version a request names: `None` is the `null` version.
pub(crate) type VersionSel<'a> = Option<&'a str>;

/// Validates a client's `versionId` (`null`, or one of ours).
pub(crate) fn parse_version_id(v: &str) -> S3Result<VersionSel<'_>> {
    if v == "null" {
        return Ok(None);
    }
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Ok(Some(v));
    }
    Err(S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        "Invalid version id specified",
    ))
}

fn new_version_id(seq: u64) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{seq:016x}{}", &random[..16])
}

/// A sequence number greater than every one this process handed out and than `after`.
fn next_seq(after: Option<u64>) -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0);
    let floor = after.map_or(0, |a| a.saturating_add(1));
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev.saturating_add(1)).max(floor);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

pub(crate) fn no_such_version() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchVersion,
        "The specified version does not exist.",
    )
}

/// The `x-amz-version-id` a response carries for `m`: its id, `null` in a bucket that
/// has had versioning configured, nothing in a bucket that never had.
pub(crate) fn version_header(b: &BucketMeta, m: &ObjectMeta) -> Option<String> {
    m.version_id
        .clone()
        .or_else(|| b.versioning.is_some().then(|| "null".to_string()))
}

fn header_map(pairs: &[(&'static str, String)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    h
}

/// GET/HEAD of a delete marker by version id: 405 with the marker's headers.
pub(crate) fn marker_not_allowed(m: &ObjectMeta) -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::MethodNotAllowed,
        "The specified method is not allowed against this resource.",
    );
    e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
    e.set_headers(header_map(&[
        ("x-amz-delete-marker", "true".into()),
        ("x-amz-version-id", m.version_id.clone().unwrap_or_else(|| "null".into())),
        ("allow", "DELETE".into()),
        ("last-modified", http_date(m.last_modified_ms)),
    ]));
    e
}

fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

/// What a delete did.
#[derive(Debug, Default)]
pub(crate) struct Deleted {
    /// The version removed or the delete marker created (None: the `null` version).
    pub version_id: Option<String>,
    /// A delete marker was created or removed.
    pub delete_marker: bool,
    /// A delete marker was created (not a version removed).
    pub created_marker: bool,
    /// Whether a version id is reported at all (versioned bucket or versionId given).
    pub report_version: bool,
}

impl Backend {
    /// The versions of `bucket/key`, newest first.
    pub(crate) fn key_versions(&self, bucket: &str, key: &str) -> S3Result<Vec<ObjectMeta>> {
        let prefix = versions_prefix(bucket, key);
        let mut out = Vec::new();
        for item in self
            .store
            .prefix(VERSIONS, &prefix, Direction::Forward)
            .map_err(internal)?
        {
            let (k, v) = item.map_err(internal)?;
            // `key\0...` of a longer key that itself contains NUL: not ours.
            if k.len() != prefix.len() + VERSION_SUFFIX - 1 {
                continue;
            }
            out.push(serde_json::from_slice(&v).map_err(internal)?);
        }
        Ok(out)
    }

    /// The newest version of `bucket/key`.
    fn latest_version(&self, bucket: &str, key: &str) -> S3Result<Option<ObjectMeta>> {
        let prefix = versions_prefix(bucket, key);
        for item in self
            .store
            .prefix(VERSIONS, &prefix, Direction::Forward)
            .map_err(internal)?
        {
            let (k, v) = item.map_err(internal)?;
            if k.len() == prefix.len() + VERSION_SUFFIX - 1 {
                return Ok(Some(serde_json::from_slice(&v).map_err(internal)?));
            }
        }
        Ok(None)
    }

    /// The version `want` of `bucket/key` (None: the `null` version). Our version ids
    /// start with the version's sequence number: one point read finds them.
    pub(crate) fn find_version(&self, bucket: &str, key: &str, want: VersionSel<'_>) -> S3Result<Option<ObjectMeta>> {
        let Some(id) = want else {
            return Ok(self
                .key_versions(bucket, key)?
                .into_iter()
                .find(|m| m.version_id.is_none()));
        };
        let Some(Ok(seq)) = id.get(..16).map(|h| u64::from_str_radix(h, 16)) else {
            return Ok(None);
        };
        match self
            .store
            .get(VERSIONS, &version_key(bucket, key, seq))
            .map_err(internal)?
        {
            Some(raw) => {
                let m: ObjectMeta = serde_json::from_slice(&raw).map_err(internal)?;
                Ok((m.version_id.as_deref() == Some(id)).then_some(m))
            }
            None => Ok(None),
        }
    }

    /// The object a read names: the current one, or the version `version_id`. A
    /// missing current object whose newest version is a delete marker answers
    /// NoSuchKey with the marker's headers, as S3 does.
    pub(crate) fn select(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(BucketMeta, ObjectMeta)> {
        let b = self.bucket(bucket)?;
        match version_id {
            None => match self.object(bucket, key)? {
                Some(m) => Ok((b, m)),
                None => {
                    let mut e = no_such_key();
                    if let Some(latest) = self.latest_version(bucket, key)? {
                        if latest.delete_marker {
                            e.set_headers(header_map(&[
                                ("x-amz-delete-marker", "true".into()),
                                (
                                    "x-amz-version-id",
                                    latest.version_id.unwrap_or_else(|| "null".into()),
                                ),
                            ]));
                        }
                    }
                    Err(e)
                }
            },
            Some(v) => {
                let want = parse_version_id(v)?;
                let m = self.find_version(bucket, key, want)?.ok_or_else(no_such_version)?;
                Ok((b, m))
            }
        }
    }

    /// Commits `new` as the newest version of `bucket/key` (with `extra` in the same
    /// batch) and returns it with its version id and sequence number set. Blobs of
    /// versions it replaced are deleted after the commit.
    pub(crate) fn commit_version(
        &self,
        bucket: &str,
        key: &str,
        mut new: ObjectMeta,
        extra: WriteBatch,
    ) -> S3Result<ObjectMeta> {
        let b = self.bucket(bucket)?;
        let mut dead = Vec::new();
        {
            let _guard = self.commit_lock(bucket, key);
            let enabled = b.versioning.as_deref() == Some("Enabled");
            // Enabled: only the newest version matters (for the sequence); otherwise
            // the key's `null` version is replaced, wherever it is.
            let versions = if enabled {
                self.latest_version(bucket, key)?.into_iter().collect()
            } else {
                self.key_versions(bucket, key)?
            };
            let seq = next_seq(versions.first().map(|v| v.seq));
            new.seq = seq;
            let mut batch = extra;
            if enabled {
                new.version_id = Some(new_version_id(seq));
            } else {
                new.version_id = None;
                for old in versions.iter().filter(|v| v.version_id.is_none()) {
                    batch.delete(VERSIONS, version_key(bucket, key, old.seq));
                    if !old.blob.is_empty() && old.blob != new.blob {
                        dead.push(old.blob.clone());
                    }
                }
            }
            let raw = serde_json::to_vec(&new).map_err(internal)?;
            batch.put(VERSIONS, version_key(bucket, key, seq), raw.clone());
            if new.delete_marker {
                batch.delete(OBJECTS, object_key(bucket, key));
            } else {
                batch.put(OBJECTS, object_key(bucket, key), raw);
            }
            self.store.write(batch).map_err(internal)?;
        }
        for blob in dead {
            self.delete_blob(&blob);
        }
        Ok(new)
    }

    /// DeleteObject without a version id: removes the object (unversioned bucket) or
    /// adds a delete marker (versioning enabled or suspended).
    pub(crate) fn delete_current(&self, bucket: &str, key: &str) -> S3Result<Deleted> {
        let b = self.bucket(bucket)?;
        if b.versioning.is_none() {
            let mut dead = Vec::new();
            {
                let _guard = self.commit_lock(bucket, key);
                let versions = self.key_versions(bucket, key)?;
                let mut batch = WriteBatch::new();
                for old in &versions {
                    batch.delete(VERSIONS, version_key(bucket, key, old.seq));
                    if !old.blob.is_empty() {
                        dead.push(old.blob.clone());
                    }
                }
                batch.delete(OBJECTS, object_key(bucket, key));
                self.store.write(batch).map_err(internal)?;
            }
            for blob in dead {
                self.delete_blob(&blob);
            }
            return Ok(Deleted::default());
        }
        let marker = ObjectMeta {
            delete_marker: true,
            last_modified_ms: now_ms(),
            ..Default::default()
        };
        let m = self.commit_version(bucket, key, marker, WriteBatch::new())?;
        Ok(Deleted {
            version_id: m.version_id,
            delete_marker: true,
            created_marker: true,
            report_version: true,
        })
    }

    /// DeleteObject with a version id: removes that version for good. Removing the
    /// newest version makes the next one current (or none, if it is a delete marker).
    pub(crate) fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> S3Result<Deleted> {
        self.bucket(bucket)?;
        let want = parse_version_id(version_id)?;
        let mut out = Deleted {
            version_id: want.map(str::to_string),
            report_version: true,
            ..Default::default()
        };
        let removed = {
            let _guard = self.commit_lock(bucket, key);
            let versions = self.key_versions(bucket, key)?;
            let Some(i) = versions.iter().position(|v| v.version_id.as_deref() == want) else {
                // S3 answers success for a version that is not there.
                return Ok(out);
            };
            let mut batch = WriteBatch::new();
            batch.delete(VERSIONS, version_key(bucket, key, versions[i].seq));
            if i == 0 {
                match versions.get(1) {
                    Some(next) if !next.delete_marker => {
                        batch.put(OBJECTS, object_key(bucket, key), serde_json::to_vec(next).map_err(internal)?);
                    }
                    _ => {
                        batch.delete(OBJECTS, object_key(bucket, key));
                    }
                }
            }
            self.store.write(batch).map_err(internal)?;
            versions.into_iter().nth(i)
        };
        if let Some(r) = removed {
            out.delete_marker = r.delete_marker;
            if !r.blob.is_empty() {
                self.delete_blob(&r.blob);
            }
        }
        Ok(out)
    }

    /// Changes one version in place (object tagging): the current object when
    /// `version_id` is None. Returns the changed version.
    pub(crate) fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: impl FnOnce(&mut ObjectMeta),
    ) -> S3Result<(BucketMeta, ObjectMeta)> {
        let b = self.bucket(bucket)?;
        let want = version_id.map(parse_version_id).transpose()?;
        let _guard = self.commit_lock(bucket, key);
        let versions = self.key_versions(bucket, key)?;
        let i = match want {
            None => match versions.first() {
                Some(v) if !v.delete_marker => 0,
                _ => return Err(no_such_key()),
            },
            Some(w) => versions
                .iter()
                .position(|v| v.version_id.as_deref() == w)
                .ok_or_else(no_such_version)?,
        };
        let mut m = versions[i].clone();
        if m.delete_marker {
            return Err(marker_not_allowed(&m));
        }
        change(&mut m);
        let raw = serde_json::to_vec(&m).map_err(internal)?;
        let mut batch = WriteBatch::new();
        batch.put(VERSIONS, version_key(bucket, key, m.seq), raw.clone());
        if i == 0 {
            batch.put(OBJECTS, object_key(bucket, key), raw);
        }
        self.store.write(batch).map_err(internal)?;
        Ok((b, m))
    }

    /// True when the bucket holds any version (delete markers included).
    pub(crate) fn has_versions(&self, bucket: &str) -> S3Result<bool> {
        let mut scan = self
            .store
            .prefix(VERSIONS, &object_key(bucket, ""), Direction::Forward)
            .map_err(internal)?;
        Ok(scan.next().is_some())
    }

    /// Gives every object written before versions existed its `null` version (once).
    pub(crate) fn backfill_versions(&self) -> nimbus_store::Result<()> {
        if self.store.get(META, b"versions-backfilled")?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for item in self.store.prefix(OBJECTS, b"", Direction::Forward)? {
            let (k, v) = item?;
            let Ok(mut m) = serde_json::from_slice::<ObjectMeta>(&v) else { continue };
            if m.seq != 0 {
                continue;
            }
            let Some(slash) = k.iter().position(|c| *c == b'/') else { continue };
            let (Ok(bucket), Ok(key)) = (std::str::from_utf8(&k[..slash]), std::str::from_utf8(&k[slash + 1..])) else {
                continue;
            };
            m.seq = u64::try_from(m.last_modified_ms).unwrap_or(0).saturating_mul(1_000_000).max(1);
            let Ok(raw) = serde_json::to_vec(&m) else { continue };
            batch.put(VERSIONS, version_key(bucket, key, m.seq), raw.clone());
            batch.put(OBJECTS, k, raw);
        }
        batch.put(META, b"versions-backfilled".to_vec(), b"1".to_vec());
        self.store.write(batch)
    }

    /// ListObjectVersions: versions and delete markers in key order, newest first
    /// within a key.
    pub(crate) fn list_versions(&self, i: &ListObjectVersionsInput) -> S3Result<ListObjectVersionsOutput> {
        let b = self.bucket(&i.bucket)?;
        let url = i
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: &str| crate::backend::maybe_encode(s, url);
        let max_keys = i.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Argument maxKeys must be an integer between 0 and 2147483647",
            ));
        }
        let max = max_keys.min(1000) as usize;
        let prefix = i.prefix.clone().unwrap_or_default();
        let delimiter = i.delimiter.as_deref().filter(|d| !d.is_empty());
        let key_marker = i.key_marker.as_deref().filter(|k| !k.is_empty());
        let vid_marker = i.version_id_marker.as_deref().filter(|v| !v.is_empty());
        if vid_marker.is_some() && key_marker.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let base = object_key(&i.bucket, "");
        let mut lower = Bound::Included(object_key(&i.bucket, &prefix));
        let mut prev_key: Option<String> = None;
        if let Some(km) = key_marker {
            if km.as_bytes() >= prefix.as_bytes() {
                match vid_marker {
                    Some(v) => {
                        let want = parse_version_id(v)?;
                        let seq = self
                            .find_version(&i.bucket, km, want)?
                            .map(|m| m.seq)
                            .ok_or_else(|| {
                                S3Error::with_message(
                                    S3ErrorCode::InvalidArgument,
                                    "Invalid version id specified",
                                )
                            })?;
                        lower = Bound::Excluded(version_key(&i.bucket, km, seq));
                        prev_key = Some(km.to_string());
                    }
                    None => {
                        // After every version of the marker key (or, for a common
                        // prefix marker, after everything under it).
                        let mut k = if delimiter.is_some_and(|d| km.ends_with(d)) {
                            object_key(&i.bucket, km)
                        } else {
                            versions_prefix(&i.bucket, km)
                        };
                        k.push(0xFF);
                        lower = Bound::Included(k);
                    }
                }
            }
        }
        let scan = self
            .store
            .range(VERSIONS, (lower, Bound::<Vec<u8>>::Unbounded), Direction::Forward)
            .map_err(internal)?;
        let owner = crate::config::owner_of(&b.account_id);
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut truncated = false;
        let mut next: Option<(String, Option<String>)> = None;
        for item in scan {
            let (k, v) = item.map_err(internal)?;
            if !k.starts_with(&base) || k.len() < base.len() + VERSION_SUFFIX {
                break;
            }
            let Ok(key) = std::str::from_utf8(&k[base.len()..k.len() - VERSION_SUFFIX]) else {
                continue;
            };
            if !key.starts_with(prefix.as_str()) {
                break;
            }
            let common = delimiter.and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|at| key[..prefix.len() + at + d.len()].to_string())
            });
            if let Some(cp) = &common {
                if prefixes.last() == Some(cp) {
                    continue;
                }
            }
            if count >= max {
                truncated = true;
                break;
            }
            count += 1;
            if let Some(cp) = common {
                next = Some((cp.clone(), None));
                prefixes.push(cp);
                prev_key = None;
                continue;
            }
            let m: ObjectMeta = serde_json::from_slice(&v).map_err(internal)?;
            let is_latest = prev_key.as_deref() != Some(key);
            prev_key = Some(key.to_string());
            let vid = m.version_id.clone().unwrap_or_else(|| "null".into());
            next = Some((key.to_string(), Some(vid.clone())));
            if m.delete_marker {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(is_latest),
                    key: Some(enc(key)),
                    last_modified: Some(crate::backend::ts(m.last_modified_ms)),
                    owner: Some(owner.clone()),
                    version_id: Some(vid),
                });
            } else {
                versions.push(ObjectVersion {
                    e_tag: Some(ETag::Strong(m.etag.clone())),
                    is_latest: Some(is_latest),
                    key: Some(enc(key)),
                    last_modified: Some(crate::backend::ts(m.last_modified_ms)),
                    owner: Some(owner.clone()),
                    size: Some(m.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from(
                        m.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
                    )),
                    version_id: Some(vid),
                    checksum_algorithm: {
                        let algos: Vec<ChecksumAlgorithm> = m
                            .checksums
                            .keys()
                            .filter(|a| !a.starts_with("__"))
                            .map(|a| ChecksumAlgorithm::from(a.clone()))
                            .collect();
                        (!algos.is_empty()).then_some(algos)
                    },
                    ..Default::default()
                });
            }
        }
        let (next_key, next_vid) = match (truncated, next) {
            (true, Some((k, v))) => (Some(enc(&k)), v),
            _ => (None, None),
        };
        Ok(ListObjectVersionsOutput {
            name: Some(i.bucket.clone()),
            prefix: Some(enc(&prefix)),
            delimiter: i.delimiter.as_deref().map(enc),
            key_marker: Some(i.key_marker.as_deref().map(enc).unwrap_or_default()),
            version_id_marker: Some(i.version_id_marker.clone().unwrap_or_default()),
            max_keys: Some(max_keys),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_version_id_marker: next_vid,
            encoding_type: i.encoding_type.clone(),
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(enc(&p)) })
                    .collect(),
            ),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids() {
        assert_eq!(parse_version_id("null").unwrap(), None);
        let id = new_version_id(42);
        assert_eq!(parse_version_id(&id).unwrap(), Some(id.as_str()));
        assert!(parse_version_id("abc").is_err());
        assert!(parse_version_id(&"g".repeat(32)).is_err());
        assert!(next_seq(Some(u64::MAX - 1)) == u64::MAX);
    }

    #[test]
    fn objects_from_before_versions_get_their_null_version() {
        let store = nimbus_store::Store::temporary().unwrap();
        let old = ObjectMeta {
            blob: "s3/old".into(),
            size: 3,
            etag: "e".into(),
            last_modified_ms: 1_700_000_000_000,
            ..Default::default()
        };
        store
            .put(OBJECTS, object_key("b", "dir/k"), serde_json::to_vec(&old).unwrap())
            .unwrap();
        let backend = Backend::new(store, Default::default());
        let versions = backend.key_versions("b", "dir/k").unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].version_id, None);
        assert_eq!(versions[0].seq, 1_700_000_000_000_000_000);
        let current = backend.object("b", "dir/k").unwrap().unwrap();
        assert_eq!(current.seq, versions[0].seq);
        // Once only.
        assert!(backend.store.get(META, b"versions-backfilled").unwrap().is_some());
    }
}
