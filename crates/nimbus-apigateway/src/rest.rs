//! REST APIs (v1) control plane.

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_model::types::apigateway as t;
use nimbus_model::Timestamp;
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::db::{self, ApiIndex};
use crate::{bad_request, conflict, ids, not_found, Inner};

pub(crate) const V: &str = "v1";

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
pub(crate) struct Scope<'a> {
    account: &'a str,
    region: &'a str,
    api: &'a str,
}

impl Scope<'_> {
    pub(crate) fn api_key(&self) -> String {
        db::api_key(V, self.account, self.region, self.api)
    }
    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        db::child_key(V, self.account, self.region, self.api, kind, id)
    }
    pub(crate) fn prefix(&self, kind: &str) -> String {
        db::child_prefix(V, self.account, self.region, self.api, kind)
    }
}

pub(crate) fn scope<'a>(ctx: &'a RequestContext, api: &'a str) -> Scope<'a> {
    Scope {
        account: &ctx.account_id,
        region: &ctx.region,
        api,
    }
}

pub(crate) fn invalid_api(account: &str, api: &str) -> AwsError {
    not_found(format!("Invalid API identifier specified {account}:{api}"))
}

pub(crate) fn invalid_resource() -> AwsError {
    not_found("Invalid Resource identifier specified")
}

pub(crate) fn invalid_method() -> AwsError {
    not_found("Invalid Method identifier specified")
}

pub(crate) fn invalid_integration() -> AwsError {
    not_found("Invalid Integration identifier specified")
}

pub(crate) fn invalid_stage() -> AwsError {
    not_found("Invalid Stage identifier specified")
}

pub(crate) fn invalid_deployment() -> AwsError {
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

pub(crate) fn is_variable(p: &str) -> bool {
    p.starts_with('{')
}

fn is_greedy(p: &str) -> bool {
    p.starts_with('{') && p.ends_with("+}")
}

impl RestApis {
    pub(crate) fn db(&self) -> &db::Db {
        &self.inner.db
    }

    pub(crate) fn api(&self, s: &Scope) -> Result<t::RestApi, AwsError> {
        self.db()
            .get(&s.api_key())?
            .ok_or_else(|| invalid_api(s.account, s.api))
    }

    pub(crate) fn resource(&self, s: &Scope, id: &str) -> Result<t::Resource, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("res", id))?
            .ok_or_else(invalid_resource)
    }

    pub(crate) fn resources(&self, s: &Scope) -> Result<Vec<t::Resource>, AwsError> {
        self.db().list(&s.prefix("res"))
    }

    pub(crate) fn save_resource(&self, s: &Scope, r: &t::Resource) -> Result<(), AwsError> {
        let mut b = self.db().batch();
        b.put(&s.key("res", r.id.as_deref().unwrap_or_default()), r)?;
        self.db().commit(b)
    }

    pub(crate) fn create_rest_api(
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

    pub(crate) fn delete_rest_api(&self, ctx: &RequestContext, api: &str) -> Result<(), AwsError> {
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

    pub(crate) fn update_rest_api(
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

    pub(crate) fn create_resource(
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

    pub(crate) fn delete_resource(
        &self,
        ctx: &RequestContext,
        api: &str,
        id: &str,
    ) -> Result<(), AwsError> {
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

    pub(crate) fn method_of(r: &t::Resource, m: &str) -> Result<t::Method, AwsError> {
        r.resource_methods
            .as_ref()
            .and_then(|ms| ms.get(&m.to_ascii_uppercase()))
            .cloned()
            .ok_or_else(invalid_method)
    }

    /// Loads a resource, lets `f` change one of its methods, and stores it.
    pub(crate) fn with_method<T>(
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

    pub(crate) fn put_method(
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

    pub(crate) fn delete_method(
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

    pub(crate) fn put_integration(
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
                if input
                    .integration_http_method
                    .as_deref()
                    .is_none_or(|m| m.is_empty())
                {
                    return Err(bad_request(
                        "Enumeration value for HttpMethod must be non-empty",
                    ));
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
                if input
                    .integration_http_method
                    .as_deref()
                    .is_none_or(|m| m.is_empty())
                {
                    return Err(bad_request(
                        "Enumeration value for HttpMethod must be non-empty",
                    ));
                }
            }
            "MOCK" => {}
            "AWS" => {
                let uri = input.uri.as_deref().unwrap_or("");
                if crate::data::function_of_uri(uri).is_none() {
                    return Err(bad_request(format!(
                        "AWS integrations with {uri} are not supported by Nimbus yet: only Lambda functions (arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{function arn}}/invocations)"
                    )));
                }
                if input
                    .integration_http_method
                    .as_deref()
                    .is_none_or(|m| m.is_empty())
                {
                    return Err(bad_request(
                        "Enumeration value for HttpMethod must be non-empty",
                    ));
                }
            }
            "HTTP" => {
                let uri = input.uri.as_deref().unwrap_or("");
                if uri.starts_with("https://") {
                    return Err(bad_request("HTTP integrations to https:// backends are not supported by Nimbus yet; use an http:// URL"));
                }
                if !uri.starts_with("http://") {
                    return Err(bad_request("Invalid HTTP endpoint specified for URI"));
                }
                if input
                    .integration_http_method
                    .as_deref()
                    .is_none_or(|m| m.is_empty())
                {
                    return Err(bad_request(
                        "Enumeration value for HttpMethod must be non-empty",
                    ));
                }
            }
            _ => {
                return Err(bad_request(format!(
                    "Invalid integration type {}",
                    input.type_
                )))
            }
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

    pub(crate) fn put_method_response(
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

    pub(crate) fn put_integration_response(
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

    pub(crate) fn create_deployment(
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

    pub(crate) fn deployment(&self, s: &Scope, id: &str) -> Result<DeploymentRecord, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("dep", id))?
            .ok_or_else(invalid_deployment)
    }

    pub(crate) fn create_stage(
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

    pub(crate) fn stage(&self, s: &Scope, name: &str) -> Result<t::Stage, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("stage", name))?
            .ok_or_else(invalid_stage)
    }

    pub(crate) fn update_stage(
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
                ("replace" | "add", "/accessLogSettings/destinationArn") => {
                    st.access_log_settings
                        .get_or_insert_with(Default::default)
                        .destination_arn = p.value
                }
                ("replace" | "add", "/accessLogSettings/format") => {
                    st.access_log_settings
                        .get_or_insert_with(Default::default)
                        .format = p.value
                }
                ("remove", "/accessLogSettings") => st.access_log_settings = None,
                _ => {
                    return Err(bad_request(format!(
                        "Invalid patch path {path} for operation {op}"
                    )))
                }
            }
        }
        if let Some(a) = &st.access_log_settings {
            crate::access_log::validate(a.destination_arn.as_deref(), a.format.as_deref())?;
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
