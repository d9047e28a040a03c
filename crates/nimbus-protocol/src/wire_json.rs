//! Moves a JSON body between its wire form and the canonical value.
//!
//! They differ only where a member has a `locationName` or a timestamp is not in epoch
//! seconds, which few shapes have; a memo of which shapes need the walk keeps the common
//! case (a DynamoDB item, say) free of it.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use nimbus_model::schema::{Location, Service, ShapeId, ShapeKind, TimestampFormat};
use nimbus_types::{format_iso8601, parse_iso8601};
use serde_json::{Map, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToWire,
    FromWire,
}

/// Wire JSON → canonical value.
pub fn from_wire(service: &Service, shape: ShapeId, value: Value) -> Value {
    if !needs_walk(service, shape) {
        return value;
    }
    walk(service, shape, value, Direction::FromWire, None)
}

/// Canonical value → wire JSON.
pub fn to_wire(service: &Service, shape: ShapeId, value: Value) -> Value {
    if !needs_walk(service, shape) {
        return value;
    }
    walk(service, shape, value, Direction::ToWire, None)
}

fn walk(
    service: &Service,
    shape: ShapeId,
    value: Value,
    dir: Direction,
    ts_format: Option<TimestampFormat>,
) -> Value {
    match (&service.shape(shape).kind, value) {
        (ShapeKind::Structure(st), Value::Object(mut fields)) if !st.document => {
            let mut out = Map::with_capacity(fields.len());
            for m in st.members.iter().filter(|m| m.location == Location::Body) {
                let (from, to) = match dir {
                    Direction::FromWire => (m.wire_name(), m.name),
                    Direction::ToWire => (m.name, m.wire_name()),
                };
                if let Some(v) = fields.remove(from) {
                    out.insert(to.to_string(), walk(service, m.target, v, dir, m.timestamp_format));
                }
            }
            Value::Object(out)
        }
        (ShapeKind::List(l), Value::Array(items)) => Value::Array(
            items.into_iter().map(|v| walk(service, l.member, v, dir, None)).collect(),
        ),
        (ShapeKind::Map(m), Value::Object(entries)) => Value::Object(
            entries.into_iter().map(|(k, v)| (k, walk(service, m.value, v, dir, None))).collect(),
        ),
        (ShapeKind::Timestamp { format }, v) => {
            let iso = matches!(ts_format.or(*format), Some(TimestampFormat::Iso8601));
            match (dir, v) {
                (Direction::FromWire, Value::String(s)) => match parse_iso8601(&s) {
                    Some(secs) => number(secs),
                    None => Value::String(s),
                },
                (Direction::ToWire, Value::Number(n)) if iso => {
                    Value::String(format_iso8601(n.as_f64().unwrap_or(0.0)))
                }
                (_, v) => v,
            }
        }
        (_, v) => v,
    }
}

fn number(secs: f64) -> Value {
    if secs.fract() == 0.0 && secs.abs() < 9.0e15 {
        Value::from(secs as i64)
    } else {
        serde_json::Number::from_f64(secs).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Whether any shape reachable from `shape` renames a body member or formats a
/// timestamp as a string.
fn needs_walk(service: &Service, shape: ShapeId) -> bool {
    static MEMO: OnceLock<RwLock<HashMap<(usize, ShapeId), bool>>> = OnceLock::new();
    let key = (service as *const Service as usize, shape);
    let memo = MEMO.get_or_init(Default::default);
    if let Some(hit) = memo.read().ok().and_then(|m| m.get(&key).copied()) {
        return hit;
    }
    let mut seen = vec![false; service.shapes.len()];
    let answer = scan(service, shape, &mut seen);
    if let Ok(mut m) = memo.write() {
        m.insert(key, answer);
    }
    answer
}

fn scan(service: &Service, shape: ShapeId, seen: &mut [bool]) -> bool {
    if std::mem::replace(&mut seen[shape as usize], true) {
        return false;
    }
    match &service.shape(shape).kind {
        ShapeKind::Structure(st) => st.members.iter().any(|m| {
            (m.location == Location::Body && m.location_name.is_some_and(|n| n != m.name))
                || m.timestamp_format == Some(TimestampFormat::Iso8601)
                || scan(service, m.target, seen)
        }),
        ShapeKind::List(l) => scan(service, l.member, seen),
        ShapeKind::Map(m) => scan(service, m.value, seen),
        ShapeKind::Timestamp { format } => *format == Some(TimestampFormat::Iso8601),
        _ => false,
    }
}
