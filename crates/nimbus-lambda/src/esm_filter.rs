//! Lambda event filtering (`FilterCriteria` of an event source mapping): parses each
//! filter's `Pattern` (EventBridge's pattern syntax, which Lambda shares) and decides
//! whether a stream record matches. A record is delivered when any filter matches.
//!
//! Supported rules, as Lambda documents them: exact values (strings, numbers, booleans,
//! `null`, `""`), `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (values,
//! lists, `prefix`, `suffix`, `equals-ignore-case`), `numeric` (`=`, `<`, `<=`, `>`,
//! `>=`, ranges), `exists`, and `$or` across fields. Anything else is refused when the
//! mapping is created or updated ("Invalid filter pattern definition.").

use serde_json::{Map, Value};

/// One parsed pattern: every entry must match (AND).
#[derive(Debug, Clone)]
pub struct Pattern(Vec<Entry>);

#[derive(Debug, Clone)]
enum Entry {
    /// A field of the record with the rules its value must satisfy (any rule: OR).
    Rules(String, Vec<Rule>),
    /// A nested object pattern.
    Nested(String, Pattern),
    /// `$or`: any of the alternatives.
    Or(Vec<Pattern>),
}

#[derive(Debug, Clone)]
enum Rule {
    Exact(Value),
    Prefix(String, bool),
    Suffix(String, bool),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Value>),
    AnythingButIgnoreCase(Vec<String>),
    AnythingButPrefix(String),
    AnythingButSuffix(String),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Parses a filter's `Pattern` text; `None` when it is not a valid pattern.
pub fn parse(text: &str) -> Option<Pattern> {
    let v: Value = serde_json::from_str(text).ok()?;
    parse_object(v.as_object()?)
}

fn parse_object(o: &Map<String, Value>) -> Option<Pattern> {
    let mut entries = Vec::new();
    for (k, v) in o {
        if k == "$or" {
            let alts = v.as_array()?;
            if alts.is_empty() {
                return None;
            }
            entries.push(Entry::Or(alts.iter().map(|a| a.as_object().and_then(parse_object)).collect::<Option<Vec<_>>>()?));
            continue;
        }
        match v {
            Value::Object(inner) => entries.push(Entry::Nested(k.clone(), parse_object(inner)?)),
            Value::Array(rules) => entries.push(Entry::Rules(k.clone(), rules.iter().map(parse_rule).collect::<Option<Vec<_>>>()?)),
            _ => return None,
        }
    }
    Some(Pattern(entries))
}

fn string_or_ignore_case(v: &Value) -> Option<(String, bool)> {
    match v {
        Value::String(s) => Some((s.clone(), false)),
        Value::Object(o) if o.len() == 1 => Some((o.get("equals-ignore-case")?.as_str()?.to_string(), true)),
        _ => None,
    }
}

fn parse_rule(v: &Value) -> Option<Rule> {
    let o = match v {
        Value::Object(o) => o,
        Value::Array(_) => return None,
        scalar => return Some(Rule::Exact(scalar.clone())),
    };
    if o.len() != 1 {
        return None;
    }
    let (op, arg) = o.iter().next()?;
    match op.as_str() {
        "prefix" => string_or_ignore_case(arg).map(|(s, ic)| Rule::Prefix(s, ic)),
        "suffix" => string_or_ignore_case(arg).map(|(s, ic)| Rule::Suffix(s, ic)),
        "equals-ignore-case" => Some(Rule::EqualsIgnoreCase(arg.as_str()?.to_string())),
        "exists" => Some(Rule::Exists(arg.as_bool()?)),
        "numeric" => parse_numeric(arg.as_array()?),
        "anything-but" => match arg {
            Value::String(_) | Value::Number(_) => Some(Rule::AnythingBut(vec![arg.clone()])),
            Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_string() || i.is_number()) => {
                Some(Rule::AnythingBut(items.clone()))
            }
            Value::Object(inner) if inner.len() == 1 => {
                let (k, a) = inner.iter().next()?;
                match k.as_str() {
                    "prefix" => Some(Rule::AnythingButPrefix(a.as_str()?.to_string())),
                    "suffix" => Some(Rule::AnythingButSuffix(a.as_str()?.to_string())),
                    "equals-ignore-case" => match a {
                        Value::String(s) => Some(Rule::AnythingButIgnoreCase(vec![s.clone()])),
                        Value::Array(items) if !items.is_empty() => Some(Rule::AnythingButIgnoreCase(
                            items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()?,
                        )),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

fn parse_numeric(items: &[Value]) -> Option<Rule> {
    if items.is_empty() || !items.len().is_multiple_of(2) || items.len() > 4 {
        return None;
    }
    let mut conds = Vec::new();
    for pair in items.chunks(2) {
        let cmp = match pair[0].as_str()? {
            "=" => Cmp::Eq,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            _ => return None,
        };
        conds.push((cmp, pair[1].as_f64()?));
    }
    if conds.len() == 2 {
        // A range: a lower bound, then a greater upper bound.
        let (lo, hi) = (conds[0], conds[1]);
        if !matches!(lo.0, Cmp::Gt | Cmp::Ge) || !matches!(hi.0, Cmp::Lt | Cmp::Le) || lo.1 >= hi.1 {
            return None;
        }
    }
    Some(Rule::Numeric(conds))
}

impl Pattern {
    /// Whether `record` (a JSON object) matches every entry of the pattern.
    pub fn matches(&self, record: &Value) -> bool {
        self.matches_in(Some(record))
    }

    fn matches_in(&self, v: Option<&Value>) -> bool {
        let obj = v.and_then(Value::as_object);
        self.0.iter().all(|e| match e {
            Entry::Or(alts) => alts.iter().any(|p| p.matches_in(v)),
            Entry::Nested(k, p) => match obj.and_then(|o| o.get(k)) {
                // Arrays of objects: any element may satisfy the nested pattern.
                Some(Value::Array(items)) => items.iter().any(|i| p.matches_in(Some(i))),
                other => p.matches_in(other),
            },
            Entry::Rules(k, rules) => matches_rules(rules, obj.and_then(|o| o.get(k))),
        })
    }
}

fn matches_rules(rules: &[Rule], v: Option<&Value>) -> bool {
    match v {
        None => rules.iter().any(|r| matches!(r, Rule::Exists(false))),
        // Exists (and every other rule) applies to leaves only.
        Some(Value::Object(_)) => rules.iter().any(|r| matches!(r, Rule::Exists(false))),
        Some(Value::Array(items)) => {
            rules.iter().any(|r| matches!(r, Rule::Exists(true))) || items.iter().any(|i| rules.iter().any(|r| r.matches_leaf(i)))
        }
        Some(leaf) => rules.iter().any(|r| r.matches_leaf(leaf)),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Rule {
    fn matches_leaf(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            Rule::Exact(p) => same_value(p, v),
            Rule::Exists(want) => *want,
            Rule::Prefix(p, false) => s.is_some_and(|s| s.starts_with(p.as_str())),
            Rule::Prefix(p, true) => s.is_some_and(|s| s.to_lowercase().starts_with(&p.to_lowercase())),
            Rule::Suffix(p, false) => s.is_some_and(|s| s.ends_with(p.as_str())),
            Rule::Suffix(p, true) => s.is_some_and(|s| s.to_lowercase().ends_with(&p.to_lowercase())),
            Rule::EqualsIgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
            Rule::AnythingBut(list) => !list.iter().any(|x| same_value(x, v)),
            Rule::AnythingButIgnoreCase(list) => s.is_some_and(|s| !list.iter().any(|x| x.to_lowercase() == s.to_lowercase())),
            Rule::AnythingButPrefix(p) => s.is_some_and(|s| !s.starts_with(p.as_str())),
            Rule::AnythingButSuffix(p) => s.is_some_and(|s| !s.ends_with(p.as_str())),
            Rule::Numeric(conds) => v.as_f64().is_some_and(|n| {
                conds.iter().all(|(c, x)| match c {
                    Cmp::Eq => n == *x,
                    Cmp::Lt => n < *x,
                    Cmp::Le => n <= *x,
                    Cmp::Gt => n > *x,
                    Cmp::Ge => n >= *x,
                })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec() -> Value {
        json!({"eventName": "INSERT", "awsRegion": "us-east-1", "dynamodb": {
            "Keys": {"pk": {"S": "user#1"}},
            "NewImage": {"pk": {"S": "user#1"}, "status": {"S": "Active"}, "n": {"N": "5"}, "tags": {"SS": ["a", "b"]}},
            "SizeBytes": 40
        }})
    }

    fn m(p: &str) -> bool {
        parse(p).expect(p).matches(&rec())
    }

    #[test]
    fn exact_nested_and_or_values() {
        assert!(m(r#"{"eventName": ["INSERT", "MODIFY"]}"#));
        assert!(!m(r#"{"eventName": ["REMOVE"]}"#));
        assert!(m(r#"{"dynamodb": {"NewImage": {"status": {"S": ["Active"]}}}}"#));
        assert!(!m(r#"{"dynamodb": {"NewImage": {"status": {"S": ["active"]}}}}"#));
        assert!(m(r#"{"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}"#));
        assert!(m(r#"{"eventName": ["INSERT"], "dynamodb": {"SizeBytes": [40]}}"#));
        assert!(!m(r#"{"eventName": ["INSERT"], "dynamodb": {"SizeBytes": [41]}}"#));
        assert!(m(r#"{"$or": [{"eventName": ["REMOVE"]}, {"awsRegion": ["us-east-1"]}]}"#));
        assert!(!m(r#"{"$or": [{"eventName": ["REMOVE"]}, {"awsRegion": ["eu-west-1"]}]}"#));
    }

    #[test]
    fn operators() {
        assert!(m(r#"{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "user#"}]}}}}"#));
        assert!(!m(r#"{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}"#));
        assert!(m(r##"{"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "#1"}]}}}}"##));
        assert!(m(r#"{"dynamodb": {"NewImage": {"status": {"S": [{"equals-ignore-case": "ACTIVE"}]}}}}"#));
        assert!(m(r#"{"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]}"#));
        assert!(!m(r#"{"eventName": [{"anything-but": "INSERT"}]}"#));
        assert!(!m(r#"{"eventName": [{"anything-but": {"prefix": "INS"}}]}"#));
        assert!(m(r#"{"dynamodb": {"SizeBytes": [{"numeric": [">", 10, "<=", 40]}]}}"#));
        assert!(!m(r#"{"dynamodb": {"SizeBytes": [{"numeric": ["<", 40]}]}}"#));
        // DynamoDB numbers are strings in the record: numeric rules do not see them.
        assert!(!m(r#"{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}"#));
        assert!(m(r#"{"dynamodb": {"NewImage": {"n": {"N": ["5"]}}}}"#));
        // Exists applies to leaves: `status` is an object.
        assert!(!m(r#"{"dynamodb": {"NewImage": {"status": [{"exists": true}]}}}"#));
        assert!(m(r#"{"dynamodb": {"NewImage": {"status": {"S": [{"exists": true}]}}}}"#));
        assert!(m(r#"{"dynamodb": {"OldImage": {"status": {"S": [{"exists": false}]}}}}"#));
        assert!(!m(r#"{"dynamodb": {"NewImage": {"status": {"S": [{"exists": false}]}}}}"#));
        assert!(!m(r#"{"dynamodb": {"OldImage": {"status": {"S": ["Active"]}}}}"#));
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for p in [
            "not json",
            "[1]",
            r#"{"a": "x"}"#,
            r#"{"a": [{"prefix": 1}]}"#,
            r#"{"a": [{"numeric": [">", "x"]}]}"#,
            r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#,
            r#"{"a": [{"nope": 1}]}"#,
            r#"{"a": [{"exists": "yes"}]}"#,
            r#"{"a": [[1]]}"#,
            r#"{"$or": []}"#,
        ] {
            assert!(parse(p).is_none(), "{p}");
        }
    }
}
