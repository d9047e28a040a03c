//! DynamoDB attribute values, exact numbers, and the expression engine
//! (ConditionExpression / FilterExpression / UpdateExpression /
//! ProjectionExpression / KeyConditionExpression) used by `nimbus-dynamodb`.
//!
//! Every error is an [`ExprError`], which the service renders as a
//! `ValidationException` carrying the message verbatim.

mod expr;
mod legacy;
mod number;
mod update;
mod value;

pub use expr::{
    is_reserved_word, Condition, MAX_EXPRESSION_SIZE, ExprContext, KeyCondition, Path, PathElem, Projection,
    RangeCondition,
};
pub use legacy::{legacy_condition, legacy_key_condition, legacy_projection, legacy_update, LegacyKind};
pub use number::Number;
pub use update::Update;
pub use value::{item_from_json, item_size, item_to_json, sort_key_bytes, AttrValue, Item};

/// An expression or value validation error; rendered as `ValidationException`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

impl ExprError {
    pub fn new(message: impl Into<String>) -> ExprError {
        ExprError { message: message.into() }
    }
}
