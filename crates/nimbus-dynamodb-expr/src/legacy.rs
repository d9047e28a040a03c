//! The legacy (pre-expression) parameters, translated into the expression structures:
//! `Expected`, `QueryFilter`/`ScanFilter` (+ `ConditionalOperator`) → [`Condition`],
//! `KeyConditions` → [`KeyCondition`], `AttributeUpdates` → [`Update`],
//! `AttributesToGet` → [`Projection`]. Validation messages are DynamoDB's.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::expr::{CmpOp, Cond, Operand};
use crate::update::{Action, SetValue, UOperand};
use crate::value::AttrValue;
use crate::{Condition, ExprError, KeyCondition, Path, PathElem, Projection, RangeCondition, Update};

fn invalid(msg: impl AsRef<str>) -> ExprError {
    ExprError::new(format!("One or more parameter values were invalid: {}", msg.as_ref()))
}

fn path(name: &str) -> Path {
    Path(vec![PathElem::Name(name.to_string())])
}

/// Which legacy condition map is being translated (they validate slightly differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyKind {
    /// `Expected` (PutItem, UpdateItem, DeleteItem): also accepts `Value`/`Exists`.
    Expected,
    /// `QueryFilter` / `ScanFilter`.
    Filter,
}

fn value_list(cond: &Map<String, Value>) -> Result<Vec<AttrValue>, ExprError> {
    match cond.get("AttributeValueList").filter(|v| !v.is_null()) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(AttrValue::from_json).collect(),
        Some(_) => Err(ExprError::new("AttributeValueList must be a list")),
    }
}

/// Checks an operator's argument count and types (DynamoDB's rules for
/// QueryFilter/ScanFilter/KeyConditions; Expected checks only the count).
fn check_args(op: &str, vals: &[AttrValue], check_types: bool) -> Result<(), ExprError> {
    let ok = match op {
        "EQ" | "NE" | "LE" | "LT" | "GE" | "GT" | "CONTAINS" | "NOT_CONTAINS" | "BEGINS_WITH" => vals.len() == 1,
        "NULL" | "NOT_NULL" => vals.is_empty(),
        "IN" => !vals.is_empty(),
        "BETWEEN" => vals.len() == 2,
        _ => {
            return Err(ExprError::new(format!(
                "1 validation error detected: Value '{op}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )))
        }
    };
    if !ok {
        return Err(invalid(format!("Invalid number of argument(s) for the {op} ComparisonOperator")));
    }
    if let Some(first) = vals.first() {
        if vals.iter().any(|v| v.type_name() != first.type_name()) {
            return Err(invalid("AttributeValues inside AttributeValueList must be of same type"));
        }
    }
    if check_types {
        let allowed: &[&str] = match op {
            "EQ" | "NE" => &["S", "N", "B", "SS", "NS", "BS"],
            "BEGINS_WITH" => &["S", "B"],
            _ => &["S", "N", "B"],
        };
        for v in vals {
            if !allowed.contains(&v.type_name()) {
                return Err(invalid(format!("ComparisonOperator {op} is not valid for {} AttributeValue type", v.type_name())));
            }
        }
    }
    if op == "BETWEEN" {
        if let [lo, hi] = vals {
            if lo.compare(hi) == Some(Ordering::Greater) {
                return Err(ExprError::new(
                    "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
                ));
            }
        }
    }
    Ok(())
}

/// The condition `attr <op> vals`.
fn op_cond(attr: &str, op: &str, mut vals: Vec<AttrValue>) -> Cond {
    let p = || Operand::Path(path(attr));
    let mut take = || Operand::Value(if vals.is_empty() { AttrValue::Null } else { vals.remove(0) });
    match op {
        "EQ" => Cond::Cmp(p(), CmpOp::Eq, take()),
        "NE" => Cond::Cmp(p(), CmpOp::Ne, take()),
        "LT" => Cond::Cmp(p(), CmpOp::Lt, take()),
        "LE" => Cond::Cmp(p(), CmpOp::Le, take()),
        "GT" => Cond::Cmp(p(), CmpOp::Gt, take()),
        "GE" => Cond::Cmp(p(), CmpOp::Ge, take()),
        "NULL" => Cond::NotExists(path(attr)),
        "NOT_NULL" => Cond::Exists(path(attr)),
        "CONTAINS" => Cond::Contains(p(), take()),
        // NOT_CONTAINS on a missing attribute is false in the legacy API.
        "NOT_CONTAINS" => Cond::And(Box::new(Cond::Exists(path(attr))), Box::new(Cond::Not(Box::new(Cond::Contains(p(), take()))))),
        "BEGINS_WITH" => Cond::BeginsWith(p(), take()),
        "BETWEEN" => {
            let lo = take();
            Cond::Between(p(), lo, take())
        }
        _ => Cond::In(p(), vals.into_iter().map(Operand::Value).collect()),
    }
}

/// Translates `Expected` or `QueryFilter`/`ScanFilter` (with `ConditionalOperator`) into a
/// condition. `None` when the map is absent or empty.
pub fn legacy_condition(conds: Option<&Value>, conditional_operator: Option<&str>, kind: LegacyKind) -> Result<Option<Condition>, ExprError> {
    let or = match conditional_operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(o) => {
            return Err(ExprError::new(format!(
                "1 validation error detected: Value '{o}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
            )))
        }
    };
    let Some(conds) = conds.filter(|v| !v.is_null()) else { return Ok(None) };
    let Some(obj) = conds.as_object() else {
        return Err(ExprError::new("Expected a map of attribute conditions"));
    };
    let mut parts = Vec::new();
    for (attr, c) in obj {
        let Some(c) = c.as_object() else {
            return Err(ExprError::new(format!("Invalid condition for attribute {attr}")));
        };
        let has = |k: &str| c.get(k).is_some_and(|v| !v.is_null());
        let op = c.get("ComparisonOperator").and_then(Value::as_str);
        let cond = if kind == LegacyKind::Expected {
            if has("AttributeValueList") && has("Value") {
                return Err(invalid(format!("Value and AttributeValueList cannot be used together for Attribute: {attr}")));
            }
            if let Some(op) = op {
                if has("Exists") {
                    return Err(invalid(format!("Exists and ComparisonOperator cannot be used together for Attribute: {attr}")));
                }
                if op != "NULL" && op != "NOT_NULL" && !has("AttributeValueList") && !has("Value") {
                    return Err(invalid(format!(
                        "Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {attr}"
                    )));
                }
                let vals = match c.get("Value").filter(|v| !v.is_null()) {
                    Some(v) => vec![AttrValue::from_json(v)?],
                    None => value_list(c)?,
                };
                check_args(op, &vals, false)?;
                op_cond(attr, op, vals)
            } else if has("AttributeValueList") {
                return Err(invalid(format!("AttributeValueList can only be used with a ComparisonOperator for Attribute: {attr}")));
            } else {
                let exists = c.get("Exists").filter(|v| !v.is_null());
                let exists_b = match exists {
                    None => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(ExprError::new(format!("Invalid Exists value for Attribute: {attr}"))),
                };
                let value = c.get("Value").filter(|v| !v.is_null());
                match (exists_b, value) {
                    (true, None) => {
                        let shown = if exists.is_none() { "null" } else { "true" };
                        return Err(invalid(format!("Value must be provided when Exists is {shown} for Attribute: {attr}")));
                    }
                    (false, Some(_)) => {
                        return Err(invalid(format!("Value cannot be used when Exists is false for Attribute: {attr}")));
                    }
                    (true, Some(v)) => Cond::Cmp(Operand::Path(path(attr)), CmpOp::Eq, Operand::Value(AttrValue::from_json(v)?)),
                    (false, None) => Cond::NotExists(path(attr)),
                }
            }
        } else {
            let Some(op) = op else {
                return Err(ExprError::new(
                    "1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null",
                ));
            };
            let vals = value_list(c)?;
            check_args(op, &vals, true)?;
            op_cond(attr, op, vals)
        };
        parts.push(cond);
    }
    let mut it = parts.into_iter();
    let Some(first) = it.next() else { return Ok(None) };
    let cond = it.fold(first, |acc, c| if or { Cond::Or(Box::new(acc), Box::new(c)) } else { Cond::And(Box::new(acc), Box::new(c)) });
    Ok(Some(Condition { cond }))
}

/// Translates `KeyConditions` for a key schema (`hash_key`, optional `range_key`).
pub fn legacy_key_condition(conds: &Value, hash_key: &str, range_key: Option<&str>) -> Result<KeyCondition, ExprError> {
    let Some(obj) = conds.as_object() else {
        return Err(ExprError::new("KeyConditions must be a map"));
    };
    if obj.is_empty() || obj.len() > 2 {
        return Err(ExprError::new("Conditions can be of length 1 or 2 only"));
    }
    let mut hash_value = None;
    let mut range = None;
    for (attr, c) in obj {
        let Some(c) = c.as_object() else {
            return Err(ExprError::new(format!("Invalid condition for attribute {attr}")));
        };
        let Some(op) = c.get("ComparisonOperator").and_then(Value::as_str) else {
            return Err(ExprError::new(
                "1 validation error detected: Value null at 'comparisonOperator' failed to satisfy constraint: Member must not be null",
            ));
        };
        let vals = value_list(c)?;
        check_args(op, &vals, true)?;
        let mut vals = vals.into_iter();
        let mut next = || vals.next().unwrap_or(AttrValue::Null);
        let rc = match op {
            "EQ" => RangeCondition::Eq(next()),
            "LT" => RangeCondition::Lt(next()),
            "LE" => RangeCondition::Le(next()),
            "GT" => RangeCondition::Gt(next()),
            "GE" => RangeCondition::Ge(next()),
            "BEGINS_WITH" => RangeCondition::BeginsWith(next()),
            "BETWEEN" => {
                let lo = next();
                RangeCondition::Between(lo, next())
            }
            _ => return Err(ExprError::new("Attempted conditional constraint is not an indexable operation")),
        };
        if attr == hash_key {
            match rc {
                RangeCondition::Eq(v) => hash_value = Some(v),
                _ => return Err(ExprError::new("Query key condition not supported")),
            }
        } else if Some(attr.as_str()) == range_key {
            range = Some(rc);
        } else {
            let missing = if obj.contains_key(hash_key) { range_key.unwrap_or(hash_key) } else { hash_key };
            return Err(ExprError::new(format!("Query condition missed key schema element: {missing}")));
        }
    }
    let Some(hash_value) = hash_value else {
        return Err(ExprError::new(format!("Query condition missed key schema element: {hash_key}")));
    };
    Ok(KeyCondition { hash_value, range })
}

/// Translates `AttributesToGet` into a projection of top-level attributes.
pub fn legacy_projection(names: &Value) -> Result<Projection, ExprError> {
    let Some(list) = names.as_array() else {
        return Err(ExprError::new("AttributesToGet must be a list"));
    };
    let mut paths: Vec<Path> = Vec::new();
    for n in list {
        let Some(s) = n.as_str() else {
            return Err(ExprError::new("AttributesToGet must be a list of strings"));
        };
        let p = path(s);
        if paths.contains(&p) {
            return Err(invalid(format!("Duplicate value in attribute name: {s}")));
        }
        paths.push(p);
    }
    Ok(Projection { paths })
}

/// Translates `AttributeUpdates` (PUT / ADD / DELETE actions) into an update.
pub fn legacy_update(updates: &Value, key_names: &[&str]) -> Result<Update, ExprError> {
    let Some(obj) = updates.as_object() else {
        return Err(ExprError::new("AttributeUpdates must be a map"));
    };
    let mut actions = Vec::new();
    for (attr, u) in obj {
        if key_names.contains(&attr.as_str()) {
            return Err(invalid(format!("Cannot update attribute {attr}. This attribute is part of the key")));
        }
        let Some(u) = u.as_object() else {
            return Err(ExprError::new(format!("Invalid update for attribute {attr}")));
        };
        let action = u.get("Action").and_then(Value::as_str).unwrap_or("PUT");
        let value = u.get("Value").filter(|v| !v.is_null()).map(AttrValue::from_json).transpose()?;
        let p = path(attr);
        match (action, value) {
            ("DELETE", None) => actions.push(Action::Remove(p)),
            (_, None) => return Err(invalid("Only DELETE action is allowed when no attribute value is specified")),
            ("PUT", Some(v)) => actions.push(Action::Set(p, SetValue::Operand(UOperand::Value(v)))),
            ("ADD", Some(v)) => match v {
                AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_) => actions.push(Action::Add(p, v)),
                AttrValue::L(_) => actions.push(Action::Set(
                    p.clone(),
                    SetValue::Operand(UOperand::ListAppend(
                        Box::new(UOperand::IfNotExists(p, Box::new(UOperand::Value(AttrValue::L(Vec::new()))))),
                        Box::new(UOperand::Value(v)),
                    )),
                )),
                other => return Err(invalid(format!("ADD action is not supported for the type {}", other.type_name()))),
            },
            ("DELETE", Some(v)) => match v {
                AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_) => actions.push(Action::Delete(p, v)),
                other => return Err(invalid(format!("DELETE action with value is not supported for the type {}", other.type_name()))),
            },
            (other, Some(_)) => {
                return Err(ExprError::new(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{attr}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )))
            }
        }
    }
    Ok(Update { actions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item_from_json;
    use serde_json::json;

    #[test]
    fn expected_and_filters() {
        let item = item_from_json(&json!({"a": {"N": "5"}, "s": {"SS": ["x", "y"]}, "t": {"S": "hello"}})).unwrap();
        let c = |v: Value, op: Option<&str>, k| legacy_condition(Some(&v), op, k).unwrap().unwrap().eval(&item).unwrap();
        assert!(c(json!({"a": {"Value": {"N": "5"}}}), None, LegacyKind::Expected));
        assert!(c(json!({"zz": {"Exists": false}}), None, LegacyKind::Expected));
        assert!(!c(json!({"a": {"Exists": false}}), None, LegacyKind::Expected));
        assert!(c(json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "9"}]}}), None, LegacyKind::Filter));
        assert!(c(json!({"s": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]}}), None, LegacyKind::Filter));
        assert!(!c(json!({"q": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "x"}]}}), None, LegacyKind::Filter));
        assert!(c(json!({"t": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}, "q": {"ComparisonOperator": "NOT_NULL"}}), Some("OR"), LegacyKind::Filter));
        let e = legacy_condition(Some(&json!({"a": {"ComparisonOperator": "EQ", "AttributeValueList": []}})), None, LegacyKind::Filter).unwrap_err();
        assert_eq!(e.message, "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator");
    }

    #[test]
    fn updates() {
        let mut item = item_from_json(&json!({"k": {"S": "1"}, "n": {"N": "5"}, "l": {"L": [{"N": "1"}]}, "s": {"SS": ["a", "b"]}})).unwrap();
        let u = legacy_update(
            &json!({"n": {"Action": "ADD", "Value": {"N": "2"}}, "l": {"Action": "ADD", "Value": {"L": [{"N": "2"}]}}, "s": {"Action": "DELETE", "Value": {"SS": ["a"]}}, "x": {"Value": {"S": "y"}}}),
            &["k"],
        )
        .unwrap();
        u.apply(&mut item).unwrap();
        assert_eq!(
            crate::item_to_json(&item),
            json!({"k": {"S": "1"}, "n": {"N": "7"}, "l": {"L": [{"N": "1"}, {"N": "2"}]}, "s": {"SS": ["b"]}, "x": {"S": "y"}})
        );
    }
}
