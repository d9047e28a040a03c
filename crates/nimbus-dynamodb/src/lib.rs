//! DynamoDB (awsJson1.0, `DynamoDB_20120810.*`): tables, items, Query/Scan, batches and
//! transactions, stored durably in `nimbus-store`.
//!
//! Layout (see [`keys`]):
//! - `dynamodb.tables`: `<account>\0<region>\0<name>` → the table's metadata (JSON).
//! - `dynamodb.stats`: `<table id>` → item count and size (16 bytes), written in the same
//!   batch as every item write so they never drift.
//! - `dynamodb.items`: `<table id><escaped hash key><0x00 0x01><range key bytes>` → the
//!   item as DynamoDB JSON, so a Query is one range scan and a Scan one prefix scan.
//!
//! Every operation runs on a blocking thread. Writes take the table's lock, read the old
//! item, evaluate conditions and commit one `WriteBatch`: read-modify-write is serialised
//! per table, so concurrent updates never lose each other's changes. Transactions and
//! batches lock every table they touch in table-id order and commit in one batch.

mod capacity;
mod indexes;
mod items;
mod keys;
mod query;
mod streams;
mod tables;
mod ttl;
mod txn;

pub use streams::DynamoDbStreams;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Instant;

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::dynamodb::{Op, SERVICE};
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_store::Store;
use nimbus_types::{AwsError, RequestContext};
use serde_json::Value;

pub(crate) use tables::Table;

/// (account, region, token) → (first seen, request fingerprint).
pub(crate) type Tokens = HashMap<(String, String, String), (Instant, String)>;

pub(crate) const KS_TABLES: &str = "dynamodb.tables";
pub(crate) const KS_STATS: &str = "dynamodb.stats";
pub(crate) const KS_ITEMS: &str = "dynamodb.items";
pub(crate) const KS_INDEX: &str = "dynamodb.index";
pub(crate) const KS_STREAMS: &str = "dynamodb.streams";

/// The DynamoDB service.
#[derive(Clone)]
pub struct DynamoDb {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    /// Tables loaded so far, by (account, region, name).
    pub(crate) tables: RwLock<HashMap<(String, String, String), Arc<Table>>>,
    /// Serialises control-plane changes (create, delete, update, tags).
    pub(crate) ddl: Mutex<()>,
    /// TransactWriteItems ClientRequestTokens seen in the last 10 minutes.
    pub(crate) tokens: Mutex<Tokens>,
    /// A weak handle on itself, for background tasks (backfills, the TTL sweeper).
    pub(crate) me: Weak<Inner>,
}

impl DynamoDb {
    /// The service, with its background sweeper (TTL, stream retention, backfills).
    pub fn new(store: Store) -> Self {
        let d = Self::without_sweeper(store);
        ttl::start(Arc::downgrade(&d.inner));
        d
    }

    /// The service without background threads (tests).
    pub fn without_sweeper(store: Store) -> Self {
        DynamoDb {
            inner: Arc::new_cyclic(|me| Inner {
                store,
                tables: RwLock::new(HashMap::new()),
                ddl: Mutex::new(()),
                tokens: Mutex::new(HashMap::new()),
                me: me.clone(),
            }),
        }
    }

    /// The DynamoDB Streams handler reading this service's tables.
    pub fn streams(&self) -> DynamoDbStreams {
        DynamoDbStreams { inner: self.inner.clone() }
    }
}

pub(crate) fn store_err(e: nimbus_store::Error) -> AwsError {
    AwsError::new(500, "InternalServerError", format!("storage error: {e}"))
}

pub(crate) fn expr_err(e: nimbus_dynamodb_expr::ExprError) -> AwsError {
    AwsError::validation(e.message)
}

pub(crate) fn not_found() -> AwsError {
    AwsError::new(400, "ResourceNotFoundException", "Requested resource not found")
}

pub(crate) fn out(value: Value) -> Result<Output, AwsError> {
    Ok(Output { value, payload: None })
}

const IMPLEMENTED: &[Op] = &[
    Op::CreateTable,
    Op::DescribeTable,
    Op::ListTables,
    Op::DeleteTable,
    Op::UpdateTable,
    Op::TagResource,
    Op::UntagResource,
    Op::ListTagsOfResource,
    Op::DescribeLimits,
    Op::DescribeEndpoints,
    Op::PutItem,
    Op::GetItem,
    Op::UpdateItem,
    Op::DeleteItem,
    Op::Query,
    Op::Scan,
    Op::BatchWriteItem,
    Op::BatchGetItem,
    Op::TransactWriteItems,
    Op::TransactGetItems,
    Op::UpdateTimeToLive,
    Op::DescribeTimeToLive,
];

impl Inner {
    fn dispatch(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        let v = &input.value;
        match op {
            Op::CreateTable => self.create_table(ctx, input.parse()?),
            Op::DescribeTable => self.describe_table(ctx, input.parse()?),
            Op::ListTables => self.list_tables(ctx, input.parse()?),
            Op::DeleteTable => self.delete_table(ctx, input.parse()?),
            Op::UpdateTable => self.update_table(ctx, input.parse()?),
            Op::TagResource => self.tag_resource(ctx, input.parse()?),
            Op::UntagResource => self.untag_resource(ctx, input.parse()?),
            Op::ListTagsOfResource => self.list_tags(ctx, input.parse()?),
            Op::DescribeLimits => out(serde_json::json!({
                "AccountMaxReadCapacityUnits": 80000,
                "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000,
                "TableMaxWriteCapacityUnits": 40000,
            })),
            Op::DescribeEndpoints => out(serde_json::json!({
                "Endpoints": [{"Address": format!("dynamodb.{}.amazonaws.com", ctx.region), "CachePeriodInMinutes": 1440}]
            })),
            Op::PutItem => self.put_item(ctx, v),
            Op::GetItem => self.get_item(ctx, v),
            Op::UpdateItem => self.update_item(ctx, v),
            Op::DeleteItem => self.delete_item(ctx, v),
            Op::Query => self.query(ctx, v),
            Op::Scan => self.scan(ctx, v),
            Op::BatchWriteItem => self.batch_write(ctx, v),
            Op::BatchGetItem => self.batch_get(ctx, v),
            Op::TransactWriteItems => self.transact_write(ctx, v),
            Op::TransactGetItems => self.transact_get(ctx, v),
            Op::UpdateTimeToLive => self.update_ttl(ctx, v),
            Op::DescribeTimeToLive => self.describe_ttl(ctx, v),
            _ => Err(AwsError::new(501, "UnknownOperationException", format!("{} is not implemented", op.name()))),
        }
    }
}

impl Handler for DynamoDb {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        Op::from_name(op).is_some_and(|o| IMPLEMENTED.contains(&o))
    }

    fn call<'a>(&'a self, ctx: &'a RequestContext, op: &'static Operation, input: Input) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            let Some(op) = Op::from_name(op.name) else {
                return Err(AwsError::new(501, "UnknownOperationException", format!("{} is not implemented", op.name)));
            };
            let inner = self.inner.clone();
            let ctx = ctx.clone();
            match tokio::task::spawn_blocking(move || inner.dispatch(&ctx, op, input)).await {
                Ok(r) => r,
                Err(e) => Err(AwsError::internal(format!("the operation failed: {e}"))),
            }
        })
    }
}

/// A string member of a JSON object.
pub(crate) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Rejects the legacy (pre-expression) parameters, which Nimbus does not implement yet.
pub(crate) fn reject_legacy(v: &Value, names: &[(&str, &str)]) -> Result<(), AwsError> {
    for (legacy, modern) in names {
        if v.get(*legacy).is_some_and(|x| !x.is_null()) {
            return Err(AwsError::validation(format!(
                "The legacy parameter {legacy} is not supported by Nimbus; use {modern} instead"
            )));
        }
    }
    Ok(())
}
