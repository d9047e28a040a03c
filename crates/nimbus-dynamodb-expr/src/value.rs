//! DynamoDB attribute values and their JSON wire form.

use crate::number::Number;
use crate::ExprError;
use base64::Engine;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Maximum nesting depth of M/L values accepted from JSON.
pub const MAX_NESTING: usize = 32;

/// A DynamoDB attribute value.
#[derive(Debug, Clone)]
pub enum AttrValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttrValue>),
    L(Vec<AttrValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item: attribute name -> value.
pub type Item = BTreeMap<String, AttrValue>;

fn same_set<T: Ord + Clone>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut x: Vec<T> = a.to_vec();
    let mut y: Vec<T> = b.to_vec();
    x.sort();
    y.sort();
    x == y
}

impl PartialEq for AttrValue {
    fn eq(&self, o: &AttrValue) -> bool {
        use AttrValue::*;
        match (self, o) {
            (S(a), S(b)) => a == b,
            (N(a), N(b)) => a == b,
            (B(a), B(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Null, Null) => true,
            (M(a), M(b)) => a == b,
            (L(a), L(b)) => a == b,
            (Ss(a), Ss(b)) => same_set(a, b),
            (Ns(a), Ns(b)) => same_set(a, b),
            (Bs(a), Bs(b)) => same_set(a, b),
            _ => false,
        }
    }
}

impl Eq for AttrValue {}

fn empty_err() -> ExprError {
    ExprError::new("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
}

fn b64_decode(s: &str) -> Result<Vec<u8>, ExprError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| ExprError::new(format!("Invalid Base64 encoding for binary value: {s}")))
}

fn b64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn dup_err(items: &[&str]) -> ExprError {
    ExprError::new(format!(
        "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
        items.join(", ")
    ))
}

fn str_array<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, ExprError> {
    let arr = v.as_array().ok_or_else(|| {
        ExprError::new(format!("Invalid value for {what}: expected a list of strings"))
    })?;
    arr.iter()
        .map(|x| {
            x.as_str().ok_or_else(|| {
                ExprError::new(format!("Invalid value for {what}: expected a list of strings"))
            })
        })
        .collect()
}

const TYPE_KEYS: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

impl AttrValue {
    /// Parses DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, ...).
    pub fn from_json(v: &Value) -> Result<AttrValue, ExprError> {
        Self::from_json_depth(v, 0)
    }

    fn from_json_depth(v: &Value, depth: usize) -> Result<AttrValue, ExprError> {
        let obj = v.as_object().ok_or_else(empty_err)?;
        let present: Vec<(&str, &Value)> = TYPE_KEYS
            .iter()
            .filter_map(|k| obj.get(*k).filter(|x| !x.is_null()).map(|x| (*k, x)))
            .collect();
        if present.is_empty() {
            return Err(empty_err());
        }
        if present.len() > 1 {
            return Err(ExprError::new(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ));
        }
        let (k, x) = present[0];
        let bad = |t: &str| ExprError::new(format!("Invalid value for attribute value type {t}"));
        Ok(match k {
            "S" => AttrValue::S(x.as_str().ok_or_else(|| bad("S"))?.to_string()),
            "N" => AttrValue::N(Number::parse(x.as_str().ok_or_else(|| bad("N"))?)?),
            "B" => AttrValue::B(b64_decode(x.as_str().ok_or_else(|| bad("B"))?)?),
            "BOOL" => AttrValue::Bool(x.as_bool().ok_or_else(|| bad("BOOL"))?),
            "NULL" => {
                if x.as_bool() != Some(true) {
                    return Err(ExprError::new(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true",
                    ));
                }
                AttrValue::Null
            }
            "M" => {
                if depth >= MAX_NESTING {
                    return Err(nesting_err());
                }
                let m = x.as_object().ok_or_else(|| bad("M"))?;
                let mut out = BTreeMap::new();
                for (name, val) in m {
                    out.insert(name.clone(), AttrValue::from_json_depth(val, depth + 1)?);
                }
                AttrValue::M(out)
            }
            "L" => {
                if depth >= MAX_NESTING {
                    return Err(nesting_err());
                }
                let l = x.as_array().ok_or_else(|| bad("L"))?;
                let mut out = Vec::with_capacity(l.len());
                for val in l {
                    out.push(AttrValue::from_json_depth(val, depth + 1)?);
                }
                AttrValue::L(out)
            }
            "SS" => {
                let items = str_array(x, "SS")?;
                if items.is_empty() {
                    return Err(ExprError::new(
                        "One or more parameter values were invalid: An string set  may not be empty",
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                if !items.iter().all(|s| seen.insert(*s)) {
                    return Err(dup_err(&items));
                }
                AttrValue::Ss(items.iter().map(|s| s.to_string()).collect())
            }
            "NS" => {
                let items = str_array(x, "NS")?;
                if items.is_empty() {
                    return Err(ExprError::new(
                        "One or more parameter values were invalid: An number set  may not be empty",
                    ));
                }
                let mut nums = Vec::with_capacity(items.len());
                for s in &items {
                    nums.push(Number::parse(s)?);
                }
                let mut seen = std::collections::BTreeSet::new();
                if !nums.iter().all(|n| seen.insert(n.clone())) {
                    return Err(dup_err(&items));
                }
                AttrValue::Ns(nums)
            }
            "BS" => {
                let items = str_array(x, "BS")?;
                if items.is_empty() {
                    return Err(ExprError::new(
                        "One or more parameter values were invalid: Binary sets should not be empty",
                    ));
                }
                let mut bins = Vec::with_capacity(items.len());
                for s in &items {
                    bins.push(b64_decode(s)?);
                }
                let mut seen = std::collections::BTreeSet::new();
                if !bins.iter().all(|b| seen.insert(b.clone())) {
                    return Err(dup_err(&items));
                }
                AttrValue::Bs(bins)
            }
            _ => return Err(empty_err()),
        })
    }

    /// Renders DynamoDB JSON with normalised numbers.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let (k, v) = match self {
            AttrValue::S(s) => ("S", Value::String(s.clone())),
            AttrValue::N(n) => ("N", Value::String(n.to_string())),
            AttrValue::B(b) => ("B", Value::String(b64_encode(b))),
            AttrValue::Bool(b) => ("BOOL", Value::Bool(*b)),
            AttrValue::Null => ("NULL", Value::Bool(true)),
            AttrValue::M(map) => ("M", item_to_json(map)),
            AttrValue::L(l) => ("L", Value::Array(l.iter().map(|x| x.to_json()).collect())),
            AttrValue::Ss(s) => ("SS", Value::Array(s.iter().map(|x| Value::String(x.clone())).collect())),
            AttrValue::Ns(s) => ("NS", Value::Array(s.iter().map(|x| Value::String(x.to_string())).collect())),
            AttrValue::Bs(s) => ("BS", Value::Array(s.iter().map(|x| Value::String(b64_encode(x))).collect())),
        };
        m.insert(k.to_string(), v);
        Value::Object(m)
    }

    /// The DynamoDB type descriptor.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::M(_) => "M",
            AttrValue::L(_) => "L",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    /// Long type name as used in some AWS messages ("STRING", "NUMBER", ...).
    pub fn long_type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "STRING",
            AttrValue::N(_) => "NUMBER",
            AttrValue::B(_) => "BINARY",
            AttrValue::Bool(_) => "BOOLEAN",
            AttrValue::Null => "NULL",
            AttrValue::M(_) => "MAP",
            AttrValue::L(_) => "LIST",
            AttrValue::Ss(_) => "STRING_SET",
            AttrValue::Ns(_) => "NUMBER_SET",
            AttrValue::Bs(_) => "BINARY_SET",
        }
    }

    /// Size in bytes following AWS's item size rules.
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => number_size(n),
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttrValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttrValue::Ss(s) => s.iter().map(|x| x.len()).sum(),
            AttrValue::Ns(s) => s.iter().map(number_size).sum(),
            AttrValue::Bs(s) => s.iter().map(|x| x.len()).sum(),
        }
    }

    /// Compares two scalar values of the same type (S, N, B); None otherwise.
    pub fn compare(&self, o: &AttrValue) -> Option<Ordering> {
        match (self, o) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// `{S:abc}`-style rendering used inside some AWS error messages.
    pub fn short_repr(&self) -> String {
        let inner = match self {
            AttrValue::S(s) => s.clone(),
            AttrValue::N(n) => n.to_string(),
            AttrValue::B(b) => b64_encode(b),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Null => "true".to_string(),
            other => other.to_json().to_string(),
        };
        format!("{{{}:{}}}", self.type_name(), inner)
    }
}

fn nesting_err() -> ExprError {
    ExprError::new("Nesting Levels have exceeded supported limits: Maximum depth is 32")
}

fn number_size(n: &Number) -> usize {
    if n.is_zero() {
        return 1;
    }
    n.significant_digits().div_ceil(2) + 1 + usize::from(n.is_negative())
}

/// Parses an object of attribute name -> DynamoDB JSON value.
pub fn item_from_json(v: &Value) -> Result<Item, ExprError> {
    let obj = v.as_object().ok_or_else(|| ExprError::new("Item must be a map of attribute names to values"))?;
    let mut out = Item::new();
    for (k, val) in obj {
        out.insert(k.clone(), AttrValue::from_json(val)?);
    }
    Ok(out)
}

/// Renders an item as an object of attribute name -> DynamoDB JSON value.
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Item size: attribute name lengths + value sizes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Order-preserving byte encoding of a key value (S, N, B only).
pub fn sort_key_bytes(v: &AttrValue) -> Option<Vec<u8>> {
    match v {
        AttrValue::S(s) => Some(s.as_bytes().to_vec()),
        AttrValue::B(b) => Some(b.clone()),
        AttrValue::N(n) => Some(n.sort_bytes()),
        _ => None,
    }
}
