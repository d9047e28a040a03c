//! AWS service models, generated from botocore's `service-2.json` files.
//!
//! [`schema`] holds the runtime types; [`services`] the generated models (one module per
//! service, written by `nimbus-codegen`, checked in); [`types`] typed structs for the
//! implemented services; [`validate`] checks a request against a model's constraints
//! with AWS's messages.

mod canonical;
pub mod schema;
pub mod services;
pub mod types;
pub mod validate;

pub use canonical::{Blob, Timestamp};
