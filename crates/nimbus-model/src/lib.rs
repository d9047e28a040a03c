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

#[cfg(test)]
mod tests {
    use crate::schema::Protocol;
    use crate::services::{self, cloudwatch, dynamodb, iam, lambda, sqs};

    #[test]
    fn generated_enums_and_lookups() {
        assert_eq!(services::ALL.len(), 17);
        assert_eq!(
            dynamodb::Op::from_name("BatchGetItem"),
            Some(dynamodb::Op::BatchGetItem)
        );
        assert_eq!(dynamodb::Op::PutItem.name(), "PutItem");
        assert_eq!(dynamodb::Op::ALL.len(), dynamodb::SERVICE.operations.len());
        assert_eq!(dynamodb::Op::from_name("Nope"), None);
        let e = dynamodb::Error::ConditionalCheckFailedException;
        assert_eq!(
            (e.code(), e.http_status(), e.sender_fault()),
            ("ConditionalCheckFailedException", 400, true)
        );
        let e = dynamodb::Error::InternalServerError;
        assert_eq!((e.http_status(), e.sender_fault()), (500, false));
        let e = iam::Error::from_code("NoSuchEntity").unwrap();
        assert_eq!(
            (e, e.http_status()),
            (iam::Error::NoSuchEntityException, 404)
        );
        assert_eq!(
            lambda::Op::Invoke.model().request_uri,
            "/2015-03-31/functions/{FunctionName}/invocations"
        );
        assert!(sqs::SERVICE.aws_query_compatible);
        assert_eq!(
            cloudwatch::SERVICE.protocols,
            &[Protocol::RpcV2Cbor, Protocol::Json, Protocol::Query]
        );
        assert_eq!(
            services::by_endpoint_prefix("monitoring")
                .unwrap()
                .service_id,
            "CloudWatch"
        );
        assert_eq!(
            services::by_endpoint_prefix("apigateway")
                .unwrap()
                .service_id,
            "API Gateway"
        );
        assert_eq!(services::by_signing_name("apigateway").count(), 2);
        let s = &dynamodb::SERVICE;
        assert!(s.shapes.windows(2).all(|w| w[0].name < w[1].name));
        assert!(s.operations.windows(2).all(|w| w[0].name < w[1].name));
    }
}
