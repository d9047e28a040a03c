//! HTTP_PROXY integrations: forward the request to an `http://` backend (a minimal
//! HTTP/1.1 client: one connection per request, `Connection: close`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest backend response read (API Gateway's payload limit).
const MAX_RESPONSE: usize = 10 * 1024 * 1024;

/// The backend URL: `{name}`/`{name+}` placeholders filled from the path parameters,
/// the request's query string appended.
pub fn target_url(uri: &str, params: &BTreeMap<String, String>, query: &str) -> String {
    let mut url = uri.to_string();
    for (k, v) in params {
        url = url
            .replace(&format!("{{{k}+}}"), v)
            .replace(&format!("{{{k}}}"), v);
    }
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(query);
    }
    url
}

/// Why forwarding failed: the gateway answers 504 for a timeout, 502 otherwise, and
/// 500 for a URL it cannot use.
pub enum ForwardError {
    Timeout,
    Bad,
    Unsupported,
}

pub async fn forward(
    url: &str,
    method: &str,
    headers: &HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<Response<Bytes>, ForwardError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(ForwardError::Unsupported);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let run = async {
        let mut stream = TcpStream::connect(&addr)
            .await
            .map_err(|_| ForwardError::Bad)?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            if matches!(
                name.as_str(),
                "host"
                    | "connection"
                    | "content-length"
                    | "transfer-encoding"
                    | "keep-alive"
                    | "expect"
            ) {
                continue;
            }
            if let Ok(v) = value.to_str() {
                head.push_str(&format!("{}: {}\r\n", name.as_str(), v));
            }
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|_| ForwardError::Bad)?;
        stream
            .write_all(&body)
            .await
            .map_err(|_| ForwardError::Bad)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|_| ForwardError::Bad)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(ForwardError::Bad);
            }
        }
        parse_response(&buf).ok_or(ForwardError::Bad)
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| ForwardError::Timeout)?
}

fn parse_response(buf: &[u8]) -> Option<Response<Bytes>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':')?;
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
            continue;
        }
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
            continue;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(v)) {
            headers.append(n, v);
        }
    }
    let raw = &buf[end + 4..];
    let body = if chunked {
        dechunk(raw)?
    } else {
        match length {
            Some(n) => raw.get(..n)?.to_vec(),
            None => raw.to_vec(),
        }
    };
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = StatusCode::from_u16(status).ok()?;
    *r.headers_mut() = headers;
    Some(r)
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_parsing() {
        let mut p = BTreeMap::new();
        p.insert("proxy".to_string(), "a/b".to_string());
        assert_eq!(
            target_url("http://h/x/{proxy}", &p, "q=1"),
            "http://h/x/a/b?q=1"
        );
        assert_eq!(
            target_url("http://h/x/{proxy+}?z=1", &p, "q=1"),
            "http://h/x/a/b?z=1&q=1"
        );
        let r = parse_response(b"HTTP/1.1 201 Created\r\nX-A: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.body().as_ref(), b"abcde");
        assert_eq!(r.headers()["x-a"], "b");
        let r = parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhixx").unwrap();
        assert_eq!(r.body().as_ref(), b"hi");
        assert!(parse_response(b"garbage").is_none());
    }
}
