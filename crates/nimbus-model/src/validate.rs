//! Checks a canonical input value against a model's constraints, with AWS's messages.
//!
//! Two kinds of failure, in the order AWS's (Coral) frontend reports them:
//!
//! - [`Invalid::Serialization`]: a value of the wrong JSON type (an object where a
//!   string was expected, ...). awsJson services answer `SerializationException`; the
//!   texts are the Jackson/Coral ones DynamoDB returns ("Start of structure or map
//!   found where not expected.", "class java.lang.String can not be converted to an
//!   Integer", ...). The first one found aborts the walk.
//! - [`Invalid::Validation`]: modeled constraints (required, length, range, pattern,
//!   enum), each rendered as
//!   `Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3`
//!   and joined by [`Invalid::message`] into
//!   `N validation error(s) detected: ...; ...` (at most [`MAX_ERRORS`], as AWS does).
//!
//! Paths are member names with the first letter lowercased, joined by `.`; list
//! elements that are structures, lists or maps are `list.<1-based index>.member`, such
//! map values `map.<key>.member`; scalar elements, keys and values are reported once at
//! the collection (`Member must satisfy constraint: [...]`, `Map keys/value must satisfy
//! constraint: [...]`), as Coral does. Values of
//! `sensitive` shapes are not echoed (`Value at 'password' failed ...`). Lists print
//! like Java's `List.toString` (`[a, b]`), maps like `Map.toString` (`{k=v}`), blobs
//! like a Java `ByteBuffer`.
//!
//! Model patterns are Java regexes that must match the whole value. Each compiles once
//! (anchored); the few that the `regex` crate cannot compile (lookarounds, possessive
//! quantifiers, Java-only classes) are skipped rather than failing requests: see
//! [`skipped_patterns`].

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use serde_json::Value;

use crate::schema::{Service, ShapeId, ShapeKind};

/// AWS lists at most this many constraint violations in one message.
pub const MAX_ERRORS: usize = 10;

/// Why an input was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Wrong JSON type; AWS's `SerializationException` message.
    Serialization(String),
    /// Constraint violations, each `Value ... at '...' failed to satisfy constraint: ...`.
    Validation(Vec<String>),
}

impl Invalid {
    /// The full message a client sees.
    pub fn message(&self) -> String {
        match self {
            Invalid::Serialization(m) => m.clone(),
            Invalid::Validation(v) => render(v),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Invalid {}

/// Validates `input` (the canonical value of structure `shape`) against `service`.
pub fn validate(service: &Service, shape: ShapeId, input: &Value) -> Result<(), Invalid> {
    let mut v = Validator {
        service,
        errors: Vec::new(),
    };
    v.value(shape, input, "").map_err(Invalid::Serialization)?;
    if v.errors.is_empty() {
        Ok(())
    } else {
        v.errors.truncate(MAX_ERRORS);
        Err(Invalid::Validation(v.errors))
    }
}

struct Validator<'s> {
    service: &'s Service,
    errors: Vec<String>,
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The Java class Jackson reports for a JSON number.
fn number_class(n: &serde_json::Number) -> &'static str {
    match n.as_i64() {
        Some(i) if (-32768..=32767).contains(&i) => "java.lang.Short",
        Some(i) if (i32::MIN as i64..=i32::MAX as i64).contains(&i) => "java.lang.Integer",
        Some(_) => "java.lang.Long",
        None if n.is_u64() => "java.lang.Long",
        None => "java.lang.Double",
    }
}

/// The `Start of ... found where not expected` messages for containers.
fn container_mismatch(v: &Value) -> Option<String> {
    match v {
        Value::Object(_) => Some("Start of structure or map found where not expected.".into()),
        Value::Array(_) => Some("Start of list found where not expected".into()),
        _ => None,
    }
}

/// How AWS (Java) prints a value in a constraint message.
fn display(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(display).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", display(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

impl Validator<'_> {
    fn fail(&mut self, path: &str, shown: Option<String>, constraint: &str) {
        let msg = match shown {
            Some(v) => {
                format!("Value '{v}' at '{path}' failed to satisfy constraint: {constraint}")
            }
            None => format!("Value at '{path}' failed to satisfy constraint: {constraint}"),
        };
        self.errors.push(msg);
    }

    fn length(
        &mut self,
        path: &str,
        len: i64,
        min: Option<i64>,
        max: Option<i64>,
        shown: &dyn Fn() -> Option<String>,
    ) {
        if let Some(min) = min {
            if len < min {
                self.fail(
                    path,
                    shown(),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = max {
            if len > max {
                self.fail(
                    path,
                    shown(),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Checks one present, non-null value. `Err` is a serialization failure.
    fn value(&mut self, id: ShapeId, v: &Value, path: &str) -> Result<(), String> {
        let shape = self.service.shape(id);
        let sensitive = shape.sensitive;
        match &shape.kind {
            ShapeKind::Structure(st) => {
                if st.document {
                    return Ok(());
                }
                let obj = match v {
                    Value::Object(o) => o,
                    Value::Array(_) => return Err("Start of list found where not expected".into()),
                    _ => return Err("Expected null".into()),
                };
                for m in st.members {
                    let mpath = join(path, &lower_first(m.name));
                    match obj.get(m.name) {
                        None | Some(Value::Null) => {
                            if m.required {
                                self.errors.push(format!(
                                    "Value null at '{mpath}' failed to satisfy constraint: Member must not be null"
                                ));
                            }
                        }
                        Some(mv) => self.value(m.target, mv, &mpath)?,
                    }
                }
            }
            ShapeKind::List(l) => {
                let items = match v {
                    Value::Array(a) => a,
                    Value::Object(_) => {
                        return Err("Start of structure or map found where not expected.".into())
                    }
                    _ => return Err("Expected list or null".into()),
                };
                self.length(path, items.len() as i64, l.min, l.max, &|| {
                    (!sensitive).then(|| display(v))
                });
                // Scalar members are reported once, at the list, with all their constraints.
                if let Some(all) = self.member_constraints(l.member) {
                    if self.any_violates(l.member, items.iter())? {
                        let shown = (!sensitive && !self.service.shape(l.member).sensitive).then(|| display(v));
                        self.fail(path, shown, &format!("Member must satisfy constraint: [{}]", all.join(", ")));
                    }
                    return Ok(());
                }
                for (i, item) in items.iter().enumerate() {
                    if !item.is_null() {
                        self.value(l.member, item, &format!("{path}.{}.member", i + 1))?;
                    }
                }
            }
            ShapeKind::Map(mp) => {
                let obj = match v {
                    Value::Object(o) => o,
                    Value::Array(_) => return Err("Start of list found where not expected".into()),
                    _ => return Err("Expected map or null".into()),
                };
                self.length(path, obj.len() as i64, mp.min, mp.max, &|| {
                    (!sensitive).then(|| display(v))
                });
                // Scalar keys and values are reported once, at the map, with all their constraints.
                if let Some(all) = self.member_constraints(mp.value) {
                    let keys: Vec<Value> = obj.keys().map(|k| Value::String(k.clone())).collect();
                    let shown = || (!sensitive).then(|| display(v));
                    if let Some(key_all) = self.member_constraints(mp.key) {
                        if self.any_violates(mp.key, keys.iter())? {
                            self.fail(path, shown(), &format!("Map keys must satisfy constraint: [{}]", key_all.join(", ")));
                        }
                    }
                    if self.any_violates(mp.value, obj.values())? {
                        self.fail(path, shown(), &format!("Map value must satisfy constraint: [{}]", all.join(", ")));
                    }
                    return Ok(());
                }
                for (k, item) in obj {
                    let kpath = format!("{path}.{k}");
                    self.value(mp.key, &Value::String(k.clone()), &format!("{kpath}.key"))?;
                    if !item.is_null() {
                        self.value(mp.value, item, &format!("{kpath}.member"))?;
                    }
                }
            }
            ShapeKind::String(s) => {
                let text = match v {
                    Value::String(t) => t,
                    Value::Bool(_) => {
                        return Err(
                            "class java.lang.Boolean can not be converted to an String".into()
                        )
                    }
                    Value::Number(n) => {
                        return Err(format!(
                            "class {} can not be converted to an String",
                            number_class(n)
                        ))
                    }
                    other => return Err(container_mismatch(other).unwrap_or_default()),
                };
                let shown = || (!sensitive).then(|| text.clone());
                self.length(path, text.chars().count() as i64, s.min, s.max, &shown);
                if let Some(p) = s.pattern {
                    if let Some(re) = pattern(p) {
                        if !re.is_match(text) {
                            self.fail(
                                path,
                                shown(),
                                &format!("Member must satisfy regular expression pattern: {p}"),
                            );
                        }
                    }
                }
                if !s.enum_values.is_empty() && !s.enum_values.contains(&text.as_str()) {
                    let set = s.enum_values.join(", ");
                    self.fail(
                        path,
                        shown(),
                        &format!("Member must satisfy enum value set: [{set}]"),
                    );
                }
            }
            ShapeKind::Integer { long, min, max } => {
                let n = match v {
                    Value::Number(n) => n,
                    Value::Bool(_) => {
                        return Err(format!(
                            "class java.lang.Boolean can not be converted to an {}",
                            int_name(*long)
                        ))
                    }
                    Value::String(_) => {
                        return Err(format!(
                            "class java.lang.String can not be converted to an {}",
                            int_name(*long)
                        ))
                    }
                    other => return Err(container_mismatch(other).unwrap_or_default()),
                };
                // Jackson truncates a fractional number bound to an integer member.
                let value = n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
                    .unwrap_or(i64::MAX);
                let shown = || (!sensitive).then(|| value.to_string());
                if let Some(min) = min {
                    if value < *min {
                        self.fail(
                            path,
                            shown(),
                            &format!("Member must have value greater than or equal to {min}"),
                        );
                    }
                }
                if let Some(max) = max {
                    if value > *max {
                        self.fail(
                            path,
                            shown(),
                            &format!("Member must have value less than or equal to {max}"),
                        );
                    }
                }
            }
            ShapeKind::Float { double, min, max } => {
                let name = if *double { "Double" } else { "Float" };
                let n = match v {
                    Value::Number(n) => n,
                    Value::Bool(_) => {
                        return Err(format!(
                            "class java.lang.Boolean can not be converted to an {name}"
                        ))
                    }
                    Value::String(_) => {
                        return Err(format!(
                            "class java.lang.String can not be converted to an {name}"
                        ))
                    }
                    other => return Err(container_mismatch(other).unwrap_or_default()),
                };
                let value = n.as_f64().unwrap_or(f64::NAN);
                let shown = || (!sensitive).then(|| java_double(value));
                if let Some(min) = min {
                    if value < *min {
                        self.fail(
                            path,
                            shown(),
                            &format!("Member must have value greater than or equal to {min}"),
                        );
                    }
                }
                if let Some(max) = max {
                    if value > *max {
                        self.fail(
                            path,
                            shown(),
                            &format!("Member must have value less than or equal to {max}"),
                        );
                    }
                }
            }
            ShapeKind::Boolean => match v {
                Value::Bool(_) => {}
                Value::Number(n) => {
                    return Err(format!(
                        "class {} can not be converted to an Boolean",
                        number_class(n)
                    ))
                }
                Value::String(s) => {
                    return Err(format!(
                        "'{}' can not be converted to an Boolean",
                        s.to_uppercase()
                    ))
                }
                other => return Err(container_mismatch(other).unwrap_or_default()),
            },
            ShapeKind::Timestamp { .. } => match v {
                Value::Number(_) => {}
                Value::Bool(_) => {
                    return Err("class java.lang.Boolean can not be converted to an Date".into())
                }
                Value::String(_) => {
                    return Err("class java.lang.String can not be converted to an Date".into())
                }
                other => return Err(container_mismatch(other).unwrap_or_default()),
            },
            ShapeKind::Blob { min, max, .. } => {
                let text = match v {
                    Value::String(t) => t,
                    Value::Bool(_) => {
                        return Err("class java.lang.Boolean can not be converted to a Blob".into())
                    }
                    Value::Number(n) => {
                        return Err(format!(
                            "class {} can not be converted to a Blob",
                            number_class(n)
                        ))
                    }
                    other => return Err(container_mismatch(other).unwrap_or_default()),
                };
                let bytes = decode_blob(text)?;
                let len = bytes.len();
                let shown = || {
                    (!sensitive)
                        .then(|| format!("java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]"))
                };
                self.length(path, len as i64, *min, *max, &shown);
            }
        }
        Ok(())
    }
}

impl Validator<'_> {
    /// The constraints of a scalar collection member as AWS (Coral) lists them when a
    /// list element or map key/value breaks any of them: every constraint of the member
    /// shape, then `Member must not be null` (e.g. `Value '[X86_64]' at 'architectures'
    /// failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy
    /// enum value set: [x86_64, arm64], Member must not be null]`, as recorded from Lambda).
    /// `None` for structures, lists and maps, whose members keep their own paths.
    fn member_constraints(&self, id: ShapeId) -> Option<Vec<String>> {
        let mut out = Vec::new();
        match &self.service.shape(id).kind {
            ShapeKind::String(s) => {
                if let Some(max) = s.max {
                    out.push(format!("Member must have length less than or equal to {max}"));
                }
                if let Some(min) = s.min {
                    out.push(format!("Member must have length greater than or equal to {min}"));
                }
                if let Some(p) = s.pattern {
                    out.push(format!("Member must satisfy regular expression pattern: {p}"));
                }
                if !s.enum_values.is_empty() {
                    out.push(format!("Member must satisfy enum value set: [{}]", s.enum_values.join(", ")));
                }
            }
            ShapeKind::Integer { min, max, .. } => {
                if let Some(max) = max {
                    out.push(format!("Member must have value less than or equal to {max}"));
                }
                if let Some(min) = min {
                    out.push(format!("Member must have value greater than or equal to {min}"));
                }
            }
            ShapeKind::Float { min, max, .. } => {
                if let Some(max) = max {
                    out.push(format!("Member must have value less than or equal to {}", java_double(*max)));
                }
                if let Some(min) = min {
                    out.push(format!("Member must have value greater than or equal to {}", java_double(*min)));
                }
            }
            ShapeKind::Blob { min, max, .. } => {
                if let Some(max) = max {
                    out.push(format!("Member must have length less than or equal to {max}"));
                }
                if let Some(min) = min {
                    out.push(format!("Member must have length greater than or equal to {min}"));
                }
            }
            ShapeKind::Boolean | ShapeKind::Timestamp { .. } => {}
            ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_) => return None,
        }
        out.push("Member must not be null".into());
        Some(out)
    }

    /// Whether any present item breaks a constraint of `id` (a wrong JSON type is still a
    /// serialization failure).
    fn any_violates<'v>(&self, id: ShapeId, items: impl Iterator<Item = &'v Value>) -> Result<bool, String> {
        let mut any = false;
        for item in items.filter(|i| !i.is_null()) {
            let mut sub = Validator {
                service: self.service,
                errors: Vec::new(),
            };
            sub.value(id, item, "")?;
            any |= !sub.errors.is_empty();
        }
        Ok(any)
    }
}

fn int_name(long: bool) -> &'static str {
    if long {
        "Long"
    } else {
        "Integer"
    }
}

/// Java's `Double.toString` for ordinary magnitudes (`1.0`, `0.5`).
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Decodes a canonical (base64) blob with the messages DynamoDB gives for bad input.
fn decode_blob(text: &str) -> Result<Vec<u8>, String> {
    let prefix = || format!("'{text}' can not be converted to a Blob: ");
    if !text.len().is_multiple_of(4) {
        return Err(format!(
            "{}Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            prefix(),
            text.len()
        ));
    }
    let body = text.trim_end_matches('=');
    let bad = body
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
        .or_else(|| (text.len() - body.len() > 2).then_some('='));
    if let Some(c) = bad {
        return Err(format!("{}Invalid Base64 character: '{c}'", prefix()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            format!(
                "{}Invalid last non-pad Base64 character dectected",
                prefix()
            )
        })
}

type Cache = Mutex<HashMap<&'static str, Option<regex::Regex>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn compile(p: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{})$", java_to_rust(p)))
        .size_limit(1 << 24)
        .build()
        .ok()
}

/// Rewrites Java's ASCII-only shorthand classes (`\w`, `\d`, `\s`, `\p{Print}`, ...) into
/// explicit ASCII classes; the `regex` crate would read them as Unicode classes (wider,
/// and much larger to compile).
fn java_to_rust(p: &str) -> String {
    const POSIX: &[(&str, &str)] = &[
        ("Print", "\\x20-\\x7E"),
        ("Graph", "\\x21-\\x7E"),
        ("Alnum", "0-9A-Za-z"),
        ("Alpha", "A-Za-z"),
        ("Digit", "0-9"),
        ("Upper", "A-Z"),
        ("Lower", "a-z"),
        ("Punct", "!-/:-@\\[-`{-~"),
        ("Space", "\\t\\n\\x0B\\f\\r "),
        ("XDigit", "0-9A-Fa-f"),
        ("ASCII", "\\x00-\\x7F"),
    ];
    let mut out = String::with_capacity(p.len() + 16);
    let mut in_class = 0usize;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let class = match n {
                    'w' => Some("0-9A-Za-z_"),
                    'd' => Some("0-9"),
                    's' => Some("\\t\\n\\x0B\\f\\r "),
                    'p' if chars.peek() == Some(&'{') => {
                        let rest: String = chars.clone().take_while(|&c| c != '}').collect();
                        let name = rest.trim_start_matches('{');
                        match POSIX.iter().find(|(k, _)| *k == name) {
                            Some((_, v)) => {
                                for _ in 0..rest.len() + 1 {
                                    chars.next();
                                }
                                Some(*v)
                            }
                            None => None,
                        }
                    }
                    _ => None,
                };
                match class {
                    Some(cls) if in_class > 0 => out.push_str(cls),
                    Some(cls) => {
                        out.push('[');
                        out.push_str(cls);
                        out.push(']');
                    }
                    None => {
                        out.push(c);
                        out.push(n);
                    }
                }
            }
            '[' => {
                in_class += 1;
                out.push(c);
            }
            ']' if in_class > 0 => {
                in_class -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The compiled, anchored form of a model pattern; `None` when the `regex` crate
/// cannot express it (the constraint is then not checked).
pub fn pattern(p: &'static str) -> Option<regex::Regex> {
    let mut map = match cache().lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(p).or_insert_with(|| compile(p)).clone()
}

/// Every distinct pattern of `services` that is skipped because it does not compile.
pub fn skipped_patterns(services: &[&Service]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for svc in services {
        for shape in svc.shapes {
            if let ShapeKind::String(s) = &shape.kind {
                if let Some(p) = s.pattern {
                    if !out.contains(&p) && pattern(p).is_none() {
                        out.push(p);
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Renders `errors` the way [`Invalid::message`] does (for callers building their own).
pub fn render(errors: &[String]) -> String {
    format!(
        "{} validation error{} detected: {}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        errors.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::{cognito_idp, dynamodb, lambda, ALL};
    use serde_json::json;

    fn check(svc: &Service, op: &str, input: Value) -> Result<(), Invalid> {
        let op = svc.operation(op).expect("operation");
        validate(svc, op.input.expect("input"), &input)
    }

    fn msg(svc: &Service, op: &str, input: Value) -> String {
        check(svc, op, input)
            .expect_err("should be invalid")
            .message()
    }

    fn table() -> Value {
        json!({
            "TableName": "abc",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"
        })
    }

    #[test]
    fn valid_create_table_passes() {
        assert_eq!(check(&dynamodb::SERVICE, "CreateTable", table()), Ok(()));
    }

    #[test]
    fn missing_table_name() {
        let mut t = table();
        t.as_object_mut().unwrap().remove("TableName");
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn null_required_member_counts_as_missing_and_unknown_members_are_ignored() {
        let mut t = table();
        t["TableName"] = Value::Null;
        t["NoSuchMember"] = json!({"x": 1});
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
        );
    }

    // Current models give CreateTable's TableName the `TableArn` shape (1..1024, no
    // pattern: names or ARNs); the classic TableName shape (3..255, pattern) is still
    // used by e.g. ListTables.
    #[test]
    fn short_name_and_out_of_range_limit() {
        let input = json!({"ExclusiveStartTableName": "ab", "Limit": 0});
        assert_eq!(
            msg(&dynamodb::SERVICE, "ListTables", input),
            "2 validation errors detected: \
             Value 'ab' at 'exclusiveStartTableName' failed to satisfy constraint: Member must have length greater than or equal to 3; \
             Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        let input = json!({"Limit": 101});
        assert_eq!(
            msg(&dynamodb::SERVICE, "ListTables", input),
            "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to 100"
        );
    }

    #[test]
    fn bad_enum() {
        let mut t = table();
        t["BillingMode"] = json!("FREE");
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy constraint: \
             Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        );
    }

    #[test]
    fn pattern_failure_on_table_name() {
        let input = json!({"ExclusiveStartTableName": "abc;"});
        assert_eq!(
            msg(&dynamodb::SERVICE, "ListTables", input),
            "1 validation error detected: Value 'abc;' at 'exclusiveStartTableName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
    }

    #[test]
    fn long_name_fails_length_and_pattern_both() {
        let input = json!({"ExclusiveStartTableName": format!("{};", "a".repeat(255))});
        match check(&dynamodb::SERVICE, "ListTables", input).unwrap_err() {
            Invalid::Validation(v) => {
                assert_eq!(v.len(), 2);
                assert!(
                    v[0].ends_with("Member must have length less than or equal to 255"),
                    "{v:?}"
                );
                assert!(
                    v[1].ends_with(
                        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
                    ),
                    "{v:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_list_element_missing_member() {
        let mut t = table();
        t["KeySchema"] = json!([{"KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "Woop"}]);
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "2 validation errors detected: \
             Value null at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must not be null; \
             Value 'Woop' at 'keySchema.2.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
        );
    }

    #[test]
    fn list_length_prints_java_list() {
        let mut t = table();
        t["KeySchema"] = json!([]);
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        );
        let input = json!({"TableName": "abc", "AttributesToGet": []});
        let m = msg(&dynamodb::SERVICE, "Scan", input);
        assert_eq!(
            m,
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn map_values_use_key_and_member() {
        let input = json!({"RequestItems": {"tbl": []}});
        assert_eq!(
            msg(&dynamodb::SERVICE, "BatchWriteItem", input),
            "1 validation error detected: Value '[]' at 'requestItems.tbl.member' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn scalar_collection_members_are_reported_at_the_collection() {
        // As recorded from AWS Lambda (localstack's test_lambda_api.snapshot.json:
        // uppercase_architecture, routing_config_exc_toohigh, routing_config_exc_version_latest).
        let input = json!({"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {}, "Architectures": ["X86_64"]});
        assert_eq!(
            msg(&lambda::SERVICE, "CreateFunction", input),
            "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"
        );
        let input = json!({"FunctionName": "f", "Name": "a", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 2.0}}});
        assert_eq!(
            msg(&lambda::SERVICE, "CreateAlias", input),
            "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: \
             Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"
        );
        let input = json!({"FunctionName": "f", "Name": "a", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.5}}});
        assert_eq!(
            msg(&lambda::SERVICE, "CreateAlias", input),
            "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: \
             Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member must not be null]"
        );
        // Structure members keep their own paths.
        let mut t = table();
        t["KeySchema"] = json!([{"AttributeName": "pk", "KeyType": "Woop"}]);
        assert!(msg(&dynamodb::SERVICE, "CreateTable", t).contains("'keySchema.1.member.keyType'"));
    }

    #[test]
    fn query_limit_zero() {
        let input = json!({"TableName": "abc", "Limit": 0});
        assert_eq!(
            msg(&dynamodb::SERVICE, "Query", input),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn nested_structure_members() {
        let mut t = table();
        t["ProvisionedThroughput"] = json!({"ReadCapacityUnits": -1});
        assert_eq!(
            msg(&dynamodb::SERVICE, "CreateTable", t),
            "2 validation errors detected: \
             Value '-1' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1; \
             Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        let s = |input| check(&dynamodb::SERVICE, "Query", input).unwrap_err();
        assert_eq!(
            s(json!({"TableName": {"a": 1}})),
            Invalid::Serialization("Start of structure or map found where not expected.".into())
        );
        assert_eq!(
            s(json!({"TableName": "abc", "Limit": "5"})),
            Invalid::Serialization(
                "class java.lang.String can not be converted to an Integer".into()
            )
        );
        assert_eq!(
            s(json!({"TableName": 5})),
            Invalid::Serialization(
                "class java.lang.Short can not be converted to an String".into()
            )
        );
        assert_eq!(
            s(json!({"TableName": "abc", "ConsistentRead": "yes"})),
            Invalid::Serialization("'YES' can not be converted to an Boolean".into())
        );
        assert_eq!(
            s(json!({"TableName": "abc", "AttributesToGet": "a"})),
            Invalid::Serialization("Expected list or null".into())
        );
        assert_eq!(
            s(json!([1])),
            Invalid::Serialization("Start of list found where not expected".into())
        );
        // A type error wins over constraint violations found earlier.
        assert_eq!(
            s(json!({"TableName": "a", "Limit": true})),
            Invalid::Serialization(
                "class java.lang.Boolean can not be converted to an Integer".into()
            )
        );
    }

    #[test]
    fn blobs_are_base64() {
        let item = |b: &str| json!({"TableName": "abc", "Item": {"k": {"B": b}}});
        assert_eq!(check(&dynamodb::SERVICE, "PutItem", item("aGk=")), Ok(()));
        assert_eq!(
            check(&dynamodb::SERVICE, "PutItem", item("abc")).unwrap_err().message(),
            "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"
        );
        assert_eq!(
            check(&dynamodb::SERVICE, "PutItem", item("ab!="))
                .unwrap_err()
                .message(),
            "'ab!=' can not be converted to a Blob: Invalid Base64 character: '!'"
        );
    }

    #[test]
    fn lambda_pattern_failure() {
        let input = json!({"FunctionName": "not a function name!"});
        let m = msg(&lambda::SERVICE, "GetFunction", input);
        assert!(
            m.starts_with(
                "1 validation error detected: Value 'not a function name!' at 'functionName' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: "
            ),
            "{m}"
        );
        assert_eq!(
            check(
                &lambda::SERVICE,
                "GetFunction",
                json!({"FunctionName": "my-fn"})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &lambda::SERVICE,
                "GetFunction",
                json!({"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:my-fn"})
            ),
            Ok(())
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let input = json!({"ClientId": "abc", "Username": "bob", "Password": ""});
        let m = msg(&cognito_idp::SERVICE, "SignUp", input);
        assert!(
            m.contains("Value at 'password' failed to satisfy constraint: Member must"),
            "{m}"
        );
        assert!(!m.contains("Value '' at 'password'"), "{m}");
    }

    #[test]
    fn at_most_ten_errors() {
        let mut t = table();
        t["KeySchema"] = json!([{}, {}, {}, {}, {}, {}]);
        match check(&dynamodb::SERVICE, "CreateTable", t).unwrap_err() {
            Invalid::Validation(v) => assert_eq!(v.len(), MAX_ERRORS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn java_classes_are_ascii() {
        assert_eq!(java_to_rust(r"[\w-_]*"), r"[0-9A-Za-z_-_]*");
        assert_eq!(java_to_rust(r"\w{16,128}"), r"[0-9A-Za-z_]{16,128}");
        assert_eq!(java_to_rust(r"\p{Print}+"), r"[\x20-\x7E]+");
        assert_eq!(java_to_rust(r"[\p{L}\d]+"), r"[\p{L}0-9]+");
        let re = compile(r"\w+").unwrap();
        assert!(re.is_match("abc_1"));
        assert!(!re.is_match("é"));
    }

    #[test]
    fn skipped_patterns_are_few() {
        let skipped = skipped_patterns(ALL);
        let total: std::collections::BTreeSet<&str> = ALL
            .iter()
            .flat_map(|s| s.shapes.iter())
            .filter_map(|sh| match &sh.kind {
                ShapeKind::String(s) => s.pattern,
                _ => None,
            })
            .collect();
        eprintln!(
            "patterns: {} distinct, {} skipped",
            total.len(),
            skipped.len()
        );
        for p in &skipped {
            eprintln!("  skipped: {p}");
        }
        assert!(skipped.len() * 10 < total.len(), "{skipped:?}");
    }
}
