//! awsQuery: a form-encoded request (`Action=...&Version=...&Member.Sub=...`) in, an
//! XML document out.
//!
//! Lists are `Name.member.N` (or `Name.N` when flattened), maps
//! `Name.entry.N.key`/`.value` (or `Name.N.key` when flattened), nested structures
//! `Name.Sub`, all 1-based, as botocore's query serializer writes them.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use http::Response;
use nimbus_model::schema::{Operation, Service, ShapeId, ShapeKind};
use nimbus_types::{format_iso8601, parse_iso8601, AwsError};
use serde_json::{Map, Value};

use crate::xml::escape;
use crate::{check_input, Input, Output, Wire};

/// The request parameters, in key order so prefixes can be range-scanned.
pub type Params = BTreeMap<String, String>;

/// Parses a form body (or query string) into parameters.
pub fn parse_params(form: &[u8]) -> Params {
    form_urlencoded::parse(form).into_owned().collect()
}

fn invalid(message: String) -> AwsError {
    AwsError::new(400, "ValidationError", message)
}

/// Decodes and validates an awsQuery request.
pub fn decode(service: &Service, op: &Operation, params: &Params) -> Result<Input, AwsError> {
    let Some(shape) = op.input else {
        return Ok(Input::default());
    };
    let value = match read_struct(service, shape, params, "")? {
        Some(v) => v,
        None => Value::Object(Map::new()),
    };
    check_input(service, Wire::Query, shape, &value)?;
    Ok(Input { value, payload: None })
}

fn has_prefix(params: &Params, prefix: &str) -> bool {
    params
        .range(prefix.to_string()..)
        .next()
        .is_some_and(|(k, _)| k == prefix || k.starts_with(&format!("{prefix}.")))
}

fn read_struct(service: &Service, shape: ShapeId, params: &Params, prefix: &str) -> Result<Option<Value>, AwsError> {
    let ShapeKind::Structure(st) = &service.shape(shape).kind else {
        return Ok(None);
    };
    let mut out = Map::new();
    for m in st.members {
        let key = if prefix.is_empty() { m.wire_name().to_string() } else { format!("{prefix}.{}", m.wire_name()) };
        if let Some(v) = read(service, m.target, params, &key, m.flattened)? {
            out.insert(m.name.to_string(), v);
        }
    }
    Ok((!out.is_empty() || prefix.is_empty()).then_some(Value::Object(out)))
}

fn read(service: &Service, shape: ShapeId, params: &Params, key: &str, member_flattened: bool) -> Result<Option<Value>, AwsError> {
    match &service.shape(shape).kind {
        ShapeKind::Structure(_) => {
            if !has_prefix(params, key) {
                return Ok(None);
            }
            read_struct(service, shape, params, key)
        }
        ShapeKind::List(l) => {
            // `Name=` with an empty value is how an empty list is sent.
            if params.get(key).is_some_and(|v| v.is_empty()) {
                return Ok(Some(Value::Array(Vec::new())));
            }
            let base = if l.flattened || member_flattened {
                key.to_string()
            } else {
                format!("{key}.{}", l.member_location_name.unwrap_or("member"))
            };
            let mut items = Vec::new();
            for n in 1.. {
                let item_key = format!("{base}.{n}");
                match read(service, l.member, params, &item_key, false)? {
                    Some(v) => items.push(v),
                    None => break,
                }
            }
            Ok((!items.is_empty()).then_some(Value::Array(items)))
        }
        ShapeKind::Map(m) => {
            let base = if m.flattened || member_flattened { key.to_string() } else { format!("{key}.entry") };
            let mut out = Map::new();
            for n in 1.. {
                let k = format!("{base}.{n}.{}", m.key_location_name.unwrap_or("key"));
                let v = format!("{base}.{n}.{}", m.value_location_name.unwrap_or("value"));
                let Some(name) = params.get(&k) else { break };
                let value = read(service, m.value, params, &v, false)?.unwrap_or(Value::Null);
                out.insert(name.clone(), value);
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        kind => {
            let Some(raw) = params.get(key) else { return Ok(None) };
            Ok(Some(match kind {
                ShapeKind::Integer { .. } => Value::from(raw.trim().parse::<i64>().map_err(|_| {
                    invalid(format!("1 validation error detected: Value '{raw}' at '{key}' failed to satisfy constraint: Member must be an integer"))
                })?),
                ShapeKind::Float { .. } => {
                    let f = raw.trim().parse::<f64>().map_err(|_| {
                        invalid(format!("1 validation error detected: Value '{raw}' at '{key}' failed to satisfy constraint: Member must be a number"))
                    })?;
                    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
                }
                ShapeKind::Boolean => match raw.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(invalid(format!("1 validation error detected: Value '{raw}' at '{key}' failed to satisfy constraint: Member must be a boolean"))),
                },
                ShapeKind::Timestamp { .. } => {
                    let secs = parse_iso8601(raw).or_else(|| raw.parse::<f64>().ok()).ok_or_else(|| {
                        invalid(format!("1 validation error detected: Value '{raw}' at '{key}' failed to satisfy constraint: Member must be a timestamp"))
                    })?;
                    serde_json::Number::from_f64(secs).map(Value::Number).unwrap_or(Value::Null)
                }
                _ => Value::String(raw.clone()),
            }))
        }
    }
}

/// Renders a successful awsQuery response:
/// `<OpResponse xmlns=..><OpResult>..</OpResult><ResponseMetadata>..</ResponseMetadata></OpResponse>`.
pub fn encode(service: &Service, op: &Operation, output: Output, request_id: &str) -> Response<Bytes> {
    let ns = service.xml_namespace.unwrap_or("");
    let mut xml = String::with_capacity(512);
    xml.push_str(&format!("<{}Response xmlns=\"{ns}\">", op.name));
    if let Some(shape) = op.output {
        let wrapper = op.result_wrapper.map(str::to_string).unwrap_or_else(|| format!("{}Result", op.name));
        xml.push_str(&format!("<{wrapper}>"));
        write_members(service, shape, &output.value, &mut xml);
        xml.push_str(&format!("</{wrapper}>"));
    }
    xml.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{}Response>",
        op.name
    ));
    Response::builder()
        .status(200)
        .header("content-type", "text/xml")
        .body(Bytes::from(xml))
        .unwrap_or_default()
}

fn write_members(service: &Service, shape: ShapeId, value: &Value, xml: &mut String) {
    let (ShapeKind::Structure(st), Value::Object(fields)) = (&service.shape(shape).kind, value) else {
        return;
    };
    for m in st.members {
        if let Some(v) = fields.get(m.name) {
            write_value(service, m.target, m.wire_name(), v, m.flattened, xml);
        }
    }
}

fn write_value(service: &Service, shape: ShapeId, name: &str, v: &Value, flattened: bool, xml: &mut String) {
    if v.is_null() {
        return;
    }
    match &service.shape(shape).kind {
        ShapeKind::Structure(_) => {
            xml.push_str(&format!("<{name}>"));
            write_members(service, shape, v, xml);
            xml.push_str(&format!("</{name}>"));
        }
        ShapeKind::List(l) => {
            let Value::Array(items) = v else { return };
            if l.flattened || flattened {
                let item_name = l.member_location_name.unwrap_or(name);
                for item in items {
                    write_value(service, l.member, item_name, item, false, xml);
                }
            } else {
                let item_name = l.member_location_name.unwrap_or("member");
                xml.push_str(&format!("<{name}>"));
                for item in items {
                    write_value(service, l.member, item_name, item, false, xml);
                }
                xml.push_str(&format!("</{name}>"));
            }
        }
        ShapeKind::Map(m) => {
            let Value::Object(entries) = v else { return };
            let key_name = m.key_location_name.unwrap_or("key");
            let value_name = m.value_location_name.unwrap_or("value");
            let flat = m.flattened || flattened;
            if !flat {
                xml.push_str(&format!("<{name}>"));
            }
            for (k, ev) in entries {
                xml.push_str(if flat { "" } else { "<entry>" });
                if flat {
                    xml.push_str(&format!("<{name}>"));
                }
                xml.push_str(&format!("<{key_name}>{}</{key_name}>", escape(k)));
                write_value(service, m.value, value_name, ev, false, xml);
                xml.push_str(if flat { "" } else { "</entry>" });
                if flat {
                    xml.push_str(&format!("</{name}>"));
                }
            }
            if !flat {
                xml.push_str(&format!("</{name}>"));
            }
        }
        ShapeKind::Timestamp { .. } => {
            let text = match v {
                Value::Number(n) => format_iso8601(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            xml.push_str(&format!("<{name}>{text}</{name}>"));
        }
        ShapeKind::Blob { .. } => {
            // Canonical blobs are already base64 text.
            let text = match v {
                Value::String(s) => s.clone(),
                other => base64::engine::general_purpose::STANDARD.encode(other.to_string()),
            };
            xml.push_str(&format!("<{name}>{}</{name}>", escape(&text)));
        }
        _ => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            xml.push_str(&format!("<{name}>{}</{name}>", escape(&text)));
        }
    }
}
