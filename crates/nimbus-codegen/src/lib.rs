//! Turns botocore `service-2.json` models (checked in under `models/`) into the
//! generated part of `nimbus-model`:
//!
//! - `services/<module>.rs`: a `static SERVICE: Service` in the runtime form of
//!   `nimbus_model::schema`, an `Op` enum and an `Error` enum per service;
//! - `services/mod.rs`: `ALL` and look-ups;
//! - `types/<module>.rs`: serde structs in the canonical value convention, only for
//!   the services in [`TYPED`] (typed structs cost compile time; data does not).
//!
//! Output is deterministic: the same models give byte-identical files, which the
//! freshness test (`tests/fresh.rs`) checks against the checked-in tree.

mod json;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use json::J;

/// `(botocore directory, Rust module)` for every generated service, in `ALL` order.
pub const SERVICES: &[(&str, &str)] = &[
    ("dynamodb", "dynamodb"),
    ("dynamodbstreams", "dynamodbstreams"),
    ("lambda", "lambda"),
    ("apigateway", "apigateway"),
    ("apigatewayv2", "apigatewayv2"),
    ("sqs", "sqs"),
    ("sns", "sns"),
    ("events", "events"),
    ("scheduler", "scheduler"),
    ("stepfunctions", "stepfunctions"),
    ("sts", "sts"),
    ("iam", "iam"),
    ("logs", "logs"),
    ("cloudwatch", "cloudwatch"),
    ("cognito-idp", "cognito_idp"),
    ("secretsmanager", "secretsmanager"),
    ("ssm", "ssm"),
];

/// Modules that also get typed serde structs (`types/<module>.rs`). Grows as services
/// are implemented.
pub const TYPED: &[&str] = &["sts", "dynamodb", "lambda", "apigateway", "apigatewayv2"];

/// Directories under `nimbus-model/src` that the generator owns entirely.
pub const GENERATED_DIRS: &[&str] = &["services", "types"];

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// Reads `models_dir/<service>/service-2.json.gz` for every service.
pub fn load_model(models_dir: &Path, service_dir: &str) -> Result<J, String> {
    let path = models_dir.join(service_dir).join("service-2.json.gz");
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    J::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Generates every file, keyed by its path relative to `nimbus-model/src`
/// (e.g. `services/dynamodb.rs`).
pub fn generate(models_dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let botocore = std::fs::read_to_string(models_dir.join("BOTOCORE_VERSION"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let mut files = BTreeMap::new();
    let mut typed = Vec::new();
    for &(dir, module) in SERVICES {
        let model = load_model(models_dir, dir)?;
        let m = Model::new(&model).map_err(|e| format!("{dir}: {e}"))?;
        let src = gen_service(&m, dir, &botocore).map_err(|e| format!("{dir}: {e}"))?;
        files.insert(format!("services/{module}.rs"), src);
        if TYPED.contains(&module) {
            let src = types::gen_types(&m, dir, &botocore).map_err(|e| format!("{dir}: {e}"))?;
            files.insert(format!("types/{module}.rs"), src);
            typed.push(module);
        }
    }
    files.insert("services/mod.rs".to_owned(), gen_services_mod(&botocore));
    files.insert("types/mod.rs".to_owned(), gen_types_mod(&typed));
    Ok(files)
}

/// Generates into `out_src` (a `nimbus-model/src` directory): writes changed files and
/// removes `.rs` files in the generated directories that are no longer produced.
pub fn generate_to(models_dir: &Path, out_src: &Path) -> Result<BTreeMap<String, String>, String> {
    let files = generate(models_dir)?;
    for dir in GENERATED_DIRS {
        let d = out_src.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{dir}/{name}");
            if name.ends_with(".rs") && !files.contains_key(&rel) {
                std::fs::remove_file(entry.path()).map_err(|e| e.to_string())?;
            }
        }
    }
    for (rel, text) in &files {
        let path = out_src.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(files)
}

/// One parsed model: shapes and operations sorted by name, shape ids assigned.
pub struct Model<'a> {
    pub meta: &'a J,
    pub ops: Vec<(&'a str, &'a J)>,
    pub shapes: Vec<(&'a str, &'a J)>,
    pub ids: HashMap<&'a str, u16>,
}

impl<'a> Model<'a> {
    pub fn new(model: &'a J) -> Result<Model<'a>, String> {
        let meta = model.get("metadata").ok_or("no metadata")?;
        let mut ops: Vec<(&str, &J)> = model
            .get("operations")
            .ok_or("no operations")?
            .entries()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        ops.sort_by(|a, b| a.0.cmp(b.0));
        let mut shapes: Vec<(&str, &J)> = model
            .get("shapes")
            .ok_or("no shapes")?
            .entries()
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        shapes.sort_by(|a, b| a.0.cmp(b.0));
        if shapes.len() > u16::MAX as usize {
            return Err("too many shapes".into());
        }
        let ids = shapes
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n, i as u16))
            .collect();
        Ok(Model {
            meta,
            ops,
            shapes,
            ids,
        })
    }

    pub fn id(&self, name: &str) -> Result<u16, String> {
        self.ids
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown shape {name}"))
    }

    /// The `shape` a reference object (`{"shape": "X"}`) points to.
    pub fn target(&self, reference: Option<&J>) -> Result<u16, String> {
        let name = reference
            .and_then(|r| r.str("shape"))
            .ok_or("reference without shape")?;
        self.id(name)
    }

    pub fn shape(&self, id: u16) -> (&'a str, &'a J) {
        self.shapes[id as usize]
    }
}

fn protocol_variant(p: &str) -> Result<&'static str, String> {
    Ok(match p {
        "json" => "Protocol::Json",
        "rest-json" => "Protocol::RestJson",
        "query" => "Protocol::Query",
        "rest-xml" => "Protocol::RestXml",
        "ec2" => "Protocol::Ec2",
        "smithy-rpc-v2-cbor" => "Protocol::RpcV2Cbor",
        other => return Err(format!("unknown protocol {other}")),
    })
}

fn timestamp_format(f: &str) -> Result<&'static str, String> {
    Ok(match f {
        "iso8601" => "TimestampFormat::Iso8601",
        "rfc822" => "TimestampFormat::Rfc822",
        "unixTimestamp" => "TimestampFormat::UnixTimestamp",
        other => return Err(format!("unknown timestampFormat {other}")),
    })
}

/// A Rust string literal.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn opt_lit(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("Some({})", lit(s)),
        None => "None".to_owned(),
    }
}

fn opt_i64(v: Option<i64>) -> String {
    match v {
        Some(v) => format!("Some({v})"),
        None => "None".to_owned(),
    }
}

fn opt_f64(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("Some({v:?})"),
        None => "None".to_owned(),
    }
}

/// The first sentence of a model `documentation` string, HTML stripped, for a `///`
/// line; empty when there is none.
pub fn first_sentence(doc: Option<&str>) -> String {
    let Some(doc) = doc else { return String::new() };
    let mut text = String::with_capacity(doc.len());
    let mut in_tag = false;
    for c in doc.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            _ => text.push(c),
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    let text = words.join(" ");
    let mut end = text.len();
    if let Some(i) = text.find(". ") {
        end = i + 1;
    }
    let mut s: String = text[..end].to_owned();
    const MAX: usize = 200;
    if s.chars().count() > MAX {
        s = s.chars().take(MAX).collect::<String>() + "...";
    }
    // Keep rustdoc from reading links or HTML into it.
    s.replace('[', "\\[")
        .replace(']', "\\]")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Rust type/variant identifier for a model name (`__listOfString` → `ListOfString`).
pub fn camel_ident(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'X');
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// Makes `ident` unique among `used` by appending a number.
pub fn unique(ident: String, used: &mut std::collections::HashSet<String>) -> String {
    if used.insert(ident.clone()) {
        return ident;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{ident}{n}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn gen_service(m: &Model, dir: &str, botocore: &str) -> Result<String, String> {
    let meta = m.meta;
    let endpoint_prefix = meta.str("endpointPrefix").ok_or("no endpointPrefix")?;
    let protocol = meta.str("protocol").ok_or("no protocol")?;
    let protocols: Vec<&str> = match meta.get("protocols") {
        Some(J::Arr(a)) => a.iter().filter_map(J::as_str).collect(),
        _ => vec![protocol],
    };
    let api_version = meta.str("apiVersion").ok_or("no apiVersion")?;
    let mut o = String::new();
    let w = &mut o;
    writeln!(w, "//! `{dir}` {api_version}: generated by `nimbus-codegen` from botocore {botocore}; do not edit.").unwrap();
    writeln!(
        w,
        "//! Regenerate with `scripts/update-models.sh` (or `cargo run -p nimbus-codegen`)."
    )
    .unwrap();
    writeln!(w).unwrap();
    writeln!(w, "#![allow(rustdoc::all)]").unwrap();
    writeln!(w).unwrap();
    writeln!(w, "use crate::schema::*;").unwrap();
    writeln!(w).unwrap();
    // The `..X` defaults this file uses, inserted below once the body is known.
    let defaults_at = w.len();

    // Service.
    writeln!(w, "pub static SERVICE: Service = Service {{").unwrap();
    writeln!(w, "    endpoint_prefix: {},", lit(endpoint_prefix)).unwrap();
    writeln!(
        w,
        "    signing_name: {},",
        lit(meta.str("signingName").unwrap_or(endpoint_prefix))
    )
    .unwrap();
    writeln!(
        w,
        "    service_id: {},",
        lit(meta.str("serviceId").ok_or("no serviceId")?)
    )
    .unwrap();
    writeln!(w, "    api_version: {},", lit(api_version)).unwrap();
    writeln!(w, "    protocol: {},", protocol_variant(protocol)?).unwrap();
    let ps: Result<Vec<_>, _> = protocols.iter().map(|p| protocol_variant(p)).collect();
    writeln!(w, "    protocols: &[{}],", ps?.join(", ")).unwrap();
    writeln!(
        w,
        "    aws_query_compatible: {},",
        meta.get("awsQueryCompatible").is_some()
    )
    .unwrap();
    writeln!(
        w,
        "    target_prefix: {},",
        opt_lit(meta.str("targetPrefix"))
    )
    .unwrap();
    writeln!(w, "    json_version: {},", opt_lit(meta.str("jsonVersion"))).unwrap();
    let xmlns = meta.get("xmlNamespace").and_then(|x| match x {
        J::Str(s) => Some(s.as_str()),
        other => other.str("uri"),
    });
    writeln!(w, "    xml_namespace: {},", opt_lit(xmlns)).unwrap();
    writeln!(w, "    operations: &OPERATIONS,").unwrap();
    writeln!(w, "    shapes: &SHAPES,").unwrap();
    writeln!(w, "}};").unwrap();
    writeln!(w).unwrap();

    // Operations.
    writeln!(w, "static OPERATIONS: [Operation; {}] = [", m.ops.len()).unwrap();
    for (name, op) in &m.ops {
        let http = op.get("http").ok_or_else(|| format!("{name}: no http"))?;
        let input = match op.get("input") {
            Some(r) => format!("Some({})", m.target(Some(r))?),
            None => "None".into(),
        };
        let output = match op.get("output") {
            Some(r) => format!("Some({})", m.target(Some(r))?),
            None => "None".into(),
        };
        let wrapper = op.get("output").and_then(|r| r.str("resultWrapper"));
        let errors: Result<Vec<String>, String> = op
            .get("errors")
            .map(J::items)
            .unwrap_or(&[])
            .iter()
            .map(|e| m.target(Some(e)).map(|i| i.to_string()))
            .collect();
        writeln!(
            w,
            "    Operation {{ name: {}, http_method: {}, request_uri: {}, response_code: {}, input: {input}, output: {output}, result_wrapper: {}, errors: &[{}], deprecated: {} }},",
            lit(name),
            lit(http.str("method").unwrap_or("POST")),
            lit(http.str("requestUri").unwrap_or("/")),
            http.get("responseCode").and_then(J::as_i64).unwrap_or(200),
            opt_lit(wrapper),
            errors?.join(", "),
            op.flag("deprecated"),
        )
        .unwrap();
    }
    writeln!(w, "];").unwrap();
    writeln!(w).unwrap();

    // Shapes.
    writeln!(w, "static SHAPES: [Shape; {}] = [", m.shapes.len()).unwrap();
    for (i, (name, shape)) in m.shapes.iter().enumerate() {
        let kind = shape_kind(m, name, shape)?;
        let sensitive = if shape.flag("sensitive") {
            ", sensitive: true"
        } else {
            ", sensitive: false"
        };
        writeln!(
            w,
            "    /* {i} */ Shape {{ name: {}{sensitive}, kind: {kind} }},",
            lit(name)
        )
        .unwrap();
    }
    writeln!(w, "];").unwrap();
    writeln!(w).unwrap();

    gen_op_enum(w, m);
    gen_error_enum(w, m)?;
    let mut defaults = String::new();
    for (short, ty) in [
        ("M", "Member"),
        ("ST", "Structure"),
        ("L", "List"),
        ("MP", "Map"),
        ("S", "StringShape"),
    ] {
        if o.contains(&format!("..{short} }}")) {
            writeln!(defaults, "const {short}: {ty} = {ty}::DEFAULT;").unwrap();
        }
    }
    if !defaults.is_empty() {
        defaults.push('\n');
    }
    o.insert_str(defaults_at, &defaults);
    Ok(o)
}

fn shape_kind(m: &Model, name: &str, s: &J) -> Result<String, String> {
    let ty = s.str("type").ok_or_else(|| format!("{name}: no type"))?;
    let min = s.get("min").and_then(J::as_i64);
    let max = s.get("max").and_then(J::as_i64);
    let mut f: Vec<String> = Vec::new();
    Ok(match ty {
        "structure" => {
            let required: Vec<&str> = s
                .get("required")
                .map(J::items)
                .unwrap_or(&[])
                .iter()
                .filter_map(J::as_str)
                .collect();
            let mut members = Vec::new();
            for (mname, mem) in s.get("members").map(J::entries).unwrap_or(&[]) {
                members.push(member(m, mname, mem, required.contains(&mname.as_str()))?);
            }
            if !members.is_empty() {
                f.push(format!("members: &[{}]", members.join(", ")));
            }
            if s.flag("exception") || s.get("error").is_some() {
                let err = s.get("error");
                let fault = s.flag("fault");
                let status = err
                    .and_then(|e| e.get("httpStatusCode"))
                    .and_then(J::as_i64)
                    .unwrap_or(if fault { 500 } else { 400 });
                let sender = match err.and_then(|e| e.get("senderFault")) {
                    Some(J::Bool(b)) => *b,
                    _ => !fault,
                };
                f.push(format!(
                    "error: Some(ErrorInfo {{ code: {}, http_status: {status}, sender_fault: {sender} }})",
                    opt_lit(err.and_then(|e| e.str("code")))
                ));
            }
            if let Some(p) = s.str("payload") {
                f.push(format!("payload: Some({})", lit(p)));
            }
            if s.flag("union") {
                f.push("union: true".into());
            }
            if s.flag("document") {
                f.push("document: true".into());
            }
            f.push("..ST".into());
            format!("ShapeKind::Structure(Structure {{ {} }})", f.join(", "))
        }
        "list" => {
            let mem = s.get("member");
            f.push(format!("member: {}", m.target(mem)?));
            if let Some(n) = mem.and_then(|x| x.str("locationName")) {
                f.push(format!("member_location_name: Some({})", lit(n)));
            }
            if s.flag("flattened") {
                f.push("flattened: true".into());
            }
            if min.is_some() {
                f.push(format!("min: {}", opt_i64(min)));
            }
            if max.is_some() {
                f.push(format!("max: {}", opt_i64(max)));
            }
            f.push("..L".into());
            format!("ShapeKind::List(List {{ {} }})", f.join(", "))
        }
        "map" => {
            let (k, v) = (s.get("key"), s.get("value"));
            f.push(format!("key: {}", m.target(k)?));
            f.push(format!("value: {}", m.target(v)?));
            if let Some(n) = k.and_then(|x| x.str("locationName")) {
                f.push(format!("key_location_name: Some({})", lit(n)));
            }
            if let Some(n) = v.and_then(|x| x.str("locationName")) {
                f.push(format!("value_location_name: Some({})", lit(n)));
            }
            if s.flag("flattened") {
                f.push("flattened: true".into());
            }
            if min.is_some() {
                f.push(format!("min: {}", opt_i64(min)));
            }
            if max.is_some() {
                f.push(format!("max: {}", opt_i64(max)));
            }
            f.push("..MP".into());
            format!("ShapeKind::Map(Map {{ {} }})", f.join(", "))
        }
        "string" => {
            if min.is_some() {
                f.push(format!("min: {}", opt_i64(min)));
            }
            if max.is_some() {
                f.push(format!("max: {}", opt_i64(max)));
            }
            if let Some(p) = s.str("pattern") {
                f.push(format!("pattern: Some({})", lit(p)));
            }
            let en: Vec<String> = s
                .get("enum")
                .map(J::items)
                .unwrap_or(&[])
                .iter()
                .filter_map(J::as_str)
                .map(lit)
                .collect();
            if !en.is_empty() {
                f.push(format!("enum_values: &[{}]", en.join(", ")));
            }
            if s.flag("sensitive") {
                f.push("sensitive: true".into());
            }
            f.push("..S".into());
            format!("ShapeKind::String(StringShape {{ {} }})", f.join(", "))
        }
        "integer" | "long" => {
            format!(
                "ShapeKind::Integer {{ long: {}, min: {}, max: {} }}",
                ty == "long",
                opt_i64(min),
                opt_i64(max)
            )
        }
        "float" | "double" => {
            let fmin = s.get("min").and_then(J::as_f64);
            let fmax = s.get("max").and_then(J::as_f64);
            format!(
                "ShapeKind::Float {{ double: {}, min: {}, max: {} }}",
                ty == "double",
                opt_f64(fmin),
                opt_f64(fmax)
            )
        }
        "boolean" => "ShapeKind::Boolean".into(),
        "timestamp" => {
            let fmt = match s.str("timestampFormat") {
                Some(t) => format!("Some({})", timestamp_format(t)?),
                None => "None".into(),
            };
            format!("ShapeKind::Timestamp {{ format: {fmt} }}")
        }
        "blob" => format!(
            "ShapeKind::Blob {{ min: {}, max: {}, streaming: {} }}",
            opt_i64(min),
            opt_i64(max),
            s.flag("streaming")
        ),
        other => return Err(format!("{name}: unsupported shape type {other}")),
    })
}

fn member(m: &Model, name: &str, mem: &J, required: bool) -> Result<String, String> {
    let mut f = vec![
        format!("name: {}", lit(name)),
        format!("target: {}", m.target(Some(mem))?),
    ];
    if required {
        f.push("required: true".into());
    }
    if let Some(loc) = mem.str("location") {
        let v = match loc {
            "uri" => "Location::Uri",
            "querystring" => "Location::Querystring",
            "header" => "Location::Header",
            "headers" => "Location::Headers",
            "statusCode" => "Location::StatusCode",
            other => return Err(format!("{name}: unknown location {other}")),
        };
        f.push(format!("location: {v}"));
    }
    if let Some(n) = mem.str("locationName") {
        f.push(format!("location_name: Some({})", lit(n)));
    }
    if mem.flag("flattened") {
        f.push("flattened: true".into());
    }
    if mem.flag("xmlAttribute") {
        f.push("xml_attribute: true".into());
    }
    if mem.flag("idempotencyToken") {
        f.push("idempotency_token: true".into());
    }
    if mem.flag("jsonvalue") {
        f.push("json_value: true".into());
    }
    if let Some(t) = mem.str("timestampFormat") {
        f.push(format!("timestamp_format: Some({})", timestamp_format(t)?));
    }
    if mem.flag("hostLabel") {
        f.push("host_label: true".into());
    }
    if mem.flag("deprecated") {
        f.push("deprecated: true".into());
    }
    f.push("..M".into());
    Ok(format!("Member {{ {} }}", f.join(", ")))
}

fn doc_line(w: &mut String, indent: &str, doc: Option<&str>) {
    let s = first_sentence(doc);
    if !s.is_empty() {
        writeln!(w, "{indent}/// {s}").unwrap();
    }
}

fn gen_op_enum(w: &mut String, m: &Model) {
    let mut used = std::collections::HashSet::new();
    let idents: Vec<String> = m
        .ops
        .iter()
        .map(|(n, _)| unique(camel_ident(n), &mut used))
        .collect();
    writeln!(
        w,
        "/// Every operation, in [`SERVICE`]`.operations` order (by name)."
    )
    .unwrap();
    writeln!(
        w,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    )
    .unwrap();
    writeln!(w, "pub enum Op {{").unwrap();
    for ((_, op), ident) in m.ops.iter().zip(&idents) {
        doc_line(w, "    ", op.str("documentation"));
        writeln!(w, "    {ident},").unwrap();
    }
    writeln!(w, "}}").unwrap();
    writeln!(w).unwrap();
    writeln!(w, "impl Op {{").unwrap();
    writeln!(w, "    pub const ALL: &'static [Op] = &[").unwrap();
    for ident in &idents {
        writeln!(w, "        Op::{ident},").unwrap();
    }
    writeln!(w, "    ];").unwrap();
    writeln!(w).unwrap();
    writeln!(
        w,
        "    /// The operation name, e.g. the `X-Amz-Target` suffix or `Action=` value."
    )
    .unwrap();
    writeln!(w, "    pub fn name(self) -> &'static str {{").unwrap();
    writeln!(w, "        self.model().name").unwrap();
    writeln!(w, "    }}").unwrap();
    writeln!(w).unwrap();
    writeln!(w, "    pub fn from_name(name: &str) -> Option<Op> {{").unwrap();
    writeln!(
        w,
        "        OPERATIONS.binary_search_by(|o| o.name.cmp(name)).ok().map(|i| Op::ALL[i])"
    )
    .unwrap();
    writeln!(w, "    }}").unwrap();
    writeln!(w).unwrap();
    writeln!(w, "    pub fn model(self) -> &'static Operation {{").unwrap();
    writeln!(w, "        &OPERATIONS[self as usize]").unwrap();
    writeln!(w, "    }}").unwrap();
    writeln!(w, "}}").unwrap();
    writeln!(w).unwrap();
}

fn gen_error_enum(w: &mut String, m: &Model) -> Result<(), String> {
    let mut used = std::collections::HashSet::new();
    // (ident, shape name, code, status, sender fault, id, doc)
    let mut errs = Vec::new();
    for (i, (name, s)) in m.shapes.iter().enumerate() {
        if s.str("type") != Some("structure") || !(s.flag("exception") || s.get("error").is_some())
        {
            continue;
        }
        let err = s.get("error");
        let fault = s.flag("fault");
        let status = err
            .and_then(|e| e.get("httpStatusCode"))
            .and_then(J::as_i64)
            .unwrap_or(if fault { 500 } else { 400 });
        let sender = match err.and_then(|e| e.get("senderFault")) {
            Some(J::Bool(b)) => *b,
            _ => !fault,
        };
        let code = err.and_then(|e| e.str("code")).unwrap_or(name);
        errs.push((
            unique(camel_ident(name), &mut used),
            *name,
            code,
            status,
            sender,
            i,
            s.str("documentation"),
        ));
    }
    writeln!(w, "/// Every modeled error shape, by shape name.").unwrap();
    writeln!(
        w,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    )
    .unwrap();
    writeln!(w, "#[allow(clippy::enum_variant_names)]").unwrap();
    writeln!(w, "pub enum Error {{").unwrap();
    for e in &errs {
        doc_line(w, "    ", e.6);
        writeln!(w, "    {},", e.0).unwrap();
    }
    writeln!(w, "}}").unwrap();
    writeln!(w).unwrap();
    writeln!(
        w,
        "/// `(variant, shape name, error code, HTTP status, sender fault, shape id)`."
    )
    .unwrap();
    writeln!(w, "#[allow(clippy::type_complexity)]").unwrap();
    writeln!(
        w,
        "static ERRORS: [(Error, &str, &str, u16, bool, ShapeId); {}] = [",
        errs.len()
    )
    .unwrap();
    for e in &errs {
        writeln!(
            w,
            "    (Error::{}, {}, {}, {}, {}, {}),",
            e.0,
            lit(e.1),
            lit(e.2),
            e.3,
            e.4,
            e.5
        )
        .unwrap();
    }
    writeln!(w, "];").unwrap();
    writeln!(w).unwrap();
    w.push_str(
        "impl Error {
    pub fn all() -> impl Iterator<Item = Error> {
        ERRORS.iter().map(|e| e.0)
    }

    /// The shape name, e.g. `ResourceNotFoundException`.
    pub fn name(self) -> &'static str {
        ERRORS[self as usize].1
    }

    /// The code clients see (`error.code`, else the shape name).
    pub fn code(self) -> &'static str {
        ERRORS[self as usize].2
    }

    /// `error.httpStatusCode` (400, or 500 for `fault` shapes, when the model is silent).
    pub fn http_status(self) -> u16 {
        ERRORS[self as usize].3
    }

    /// `error.senderFault` (else: not a `fault` shape).
    pub fn sender_fault(self) -> bool {
        ERRORS[self as usize].4
    }

    pub fn shape(self) -> ShapeId {
        ERRORS[self as usize].5
    }

    /// By error code, else by shape name.
    pub fn from_code(code: &str) -> Option<Error> {
        ERRORS
            .iter()
            .find(|e| e.2 == code)
            .or_else(|| ERRORS.iter().find(|e| e.1 == code))
            .map(|e| e.0)
    }
}
",
    );
    Ok(())
}

fn gen_services_mod(botocore: &str) -> String {
    let mut w = String::new();
    w.push_str("//! Generated by `nimbus-codegen`; do not edit. One module per service model; regenerate\n");
    w.push_str("//! with `scripts/update-models.sh` (or `cargo run -p nimbus-codegen`).\n\n");
    let mut modules: Vec<&str> = SERVICES.iter().map(|s| s.1).collect();
    modules.sort();
    for m in &modules {
        writeln!(w, "#[rustfmt::skip]\npub mod {m};").unwrap();
    }
    w.push_str("\nuse crate::schema::Service;\n\n");
    writeln!(w, "/// The botocore release `models/` comes from.").unwrap();
    writeln!(w, "pub const BOTOCORE_VERSION: &str = {};\n", lit(botocore)).unwrap();
    w.push_str("/// Every generated service.\n");
    w.push_str("pub static ALL: &[&Service] = &[\n");
    for (_, m) in SERVICES {
        writeln!(w, "    &{m}::SERVICE,").unwrap();
    }
    w.push_str("];\n\n");
    w.push_str(
        "/// The service whose `metadata.endpointPrefix` is `prefix` (e.g. `dynamodb`, `monitoring`).
///
/// `apigateway` and `apigatewayv2` share the prefix `apigateway`; this returns v1 for it.
/// Tell them apart by path (`/v2/` is API Gateway v2) and use [`apigatewayv2::SERVICE`].
pub fn by_endpoint_prefix(prefix: &str) -> Option<&'static Service> {
    ALL.iter().copied().find(|s| s.endpoint_prefix == prefix)
}

/// The service whose `metadata.serviceId` is `id` (e.g. `DynamoDB`, `ApiGatewayV2`).
pub fn by_service_id(id: &str) -> Option<&'static Service> {
    ALL.iter().copied().find(|s| s.service_id == id)
}

/// The services whose `signingName` (SigV4 credential-scope service) is `name`.
pub fn by_signing_name(name: &str) -> impl Iterator<Item = &'static Service> + '_ {
    ALL.iter().copied().filter(move |s| s.signing_name == name)
}
",
    );
    w
}

fn gen_types_mod(typed: &[&str]) -> String {
    let mut w = String::new();
    w.push_str("//! Generated by `nimbus-codegen`; do not edit. Typed structs (canonical value\n");
    w.push_str("//! convention) for the services listed in `nimbus_codegen::TYPED`.\n");
    if !typed.is_empty() {
        w.push('\n');
    }
    let mut typed = typed.to_vec();
    typed.sort();
    for m in typed {
        writeln!(w, "#[rustfmt::skip]\npub mod {m};").unwrap();
    }
    w
}
