//! The canonical request and string to sign, built from what arrived on the wire.
//!
//! A server only sees the request as the client *sent* it (already
//! percent-encoded), while the client signed it from its own view. Real
//! signers agree on the canonical form for well-formed requests, but differ at
//! the edges (botocore signs the raw query pairs, aws-sigv4 decodes `+` as a
//! space and re-encodes). So the builders here return a short list of
//! candidates: the strictly canonical form first, then the few known
//! alternatives, only when the wire form makes them differ.

use http::request::Parts;

use crate::signing::sha256_hex;

/// Bytes never percent-encoded: RFC 3986 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Strict SigV4 URI encoding: every byte but the unreserved ones as `%XX`
/// (upper-case hex); `/` kept when `keep_slash`.
pub(crate) fn uri_encode(input: &[u8], keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode; a `%` not followed by two hex digits stays literal (as
/// lenient servers do) rather than failing the whole request.
pub(crate) fn percent_decode(input: &str, plus_as_space: bool) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                match (
                    b.get(i + 1).copied().and_then(hex_val),
                    b.get(i + 2).copied().and_then(hex_val),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_as_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 dot-segment removal, plus collapsing of empty segments,
/// as every AWS SDK does for non-S3 services.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&segs.join("/"));
    let ends_with_slash = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if ends_with_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Canonical URI candidates for the wire path `raw_path`.
///
/// S3: the path as sent (SDKs already encode keys exactly as SigV4 wants), then
/// the strictly re-encoded form. Others: normalise, then encode once more (the
/// "double" encoding: the wire form is already encoded once); then the
/// decode/strict-re-encode/encode form for clients with sloppy wire encoding.
pub(crate) fn canonical_uri_candidates(raw_path: &str, s3: bool) -> Vec<String> {
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    let mut out = Vec::with_capacity(2);
    if s3 {
        out.push(raw_path.to_owned());
        let mut strict = String::with_capacity(raw_path.len());
        uri_encode(&percent_decode(raw_path, false), true, &mut strict);
        out.push(strict);
    } else {
        let normalized = normalize_path(raw_path);
        let mut once = String::with_capacity(normalized.len());
        uri_encode(normalized.as_bytes(), true, &mut once);
        out.push(once);
        let mut strict = String::with_capacity(normalized.len());
        uri_encode(&percent_decode(&normalized, false), true, &mut strict);
        let mut twice = String::with_capacity(strict.len());
        uri_encode(strict.as_bytes(), true, &mut twice);
        out.push(twice);
    }
    out.dedup();
    out
}

/// Split a raw query string into raw (still encoded) key/value pairs.
pub(crate) fn raw_query_pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// Decoded query parameters (for reading `X-Amz-*` values).
pub(crate) fn decoded_query_params(query: &str) -> Vec<(String, String)> {
    raw_query_pairs(query)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&percent_decode(k, false)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v, false)).into_owned(),
            )
        })
        .collect()
}

/// Canonical query string candidates, leaving out any parameter named in
/// `exclude` (compared on the decoded name).
pub(crate) fn canonical_query_candidates(query: &str, exclude: &[&str]) -> Vec<String> {
    let pairs: Vec<(&str, &str)> = raw_query_pairs(query)
        .into_iter()
        .filter(|(k, _)| {
            let name = percent_decode(k, false);
            !exclude.iter().any(|e| e.as_bytes() == name.as_slice())
        })
        .collect();

    let strict = |plus_as_space: bool| -> String {
        let mut enc: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let mut ek = String::new();
                uri_encode(&percent_decode(k, plus_as_space), false, &mut ek);
                let mut ev = String::new();
                uri_encode(&percent_decode(v, plus_as_space), false, &mut ev);
                (ek, ev)
            })
            .collect();
        enc.sort();
        join_pairs(enc.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };

    let mut out = vec![strict(false)];
    let mut push = |c: String| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    if query.contains('+') {
        // aws-sigv4 (Rust SDK) and form-style clients mean a space by `+`.
        push(strict(true));
    }
    // botocore signs the raw pairs, sorted as they are.
    let mut raw = pairs.clone();
    raw.sort();
    push(join_pairs(raw.into_iter()));
    out
}

fn join_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// Trim spaces and collapse inner runs of spaces to one (only ' ', like AWS).
fn trim_all(value: &[u8], out: &mut Vec<u8>) {
    let start = value.iter().position(|&b| b != b' ').unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |p| p + 1);
    let mut prev_space = false;
    for &b in &value[start..end] {
        if b == b' ' {
            if prev_space {
                continue;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        out.push(b);
    }
}

/// The canonical headers block (`name:value\n` per signed header) for the
/// header names in `signed_headers` (as the client listed them). `None` when a
/// signed header is absent from the request.
pub(crate) fn canonical_headers(parts: &Parts, signed_headers: &[&str]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    for &name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut any = false;
        for (i, v) in parts.headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            trim_all(v.as_bytes(), &mut out);
            any = true;
        }
        if !any {
            // HTTP/2 carries the host in :authority, which hyper puts in the URI.
            match (name, parts.uri.authority()) {
                ("host", Some(a)) => out.extend_from_slice(a.as_str().as_bytes()),
                _ => return None,
            }
        }
        out.push(b'\n');
    }
    Some(out)
}

/// Assemble the canonical request.
pub(crate) fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[u8],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut cr = Vec::with_capacity(method.len() + uri.len() + query.len() + headers.len() + 128);
    for part in [
        method.as_bytes(),
        b"\n",
        uri.as_bytes(),
        b"\n",
        query.as_bytes(),
        b"\n",
    ] {
        cr.extend_from_slice(part);
    }
    cr.extend_from_slice(headers);
    for part in [
        b"\n".as_slice(),
        signed_headers.as_bytes(),
        b"\n",
        payload_hash.as_bytes(),
    ] {
        cr.extend_from_slice(part);
    }
    cr
}

/// `AWS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex sha256(canonical request)>`.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> Vec<u8> {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_strict_rfc3986() {
        let mut s = String::new();
        uri_encode("a b+c=d&é~_.-/".as_bytes(), false, &mut s);
        assert_eq!(s, "a%20b%2Bc%3Dd%26%C3%A9~_.-%2F");
    }

    #[test]
    fn decode_tolerates_bad_escapes() {
        assert_eq!(percent_decode("%41%zz%4", false), b"A%zz%4");
        assert_eq!(percent_decode("%", false), b"%");
        assert_eq!(percent_decode("a+b", true), b"a b");
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_path("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(normalize_path("/../x"), "/x");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/a/.."), "/");
    }

    #[test]
    fn uri_candidates() {
        assert_eq!(canonical_uri_candidates("/a%20b/c", false)[0], "/a%2520b/c");
        assert_eq!(canonical_uri_candidates("/a%20b//c", true)[0], "/a%20b//c");
        assert_eq!(canonical_uri_candidates("", true), vec!["/".to_owned()]);
    }

    #[test]
    fn query_sorted_and_encoded() {
        let q =
            canonical_query_candidates("b=2&a=z&a=y&X-Amz-Signature=abc&c", &["X-Amz-Signature"]);
        assert_eq!(q[0], "a=y&a=z&b=2&c=");
    }

    #[test]
    fn trims_headers() {
        let mut out = Vec::new();
        trim_all(b"  a   b  c ", &mut out);
        assert_eq!(out, b"a b c");
    }
}
