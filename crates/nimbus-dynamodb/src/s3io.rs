//! The S3 that exports write to and imports read from, as a trait so this crate does not
//! depend on `nimbus-s3` (the binary implements it over Nimbus' S3; see `wiring.rs`),
//! plus what exports and imports share: their ids, durable records and token checks.

use std::sync::Arc;

use nimbus_protocol::BoxFuture;
use nimbus_types::AwsError;

/// Why S3 refused: its error code (`NoSuchBucket`, `AccessDenied`, ...) and message.
#[derive(Debug, Clone)]
pub struct S3Failure {
    pub code: String,
    pub message: String,
}

/// Object reads, writes and listings in the S3 of the same Nimbus.
pub trait ObjectStore: Send + Sync {
    /// Writes `bucket/key` as `account` (a PutObject); returns the ETag (hex MD5).
    fn put<'a>(&'a self, account: &'a str, region: &'a str, bucket: &'a str, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<String, S3Failure>>;
    /// The current objects under `prefix` (key, size), in key order.
    fn list<'a>(&'a self, account: &'a str, bucket: &'a str, prefix: &'a str) -> BoxFuture<'a, Result<Vec<(String, u64)>, S3Failure>>;
    /// The bytes of `bucket/key`, refused past `max_bytes`.
    fn get<'a>(&'a self, account: &'a str, bucket: &'a str, key: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<Vec<u8>, S3Failure>>;
}

/// Runs an S3 call from an operation's blocking thread.
pub(crate) fn run<T>(f: BoxFuture<'_, Result<T, S3Failure>>) -> Result<T, S3Failure> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h.block_on(f),
        Err(_) => Err(S3Failure { code: "InternalError".into(), message: "S3 is not reachable from here".into() }),
    }
}

/// The S3 store, or the error of an operation that needs it when none is connected.
pub(crate) fn store(slot: &std::sync::OnceLock<Arc<dyn ObjectStore>>, op: &str) -> Result<Arc<dyn ObjectStore>, AwsError> {
    slot.get().cloned().ok_or_else(|| AwsError::validation(format!("{op} needs S3, which is not connected to DynamoDB in this Nimbus")))
}

/// An export or import id: 14 digits of epoch milliseconds, a dash, 8 hex digits.
pub(crate) fn new_id(now: f64) -> String {
    let ms = (now * 1000.0).floor() as u64;
    let r = uuid::Uuid::new_v4().as_u128() as u32;
    format!("{ms:014}-{r:08x}")
}

/// Base64 of a hex MD5 (S3's ETag of a single-part object), as manifests carry it.
pub(crate) fn md5_b64(hex: &str) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..hex.len() / 2).filter_map(|i| hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// ISO-8601 UTC with milliseconds, as manifests write times.
pub(crate) fn iso(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_and_md5() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_604_474_914.028), "2020-11-04T07:28:34.028Z");
        assert_eq!(md5_b64("d41d8cd98f00b204e9800998ecf8427e"), "1B2M2Y8AsgTpgAmY7PhCfg==");
        let id = new_id(1.5);
        assert!(id.starts_with("00000000001500-") && id.len() == 23, "{id}");
    }
}
