//! S3 (restXml) is not served yet: every S3 request answers S3's own `NotImplemented`.

use bytes::Bytes;
use http::request::Parts;
use http::Response;

pub fn not_implemented(parts: &Parts, request_id: &str) -> Response<Bytes> {
    error(parts, request_id, 501, "NotImplemented", "S3 is not implemented by Nimbus yet.")
}

/// An error in S3's XML shape.
pub fn error(parts: &Parts, request_id: &str, status: u16, code: &str, message: &str) -> Response<Bytes> {
    let resource = escape(parts.uri.path());
    let message = escape(message);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", request_id)
        .header("x-amz-id-2", request_id)
        .body(Bytes::from(body))
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
