//! Item keys: validation against the table's key schema (with AWS's messages) and the
//! order-preserving storage key.
//!
//! Storage key = `<table id>` + escape(hash bytes) + `0x00 0x01` + range bytes, where the
//! bytes are `sort_key_bytes` (UTF-8 for S, unsigned bytes for B, an order-preserving
//! encoding for N). Escaping (`0x00` → `0x00 0xFF`) makes the hash component prefix-free,
//! so all items of one partition are exactly the keys between `prefix + 0x00 0x01` and
//! `prefix + 0x00 0x02`, sorted by range key: a Query is a range scan.

use nimbus_dynamodb_expr::{sort_key_bytes, AttrValue, Item};
use nimbus_types::AwsError;

use crate::tables::{KeyAttr, Table};

pub(crate) const MAX_HASH_KEY: usize = 2048;
pub(crate) const MAX_RANGE_KEY: usize = 1024;

/// Appends `bytes` escaped so that the result is prefix-free and order-preserving.
pub(crate) fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// `<table id><escaped hash>`: every key of the partition starts with it.
pub(crate) fn partition_prefix(table_id: &str, hash: &AttrValue) -> Vec<u8> {
    let mut k = Vec::with_capacity(table_id.len() + 32);
    k.extend_from_slice(table_id.as_bytes());
    escape_into(&mut k, &sort_key_bytes(hash).unwrap_or_default());
    k
}

/// The first key after every key of the partition `prefix` (which ends in `0x00 0x01`).
pub(crate) fn partition_end(prefix: &[u8]) -> Vec<u8> {
    let mut e = prefix.to_vec();
    if let Some(last) = e.last_mut() {
        *last = 0x02;
    }
    e
}

/// The storage key of an item with these key values.
pub(crate) fn storage_key(table_id: &str, hash: &AttrValue, range: Option<&AttrValue>) -> Vec<u8> {
    let mut k = partition_prefix(table_id, hash);
    if let Some(r) = range {
        k.extend_from_slice(&sort_key_bytes(r).unwrap_or_default());
    }
    k
}

/// The first key after every item of the table.
pub(crate) fn table_end(table_id: &str) -> Vec<u8> {
    // Table ids are hex, so bumping the last byte never overflows.
    let mut e = table_id.as_bytes().to_vec();
    if let Some(last) = e.last_mut() {
        *last = last.saturating_add(1);
    }
    e
}

fn scalar_bytes(v: &AttrValue) -> usize {
    match v {
        AttrValue::S(s) => s.len(),
        AttrValue::B(b) => b.len(),
        other => other.size(),
    }
}

fn is_empty_scalar(v: &AttrValue) -> bool {
    matches!(v, AttrValue::S(s) if s.is_empty()) || matches!(v, AttrValue::B(b) if b.is_empty())
}

fn check_value(attr: &KeyAttr, v: &AttrValue, is_hash: bool, mismatch: impl Fn() -> AwsError) -> Result<(), AwsError> {
    if v.type_name() != attr.ty {
        return Err(mismatch());
    }
    if is_empty_scalar(v) {
        return Err(AwsError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {} value. Key: {}",
            if matches!(v, AttrValue::S(_)) { "string" } else { "binary" },
            attr.name
        )));
    }
    let n = scalar_bytes(v);
    if is_hash && n > MAX_HASH_KEY {
        return Err(AwsError::validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if !is_hash && n > MAX_RANGE_KEY {
        return Err(AwsError::validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

/// The storage key of a full item (PutItem): every key attribute present with its type.
pub(crate) fn item_key(table: &Table, item: &Item) -> Result<Vec<u8>, AwsError> {
    let mut parts = Vec::with_capacity(2);
    for (attr, is_hash) in std::iter::once((&table.hash, true)).chain(table.range.iter().map(|r| (r, false))) {
        let v = item.get(&attr.name).ok_or_else(|| {
            AwsError::validation(format!("One or more parameter values were invalid: Missing the key {} in the item", attr.name))
        })?;
        check_value(attr, v, is_hash, || {
            AwsError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty,
                v.type_name()
            ))
        })?;
        parts.push(v);
    }
    Ok(storage_key(&table.id, parts[0], parts.get(1).copied()))
}

/// The storage key of a `Key` parameter: exactly the key attributes, with their types.
pub(crate) fn key_param(table: &Table, key: &Item) -> Result<Vec<u8>, AwsError> {
    key_param_msg(table, key, "The provided key element does not match the schema")
}

pub(crate) fn key_param_msg(table: &Table, key: &Item, msg: &str) -> Result<Vec<u8>, AwsError> {
    let n = 1 + usize::from(table.range.is_some());
    if key.len() != n {
        return Err(AwsError::validation(msg));
    }
    let mut parts = Vec::with_capacity(2);
    for (attr, is_hash) in std::iter::once((&table.hash, true)).chain(table.range.iter().map(|r| (r, false))) {
        let v = key.get(&attr.name).ok_or_else(|| AwsError::validation(msg))?;
        check_value(attr, v, is_hash, || AwsError::validation(msg))?;
        parts.push(v);
    }
    Ok(storage_key(&table.id, parts[0], parts.get(1).copied()))
}

/// The key attributes of `item`.
pub(crate) fn key_of(table: &Table, item: &Item) -> Item {
    table
        .key_names()
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_dynamodb_expr::Number;

    fn n(s: &str) -> AttrValue {
        AttrValue::N(Number::parse(s).unwrap())
    }

    #[test]
    fn partitions_are_prefix_free() {
        let a = partition_prefix("t", &AttrValue::S("ab".into()));
        let b = partition_prefix("t", &AttrValue::S("abc".into()));
        assert!(!b.starts_with(&a));
        let z = partition_prefix("t", &AttrValue::B(vec![0, 1]));
        let z2 = partition_prefix("t", &AttrValue::B(vec![0]));
        assert!(!z.starts_with(&z2));
    }

    #[test]
    fn range_keys_sort_inside_their_partition() {
        let h = AttrValue::S("user".into());
        let p = partition_prefix("t", &h);
        let end = partition_end(&p);
        let mut keys: Vec<Vec<u8>> = ["-10", "-1.5", "0", "2", "10", "1e10"].iter().map(|s| storage_key("t", &h, Some(&n(s)))).collect();
        let sorted = keys.clone();
        keys.sort();
        assert_eq!(keys, sorted, "numbers sort numerically");
        for k in &keys {
            assert!(k.as_slice() >= p.as_slice() && k.as_slice() < end.as_slice());
        }
        let s1 = storage_key("t", &h, Some(&AttrValue::S("a".into())));
        let s2 = storage_key("t", &h, Some(&AttrValue::S("ab".into())));
        let s3 = storage_key("t", &h, Some(&AttrValue::S("b".into())));
        assert!(s1 < s2 && s2 < s3);
        let b1 = storage_key("t", &h, Some(&AttrValue::B(vec![0x7f])));
        let b2 = storage_key("t", &h, Some(&AttrValue::B(vec![0x80])));
        assert!(b1 < b2, "binary sorts unsigned");
    }

    #[test]
    fn other_tables_are_outside_the_table_range() {
        let k = storage_key("aaaa", &AttrValue::S("\u{10FFFF}".into()), None);
        assert!(k.as_slice() < table_end("aaaa").as_slice());
        assert!(storage_key("aaab", &AttrValue::S("".into()), None).as_slice() > table_end("aaaa").as_slice());
    }
}
