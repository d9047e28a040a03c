//! aws-sdk-rust against the real binary: a DynamoDB table exported to Nimbus' S3 and
//! imported back into a new table, and the failure and not-found answers.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ExportFormat, ExportStatus, ImportStatus, InputCompressionType, InputFormat,
    KeySchemaElement, KeyType, PointInTimeRecoverySpecification, S3BucketSource, ScalarAttributeType, TableCreationParameters,
};

mod common;

use common::Server;

fn key_schema() -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name("Id").key_type(KeyType::Hash).build().expect("ks")
}

fn id_definition() -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name("Id").attribute_type(ScalarAttributeType::S).build().expect("ad")
}

#[tokio::test]
async fn export_then_import_round_trip() {
    let server = Server::start();
    server.create_bucket("ledger-exports");
    let c = server.ddb();
    c.create_table()
        .table_name("Ledger")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_schema())
        .attribute_definitions(id_definition())
        .send()
        .await
        .expect("create table");
    let arn = c.describe_table().table_name("Ledger").send().await.expect("describe").table().and_then(|t| t.table_arn()).expect("arn").to_string();

    // Without point-in-time recovery there is nothing to export.
    let e = c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("ledger-exports").send().await.expect_err("no pitr");
    assert_eq!(e.into_service_error().code(), Some("PointInTimeRecoveryUnavailableException"));

    c.update_continuous_backups()
        .table_name("Ledger")
        .point_in_time_recovery_specification(PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().expect("spec"))
        .send()
        .await
        .expect("enable pitr");
    for i in 0..30 {
        c.put_item()
            .table_name("Ledger")
            .item("Id", AttributeValue::S(format!("e{i:02}")))
            .item("Amount", AttributeValue::N(format!("{i}.5")))
            .item("Tags", AttributeValue::Ss(vec!["a".into(), format!("t{i}")]))
            .send()
            .await
            .expect("put");
    }
    let d = c
        .export_table_to_point_in_time()
        .table_arn(&arn)
        .s3_bucket("ledger-exports")
        .s3_prefix("daily")
        .export_format(ExportFormat::DynamodbJson)
        .send()
        .await
        .expect("export")
        .export_description
        .expect("description");
    assert_eq!(d.export_status(), Some(&ExportStatus::Completed));
    assert_eq!(d.item_count(), Some(30));
    assert!(d.end_time().is_some() && d.start_time().is_some() && d.export_time().is_some());
    let export_arn = d.export_arn().expect("export arn").to_string();
    let export_id = export_arn.rsplit('/').next().expect("id").to_string();
    assert_eq!(d.export_manifest(), Some(format!("daily/AWSDynamoDB/{export_id}/manifest-summary.json").as_str()));
    let again = c.describe_export().export_arn(&export_arn).send().await.expect("describe export");
    assert_eq!(again.export_description().and_then(|d| d.item_count()), Some(30));
    let listed = c.list_exports().table_arn(&arn).send().await.expect("list exports");
    assert_eq!(listed.export_summaries().iter().filter_map(|s| s.export_arn()).collect::<Vec<_>>(), vec![export_arn.as_str()]);

    let imp = c
        .import_table()
        .s3_bucket_source(
            S3BucketSource::builder()
                .s3_bucket("ledger-exports")
                .s3_key_prefix(format!("daily/AWSDynamoDB/{export_id}/data/"))
                .build()
                .expect("source"),
        )
        .input_format(InputFormat::DynamodbJson)
        .input_compression_type(InputCompressionType::Gzip)
        .table_creation_parameters(
            TableCreationParameters::builder()
                .table_name("LedgerCopy")
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key_schema())
                .attribute_definitions(id_definition())
                .build()
                .expect("params"),
        )
        .send()
        .await
        .expect("import")
        .import_table_description
        .expect("description");
    assert_eq!(imp.import_status(), Some(&ImportStatus::Completed));
    assert_eq!((imp.processed_item_count(), imp.imported_item_count(), imp.error_count()), (30, 30, 0));
    let copy = c.get_item().table_name("LedgerCopy").key("Id", AttributeValue::S("e07".into())).send().await.expect("get");
    let item = copy.item().expect("item");
    assert_eq!(item.get("Amount"), Some(&AttributeValue::N("7.5".into())));
    let mut tags = item.get("Tags").and_then(|t| t.as_ss().ok()).cloned().expect("tags");
    tags.sort();
    assert_eq!(tags, vec!["a".to_string(), "t7".to_string()]);
    assert_eq!(c.scan().table_name("LedgerCopy").send().await.expect("scan").count(), 30);
    let imports = c.list_imports().send().await.expect("list imports");
    assert_eq!(imports.import_summary_list().len(), 1);

    // A missing bucket ends the export FAILED; unknown ARNs are not found.
    let failed = c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("missing-bucket").send().await.expect("export");
    let failed = failed.export_description.expect("description");
    assert_eq!(failed.export_status(), Some(&ExportStatus::Failed));
    assert_eq!(failed.failure_code(), Some("NoSuchBucket"));
    let e = c.describe_export().export_arn(format!("{arn}/export/01234567890123-abcdef01")).send().await.expect_err("no export");
    assert_eq!(e.into_service_error().code(), Some("ExportNotFoundException"));
    let e = c.describe_import().import_arn(format!("{arn}/import/01234567890123-abcdef01")).send().await.expect_err("no import");
    assert_eq!(e.into_service_error().code(), Some("ImportNotFoundException"));
}
