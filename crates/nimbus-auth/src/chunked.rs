//! Incremental decoder for S3's `aws-chunked` body encoding, verifying each
//! chunk signature chained from the request's seed signature.
//!
//! ```text
//! <hex-size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n
//! [<trailer-name>:<value>\r\n ... x-amz-trailer-signature:<sig>\r\n]\r\n
//! ```
//!
//! In signed modes a chunk's bytes are only released once its signature has
//! been checked, so everything the decoder outputs is authenticated. That
//! means buffering one chunk; chunk sizes are capped ([`MAX_SIGNED_CHUNK`]) so
//! a client cannot make the server hold an unbounded chunk. Unsigned chunks
//! (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`) stream straight through.

use crate::error::AuthError;
use crate::signing::{sha256, sha256_hex, signature_matches, SigningKey, EMPTY_SHA256};

/// Largest signed chunk accepted (SDKs use 64 KiB; some tools up to a few MiB).
pub const MAX_SIGNED_CHUNK: u64 = 16 * 1024 * 1024;
/// Longest chunk-header or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Which streaming mode the request declared in `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailers.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: unsigned chunks, unsigned trailer.
    UnsignedTrailer,
}

impl StreamingMode {
    /// Recognise the `x-amz-content-sha256` literal.
    pub fn from_content_sha256(v: &str) -> Option<Self> {
        match v {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Some(Self::Signed),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Some(Self::SignedTrailer),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Some(Self::UnsignedTrailer),
            _ => None,
        }
    }

    fn signed(self) -> bool {
        !matches!(self, Self::UnsignedTrailer)
    }

    fn has_trailer(self) -> bool {
        !matches!(self, Self::Signed)
    }
}

/// What chunk signatures are chained from: the verified request signature
/// (the "seed"), the derived key, the request timestamp and scope.
#[derive(Debug, Clone)]
pub struct ChunkSigningContext {
    pub(crate) key: SigningKey,
    pub(crate) amz_date: String,
    pub(crate) scope: String,
    pub(crate) seed_signature: [u8; 32],
}

impl ChunkSigningContext {
    /// Build a context from raw parts (normally [`crate::AuthContext::chunked_decoder`] does this).
    /// `seed_signature_hex` must be 64 hex digits.
    pub fn new(
        key: SigningKey,
        amz_date: &str,
        scope: &crate::CredentialScope,
        seed_signature_hex: &str,
    ) -> Result<Self, AuthError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_signature_hex, &mut seed)
            .map_err(|_| AuthError::SignatureMismatch)?;
        Ok(Self {
            key,
            amz_date: amz_date.to_owned(),
            scope: scope.to_scope_string(),
            seed_signature: seed,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `<hex-size>[;chunk-signature=<sig>]` line.
    Header,
    /// Reading chunk data; this many bytes left.
    Data(u64),
    /// Expecting the `\r\n` after chunk data; this many of its bytes seen.
    DataEnd(u8),
    /// After the zero-size chunk: trailer lines up to an empty line.
    Trailers,
    /// Complete.
    Done,
}

/// Push-style decoder: feed body bytes as they arrive, get verified data out.
#[derive(Debug)]
pub struct ChunkedDecoder {
    mode: StreamingMode,
    signing: Option<ChunkSigningContext>,
    prev_signature: [u8; 32],
    state: State,
    line: Vec<u8>,
    /// The current chunk's signature (signed modes) and buffered data.
    chunk_signature: Option<String>,
    chunk: Vec<u8>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    decoded_len: u64,
    expected_len: Option<u64>,
    failed: Option<AuthError>,
}

fn malformed(msg: &str) -> AuthError {
    AuthError::MalformedChunk(msg.to_owned())
}

impl ChunkedDecoder {
    /// A decoder for `mode`. Signed modes need `signing`; `expected_len` is the
    /// `x-amz-decoded-content-length` header, checked at the end when given.
    pub fn new(
        mode: StreamingMode,
        signing: Option<ChunkSigningContext>,
        expected_len: Option<u64>,
    ) -> Result<Self, AuthError> {
        let prev_signature = match (&signing, mode.signed()) {
            (Some(s), _) => s.seed_signature,
            (None, false) => [0u8; 32],
            (None, true) => return Err(malformed("signed streaming mode needs a signing context")),
        };
        Ok(Self {
            mode,
            signing,
            prev_signature,
            state: State::Header,
            line: Vec::new(),
            chunk_signature: None,
            chunk: Vec::new(),
            trailers: Vec::new(),
            trailer_signature: None,
            decoded_len: 0,
            expected_len,
            failed: None,
        })
    }

    /// The streaming mode being decoded.
    pub fn mode(&self) -> StreamingMode {
        self.mode
    }

    /// Whether the final chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decoded (payload) bytes released so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// Trailers read so far (lower-case names; the trailer signature excluded).
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Feed the next bytes of the body; verified payload bytes are appended to
    /// `out`. After an error the decoder stays failed.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(input, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Declare the end of the body: errors if it stopped before the end of
    /// the encoding.
    pub fn finish(&mut self) -> Result<(), AuthError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        // Some clients omit the very last empty line; once the zero chunk is
        // in and no partial line is pending, the trailer section is complete.
        if self.state == State::Trailers && self.line.is_empty() {
            if let Err(e) = self.end_of_trailers() {
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        if self.state != State::Done {
            self.failed = Some(AuthError::IncompleteBody);
            return Err(AuthError::IncompleteBody);
        }
        Ok(())
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::Trailers => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    if self.state == State::Header {
                        self.on_header_line(&line)?;
                    } else {
                        self.on_trailer_line(&line)?;
                    }
                }
                State::Data(remaining) => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let (data, rest) = input.split_at(n);
                    input = rest;
                    if self.mode.signed() {
                        self.chunk.extend_from_slice(data);
                    } else {
                        out.extend_from_slice(data);
                        self.decoded_len += n as u64;
                    }
                    let left = remaining - n as u64;
                    if left == 0 {
                        self.state = State::DataEnd(0);
                        if self.mode.signed() {
                            self.verify_chunk()?;
                            self.decoded_len += self.chunk.len() as u64;
                            out.append(&mut self.chunk);
                        }
                    } else {
                        self.state = State::Data(left);
                    }
                }
                State::DataEnd(seen) => {
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if input[0] != want {
                        return Err(malformed("chunk data is not followed by CRLF"));
                    }
                    input = &input[1..];
                    self.state = if seen == 0 {
                        State::DataEnd(1)
                    } else {
                        State::Header
                    };
                }
                State::Done => return Err(malformed("data after the final chunk")),
            }
        }
        Ok(())
    }

    /// Accumulate up to a CRLF; `Some(line)` (without CRLF) when complete.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&input[..i]);
                *input = &input[i + 1..];
                if self.line.pop() != Some(b'\r') {
                    return Err(malformed("line not terminated by CRLF"));
                }
                if self.line.len() > MAX_LINE {
                    return Err(malformed("line too long"));
                }
                Ok(Some(std::mem::take(&mut self.line)))
            }
            None => {
                self.line.extend_from_slice(input);
                *input = &[];
                if self.line.len() > MAX_LINE {
                    return Err(malformed("line too long"));
                }
                Ok(None)
            }
        }
    }

    fn on_header_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let line = std::str::from_utf8(line).map_err(|_| malformed("chunk header is not ASCII"))?;
        let mut parts = line.split(';');
        let size_hex = parts.next().unwrap_or("").trim();
        if size_hex.is_empty()
            || size_hex.len() > 16
            || !size_hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(malformed("invalid chunk size"));
        }
        let size =
            u64::from_str_radix(size_hex, 16).map_err(|_| malformed("invalid chunk size"))?;
        let mut signature = None;
        for ext in parts {
            if let Some(sig) = ext.trim().strip_prefix("chunk-signature=") {
                signature = Some(sig.to_owned());
            }
        }
        if self.mode.signed() {
            if signature.is_none() {
                return Err(malformed("chunk-signature missing"));
            }
            if size > MAX_SIGNED_CHUNK {
                return Err(malformed("chunk too large"));
            }
        }
        self.chunk_signature = signature;
        if size == 0 {
            if self.mode.signed() {
                // The final, empty chunk is signed too: it seals the sequence.
                self.verify_chunk()?;
            }
            self.state = State::Trailers;
        } else {
            self.state = State::Data(size);
        }
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        if line.is_empty() {
            return self.end_of_trailers();
        }
        if !self.mode.has_trailer() {
            return Err(malformed("trailers are not allowed in this streaming mode"));
        }
        if self.trailer_signature.is_some() {
            return Err(malformed("trailer after x-amz-trailer-signature"));
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("trailer is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("trailer without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(malformed("empty trailer name"));
        }
        let value = value.trim().to_owned();
        if name == "x-amz-trailer-signature" {
            self.trailer_signature = Some(value);
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    fn end_of_trailers(&mut self) -> Result<(), AuthError> {
        if self.mode == StreamingMode::SignedTrailer {
            self.verify_trailer()?;
        }
        if let Some(expected) = self.expected_len {
            if expected != self.decoded_len {
                return Err(AuthError::MalformedChunk(format!(
                    "decoded length {} does not match x-amz-decoded-content-length {expected}",
                    self.decoded_len
                )));
            }
        }
        self.state = State::Done;
        Ok(())
    }

    fn verify_chunk(&mut self) -> Result<(), AuthError> {
        let Some(s) = &self.signing else {
            return Err(malformed("no signing context"));
        };
        let provided = self.chunk_signature.take().unwrap_or_default();
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            s.amz_date,
            s.scope,
            hex::encode(self.prev_signature),
            sha256_hex(&self.chunk)
        );
        let computed = s.key.sign(sts.as_bytes());
        if !signature_matches(&computed, &provided) {
            return Err(AuthError::ChunkSignatureMismatch);
        }
        self.prev_signature = computed;
        Ok(())
    }

    fn verify_trailer(&mut self) -> Result<(), AuthError> {
        let Some(s) = &self.signing else {
            return Err(malformed("no signing context"));
        };
        let Some(provided) = &self.trailer_signature else {
            return Err(malformed("x-amz-trailer-signature missing"));
        };
        let canonical = |trailers: &[(String, String)]| {
            let mut c = String::new();
            for (k, v) in trailers {
                c.push_str(k);
                c.push(':');
                c.push_str(v);
                c.push('\n');
            }
            c
        };
        // Signers list trailers in the order sent; some sort them. Try both.
        let mut sorted = self.trailers.clone();
        sorted.sort();
        let mut forms = vec![canonical(&self.trailers)];
        if sorted != self.trailers {
            forms.push(canonical(&sorted));
        }
        let prev = hex::encode(self.prev_signature);
        let ok = forms.iter().any(|c| {
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
                s.amz_date,
                s.scope,
                hex::encode(sha256(c.as_bytes()))
            );
            signature_matches(&s.key.sign(sts.as_bytes()), provided)
        });
        if ok {
            Ok(())
        } else {
            Err(AuthError::ChunkSignatureMismatch)
        }
    }
}

/// A fully decoded `aws-chunked` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBody {
    /// The payload bytes.
    pub data: Vec<u8>,
    /// Trailers (lower-case names), e.g. `x-amz-checksum-crc32`.
    pub trailers: Vec<(String, String)>,
}

/// Decode a complete body in one go.
pub fn decode_chunked_body(
    mut decoder: ChunkedDecoder,
    body: &[u8],
) -> Result<DecodedBody, AuthError> {
    let mut data = Vec::with_capacity(body.len());
    decoder.push(body, &mut data)?;
    decoder.finish()?;
    Ok(DecodedBody {
        data,
        trailers: std::mem::take(&mut decoder.trailers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(body: &[u8]) -> Result<DecodedBody, AuthError> {
        decode_chunked_body(
            ChunkedDecoder::new(StreamingMode::UnsignedTrailer, None, None)?,
            body,
        )
    }

    #[test]
    fn unsigned_trailer_body() {
        let d =
            unsigned(b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n")
                .expect("valid");
        assert_eq!(d.data, b"hello world");
        assert_eq!(
            d.trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
    }

    #[test]
    fn byte_at_a_time_is_the_same() {
        let body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        let mut d =
            ChunkedDecoder::new(StreamingMode::UnsignedTrailer, None, Some(5)).expect("new");
        let mut out = Vec::new();
        for b in body {
            d.push(std::slice::from_ref(b), &mut out).expect("push");
        }
        d.finish().expect("finish");
        assert_eq!(out, b"hello");
    }

    #[test]
    fn malformed_framing_never_panics() {
        for body in [
            &b"zz\r\nhello\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\nhello\r\n",
            b"ffffffffffffffffff\r\n",
            b"0\r\nnocolon\r\n\r\n",
            b"0\r\n\r\nextra",
            b"\xff\r\n",
            b"",
            b"5\r\nhel",
        ] {
            assert!(unsigned(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn length_mismatch_detected() {
        let d = ChunkedDecoder::new(StreamingMode::UnsignedTrailer, None, Some(4)).expect("new");
        assert!(decode_chunked_body(d, b"5\r\nhello\r\n0\r\n\r\n").is_err());
    }

    #[test]
    fn signed_mode_requires_context() {
        assert!(ChunkedDecoder::new(StreamingMode::Signed, None, None).is_err());
    }
}
