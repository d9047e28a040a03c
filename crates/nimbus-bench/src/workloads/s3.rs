//! S3 workloads: PutObject and GetObject at 1 KiB and 1 MiB, path-style requests.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use super::{auth_headers, call, spec, State};
use crate::load::{Check, Spec};

const BUCKET: &str = "bench-bucket";
/// Objects per size that GetObject reads.
const OBJECTS: u64 = 100;

fn size_name(size: usize) -> &'static str {
    if size >= 1 << 20 {
        "1m"
    } else {
        "1k"
    }
}

/// The content of object `i`: one repeated letter, so a reader can check every byte.
fn letter(i: u64) -> u8 {
    b'a' + (i % 26) as u8
}

fn headers() -> Vec<(String, String)> {
    let mut h = auth_headers("s3");
    h.push(("content-type".into(), "application/octet-stream".into()));
    h
}

/// The bucket, with `OBJECTS` objects of each size under `get/`.
pub async fn setup(addr: &str) -> Result<(), String> {
    call(addr, Method::PUT, &format!("/{BUCKET}"), auth_headers("s3"), serde_json::Value::Null).await?;
    for size in [1024usize, 1 << 20] {
        for i in 0..OBJECTS {
            let body = Bytes::from(vec![letter(i); size]);
            let path = format!("/{BUCKET}/get/{}/{i}", size_name(size));
            let (status, resp) = crate::load::once(addr, Method::PUT, &path, &headers(), body).await?;
            if status >= 300 {
                return Err(format!("PutObject {path} answered {status}: {}", crate::load::snippet(&resp)));
            }
        }
    }
    Ok(())
}

/// PutObject of `size` bytes, over 1,000 keys (overwrites keep the store's size bounded).
pub fn put(_: &State, size: usize) -> Option<Arc<Spec>> {
    let body = Bytes::from(vec![b'p'; size]);
    let name = size_name(size);
    let check: Check = Arc::new(|_, _, h, _| h.get("etag").is_some_and(|v| v.len() > 2));
    spec(Method::PUT, move |n| format!("/{BUCKET}/put/{name}/{}", n % 1000), headers(), move |_| body.clone(), Some(check))
}

/// GetObject of one of the `OBJECTS` objects of `size` bytes; every byte is checked.
pub fn get(_: &State, size: usize) -> Option<Arc<Spec>> {
    let name = size_name(size);
    let check: Check = Arc::new(move |n, _, _, body| {
        let want = letter(n % OBJECTS);
        body.len() == size && body.iter().all(|&b| b == want)
    });
    spec(Method::GET, move |n| format!("/{BUCKET}/get/{name}/{}", n % OBJECTS), auth_headers("s3"), |_| Bytes::new(), Some(check))
}
