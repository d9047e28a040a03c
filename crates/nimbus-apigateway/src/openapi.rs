//! OpenAPI 3.0 / Swagger 2.0 documents: parsing (JSON or YAML), mapping to REST API
//! resources/methods/integrations and HTTP API routes/integrations, and exporting back.

use std::collections::BTreeMap;

use nimbus_model::types::apigateway as t1;
use nimbus_model::types::apigatewayv2 as t2;
use nimbus_types::AwsError;
use serde_json::{json, Map, Value};

use crate::bad_request;

pub(crate) const INVALID: &str = "Invalid OpenAPI input.";

pub(crate) fn invalid() -> AwsError {
    bad_request(INVALID)
}

fn import_errors(errors: &[String]) -> AwsError {
    bad_request(format!(
        "Errors found during import:\n\t{}",
        errors.join("\n\t")
    ))
}

/// Fails with AWS's message when `fail` is set and there are warnings.
pub(crate) fn check_warnings(warnings: &[String], fail: bool) -> Result<(), AwsError> {
    if fail && !warnings.is_empty() {
        return Err(bad_request(format!(
            "Warnings found during import:\n\t{}",
            warnings.join("\n\t")
        )));
    }
    Ok(())
}

fn yaml_to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".into(),
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Oas3,
    Swagger2,
}

/// Parses a JSON or YAML OpenAPI document and checks it is OpenAPI 3 or Swagger 2.
pub(crate) fn parse_document(body: &[u8]) -> Result<(Value, Flavor), AwsError> {
    let doc: Value = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) => {
            let text = std::str::from_utf8(body).map_err(|_| invalid())?;
            let y: serde_yaml::Value = serde_yaml::from_str(text).map_err(|_| invalid())?;
            yaml_to_json(y)
        }
    };
    let obj = doc.as_object().ok_or_else(invalid)?;
    let flavor = if let Some(v) = obj.get("openapi") {
        let v = v.as_str().ok_or_else(invalid)?;
        if !v.starts_with("3.") {
            return Err(invalid());
        }
        Flavor::Oas3
    } else if let Some(v) = obj.get("swagger") {
        let ok = v.as_str() == Some("2.0") || v.as_f64() == Some(2.0);
        if !ok {
            return Err(invalid());
        }
        Flavor::Swagger2
    } else {
        return Err(invalid());
    };
    match obj.get("paths") {
        None | Some(Value::Null) => {}
        Some(Value::Object(_)) => {}
        Some(_) => return Err(invalid()),
    }
    Ok((doc, flavor))
}

const OPS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

const PATH_ITEM_KEYS: &[&str] = &["parameters", "summary", "description", "servers", "$ref"];

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn str_map(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let o = v?.as_object()?;
    Some(
        o.iter()
            .filter_map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((k.clone(), s))
            })
            .collect(),
    )
}

/// A REST API described by a document.
#[derive(Debug, Default)]
pub(crate) struct RestSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub binary_media_types: Option<Vec<String>>,
    /// Normalized path ("/a/{b}") → methods by HTTP method.
    pub paths: Vec<(String, BTreeMap<String, t1::Method>)>,
    pub warnings: Vec<String>,
}

/// Normalizes a document path: leading slash, no trailing slash, no empty parts.
fn normalize_path(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|x| !x.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

pub(crate) fn path_parts(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn valid_path_part(p: &str) -> bool {
    if let Some(inner) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let name = inner.strip_suffix('+').unwrap_or(inner);
        return !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    }
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()*,;=".contains(c))
}

fn request_parameters(op: &Value, path_item: &Value) -> Option<BTreeMap<String, bool>> {
    let mut out = BTreeMap::new();
    let lists = [path_item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            let (Some(name), Some(loc)) = (s(p, "name"), s(p, "in")) else {
                continue;
            };
            let loc = match loc.as_str() {
                "path" => "path",
                "query" => "querystring",
                "header" => "header",
                _ => continue,
            };
            let required = p
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(loc == "path");
            out.insert(format!("method.request.{loc}.{name}"), required);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn integration_of(
    x: &Value,
    path: &str,
    method: &str,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<t1::Integration> {
    let kind = s(x, "type").unwrap_or_default().to_ascii_uppercase();
    let uri = s(x, "uri");
    let http_method = s(x, "httpMethod").map(|m| m.to_ascii_uppercase());
    match kind.as_str() {
        "AWS_PROXY" => {
            if crate::data::function_of_uri(uri.as_deref().unwrap_or("")).is_none() {
                errors.push(format!(
                    "Invalid Lambda function integration URI for {method} {path}: {}",
                    uri.as_deref().unwrap_or("")
                ));
                return None;
            }
        }
        "HTTP_PROXY" => {
            if !uri.as_deref().unwrap_or("").starts_with("http://") {
                errors.push(format!(
                    "Invalid HTTP endpoint specified for URI for {method} {path} (Nimbus proxies to http:// backends only)"
                ));
                return None;
            }
        }
        "MOCK" => {}
        "AWS" => {
            if crate::data::function_of_uri(uri.as_deref().unwrap_or("")).is_none() {
                warnings.push(format!(
                    "AWS integration {} for {method} {path} is not supported by Nimbus (only Lambda functions are); the method was imported without an integration",
                    uri.as_deref().unwrap_or("")
                ));
                return None;
            }
        }
        "HTTP" => {
            if !uri.as_deref().unwrap_or("").starts_with("http://") {
                errors.push(format!(
                    "Invalid HTTP endpoint specified for URI for {method} {path} (Nimbus calls http:// backends only)"
                ));
                return None;
            }
        }
        "" => {
            errors.push(format!("Integration type is required for {method} {path}"));
            return None;
        }
        other => {
            errors.push(format!(
                "Invalid integration type {other} for {method} {path}"
            ));
            return None;
        }
    }
    let responses = x.get("responses").and_then(Value::as_object).map(|rs| {
        let mut out = BTreeMap::new();
        for (pattern, r) in rs {
            let Some(code) = s(r, "statusCode") else {
                continue;
            };
            out.insert(
                code.clone(),
                t1::IntegrationResponse {
                    status_code: Some(code),
                    selection_pattern: (pattern != "default").then(|| pattern.clone()),
                    response_parameters: str_map(r.get("responseParameters")),
                    response_templates: str_map(r.get("responseTemplates")),
                    content_handling: s(r, "contentHandling"),
                },
            );
        }
        out
    });
    Some(t1::Integration {
        type_: Some(kind.clone()),
        http_method: http_method
            .or_else(|| (kind == "AWS_PROXY" || kind == "AWS").then(|| "POST".into())),
        uri,
        connection_type: Some(s(x, "connectionType").unwrap_or_else(|| "INTERNET".into())),
        request_parameters: str_map(x.get("requestParameters")),
        request_templates: str_map(x.get("requestTemplates")),
        passthrough_behavior: Some(
            s(x, "passthroughBehavior")
                .map(|p| p.to_ascii_uppercase())
                .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        ),
        content_handling: s(x, "contentHandling"),
        credentials: s(x, "credentials"),
        timeout_in_millis: Some(
            x.get("timeoutInMillis")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(29_000),
        ),
        cache_namespace: s(x, "cacheNamespace"),
        cache_key_parameters: Some(
            x.get("cacheKeyParameters")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        integration_responses: responses.filter(|r| !r.is_empty()),
        ..Default::default()
    })
}

/// Maps a parsed document to a REST API description.
pub(crate) fn rest_spec(doc: &Value, flavor: Flavor) -> Result<RestSpec, AwsError> {
    let mut spec = RestSpec {
        name: doc.get("info").and_then(|i| s(i, "title")),
        description: doc.get("info").and_then(|i| s(i, "description")),
        version: doc.get("info").and_then(|i| s(i, "version")),
        ..Default::default()
    };
    if let Some(b) = doc.get("x-amazon-apigateway-binary-media-types") {
        let list = b.as_array().ok_or_else(invalid)?;
        spec.binary_media_types = Some(
            list.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        );
    }
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for key in [
        "securityDefinitions",
        "x-amazon-apigateway-authorizer",
        "x-amazon-apigateway-request-validators",
        "x-amazon-apigateway-gateway-responses",
        "x-amazon-apigateway-policy",
    ] {
        if doc.get(key).is_some() {
            warnings.push(format!("{key} is not supported by Nimbus and was ignored"));
        }
    }
    if flavor == Flavor::Oas3 && doc.pointer("/components/securitySchemes").is_some() {
        warnings
            .push("components.securitySchemes is not supported by Nimbus and was ignored".into());
    }
    let mut by_path: BTreeMap<String, BTreeMap<String, t1::Method>> = BTreeMap::new();
    for (raw_path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let path = normalize_path(raw_path);
        let parts = path_parts(&path);
        if let Some(bad) = parts.iter().find(|p| !valid_path_part(p)) {
            errors.push(format!(
                "Invalid resource path part {bad} in path {raw_path}"
            ));
            continue;
        }
        if parts.iter().rev().skip(1).any(|p| p.ends_with("+}")) {
            errors.push(format!(
                "A greedy path variable cannot have child resources: {raw_path}"
            ));
            continue;
        }
        let Some(item_obj) = item.as_object() else {
            errors.push(format!("Invalid path item for {raw_path}"));
            continue;
        };
        let methods = by_path.entry(path.clone()).or_default();
        for (key, op) in item_obj {
            let Some((_, method)) = OPS.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
                if !PATH_ITEM_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
                    warnings.push(format!(
                        "Unsupported operation {key} on path {raw_path} was ignored"
                    ));
                }
                continue;
            };
            if !op.is_object() {
                errors.push(format!("Invalid operation {key} on path {raw_path}"));
                continue;
            }
            if op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                warnings.push(format!("security on {method} {path} is not supported by Nimbus; the method uses authorizationType NONE"));
            }
            let mut responses = BTreeMap::new();
            for (code, r) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    warnings.push(format!("Response {code} of {method} {path} was ignored: only status codes are supported"));
                    continue;
                }
                let headers: BTreeMap<String, bool> = r
                    .get("headers")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(h, _)| (format!("method.response.header.{h}"), false))
                    .collect();
                let has_body = match flavor {
                    Flavor::Oas3 => r.get("content").is_some(),
                    Flavor::Swagger2 => r.get("schema").is_some(),
                };
                responses.insert(
                    code.clone(),
                    t1::MethodResponse {
                        status_code: Some(code.clone()),
                        response_parameters: (!headers.is_empty()).then_some(headers),
                        response_models: has_body.then(|| {
                            BTreeMap::from([("application/json".to_string(), "Empty".to_string())])
                        }),
                    },
                );
            }
            let integration = match op.get("x-amazon-apigateway-integration") {
                Some(x) if x.is_object() => {
                    integration_of(x, &path, method, &mut errors, &mut warnings)
                }
                Some(_) => {
                    errors.push(format!(
                        "Invalid x-amazon-apigateway-integration for {method} {path}"
                    ));
                    None
                }
                None => None,
            };
            methods.insert(
                method.to_string(),
                t1::Method {
                    http_method: Some(method.to_string()),
                    authorization_type: Some("NONE".into()),
                    api_key_required: Some(false),
                    operation_name: s(op, "operationId"),
                    request_parameters: request_parameters(op, item),
                    method_responses: (!responses.is_empty()).then_some(responses),
                    method_integration: integration,
                    ..Default::default()
                },
            );
        }
    }
    if !errors.is_empty() {
        return Err(import_errors(&errors));
    }
    spec.paths = by_path.into_iter().collect();
    spec.warnings = warnings;
    Ok(spec)
}

/// Options of an export.
pub(crate) struct ExportOptions<'a> {
    pub flavor: Flavor,
    pub integrations: bool,
    pub server_url: &'a str,
    pub stage: &'a str,
}

fn params_of(m: &t1::Method, flavor: Flavor) -> Vec<Value> {
    let mut out = Vec::new();
    for (k, required) in m.request_parameters.iter().flatten() {
        let Some(rest) = k.strip_prefix("method.request.") else {
            continue;
        };
        let Some((loc, name)) = rest.split_once('.') else {
            continue;
        };
        let loc = match loc {
            "path" => "path",
            "querystring" => "query",
            "header" => "header",
            _ => continue,
        };
        let mut p = json!({ "name": name, "in": loc, "required": *required || loc == "path" });
        match flavor {
            Flavor::Oas3 => p["schema"] = json!({ "type": "string" }),
            Flavor::Swagger2 => p["type"] = json!("string"),
        }
        out.push(p);
    }
    out
}

fn integration_json(i: &t1::Integration) -> Value {
    let mut x = Map::new();
    if let Some(v) = &i.type_ {
        x.insert("type".into(), json!(v.to_ascii_lowercase()));
    }
    if let Some(v) = &i.http_method {
        x.insert("httpMethod".into(), json!(v));
    }
    if let Some(v) = &i.uri {
        x.insert("uri".into(), json!(v));
    }
    if let Some(v) = &i.passthrough_behavior {
        x.insert("passthroughBehavior".into(), json!(v.to_ascii_lowercase()));
    }
    if let Some(v) = &i.request_templates {
        x.insert("requestTemplates".into(), json!(v));
    }
    if let Some(v) = &i.request_parameters {
        x.insert("requestParameters".into(), json!(v));
    }
    if let Some(v) = &i.content_handling {
        x.insert("contentHandling".into(), json!(v));
    }
    if let Some(v) = &i.credentials {
        x.insert("credentials".into(), json!(v));
    }
    if let Some(v) = i.timeout_in_millis {
        x.insert("timeoutInMillis".into(), json!(v));
    }
    if let Some(v) = &i.cache_namespace {
        x.insert("cacheNamespace".into(), json!(v));
    }
    if let Some(v) = i.cache_key_parameters.as_ref().filter(|v| !v.is_empty()) {
        x.insert("cacheKeyParameters".into(), json!(v));
    }
    if let Some(rs) = &i.integration_responses {
        let mut out = Map::new();
        for (code, r) in rs {
            let key = r
                .selection_pattern
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "default".into());
            let mut o = Map::new();
            o.insert("statusCode".into(), json!(code));
            if let Some(v) = &r.response_parameters {
                o.insert("responseParameters".into(), json!(v));
            }
            if let Some(v) = &r.response_templates {
                o.insert("responseTemplates".into(), json!(v));
            }
            if let Some(v) = &r.content_handling {
                o.insert("contentHandling".into(), json!(v));
            }
            out.insert(key, Value::Object(o));
        }
        x.insert("responses".into(), Value::Object(out));
    }
    Value::Object(x)
}

/// Renders a REST API (its deployed resources) as an OpenAPI 3.0 or Swagger 2.0 document.
pub(crate) fn export_rest(
    api: &t1::RestApi,
    resources: &[t1::Resource],
    o: &ExportOptions,
) -> Value {
    let mut info = Map::new();
    info.insert("title".into(), json!(api.name.clone().unwrap_or_default()));
    if let Some(d) = &api.description {
        info.insert("description".into(), json!(d));
    }
    info.insert(
        "version".into(),
        json!(api.version.clone().unwrap_or_else(|| "1.0".into())),
    );
    let mut doc = Map::new();
    let mut any_models = false;
    match o.flavor {
        Flavor::Oas3 => {
            doc.insert("openapi".into(), json!("3.0.1"));
            doc.insert("info".into(), Value::Object(info));
            doc.insert(
                "servers".into(),
                json!([{ "url": o.server_url, "variables": { "basePath": { "default": o.stage } } }]),
            );
        }
        Flavor::Swagger2 => {
            doc.insert("swagger".into(), json!("2.0"));
            doc.insert("info".into(), Value::Object(info));
            let (scheme, rest) = o
                .server_url
                .split_once("://")
                .unwrap_or(("http", o.server_url));
            let (host, base) = rest.split_once('/').unwrap_or((rest, ""));
            doc.insert("host".into(), json!(host));
            doc.insert("basePath".into(), json!(format!("/{base}")));
            doc.insert("schemes".into(), json!([scheme]));
        }
    }
    let mut sorted: Vec<&t1::Resource> = resources.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut paths = Map::new();
    for r in sorted {
        let Some(ms) = r.resource_methods.as_ref().filter(|m| !m.is_empty()) else {
            continue;
        };
        let mut item = Map::new();
        for (name, m) in ms {
            let key = OPS
                .iter()
                .find(|(_, up)| up == name)
                .map(|(k, _)| k.to_string())
                .unwrap_or_else(|| name.to_ascii_lowercase());
            let mut op = Map::new();
            if let Some(n) = &m.operation_name {
                op.insert("operationId".into(), json!(n));
            }
            let params = params_of(m, o.flavor);
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            let mut responses = Map::new();
            for (code, mr) in m.method_responses.iter().flatten() {
                let mut resp = Map::new();
                resp.insert("description".into(), json!(format!("{code} response")));
                let headers: Map<String, Value> = mr
                    .response_parameters
                    .iter()
                    .flatten()
                    .filter_map(|(k, _)| k.strip_prefix("method.response.header."))
                    .map(|h| {
                        let schema = match o.flavor {
                            Flavor::Oas3 => json!({ "schema": { "type": "string" } }),
                            Flavor::Swagger2 => json!({ "type": "string" }),
                        };
                        (h.to_string(), schema)
                    })
                    .collect();
                if !headers.is_empty() {
                    resp.insert("headers".into(), Value::Object(headers));
                }
                if let Some(models) = mr.response_models.as_ref().filter(|m| !m.is_empty()) {
                    any_models = true;
                    match o.flavor {
                        Flavor::Oas3 => {
                            let content: Map<String, Value> = models
                                .keys()
                                .map(|ct| (ct.clone(), json!({ "schema": { "$ref": "#/components/schemas/Empty" } })))
                                .collect();
                            resp.insert("content".into(), Value::Object(content));
                        }
                        Flavor::Swagger2 => {
                            resp.insert("schema".into(), json!({ "$ref": "#/definitions/Empty" }));
                        }
                    }
                }
                responses.insert(code.clone(), Value::Object(resp));
            }
            op.insert("responses".into(), Value::Object(responses));
            if o.integrations {
                if let Some(i) = &m.method_integration {
                    op.insert(
                        "x-amazon-apigateway-integration".into(),
                        integration_json(i),
                    );
                }
            }
            item.insert(key, Value::Object(op));
        }
        paths.insert(
            r.path.clone().unwrap_or_else(|| "/".into()),
            Value::Object(item),
        );
    }
    doc.insert("paths".into(), Value::Object(paths));
    if any_models {
        let empty = json!({ "Empty": { "title": "Empty Schema", "type": "object" } });
        match o.flavor {
            Flavor::Oas3 => {
                doc.insert("components".into(), json!({ "schemas": empty }));
            }
            Flavor::Swagger2 => {
                doc.insert("definitions".into(), empty);
            }
        }
    }
    if let Some(b) = api.binary_media_types.as_ref().filter(|b| !b.is_empty()) {
        doc.insert("x-amazon-apigateway-binary-media-types".into(), json!(b));
    }
    Value::Object(doc)
}

/// Serializes a document as JSON (pretty) or YAML.
pub(crate) fn render(doc: &Value, yaml: bool) -> Result<Vec<u8>, AwsError> {
    if yaml {
        serde_yaml::to_string(doc)
            .map(String::into_bytes)
            .map_err(|e| AwsError::internal(format!("could not render YAML: {e}")))
    } else {
        serde_json::to_vec_pretty(doc)
            .map_err(|e| AwsError::internal(format!("could not render JSON: {e}")))
    }
}

/// An HTTP API described by a document.
#[derive(Debug, Default)]
pub(crate) struct HttpSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    /// (route key, integration index into `integrations`)
    pub routes: Vec<(String, Option<usize>, Option<String>)>,
    pub integrations: Vec<t2::Integration>,
    pub warnings: Vec<String>,
}

fn same_integration(a: &t2::Integration, b: &t2::Integration) -> bool {
    a.integration_type == b.integration_type
        && a.integration_uri == b.integration_uri
        && a.integration_method == b.integration_method
        && a.payload_format_version == b.payload_format_version
        && a.timeout_in_millis == b.timeout_in_millis
        && a.credentials_arn == b.credentials_arn
}

/// Maps an OpenAPI 3 document to an HTTP API's routes and integrations (ids are left
/// for the caller to assign).
pub(crate) fn http_spec(doc: &Value, flavor: Flavor) -> Result<HttpSpec, AwsError> {
    if flavor != Flavor::Oas3 {
        return Err(bad_request(
            "Only OpenAPI 3.0 definitions are supported for HTTP APIs",
        ));
    }
    let mut spec = HttpSpec {
        name: doc.get("info").and_then(|i| s(i, "title")),
        description: doc.get("info").and_then(|i| s(i, "description")),
        version: doc.get("info").and_then(|i| s(i, "version")),
        ..Default::default()
    };
    let mut errors = Vec::new();
    if doc.pointer("/components/securitySchemes").is_some() {
        spec.warnings
            .push("components.securitySchemes is not supported by Nimbus and was ignored".into());
    }
    if doc.get("x-amazon-apigateway-cors").is_some() {
        spec.warnings.push(
            "x-amazon-apigateway-cors is not supported by OpenAPI import in Nimbus and was ignored"
                .into(),
        );
    }
    for (raw_path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(item_obj) = item.as_object() else {
            errors.push(format!("Invalid path item for {raw_path}"));
            continue;
        };
        for (key, op) in item_obj {
            let Some((_, method)) = OPS.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
                if !PATH_ITEM_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
                    spec.warnings.push(format!(
                        "Unsupported operation {key} on path {raw_path} was ignored"
                    ));
                }
                continue;
            };
            let route_key = if raw_path == "/$default" && *method == "ANY" {
                "$default".to_string()
            } else {
                format!("{method} {raw_path}")
            };
            if crate::v2::check_route_key(&route_key).is_err() {
                errors.push(format!("Invalid route key {route_key}"));
                continue;
            }
            let mut idx = None;
            if let Some(x) = op.get("x-amazon-apigateway-integration") {
                let kind = s(x, "type").unwrap_or_default().to_ascii_uppercase();
                let uri = s(x, "uri").unwrap_or_default();
                let fmt = s(x, "payloadFormatVersion");
                let (fmt, method_default) = match kind.as_str() {
                    "AWS_PROXY" => {
                        if crate::data::function_of_uri(&uri).is_none() {
                            errors.push(format!(
                                "Invalid Lambda integration URI for {route_key}: {uri}"
                            ));
                            continue;
                        }
                        let f = fmt.unwrap_or_else(|| "2.0".into());
                        if f != "1.0" && f != "2.0" {
                            errors
                                .push(format!("Invalid payloadFormatVersion {f} for {route_key}"));
                            continue;
                        }
                        (f, "POST")
                    }
                    "HTTP_PROXY" => {
                        if !uri.starts_with("http://") {
                            errors.push(format!("Invalid HTTP integration URI for {route_key} (Nimbus proxies to http:// backends only): {uri}"));
                            continue;
                        }
                        (fmt.unwrap_or_else(|| "1.0".into()), "ANY")
                    }
                    other => {
                        spec.warnings.push(format!(
                            "Integration type {other} for {route_key} is not supported by Nimbus HTTP APIs; the route was imported without a target"
                        ));
                        spec.routes.push((route_key, None, s(op, "operationId")));
                        continue;
                    }
                };
                let integ = t2::Integration {
                    connection_type: Some(
                        s(x, "connectionType").unwrap_or_else(|| "INTERNET".into()),
                    ),
                    integration_method: Some(
                        s(x, "httpMethod")
                            .map(|m| m.to_ascii_uppercase())
                            .unwrap_or_else(|| method_default.into()),
                    ),
                    integration_type: Some(kind),
                    integration_uri: Some(uri),
                    payload_format_version: Some(fmt),
                    credentials_arn: s(x, "credentials"),
                    timeout_in_millis: Some(
                        x.get("timeoutInMillis")
                            .and_then(|v| v.as_i64())
                            .and_then(|v| i32::try_from(v).ok())
                            .unwrap_or(30_000),
                    ),
                    ..Default::default()
                };
                idx = Some(
                    match spec
                        .integrations
                        .iter()
                        .position(|i| same_integration(i, &integ))
                    {
                        Some(i) => i,
                        None => {
                            spec.integrations.push(integ);
                            spec.integrations.len() - 1
                        }
                    },
                );
            }
            spec.routes.push((route_key, idx, s(op, "operationId")));
        }
    }
    if !errors.is_empty() {
        return Err(import_errors(&errors));
    }
    Ok(spec)
}

/// Renders an HTTP API as an OpenAPI 3.0 document.
pub(crate) fn export_http(
    api: &t2::Api,
    routes: &[t2::Route],
    integrations: &[t2::Integration],
    extensions: bool,
    server_url: &str,
) -> Value {
    let mut info = Map::new();
    info.insert("title".into(), json!(api.name.clone().unwrap_or_default()));
    if let Some(d) = &api.description {
        info.insert("description".into(), json!(d));
    }
    info.insert(
        "version".into(),
        json!(api.version.clone().unwrap_or_else(|| "1.0".into())),
    );
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for r in routes {
        let key = r.route_key.clone().unwrap_or_default();
        let (method, path) = if key == "$default" {
            ("ANY".to_string(), "/$default".to_string())
        } else {
            match key.split_once(' ') {
                Some((m, p)) => (m.to_string(), p.to_string()),
                None => continue,
            }
        };
        let op_key = OPS
            .iter()
            .find(|(_, up)| *up == method)
            .map(|(k, _)| k.to_string())
            .unwrap_or_else(|| method.to_ascii_lowercase());
        let mut op = Map::new();
        if let Some(n) = &r.operation_name {
            op.insert("operationId".into(), json!(n));
        }
        let params: Vec<Value> = path_parts(&path)
            .iter()
            .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|n| json!({ "name": n.trim_end_matches('+'), "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        let desc = format!("Default response for {key}");
        op.insert(
            "responses".into(),
            json!({ "default": { "description": desc } }),
        );
        if extensions {
            let integ = r
                .target
                .as_deref()
                .and_then(crate::v2::target_integration)
                .and_then(|id| {
                    integrations
                        .iter()
                        .find(|i| i.integration_id.as_deref() == Some(id))
                });
            if let Some(i) = integ {
                let mut x = Map::new();
                if let Some(v) = &i.integration_type {
                    x.insert("type".into(), json!(v.to_ascii_lowercase()));
                }
                if let Some(v) = &i.integration_method {
                    x.insert("httpMethod".into(), json!(v));
                }
                if let Some(v) = &i.integration_uri {
                    x.insert("uri".into(), json!(v));
                }
                if let Some(v) = &i.payload_format_version {
                    x.insert("payloadFormatVersion".into(), json!(v));
                }
                if let Some(v) = &i.connection_type {
                    x.insert("connectionType".into(), json!(v));
                }
                if let Some(v) = &i.credentials_arn {
                    x.insert("credentials".into(), json!(v));
                }
                if let Some(v) = i.timeout_in_millis {
                    x.insert("timeoutInMillis".into(), json!(v));
                }
                op.insert("x-amazon-apigateway-integration".into(), Value::Object(x));
            }
        }
        paths
            .entry(path)
            .or_default()
            .insert(op_key, Value::Object(op));
    }
    let mut doc = Map::new();
    doc.insert("openapi".into(), json!("3.0.1"));
    doc.insert("info".into(), Value::Object(info));
    doc.insert("servers".into(), json!([{ "url": server_url }]));
    doc.insert(
        "paths".into(),
        Value::Object(
            paths
                .into_iter()
                .map(|(k, v)| (k, Value::Object(v)))
                .collect(),
        ),
    );
    if extensions {
        doc.insert(
            "x-amazon-apigateway-importexport-version".into(),
            json!("1.0"),
        );
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:echo";

    fn uri() -> String {
        format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations")
    }

    fn oas3() -> Value {
        json!({
            "openapi": "3.0.1",
            "info": {"title": "t", "description": "d", "version": "7"},
            "paths": {
                "/users/{id}/": {
                    "parameters": [{"name": "id", "in": "path", "required": true}],
                    "get": {
                        "operationId": "getUser",
                        "parameters": [{"name": "q", "in": "query"}, {"name": "X-H", "in": "header", "required": true}],
                        "responses": {"200": {"description": "ok", "content": {"application/json": {}}}, "default": {"description": "x"}},
                        "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "post", "uri": uri()}
                    }
                },
                "/{proxy+}": {"x-amazon-apigateway-any-method": {
                    "x-amazon-apigateway-integration": {"type": "mock", "passthroughBehavior": "when_no_templates",
                        "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                        "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{}"}},
                                      "4\\d{2}": {"statusCode": "404"}}}
                }},
                "/": {"options": {}}
            },
            "x-amazon-apigateway-binary-media-types": ["image/png"]
        })
    }

    #[test]
    fn parses_json_and_yaml_and_rejects_others() {
        let (_, f) = parse_document(br#"{"openapi": "3.0.0", "paths": {}}"#).unwrap();
        assert_eq!(f, Flavor::Oas3);
        let (doc, f) = parse_document(b"swagger: '2.0'\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n").unwrap();
        assert_eq!(f, Flavor::Swagger2);
        assert!(
            doc.pointer("/paths/~1a/get/responses/200").is_some(),
            "numeric YAML keys become strings"
        );
        for bad in [
            &b"not: [closed"[..],
            b"{}",
            b"[]",
            b"42",
            b"openapi: '2.0'\npaths: {}",
            b"\xff\xfe",
            b"swagger: '2.0'\npaths: [1]",
        ] {
            let e = parse_document(bad).unwrap_err();
            assert_eq!(e.code, "BadRequestException");
            assert_eq!(e.message, INVALID);
        }
    }

    #[test]
    fn maps_paths_methods_and_integrations() {
        let spec = rest_spec(&oas3(), Flavor::Oas3).unwrap();
        assert_eq!(spec.name.as_deref(), Some("t"));
        assert_eq!(spec.binary_media_types, Some(vec!["image/png".to_string()]));
        let paths: Vec<&str> = spec.paths.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["/", "/users/{id}", "/{proxy+}"]);
        let user = &spec.paths[1].1["GET"];
        assert_eq!(user.operation_name.as_deref(), Some("getUser"));
        let params = user.request_parameters.clone().unwrap();
        assert!(params["method.request.path.id"]);
        assert!(!params["method.request.querystring.q"]);
        assert!(params["method.request.header.X-H"]);
        let i = user.method_integration.as_ref().unwrap();
        assert_eq!(i.type_.as_deref(), Some("AWS_PROXY"));
        assert_eq!(i.http_method.as_deref(), Some("POST"));
        assert_eq!(
            user.method_responses
                .as_ref()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["200"]
        );
        assert!(spec.warnings.iter().any(|w| w.contains("default")));
        let any = &spec.paths[2].1["ANY"];
        let m = any.method_integration.as_ref().unwrap();
        assert_eq!(m.type_.as_deref(), Some("MOCK"));
        assert_eq!(m.passthrough_behavior.as_deref(), Some("WHEN_NO_TEMPLATES"));
        let rs = m.integration_responses.as_ref().unwrap();
        assert_eq!(rs["200"].selection_pattern, None);
        assert_eq!(rs["404"].selection_pattern.as_deref(), Some("4\\d{2}"));
        assert!(spec.paths[0].1["OPTIONS"].method_integration.is_none());
    }

    #[test]
    fn import_errors_and_warnings() {
        let mut d = oas3();
        d["paths"]["/users/{id}/"]["get"]["x-amazon-apigateway-integration"]["uri"] = json!("nope");
        let e = rest_spec(&d, Flavor::Oas3).unwrap_err();
        assert!(
            e.message.starts_with("Errors found during import:"),
            "{}",
            e.message
        );
        let d = json!({"openapi": "3.0.1", "paths": {"/{proxy+}/x": {}}});
        assert!(rest_spec(&d, Flavor::Oas3).is_err());
        let d = json!({"openapi": "3.0.1", "paths": {"/a b": {}}});
        assert!(rest_spec(&d, Flavor::Oas3).is_err());
        let d = json!({"openapi": "3.0.1", "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {"type": "aws", "uri": "x"}}}}});
        let spec = rest_spec(&d, Flavor::Oas3).unwrap();
        assert_eq!(spec.warnings.len(), 1);
        assert!(check_warnings(&spec.warnings, false).is_ok());
        let e = check_warnings(&spec.warnings, true).unwrap_err();
        assert!(e.message.starts_with("Warnings found during import:"));
    }

    fn resources_of(spec: &RestSpec) -> Vec<t1::Resource> {
        spec.paths
            .iter()
            .map(|(p, ms)| t1::Resource {
                id: Some(p.clone()),
                path: Some(p.clone()),
                resource_methods: (!ms.is_empty()).then(|| ms.clone()),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn export_round_trips() {
        let spec = rest_spec(&oas3(), Flavor::Oas3).unwrap();
        let api = t1::RestApi {
            name: spec.name.clone(),
            description: spec.description.clone(),
            binary_media_types: spec.binary_media_types.clone(),
            ..Default::default()
        };
        for flavor in [Flavor::Oas3, Flavor::Swagger2] {
            for yaml in [false, true] {
                let doc = export_rest(
                    &api,
                    &resources_of(&spec),
                    &ExportOptions {
                        flavor,
                        integrations: true,
                        server_url: "http://localhost:4566/restapis/a/s/_user_request_",
                        stage: "s",
                    },
                );
                let text = render(&doc, yaml).unwrap();
                let (back, f) = parse_document(&text).unwrap();
                assert_eq!(f, flavor);
                let again = rest_spec(&back, f).unwrap();
                assert_eq!(again.name, spec.name);
                assert_eq!(again.binary_media_types, spec.binary_media_types);
                let strip = |s: &RestSpec| -> Vec<(String, BTreeMap<String, t1::Method>)> {
                    s.paths
                        .iter()
                        .filter(|(_, m)| !m.is_empty())
                        .cloned()
                        .collect()
                };
                assert_eq!(strip(&again), strip(&spec), "{flavor:?} yaml={yaml}");
            }
        }
        let doc = export_rest(
            &api,
            &resources_of(&spec),
            &ExportOptions {
                flavor: Flavor::Oas3,
                integrations: false,
                server_url: "http://x/y",
                stage: "s",
            },
        );
        assert!(doc
            .pointer("/paths/~1users~1{id}/get/x-amazon-apigateway-integration")
            .is_none());
        assert!(doc
            .pointer("/paths/~1{proxy+}/x-amazon-apigateway-any-method")
            .is_some());
    }

    #[test]
    fn http_api_mapping_and_export() {
        let d = json!({
            "openapi": "3.0.1",
            "info": {"title": "h", "version": "1"},
            "paths": {
                "/a/{id}": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": FN, "payloadFormatVersion": "2.0"}}},
                "/b": {"post": {"x-amazon-apigateway-integration": {"type": "AWS_PROXY", "uri": FN, "payloadFormatVersion": "2.0", "httpMethod": "POST"}}},
                "/$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "http://127.0.0.1:1/x", "httpMethod": "ANY"}}}
            }
        });
        let spec = http_spec(&d, Flavor::Oas3).unwrap();
        let keys: Vec<&str> = spec.routes.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(keys, vec!["$default", "GET /a/{id}", "POST /b"]);
        assert_eq!(
            spec.integrations.len(),
            2,
            "identical integrations are shared"
        );
        let integrations: Vec<t2::Integration> = spec
            .integrations
            .iter()
            .enumerate()
            .map(|(n, i)| t2::Integration {
                integration_id: Some(format!("i{n}")),
                ..i.clone()
            })
            .collect();
        let routes: Vec<t2::Route> = spec
            .routes
            .iter()
            .map(|(k, idx, _)| t2::Route {
                route_key: Some(k.clone()),
                target: idx.map(|i| format!("integrations/i{i}")),
                ..Default::default()
            })
            .collect();
        let api = t2::Api {
            name: Some("h".into()),
            ..Default::default()
        };
        let doc = export_http(&api, &routes, &integrations, true, "http://x");
        let (back, f) = parse_document(&render(&doc, true).unwrap()).unwrap();
        let again = http_spec(&back, f).unwrap();
        assert_eq!(
            again.routes.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            keys
        );
        assert_eq!(again.integrations.len(), 2);
        let mut bad = d.clone();
        bad["paths"]["/b"]["post"]["x-amazon-apigateway-integration"]["payloadFormatVersion"] =
            json!("3.0");
        assert!(http_spec(&bad, Flavor::Oas3).is_err());
        assert!(http_spec(&json!({"swagger": "2.0"}), Flavor::Swagger2).is_err());
    }
}
