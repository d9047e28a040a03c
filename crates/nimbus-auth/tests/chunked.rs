//! aws-chunked uploads: the AWS documentation's worked example, plus
//! corrupted, truncated and trailer variants.

mod common;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::SignableBody;
use common::*;
use nimbus_auth::{
    decode_chunked_body, AuthError, Body, Credential, FixedClock, PayloadMode, ProtocolFamily,
    SigningKey, StreamingMode, Verifier,
};
use sha2::{Digest, Sha256};

// "Signature Calculations for the Authorization Header: Transferring Payload
// in Multiple Chunks (Chunked Upload) (AWS Signature Version 4)", S3 API docs.
const DOC_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const SIG_FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn doc_verifier() -> Verifier {
    let mut keys = std::collections::HashMap::new();
    keys.insert(
        DOC_AKID.to_owned(),
        Credential {
            secret_access_key: DOC_SECRET.into(),
            account_id: ACCOUNT.into(),
            session_token: None,
        },
    );
    // 2013-05-24T00:00:00Z
    Verifier::new(Arc::new(keys)).with_clock(Arc::new(FixedClock(
        UNIX_EPOCH + Duration::from_secs(1_369_353_600),
    )))
}

fn doc_request() -> http::request::Parts {
    let (parts, ()) = http::Request::put("/examplebucket/chunkObject.txt")
        .header("host", "s3.amazonaws.com")
        .header("x-amz-date", "20130524T000000Z")
        .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={DOC_AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
            ),
        )
        .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", "66560")
        .header("content-length", "66824")
        .body(())
        .expect("request")
        .into_parts();
    parts
}

fn doc_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(format!("10000;chunk-signature={SIG1}\r\n").as_bytes());
    b.extend(std::iter::repeat_n(b'a', 65536));
    b.extend_from_slice(format!("\r\n400;chunk-signature={SIG2}\r\n").as_bytes());
    b.extend(std::iter::repeat_n(b'a', 1024));
    b.extend_from_slice(format!("\r\n0;chunk-signature={SIG_FINAL}\r\n\r\n").as_bytes());
    b
}

#[test]
fn aws_documentation_example() {
    let body = doc_body();
    assert_eq!(body.len(), 66824, "matches the example's Content-Length");
    let ctx = doc_verifier()
        .verify(&doc_request(), Body::Deferred, true)
        .expect("seed signature verifies");
    assert_eq!(ctx.signature_hex(), SEED);
    assert_eq!(ctx.payload, PayloadMode::Streaming(StreamingMode::Signed));
    assert_eq!(ctx.decoded_content_length, Some(66560));

    let decoded =
        decode_chunked_body(ctx.chunked_decoder().expect("streaming"), &body).expect("decodes");
    assert_eq!(decoded.data.len(), 66560);
    assert!(decoded.data.iter().all(|&b| b == b'a'));
    assert!(decoded.trailers.is_empty());
}

#[test]
fn documentation_example_in_odd_pieces() {
    let ctx = doc_verifier()
        .verify(&doc_request(), Body::Deferred, true)
        .expect("verifies");
    let body = doc_body();
    for piece in [1usize, 7, 100, 4096, 65_600] {
        let mut dec = ctx.chunked_decoder().expect("streaming");
        let mut out = Vec::new();
        for part in body.chunks(piece) {
            dec.push(part, &mut out).expect("push");
        }
        dec.finish().expect("finish");
        assert_eq!(out.len(), 66560, "piece size {piece}");
        assert!(dec.is_done());
    }
}

#[test]
fn corrupted_chunk_is_refused_and_not_released() {
    let ctx = doc_verifier()
        .verify(&doc_request(), Body::Deferred, true)
        .expect("verifies");
    let mut body = doc_body();
    body[200] = b'b';
    let mut dec = ctx.chunked_decoder().expect("streaming");
    let mut out = Vec::new();
    let e = dec.push(&body, &mut out).unwrap_err();
    assert_eq!(e, AuthError::ChunkSignatureMismatch);
    assert!(out.is_empty(), "no unverified byte is released");
    assert_eq!(
        e.aws_error(ProtocolFamily::S3).code,
        "SignatureDoesNotMatch"
    );
    // The decoder stays failed.
    assert!(dec.push(b"", &mut out).is_err() && dec.finish().is_err());

    // Second chunk corrupted: the first chunk's data came out, the second's did not.
    let mut body = doc_body();
    let n = body.len();
    body[n - 200] = b'b';
    let mut dec = ctx.chunked_decoder().expect("streaming");
    let mut out = Vec::new();
    assert_eq!(
        dec.push(&body, &mut out).unwrap_err(),
        AuthError::ChunkSignatureMismatch
    );
    assert_eq!(out.len(), 65536);

    // A chunk signature swapped for another.
    let body = String::from_utf8(doc_body())
        .expect("ascii")
        .replace(SIG2, SIG1)
        .into_bytes();
    let dec = ctx.chunked_decoder().expect("streaming");
    assert_eq!(
        decode_chunked_body(dec, &body).unwrap_err(),
        AuthError::ChunkSignatureMismatch
    );

    // Chunks reordered/dropped: the chain breaks.
    let mut body = format!("400;chunk-signature={SIG2}\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'a', 1024));
    body.extend_from_slice(format!("\r\n0;chunk-signature={SIG_FINAL}\r\n\r\n").as_bytes());
    let dec = ctx.chunked_decoder().expect("streaming");
    assert_eq!(
        decode_chunked_body(dec, &body).unwrap_err(),
        AuthError::ChunkSignatureMismatch
    );
}

#[test]
fn truncated_body_is_refused() {
    let ctx = doc_verifier()
        .verify(&doc_request(), Body::Deferred, true)
        .expect("verifies");
    let body = doc_body();
    for cut in [0, 10, 88, 50_000, 65_626, body.len() - 90, body.len() - 40] {
        let dec = ctx.chunked_decoder().expect("streaming");
        let e = decode_chunked_body(dec, &body[..cut]).unwrap_err();
        assert_eq!(e, AuthError::IncompleteBody, "cut at {cut}");
    }
    assert_eq!(
        AuthError::IncompleteBody.aws_error(ProtocolFamily::S3).code,
        "IncompleteBody"
    );
}

#[test]
fn malformed_framing_is_an_error() {
    let ctx = doc_verifier()
        .verify(&doc_request(), Body::Deferred, true)
        .expect("verifies");
    let bad: Vec<Vec<u8>> = vec![
        b"10000\r\n".to_vec(), // no chunk-signature in signed mode
        format!("xyz;chunk-signature={SIG1}\r\n").into_bytes(), // bad size
        format!("10000;chunk-signature={SIG1}\n").into_bytes(), // LF only
        format!("1000000000;chunk-signature={SIG1}\r\n").into_bytes(), // too large
        vec![b'1'; 20_000],    // endless header line
        {
            let mut b = doc_body();
            b.extend_from_slice(b"garbage");
            b
        },
    ];
    for body in bad {
        let dec = ctx.chunked_decoder().expect("streaming");
        let e = decode_chunked_body(dec, &body).unwrap_err();
        assert!(matches!(e, AuthError::MalformedChunk(_)), "{e:?}");
    }
}

fn chunk_sig(key: &SigningKey, date: &str, scope: &str, prev: &str, data: &[u8]) -> String {
    let empty = hex::encode(Sha256::digest(b""));
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n{prev}\n{empty}\n{}",
        hex::encode(Sha256::digest(data))
    );
    hex::encode(key.sign(sts.as_bytes()))
}

#[test]
fn signed_payload_with_trailer() {
    // Seed signed by aws-sigv4; chunk and trailer signatures built here per
    // the documented string-to-sign formats.
    let mut opts = Opts::new("s3", true);
    opts.body = SignableBody::StreamingSignedPayloadTrailer;
    let parts = signed_parts(
        "PUT",
        "https://s3.us-east-1.amazonaws.com/bkt/obj",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "11"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        &opts,
    );
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("seed verifies");
    assert_eq!(
        ctx.payload,
        PayloadMode::Streaming(StreamingMode::SignedTrailer)
    );

    let key = SigningKey::derive(SECRET, "20261122", "us-east-1", "s3");
    let scope = "20261122/us-east-1/s3/aws4_request";
    let date = ctx.amz_date().to_owned();
    let s1 = chunk_sig(&key, &date, scope, &ctx.signature_hex(), b"hello world");
    let s0 = chunk_sig(&key, &date, scope, &s1, b"");
    let trailer = "x-amz-checksum-crc32:DUoRhQ==\n";
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{date}\n{scope}\n{s0}\n{}",
        hex::encode(Sha256::digest(trailer))
    );
    let ts = hex::encode(key.sign(sts.as_bytes()));
    let body = format!(
        "b;chunk-signature={s1}\r\nhello world\r\n0;chunk-signature={s0}\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:{ts}\r\n\r\n"
    );
    let d = decode_chunked_body(ctx.chunked_decoder().expect("streaming"), body.as_bytes())
        .expect("decodes");
    assert_eq!(d.data, b"hello world");
    assert_eq!(
        d.trailers,
        vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
    );

    // A changed checksum breaks the trailer signature.
    let forged = body.replace("DUoRhQ==", "AAAAAA==");
    let e = decode_chunked_body(ctx.chunked_decoder().expect("streaming"), forged.as_bytes())
        .unwrap_err();
    assert_eq!(e, AuthError::ChunkSignatureMismatch);

    // A missing trailer signature is refused.
    let stripped = body.replace(&format!("x-amz-trailer-signature:{ts}\r\n"), "");
    assert!(decode_chunked_body(
        ctx.chunked_decoder().expect("streaming"),
        stripped.as_bytes()
    )
    .is_err());
}

#[test]
fn unsigned_payload_with_trailer() {
    let mut opts = Opts::new("s3", true);
    opts.body = SignableBody::StreamingUnsignedPayloadTrailer;
    let parts = signed_parts(
        "PUT",
        "https://s3.us-east-1.amazonaws.com/bkt/obj",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "11"),
        ],
        &opts,
    );
    let ctx = verifier()
        .verify(&parts, Body::Deferred, true)
        .expect("verifies");
    assert_eq!(
        ctx.payload,
        PayloadMode::Streaming(StreamingMode::UnsignedTrailer)
    );
    let body = b"6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let d = decode_chunked_body(ctx.chunked_decoder().expect("streaming"), body).expect("decodes");
    assert_eq!(d.data, b"hello world");
    assert_eq!(d.trailers[0].0, "x-amz-checksum-crc32");

    // Wrong decoded length.
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    assert!(decode_chunked_body(ctx.chunked_decoder().expect("streaming"), body).is_err());
}
