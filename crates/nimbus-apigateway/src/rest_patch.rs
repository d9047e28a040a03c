//! JSON-Patch-style `patchOperations` of the REST API's Update* operations, applied
//! to a stored record through its wire form: `add`/`replace`/`remove` on a field
//! (`/uri`) or on a map entry (`/requestTemplates/application~1json`, `~1` being `/`).

use nimbus_model::types::apigateway::PatchOperation;
use nimbus_types::AwsError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::bad_request;

/// What a patchable field holds.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Str,
    Int,
    MapStr,
    MapBool,
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn leaf(kind: Kind, field: &str, value: Option<&str>) -> Result<Value, AwsError> {
    let v = value.unwrap_or("");
    Ok(match kind {
        Kind::Str | Kind::MapStr => Value::String(v.to_string()),
        Kind::Int => {
            Value::from(v.trim().parse::<i64>().map_err(|_| {
                bad_request(format!("Invalid value for {field}: {v} is not a number"))
            })?)
        }
        Kind::MapBool => match v {
            "true" => Value::Bool(true),
            "" | "false" => Value::Bool(false),
            _ => {
                return Err(bad_request(format!(
                    "Invalid value for {field}: expected true or false"
                )))
            }
        },
    })
}

/// Applies `ops` to `record`; `kind` names the patchable fields (wire names).
pub(crate) fn apply<T: Serialize + DeserializeOwned>(
    record: &T,
    ops: &[PatchOperation],
    kind: impl Fn(&str) -> Option<Kind>,
) -> Result<T, AwsError> {
    let mut doc = serde_json::to_value(record)
        .map_err(|e| AwsError::internal(format!("cannot encode a record: {e}")))?;
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| AwsError::internal("a record is not an object"))?;
    for p in ops {
        let op = p.op.as_deref().unwrap_or("");
        let path = p.path.as_deref().unwrap_or("");
        let invalid = || {
            bad_request(format!("Invalid patch path '{path}' specified for op '{op}'. Must be one of: [add, remove, replace] on a patchable field"))
        };
        let rest = path.strip_prefix('/').ok_or_else(invalid)?;
        let (field, key) = match rest.split_once('/') {
            Some((f, k)) => (unescape(f), Some(unescape(k))),
            None => (unescape(rest), None),
        };
        let k = kind(&field).ok_or_else(invalid)?;
        let is_map = matches!(k, Kind::MapStr | Kind::MapBool);
        match (op, key, is_map) {
            ("add" | "replace", None, false) => {
                obj.insert(field.clone(), leaf(k, &field, p.value.as_deref())?);
            }
            ("remove", None, _) => {
                obj.remove(&field);
            }
            ("add" | "replace", Some(key), true) => {
                let v = leaf(k, &field, p.value.as_deref())?;
                let entry = obj
                    .entry(field.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Some(m) = entry.as_object_mut() {
                    m.insert(key, v);
                }
            }
            ("remove", Some(key), true) => {
                let removed = obj
                    .get_mut(&field)
                    .and_then(Value::as_object_mut)
                    .and_then(|m| m.remove(&key));
                if removed.is_none() {
                    return Err(bad_request(format!(
                        "Invalid patch path '{path}': {key} does not exist"
                    )));
                }
            }
            ("add" | "replace" | "remove", _, _) => return Err(invalid()),
            _ => {
                return Err(bad_request(format!(
                "Invalid patch operation specified. Must be 'add'|'remove'|'replace', got '{op}'"
            )))
            }
        }
    }
    serde_json::from_value(doc).map_err(|e| bad_request(format!("Invalid patch: {e}")))
}

/// The patchable fields of an integration.
pub(crate) fn integration_field(f: &str) -> Option<Kind> {
    Some(match f {
        "uri"
        | "httpMethod"
        | "credentials"
        | "passthroughBehavior"
        | "contentHandling"
        | "connectionType"
        | "connectionId"
        | "cacheNamespace" => Kind::Str,
        "timeoutInMillis" => Kind::Int,
        "requestTemplates" | "requestParameters" => Kind::MapStr,
        _ => return None,
    })
}

/// The patchable fields of an integration response.
pub(crate) fn integration_response_field(f: &str) -> Option<Kind> {
    Some(match f {
        "selectionPattern" | "contentHandling" => Kind::Str,
        "responseTemplates" | "responseParameters" => Kind::MapStr,
        _ => return None,
    })
}

/// The patchable fields of a method response.
pub(crate) fn method_response_field(f: &str) -> Option<Kind> {
    Some(match f {
        "responseParameters" => Kind::MapBool,
        "responseModels" => Kind::MapStr,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_model::types::apigateway as t;

    fn op(op: &str, path: &str, value: Option<&str>) -> PatchOperation {
        PatchOperation {
            op: Some(op.into()),
            path: Some(path.into()),
            value: value.map(String::from),
            from: None,
        }
    }

    #[test]
    fn patches() {
        let i = t::Integration {
            uri: Some("a".into()),
            ..Default::default()
        };
        let out = apply(
            &i,
            &[
                op("replace", "/uri", Some("b")),
                op("add", "/requestTemplates/application~1json", Some("{}")),
                op("replace", "/timeoutInMillis", Some("500")),
            ],
            integration_field,
        )
        .unwrap();
        assert_eq!(out.uri.as_deref(), Some("b"));
        assert_eq!(out.request_templates.unwrap()["application/json"], "{}");
        assert_eq!(out.timeout_in_millis, Some(500));
        assert!(apply(
            &i,
            &[op("replace", "/type", Some("AWS"))],
            integration_field
        )
        .is_err());
        assert!(apply(
            &i,
            &[op("replace", "/timeoutInMillis", Some("x"))],
            integration_field
        )
        .is_err());
        assert!(apply(&i, &[op("move", "/uri", None)], integration_field).is_err());
        assert!(apply(
            &i,
            &[op("remove", "/requestTemplates/x", None)],
            integration_field
        )
        .is_err());
        let mr = apply(
            &t::MethodResponse::default(),
            &[op(
                "add",
                "/responseParameters/method.response.header.X",
                Some("true"),
            )],
            method_response_field,
        )
        .unwrap();
        assert!(mr.response_parameters.unwrap()["method.response.header.X"]);
    }
}
