//! Cryptographic building blocks: SHA-256, HMAC, the derived signing key and
//! its cache, and constant-time comparison.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the empty string; appears in every chunk string to sign.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps
    // the function total without a panic path.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// The SigV4 signing key for one (secret, date, region, service).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// Derive `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
    pub fn derive(secret: &str, date: &str, region: &str, service: &str) -> Self {
        let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        SigningKey(hmac_sha256(&k_service, b"aws4_request"))
    }

    /// The signature of `string_to_sign` under this key.
    pub fn sign(&self, string_to_sign: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, string_to_sign)
    }
}

/// Derived keys keyed by (secret, date, region, service). Every request needs
/// one and deriving costs four HMACs; a key is valid for a whole day, so the
/// hit rate is high. Bounded by clearing when full, which is simple and only
/// costs a few re-derivations.
#[derive(Default)]
pub(crate) struct KeyCache {
    map: Mutex<HashMap<(String, String, String, String), SigningKey>>,
}

const KEY_CACHE_CAPACITY: usize = 4096;

impl KeyCache {
    pub(crate) fn get(&self, secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let cache_key = (
            secret.to_owned(),
            date.to_owned(),
            region.to_owned(),
            service.to_owned(),
        );
        // A poisoned lock only means another thread panicked mid-insert of a
        // plain map; the data is still usable.
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = map.get(&cache_key) {
            return *k;
        }
        let key = SigningKey::derive(secret, date, region, service);
        if map.len() >= KEY_CACHE_CAPACITY {
            map.clear();
        }
        map.insert(cache_key, key);
        key
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Compare a computed signature with the hex one a client sent, in constant
/// time. Malformed hex simply does not match.
pub(crate) fn signature_matches(computed: &[u8; 32], provided_hex: &str) -> bool {
    let mut provided = [0u8; 32];
    if hex::decode_to_slice(provided_hex.as_bytes(), &mut provided).is_err() {
        return false;
    }
    ct_eq(computed, &provided)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_matches_aws_documented_example() {
        // From AWS's "Examples of how to derive a signing key for SigV4".
        let k = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_returns_same_key() {
        let c = KeyCache::default();
        let a = c.get("s", "20260101", "us-east-1", "s3");
        let b = c.get("s", "20260101", "us-east-1", "s3");
        assert_eq!(a, b);
        assert_ne!(a, c.get("s", "20260102", "us-east-1", "s3"));
    }

    #[test]
    fn signature_matching() {
        let sig = [7u8; 32];
        assert!(signature_matches(&sig, &hex::encode(sig)));
        assert!(signature_matches(&sig, &hex::encode(sig).to_uppercase()));
        assert!(!signature_matches(&sig, "zz"));
        assert!(!signature_matches(&sig, &hex::encode([8u8; 32])));
    }
}
