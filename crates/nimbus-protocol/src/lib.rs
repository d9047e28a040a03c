//! The AWS wire protocols, driven by the generated models in `nimbus-model`.
//!
//! Every protocol decodes a request into the same *canonical value*: a JSON object keyed
//! by member names (not wire names), blobs as base64 strings, timestamps as epoch
//! seconds. Services see only that value (usually deserialized into a generated struct)
//! and answer with one; the codec of the caller's protocol renders it back, and renders
//! an [`AwsError`] in that protocol's error shape. Blob and string *payload* members
//! (a whole HTTP body, such as Lambda's `Invoke` payload) travel beside the value as
//! raw bytes, so large bodies are never base64-encoded on the way through.

pub mod awsjson;
pub mod error;
mod handler;
pub mod query;
pub mod restjson;
mod wire_json;
mod xml;

pub use error::{not_implemented, unknown_operation};
pub use handler::{BoxFuture, Handler, Input, Output};

use nimbus_model::schema::{Protocol, Service, ShapeId};
use nimbus_model::validate::{validate, Invalid};
use nimbus_types::AwsError;

/// The protocol a request arrived in; its response and errors leave in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// awsJson1.0 / 1.1 (`X-Amz-Target`).
    Json,
    /// restJson1 (method + path).
    RestJson,
    /// awsQuery (`Action=`, XML out).
    Query,
}

impl Wire {
    /// The model protocol this wire form corresponds to.
    pub fn protocol(self) -> Protocol {
        match self {
            Wire::Json => Protocol::Json,
            Wire::RestJson => Protocol::RestJson,
            Wire::Query => Protocol::Query,
        }
    }
}

/// The error code a service uses for failed constraint checks in `wire`.
fn validation_code(wire: Wire) -> &'static str {
    match wire {
        // awsQuery services (STS, IAM, SNS) call it ValidationError.
        Wire::Query => "ValidationError",
        _ => "ValidationException",
    }
}

/// Checks `value` against the input shape's constraints, answering AWS's messages.
pub fn check_input(
    service: &Service,
    wire: Wire,
    shape: ShapeId,
    value: &serde_json::Value,
) -> Result<(), AwsError> {
    match validate(service, shape, value) {
        Ok(()) => Ok(()),
        Err(invalid @ Invalid::Serialization(_)) => {
            let code = match wire {
                Wire::Query => "ValidationError",
                _ => "SerializationException",
            };
            Err(AwsError::new(400, code, invalid.message()))
        }
        Err(invalid) => Err(AwsError::new(400, validation_code(wire), invalid.message())),
    }
}
