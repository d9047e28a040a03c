//! Secondary indexes (global and local): metadata, the entries written with every item
//! write, and the backfill of a global secondary index added by UpdateTable.
//!
//! Layout: `dynamodb.index`: `<index id>` + escape(index hash) + [escape(index range)] +
//! escape(table hash) + table range bytes → the projected item (DynamoDB JSON). The table
//! primary key at the end keeps entries with equal index keys apart, and the escaping keeps
//! every component prefix-free and order-preserving, so a Query on an index is one range scan.

use std::sync::{Arc, Weak};

use nimbus_dynamodb_expr::{sort_key_bytes, AttrValue, Item};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::AwsError;
use serde::{Deserialize, Serialize};

use crate::items::{decode_item, encode_item};
use crate::keys::{escape_into, table_end};
use crate::tables::{KeyAttr, Table};
use crate::{store_err, Inner, KS_INDEX, KS_ITEMS};

/// What is stored for one secondary index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexMeta {
    pub name: String,
    /// 32 hex digits: the key prefix of the index's entries.
    pub id: String,
    pub local: bool,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    /// KEYS_ONLY, INCLUDE or ALL.
    pub projection: String,
    #[serde(default)]
    pub non_key: Vec<String>,
    /// ACTIVE, CREATING or DELETING.
    pub status: String,
    #[serde(default)]
    pub backfilling: bool,
}

impl IndexMeta {
    pub fn new(name: &str, local: bool, hash: KeyAttr, range: Option<KeyAttr>, p: &nimbus_model::types::dynamodb::Projection) -> IndexMeta {
        IndexMeta {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            local,
            hash,
            range,
            projection: p.projection_type.clone().unwrap_or_else(|| "ALL".into()),
            non_key: p.non_key_attributes.clone().unwrap_or_default(),
            status: "ACTIVE".into(),
            backfilling: false,
        }
    }

    pub fn key_names(&self) -> Vec<&str> {
        let mut v = vec![self.hash.name.as_str()];
        if let Some(r) = &self.range {
            v.push(r.name.as_str());
        }
        v
    }

    /// The index key values of `item`, or None when the item is not in the index.
    pub fn key_values<'a>(&self, item: &'a Item) -> Option<(&'a AttrValue, Option<&'a AttrValue>)> {
        let h = item.get(&self.hash.name).filter(|v| v.type_name() == self.hash.ty)?;
        let r = match &self.range {
            Some(r) => Some(item.get(&r.name).filter(|v| v.type_name() == r.ty)?),
            None => None,
        };
        Some((h, r))
    }

    /// Refuses an item whose index key attribute has the wrong type or is empty (as AWS does).
    pub fn check_item(&self, item: &Item) -> Result<(), AwsError> {
        for attr in std::iter::once(&self.hash).chain(self.range.iter()) {
            if let Some(v) = item.get(&attr.name) {
                if v.type_name() != attr.ty {
                    return Err(AwsError::validation(format!(
                        "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                        attr.name,
                        attr.ty,
                        v.type_name(),
                        self.name
                    )));
                }
                let empty = matches!(v, AttrValue::S(s) if s.is_empty()) || matches!(v, AttrValue::B(b) if b.is_empty());
                if empty {
                    return Err(AwsError::validation(format!(
                        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: {}, IndexKey: {}",
                        self.name, attr.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// `<index id>` + escape(index hash): every entry of one index partition starts with it.
    pub fn partition_prefix(&self, hash: &AttrValue) -> Vec<u8> {
        let mut k = self.id.as_bytes().to_vec();
        escape_into(&mut k, &sort_key_bytes(hash).unwrap_or_default());
        k
    }

    /// The entry key of `item` (which must be in the index).
    pub fn entry_key(&self, table: &Table, item: &Item) -> Option<Vec<u8>> {
        let (h, r) = self.key_values(item)?;
        let mut k = self.partition_prefix(h);
        if let Some(r) = r {
            escape_into(&mut k, &sort_key_bytes(r).unwrap_or_default());
        }
        let th = item.get(&table.hash.name)?;
        escape_into(&mut k, &sort_key_bytes(th).unwrap_or_default());
        if let Some(tr) = &table.range {
            k.extend_from_slice(&sort_key_bytes(item.get(&tr.name)?).unwrap_or_default());
        }
        Some(k)
    }

    /// The projected attributes of `item` stored in the index.
    pub fn project(&self, table: &Table, item: &Item) -> Item {
        if self.projection == "ALL" {
            return item.clone();
        }
        item.iter()
            .filter(|(k, _)| {
                table.key_names().contains(&k.as_str())
                    || self.key_names().contains(&k.as_str())
                    || (self.projection == "INCLUDE" && self.non_key.iter().any(|n| n == *k))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether every attribute in `names` is projected into the index.
    pub fn projects_all(&self, table: &Table, names: &[String]) -> bool {
        self.projection == "ALL"
            || names.iter().all(|n| {
                table.key_names().contains(&n.as_str())
                    || self.key_names().contains(&n.as_str())
                    || (self.projection == "INCLUDE" && self.non_key.contains(n))
            })
    }

    /// The index and table key attributes of `item` (a LastEvaluatedKey on the index).
    pub fn lek(&self, table: &Table, item: &Item) -> Item {
        item.iter()
            .filter(|(k, _)| table.key_names().contains(&k.as_str()) || self.key_names().contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn end(&self) -> Vec<u8> {
        table_end(&self.id)
    }
}

/// Adds to `batch` the index changes of one item write (old → new).
pub(crate) fn index_changes(
    table: &Table,
    indexes: &[IndexMeta],
    old: Option<&Item>,
    new: Option<&Item>,
    batch: &mut WriteBatch,
) -> Result<(), AwsError> {
    for ix in indexes.iter().filter(|i| i.status != "DELETING") {
        if let Some(n) = new {
            ix.check_item(n)?;
        }
        let ok = old.and_then(|o| ix.entry_key(table, o));
        let nk = new.and_then(|n| ix.entry_key(table, n));
        if let Some(ok) = &ok {
            if nk.as_ref() != Some(ok) {
                batch.delete(KS_INDEX, ok.clone());
            }
        }
        if let (Some(nk), Some(n)) = (nk, new) {
            batch.put(KS_INDEX, nk, encode_item(&ix.project(table, n))?);
        }
    }
    Ok(())
}

const BACKFILL_CHUNK: usize = 500;

impl Inner {
    /// Indexes the table's existing items into `index` in chunks, each under the table lock
    /// (so a concurrent write and the backfill never both miss or double an entry), then
    /// marks the index ACTIVE.
    pub(crate) fn backfill(&self, table: &Arc<Table>, index: &str) -> Result<(), AwsError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let guard = table.lock();
            if guard.deleted {
                return Ok(());
            }
            let meta = table.meta();
            let Some(ix) = meta.indexes.iter().find(|i| i.name == index && i.status == "CREATING").cloned() else {
                return Ok(());
            };
            let lo = match &after {
                Some(a) => std::ops::Bound::Excluded(a.clone()),
                None => std::ops::Bound::Included(table.id.as_bytes().to_vec()),
            };
            let hi = std::ops::Bound::Excluded(table_end(&table.id));
            let mut batch = WriteBatch::new();
            let mut n = 0;
            for kv in self.store.range(KS_ITEMS, (lo, hi), Direction::Forward).map_err(store_err)?.take(BACKFILL_CHUNK) {
                let (k, raw) = kv.map_err(store_err)?;
                let item = decode_item(&raw)?;
                if ix.check_item(&item).is_ok() {
                    if let Some(ek) = ix.entry_key(table, &item) {
                        batch.put(KS_INDEX, ek, encode_item(&ix.project(table, &item))?);
                    }
                }
                after = Some(k);
                n += 1;
            }
            if !batch.is_empty() {
                self.store.write(batch).map_err(store_err)?;
            }
            drop(guard);
            if n < BACKFILL_CHUNK {
                break;
            }
            std::thread::yield_now();
        }
        // Done: mark ACTIVE (under the control-plane lock, then the table lock).
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let guard = table.lock();
        if guard.deleted {
            return Ok(());
        }
        let mut meta = table.meta();
        if let Some(ix) = meta.indexes.iter_mut().find(|i| i.name == index && i.status == "CREATING") {
            ix.status = "ACTIVE".into();
            ix.backfilling = false;
            self.save_meta_raw(&meta)?;
            *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
        }
        drop(guard);
        Ok(())
    }

    /// Deletes every key of `ks` under `prefix` (a dropped index or stream), in chunks.
    pub(crate) fn drop_prefix(&self, ks: &str, prefix: &str) -> Result<(), AwsError> {
        loop {
            let mut batch = WriteBatch::new();
            for kv in self.store.prefix(ks, prefix.as_bytes(), Direction::Forward).map_err(store_err)?.take(1000) {
                let (k, _) = kv.map_err(store_err)?;
                batch.delete(ks, k);
            }
            if batch.is_empty() {
                return Ok(());
            }
            self.store.write(batch).map_err(store_err)?;
        }
    }

    /// Entry count and size of an index (for DescribeTable).
    pub(crate) fn index_stats(&self, id: &str) -> (i64, i64) {
        let mut count = 0i64;
        let mut size = 0i64;
        if let Ok(scan) = self.store.prefix(KS_INDEX, id.as_bytes(), Direction::Forward) {
            for (_, v) in scan.flatten() {
                count += 1;
                size += v.len() as i64;
            }
        }
        (count, size)
    }
}

/// Runs a backfill on a background thread.
pub(crate) fn spawn_backfill(inner: Weak<Inner>, table: Arc<Table>, index: String) {
    let _ = std::thread::Builder::new().name("ddb-backfill".into()).spawn(move || {
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.backfill(&table, &index) {
            tracing::warn!("backfill of index {index} on {} failed: {}", table.name, e.message);
        }
    });
}

/// Drops the keys of `ks` under `id` on a background thread.
pub(crate) fn spawn_drop(inner: Weak<Inner>, ks: &'static str, id: String) {
    let _ = std::thread::Builder::new().name("ddb-drop".into()).spawn(move || {
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.drop_prefix(ks, &id) {
            tracing::warn!("dropping index entries failed: {}", e.message);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use nimbus_model::services::dynamodb::Op;
    use nimbus_protocol::Input;
    use nimbus_store::Store;
    use nimbus_types::RequestContext;
    use serde_json::{json, Value};

    use crate::{DynamoDb, KS_INDEX};

    fn call(d: &DynamoDb, op: Op, v: Value) -> Value {
        let ctx = RequestContext::new("000000000000", "us-east-1");
        match d.inner.dispatch(&ctx, op, Input { value: v, payload: None }) {
            Ok(o) => o.value,
            Err(e) => panic!("{op:?}: {} {}", e.code, e.message),
        }
    }

    #[test]
    fn backfill_with_concurrent_writes_indexes_each_item_exactly_once() {
        let d = DynamoDb::without_sweeper(Store::temporary().unwrap());
        call(&d, Op::CreateTable, json!({
            "TableName": "T", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        }));
        for i in 0..3000 {
            call(&d, Op::PutItem, json!({"TableName": "T", "Item": {"id": {"N": i.to_string()}, "g": {"S": format!("g{}", i % 7)}}}));
        }
        call(&d, Op::UpdateTable, json!({
            "TableName": "T",
            "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}}],
        }));
        // Concurrent writes while the backfill runs: moves, deletes and inserts.
        for i in (0..3000).step_by(3) {
            call(&d, Op::UpdateItem, json!({"TableName": "T", "Key": {"id": {"N": i.to_string()}}, "UpdateExpression": "SET g = :g", "ExpressionAttributeValues": {":g": {"S": "moved"}}}));
        }
        for i in (1..3000).step_by(5) {
            call(&d, Op::DeleteItem, json!({"TableName": "T", "Key": {"id": {"N": i.to_string()}}}));
        }
        for i in 3000..3100 {
            call(&d, Op::PutItem, json!({"TableName": "T", "Item": {"id": {"N": i.to_string()}, "g": {"S": "new"}}}));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let t = call(&d, Op::DescribeTable, json!({"TableName": "T"}));
            if t["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "backfill did not finish");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let table = d.inner.table(&RequestContext::new("000000000000", "us-east-1"), "T").unwrap().unwrap();
        let meta = table.meta();
        let ix = meta.index("byG").unwrap().clone();
        let entries: Vec<Vec<u8>> = d.inner.store.prefix(KS_INDEX, ix.id.as_bytes(), nimbus_store::Direction::Forward).unwrap().map(|kv| kv.unwrap().0).collect();
        // What the table holds now, indexed afresh.
        let mut expected = BTreeSet::new();
        let scan = call(&d, Op::Scan, json!({"TableName": "T"}));
        let mut items = scan["Items"].as_array().unwrap().clone();
        let mut lek = scan.get("LastEvaluatedKey").cloned();
        while let Some(k) = lek {
            let page = call(&d, Op::Scan, json!({"TableName": "T", "ExclusiveStartKey": k}));
            items.extend(page["Items"].as_array().unwrap().iter().cloned());
            lek = page.get("LastEvaluatedKey").cloned();
        }
        for it in &items {
            let item = nimbus_dynamodb_expr::item_from_json(it).unwrap();
            expected.insert(ix.entry_key(&table, &item).unwrap());
        }
        assert_eq!(entries.len(), expected.len());
        assert_eq!(entries.into_iter().collect::<BTreeSet<_>>(), expected);
        assert_eq!(items.len(), 3000 - 600 + 100);
    }
}
