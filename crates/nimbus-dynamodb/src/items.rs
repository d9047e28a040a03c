//! Single-item operations (PutItem, GetItem, UpdateItem, DeleteItem) and the write path
//! every write shares: lock the tables, read the old items, commit one batch that also
//! updates the tables' item count and size.

use std::sync::Arc;

use nimbus_dynamodb_expr::{legacy_condition, legacy_projection, legacy_update, LegacyKind, item_from_json, item_size, item_to_json, Condition, ExprContext, Item, Projection, Update};
use nimbus_protocol::Output;
use nimbus_store::WriteBatch;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{Map, Value};

use crate::capacity::{admit, charge, index_write_units, read_units, write_units, Rcc};
use crate::keys::{item_key, key_param};
use crate::indexes::index_changes;
use crate::streams::stream_record;
use crate::tables::{Table, TableMeta, TableState};
use crate::{expr_err, get_str, not_found, out, check_mixing, store_err, Inner, KS_ITEMS, KS_STATS};

pub(crate) const MAX_ITEM_SIZE: usize = 400 * 1024;

/// One item write to commit: the old item (if any) and the new one (None: a delete).
pub(crate) struct Change {
    /// Index of the table in the locked set.
    pub t: usize,
    pub key: Vec<u8>,
    pub old: Option<Item>,
    pub new: Option<Item>,
    /// A deletion by the service (TTL): its stream record names the service.
    pub service: bool,
}

impl Change {
    pub fn new(t: usize, key: Vec<u8>, old: Option<Item>, new: Option<Item>) -> Change {
        Change { t, key, old, new, service: false }
    }
}

pub(crate) fn encode_item(item: &Item) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(&item_to_json(item)).map_err(|e| AwsError::internal(format!("could not encode the item: {e}")))
}

pub(crate) fn decode_item(raw: &[u8]) -> Result<Item, AwsError> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| AwsError::internal(format!("corrupt item: {e}")))?;
    item_from_json(&v).map_err(|e| AwsError::internal(format!("corrupt item: {}", e.message)))
}

/// The item parameter `name` of `v` (e.g. `Item`, `Key`).
pub(crate) fn item_param(v: &Value, name: &str) -> Result<Item, AwsError> {
    match v.get(name) {
        Some(x) => item_from_json(x).map_err(expr_err),
        None => Err(AwsError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The expression context of a request; names and values are only allowed with expressions.
pub(crate) fn context(v: &Value, has_expr: bool) -> Result<ExprContext, AwsError> {
    let names = v.get("ExpressionAttributeNames").filter(|x| !x.is_null());
    let values = v.get("ExpressionAttributeValues").filter(|x| !x.is_null());
    if !has_expr {
        if names.is_some() {
            return Err(AwsError::validation("ExpressionAttributeNames can only be specified when using expressions"));
        }
        if values.is_some() {
            return Err(AwsError::validation("ExpressionAttributeValues can only be specified when using expressions"));
        }
    }
    ExprContext::new(names, values).map_err(expr_err)
}

/// The legacy `Expected` (+ `ConditionalOperator`) condition of a write, if any.
pub(crate) fn expected(v: &Value) -> Result<Option<Condition>, AwsError> {
    legacy_condition(v.get("Expected"), get_str(v, "ConditionalOperator"), LegacyKind::Expected).map_err(expr_err)
}

/// The legacy `AttributesToGet` projection of a read, if any.
pub(crate) fn attributes_to_get(v: &Value) -> Result<Option<Projection>, AwsError> {
    match v.get("AttributesToGet").filter(|x| !x.is_null()) {
        Some(a) => legacy_projection(a).map(Some).map_err(expr_err),
        None => Ok(None),
    }
}

pub(crate) fn condition_failed() -> AwsError {
    AwsError::new(400, "ConditionalCheckFailedException", "The conditional request failed")
}

/// Evaluates the request's condition on the old item (an absent item is empty); on failure
/// answers ConditionalCheckFailedException, with the old item as `Item` when the request
/// asked for it with ReturnValuesOnConditionCheckFailure=ALL_OLD.
fn check_condition(v: &Value, cond: Option<&Condition>, old: Option<&Item>) -> Result<(), AwsError> {
    let Some(c) = cond else { return Ok(()) };
    if c.eval(old.unwrap_or(&Item::new())).map_err(expr_err)? {
        return Ok(());
    }
    let mut e = condition_failed();
    if get_str(v, "ReturnValuesOnConditionCheckFailure") == Some("ALL_OLD") {
        if let Some(o) = old {
            e = e.with_field("Item", item_to_json(o));
        }
    }
    Err(e)
}

/// Locks one table for writing; a table deleted meanwhile is not found.
pub(crate) fn lock_table(table: &Table) -> Result<std::sync::MutexGuard<'_, TableState>, AwsError> {
    let g = table.lock();
    if g.deleted {
        return Err(not_found());
    }
    Ok(g)
}

fn check_return_values(rv: &str, allowed: &[&str]) -> Result<(), AwsError> {
    if allowed.contains(&rv) {
        Ok(())
    } else {
        Err(AwsError::validation("Return values set to invalid value"))
    }
}

impl Inner {
    pub(crate) fn load(&self, key: &[u8]) -> Result<Option<Item>, AwsError> {
        match self.store.get(KS_ITEMS, key).map_err(store_err)? {
            Some(raw) => Ok(Some(decode_item(&raw)?)),
            None => Ok(None),
        }
    }

    /// Commits `changes`, their index entries and stream records, and the new item
    /// counts/sizes of the locked tables in one batch. A change that changes nothing
    /// (same old and new item) writes nothing.
    pub(crate) fn commit(&self, locked: &mut [(&Table, &mut TableState)], changes: Vec<Change>) -> Result<(), AwsError> {
        let metas: Vec<TableMeta> = locked.iter().map(|(t, _)| t.meta()).collect();
        let mut deltas = vec![(0i64, 0i64); locked.len()];
        let mut seqs: Vec<Option<(String, u64)>> = locked.iter().map(|(_, s)| s.stream_next.clone()).collect();
        let mut batch = WriteBatch::new();
        // One commit time for the whole batch: its point-in-time history entries share it.
        let at = crate::pitr::now_precise();
        for c in changes {
            let (Some(d), Some((table, _)), Some(meta), Some(next)) = (deltas.get_mut(c.t), locked.get(c.t), metas.get(c.t), seqs.get_mut(c.t)) else {
                continue;
            };
            if c.old == c.new {
                continue;
            }
            if let Some(o) = &c.old {
                d.1 -= item_size(o) as i64;
            }
            match &c.new {
                Some(n) => {
                    batch.put(KS_ITEMS, c.key.clone(), encode_item(n)?);
                    d.1 += item_size(n) as i64;
                    if c.old.is_none() {
                        d.0 += 1;
                    }
                }
                None => {
                    batch.delete(KS_ITEMS, c.key.clone());
                    d.0 -= 1;
                }
            }
            index_changes(table, &meta.indexes, c.old.as_ref(), c.new.as_ref(), &mut batch)?;
            stream_record(self, table, meta, next, c.old.as_ref(), c.new.as_ref(), c.service, &mut batch)?;
            crate::pitr::log_change(meta, &c.key, c.new.as_ref(), at, &mut batch)?;
        }
        for ((table, state), (dc, ds)) in locked.iter().zip(&deltas) {
            if *dc != 0 || *ds != 0 {
                let next = TableState { count: state.count + dc, size: state.size + ds, ..Default::default() };
                batch.put(KS_STATS, table.id.as_bytes().to_vec(), next.encode());
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store.write(batch).map_err(store_err)?;
        for (((_, state), (dc, ds)), next) in locked.iter_mut().zip(&deltas).zip(seqs) {
            state.count += dc;
            state.size += ds;
            state.stream_next = next;
        }
        Ok(())
    }

    pub(crate) fn put_item(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (name, rv, cond) = conditional_write_params(v)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, true)?;
        let item = item_param(v, "Item")?;
        let key = item_key(&table, &item)?;
        let size = item_size(&item);
        if size > MAX_ITEM_SIZE {
            return Err(AwsError::validation("Item size has exceeded the maximum allowed size"));
        }
        self.check_not_held(&key)?;
        let mut guard = lock_table(&table)?;
        let old = self.load(&key)?;
        check_condition(v, cond.as_ref(), old.as_ref())?;
        let old_size = old.as_ref().map(item_size);
        let ixu = if Rcc::from(v) != Rcc::None { index_write_units(&table, old.as_ref(), Some(&item)) } else { Vec::new() };
        let icm = crate::item_collection_metrics(v, &table, &item);
        self.commit(&mut [(&table, &mut guard)], vec![Change::new(0, key, old.clone(), Some(item))])?;
        drop(guard);
        let mut resp = Map::new();
        if rv == "ALL_OLD" {
            if let Some(o) = &old {
                resp.insert("Attributes".into(), item_to_json(o));
            }
        }
        let units = write_units(old_size.unwrap_or(0), size);
        charge(&table, true, units);
        if let Some(c) = Rcc::from(v).render_indexes(name, units, &ixu, false) {
            resp.insert("ConsumedCapacity".into(), c);
        }
        if let Some(m) = icm {
            resp.insert("ItemCollectionMetrics".into(), m);
        }
        out(Value::Object(resp))
    }

    pub(crate) fn get_item(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        check_mixing(v, &["ProjectionExpression"], &["AttributesToGet"])?;
        let name = get_str(v, "TableName").unwrap_or_default();
        let proj_expr = get_str(v, "ProjectionExpression");
        let mut ectx = context(v, proj_expr.is_some())?;
        let proj = match proj_expr {
            Some(e) => Some(Projection::parse(e, &mut ectx).map_err(expr_err)?),
            None => attributes_to_get(v)?,
        };
        ectx.check_all_used().map_err(expr_err)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, false)?;
        let key = key_param(&table, &item_param(v, "Key")?)?;
        let consistent = v.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        let item = self.load(&key)?;
        let mut resp = Map::new();
        let size = item.as_ref().map(item_size).unwrap_or(0);
        if let Some(item) = item {
            let item = match &proj {
                Some(p) => p.apply(&item),
                None => item,
            };
            resp.insert("Item".into(), item_to_json(&item));
        }
        let units = read_units(size, consistent);
        charge(&table, false, units);
        if let Some(c) = Rcc::from(v).render(name, units, true) {
            resp.insert("ConsumedCapacity".into(), c);
        }
        out(Value::Object(resp))
    }

    pub(crate) fn update_item(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        check_mixing(v, &["UpdateExpression", "ConditionExpression"], &["AttributeUpdates", "Expected", "ConditionalOperator"])?;
        let name = get_str(v, "TableName").unwrap_or_default();
        let rv = get_str(v, "ReturnValues").unwrap_or("NONE");
        check_return_values(rv, &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])?;
        let upd_expr = get_str(v, "UpdateExpression");
        let cond_expr = get_str(v, "ConditionExpression");
        let mut ectx = context(v, upd_expr.is_some() || cond_expr.is_some())?;
        let upd = match upd_expr {
            Some(e) => Some(Update::parse(e, &mut ectx).map_err(expr_err)?),
            None => match v.get("AttributeUpdates").filter(|x| !x.is_null()) {
                Some(u) => Some(legacy_update(u, &[]).map_err(expr_err)?),
                None => None,
            },
        };
        let cond = match cond_expr {
            Some(e) => Some(Condition::parse(e, &mut ectx).map_err(expr_err)?),
            None => expected(v)?,
        };
        ectx.check_all_used().map_err(expr_err)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, true)?;
        let key_item = item_param(v, "Key")?;
        let key = key_param(&table, &key_item)?;
        self.check_not_held(&key)?;
        let mut guard = lock_table(&table)?;
        let old = self.load(&key)?;
        check_condition(v, cond.as_ref(), old.as_ref())?;
        let icm = crate::item_collection_metrics(v, &table, &key_item);
        let (new, changed) = apply_update(&table, old.as_ref(), &key_item, upd.as_ref())?;
        let size = item_size(&new);
        if size > MAX_ITEM_SIZE {
            return Err(AwsError::validation("Item size to update has exceeded the maximum allowed size"));
        }
        let old_size = old.as_ref().map(item_size);
        let ixu = if Rcc::from(v) != Rcc::None { index_write_units(&table, old.as_ref(), Some(&new)) } else { Vec::new() };
        self.commit(&mut [(&table, &mut guard)], vec![Change::new(0, key, old.clone(), Some(new.clone()))])?;
        drop(guard);
        let mut resp = Map::new();
        let pick = |item: &Item| -> Item { item.iter().filter(|(k, _)| changed.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect() };
        let attrs = match rv {
            "ALL_OLD" => old.clone(),
            "ALL_NEW" => Some(new.clone()),
            "UPDATED_OLD" => old.as_ref().map(pick),
            "UPDATED_NEW" => Some(pick(&new)),
            _ => None,
        };
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            resp.insert("Attributes".into(), item_to_json(&a));
        }
        let units = write_units(old_size.unwrap_or(0), size);
        charge(&table, true, units);
        if let Some(c) = Rcc::from(v).render_indexes(name, units, &ixu, false) {
            resp.insert("ConsumedCapacity".into(), c);
        }
        if let Some(m) = icm {
            resp.insert("ItemCollectionMetrics".into(), m);
        }
        out(Value::Object(resp))
    }

    pub(crate) fn delete_item(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (name, rv, cond) = conditional_write_params(v)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, true)?;
        let key_item = item_param(v, "Key")?;
        let key = key_param(&table, &key_item)?;
        self.check_not_held(&key)?;
        let mut guard = lock_table(&table)?;
        let old = self.load(&key)?;
        check_condition(v, cond.as_ref(), old.as_ref())?;
        let icm = crate::item_collection_metrics(v, &table, &key_item);
        let old_size = old.as_ref().map(item_size);
        let ixu = if Rcc::from(v) != Rcc::None { index_write_units(&table, old.as_ref(), None) } else { Vec::new() };
        self.commit(&mut [(&table, &mut guard)], vec![Change::new(0, key, old.clone(), None)])?;
        drop(guard);
        let mut resp = Map::new();
        if rv == "ALL_OLD" {
            if let Some(o) = &old {
                resp.insert("Attributes".into(), item_to_json(o));
            }
        }
        let units = write_units(old_size.unwrap_or(0), 0);
        charge(&table, true, units);
        if let Some(c) = Rcc::from(v).render_indexes(name, units, &ixu, false) {
            resp.insert("ConsumedCapacity".into(), c);
        }
        if let Some(m) = icm {
            resp.insert("ItemCollectionMetrics".into(), m);
        }
        out(Value::Object(resp))
    }
}

/// Applies an update to the old item (or a new item holding just the key); refuses
/// changes to key attributes. Returns the new item and the changed top-level names.
pub(crate) fn apply_update(table: &Arc<Table>, old: Option<&Item>, key: &Item, upd: Option<&Update>) -> Result<(Item, Vec<String>), AwsError> {
    let mut new = old.cloned().unwrap_or_else(|| key.clone());
    let changed = match upd {
        Some(u) => u.apply(&mut new).map_err(expr_err)?,
        None => Vec::new(),
    };
    for k in table.key_names() {
        if changed.iter().any(|c| c == k) {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
            )));
        }
    }
    Ok((new, changed))
}

/// What PutItem and DeleteItem read alike: the table name, ReturnValues (NONE or
/// ALL_OLD) and the condition, from ConditionExpression or the legacy Expected.
fn conditional_write_params(v: &Value) -> Result<(&str, &str, Option<Condition>), AwsError> {
    check_mixing(v, &["ConditionExpression"], &["Expected", "ConditionalOperator"])?;
    let name = get_str(v, "TableName").unwrap_or_default();
    let rv = get_str(v, "ReturnValues").unwrap_or("NONE");
    check_return_values(rv, &["NONE", "ALL_OLD"])?;
    let cond_expr = get_str(v, "ConditionExpression");
    let mut ectx = context(v, cond_expr.is_some())?;
    let cond = match cond_expr {
        Some(e) => Some(Condition::parse(e, &mut ectx).map_err(expr_err)?),
        None => expected(v)?,
    };
    ectx.check_all_used().map_err(expr_err)?;
    Ok((name, rv, cond))
}
