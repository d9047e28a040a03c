//! Typed serde structs in the canonical value convention (see `nimbus_model::canonical`).
//!
//! One struct per structure shape reachable from the operations' inputs, outputs and
//! errors. Required members of shapes reachable from an input are plain `T`; every
//! other member is `Option<T>`. Enums stay `String`.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use crate::{camel_ident, first_sentence, lit, unique, Model, J};

/// Names a generated struct may not take (they are used unqualified in the file).
const RESERVED: &[&str] = &[
    "String",
    "Option",
    "Vec",
    "Box",
    "BTreeMap",
    "Blob",
    "Timestamp",
    "Serialize",
    "Deserialize",
    "Value",
    "Default",
    "Result",
    "Some",
    "None",
];

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// `RoleArn` → `role_arn`, `SAMLAssertion` → `saml_assertion`, `DBInstance` → `db_instance`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("f_{out}");
    }
    if KEYWORDS.contains(&out.as_str()) {
        return format!("{out}_");
    }
    out
}

struct Ctx<'m, 'a> {
    m: &'m Model<'a>,
    /// Struct name per shape id (structures only).
    names: Vec<Option<String>>,
    /// Shapes reachable from an operation input.
    from_input: HashSet<u16>,
    uses_map: bool,
    uses_blob: bool,
    uses_ts: bool,
}

fn walk(m: &Model, id: u16, seen: &mut BTreeSet<u16>) -> Result<(), String> {
    if !seen.insert(id) {
        return Ok(());
    }
    let (_, s) = m.shape(id);
    match s.str("type") {
        Some("structure") => {
            for (_, mem) in s.get("members").map(J::entries).unwrap_or(&[]) {
                walk(m, m.target(Some(mem))?, seen)?;
            }
        }
        Some("list") => walk(m, m.target(s.get("member"))?, seen)?,
        Some("map") => {
            walk(m, m.target(s.get("key"))?, seen)?;
            walk(m, m.target(s.get("value"))?, seen)?;
        }
        _ => {}
    }
    Ok(())
}

fn is_struct(s: &J) -> bool {
    s.str("type") == Some("structure") && !s.flag("document")
}

/// Structure members that hold `to` by value (through `Option`, not `Vec`/map).
fn direct_targets(m: &Model, id: u16) -> Vec<u16> {
    let (_, s) = m.shape(id);
    if !is_struct(s) {
        return Vec::new();
    }
    s.get("members")
        .map(J::entries)
        .unwrap_or(&[])
        .iter()
        .filter_map(|(_, mem)| m.target(Some(mem)).ok())
        .filter(|t| is_struct(m.shape(*t).1))
        .collect()
}

/// Whether `from` reaches `to` through by-value struct members (so `to` holding `from`
/// by value would make an infinitely sized type).
fn reaches(m: &Model, from: u16, to: u16) -> bool {
    let mut stack = vec![from];
    let mut seen = HashSet::new();
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if seen.insert(x) {
            stack.extend(direct_targets(m, x));
        }
    }
    false
}

impl Ctx<'_, '_> {
    fn rust_type(&mut self, id: u16) -> Result<String, String> {
        let (name, s) = self.m.shape(id);
        Ok(match s.str("type").unwrap_or("") {
            "structure" if s.flag("document") => "serde_json::Value".into(),
            "structure" => self.names[id as usize]
                .clone()
                .ok_or_else(|| format!("{name}: unnamed struct"))?,
            "list" => format!("Vec<{}>", self.rust_type(self.m.target(s.get("member"))?)?),
            "map" => {
                self.uses_map = true;
                format!(
                    "BTreeMap<String, {}>",
                    self.rust_type(self.m.target(s.get("value"))?)?
                )
            }
            "string" => "String".into(),
            "integer" => "i32".into(),
            "long" => "i64".into(),
            "float" | "double" => "f64".into(),
            "boolean" => "bool".into(),
            "blob" => {
                self.uses_blob = true;
                "Blob".into()
            }
            "timestamp" => {
                self.uses_ts = true;
                "Timestamp".into()
            }
            other => return Err(format!("{name}: unsupported type {other}")),
        })
    }
}

pub fn gen_types(m: &Model, dir: &str, botocore: &str) -> Result<String, String> {
    let mut reachable = BTreeSet::new();
    let mut from_input_set = BTreeSet::new();
    for (_, op) in &m.ops {
        if let Some(r) = op.get("input") {
            walk(m, m.target(Some(r))?, &mut from_input_set)?;
        }
        if let Some(r) = op.get("output") {
            walk(m, m.target(Some(r))?, &mut reachable)?;
        }
        for e in op.get("errors").map(J::items).unwrap_or(&[]) {
            walk(m, m.target(Some(e))?, &mut reachable)?;
        }
    }
    reachable.extend(from_input_set.iter().copied());
    let structs: Vec<u16> = reachable
        .iter()
        .copied()
        .filter(|&id| is_struct(m.shape(id).1))
        .collect();

    let mut used: HashSet<String> = RESERVED.iter().map(|s| s.to_string()).collect();
    let mut names = vec![None; m.shapes.len()];
    for &id in &structs {
        let mut ident = camel_ident(m.shape(id).0);
        if RESERVED.contains(&ident.as_str()) {
            ident.push_str("Shape");
        }
        names[id as usize] = Some(unique(ident, &mut used));
    }
    let mut cx = Ctx {
        m,
        names,
        from_input: from_input_set.into_iter().collect(),
        uses_map: false,
        uses_blob: false,
        uses_ts: false,
    };

    let mut body = String::new();
    for &id in &structs {
        let (_, s) = m.shape(id);
        let sname = cx.names[id as usize].clone().unwrap_or_default();
        let required: Vec<&str> = s
            .get("required")
            .map(J::items)
            .unwrap_or(&[])
            .iter()
            .filter_map(J::as_str)
            .collect();
        let doc = first_sentence(s.str("documentation"));
        body.push('\n');
        if !doc.is_empty() {
            writeln!(body, "/// {doc}").unwrap();
        }
        writeln!(
            body,
            "#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]"
        )
        .unwrap();
        let members = s.get("members").map(J::entries).unwrap_or(&[]);
        if members.is_empty() {
            writeln!(body, "pub struct {sname} {{}}").unwrap();
            continue;
        }
        writeln!(body, "pub struct {sname} {{").unwrap();
        let mut fields = HashSet::new();
        for (mname, mem) in members {
            let target = m.target(Some(mem))?;
            let mut ty = cx.rust_type(target)?;
            if is_struct(m.shape(target).1) && reaches(m, target, id) {
                ty = format!("Box<{ty}>");
            }
            let field = unique(snake(mname), &mut fields);
            let plain = required.contains(&mname.as_str()) && cx.from_input.contains(&id);
            if plain {
                writeln!(body, "    #[serde(rename = {})]", lit(mname)).unwrap();
                writeln!(body, "    pub {field}: {ty},").unwrap();
            } else {
                writeln!(
                    body,
                    "    #[serde(rename = {}, skip_serializing_if = \"Option::is_none\")]",
                    lit(mname)
                )
                .unwrap();
                writeln!(body, "    pub {field}: Option<{ty}>,").unwrap();
            }
        }
        writeln!(body, "}}").unwrap();
    }

    let mut o = String::new();
    writeln!(o, "//! Typed `{dir}` shapes: generated by `nimbus-codegen` from botocore {botocore}; do not edit.").unwrap();
    writeln!(
        o,
        "//! Regenerate with `scripts/update-models.sh` (or `cargo run -p nimbus-codegen`)."
    )
    .unwrap();
    writeln!(o, "//!").unwrap();
    writeln!(
        o,
        "//! These (de)serialize the canonical value: members by name, blobs as base64,"
    )
    .unwrap();
    writeln!(o, "//! timestamps as epoch seconds.").unwrap();
    writeln!(o).unwrap();
    writeln!(o, "#![allow(rustdoc::all)]").unwrap();
    writeln!(o).unwrap();
    writeln!(o, "use serde::{{Deserialize, Serialize}};").unwrap();
    if cx.uses_map {
        writeln!(o, "use std::collections::BTreeMap;").unwrap();
    }
    match (cx.uses_blob, cx.uses_ts) {
        (true, true) => writeln!(o, "use crate::{{Blob, Timestamp}};").unwrap(),
        (true, false) => writeln!(o, "use crate::Blob;").unwrap(),
        (false, true) => writeln!(o, "use crate::Timestamp;").unwrap(),
        _ => {}
    }
    o.push_str(&body);
    Ok(o)
}
