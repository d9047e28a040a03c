//! The interface between the edge and a service crate.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use nimbus_model::schema::{Operation, Service};
use nimbus_types::{AwsError, RequestContext};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A boxed, sendable future (dyn-compatible async in traits).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A decoded, validated request.
#[derive(Debug, Default)]
pub struct Input {
    /// The canonical value of the operation's input shape.
    pub value: Value,
    /// The raw HTTP body when the operation binds a blob or string payload member.
    pub payload: Option<Bytes>,
}

impl Input {
    /// Deserializes the canonical value into a generated input struct.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, AwsError> {
        T::deserialize(&self.value)
            .map_err(|e| AwsError::new(400, "SerializationException", e.to_string()))
    }
}

/// What an operation answers.
#[derive(Debug, Default)]
pub struct Output {
    /// The canonical value of the operation's output shape.
    pub value: Value,
    /// The raw HTTP body for a blob or string payload member.
    pub payload: Option<Bytes>,
}

impl Output {
    /// An output from a generated output struct.
    pub fn from<T: Serialize>(output: &T) -> Result<Self, AwsError> {
        let value = serde_json::to_value(output)
            .map_err(|e| AwsError::internal(format!("could not encode the response: {e}")))?;
        Ok(Output { value, payload: None })
    }
}

/// One service's operations. The edge decodes and validates the request with the
/// service's model, then calls [`Handler::call`] for the operations it implements;
/// every other operation of the model answers the protocol's "not implemented" error.
pub trait Handler: Send + Sync + 'static {
    /// The generated model this handler serves.
    fn model(&self) -> &'static Service;

    /// Whether the operation named `op` is implemented.
    fn implements(&self, op: &str) -> bool;

    /// Runs one operation.
    fn call<'a>(
        &'a self,
        ctx: &'a RequestContext,
        op: &'static Operation,
        input: Input,
    ) -> BoxFuture<'a, Result<Output, AwsError>>;
}
