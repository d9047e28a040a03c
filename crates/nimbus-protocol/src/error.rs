//! AWS error bodies, one shape per protocol.
//!
//! awsJson: `{"__type": "...#Code", "message": "..."}`; restJson: `x-amzn-ErrorType`
//! header plus a JSON body; awsQuery: `<ErrorResponse><Error>...</Error></ErrorResponse>`.
//! Every response carries the request id.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use nimbus_model::schema::Service;
use nimbus_types::AwsError;

use crate::xml::escape;
use crate::Wire;

/// The error for an operation name the service's model does not have.
pub fn unknown_operation(wire: Wire, service: &str, op: &str) -> AwsError {
    match wire {
        Wire::Query => AwsError::new(
            400,
            "InvalidAction",
            format!("The action {op} is not valid for this web service."),
        ),
        Wire::RestJson => AwsError::new(
            404,
            "UnknownOperationException",
            format!("No {service} operation matches this request ({op})."),
        ),
        Wire::Json => AwsError::new(
            400,
            "UnknownOperationException",
            format!("Unknown operation {op} for service {service}."),
        ),
    }
}

/// The error for an operation AWS has but Nimbus does not implement yet (501, so that
/// clients do not retry it).
pub fn not_implemented(wire: Wire, service: &str, op: &str) -> AwsError {
    let message = format!("The operation {op} of service {service} is not implemented by Nimbus yet.");
    match wire {
        Wire::Json | Wire::RestJson => AwsError::new(501, "UnknownOperationException", message),
        Wire::Query => AwsError::new(501, "NotImplemented", message),
    }
}

/// The `__type` of an awsJson error: DynamoDB and coral-era services qualify it with a
/// namespace, which the SDKs strip at `#`.
fn json_type(service: Option<&Service>, code: &str) -> String {
    match code {
        "ValidationException" => format!("com.amazon.coral.validate#{code}"),
        "SerializationException" | "UnknownOperationException" | "InternalFailure"
        | "MissingAuthenticationTokenException" | "UnrecognizedClientException"
        | "InvalidSignatureException" | "IncompleteSignatureException" => {
            format!("com.amazon.coral.service#{code}")
        }
        _ => match service {
            Some(s) if s.endpoint_prefix == "dynamodb" => {
                format!("com.amazonaws.dynamodb.v20120810#{code}")
            }
            _ => code.to_string(),
        },
    }
}

fn merge_fields(body: &mut serde_json::Value, err: &AwsError) {
    if let (Some(fields), serde_json::Value::Object(map)) = (&err.fields, body) {
        for (k, v) in fields.iter() {
            map.insert(k.clone(), v.clone());
        }
    }
}

/// Renders `err` for a caller that spoke `wire`.
pub fn render(
    wire: Wire,
    service: Option<&Service>,
    err: &AwsError,
    request_id: &str,
) -> Response<Bytes> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut builder = Response::builder().status(status);
    let body = match wire {
        Wire::Json => {
            let content_type = match service.and_then(|s| s.json_version) {
                Some("1.1") => "application/x-amz-json-1.1",
                _ => "application/x-amz-json-1.0",
            };
            builder = builder.header("content-type", content_type);
            if service.is_some_and(|s| s.aws_query_compatible) {
                let fault = if err.sender_fault { "Sender" } else { "Receiver" };
                builder = builder.header("x-amzn-query-error", format!("{};{fault}", err.code));
            }
            let mut body = serde_json::json!({
                "__type": json_type(service, &err.code),
                "message": err.message,
            });
            merge_fields(&mut body, err);
            Bytes::from(body.to_string())
        }
        Wire::RestJson => {
            builder = builder
                .header("content-type", "application/json")
                .header("x-amzn-ErrorType", err.code.as_ref());
            let mut body = if service.is_some_and(|s| s.endpoint_prefix == "lambda") {
                // Lambda's errors carry Type and Message.
                let kind = if err.sender_fault { "User" } else { "Service" };
                serde_json::json!({"Type": kind, "Message": err.message, "message": err.message})
            } else {
                serde_json::json!({"message": err.message})
            };
            merge_fields(&mut body, err);
            Bytes::from(body.to_string())
        }
        Wire::Query => {
            builder = builder.header("content-type", "text/xml");
            let ns = service
                .and_then(|s| s.xml_namespace)
                .unwrap_or("https://sts.amazonaws.com/doc/2011-06-15/");
            let kind = if err.sender_fault { "Sender" } else { "Receiver" };
            Bytes::from(format!(
                "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                escape(&err.code),
                escape(&err.message)
            ))
        }
    };
    let mut response = builder.body(body).unwrap_or_default();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}
