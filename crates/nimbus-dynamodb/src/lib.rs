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
//! Also here: on-demand backups and restores (`backups`), point-in-time recovery with
//! a change history written in the same batch as each item write (`pitr`; unlike AWS,
//! whose `LatestRestorableDateTime` lags about five minutes, any time up to "now" can be
//! restored), and PartiQL statements planned onto the item API (`partiql`).
//! Exports to and imports from S3 (`export`, `import`) reach Nimbus' S3 through the
//! [`ObjectStore`] the binary connects with [`DynamoDb::set_object_store`].
//!
//! Every operation runs on a blocking thread. Writes take the table's lock, read the old
//! item, evaluate conditions and commit one `WriteBatch`: read-modify-write is serialised
//! per table, so concurrent updates never lose each other's changes. Transactions and
//! batches lock every table they touch in table-id order and commit in one batch.

mod backups;
mod capacity;
mod export;
mod import;
mod indexes;
mod items;
mod keys;
mod partiql;
mod pitr;
mod query;
mod s3io;
mod streams;
mod tables;
mod ttl;
mod txn;

pub use s3io::{ObjectStore, S3Failure};
pub use streams::{DynamoDbStreams, StreamInfo};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
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
pub(crate) const KS_BACKUPS: &str = "dynamodb.backups";
pub(crate) const KS_BACKUP_ITEMS: &str = "dynamodb.backup_items";
pub(crate) const KS_PITR_BASE: &str = "dynamodb.pitr_base";
pub(crate) const KS_PITR_LOG: &str = "dynamodb.pitr_log";

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
    /// Item keys held by TransactWriteItems in flight: other writers conflict on them.
    pub(crate) held: Mutex<std::collections::HashSet<Vec<u8>>>,
    /// A weak handle on itself, for background tasks (backfills, the TTL sweeper).
    pub(crate) me: Weak<Inner>,
    /// Where exports are written and imports read (set once by the binary).
    pub(crate) s3: OnceLock<Arc<dyn ObjectStore>>,
    /// Serialises exports' and imports' ClientToken checks with their new records.
    pub(crate) exports_lock: Mutex<()>,
    pub(crate) imports_lock: Mutex<()>,
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
                held: Mutex::new(std::collections::HashSet::new()),
                me: me.clone(),
                s3: OnceLock::new(),
                exports_lock: Mutex::new(()),
                imports_lock: Mutex::new(()),
            }),
        }
    }

    /// Connects the S3 that ExportTableToPointInTime writes to and ImportTable reads
    /// from (once; later calls are ignored). Until then both answer a ValidationException.
    pub fn set_object_store(&self, s3: Arc<dyn ObjectStore>) {
        let _ = self.inner.s3.set(s3);
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
    Op::CreateBackup,
    Op::DescribeBackup,
    Op::ListBackups,
    Op::DeleteBackup,
    Op::RestoreTableFromBackup,
    Op::UpdateContinuousBackups,
    Op::DescribeContinuousBackups,
    Op::RestoreTableToPointInTime,
    Op::ExecuteStatement,
    Op::BatchExecuteStatement,
    Op::ExecuteTransaction,
    Op::ExportTableToPointInTime,
    Op::DescribeExport,
    Op::ListExports,
    Op::ImportTable,
    Op::DescribeImport,
    Op::ListImports,
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
            Op::CreateBackup => self.create_backup(ctx, input.parse()?),
            Op::DescribeBackup => self.describe_backup(ctx, input.parse()?),
            Op::ListBackups => self.list_backups(ctx, input.parse()?),
            Op::DeleteBackup => self.delete_backup(ctx, input.parse()?),
            Op::RestoreTableFromBackup => self.restore_from_backup(ctx, input.parse()?),
            Op::UpdateContinuousBackups => self.update_continuous_backups(ctx, input.parse()?),
            Op::DescribeContinuousBackups => self.describe_continuous_backups(ctx, input.parse()?),
            Op::RestoreTableToPointInTime => self.restore_to_point_in_time(ctx, input.parse()?),
            Op::ExecuteStatement => self.execute_statement(ctx, v),
            Op::BatchExecuteStatement => self.batch_execute_statement(ctx, v),
            Op::ExecuteTransaction => self.execute_transaction(ctx, v),
            Op::ExportTableToPointInTime => self.export_table(ctx, input.parse()?),
            Op::DescribeExport => self.describe_export(ctx, v),
            Op::ListExports => self.list_exports(ctx, input.parse()?),
            Op::ImportTable => self.import_table(ctx, input.parse()?),
            Op::DescribeImport => self.describe_import(ctx, v),
            Op::ListImports => self.list_imports(ctx, input.parse()?),
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

/// DynamoDB refuses a request that mixes legacy and expression parameters. (`KeyConditions`
/// may be combined with the other expressions, just not with `KeyConditionExpression`.)
pub(crate) fn check_mixing(v: &Value, exprs: &[&str], legacy: &[&str]) -> Result<(), AwsError> {
    let has = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    let e: Vec<&str> = exprs.iter().copied().filter(|k| has(k)).collect();
    if e.is_empty() {
        return Ok(());
    }
    let key_expr = e.contains(&"KeyConditionExpression");
    let l: Vec<&str> = legacy.iter().copied().filter(|k| has(k)).filter(|k| *k != "KeyConditions" || key_expr).collect();
    if l.is_empty() {
        return Ok(());
    }
    Err(AwsError::validation(format!(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
        l.join(", "),
        e.join(", ")
    )))
}

/// Item keys a transaction holds until dropped.
pub(crate) struct Held<'a> {
    inner: &'a Inner,
    keys: Vec<Vec<u8>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut h = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            h.remove(k);
        }
    }
}

impl Inner {
    /// Takes every key for a transaction; on conflict returns, per key, whether another
    /// transaction holds it (and takes nothing).
    pub(crate) fn hold(&self, keys: &[Vec<u8>]) -> Result<Held<'_>, Vec<bool>> {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let busy: Vec<bool> = keys.iter().map(|k| h.contains(k)).collect();
        if busy.iter().any(|b| *b) {
            return Err(busy);
        }
        for k in keys {
            h.insert(k.clone());
        }
        Ok(Held { inner: self, keys: keys.to_vec() })
    }

    /// Whether an ongoing transaction holds the item.
    pub(crate) fn is_held(&self, key: &[u8]) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    /// A single-item write on an item an ongoing transaction holds is refused.
    pub(crate) fn check_not_held(&self, key: &[u8]) -> Result<(), AwsError> {
        if self.is_held(key) {
            return Err(AwsError::new(400, "TransactionConflictException", "Transaction is ongoing for the item"));
        }
        Ok(())
    }
}

/// ItemCollectionMetrics for a write with ReturnItemCollectionMetrics=SIZE on a table with
/// local secondary indexes (None otherwise).
pub(crate) fn item_collection_metrics(v: &Value, table: &Table, item: &nimbus_dynamodb_expr::Item) -> Option<Value> {
    if get_str(v, "ReturnItemCollectionMetrics") != Some("SIZE") {
        return None;
    }
    if !table.meta().indexes.iter().any(|i| i.local) {
        return None;
    }
    let hv = item.get(&table.hash.name)?;
    let mut key = nimbus_dynamodb_expr::Item::new();
    key.insert(table.hash.name.clone(), hv.clone());
    Some(serde_json::json!({
        "ItemCollectionKey": nimbus_dynamodb_expr::item_to_json(&key),
        "SizeEstimateRangeGB": [0.0, 1.0],
    }))
}
