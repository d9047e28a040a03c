//! Consumed capacity: writes cost 1 unit per KB (of the larger of the old and new item),
//! reads 1 unit per 4 KB, halved for eventually consistent reads.

use std::time::Instant;

use nimbus_types::AwsError;
use serde_json::{json, Value};

use crate::tables::Table;

/// Burst capacity: up to 300 seconds of unused throughput.
const BURST_SECS: f64 = 300.0;

/// Token buckets of a PROVISIONED table (read and write units).
#[derive(Debug)]
pub(crate) struct Buckets {
    read: f64,
    write: f64,
    at: Option<Instant>,
}

impl Buckets {
    pub fn new() -> Buckets {
        Buckets { read: 0.0, write: 0.0, at: None }
    }
}

fn throttled() -> AwsError {
    AwsError::new(
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    )
}

/// Refills the table's buckets and returns the guard (None when the table is on demand).
fn refill(table: &Table) -> Option<(std::sync::MutexGuard<'_, Buckets>, f64, f64)> {
    let (mode, r, w) = {
        let m = table.meta.read().unwrap_or_else(|p| p.into_inner());
        (m.billing_mode == "PROVISIONED", m.read_units as f64, m.write_units as f64)
    };
    if !mode {
        return None;
    }
    let mut b = table.bucket.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match b.at {
        // A new (or newly loaded) table starts with one second of capacity.
        None => {
            b.read = r;
            b.write = w;
        }
        Some(at) => {
            let dt = now.duration_since(at).as_secs_f64();
            b.read = (b.read + r * dt).min(r * BURST_SECS);
            b.write = (b.write + w * dt).min(w * BURST_SECS);
        }
    }
    b.at = Some(now);
    Some((b, r, w))
}

/// Refuses a request when the table's bucket is exhausted (PROVISIONED tables only).
pub(crate) fn admit(table: &Table, write: bool) -> Result<(), AwsError> {
    let Some((b, _, _)) = refill(table) else { return Ok(()) };
    let left = if write { b.write } else { b.read };
    if left <= 0.0 {
        return Err(throttled());
    }
    Ok(())
}

/// Takes the units a request consumed from the table's bucket (it may go negative: the
/// debt is paid back before the next request is admitted).
pub(crate) fn charge(table: &Table, write: bool, units: f64) {
    if let Some((mut b, _, _)) = refill(table) {
        if write {
            b.write -= units;
        } else {
            b.read -= units;
        }
    }
}

pub(crate) fn write_units(old: usize, new: usize) -> f64 {
    let size = old.max(new);
    (size.div_ceil(1024)).max(1) as f64
}

pub(crate) fn read_units(size: usize, consistent: bool) -> f64 {
    let units = (size.div_ceil(4096)).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Which ConsumedCapacity a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rcc {
    None,
    Total,
    Indexes,
}

impl Rcc {
    pub fn from(v: &Value) -> Rcc {
        match v.get("ReturnConsumedCapacity").and_then(Value::as_str) {
            Some("TOTAL") => Rcc::Total,
            Some("INDEXES") => Rcc::Indexes,
            _ => Rcc::None,
        }
    }

    /// The ConsumedCapacity object for `units` on `table`, if one was asked for.
    pub fn render(self, table: &str, units: f64, read: bool) -> Option<Value> {
        self.render_indexes(table, units, &[], read)
    }

    /// The ConsumedCapacity object for `units` on the table itself plus what each index
    /// consumed: the total with TOTAL, and the breakdown too with INDEXES (`Table` only
    /// when the table itself was read or written, as a query on a global index is not).
    pub fn render_indexes(self, table: &str, units: f64, indexes: &[IndexUnits], read: bool) -> Option<Value> {
        let kind = if read { "ReadCapacityUnits" } else { "WriteCapacityUnits" };
        let total = units + indexes.iter().map(|i| i.units).sum::<f64>();
        match self {
            Rcc::None => None,
            Rcc::Total => Some(json!({"TableName": table, "CapacityUnits": total, kind: total})),
            Rcc::Indexes => {
                let mut v = serde_json::Map::new();
                v.insert("TableName".into(), json!(table));
                v.insert("CapacityUnits".into(), json!(total));
                v.insert(kind.into(), json!(total));
                if units > 0.0 || indexes.is_empty() {
                    v.insert("Table".into(), json!({"CapacityUnits": units, kind: units}));
                }
                for (local, key) in [(false, "GlobalSecondaryIndexes"), (true, "LocalSecondaryIndexes")] {
                    let mut m = serde_json::Map::new();
                    for i in indexes.iter().filter(|i| i.local == local) {
                        let prev = m.get(&i.name).and_then(|x: &Value| x.get("CapacityUnits")).and_then(Value::as_f64).unwrap_or(0.0);
                        let u = prev + i.units;
                        m.insert(i.name.clone(), json!({"CapacityUnits": u, kind: u}));
                    }
                    if !m.is_empty() {
                        v.insert(key.into(), Value::Object(m));
                    }
                }
                Some(Value::Object(v))
            }
        }
    }
}

/// Capacity one secondary index consumed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexUnits {
    pub name: String,
    pub local: bool,
    pub units: f64,
}

/// What an item write (old → new) costs each secondary index: a write per KB of the
/// projected entry, and two writes (delete and put) when the entry's index key changes.
pub(crate) fn index_write_units(table: &Table, old: Option<&nimbus_dynamodb_expr::Item>, new: Option<&nimbus_dynamodb_expr::Item>) -> Vec<IndexUnits> {
    use nimbus_dynamodb_expr::item_size;
    let meta = table.meta.read().unwrap_or_else(|p| p.into_inner()).indexes.clone();
    let mut out = Vec::new();
    for ix in meta.iter().filter(|i| i.status != "DELETING") {
        let o = old.and_then(|o| ix.entry_key(table, o).map(|k| (k, item_size(&ix.project(table, o)))));
        let n = new.and_then(|n| ix.entry_key(table, n).map(|k| (k, item_size(&ix.project(table, n)))));
        let units = match (o, n) {
            (None, None) => continue,
            (Some((_, a)), None) => write_units(a, 0),
            (None, Some((_, b))) => write_units(0, b),
            (Some((ka, a)), Some((kb, b))) if ka == kb => write_units(a, b),
            (Some((_, a)), Some((_, b))) => write_units(a, 0) + write_units(0, b),
        };
        out.push(IndexUnits { name: ix.name.clone(), local: ix.local, units });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_round_up_per_kilobyte() {
        assert_eq!(write_units(0, 0), 1.0);
        assert_eq!(write_units(0, 1), 1.0);
        assert_eq!(write_units(0, 1024), 1.0);
        assert_eq!(write_units(0, 1025), 2.0);
        assert_eq!(write_units(3000, 10), 3.0);
        assert_eq!(write_units(400 * 1024, 0), 400.0);
    }

    #[test]
    fn reads_round_up_per_four_kilobytes_and_halve_when_eventual() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(100, false), 0.5);
        assert_eq!(read_units(3 * 4096 + 1, false), 2.0);
    }

    #[test]
    fn indexes_breakdown_covers_table_and_each_index() {
        use nimbus_model::services::dynamodb::Op;
        use nimbus_protocol::Input;
        let d = crate::DynamoDb::without_sweeper(nimbus_store::Store::temporary().unwrap());
        let ctx = nimbus_types::RequestContext::new("000000000000", "us-east-1");
        let call = |op: Op, v: Value| d.inner.dispatch(&ctx, op, Input { value: v, payload: None }).map(|o| o.value).unwrap();
        call(Op::CreateTable, json!({
            "TableName": "Cap", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
                                     {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
            "LocalSecondaryIndexes": [{"IndexName": "byL", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        }));
        let r = call(Op::PutItem, json!({"TableName": "Cap", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "g": {"S": "x"}, "l": {"S": "y"}}, "ReturnConsumedCapacity": "INDEXES"}));
        let c = &r["ConsumedCapacity"];
        assert_eq!(c["Table"]["CapacityUnits"], 1.0);
        assert_eq!(c["GlobalSecondaryIndexes"]["byG"]["CapacityUnits"], 1.0);
        assert_eq!(c["LocalSecondaryIndexes"]["byL"]["CapacityUnits"], 1.0);
        assert_eq!(c["CapacityUnits"], 3.0);
        // Moving the item in the GSI costs a delete and a put there; the LSI is unchanged.
        let r = call(Op::UpdateItem, json!({"TableName": "Cap", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}, "UpdateExpression": "SET g = :g",
            "ExpressionAttributeValues": {":g": {"S": "z"}}, "ReturnConsumedCapacity": "TOTAL"}));
        assert_eq!(r["ConsumedCapacity"]["CapacityUnits"], 4.0);
        // A write outside every index costs the table only.
        let r = call(Op::PutItem, json!({"TableName": "Cap", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}, "ReturnConsumedCapacity": "INDEXES"}));
        assert!(r["ConsumedCapacity"].get("GlobalSecondaryIndexes").is_none());
        assert_eq!(r["ConsumedCapacity"]["CapacityUnits"], 1.0);
        // A query on the GSI is charged to the index.
        let r = call(Op::Query, json!({"TableName": "Cap", "IndexName": "byG", "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "z"}}, "ReturnConsumedCapacity": "INDEXES"}));
        assert_eq!(r["ConsumedCapacity"]["GlobalSecondaryIndexes"]["byG"]["CapacityUnits"], 0.5);
        assert!(r["ConsumedCapacity"].get("Table").is_none());
        let r = call(Op::TransactWriteItems, json!({"TransactItems": [{"Delete": {"TableName": "Cap", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}}}],
            "ReturnConsumedCapacity": "INDEXES"}));
        let c = &r["ConsumedCapacity"][0];
        assert_eq!(c["Table"]["CapacityUnits"], 2.0);
        assert_eq!(c["GlobalSecondaryIndexes"]["byG"]["CapacityUnits"], 2.0);
        assert_eq!(c["CapacityUnits"], 6.0);
    }

    #[test]
    fn render_shapes() {
        assert_eq!(Rcc::None.render("T", 1.0, true), None);
        let t = Rcc::Total.render("T", 2.0, false).unwrap();
        assert_eq!(t["CapacityUnits"], 2.0);
        assert_eq!(t["WriteCapacityUnits"], 2.0);
        let i = Rcc::Indexes.render("T", 0.5, true).unwrap();
        assert_eq!(i["Table"]["CapacityUnits"], 0.5);
    }
}
