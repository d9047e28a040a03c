//! What templates can call: `$util.*`, the Java methods templates commonly use on
//! strings, lists and maps, and the JSONPath subset of `$input.path`/`$input.json`.

use base64::Engine;
use serde_json::{Map, Value};

use super::{as_int, render, Error};

/// Largest compiled regular expression (bounds `matches`/`replaceAll`/`split`).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn regex(p: &str) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(p)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression {p:?}: {e}"))
}

fn arg_str(args: &[Value], i: usize) -> String {
    args.get(i).map(render).unwrap_or_default()
}

pub fn util(name: &str, args: &[Value]) -> Result<Value, Error> {
    let s = arg_str(args, 0);
    Ok(match name {
        "escapeJavaScript" => Value::String(escape_js(&s)),
        "urlEncode" => Value::String(form_urlencoded::byte_serialize(s.as_bytes()).collect()),
        "urlDecode" => Value::String(
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        ),
        "base64Encode" => Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
        "base64Decode" => Value::String(
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| format!("$util.base64Decode: {e}"))?,
        ),
        "parseJson" => {
            serde_json::from_str(&s).map_err(|e| format!("$util.parseJson: invalid JSON: {e}"))?
        }
        _ => return Err(format!("$util.{name} is not supported")),
    })
}

/// Java's `StringEscapeUtils.escapeJavaScript`.
fn escape_js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

pub fn is_mutator(name: &str) -> bool {
    matches!(
        name,
        "add" | "put" | "remove" | "putAll" | "addAll" | "clear"
    )
}

pub fn mutate(target: &mut Value, name: &str, args: Vec<Value>) -> Result<Value, Error> {
    let mut args = args.into_iter();
    match (target, name) {
        (Value::Array(a), "add") => {
            a.push(args.next().unwrap_or(Value::Null));
            Ok(Value::Bool(true))
        }
        (Value::Array(a), "addAll") => {
            if let Some(Value::Array(more)) = args.next() {
                a.extend(more);
            }
            Ok(Value::Bool(true))
        }
        (Value::Array(a), "remove") => {
            let i = args.next().as_ref().and_then(as_int).unwrap_or(-1);
            Ok(usize::try_from(i)
                .ok()
                .filter(|i| *i < a.len())
                .map(|i| a.remove(i))
                .unwrap_or(Value::Null))
        }
        (Value::Array(a), "clear") => {
            a.clear();
            Ok(Value::Null)
        }
        (Value::Object(m), "put") => {
            let k = args.next().map(|k| render(&k)).unwrap_or_default();
            Ok(m.insert(k, args.next().unwrap_or(Value::Null))
                .unwrap_or(Value::Null))
        }
        (Value::Object(m), "putAll") => {
            if let Some(Value::Object(more)) = args.next() {
                m.extend(more);
            }
            Ok(Value::Null)
        }
        (Value::Object(m), "remove") => {
            let k = args.next().map(|k| render(&k)).unwrap_or_default();
            Ok(m.remove(&k).unwrap_or(Value::Null))
        }
        (Value::Object(m), "clear") => {
            m.clear();
            Ok(Value::Null)
        }
        (t, _) => {
            let args: Vec<Value> = args.collect();
            method(t, name, &args)
        }
    }
}

/// `$x.name`: a map's entry; Velocity's getters (`$list.size` → `size()`).
pub fn property(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => m.get(name).cloned().unwrap_or(Value::Null),
        _ => match name {
            "size" | "length" | "empty" => {
                let m = if name == "empty" { "isEmpty" } else { name };
                method(v, m, &[]).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
    }
}

pub fn index(v: &Value, k: &Value) -> Value {
    match (v, k) {
        (Value::Array(a), k) => as_int(k)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        (Value::Object(m), k) => m.get(&render(k)).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn char_index(s: &str, byte: Option<usize>) -> Value {
    match byte {
        Some(b) => Value::from(s[..b].chars().count()),
        None => Value::from(-1),
    }
}

/// A substring by character positions, as Java's `substring`.
fn substring(s: &str, from: i64, to: Option<i64>) -> Result<Value, Error> {
    let chars: Vec<char> = s.chars().collect();
    let to = to.unwrap_or(chars.len() as i64);
    if from < 0 || to < from || to > chars.len() as i64 {
        return Err(format!(
            "substring({from}, {to}) is out of range for a string of {} characters",
            chars.len()
        ));
    }
    Ok(Value::String(
        chars[from as usize..to as usize].iter().collect(),
    ))
}

pub fn method(v: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let a0 = || arg_str(args, 0);
    let i = |k: usize| args.get(k).and_then(as_int);
    Ok(match (v, name) {
        (_, "toString") => Value::String(render(v)),
        (_, "equals") => Value::Bool(
            args.first()
                .is_some_and(|x| render(x) == render(v) && x.is_null() == v.is_null()),
        ),
        (_, "hashCode") => Value::from(render(v).len()),
        (Value::String(s), "length") | (Value::String(s), "size") => Value::from(s.chars().count()),
        (Value::String(s), "isEmpty") => Value::Bool(s.is_empty()),
        (Value::String(s), "toUpperCase") => Value::String(s.to_uppercase()),
        (Value::String(s), "toLowerCase") => Value::String(s.to_lowercase()),
        (Value::String(s), "trim") => Value::String(s.trim().to_string()),
        (Value::String(s), "contains") => Value::Bool(s.contains(&a0())),
        (Value::String(s), "startsWith") => Value::Bool(s.starts_with(&a0())),
        (Value::String(s), "endsWith") => Value::Bool(s.ends_with(&a0())),
        (Value::String(s), "equalsIgnoreCase") => {
            Value::Bool(s.to_lowercase() == a0().to_lowercase())
        }
        (Value::String(s), "indexOf") => char_index(s, s.find(&a0())),
        (Value::String(s), "lastIndexOf") => char_index(s, s.rfind(&a0())),
        (Value::String(s), "charAt") => {
            let c = i(0)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| s.chars().nth(i))
                .ok_or_else(|| "charAt: index out of range".to_string())?;
            Value::String(c.to_string())
        }
        (Value::String(s), "substring") => substring(s, i(0).unwrap_or(0), i(1))?,
        (Value::String(s), "concat") => Value::String(format!("{s}{}", a0())),
        (Value::String(s), "replace") => Value::String(s.replace(&a0(), &arg_str(args, 1))),
        (Value::String(s), "replaceAll") => Value::String(
            regex(&a0())?
                .replace_all(s, java_replacement(&arg_str(args, 1)).as_str())
                .into_owned(),
        ),
        (Value::String(s), "replaceFirst") => Value::String(
            regex(&a0())?
                .replace(s, java_replacement(&arg_str(args, 1)).as_str())
                .into_owned(),
        ),
        (Value::String(s), "matches") => {
            Value::Bool(regex(&format!("^(?:{})$", a0()))?.is_match(s))
        }
        (Value::String(s), "split") => {
            let mut parts: Vec<Value> = regex(&a0())?
                .split(s)
                .map(|p| Value::String(p.to_string()))
                .collect();
            // Java drops trailing empty strings.
            while parts.last().is_some_and(|p| p.as_str() == Some("")) && parts.len() > 1 {
                parts.pop();
            }
            Value::Array(parts)
        }
        (Value::Array(a), "size") | (Value::Array(a), "length") => Value::from(a.len()),
        (Value::Array(a), "isEmpty") => Value::Bool(a.is_empty()),
        (Value::Array(a), "get") => i(0)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        (Value::Array(a), "contains") => Value::Bool(
            args.first()
                .is_some_and(|x| a.iter().any(|y| render(y) == render(x))),
        ),
        (Value::Array(a), "indexOf") => Value::from(
            args.first()
                .and_then(|x| a.iter().position(|y| render(y) == render(x)))
                .map(|p| p as i64)
                .unwrap_or(-1),
        ),
        (Value::Array(a), "subList") => {
            let (from, to) = (i(0).unwrap_or(0), i(1).unwrap_or(a.len() as i64));
            if from < 0 || to < from || to > a.len() as i64 {
                return Err("subList: index out of range".into());
            }
            Value::Array(a[from as usize..to as usize].to_vec())
        }
        (Value::Object(m), "size") => Value::from(m.len()),
        (Value::Object(m), "isEmpty") => Value::Bool(m.is_empty()),
        (Value::Object(m), "get") => m.get(&a0()).cloned().unwrap_or(Value::Null),
        (Value::Object(m), "getOrDefault") => m
            .get(&a0())
            .cloned()
            .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::Null)),
        (Value::Object(m), "containsKey") => Value::Bool(m.contains_key(&a0())),
        (Value::Object(m), "containsValue") => Value::Bool(
            args.first()
                .is_some_and(|x| m.values().any(|y| render(y) == render(x))),
        ),
        (Value::Object(m), "keySet") => {
            Value::Array(m.keys().map(|k| Value::String(k.clone())).collect())
        }
        (Value::Object(m), "values") => Value::Array(m.values().cloned().collect()),
        (Value::Object(m), "entrySet") => Value::Array(
            m.iter()
                .map(|(k, v)| {
                    let mut e = Map::new();
                    e.insert("key".into(), Value::String(k.clone()));
                    e.insert("value".into(), v.clone());
                    Value::Object(e)
                })
                .collect(),
        ),
        (Value::Number(_) | Value::String(_), "intValue" | "longValue") => {
            as_int(v).map(Value::from).unwrap_or(Value::Null)
        }
        (Value::Number(n), "doubleValue" | "floatValue") => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        (Value::Null, _) => Value::Null,
        _ => return Err(format!("method {name} is not supported on this value")),
    })
}

/// Java's replacement syntax (`$1`) to the regex crate's (`${1}`).
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The JSONPath subset mapping templates use: `$`, `.name`, `['name']`, `[n]`,
/// `[*]`/`.*` (a list of every match) and `..name` (every `name` below).
pub fn json_path(root: &Value, path: &str) -> Result<Value, Error> {
    let p: Vec<char> = path.trim().chars().collect();
    if p.first() != Some(&'$') {
        return Err(format!("invalid JSONPath {path}"));
    }
    let mut cur = vec![root.clone()];
    let mut many = false;
    let mut i = 1;
    let name_at = |i: &mut usize| {
        let start = *i;
        while *i < p.len() && p[*i] != '.' && p[*i] != '[' {
            *i += 1;
        }
        p[start..*i].iter().collect::<String>()
    };
    while i < p.len() {
        match p[i] {
            '.' if p.get(i + 1) == Some(&'.') => {
                i += 2;
                let name = name_at(&mut i);
                let mut found = Vec::new();
                for v in &cur {
                    descend(v, &name, &mut found);
                }
                cur = found;
                many = true;
            }
            '.' => {
                i += 1;
                let name = name_at(&mut i);
                if name == "*" {
                    cur = cur.iter().flat_map(children).collect();
                    many = true;
                } else {
                    cur = cur.iter().filter_map(|v| v.get(&name).cloned()).collect();
                }
            }
            '[' => {
                let end = p[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| format!("invalid JSONPath {path}"))?;
                let inner: String = p[i + 1..i + end].iter().collect();
                i += end + 1;
                let inner = inner.trim();
                if inner == "*" {
                    cur = cur.iter().flat_map(children).collect();
                    many = true;
                } else if let Some(name) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    cur = cur.iter().filter_map(|v| v.get(name).cloned()).collect();
                } else if let Ok(n) = inner.parse::<i64>() {
                    cur = cur
                        .iter()
                        .filter_map(|v| {
                            let a = v.as_array()?;
                            let idx = if n < 0 { a.len() as i64 + n } else { n };
                            a.get(usize::try_from(idx).ok()?).cloned()
                        })
                        .collect();
                } else {
                    return Err(format!("unsupported JSONPath {path}"));
                }
            }
            _ => return Err(format!("invalid JSONPath {path}")),
        }
    }
    Ok(if many {
        Value::Array(cur)
    } else {
        cur.into_iter().next().unwrap_or(Value::Null)
    })
}

fn children(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}

fn descend(v: &Value, name: &str, out: &mut Vec<Value>) {
    // Bounded by the document's own depth (serde_json limits nesting to 128).
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(name) {
                out.push(x.clone());
            }
            for x in m.values() {
                descend(x, name, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                descend(x, name, out);
            }
        }
        _ => {}
    }
}
