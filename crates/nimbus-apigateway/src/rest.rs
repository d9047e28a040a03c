//! REST APIs (v1) control plane.

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::apigateway::{Op, SERVICE};
use nimbus_model::types::apigateway as t;
use nimbus_model::Timestamp;
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::db::{self, ApiIndex};
use crate::openapi;
use crate::{bad_request, conflict, ids, not_found, Inner};
use serde_json::Value;

const V: &str = "v1";

/// A deployment: its description and the snapshot of the API it serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub deployment: t::Deployment,
    pub resources: Vec<t::Resource>,
}

/// The REST API control plane handler.
pub struct RestApis {
    pub(crate) inner: Arc<Inner>,
}

/// Where one REST API lives.
struct Scope<'a> {
    account: &'a str,
    region: &'a str,
    api: &'a str,
}

impl Scope<'_> {
    fn api_key(&self) -> String {
        db::api_key(V, self.account, self.region, self.api)
    }
    fn key(&self, kind: &str, id: &str) -> String {
        db::child_key(V, self.account, self.region, self.api, kind, id)
    }
    fn prefix(&self, kind: &str) -> String {
        db::child_prefix(V, self.account, self.region, self.api, kind)
    }
}

fn scope<'a>(ctx: &'a RequestContext, api: &'a str) -> Scope<'a> {
    Scope {
        account: &ctx.account_id,
        region: &ctx.region,
        api,
    }
}

pub(crate) fn invalid_api(account: &str, api: &str) -> AwsError {
    not_found(format!("Invalid API identifier specified {account}:{api}"))
}

fn invalid_resource() -> AwsError {
    not_found("Invalid Resource identifier specified")
}

fn invalid_method() -> AwsError {
    not_found("Invalid Method identifier specified")
}

fn invalid_integration() -> AwsError {
    not_found("Invalid Integration identifier specified")
}

fn invalid_stage() -> AwsError {
    not_found("Invalid Stage identifier specified")
}

fn invalid_deployment() -> AwsError {
    not_found("Invalid Deployment identifier specified")
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

fn check_http_method(m: &str) -> Result<String, AwsError> {
    let up = m.to_ascii_uppercase();
    if METHODS.contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(bad_request("Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY"))
    }
}

/// A valid path part: letters, digits and `-._~:@!$&'()*,;=` or one `{name}` / `{name+}`.
fn check_path_part(p: &str) -> Result<(), AwsError> {
    let invalid = || {
        bad_request(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace. Path part: {p}"
        ))
    };
    if p.is_empty() {
        return Err(invalid());
    }
    if let Some(inner) = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let name = inner.strip_suffix('+').unwrap_or(inner);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(invalid());
        }
        return Ok(());
    }
    if p.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()*,;=".contains(c))
    {
        Ok(())
    } else {
        Err(invalid())
    }
}

fn is_variable(p: &str) -> bool {
    p.starts_with('{')
}

fn is_greedy(p: &str) -> bool {
    p.starts_with('{') && p.ends_with("+}")
}

impl RestApis {
    fn db(&self) -> &db::Db {
        &self.inner.db
    }

    fn api(&self, s: &Scope) -> Result<t::RestApi, AwsError> {
        self.db()
            .get(&s.api_key())?
            .ok_or_else(|| invalid_api(s.account, s.api))
    }

    fn resource(&self, s: &Scope, id: &str) -> Result<t::Resource, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("res", id))?
            .ok_or_else(invalid_resource)
    }

    fn resources(&self, s: &Scope) -> Result<Vec<t::Resource>, AwsError> {
        self.db().list(&s.prefix("res"))
    }

    fn save_resource(&self, s: &Scope, r: &t::Resource) -> Result<(), AwsError> {
        let mut b = self.db().batch();
        b.put(&s.key("res", r.id.as_deref().unwrap_or_default()), r)?;
        self.db().commit(b)
    }

    fn create_rest_api(
        &self,
        ctx: &RequestContext,
        input: t::CreateRestApiRequest,
    ) -> Result<t::RestApi, AwsError> {
        if input.clone_from.is_some() {
            return Err(bad_request("cloneFrom is not supported by Nimbus yet"));
        }
        let id = ids::lower_alnum(10);
        let root_id = ids::lower_alnum(10);
        let api = t::RestApi {
            id: Some(id.clone()),
            name: Some(input.name),
            description: input.description,
            created_date: Some(Timestamp(epoch_now().floor())),
            version: input.version,
            binary_media_types: input.binary_media_types,
            minimum_compression_size: input.minimum_compression_size,
            api_key_source: Some(input.api_key_source.unwrap_or_else(|| "HEADER".into())),
            endpoint_configuration: Some(input.endpoint_configuration.unwrap_or(
                t::EndpointConfiguration {
                    types: Some(vec!["EDGE".into()]),
                    ..Default::default()
                },
            )),
            policy: input.policy,
            tags: input.tags.or_else(|| Some(BTreeMap::new())),
            disable_execute_api_endpoint: Some(input.disable_execute_api_endpoint.unwrap_or(false)),
            root_resource_id: Some(root_id.clone()),
            ..Default::default()
        };
        let root = t::Resource {
            id: Some(root_id.clone()),
            path: Some("/".into()),
            ..Default::default()
        };
        let s = scope(ctx, &id);
        let mut b = self.db().batch();
        b.put(
            &db::idx_key(&id),
            &ApiIndex {
                version: 1,
                account: ctx.account_id.clone(),
                region: ctx.region.clone(),
            },
        )?;
        b.put(&s.api_key(), &api)?;
        b.put(&s.key("res", &root_id), &root)?;
        self.db().commit(b)?;
        Ok(api)
    }

    fn delete_rest_api(&self, ctx: &RequestContext, api: &str) -> Result<(), AwsError> {
        let s = scope(ctx, api);
        self.api(&s)?;
        let mut b = self.db().batch();
        for k in self.db().keys(&s.prefix(""))? {
            b.delete(k);
        }
        b.delete(s.api_key().into_bytes());
        b.delete(db::idx_key(api).into_bytes());
        self.db().commit(b)
    }

    fn update_rest_api(
        &self,
        ctx: &RequestContext,
        input: t::UpdateRestApiRequest,
    ) -> Result<t::RestApi, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        let mut api = self.api(&s)?;
        for p in input.patch_operations.unwrap_or_default() {
            let op = p.op.as_deref().unwrap_or("");
            let path = p.path.as_deref().unwrap_or("");
            match (op, path) {
                ("replace", "/name") => api.name = p.value,
                ("replace", "/description") => api.description = p.value,
                ("add", path) if path.starts_with("/binaryMediaTypes/") => {
                    let v = path["/binaryMediaTypes/".len()..].replace("~1", "/");
                    api.binary_media_types.get_or_insert_with(Vec::new).push(v);
                }
                ("remove", path) if path.starts_with("/binaryMediaTypes/") => {
                    let v = path["/binaryMediaTypes/".len()..].replace("~1", "/");
                    if let Some(list) = api.binary_media_types.as_mut() {
                        list.retain(|x| *x != v);
                    }
                }
                _ => {
                    return Err(bad_request(format!(
                        "Invalid patch path {path} for operation {op}"
                    )))
                }
            }
        }
        let mut b = self.db().batch();
        b.put(&s.api_key(), &api)?;
        self.db().commit(b)?;
        Ok(api)
    }

    fn create_resource(
        &self,
        ctx: &RequestContext,
        input: t::CreateResourceRequest,
    ) -> Result<t::Resource, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        let parent = self.resource(&s, &input.parent_id)?;
        check_path_part(&input.path_part)?;
        let parent_path = parent.path.clone().unwrap_or_else(|| "/".into());
        if parent_path.split('/').any(is_greedy) {
            return Err(bad_request(
                "A greedy path variable ({proxy+}) cannot have child resources",
            ));
        }
        let siblings: Vec<t::Resource> = self
            .resources(&s)?
            .into_iter()
            .filter(|r| r.parent_id.as_deref() == Some(input.parent_id.as_str()))
            .collect();
        for sib in &siblings {
            let part = sib.path_part.as_deref().unwrap_or("");
            if part == input.path_part {
                return Err(conflict(format!(
                    "Another resource with the same parent already has this name: {}",
                    input.path_part
                )));
            }
            if is_variable(part) && is_variable(&input.path_part) {
                return Err(bad_request(format!(
                    "A sibling ({}) of this resource already has a variable path part -- only one is allowed",
                    sib.id.as_deref().unwrap_or("")
                )));
            }
        }
        let path = if parent_path == "/" {
            format!("/{}", input.path_part)
        } else {
            format!("{parent_path}/{}", input.path_part)
        };
        let r = t::Resource {
            id: Some(ids::lower_alnum(10)),
            parent_id: Some(input.parent_id),
            path_part: Some(input.path_part),
            path: Some(path),
            resource_methods: None,
        };
        self.save_resource(&s, &r)?;
        Ok(r)
    }

    fn delete_resource(&self, ctx: &RequestContext, api: &str, id: &str) -> Result<(), AwsError> {
        let s = scope(ctx, api);
        let r = self.resource(&s, id)?;
        if r.parent_id.is_none() {
            return Err(bad_request("Cannot delete the root resource"));
        }
        // A resource goes with its descendants.
        let all = self.resources(&s)?;
        let mut doomed = vec![id.to_string()];
        let mut i = 0;
        while i < doomed.len() {
            let cur = doomed[i].clone();
            for c in &all {
                if c.parent_id.as_deref() == Some(cur.as_str()) {
                    if let Some(cid) = &c.id {
                        doomed.push(cid.clone());
                    }
                }
            }
            i += 1;
        }
        let mut b = self.db().batch();
        for d in doomed {
            b.delete(s.key("res", &d).into_bytes());
        }
        self.db().commit(b)
    }

    fn method_of(r: &t::Resource, m: &str) -> Result<t::Method, AwsError> {
        r.resource_methods
            .as_ref()
            .and_then(|ms| ms.get(&m.to_ascii_uppercase()))
            .cloned()
            .ok_or_else(invalid_method)
    }

    /// Loads a resource, lets `f` change one of its methods, and stores it.
    fn with_method<T>(
        &self,
        ctx: &RequestContext,
        api: &str,
        res: &str,
        method: &str,
        f: impl FnOnce(&mut t::Method) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let s = scope(ctx, api);
        let mut r = self.resource(&s, res)?;
        let m = r
            .resource_methods
            .as_mut()
            .and_then(|ms| ms.get_mut(&method.to_ascii_uppercase()))
            .ok_or_else(invalid_method)?;
        let out = f(m)?;
        self.save_resource(&s, &r)?;
        Ok(out)
    }

    fn put_method(
        &self,
        ctx: &RequestContext,
        input: t::PutMethodRequest,
    ) -> Result<t::Method, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        let mut r = self.resource(&s, &input.resource_id)?;
        let method = check_http_method(&input.http_method)?;
        if input.authorization_type != "NONE" {
            return Err(bad_request(format!(
                "authorizationType {} is not supported by Nimbus yet; use NONE",
                input.authorization_type
            )));
        }
        let methods = r.resource_methods.get_or_insert_with(BTreeMap::new);
        if methods.contains_key(&method) {
            return Err(conflict("Method already exists for this resource"));
        }
        let m = t::Method {
            http_method: Some(method.clone()),
            authorization_type: Some(input.authorization_type),
            authorizer_id: input.authorizer_id,
            api_key_required: Some(input.api_key_required.unwrap_or(false)),
            request_validator_id: input.request_validator_id,
            operation_name: input.operation_name,
            request_parameters: input.request_parameters,
            request_models: input.request_models,
            authorization_scopes: input.authorization_scopes,
            ..Default::default()
        };
        methods.insert(method, m.clone());
        self.save_resource(&s, &r)?;
        Ok(m)
    }

    fn delete_method(
        &self,
        ctx: &RequestContext,
        api: &str,
        res: &str,
        method: &str,
    ) -> Result<(), AwsError> {
        let s = scope(ctx, api);
        let mut r = self.resource(&s, res)?;
        let removed = r
            .resource_methods
            .as_mut()
            .and_then(|ms| ms.remove(&method.to_ascii_uppercase()));
        if removed.is_none() {
            return Err(invalid_method());
        }
        if r.resource_methods.as_ref().is_some_and(|m| m.is_empty()) {
            r.resource_methods = None;
        }
        self.save_resource(&s, &r)
    }

    fn put_integration(
        &self,
        ctx: &RequestContext,
        input: t::PutIntegrationRequest,
    ) -> Result<t::Integration, AwsError> {
        let kind = input.type_.to_ascii_uppercase();
        match kind.as_str() {
            "AWS_PROXY" => {
                let uri = input.uri.as_deref().unwrap_or("");
                if crate::data::function_of_uri(uri).is_none() {
                    return Err(bad_request(format!(
                        "Invalid Lambda function integration URI {uri}: expected arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{function arn}}/invocations"
                    )));
                }
                if input.integration_http_method.as_deref().is_none_or(|m| m.is_empty()) {
                    return Err(bad_request("Enumeration value for HttpMethod must be non-empty"));
                }
            }
            "HTTP_PROXY" => {
                let uri = input.uri.as_deref().unwrap_or("");
                if uri.starts_with("https://") {
                    return Err(bad_request("HTTP_PROXY to https:// backends is not supported by Nimbus yet; use an http:// URL"));
                }
                if !uri.starts_with("http://") {
                    return Err(bad_request("Invalid HTTP endpoint specified for URI"));
                }
                if input.integration_http_method.as_deref().is_none_or(|m| m.is_empty()) {
                    return Err(bad_request("Enumeration value for HttpMethod must be non-empty"));
                }
            }
            "MOCK" => {}
            "AWS" | "HTTP" => {
                return Err(bad_request(format!(
                    "Integration type {kind} (non-proxy, with mapping templates) is not supported by Nimbus yet; use AWS_PROXY, HTTP_PROXY or MOCK"
                )))
            }
            _ => return Err(bad_request(format!("Invalid integration type {}", input.type_))),
        }
        self.with_method(
            ctx,
            &input.rest_api_id,
            &input.resource_id,
            &input.http_method,
            |m| {
                let integ = t::Integration {
                    type_: Some(kind.clone()),
                    http_method: input
                        .integration_http_method
                        .map(|m| m.to_ascii_uppercase()),
                    uri: input.uri,
                    connection_type: Some(
                        input.connection_type.unwrap_or_else(|| "INTERNET".into()),
                    ),
                    connection_id: input.connection_id,
                    credentials: input.credentials,
                    request_parameters: input.request_parameters,
                    request_templates: input.request_templates,
                    passthrough_behavior: Some(
                        input
                            .passthrough_behavior
                            .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
                    ),
                    content_handling: input.content_handling,
                    timeout_in_millis: Some(input.timeout_in_millis.unwrap_or(29_000)),
                    cache_namespace: Some(
                        input
                            .cache_namespace
                            .unwrap_or_else(|| input.resource_id.clone()),
                    ),
                    cache_key_parameters: Some(input.cache_key_parameters.unwrap_or_default()),
                    integration_responses: None,
                    tls_config: input.tls_config,
                    response_transfer_mode: input.response_transfer_mode,
                    integration_target: input.integration_target,
                };
                m.method_integration = Some(integ.clone());
                Ok(integ)
            },
        )
    }

    fn put_method_response(
        &self,
        ctx: &RequestContext,
        input: t::PutMethodResponseRequest,
    ) -> Result<t::MethodResponse, AwsError> {
        check_status(&input.status_code)?;
        self.with_method(
            ctx,
            &input.rest_api_id,
            &input.resource_id,
            &input.http_method,
            |m| {
                let mr = t::MethodResponse {
                    status_code: Some(input.status_code.clone()),
                    response_parameters: input.response_parameters,
                    response_models: input.response_models,
                };
                m.method_responses
                    .get_or_insert_with(BTreeMap::new)
                    .insert(input.status_code, mr.clone());
                Ok(mr)
            },
        )
    }

    fn put_integration_response(
        &self,
        ctx: &RequestContext,
        input: t::PutIntegrationResponseRequest,
    ) -> Result<t::IntegrationResponse, AwsError> {
        check_status(&input.status_code)?;
        self.with_method(
            ctx,
            &input.rest_api_id,
            &input.resource_id,
            &input.http_method,
            |m| {
                let integ = m
                    .method_integration
                    .as_mut()
                    .ok_or_else(invalid_integration)?;
                let ir = t::IntegrationResponse {
                    status_code: Some(input.status_code.clone()),
                    selection_pattern: input.selection_pattern,
                    response_parameters: input.response_parameters,
                    response_templates: input.response_templates,
                    content_handling: input.content_handling,
                };
                integ
                    .integration_responses
                    .get_or_insert_with(BTreeMap::new)
                    .insert(input.status_code, ir.clone());
                Ok(ir)
            },
        )
    }

    fn create_deployment(
        &self,
        ctx: &RequestContext,
        input: t::CreateDeploymentRequest,
    ) -> Result<t::Deployment, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        self.api(&s)?;
        let resources = self.resources(&s)?;
        let mut any_method = false;
        for r in &resources {
            for m in r.resource_methods.iter().flat_map(|m| m.values()) {
                any_method = true;
                if m.method_integration.is_none() {
                    return Err(bad_request("No integration defined for method"));
                }
            }
        }
        if !any_method {
            return Err(bad_request("The REST API doesn't contain any methods"));
        }
        let mut summary: BTreeMap<String, BTreeMap<String, t::MethodSnapshot>> = BTreeMap::new();
        for r in &resources {
            for (name, m) in r.resource_methods.iter().flat_map(|m| m.iter()) {
                summary
                    .entry(r.path.clone().unwrap_or_default())
                    .or_default()
                    .insert(
                        name.clone(),
                        t::MethodSnapshot {
                            authorization_type: m.authorization_type.clone(),
                            api_key_required: m.api_key_required,
                        },
                    );
            }
        }
        let now = epoch_now().floor();
        let deployment = t::Deployment {
            id: Some(ids::lower_alnum(6)),
            description: input.description,
            created_date: Some(Timestamp(now)),
            api_summary: Some(summary),
        };
        let dep_id = deployment.id.clone().unwrap_or_default();
        let mut b = self.db().batch();
        b.put(
            &s.key("dep", &dep_id),
            &DeploymentRecord {
                deployment: deployment.clone(),
                resources,
            },
        )?;
        if let Some(stage_name) = input.stage_name.filter(|n| !n.is_empty()) {
            check_stage_name(&stage_name)?;
            let existing: Option<t::Stage> = self.db().get(&s.key("stage", &stage_name))?;
            let stage = match existing {
                Some(mut st) => {
                    st.deployment_id = Some(dep_id.clone());
                    st.last_updated_date = Some(Timestamp(now));
                    if let Some(vars) = input.variables {
                        st.variables.get_or_insert_with(BTreeMap::new).extend(vars);
                    }
                    st
                }
                None => t::Stage {
                    deployment_id: Some(dep_id.clone()),
                    stage_name: Some(stage_name.clone()),
                    description: input.stage_description,
                    cache_cluster_enabled: Some(input.cache_cluster_enabled.unwrap_or(false)),
                    cache_cluster_status: Some("NOT_AVAILABLE".into()),
                    method_settings: Some(BTreeMap::new()),
                    variables: input.variables,
                    tracing_enabled: Some(input.tracing_enabled.unwrap_or(false)),
                    created_date: Some(Timestamp(now)),
                    last_updated_date: Some(Timestamp(now)),
                    ..Default::default()
                },
            };
            b.put(&s.key("stage", &stage_name), &stage)?;
        }
        self.db().commit(b)?;
        let mut out = deployment;
        out.api_summary = None;
        Ok(out)
    }

    fn deployment(&self, s: &Scope, id: &str) -> Result<DeploymentRecord, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("dep", id))?
            .ok_or_else(invalid_deployment)
    }

    fn create_stage(
        &self,
        ctx: &RequestContext,
        input: t::CreateStageRequest,
    ) -> Result<t::Stage, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        self.api(&s)?;
        check_stage_name(&input.stage_name)?;
        self.deployment(&s, &input.deployment_id)?;
        if self
            .db()
            .get::<t::Stage>(&s.key("stage", &input.stage_name))?
            .is_some()
        {
            return Err(conflict("Stage already exists"));
        }
        let now = Timestamp(epoch_now().floor());
        let stage = t::Stage {
            deployment_id: Some(input.deployment_id),
            stage_name: Some(input.stage_name.clone()),
            description: input.description,
            cache_cluster_enabled: Some(input.cache_cluster_enabled.unwrap_or(false)),
            cache_cluster_status: Some("NOT_AVAILABLE".into()),
            method_settings: Some(BTreeMap::new()),
            variables: input.variables,
            tracing_enabled: Some(input.tracing_enabled.unwrap_or(false)),
            tags: input.tags,
            created_date: Some(now),
            last_updated_date: Some(now),
            ..Default::default()
        };
        let mut b = self.db().batch();
        b.put(&s.key("stage", &input.stage_name), &stage)?;
        self.db().commit(b)?;
        Ok(stage)
    }

    fn stage(&self, s: &Scope, name: &str) -> Result<t::Stage, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("stage", name))?
            .ok_or_else(invalid_stage)
    }

    fn update_stage(
        &self,
        ctx: &RequestContext,
        input: t::UpdateStageRequest,
    ) -> Result<t::Stage, AwsError> {
        let s = scope(ctx, &input.rest_api_id);
        let mut st = self.stage(&s, &input.stage_name)?;
        for p in input.patch_operations.unwrap_or_default() {
            let op = p.op.as_deref().unwrap_or("");
            let path = p.path.as_deref().unwrap_or("");
            if let Some(var) = path.strip_prefix("/variables/") {
                let var = var.replace("~1", "/").replace("~0", "~");
                match op {
                    "add" | "replace" => {
                        st.variables.get_or_insert_with(BTreeMap::new).insert(var, p.value.unwrap_or_default());
                    }
                    "remove" => {
                        if let Some(v) = st.variables.as_mut() {
                            v.remove(&var);
                        }
                    }
                    _ => return Err(bad_request("Invalid patch operation specified. Must be one of: [add, remove, replace] for /variables")),
                }
                continue;
            }
            match (op, path) {
                ("replace", "/description") => st.description = p.value,
                ("replace", "/deploymentId") => {
                    let id = p.value.unwrap_or_default();
                    self.deployment(&s, &id)?;
                    st.deployment_id = Some(id);
                }
                ("replace", "/tracingEnabled") => {
                    st.tracing_enabled = Some(p.value.as_deref() == Some("true"))
                }
                ("replace", "/cacheClusterEnabled") => {
                    st.cache_cluster_enabled = Some(p.value.as_deref() == Some("true"))
                }
                _ => {
                    return Err(bad_request(format!(
                        "Invalid patch path {path} for operation {op}"
                    )))
                }
            }
        }
        st.last_updated_date = Some(Timestamp(epoch_now().floor()));
        let mut b = self.db().batch();
        b.put(&s.key("stage", &input.stage_name), &st)?;
        self.db().commit(b)?;
        Ok(st)
    }
}

fn check_status(code: &str) -> Result<(), AwsError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && code.as_bytes()[0] != b'0' {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Invalid status code specified: {code}"
        )))
    }
}

fn check_stage_name(name: &str) -> Result<(), AwsError> {
    if !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(bad_request("Stage name only allows a-zA-Z0-9_"))
    }
}

impl Handler for RestApis {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        use Op::*;
        matches!(
            Op::from_name(op),
            Some(
                CreateRestApi
                    | GetRestApi
                    | GetRestApis
                    | DeleteRestApi
                    | UpdateRestApi
                    | GetResources
                    | GetResource
                    | CreateResource
                    | DeleteResource
                    | PutMethod
                    | GetMethod
                    | DeleteMethod
                    | PutIntegration
                    | GetIntegration
                    | DeleteIntegration
                    | PutMethodResponse
                    | GetMethodResponse
                    | PutIntegrationResponse
                    | GetIntegrationResponse
                    | CreateDeployment
                    | GetDeployment
                    | GetDeployments
                    | DeleteDeployment
                    | CreateStage
                    | GetStage
                    | GetStages
                    | UpdateStage
                    | DeleteStage
                    | ImportRestApi
                    | PutRestApi
                    | GetExport
            )
        )
    }

    fn call<'a>(
        &'a self,
        ctx: &'a RequestContext,
        op: &'static Operation,
        input: Input,
    ) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            let Some(op) = Op::from_name(op.name) else {
                return Err(nimbus_protocol::not_implemented(
                    nimbus_protocol::Wire::RestJson,
                    "API Gateway",
                    op.name,
                ));
            };
            // Reads are lock-free; writes are serialized so read-modify-write sequences
            // cannot lose updates.
            let is_write = !matches!(
                op,
                Op::GetRestApi
                    | Op::GetRestApis
                    | Op::GetResources
                    | Op::GetResource
                    | Op::GetMethod
                    | Op::GetIntegration
                    | Op::GetMethodResponse
                    | Op::GetIntegrationResponse
                    | Op::GetDeployment
                    | Op::GetDeployments
                    | Op::GetStage
                    | Op::GetStages
                    | Op::GetExport
            );
            let _guard = if is_write {
                Some(self.inner.write.lock().await)
            } else {
                None
            };
            self.dispatch(ctx, op, input)
        })
    }
}

impl RestApis {
    fn dispatch(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::CreateRestApi => Output::from(&self.create_rest_api(ctx, input.parse()?)?),
            Op::GetRestApi => {
                let i: t::GetRestApiRequest = input.parse()?;
                Output::from(&self.api(&scope(ctx, &i.rest_api_id))?)
            }
            Op::GetRestApis => {
                let _: t::GetRestApisRequest = input.parse()?;
                let items: Vec<t::RestApi> =
                    self.db()
                        .list(&db::apis_prefix(V, &ctx.account_id, &ctx.region))?;
                Output::from(&t::RestApis {
                    position: None,
                    items: Some(items),
                })
            }
            Op::DeleteRestApi => {
                let i: t::DeleteRestApiRequest = input.parse()?;
                self.delete_rest_api(ctx, &i.rest_api_id)?;
                Ok(Output::default())
            }
            Op::UpdateRestApi => Output::from(&self.update_rest_api(ctx, input.parse()?)?),
            Op::GetResources => {
                let i: t::GetResourcesRequest = input.parse()?;
                let s = scope(ctx, &i.rest_api_id);
                self.api(&s)?;
                let mut items = self.resources(&s)?;
                items.sort_by(|a, b| a.path.cmp(&b.path));
                Output::from(&t::Resources {
                    position: None,
                    items: Some(items),
                })
            }
            Op::GetResource => {
                let i: t::GetResourceRequest = input.parse()?;
                Output::from(&self.resource(&scope(ctx, &i.rest_api_id), &i.resource_id)?)
            }
            Op::CreateResource => Output::from(&self.create_resource(ctx, input.parse()?)?),
            Op::DeleteResource => {
                let i: t::DeleteResourceRequest = input.parse()?;
                self.delete_resource(ctx, &i.rest_api_id, &i.resource_id)?;
                Ok(Output::default())
            }
            Op::PutMethod => Output::from(&self.put_method(ctx, input.parse()?)?),
            Op::GetMethod => {
                let i: t::GetMethodRequest = input.parse()?;
                let r = self.resource(&scope(ctx, &i.rest_api_id), &i.resource_id)?;
                Output::from(&Self::method_of(&r, &i.http_method)?)
            }
            Op::DeleteMethod => {
                let i: t::DeleteMethodRequest = input.parse()?;
                self.delete_method(ctx, &i.rest_api_id, &i.resource_id, &i.http_method)?;
                Ok(Output::default())
            }
            Op::PutIntegration => Output::from(&self.put_integration(ctx, input.parse()?)?),
            Op::GetIntegration => {
                let i: t::GetIntegrationRequest = input.parse()?;
                let r = self.resource(&scope(ctx, &i.rest_api_id), &i.resource_id)?;
                let m = Self::method_of(&r, &i.http_method)?;
                Output::from(&m.method_integration.ok_or_else(invalid_integration)?)
            }
            Op::DeleteIntegration => {
                let i: t::DeleteIntegrationRequest = input.parse()?;
                self.with_method(ctx, &i.rest_api_id, &i.resource_id, &i.http_method, |m| {
                    m.method_integration
                        .take()
                        .ok_or_else(invalid_integration)
                        .map(|_| ())
                })?;
                Ok(Output::default())
            }
            Op::PutMethodResponse => Output::from(&self.put_method_response(ctx, input.parse()?)?),
            Op::GetMethodResponse => {
                let i: t::GetMethodResponseRequest = input.parse()?;
                let r = self.resource(&scope(ctx, &i.rest_api_id), &i.resource_id)?;
                let m = Self::method_of(&r, &i.http_method)?;
                let mr = m
                    .method_responses
                    .and_then(|mut x| x.remove(&i.status_code));
                Output::from(
                    &mr.ok_or_else(|| not_found("Invalid Response status code specified"))?,
                )
            }
            Op::PutIntegrationResponse => {
                Output::from(&self.put_integration_response(ctx, input.parse()?)?)
            }
            Op::GetIntegrationResponse => {
                let i: t::GetIntegrationResponseRequest = input.parse()?;
                let r = self.resource(&scope(ctx, &i.rest_api_id), &i.resource_id)?;
                let m = Self::method_of(&r, &i.http_method)?;
                let ir = m
                    .method_integration
                    .and_then(|x| x.integration_responses)
                    .and_then(|mut x| x.remove(&i.status_code));
                Output::from(
                    &ir.ok_or_else(|| not_found("Invalid Response status code specified"))?,
                )
            }
            Op::CreateDeployment => Output::from(&self.create_deployment(ctx, input.parse()?)?),
            Op::GetDeployment => {
                let i: t::GetDeploymentRequest = input.parse()?;
                let mut d = self
                    .deployment(&scope(ctx, &i.rest_api_id), &i.deployment_id)?
                    .deployment;
                if !i
                    .embed
                    .unwrap_or_default()
                    .iter()
                    .any(|e| e == "apisummary")
                {
                    d.api_summary = None;
                }
                Output::from(&d)
            }
            Op::GetDeployments => {
                let i: t::GetDeploymentsRequest = input.parse()?;
                let s = scope(ctx, &i.rest_api_id);
                self.api(&s)?;
                let recs: Vec<DeploymentRecord> = self.db().list(&s.prefix("dep"))?;
                let mut items: Vec<t::Deployment> = recs
                    .into_iter()
                    .map(|r| t::Deployment {
                        api_summary: None,
                        ..r.deployment
                    })
                    .collect();
                items.sort_by(|a, b| {
                    a.created_date
                        .map(|t| t.0)
                        .partial_cmp(&b.created_date.map(|t| t.0))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                Output::from(&t::Deployments {
                    position: None,
                    items: Some(items),
                })
            }
            Op::DeleteDeployment => {
                let i: t::DeleteDeploymentRequest = input.parse()?;
                let s = scope(ctx, &i.rest_api_id);
                self.deployment(&s, &i.deployment_id)?;
                let stages: Vec<t::Stage> = self.db().list(&s.prefix("stage"))?;
                if stages
                    .iter()
                    .any(|st| st.deployment_id.as_deref() == Some(i.deployment_id.as_str()))
                {
                    return Err(bad_request(
                        "Active stages pointing to this deployment must be moved or deleted",
                    ));
                }
                let mut b = self.db().batch();
                b.delete(s.key("dep", &i.deployment_id).into_bytes());
                self.db().commit(b)?;
                Ok(Output::default())
            }
            Op::CreateStage => Output::from(&self.create_stage(ctx, input.parse()?)?),
            Op::GetStage => {
                let i: t::GetStageRequest = input.parse()?;
                Output::from(&self.stage(&scope(ctx, &i.rest_api_id), &i.stage_name)?)
            }
            Op::GetStages => {
                let i: t::GetStagesRequest = input.parse()?;
                let s = scope(ctx, &i.rest_api_id);
                self.api(&s)?;
                let mut items: Vec<t::Stage> = self.db().list(&s.prefix("stage"))?;
                if let Some(d) = &i.deployment_id {
                    items.retain(|st| st.deployment_id.as_ref() == Some(d));
                }
                Output::from(&t::Stages { item: Some(items) })
            }
            Op::UpdateStage => Output::from(&self.update_stage(ctx, input.parse()?)?),
            Op::ImportRestApi => Output::from(&self.import_rest_api(ctx, &input)?),
            Op::PutRestApi => Output::from(&self.put_rest_api(ctx, &input)?),
            Op::GetExport => self.get_export(ctx, &input),
            Op::DeleteStage => {
                let i: t::DeleteStageRequest = input.parse()?;
                let s = scope(ctx, &i.rest_api_id);
                self.stage(&s, &i.stage_name)?;
                let mut b = self.db().batch();
                b.delete(s.key("stage", &i.stage_name).into_bytes());
                self.db().commit(b)?;
                Ok(Output::default())
            }
            _ => Err(nimbus_protocol::not_implemented(
                nimbus_protocol::Wire::RestJson,
                "API Gateway",
                &format!("{op:?}"),
            )),
        }
    }
}

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
            _ => warnings.push(format!("Import parameter {k}={v} is not supported by Nimbus and was ignored")),
        }
    }
    Ok(endpoint)
}

impl RestApis {
    fn import_rest_api(&self, ctx: &RequestContext, input: &Input) -> Result<t::RestApi, AwsError> {
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

    fn put_rest_api(&self, ctx: &RequestContext, input: &Input) -> Result<t::RestApi, AwsError> {
        let id = value_str(&input.value, "restApiId").unwrap_or_default().to_string();
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
            warnings.push("endpointConfigurationTypes applies only to ImportRestApi and was ignored".into());
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
    fn apply_spec(
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
                    b.delete(s.key("res", r.id.as_deref().unwrap_or_default()).into_bytes());
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
                let child = if cur == "/" { format!("/{part}") } else { format!("{cur}/{part}") };
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

    fn get_export(&self, ctx: &RequestContext, input: &Input) -> Result<Output, AwsError> {
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
        let integrations = params
            .get("extensions")
            .is_some_and(|e| e.split(',').any(|x| matches!(x.trim(), "integrations" | "apigateway")));
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
        let (ct, ext) = if yaml { ("application/yaml", "yaml") } else { ("application/json", "json") };
        let kind = if flavor == openapi::Flavor::Oas3 { "oas30" } else { "swagger" };
        Ok(Output {
            value: serde_json::json!({
                "contentType": ct,
                "contentDisposition": format!("attachment; filename=\"{kind}_{stage_name}.{ext}\""),
            }),
            payload: Some(bytes::Bytes::from(body)),
        })
    }
}
