//! Identifiers in AWS's shapes.

use rand::Rng;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `n` lowercase alphanumerics (API ids are 10, resource ids 10, deployment ids 6).
pub fn lower_alnum(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// An `x-amz-apigw-id`/`extendedRequestId` (16 characters, base64-ish).
pub fn extended_request_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut s: String = (0..15)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    s.push('=');
    s
}
