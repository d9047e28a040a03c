//! ImportRestApi, PutRestApi and GetExport: OpenAPI documents into and out of REST
//! APIs (the document handling itself is the `openapi` module).

use std::collections::BTreeMap;

use nimbus_model::types::apigateway as t;
use nimbus_protocol::{Input, Output};
use nimbus_types::{AwsError, RequestContext};
use serde_json::Value;

use crate::openapi;
use crate::rest::{is_variable, scope, RestApis, Scope};
use crate::{bad_request, ids};

fn value_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn value_params(v: &Value) -> BTreeMap<String, String> {
    v.get("parameters")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn fail_on_warnings(v: &Value) -> bool {
    match v.get("failOnWarnings") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Import parameters that Nimbus understands; the others become warnings.
fn import_parameters(
    params: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Option<t::EndpointConfiguration>, AwsError> {
    let mut endpoint = None;
    for (k, v) in params {
        match k.as_str() {
            "endpointConfigurationTypes" => {
                let up = v.to_ascii_uppercase();
                if !["EDGE", "REGIONAL", "PRIVATE"].contains(&up.as_str()) {
                    return Err(bad_request(format!(
                        "Invalid endpoint configuration type {v}. Valid values are: EDGE, REGIONAL, PRIVATE"
                    )));
                }
                endpoint = Some(t::EndpointConfiguration {
                    types: Some(vec![up]),
                    ..Default::default()
                });
            }
            // ImportRestApi's URI is `/restapis?mode=import`.
            "mode" if v == "import" => {}
            "basepath" if v == "ignore" => {}
            "ignore" if v == "documentation" => {}
            _ => warnings.push(format!(
                "Import parameter {k}={v} is not supported by Nimbus and was ignored"
            )),
        }
    }
    Ok(endpoint)
}

impl RestApis {
    pub(crate) fn import_rest_api(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<t::RestApi, AwsError> {
        let body = input.payload.as_deref().unwrap_or(&[]);
        let (doc, flavor) = openapi::parse_document(body)?;
        let spec = openapi::rest_spec(&doc, flavor)?;
        let mut warnings = spec.warnings.clone();
        let endpoint = import_parameters(&value_params(&input.value), &mut warnings)?;
        openapi::check_warnings(&warnings, fail_on_warnings(&input.value))?;
        let name = spec
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(openapi::invalid)?;
        let api = self.create_rest_api(
            ctx,
            t::CreateRestApiRequest {
                name,
                description: spec.description.clone(),
                version: spec.version.clone(),
                binary_media_types: spec.binary_media_types.clone(),
                endpoint_configuration: endpoint,
                ..Default::default()
            },
        )?;
        let id = api.id.clone().unwrap_or_default();
        let s = scope(ctx, &id);
        let mut api = match self.apply_spec(&s, &spec, true) {
            Ok(a) => a,
            Err(e) => {
                let _ = self.delete_rest_api(ctx, &id);
                return Err(e);
            }
        };
        if !warnings.is_empty() {
            api.warnings = Some(warnings);
        }
        Ok(api)
    }

    pub(crate) fn put_rest_api(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<t::RestApi, AwsError> {
        let id = value_str(&input.value, "restApiId")
            .unwrap_or_default()
            .to_string();
        let s = scope(ctx, &id);
        self.api(&s)?;
        let overwrite = match value_str(&input.value, "mode").unwrap_or("merge") {
            "overwrite" => true,
            "merge" => false,
            other => {
                return Err(bad_request(format!(
                    "Invalid mode {other}. Valid values are: merge, overwrite"
                )))
            }
        };
        let body = input.payload.as_deref().unwrap_or(&[]);
        let (doc, flavor) = openapi::parse_document(body)?;
        let spec = openapi::rest_spec(&doc, flavor)?;
        let mut warnings = spec.warnings.clone();
        let endpoint = import_parameters(&value_params(&input.value), &mut warnings)?;
        if endpoint.is_some() {
            warnings.push(
                "endpointConfigurationTypes applies only to ImportRestApi and was ignored".into(),
            );
        }
        openapi::check_warnings(&warnings, fail_on_warnings(&input.value))?;
        let mut api = self.apply_spec(&s, &spec, overwrite)?;
        if !warnings.is_empty() {
            api.warnings = Some(warnings);
        }
        Ok(api)
    }

    /// Writes a document's resources and methods into an API: `overwrite` replaces
    /// everything, otherwise the document's methods are added to (or replace) those
    /// the API has.
    pub(crate) fn apply_spec(
        &self,
        s: &Scope,
        spec: &openapi::RestSpec,
        overwrite: bool,
    ) -> Result<t::RestApi, AwsError> {
        let mut api = self.api(s)?;
        let root_id = api.root_resource_id.clone().unwrap_or_default();
        let existing = self.resources(s)?;
        let mut b = self.db().batch();
        let mut by_path: BTreeMap<String, t::Resource> = BTreeMap::new();
        for mut r in existing {
            let is_root = r.id.as_deref() == Some(root_id.as_str()) || r.parent_id.is_none();
            if overwrite {
                if is_root {
                    r.resource_methods = None;
                } else {
                    b.delete(
                        s.key("res", r.id.as_deref().unwrap_or_default())
                            .into_bytes(),
                    );
                    continue;
                }
            }
            by_path.insert(r.path.clone().unwrap_or_else(|| "/".into()), r);
        }
        for (path, methods) in &spec.paths {
            let mut cur = "/".to_string();
            for part in openapi::path_parts(path) {
                let parent_id = by_path
                    .get(&cur)
                    .and_then(|r| r.id.clone())
                    .ok_or_else(|| AwsError::internal("the API has no root resource"))?;
                let child = if cur == "/" {
                    format!("/{part}")
                } else {
                    format!("{cur}/{part}")
                };
                if !by_path.contains_key(&child) {
                    if is_variable(&part) {
                        if let Some(sib) = by_path.values().find(|r| {
                            r.parent_id.as_deref() == Some(parent_id.as_str())
                                && r.path_part.as_deref().is_some_and(is_variable)
                        }) {
                            return Err(bad_request(format!(
                                "Errors found during import:\n\tA sibling ({}) of this resource already has a variable path part -- only one is allowed. Unable to create resource at path '{child}'",
                                sib.path_part.as_deref().unwrap_or("")
                            )));
                        }
                    }
                    by_path.insert(
                        child.clone(),
                        t::Resource {
                            id: Some(ids::lower_alnum(10)),
                            parent_id: Some(parent_id),
                            path_part: Some(part.clone()),
                            path: Some(child.clone()),
                            resource_methods: None,
                        },
                    );
                }
                cur = child;
            }
            if methods.is_empty() {
                continue;
            }
            let r = by_path
                .get_mut(&cur)
                .ok_or_else(|| AwsError::internal("resource vanished during import"))?;
            let ms = r.resource_methods.get_or_insert_with(BTreeMap::new);
            for (name, m) in methods {
                let mut m = m.clone();
                if let Some(i) = m.method_integration.as_mut() {
                    if i.cache_namespace.is_none() {
                        i.cache_namespace = r.id.clone();
                    }
                }
                ms.insert(name.clone(), m);
            }
        }
        for r in by_path.values() {
            b.put(&s.key("res", r.id.as_deref().unwrap_or_default()), r)?;
        }
        if overwrite {
            if let Some(n) = spec.name.clone().filter(|n| !n.is_empty()) {
                api.name = Some(n);
            }
            api.description = spec.description.clone();
            if spec.version.is_some() {
                api.version = spec.version.clone();
            }
            api.binary_media_types = spec.binary_media_types.clone();
        } else {
            if spec.description.is_some() {
                api.description = spec.description.clone();
            }
            for t in spec.binary_media_types.iter().flatten() {
                let list = api.binary_media_types.get_or_insert_with(Vec::new);
                if !list.contains(t) {
                    list.push(t.clone());
                }
            }
        }
        b.put(&s.api_key(), &api)?;
        self.db().commit(b)?;
        Ok(api)
    }

    pub(crate) fn get_export(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Output, AwsError> {
        let v = &input.value;
        let id = value_str(v, "restApiId").unwrap_or_default();
        let stage_name = value_str(v, "stageName").unwrap_or_default();
        let s = scope(ctx, id);
        let api = self.api(&s)?;
        let stage = self.stage(&s, stage_name)?;
        let flavor = match value_str(v, "exportType").unwrap_or_default() {
            "oas30" => openapi::Flavor::Oas3,
            "swagger" => openapi::Flavor::Swagger2,
            other => {
                return Err(bad_request(format!(
                    "No export type found for {other}. Valid export types are: oas30, swagger"
                )))
            }
        };
        let accepts = value_str(v, "accepts").unwrap_or("application/json");
        let yaml = accepts.contains("yaml");
        if !yaml && !accepts.contains("json") && !accepts.contains("*/*") {
            return Err(bad_request(format!(
                "Invalid Accept type {accepts}. Valid values are: application/json, application/yaml"
            )));
        }
        let params = value_params(v);
        let integrations = params.get("extensions").is_some_and(|e| {
            e.split(',')
                .any(|x| matches!(x.trim(), "integrations" | "apigateway"))
        });
        let dep = self.deployment(&s, stage.deployment_id.as_deref().unwrap_or_default())?;
        let url = format!(
            "http://localhost:{}/restapis/{id}/{stage_name}/_user_request_",
            self.inner.port
        );
        let doc = openapi::export_rest(
            &api,
            &dep.resources,
            &openapi::ExportOptions {
                flavor,
                integrations,
                server_url: &url,
                stage: stage_name,
            },
        );
        let body = openapi::render(&doc, yaml)?;
        let (ct, ext) = if yaml {
            ("application/yaml", "yaml")
        } else {
            ("application/json", "json")
        };
        let kind = if flavor == openapi::Flavor::Oas3 {
            "oas30"
        } else {
            "swagger"
        };
        Ok(Output {
            value: serde_json::json!({
                "contentType": ct,
                "contentDisposition": format!("attachment; filename=\"{kind}_{stage_name}.{ext}\""),
            }),
            payload: Some(bytes::Bytes::from(body)),
        })
    }
}
