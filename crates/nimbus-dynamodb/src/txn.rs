//! BatchWriteItem, BatchGetItem, TransactWriteItems and TransactGetItems. Writes lock every
//! table they touch (in table-id order, so no two requests deadlock) and commit in one batch:
//! all-or-nothing for transactions, and simply atomic for batches.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use nimbus_dynamodb_expr::{item_size, item_to_json, Condition, Item, Projection, Update};
use nimbus_protocol::Output;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Map, Value};

use crate::capacity::{admit, charge, index_write_units, read_units, write_units, IndexUnits, Rcc};
use crate::items::{apply_update, context, item_param, Change, MAX_ITEM_SIZE};
use crate::keys::{item_key, key_param};
use crate::tables::{Table, TableState};
use crate::{expr_err, get_str, not_found, out, store_err, Inner, KS_ITEMS};

/// BatchGetItem answers at most 16 MB; the remaining keys come back as UnprocessedKeys.
const MAX_BATCH_GET_RESPONSE: usize = 16 * 1024 * 1024;

const TOKEN_TTL: Duration = Duration::from_secs(600);

/// The tables of a request, deduplicated and in lock order.
struct TableSet {
    tables: Vec<Arc<Table>>,
}

impl TableSet {
    fn new() -> Self {
        TableSet { tables: Vec::new() }
    }

    fn add(&mut self, t: Arc<Table>) {
        if !self.tables.iter().any(|x| x.id == t.id) {
            self.tables.push(t);
            self.tables.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }

    fn index(&self, t: &Table) -> usize {
        self.tables.iter().position(|x| x.id == t.id).unwrap_or(0)
    }

    fn lock(&self) -> Result<Vec<MutexGuard<'_, TableState>>, AwsError> {
        let guards: Vec<_> = self.tables.iter().map(|t| t.lock()).collect();
        if guards.iter().any(|g| g.deleted) {
            return Err(not_found());
        }
        Ok(guards)
    }
}

enum Action {
    Put { item: Item, size: usize },
    Delete,
    Update { key: Item, update: Option<Update> },
    Check,
}

struct Planned {
    table: Arc<Table>,
    key: Vec<u8>,
    cond: Option<Condition>,
    action: Action,
    /// ReturnValuesOnConditionCheckFailure=ALL_OLD.
    return_old: bool,
}

fn cancelled(reasons: Vec<Value>) -> AwsError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.get("Code").and_then(Value::as_str).unwrap_or("None")).collect();
    let msg = format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", "));
    AwsError::new(400, "TransactionCanceledException", msg).with_field("CancellationReasons", Value::Array(reasons))
}

impl Inner {
    pub(crate) fn batch_write(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let req = v.get("RequestItems").and_then(Value::as_object).cloned().unwrap_or_default();
        let total: usize = req.values().map(|l| l.as_array().map_or(0, Vec::len)).sum();
        if total > 25 {
            return Err(AwsError::validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"));
        }
        let mut set = TableSet::new();
        let mut plan: Vec<Planned> = Vec::new();
        let mut seen = HashSet::new();
        let mut icms: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (name, list) in &req {
            let table = self.require_table(ctx, name)?;
            admit(&table, true)?;
            set.add(table.clone());
            for r in list.as_array().into_iter().flatten() {
                let put = r.get("PutRequest").filter(|x| !x.is_null());
                let del = r.get("DeleteRequest").filter(|x| !x.is_null());
                let p = match (put, del) {
                    (Some(p), None) => {
                        let item = item_param(p, "Item")?;
                        let key = item_key(&table, &item)?;
                        let size = item_size(&item);
                        if size > MAX_ITEM_SIZE {
                            return Err(AwsError::validation("Item size has exceeded the maximum allowed size"));
                        }
                        if let Some(m) = crate::item_collection_metrics(v, &table, &item) {
                            icms.entry(name.clone()).or_default().push(m);
                        }
                        Planned { table: table.clone(), key, cond: None, action: Action::Put { item, size }, return_old: false }
                    }
                    (None, Some(d)) => {
                        let key_item = item_param(d, "Key")?;
                        let key = key_param(&table, &key_item)?;
                        if let Some(m) = crate::item_collection_metrics(v, &table, &key_item) {
                            icms.entry(name.clone()).or_default().push(m);
                        }
                        Planned { table: table.clone(), key, cond: None, action: Action::Delete, return_old: false }
                    }
                    _ => {
                        return Err(AwsError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ))
                    }
                };
                if !seen.insert(p.key.clone()) {
                    return Err(AwsError::validation("Provided list of item keys contains duplicates"));
                }
                self.check_not_held(&p.key)?;
                plan.push(p);
            }
        }
        let mut guards = set.lock()?;
        let mut changes = Vec::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let mut ixu: BTreeMap<String, Vec<IndexUnits>> = BTreeMap::new();
        for p in plan {
            let old = self.store.get(KS_ITEMS, &p.key).map_err(store_err)?.map(|raw| crate::items::decode_item(&raw)).transpose()?;
            let old_size = old.as_ref().map(item_size);
            let t = set.index(&p.table);
            let new = match p.action {
                Action::Put { item, size, .. } => Some((item, size)),
                _ => None,
            };
            *units.entry(p.table.name.clone()).or_default() += write_units(old_size.unwrap_or(0), new.as_ref().map_or(0, |n| n.1));
            if Rcc::from(v) != Rcc::None {
                ixu.entry(p.table.name.clone()).or_default().extend(index_write_units(&p.table, old.as_ref(), new.as_ref().map(|n| &n.0)));
            }
            changes.push(Change::new(t, p.key, old, new.map(|n| n.0)));
        }
        let mut locked: Vec<(&Table, &mut TableState)> = set.tables.iter().map(|t| &**t).zip(guards.iter_mut().map(|g| &mut **g)).collect();
        self.commit(&mut locked, changes)?;
        drop(locked);
        drop(guards);
        for t in &set.tables {
            charge(t, true, units.get(&t.name).copied().unwrap_or(0.0));
        }
        let mut resp = Map::new();
        resp.insert("UnprocessedItems".into(), json!({}));
        if !icms.is_empty() {
            resp.insert("ItemCollectionMetrics".into(), json!(icms));
        }
        let rcc = Rcc::from(v);
        if rcc != Rcc::None {
            let cc: Vec<Value> = units.iter().filter_map(|(n, u)| rcc.render_indexes(n, *u, ixu.get(n).map(Vec::as_slice).unwrap_or(&[]), false)).collect();
            resp.insert("ConsumedCapacity".into(), Value::Array(cc));
        }
        out(Value::Object(resp))
    }

    pub(crate) fn batch_get(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let req = v.get("RequestItems").and_then(Value::as_object).cloned().unwrap_or_default();
        let total: usize = req.values().map(|r| r.get("Keys").and_then(Value::as_array).map_or(0, Vec::len)).sum();
        if total > 100 {
            return Err(AwsError::validation("Too many items requested for the BatchGetItem call"));
        }
        let snap = self.store.snapshot();
        let mut responses = Map::new();
        let mut unprocessed_keys = Map::new();
        let mut response_size = 0usize;
        let mut caps = Vec::new();
        let rcc = Rcc::from(v);
        for (name, r) in &req {
            crate::check_mixing(r, &["ProjectionExpression"], &["AttributesToGet"])?;
            let proj_expr = get_str(r, "ProjectionExpression");
            let mut ectx = context(r, proj_expr.is_some())?;
            let proj = match proj_expr {
                Some(e) => Some(Projection::parse(e, &mut ectx).map_err(expr_err)?),
                None => crate::items::attributes_to_get(r)?,
            };
            ectx.check_all_used().map_err(expr_err)?;
            let table = self.require_table(ctx, name)?;
            admit(&table, false)?;
            let consistent = r.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
            let mut seen = HashSet::new();
            let mut found = Vec::new();
            let mut units = 0.0;
            let mut unprocessed = Vec::new();
            for k in r.get("Keys").and_then(Value::as_array).into_iter().flatten() {
                let key = key_param(&table, &crate::items::item_param(&json!({"Key": k}), "Key")?)?;
                if !seen.insert(key.clone()) {
                    return Err(AwsError::validation("Provided list of item keys contains duplicates"));
                }
                if !unprocessed.is_empty() {
                    unprocessed.push(k.clone());
                    continue;
                }
                let item = snap.get(KS_ITEMS, &key).map_err(store_err)?.map(|raw| crate::items::decode_item(&raw)).transpose()?;
                let isz = item.as_ref().map_or(0, item_size);
                if response_size + isz > MAX_BATCH_GET_RESPONSE {
                    unprocessed.push(k.clone());
                    continue;
                }
                response_size += isz;
                units += read_units(isz, consistent);
                if let Some(item) = item {
                    let shown = match &proj {
                        Some(p) => p.apply(&item),
                        None => item,
                    };
                    found.push(item_to_json(&shown));
                }
            }
            charge(&table, false, units);
            if !unprocessed.is_empty() {
                let mut rest = r.as_object().cloned().unwrap_or_default();
                rest.insert("Keys".into(), Value::Array(unprocessed));
                unprocessed_keys.insert(name.clone(), Value::Object(rest));
            }
            responses.insert(name.clone(), Value::Array(found));
            if let Some(c) = rcc.render(name, units, true) {
                caps.push(c);
            }
        }
        let mut resp = Map::new();
        resp.insert("Responses".into(), Value::Object(responses));
        resp.insert("UnprocessedKeys".into(), Value::Object(unprocessed_keys));
        if rcc != Rcc::None {
            resp.insert("ConsumedCapacity".into(), Value::Array(caps));
        }
        out(Value::Object(resp))
    }

    pub(crate) fn transact_write(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let actions = v.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
        if actions.len() > 100 {
            return Err(AwsError::validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"));
        }
        // Idempotency: the same token with the same request within 10 minutes succeeds
        // again without applying anything; with a different request it is refused.
        let token = get_str(v, "ClientRequestToken").map(str::to_string);
        let fingerprint = serde_json::to_string(&v.get("TransactItems")).unwrap_or_default();
        if let Some(tok) = &token {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            tokens.retain(|_, (at, _)| at.elapsed() < TOKEN_TTL);
            if let Some((_, fp)) = tokens.get(&(ctx.account_id.clone(), ctx.region.clone(), tok.clone())) {
                if *fp == fingerprint {
                    return out(json!({}));
                }
                return Err(AwsError::new(
                    400,
                    "IdempotentParameterMismatchException",
                    "Request with the same client token was already processed with different parameters",
                ));
            }
        }
        let mut set = TableSet::new();
        let mut plan = Vec::new();
        let mut seen = HashSet::new();
        let mut icms: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for a in &actions {
            let kinds: Vec<(&str, &Value)> = ["Put", "Update", "Delete", "ConditionCheck"]
                .iter()
                .filter_map(|k| a.get(*k).filter(|x| !x.is_null()).map(|x| (*k, x)))
                .collect();
            let [(kind, body)] = kinds.as_slice() else {
                return Err(AwsError::validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            };
            let table = self.require_table(ctx, get_str(body, "TableName").unwrap_or_default())?;
            admit(&table, true)?;
            set.add(table.clone());
            let cond_expr = get_str(body, "ConditionExpression");
            let upd_expr = get_str(body, "UpdateExpression");
            let mut ectx = context(body, cond_expr.is_some() || upd_expr.is_some())?;
            let update = upd_expr.map(|e| Update::parse(e, &mut ectx)).transpose().map_err(expr_err)?;
            let cond = cond_expr.map(|e| Condition::parse(e, &mut ectx)).transpose().map_err(expr_err)?;
            ectx.check_all_used().map_err(expr_err)?;
            let (key, action) = match *kind {
                "Put" => {
                    let item = item_param(body, "Item")?;
                    let key = item_key(&table, &item)?;
                    let size = item_size(&item);
                    if size > MAX_ITEM_SIZE {
                        return Err(AwsError::validation("Item size has exceeded the maximum allowed size"));
                    }
                    (key, Action::Put { item, size })
                }
                "Update" => {
                    let k = item_param(body, "Key")?;
                    (key_param(&table, &k)?, Action::Update { key: k, update })
                }
                "Delete" => (key_param(&table, &item_param(body, "Key")?)?, Action::Delete),
                _ => {
                    if cond.is_none() {
                        return Err(AwsError::validation("1 validation error detected: Value null at 'transactItems.member.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null"));
                    }
                    (key_param(&table, &item_param(body, "Key")?)?, Action::Check)
                }
            };
            if !seen.insert(key.clone()) {
                return Err(AwsError::validation("Transaction request cannot include multiple operations on one item"));
            }
            if *kind != "ConditionCheck" {
                let src = body.get("Item").or_else(|| body.get("Key")).and_then(|x| nimbus_dynamodb_expr::item_from_json(x).ok());
                if let Some(m) = src.and_then(|i| crate::item_collection_metrics(v, &table, &i)) {
                    icms.entry(table.name.clone()).or_default().push(m);
                }
            }
            let return_old = get_str(body, "ReturnValuesOnConditionCheckFailure") == Some("ALL_OLD");
            plan.push(Planned { table, key, cond, action, return_old });
        }
        let keys: Vec<Vec<u8>> = plan.iter().map(|p| p.key.clone()).collect();
        let _held = match self.hold(&keys) {
            Ok(h) => h,
            Err(busy) => {
                return Err(cancelled(
                    busy.into_iter()
                        .map(|b| if b { json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}) } else { json!({"Code": "None"}) })
                        .collect(),
                ))
            }
        };
        let mut guards = set.lock()?;
        let mut reasons = Vec::with_capacity(plan.len());
        let mut failed = false;
        let mut changes = Vec::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let mut ixu: BTreeMap<String, Vec<IndexUnits>> = BTreeMap::new();
        for p in &plan {
            let old = self.load(&p.key)?;
            if let Some(c) = &p.cond {
                if !c.eval(old.as_ref().unwrap_or(&Item::new())).map_err(expr_err)? {
                    let mut r = Map::new();
                    r.insert("Code".into(), json!("ConditionalCheckFailed"));
                    r.insert("Message".into(), json!("The conditional request failed"));
                    if p.return_old {
                        if let Some(o) = &old {
                            r.insert("Item".into(), item_to_json(o));
                        }
                    }
                    reasons.push(Value::Object(r));
                    failed = true;
                    continue;
                }
            }
            reasons.push(json!({"Code": "None"}));
            let old_size = old.as_ref().map(item_size);
            let t = set.index(&p.table);
            let new = match &p.action {
                Action::Put { size, item, .. } => Some(Some((item.clone(), *size))),
                Action::Delete => Some(None),
                Action::Update { key, update } => {
                    let (new, _) = apply_update(&p.table, old.as_ref(), key, update.as_ref())?;
                    let size = item_size(&new);
                    if size > MAX_ITEM_SIZE {
                        return Err(AwsError::validation("Item size to update has exceeded the maximum allowed size"));
                    }
                    Some(Some((new, size)))
                }
                Action::Check => None,
            };
            let new_size = match &new {
                Some(Some((_, s))) => *s,
                _ => 0,
            };
            *units.entry(p.table.name.clone()).or_default() += 2.0 * write_units(old_size.unwrap_or(0), new_size);
            if let (Some(n), true) = (&new, Rcc::from(v) != Rcc::None) {
                // Transactional writes cost twice, on the indexes too.
                let per = index_write_units(&p.table, old.as_ref(), n.as_ref().map(|x| &x.0));
                ixu.entry(p.table.name.clone()).or_default().extend(per.into_iter().map(|mut i| {
                    i.units *= 2.0;
                    i
                }));
            }
            if let Some(new) = new {
                changes.push(Change::new(t, p.key.clone(), old.clone(), new.map(|n| n.0)));
            }
        }
        if failed {
            return Err(cancelled(reasons));
        }
        let mut locked: Vec<(&Table, &mut TableState)> = set.tables.iter().map(|t| &**t).zip(guards.iter_mut().map(|g| &mut **g)).collect();
        self.commit(&mut locked, changes)?;
        drop(locked);
        drop(guards);
        for t in &set.tables {
            charge(t, true, units.get(&t.name).copied().unwrap_or(0.0));
        }
        if let Some(tok) = token {
            self.tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((ctx.account_id.clone(), ctx.region.clone(), tok), (Instant::now(), fingerprint));
        }
        let mut resp = Map::new();
        let rcc = Rcc::from(v);
        if rcc != Rcc::None {
            let cc: Vec<Value> = units.iter().filter_map(|(n, u)| rcc.render_indexes(n, *u, ixu.get(n).map(Vec::as_slice).unwrap_or(&[]), false)).collect();
            resp.insert("ConsumedCapacity".into(), Value::Array(cc));
        }
        if !icms.is_empty() {
            resp.insert("ItemCollectionMetrics".into(), json!(icms));
        }
        out(Value::Object(resp))
    }

    pub(crate) fn transact_get(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let actions = v.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
        if actions.len() > 100 {
            return Err(AwsError::validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"));
        }
        let mut plan = Vec::new();
        let mut seen = HashSet::new();
        for a in &actions {
            let Some(body) = a.get("Get").filter(|x| !x.is_null()) else {
                return Err(AwsError::validation("TransactItems can only contain Get"));
            };
            let table = self.require_table(ctx, get_str(body, "TableName").unwrap_or_default())?;
            admit(&table, false)?;
            let proj_expr = get_str(body, "ProjectionExpression");
            let mut ectx = context(body, proj_expr.is_some())?;
            let proj = proj_expr.map(|e| Projection::parse(e, &mut ectx)).transpose().map_err(expr_err)?;
            ectx.check_all_used().map_err(expr_err)?;
            let key = key_param(&table, &item_param(body, "Key")?)?;
            if !seen.insert(key.clone()) {
                return Err(AwsError::validation("Transaction request cannot include multiple operations on one item"));
            }
            plan.push((table, key, proj));
        }
        if plan.iter().any(|(_, k, _)| self.is_held(k)) {
            return Err(cancelled(
                plan.iter()
                    .map(|(_, k, _)| if self.is_held(k) { json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}) } else { json!({"Code": "None"}) })
                    .collect(),
            ));
        }
        let snap = self.store.snapshot();
        let mut responses = Vec::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        for (table, key, proj) in plan {
            let item = snap.get(KS_ITEMS, &key).map_err(store_err)?.map(|raw| crate::items::decode_item(&raw)).transpose()?;
            let u = 2.0 * read_units(item.as_ref().map_or(0, item_size), true);
            charge(&table, false, u);
            *units.entry(table.name.clone()).or_default() += u;
            responses.push(match item {
                Some(i) => {
                    let shown = match &proj {
                        Some(p) => p.apply(&i),
                        None => i,
                    };
                    json!({"Item": item_to_json(&shown)})
                }
                None => json!({}),
            });
        }
        let mut resp = Map::new();
        resp.insert("Responses".into(), Value::Array(responses));
        let rcc = Rcc::from(v);
        if rcc != Rcc::None {
            let cc: Vec<Value> = units.iter().filter_map(|(n, u)| rcc.render(n, *u, true)).collect();
            resp.insert("ConsumedCapacity".into(), Value::Array(cc));
        }
        out(Value::Object(resp))
    }
}
