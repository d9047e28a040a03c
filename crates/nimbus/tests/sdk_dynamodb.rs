//! aws-sdk-rust against the real binary: DynamoDB tables, items, queries, conditions and
//! transactions.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValue, ScalarAttributeType,
    TransactWriteItem, Update,
};

mod common;

use common::Server;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::test]
async fn dynamodb_round_trip() {
    let server = Server::start();
    let c = server.ddb();
    c.create_table()
        .table_name("Users")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(KeySchemaElement::builder().attribute_name("UserId").key_type(KeyType::Hash).build().expect("ks"))
        .key_schema(KeySchemaElement::builder().attribute_name("Seq").key_type(KeyType::Range).build().expect("ks"))
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("UserId").attribute_type(ScalarAttributeType::S).build().expect("ad"),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("Seq").attribute_type(ScalarAttributeType::N).build().expect("ad"),
        )
        .send()
        .await
        .expect("create table");

    for i in 0..5 {
        c.put_item()
            .table_name("Users")
            .item("UserId", s("u1"))
            .item("Seq", n(&i.to_string()))
            .item("Age", n(&(20 + i).to_string()))
            .send()
            .await
            .expect("put");
    }

    let got = c.get_item().table_name("Users").key("UserId", s("u1")).key("Seq", n("2")).send().await.expect("get");
    assert_eq!(got.item().and_then(|i| i.get("Age")), Some(&n("22")));

    let upd = c
        .update_item()
        .table_name("Users")
        .key("UserId", s("u1"))
        .key("Seq", n("2"))
        .update_expression("SET Age = Age + :one")
        .expression_attribute_values(":one", n("1.0"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("update");
    assert_eq!(upd.attributes().and_then(|a| a.get("Age")), Some(&n("23")));

    let q = c
        .query()
        .table_name("Users")
        .key_condition_expression("UserId = :u AND Seq BETWEEN :a AND :b")
        .expression_attribute_values(":u", s("u1"))
        .expression_attribute_values(":a", n("1"))
        .expression_attribute_values(":b", n("3"))
        .scan_index_forward(false)
        .send()
        .await
        .expect("query");
    let seqs: Vec<&AttributeValue> = q.items().iter().filter_map(|i| i.get("Seq")).collect();
    assert_eq!(seqs, vec![&n("3"), &n("2"), &n("1")]);
    assert_eq!(q.count(), 3);

    // A conditional failure.
    let e = c
        .put_item()
        .table_name("Users")
        .item("UserId", s("u1"))
        .item("Seq", n("0"))
        .condition_expression("attribute_not_exists(UserId)")
        .send()
        .await
        .expect_err("condition must fail");
    let se = e.into_service_error();
    assert!(se.is_conditional_check_failed_exception(), "{se:?}");
    assert_eq!(se.message(), Some("The conditional request failed"));

    // A transaction cancellation: the second action's condition fails, nothing is applied.
    let e = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(Put::builder().table_name("Users").item("UserId", s("u2")).item("Seq", n("0")).build().expect("put"))
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("Users")
                        .key("UserId", s("u1"))
                        .key("Seq", n("1"))
                        .update_expression("SET Age = :z")
                        .condition_expression("Age > :z")
                        .expression_attribute_values(":z", n("100"))
                        .build()
                        .expect("update"),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("transaction must be cancelled");
    let se = e.into_service_error();
    match &se {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
            let codes: Vec<Option<&str>> = t.cancellation_reasons().iter().map(|r| r.code()).collect();
            assert_eq!(codes, vec![Some("None"), Some("ConditionalCheckFailed")]);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let none = c.get_item().table_name("Users").key("UserId", s("u2")).key("Seq", n("0")).send().await.expect("get");
    assert!(none.item().is_none());

    // Delete, then the item is gone.
    let del = c
        .delete_item()
        .table_name("Users")
        .key("UserId", s("u1"))
        .key("Seq", n("4"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("delete");
    assert_eq!(del.attributes().and_then(|a| a.get("Age")), Some(&n("24")));
    let gone = c.get_item().table_name("Users").key("UserId", s("u1")).key("Seq", n("4")).send().await.expect("get");
    assert!(gone.item().is_none());

    // An unknown table.
    let e = c.get_item().table_name("Nope").key("UserId", s("u1")).send().await.expect_err("unknown table");
    assert_eq!(e.into_service_error().code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn point_in_time_restore_brings_back_deleted_items() {
    use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
    let server = Server::start();
    let c = server.ddb();
    c.create_table()
        .table_name("Ledger")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(KeySchemaElement::builder().attribute_name("Id").key_type(KeyType::Hash).build().expect("ks"))
        .attribute_definitions(AttributeDefinition::builder().attribute_name("Id").attribute_type(ScalarAttributeType::S).build().expect("ad"))
        .send()
        .await
        .expect("create table");
    c.update_continuous_backups()
        .table_name("Ledger")
        .point_in_time_recovery_specification(PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().expect("spec"))
        .send()
        .await
        .expect("enable pitr");
    for i in 0..5 {
        c.put_item().table_name("Ledger").item("Id", s(&format!("e{i}"))).send().await.expect("put");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let good = aws_sdk_dynamodb::primitives::DateTime::from(std::time::SystemTime::now());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for i in 0..5 {
        c.delete_item().table_name("Ledger").key("Id", s(&format!("e{i}"))).send().await.expect("delete");
    }
    let r = c
        .restore_table_to_point_in_time()
        .source_table_name("Ledger")
        .target_table_name("LedgerBack")
        .restore_date_time(good)
        .send()
        .await
        .expect("restore");
    let summary = r.table_description().and_then(|t| t.restore_summary()).expect("restore summary");
    assert!(summary.source_table_arn().is_some_and(|a| a.ends_with(":table/Ledger")));
    let back = c.scan().table_name("LedgerBack").send().await.expect("scan");
    assert_eq!(back.count(), 5);
    assert_eq!(c.scan().table_name("Ledger").send().await.expect("scan").count(), 0);

    // A time before recovery was enabled is out of the window.
    let e = c
        .restore_table_to_point_in_time()
        .source_table_name("Ledger")
        .target_table_name("TooEarly")
        .restore_date_time(aws_sdk_dynamodb::primitives::DateTime::from_secs(1_000_000_000))
        .send()
        .await
        .expect_err("out of window");
    assert_eq!(e.into_service_error().code(), Some("InvalidRestoreTimeException"));
}
