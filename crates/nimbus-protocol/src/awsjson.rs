//! awsJson 1.0 / 1.1: the operation is named by `X-Amz-Target: <prefix>.<Operation>`,
//! the input is the JSON body, the output a JSON body.

use bytes::Bytes;
use http::Response;
use nimbus_model::schema::{Operation, Service};
use nimbus_types::AwsError;
use serde_json::Value;

use crate::{check_input, wire_json, Input, Output, Wire};

/// Splits `X-Amz-Target` into (prefix, operation).
pub fn split_target(target: &str) -> Option<(&str, &str)> {
    let (prefix, op) = target.rsplit_once('.')?;
    (!prefix.is_empty() && !op.is_empty()).then_some((prefix, op))
}

/// Decodes and validates the body of an awsJson request.
pub fn decode(service: &Service, op: &Operation, body: &[u8]) -> Result<Input, AwsError> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            AwsError::new(400, "SerializationException", format!("Could not parse the request body as JSON: {e}"))
        })?
    };
    if !value.is_object() {
        return Err(AwsError::new(
            400,
            "SerializationException",
            "Start of structure or map found where not expected.".to_string(),
        ));
    }
    let Some(shape) = op.input else {
        return Ok(Input { value, payload: None });
    };
    let value = wire_json::from_wire(service, shape, value);
    check_input(service, Wire::Json, shape, &value)?;
    Ok(Input { value, payload: None })
}

/// Renders a successful awsJson response.
pub fn encode(service: &Service, op: &Operation, output: Output) -> Response<Bytes> {
    let value = match op.output {
        Some(shape) => wire_json::to_wire(service, shape, output.value),
        None => output.value,
    };
    let body = match value {
        Value::Null => Bytes::from_static(b"{}"),
        v => Bytes::from(v.to_string()),
    };
    let content_type = match service.json_version {
        Some("1.1") => "application/x-amz-json-1.1",
        _ => "application/x-amz-json-1.0",
    };
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(body)
        .unwrap_or_default()
}
