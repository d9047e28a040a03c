//! Query and Scan: one range scan over the table's keys, Limit counted before the filter,
//! a 1 MB page limit, ExclusiveStartKey/LastEvaluatedKey, Select and parallel segments.

use std::ops::Bound;

use nimbus_dynamodb_expr::{item_size, item_to_json, sort_key_bytes, AttrValue, Condition, Item, KeyCondition, Projection, RangeCondition};
use nimbus_protocol::Output;
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Map, Value};

use crate::capacity::{admit, charge, read_units, Rcc};
use crate::items::{context, decode_item, item_param};
use crate::indexes::IndexMeta;
use crate::keys::{escape_into, key_of, key_param, key_param_msg, partition_end, partition_prefix, table_end};
use crate::tables::Table;
use crate::{expr_err, get_str, out, check_mixing, store_err, Inner, KS_INDEX, KS_ITEMS};

const PAGE_BYTES: usize = 1024 * 1024;

struct Common {
    filter: Option<Condition>,
    projection: Option<Projection>,
    count_only: bool,
    limit: Option<usize>,
    consistent: bool,
    /// Read the full item from the table (a local index not projecting what is asked for).
    fetch_full: bool,
}

/// The index a request names, if any: unknown → ValidationException; a global index
/// still backfilling cannot be read.
fn resolve_index(table: &Table, v: &Value) -> Result<Option<IndexMeta>, AwsError> {
    let Some(name) = get_str(v, "IndexName") else { return Ok(None) };
    let meta = table.meta();
    let Some(ix) = meta.index(name).filter(|i| i.status != "DELETING") else {
        return Err(AwsError::validation(format!("The table does not have the specified index: {name}")));
    };
    if ix.status == "CREATING" {
        return Err(AwsError::validation(format!("Cannot read from backfilling global secondary index: {name}")));
    }
    Ok(Some(ix.clone()))
}

/// Parses the parameters Query and Scan share (after the key condition, which shares the context).
fn common(v: &Value, ectx: &mut nimbus_dynamodb_expr::ExprContext, table: &Table, index: Option<&IndexMeta>, legacy_filter: &str) -> Result<Common, AwsError> {
    let filter = match get_str(v, "FilterExpression") {
        Some(e) => Some(Condition::parse_filter(e, ectx).map_err(expr_err)?),
        None => nimbus_dynamodb_expr::legacy_condition(
            v.get(legacy_filter),
            get_str(v, "ConditionalOperator"),
            nimbus_dynamodb_expr::LegacyKind::Filter,
        )
        .map_err(expr_err)?,
    };
    let proj_expr = get_str(v, "ProjectionExpression");
    let legacy_proj = crate::items::attributes_to_get(v)?;
    let proj_name = if proj_expr.is_some() { "ProjectionExpression" } else { "AttributesToGet" };
    let projection = match proj_expr {
        Some(e) => Some(Projection::parse(e, ectx).map_err(expr_err)?),
        None => legacy_proj,
    };
    let select = get_str(v, "Select");
    let count_only = match (select, projection.is_some()) {
        (Some("COUNT"), true) => {
            return Err(AwsError::validation(format!("Cannot specify the {proj_name} when choosing to get only the Count")))
        }
        (Some("COUNT"), false) => true,
        (Some("ALL_ATTRIBUTES"), true) => {
            return Err(AwsError::validation(format!("Cannot specify the {proj_name} when choosing to get ALL_ATTRIBUTES")))
        }
        (Some("SPECIFIC_ATTRIBUTES"), false) => {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: Select type SPECIFIC_ATTRIBUTES requires a ProjectionExpression",
            ))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), _) if index.is_none() => {
            return Err(AwsError::validation(
                "One or more parameter values were invalid: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
            ))
        }
        (Some("ALL_PROJECTED_ATTRIBUTES"), true) => {
            return Err(AwsError::validation(format!("Cannot specify the {proj_name} when choosing to get ALL_PROJECTED_ATTRIBUTES")))
        }
        _ => false,
    };
    let limit = v.get("Limit").and_then(Value::as_i64).map(|l| l.max(1) as usize);
    let consistent = v.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
    let mut fetch_full = false;
    if let Some(ix) = index {
        if consistent && !ix.local {
            return Err(AwsError::validation("Consistent reads are not supported on global secondary indexes"));
        }
        if ix.projection != "ALL" {
            let all = select == Some("ALL_ATTRIBUTES");
            if all && !ix.local {
                return Err(AwsError::validation(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    ix.name
                )));
            }
            let mut names: Vec<String> = Vec::new();
            if let Some(p) = &projection {
                names.extend(p.top_level_names());
            }
            if let Some(f) = &filter {
                names.extend(f.referenced_attributes());
            }
            fetch_full = ix.local && (all || !ix.projects_all(table, &names));
        }
    }
    Ok(Common { filter, projection, count_only, limit, consistent, fetch_full })
}

fn check_between(a: &AttrValue, b: &AttrValue, ka: &[u8], kb: &[u8]) -> Result<(), AwsError> {
    if ka > kb {
        return Err(AwsError::validation(format!(
            "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
            a.short_repr(),
            b.short_repr()
        )));
    }
    Ok(())
}

fn ty_mismatch() -> AwsError {
    AwsError::validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
}

fn segment_of(item: &Item, table: &Table, total: u64) -> u64 {
    // FNV-1a over the partition key bytes: stable across restarts.
    let bytes = item.get(&table.hash.name).and_then(sort_key_bytes).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % total.max(1)
}

impl Inner {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        v: &Value,
        table: &Table,
        index: Option<&IndexMeta>,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        dir: Direction,
        c: &Common,
        pre: &dyn Fn(&Item) -> bool,
    ) -> Result<Output, AwsError> {
        let name = table.name.clone();
        let empty = match (&lo, &hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b)) | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
            _ => false,
        };
        let mut items = Vec::new();
        let mut count = 0usize;
        let mut scanned = 0usize;
        let mut bytes = 0usize;
        let mut last: Option<Item> = None;
        let mut stopped = false;
        if !empty {
            let ks = if index.is_some() { KS_INDEX } else { KS_ITEMS };
            for kv in self.store.range(ks, (lo, hi), dir).map_err(store_err)? {
                let (_, raw) = kv.map_err(store_err)?;
                let mut item = decode_item(&raw)?;
                if !pre(&item) {
                    continue;
                }
                if c.fetch_full {
                    // A local index: the rest of the item comes from the table.
                    match self.load(&key_param(table, &key_of(table, &item))?)? {
                        Some(full) => item = full,
                        None => continue,
                    }
                }
                scanned += 1;
                bytes += item_size(&item);
                let keep = match &c.filter {
                    Some(f) => f.eval(&item).map_err(expr_err)?,
                    None => true,
                };
                if keep {
                    count += 1;
                    if !c.count_only {
                        let shown = match &c.projection {
                            Some(p) => p.apply(&item),
                            None => item.clone(),
                        };
                        items.push(item_to_json(&shown));
                    }
                }
                last = Some(item);
                if c.limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES {
                    stopped = true;
                    break;
                }
            }
        }
        let mut resp = Map::new();
        if !c.count_only {
            resp.insert("Items".into(), Value::Array(items));
        }
        resp.insert("Count".into(), json!(count));
        resp.insert("ScannedCount".into(), json!(scanned));
        if stopped {
            if let Some(l) = &last {
                let k = match index {
                    Some(ix) => ix.lek(table, l),
                    None => key_of(table, l),
                };
                resp.insert("LastEvaluatedKey".into(), item_to_json(&k));
            }
        }
        let units = read_units(bytes, c.consistent);
        charge(table, false, units);
        // A read through an index consumes the index's capacity, not the table's.
        let rendered = match index {
            Some(ix) => Rcc::from(v).render_indexes(
                &name,
                0.0,
                &[crate::capacity::IndexUnits { name: ix.name.clone(), local: ix.local, units }],
                true,
            ),
            None => Rcc::from(v).render(&name, units, true),
        };
        if let Some(cc) = rendered {
            resp.insert("ConsumedCapacity".into(), cc);
        }
        out(Value::Object(resp))
    }

    fn start_key(&self, v: &Value, table: &Table, index: Option<&IndexMeta>) -> Result<Option<Vec<u8>>, AwsError> {
        const MSG: &str = "The provided starting key is invalid: The provided key element does not match the schema";
        match v.get("ExclusiveStartKey").filter(|x| !x.is_null()) {
            None => Ok(None),
            Some(_) => {
                let k = item_param(v, "ExclusiveStartKey")?;
                let Some(ix) = index else {
                    return key_param_msg(table, &k, MSG).map(Some);
                };
                // The table key and the index key.
                let tk = key_of(table, &k);
                key_param_msg(table, &tk, MSG)?;
                let names: std::collections::BTreeSet<&str> = table.key_names().into_iter().chain(ix.key_names()).collect();
                if k.len() != names.len() || !k.keys().all(|n| names.contains(n.as_str())) {
                    return Err(AwsError::validation(MSG));
                }
                ix.entry_key(table, &k).map(Some).ok_or_else(|| AwsError::validation(MSG))
            }
        }
    }

    pub(crate) fn query(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        check_mixing(
            v,
            &["ProjectionExpression", "FilterExpression", "KeyConditionExpression"],
            &["AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"],
        )?;
        let name = get_str(v, "TableName").unwrap_or_default();
        let kce = get_str(v, "KeyConditionExpression");
        let legacy_kc = v.get("KeyConditions").filter(|x| !x.is_null());
        if kce.is_none() && legacy_kc.is_none() {
            return Err(AwsError::validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."));
        }
        let has_expr = ["KeyConditionExpression", "FilterExpression", "ProjectionExpression"].iter().any(|k| v.get(*k).is_some_and(|x| !x.is_null()));
        let mut ectx = context(v, has_expr)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, false)?;
        let index = resolve_index(&table, v)?;
        let (hash, range) = match &index {
            Some(ix) => (ix.hash.clone(), ix.range.clone()),
            None => (table.hash.clone(), table.range.clone()),
        };
        let kc = match (kce, legacy_kc) {
            (Some(kce), _) => KeyCondition::parse(kce, &mut ectx, &hash.name, range.as_ref().map(|r| r.name.as_str())),
            (None, Some(l)) => nimbus_dynamodb_expr::legacy_key_condition(l, &hash.name, range.as_ref().map(|r| r.name.as_str())),
            (None, None) => Err(nimbus_dynamodb_expr::ExprError::new("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")),
        }
        .map_err(expr_err)?;
        let c = common(v, &mut ectx, &table, index.as_ref(), "QueryFilter")?;
        ectx.check_all_used().map_err(expr_err)?;
        if kc.hash_value.type_name() != hash.ty {
            return Err(ty_mismatch());
        }
        let ty = range.as_ref().map(|r| r.ty.as_str()).unwrap_or("");
        let (prefix, mut lo, mut hi) = match &index {
            None => {
                let prefix = partition_prefix(&table.id, &kc.hash_value);
                let end = partition_end(&prefix);
                let at = |x: &AttrValue| -> Result<Vec<u8>, AwsError> {
                    if x.type_name() != ty {
                        return Err(ty_mismatch());
                    }
                    let mut k = prefix.clone();
                    k.extend_from_slice(&sort_key_bytes(x).unwrap_or_default());
                    Ok(k)
                };
                let (mut lo, mut hi) = (Bound::Included(prefix.clone()), Bound::Excluded(end.clone()));
                match &kc.range {
                    None => {}
                    Some(RangeCondition::Eq(x)) => {
                        lo = Bound::Included(at(x)?);
                        hi = Bound::Included(at(x)?);
                    }
                    Some(RangeCondition::Lt(x)) => hi = Bound::Excluded(at(x)?),
                    Some(RangeCondition::Le(x)) => hi = Bound::Included(at(x)?),
                    Some(RangeCondition::Gt(x)) => lo = Bound::Excluded(at(x)?),
                    Some(RangeCondition::Ge(x)) => lo = Bound::Included(at(x)?),
                    Some(RangeCondition::Between(a, b)) => {
                        let (ka, kb) = (at(a)?, at(b)?);
                        check_between(a, b, &ka, &kb)?;
                        lo = Bound::Included(ka);
                        hi = Bound::Included(kb);
                    }
                    Some(RangeCondition::BeginsWith(x)) => {
                        if !matches!(x, AttrValue::S(_) | AttrValue::B(_)) || x.type_name() != ty {
                            return Err(ty_mismatch());
                        }
                        lo = Bound::Included(at(x)?);
                    }
                }
                (prefix, lo, hi)
            }
            Some(ix) => {
                // Index keys: escaped sort key, then the table key.
                let prefix = ix.partition_prefix(&kc.hash_value);
                let end = partition_end(&prefix);
                let esc = |x: &AttrValue| -> Result<Vec<u8>, AwsError> {
                    if x.type_name() != ty {
                        return Err(ty_mismatch());
                    }
                    let mut k = prefix.clone();
                    escape_into(&mut k, &sort_key_bytes(x).unwrap_or_default());
                    Ok(k)
                };
                let (mut lo, mut hi) = (Bound::Included(prefix.clone()), Bound::Excluded(end.clone()));
                match &kc.range {
                    None => {}
                    Some(RangeCondition::Eq(x)) => {
                        let k = esc(x)?;
                        hi = Bound::Excluded(partition_end(&k));
                        lo = Bound::Included(k);
                    }
                    Some(RangeCondition::Lt(x)) => hi = Bound::Excluded(esc(x)?),
                    Some(RangeCondition::Le(x)) => hi = Bound::Excluded(partition_end(&esc(x)?)),
                    Some(RangeCondition::Gt(x)) => lo = Bound::Included(partition_end(&esc(x)?)),
                    Some(RangeCondition::Ge(x)) => lo = Bound::Included(esc(x)?),
                    Some(RangeCondition::Between(a, b)) => {
                        let (ka, kb) = (esc(a)?, esc(b)?);
                        check_between(a, b, &ka, &kb)?;
                        lo = Bound::Included(ka);
                        hi = Bound::Excluded(partition_end(&kb));
                    }
                    Some(RangeCondition::BeginsWith(x)) => {
                        if !matches!(x, AttrValue::S(_) | AttrValue::B(_)) || x.type_name() != ty {
                            return Err(ty_mismatch());
                        }
                        let mut k = esc(x)?;
                        k.truncate(k.len().saturating_sub(2));
                        lo = Bound::Included(k);
                    }
                }
                (prefix, lo, hi)
            }
        };
        let forward = v.get("ScanIndexForward").and_then(Value::as_bool).unwrap_or(true);
        if let Some(esk) = self.start_key(v, &table, index.as_ref())? {
            if !esk.starts_with(&prefix) {
                return Err(AwsError::validation("The provided starting key is invalid: The provided key element does not match the schema"));
            }
            if forward {
                lo = Bound::Excluded(esk);
            } else {
                hi = Bound::Excluded(esk);
            }
        }
        let dir = if forward { Direction::Forward } else { Direction::Reverse };
        let range_name = range.as_ref().map(|r| r.name.clone());
        let rc = kc.range.clone();
        let pre = move |item: &Item| match (&rc, &range_name) {
            (Some(r), Some(n)) => item.get(n).is_some_and(|x| r.matches(x)),
            _ => true,
        };
        self.run(v, &table, index.as_ref(), lo, hi, dir, &c, &pre)
    }

    pub(crate) fn scan(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        check_mixing(v, &["ProjectionExpression", "FilterExpression"], &["AttributesToGet", "ScanFilter", "ConditionalOperator"])?;
        let name = get_str(v, "TableName").unwrap_or_default();
        let has_expr = v.get("FilterExpression").is_some() || v.get("ProjectionExpression").is_some();
        let mut ectx = context(v, has_expr)?;
        let table = self.require_table(ctx, name)?;
        admit(&table, false)?;
        let index = resolve_index(&table, v)?;
        let c = common(v, &mut ectx, &table, index.as_ref(), "ScanFilter")?;
        ectx.check_all_used().map_err(expr_err)?;
        let segment = v.get("Segment").and_then(Value::as_i64);
        let total = v.get("TotalSegments").and_then(Value::as_i64);
        let seg = match (segment, total) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(AwsError::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ))
            }
            (None, Some(_)) => {
                return Err(AwsError::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ))
            }
            (Some(s), Some(t)) => {
                if s < 0 || t < 1 || s >= t {
                    return Err(AwsError::validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                    )));
                }
                Some((s as u64, t as u64))
            }
        };
        let (mut lo, hi) = match &index {
            Some(ix) => (Bound::Included(ix.id.as_bytes().to_vec()), Bound::Excluded(ix.end())),
            None => (Bound::Included(table.id.as_bytes().to_vec()), Bound::Excluded(table_end(&table.id))),
        };
        if let Some(esk) = self.start_key(v, &table, index.as_ref())? {
            lo = Bound::Excluded(esk);
        }
        let t2 = table.clone();
        let pre = move |item: &Item| match seg {
            Some((s, t)) => segment_of(item, &t2, t) == s,
            None => true,
        };
        self.run(v, &table, index.as_ref(), lo, hi, Direction::Forward, &c, &pre)
    }
}
