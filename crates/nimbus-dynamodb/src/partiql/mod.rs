//! PartiQL: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.
//!
//! [`parser`] turns a statement into a tree; this module plans it as item-API requests
//! ([`expr`] renders the expressions): a SELECT whose WHERE pins the partition key with
//! `=` becomes a Query (plus a sort-key condition when there is one; the rest is a
//! filter), any other SELECT a Scan; INSERT is a PutItem refusing an existing key
//! (DuplicateItemException); UPDATE an UpdateItem on an existing item; DELETE a
//! DeleteItem. Write statements must name the full primary key with `=`; their other
//! conditions become the ConditionExpression. Transactions become TransactWriteItems
//! (or TransactGetItems for reads), so they share its all-or-nothing commit,
//! conflicts and ClientRequestToken idempotency.

mod expr;
mod lex;
mod parser;

use nimbus_dynamodb_expr::{item_to_json, AttrValue};
use nimbus_protocol::Output;
use nimbus_types::{AwsError, RequestContext};
use serde_json::{json, Map, Value};

use self::expr::{conjuncts, is_range_cond, key_eq, key_left, Ex};
use self::parser::{parse, Expr, Returning, Stmt};
use crate::{get_str, out, Inner};

fn full_key_missing() -> AwsError {
    AwsError::validation("Where clause does not contain a mandatory equality on all key attributes")
}

fn duplicate() -> AwsError {
    AwsError::new(400, "DuplicateItemException", "Duplicate primary key exists in table")
}

/// The statement's `Parameters`, as attribute values.
fn params(v: &Value) -> Result<Vec<AttrValue>, AwsError> {
    match v.get("Parameters").filter(|p| !p.is_null()) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|x| AttrValue::from_json(x).map_err(crate::expr_err)).collect(),
        Some(_) => Err(AwsError::validation("Parameters must be a list of attribute values")),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A write statement planned as an item-API request.
struct Write {
    /// PutItem, UpdateItem, DeleteItem or a ConditionCheck (transactions only).
    kind: &'static str,
    req: Map<String, Value>,
    insert: bool,
}

impl Inner {
    /// Splits a write statement's WHERE into the key (every key attribute with `=`) and
    /// the remaining condition.
    fn split_key(&self, ctx: &RequestContext, table: &str, filter: &Expr) -> Result<(Value, Vec<Expr>, String), AwsError> {
        let t = self.require_table(ctx, table)?;
        let mut rest = Vec::new();
        conjuncts(filter, &mut rest);
        let mut key = Map::new();
        for name in t.key_names() {
            let pos = rest.iter().position(|c| key_eq(c, name).is_some()).ok_or_else(full_key_missing)?;
            let c = rest.remove(pos);
            if let Some(v) = key_eq(&c, name) {
                key.insert(name.to_string(), v.to_json());
            }
        }
        Ok((Value::Object(key), rest, t.hash.name.clone()))
    }

    fn plan_write(&self, ctx: &RequestContext, stmt: &Stmt, v: &Value) -> Result<Write, AwsError> {
        let mut req = Map::new();
        req.insert("TableName".into(), json!(stmt.table()));
        for k in ["ReturnConsumedCapacity", "ReturnValuesOnConditionCheckFailure"] {
            if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
                req.insert(k.into(), x.clone());
            }
        }
        let mut ex = Ex::default();
        let (kind, insert) = match stmt {
            Stmt::Insert { table, item } => {
                let t = self.require_table(ctx, table)?;
                req.insert("Item".into(), item_to_json(item));
                let h = ex.name(&t.hash.name);
                req.insert("ConditionExpression".into(), json!(format!("attribute_not_exists({h})")));
                ("PutItem", true)
            }
            Stmt::Update { table, sets, removes, filter, returning } => {
                let (key, rest, hash) = self.split_key(ctx, table, filter)?;
                req.insert("Key".into(), key);
                let upd = ex.update(sets, removes)?;
                req.insert("UpdateExpression".into(), json!(upd));
                // UPDATE changes an existing item only.
                let h = ex.name(&hash);
                let mut cond = format!("attribute_exists({h})");
                if let Some(r) = ex.conds(&rest) {
                    cond = format!("{cond} AND {r}");
                }
                req.insert("ConditionExpression".into(), json!(cond));
                let rv = match returning {
                    None => "NONE",
                    Some(Returning::AllOld) => "ALL_OLD",
                    Some(Returning::ModifiedOld) => "UPDATED_OLD",
                    Some(Returning::AllNew) => "ALL_NEW",
                    Some(Returning::ModifiedNew) => "UPDATED_NEW",
                };
                req.insert("ReturnValues".into(), json!(rv));
                ("UpdateItem", false)
            }
            Stmt::Delete { table, filter, returning } => {
                let (key, rest, _) = self.split_key(ctx, table, filter)?;
                req.insert("Key".into(), key);
                if let Some(r) = ex.conds(&rest) {
                    req.insert("ConditionExpression".into(), json!(r));
                }
                match returning {
                    None => {}
                    Some(Returning::AllOld) => {
                        req.insert("ReturnValues".into(), json!("ALL_OLD"));
                    }
                    Some(r) => {
                        let what = match r {
                            Returning::ModifiedOld => "MODIFIED OLD *",
                            Returning::AllNew => "ALL NEW *",
                            _ => "MODIFIED NEW *",
                        };
                        return Err(AwsError::validation(format!(
                            "Invalid returning clause: RETURNING {what}. Only RETURNING ALL OLD * is allowed in DELETE statements."
                        )));
                    }
                }
                ("DeleteItem", false)
            }
            Stmt::Exists { table, filter } => {
                let (key, rest, hash) = self.split_key(ctx, table, filter)?;
                req.insert("Key".into(), key);
                let h = ex.name(&hash);
                let mut cond = format!("attribute_exists({h})");
                if let Some(r) = ex.conds(&rest) {
                    cond = format!("{cond} AND {r}");
                }
                req.insert("ConditionExpression".into(), json!(cond));
                ("ConditionCheck", false)
            }
            Stmt::Select { .. } => return Err(AwsError::internal("a read planned as a write")),
        };
        ex.finish(&mut req);
        Ok(Write { kind, req, insert })
    }

    fn run_write(&self, ctx: &RequestContext, stmt: &Stmt, v: &Value) -> Result<Value, AwsError> {
        let w = self.plan_write(ctx, stmt, v)?;
        if w.kind == "ConditionCheck" {
            return Err(AwsError::validation("EXISTS can only be used in ExecuteTransaction write requests."));
        }
        let req = Value::Object(w.req);
        let r = match w.kind {
            "PutItem" => self.put_item(ctx, &req),
            "UpdateItem" => self.update_item(ctx, &req),
            _ => self.delete_item(ctx, &req),
        };
        let o = match r {
            Ok(o) => o.value,
            Err(e) if w.insert && e.code == "ConditionalCheckFailedException" => return Err(duplicate()),
            Err(e) => return Err(e),
        };
        let mut resp = Map::new();
        let items: Vec<Value> = o.get("Attributes").cloned().into_iter().collect();
        resp.insert("Items".into(), Value::Array(items));
        if let Some(c) = o.get("ConsumedCapacity") {
            resp.insert("ConsumedCapacity".into(), c.clone());
        }
        Ok(Value::Object(resp))
    }

    /// Plans and runs a SELECT as a Query or Scan.
    fn run_select(&self, ctx: &RequestContext, stmt: &Stmt, v: &Value, need_full_key: bool) -> Result<Value, AwsError> {
        let Stmt::Select { from, projection, filter, order } = stmt else {
            return Err(AwsError::internal("a write planned as a read"));
        };
        let table = self.require_table(ctx, &from.table)?;
        let meta = table.meta();
        let (hash, range) = match &from.index {
            Some(ix) => {
                let Some(i) = meta.index(ix) else {
                    return Err(AwsError::validation(format!("The table does not have the specified index: {ix}")));
                };
                if !i.local && v.get("ConsistentRead").and_then(Value::as_bool) == Some(true) {
                    return Err(AwsError::validation("Strongly consistent read is not supported on Global Secondary Indexes"));
                }
                (i.hash.clone(), i.range.clone())
            }
            None => (table.hash.clone(), table.range.clone()),
        };
        let mut rest = Vec::new();
        if let Some(f) = filter {
            conjuncts(f, &mut rest);
        }
        let mut ex = Ex::default();
        let mut req = Map::new();
        req.insert("TableName".into(), json!(from.table));
        if let Some(ix) = &from.index {
            req.insert("IndexName".into(), json!(ix));
        }
        let hash_pos = rest.iter().position(|c| key_eq(c, &hash.name).is_some_and(|x| x.type_name() == hash.ty));
        let query = if let Some(pos) = hash_pos {
            let c = rest.remove(pos);
            let mut kce = ex.cond(&key_left(c));
            if let Some(r) = &range {
                if let Some(rp) = rest.iter().position(|c| is_range_cond(c, &r.name, &r.ty)) {
                    let c = rest.remove(rp);
                    kce = format!("{kce} AND {}", ex.cond(&key_left(c)));
                }
            }
            req.insert("KeyConditionExpression".into(), json!(kce));
            true
        } else {
            false
        };
        if need_full_key {
            // A batch read is a GetItem: it names the table's full key.
            let mut all = Vec::new();
            if let Some(f) = filter {
                conjuncts(f, &mut all);
            }
            if from.index.is_some() || !table.key_names().iter().all(|n| all.iter().any(|c| key_eq(c, n).is_some())) {
                return Err(full_key_missing());
            }
        }
        if let Some(f) = ex.conds(&rest) {
            req.insert("FilterExpression".into(), json!(f));
        }
        if let Some(p) = projection {
            let parts: Vec<String> = p.iter().map(|x| ex.path(x)).collect();
            req.insert("ProjectionExpression".into(), json!(parts.join(", ")));
        }
        if let Some((p, desc)) = order {
            if filter.is_none() {
                return Err(AwsError::validation("Must have WHERE clause in the statement when using ORDER BY clause."));
            }
            if !query {
                return Err(AwsError::validation(
                    "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause.",
                ));
            }
            let on_key = p.top().is_some_and(|n| n == hash.name || range.as_ref().is_some_and(|r| r.name == n));
            if !on_key {
                let shown = p.0.iter().map(|e| match e {
                    parser::PathElem::Name(n) => n.clone(),
                    parser::PathElem::Index(i) => format!("[{i}]"),
                }).collect::<Vec<_>>().join(".");
                return Err(AwsError::validation(format!("Variable reference {shown} in ORDER BY clause must be part of the primary key")));
            }
            req.insert("ScanIndexForward".into(), json!(!desc));
        }
        for k in ["Limit", "ConsistentRead", "ReturnConsumedCapacity"] {
            if let Some(x) = v.get(k).filter(|x| !x.is_null()) {
                req.insert(k.into(), x.clone());
            }
        }
        if let Some(tok) = get_str(v, "NextToken") {
            let start = unhex(tok)
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(Value::is_object)
                .ok_or_else(|| AwsError::validation("Invalid NextToken"))?;
            req.insert("ExclusiveStartKey".into(), start);
        }
        ex.finish(&mut req);
        let req = Value::Object(req);
        let o = if query { self.query(ctx, &req)? } else { self.scan(ctx, &req)? }.value;
        let mut resp = Map::new();
        resp.insert("Items".into(), o.get("Items").cloned().unwrap_or_else(|| json!([])));
        if let Some(k) = o.get("LastEvaluatedKey") {
            resp.insert("NextToken".into(), json!(hex(&serde_json::to_vec(k).unwrap_or_default())));
            resp.insert("LastEvaluatedKey".into(), k.clone());
        }
        if let Some(c) = o.get("ConsumedCapacity") {
            resp.insert("ConsumedCapacity".into(), c.clone());
        }
        Ok(Value::Object(resp))
    }

    fn run_statement(&self, ctx: &RequestContext, v: &Value, batch: bool) -> Result<(Stmt, Value), AwsError> {
        let text = get_str(v, "Statement").unwrap_or_default();
        let stmt = parse(text, &params(v)?)?;
        if let Stmt::Exists { .. } = stmt {
            return Err(AwsError::validation("EXISTS can only be used in ExecuteTransaction write requests."));
        }
        let r = if stmt.is_read() { self.run_select(ctx, &stmt, v, batch)? } else { self.run_write(ctx, &stmt, v)? };
        Ok((stmt, r))
    }

    pub(crate) fn execute_statement(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (_, r) = self.run_statement(ctx, v, false)?;
        out(r)
    }

    pub(crate) fn batch_execute_statement(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let stmts = v.get("Statements").and_then(Value::as_array).cloned().unwrap_or_default();
        if stmts.len() > 25 {
            return Err(AwsError::validation("1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to 25"));
        }
        let rcc = v.get("ReturnConsumedCapacity").cloned();
        let mut responses = Vec::new();
        let mut caps: Vec<(String, f64)> = Vec::new();
        for s in &stmts {
            let mut sv = s.clone();
            if let (Some(o), Some(r)) = (sv.as_object_mut(), &rcc) {
                o.insert("ReturnConsumedCapacity".into(), r.clone());
            }
            let table = parse(get_str(s, "Statement").unwrap_or_default(), &params(s).unwrap_or_default()).ok().map(|st| st.table().to_string());
            let mut resp = Map::new();
            if let Some(t) = &table {
                resp.insert("TableName".into(), json!(t));
            }
            match self.run_statement(ctx, &sv, true) {
                Ok((stmt, r)) => {
                    if stmt.is_read() {
                        if let Some(item) = r.get("Items").and_then(Value::as_array).and_then(|a| a.first()) {
                            resp.insert("Item".into(), item.clone());
                        }
                    }
                    if let Some(c) = r.get("ConsumedCapacity") {
                        let units = c.get("CapacityUnits").and_then(Value::as_f64).unwrap_or(0.0);
                        let name = c.get("TableName").and_then(Value::as_str).unwrap_or_default().to_string();
                        match caps.iter_mut().find(|(n, _)| *n == name) {
                            Some(x) => x.1 += units,
                            None => caps.push((name, units)),
                        }
                    }
                }
                Err(e) => {
                    let mut err = Map::new();
                    err.insert("Code".into(), json!(batch_code(&e.code)));
                    err.insert("Message".into(), json!(e.message));
                    if let Some(item) = e.fields.as_ref().and_then(|f| f.get("Item")) {
                        err.insert("Item".into(), item.clone());
                    }
                    resp.insert("Error".into(), Value::Object(err));
                }
            }
            responses.push(Value::Object(resp));
        }
        let mut resp = Map::new();
        resp.insert("Responses".into(), Value::Array(responses));
        if matches!(rcc.as_ref().and_then(Value::as_str), Some("TOTAL" | "INDEXES")) {
            let c: Vec<Value> = caps.into_iter().map(|(n, u)| json!({"TableName": n, "CapacityUnits": u})).collect();
            resp.insert("ConsumedCapacity".into(), Value::Array(c));
        }
        out(Value::Object(resp))
    }

    pub(crate) fn execute_transaction(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let list = v.get("TransactStatements").and_then(Value::as_array).cloned().unwrap_or_default();
        if list.len() > 100 {
            return Err(AwsError::validation("1 validation error detected: Value at 'transactStatements' failed to satisfy constraint: Member must have length less than or equal to 100"));
        }
        let mut stmts = Vec::with_capacity(list.len());
        for s in &list {
            stmts.push(parse(get_str(s, "Statement").unwrap_or_default(), &params(s)?)?);
        }
        let reads = stmts.iter().filter(|s| s.is_read()).count();
        if reads > 0 && reads < stmts.len() {
            return Err(AwsError::validation("Unsupported operation in transaction."));
        }
        let rcc = v.get("ReturnConsumedCapacity").cloned();
        if reads > 0 {
            let mut items = Vec::new();
            for s in &stmts {
                let Stmt::Select { from, projection, filter, .. } = s else { continue };
                if from.index.is_some() {
                    return Err(AwsError::validation("Reads on indices are not supported within transactions."));
                }
                let keys_err = || AwsError::validation("Select statements within ExecuteTransaction must specify the primary key in the where clause.");
                let (key, rest, _) = self.split_key(ctx, &from.table, filter.as_ref().ok_or_else(keys_err)?).map_err(|e| {
                    if e.message.starts_with("Where clause") {
                        keys_err()
                    } else {
                        e
                    }
                })?;
                if !rest.is_empty() {
                    return Err(keys_err());
                }
                let mut get = Map::new();
                get.insert("TableName".into(), json!(from.table));
                get.insert("Key".into(), key);
                let mut ex = Ex::default();
                if let Some(p) = projection {
                    let parts: Vec<String> = p.iter().map(|x| ex.path(x)).collect();
                    get.insert("ProjectionExpression".into(), json!(parts.join(", ")));
                }
                ex.finish(&mut get);
                items.push(json!({"Get": get}));
            }
            let mut req = json!({"TransactItems": items});
            if let (Some(o), Some(r)) = (req.as_object_mut(), &rcc) {
                o.insert("ReturnConsumedCapacity".into(), r.clone());
            }
            return self.transact_get(ctx, &req);
        }
        let mut items = Vec::new();
        let mut inserts = Vec::new();
        for (s, sv) in stmts.iter().zip(&list) {
            if matches!(s, Stmt::Update { returning: Some(_), .. } | Stmt::Delete { returning: Some(_), .. }) {
                return Err(AwsError::validation("Unsupported operation in transaction."));
            }
            let mut w = self.plan_write(ctx, s, sv)?;
            w.req.remove("ReturnConsumedCapacity");
            w.req.remove("ReturnValues");
            let kind = match w.kind {
                "PutItem" => "Put",
                "UpdateItem" => "Update",
                "DeleteItem" => "Delete",
                _ => "ConditionCheck",
            };
            inserts.push(w.insert);
            items.push(json!({ kind: w.req }));
        }
        let mut req = Map::new();
        req.insert("TransactItems".into(), Value::Array(items));
        if let Some(t) = v.get("ClientRequestToken").filter(|x| !x.is_null()) {
            req.insert("ClientRequestToken".into(), t.clone());
        }
        if let Some(r) = rcc {
            req.insert("ReturnConsumedCapacity".into(), r);
        }
        match self.transact_write(ctx, &Value::Object(req)) {
            Ok(o) => {
                let mut resp = Map::new();
                if let Some(c) = o.value.get("ConsumedCapacity") {
                    resp.insert("ConsumedCapacity".into(), c.clone());
                }
                out(Value::Object(resp))
            }
            Err(e) if e.code == "TransactionCanceledException" => Err(rename_duplicates(e, &inserts)),
            Err(e) => Err(e),
        }
    }
}

/// In a cancelled transaction, an INSERT whose key exists fails as DuplicateItem.
fn rename_duplicates(mut e: AwsError, inserts: &[bool]) -> AwsError {
    let Some(fields) = e.fields.as_mut() else { return e };
    let Some(Value::Array(reasons)) = fields.get_mut("CancellationReasons") else { return e };
    for (r, ins) in reasons.iter_mut().zip(inserts) {
        if *ins && r.get("Code").and_then(Value::as_str) == Some("ConditionalCheckFailed") {
            *r = json!({"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"});
        }
    }
    let codes: Vec<String> = reasons.iter().map(|r| r.get("Code").and_then(Value::as_str).unwrap_or("None").to_string()).collect();
    e.message = format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", "));
    e
}

/// BatchStatementError codes for the exceptions a statement can raise.
fn batch_code(code: &str) -> &'static str {
    match code {
        "ConditionalCheckFailedException" => "ConditionalCheckFailed",
        "DuplicateItemException" => "DuplicateItem",
        "ValidationException" => "ValidationError",
        "ResourceNotFoundException" => "ResourceNotFound",
        "ProvisionedThroughputExceededException" => "ProvisionedThroughputExceeded",
        "TransactionConflictException" => "TransactionConflict",
        "ThrottlingException" => "ThrottlingError",
        "RequestLimitExceeded" => "RequestLimitExceeded",
        "ItemCollectionSizeLimitExceededException" => "ItemCollectionSizeLimitExceeded",
        "AccessDeniedException" => "AccessDenied",
        _ => "InternalServerError",
    }
}
