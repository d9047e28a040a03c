//! HTTP APIs (v2) control plane.

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::apigatewayv2::{Op, SERVICE};
use nimbus_model::types::apigatewayv2 as t;
use nimbus_model::Timestamp;
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::db::{self, ApiIndex};
use crate::openapi;
use crate::{bad_request, conflict, ids, not_found, Inner};

const V: &str = "v2";

/// A deployment of an HTTP API: the routes and integrations it serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub deployment: t::Deployment,
    pub routes: Vec<t::Route>,
    pub integrations: Vec<t::Integration>,
}

/// The HTTP API control plane handler.
pub struct HttpApis {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Scope<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub api: &'a str,
}

impl Scope<'_> {
    pub fn api_key(&self) -> String {
        db::api_key(V, self.account, self.region, self.api)
    }
    pub fn key(&self, kind: &str, id: &str) -> String {
        db::child_key(V, self.account, self.region, self.api, kind, id)
    }
    pub fn prefix(&self, kind: &str) -> String {
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

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// `$default` or `METHOD /path` with `{param}` / a final `{proxy+}` segments.
pub(crate) fn check_route_key(key: &str) -> Result<(), AwsError> {
    if key == "$default" {
        return Ok(());
    }
    let invalid = || {
        bad_request(format!(
            "Unable to create route {key}: the route key must be '$default' or 'METHOD /path'"
        ))
    };
    let (method, path) = key.split_once(' ').ok_or_else(invalid)?;
    if !METHODS.contains(&method) || !path.starts_with('/') {
        return Err(invalid());
    }
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() && parts.len() != 1 {
            return Err(invalid());
        }
        if p.ends_with("+}") && i + 1 != parts.len() {
            return Err(bad_request(format!(
                "Unable to create route {key}: a greedy path variable must be the last path part"
            )));
        }
    }
    Ok(())
}

/// The integration id a route target (`integrations/{id}`) names.
pub(crate) fn target_integration(target: &str) -> Option<&str> {
    target.strip_prefix("integrations/")
}

impl HttpApis {
    fn db(&self) -> &db::Db {
        &self.inner.db
    }

    fn api(&self, s: &Scope) -> Result<t::Api, AwsError> {
        self.db().get(&s.api_key())?.ok_or_else(|| {
            not_found(format!(
                "Invalid API identifier specified {}:{}",
                s.account, s.api
            ))
        })
    }

    fn integration_from_target(
        target: &str,
        format: Option<&str>,
    ) -> Result<t::Integration, AwsError> {
        let (kind, method, fmt) = if target.starts_with("http://") || target.starts_with("https://")
        {
            ("HTTP_PROXY", "ANY", "1.0")
        } else if target.starts_with("arn:") {
            ("AWS_PROXY", "POST", "2.0")
        } else {
            return Err(bad_request(format!(
                "Invalid target {target}: expected a Lambda function ARN or an HTTP URL"
            )));
        };
        Ok(t::Integration {
            api_gateway_managed: Some(true),
            connection_type: Some("INTERNET".into()),
            integration_id: Some(ids::lower_alnum(7)),
            integration_method: Some(method.into()),
            integration_type: Some(kind.into()),
            integration_uri: Some(target.into()),
            payload_format_version: Some(format.unwrap_or(fmt).into()),
            timeout_in_millis: Some(30_000),
            ..Default::default()
        })
    }

    fn create_api(
        &self,
        ctx: &RequestContext,
        input: t::CreateApiRequest,
    ) -> Result<t::Api, AwsError> {
        if input.protocol_type != "HTTP" {
            return Err(bad_request(format!(
                "ProtocolType {} is not supported by Nimbus yet; use HTTP",
                input.protocol_type
            )));
        }
        let id = ids::lower_alnum(10);
        let now = Timestamp(epoch_now().floor());
        let api = t::Api {
            api_endpoint: Some(format!(
                "http://{id}.execute-api.localhost:{}",
                self.inner.port
            )),
            api_id: Some(id.clone()),
            api_key_selection_expression: Some(
                input
                    .api_key_selection_expression
                    .unwrap_or_else(|| "$request.header.x-api-key".into()),
            ),
            cors_configuration: input.cors_configuration,
            created_date: Some(now),
            description: input.description,
            disable_execute_api_endpoint: Some(input.disable_execute_api_endpoint.unwrap_or(false)),
            ip_address_type: Some(input.ip_address_type.unwrap_or_else(|| "ipv4".into())),
            name: Some(input.name),
            protocol_type: Some("HTTP".into()),
            route_selection_expression: Some(
                input
                    .route_selection_expression
                    .unwrap_or_else(|| "$request.method $request.path".into()),
            ),
            tags: Some(input.tags.unwrap_or_default()),
            version: input.version,
            ..Default::default()
        };
        let s = scope(ctx, &id);
        let mut b = self.db().batch();
        b.put(
            &db::idx_key(&id),
            &ApiIndex {
                version: 2,
                account: ctx.account_id.clone(),
                region: ctx.region.clone(),
            },
        )?;
        b.put(&s.api_key(), &api)?;
        if let Some(target) = &input.target {
            // Quick create: a managed integration, route and auto-deploying $default stage.
            let route_key = input.route_key.unwrap_or_else(|| "$default".into());
            check_route_key(&route_key)?;
            let integ = Self::integration_from_target(target, None)?;
            let route = t::Route {
                api_gateway_managed: Some(true),
                api_key_required: Some(false),
                authorization_type: Some("NONE".into()),
                route_id: Some(ids::lower_alnum(7)),
                route_key: Some(route_key),
                target: Some(format!(
                    "integrations/{}",
                    integ.integration_id.as_deref().unwrap_or("")
                )),
                ..Default::default()
            };
            let stage = t::Stage {
                api_gateway_managed: Some(true),
                auto_deploy: Some(true),
                created_date: Some(now),
                last_updated_date: Some(now),
                default_route_settings: Some(t::RouteSettings {
                    detailed_metrics_enabled: Some(false),
                    ..Default::default()
                }),
                route_settings: Some(BTreeMap::new()),
                stage_name: Some("$default".into()),
                stage_variables: Some(BTreeMap::new()),
                tags: Some(BTreeMap::new()),
                ..Default::default()
            };
            b.put(
                &s.key("integ", integ.integration_id.as_deref().unwrap_or("")),
                &integ,
            )?;
            b.put(
                &s.key("route", route.route_id.as_deref().unwrap_or("")),
                &route,
            )?;
            b.put(&s.key("stage", "$default"), &stage)?;
        } else if input.route_key.is_some() {
            return Err(bad_request(
                "RouteKey is only allowed with Target (quick create)",
            ));
        }
        self.db().commit(b)?;
        Ok(api)
    }

    fn update_api(
        &self,
        ctx: &RequestContext,
        input: t::UpdateApiRequest,
    ) -> Result<t::Api, AwsError> {
        let s = scope(ctx, &input.api_id);
        let mut api = self.api(&s)?;
        if input.target.is_some() || input.route_key.is_some() {
            return Err(bad_request(
                "Changing Target or RouteKey with UpdateApi is not supported by Nimbus yet",
            ));
        }
        if let Some(v) = input.name {
            api.name = Some(v);
        }
        if let Some(v) = input.description {
            api.description = Some(v);
        }
        if let Some(v) = input.cors_configuration {
            api.cors_configuration = Some(v);
        }
        if let Some(v) = input.disable_execute_api_endpoint {
            api.disable_execute_api_endpoint = Some(v);
        }
        if let Some(v) = input.version {
            api.version = Some(v);
        }
        let mut b = self.db().batch();
        b.put(&s.api_key(), &api)?;
        self.db().commit(b)?;
        Ok(api)
    }

    fn delete_api(&self, ctx: &RequestContext, api: &str) -> Result<(), AwsError> {
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

    fn create_route(
        &self,
        ctx: &RequestContext,
        input: t::CreateRouteRequest,
    ) -> Result<t::Route, AwsError> {
        let s = scope(ctx, &input.api_id);
        self.api(&s)?;
        check_route_key(&input.route_key)?;
        let auth = input
            .authorization_type
            .clone()
            .unwrap_or_else(|| "NONE".into());
        if auth != "NONE" {
            return Err(bad_request(format!(
                "AuthorizationType {auth} is not supported by Nimbus yet; use NONE"
            )));
        }
        let routes: Vec<t::Route> = self.db().list(&s.prefix("route"))?;
        if routes
            .iter()
            .any(|r| r.route_key.as_deref() == Some(input.route_key.as_str()))
        {
            return Err(conflict(format!(
                "Route with key {} already exists for this API",
                input.route_key
            )));
        }
        if let Some(target) = &input.target {
            let id = target_integration(target).ok_or_else(|| {
                bad_request(format!(
                    "Invalid target {target}: expected integrations/{{integrationId}}"
                ))
            })?;
            self.db()
                .get::<t::Integration>(&s.key("integ", id))?
                .ok_or_else(|| {
                    not_found(format!("Invalid integration identifier specified {id}"))
                })?;
        }
        let route = t::Route {
            api_gateway_managed: None,
            api_key_required: Some(input.api_key_required.unwrap_or(false)),
            authorization_scopes: input.authorization_scopes,
            authorization_type: Some(auth),
            authorizer_id: input.authorizer_id,
            model_selection_expression: input.model_selection_expression,
            operation_name: input.operation_name,
            request_models: input.request_models,
            request_parameters: input.request_parameters,
            route_id: Some(ids::lower_alnum(7)),
            route_key: Some(input.route_key),
            route_response_selection_expression: input.route_response_selection_expression,
            target: input.target,
        };
        let mut b = self.db().batch();
        b.put(
            &s.key("route", route.route_id.as_deref().unwrap_or("")),
            &route,
        )?;
        self.db().commit(b)?;
        Ok(route)
    }

    fn create_integration(
        &self,
        ctx: &RequestContext,
        input: t::CreateIntegrationRequest,
    ) -> Result<t::Integration, AwsError> {
        let s = scope(ctx, &input.api_id);
        self.api(&s)?;
        let kind = input.integration_type.to_ascii_uppercase();
        let uri = input.integration_uri.clone().unwrap_or_default();
        let format = match kind.as_str() {
            "AWS_PROXY" => {
                if input.integration_subtype.is_some() {
                    return Err(bad_request("AWS service integrations (IntegrationSubtype) are not supported by Nimbus yet"));
                }
                if crate::data::function_of_uri(&uri).is_none() {
                    return Err(bad_request(format!("Invalid integration URI {uri}: expected a Lambda function ARN")));
                }
                let f = input.payload_format_version.clone().ok_or_else(|| {
                    bad_request("PayloadFormatVersion is required for AWS_PROXY integrations: 1.0 or 2.0")
                })?;
                if f != "1.0" && f != "2.0" {
                    return Err(bad_request(format!("Invalid PayloadFormatVersion {f}: expected 1.0 or 2.0")));
                }
                f
            }
            "HTTP_PROXY" => {
                if uri.starts_with("https://") {
                    return Err(bad_request("HTTP_PROXY to https:// backends is not supported by Nimbus yet; use an http:// URL"));
                }
                if !uri.starts_with("http://") {
                    return Err(bad_request(format!("Invalid integration URI {uri}: expected an http(s) URL")));
                }
                let f = input.payload_format_version.clone().unwrap_or_else(|| "1.0".into());
                if f != "1.0" {
                    return Err(bad_request("HTTP_PROXY integrations support only PayloadFormatVersion 1.0"));
                }
                f
            }
            other => {
                return Err(bad_request(format!(
                    "IntegrationType {other} is not supported by HTTP APIs in Nimbus; use AWS_PROXY or HTTP_PROXY"
                )))
            }
        };
        let integ = t::Integration {
            connection_id: input.connection_id,
            connection_type: Some(input.connection_type.unwrap_or_else(|| "INTERNET".into())),
            content_handling_strategy: input.content_handling_strategy,
            credentials_arn: input.credentials_arn,
            description: input.description,
            integration_id: Some(ids::lower_alnum(7)),
            integration_method: Some(input.integration_method.unwrap_or_else(|| {
                if kind == "AWS_PROXY" {
                    "POST".into()
                } else {
                    "ANY".into()
                }
            })),
            integration_type: Some(kind),
            integration_uri: Some(uri),
            payload_format_version: Some(format),
            request_parameters: input.request_parameters,
            response_parameters: input.response_parameters,
            timeout_in_millis: Some(input.timeout_in_millis.unwrap_or(30_000)),
            ..Default::default()
        };
        let mut b = self.db().batch();
        b.put(
            &s.key("integ", integ.integration_id.as_deref().unwrap_or("")),
            &integ,
        )?;
        self.db().commit(b)?;
        Ok(integ)
    }

    fn snapshot(
        &self,
        s: &Scope,
        description: Option<String>,
        auto: bool,
    ) -> Result<DeploymentRecord, AwsError> {
        Ok(DeploymentRecord {
            deployment: t::Deployment {
                auto_deployed: Some(auto),
                created_date: Some(Timestamp(epoch_now().floor())),
                deployment_id: Some(ids::lower_alnum(6)),
                deployment_status: Some("DEPLOYED".into()),
                description,
                ..Default::default()
            },
            routes: self.db().list(&s.prefix("route"))?,
            integrations: self.db().list(&s.prefix("integ"))?,
        })
    }

    fn create_stage(
        &self,
        ctx: &RequestContext,
        input: t::CreateStageRequest,
    ) -> Result<t::Stage, AwsError> {
        let s = scope(ctx, &input.api_id);
        self.api(&s)?;
        let name = input.stage_name.clone();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if name != "$default" && !valid {
            return Err(bad_request(format!("Invalid stage name {name}")));
        }
        if self.db().get::<t::Stage>(&s.key("stage", &name))?.is_some() {
            return Err(conflict(format!("Stage {name} already exists")));
        }
        if let Some(d) = &input.deployment_id {
            self.db()
                .get::<DeploymentRecord>(&s.key("dep", d))?
                .ok_or_else(|| not_found(format!("Invalid deployment identifier specified {d}")))?;
        }
        if let Some(a) = &input.access_log_settings {
            crate::access_log::validate(a.destination_arn.as_deref(), a.format.as_deref())?;
        }
        let now = Timestamp(epoch_now().floor());
        let stage = t::Stage {
            access_log_settings: input.access_log_settings,
            auto_deploy: Some(input.auto_deploy.unwrap_or(false)),
            client_certificate_id: input.client_certificate_id,
            created_date: Some(now),
            default_route_settings: Some(input.default_route_settings.unwrap_or(
                t::RouteSettings {
                    detailed_metrics_enabled: Some(false),
                    ..Default::default()
                },
            )),
            deployment_id: input.deployment_id,
            description: input.description,
            last_updated_date: Some(now),
            route_settings: Some(input.route_settings.unwrap_or_default()),
            stage_name: Some(name.clone()),
            stage_variables: Some(input.stage_variables.unwrap_or_default()),
            tags: Some(input.tags.unwrap_or_default()),
            ..Default::default()
        };
        let mut b = self.db().batch();
        b.put(&s.key("stage", &name), &stage)?;
        self.db().commit(b)?;
        Ok(stage)
    }

    fn stage(&self, s: &Scope, name: &str) -> Result<t::Stage, AwsError> {
        self.api(s)?;
        self.db()
            .get(&s.key("stage", name))?
            .ok_or_else(|| not_found("Invalid stage identifier specified"))
    }

    fn update_stage(
        &self,
        ctx: &RequestContext,
        input: t::UpdateStageRequest,
    ) -> Result<t::Stage, AwsError> {
        let s = scope(ctx, &input.api_id);
        let mut st = self.stage(&s, &input.stage_name)?;
        if let Some(v) = input.auto_deploy {
            st.auto_deploy = Some(v);
        }
        if let Some(d) = input.deployment_id {
            self.db()
                .get::<DeploymentRecord>(&s.key("dep", &d))?
                .ok_or_else(|| not_found(format!("Invalid deployment identifier specified {d}")))?;
            st.deployment_id = Some(d);
        }
        if let Some(v) = input.description {
            st.description = Some(v);
        }
        if let Some(v) = input.stage_variables {
            st.stage_variables = Some(v);
        }
        if let Some(a) = input.access_log_settings {
            crate::access_log::validate(a.destination_arn.as_deref(), a.format.as_deref())?;
            st.access_log_settings = Some(a);
        }
        st.last_updated_date = Some(Timestamp(epoch_now().floor()));
        let mut b = self.db().batch();
        b.put(&s.key("stage", &input.stage_name), &st)?;
        self.db().commit(b)?;
        Ok(st)
    }

    fn create_deployment(
        &self,
        ctx: &RequestContext,
        input: t::CreateDeploymentRequest,
    ) -> Result<t::Deployment, AwsError> {
        let s = scope(ctx, &input.api_id);
        self.api(&s)?;
        let mut stage = match &input.stage_name {
            Some(n) => Some(self.stage(&s, n)?),
            None => None,
        };
        if stage
            .as_ref()
            .is_some_and(|st| st.auto_deploy == Some(true))
        {
            return Err(bad_request(
                "Stage is configured for auto-deploy; deployments are created automatically",
            ));
        }
        let rec = self.snapshot(&s, input.description, false)?;
        let mut b = self.db().batch();
        b.put(
            &s.key("dep", rec.deployment.deployment_id.as_deref().unwrap_or("")),
            &rec,
        )?;
        if let (Some(st), Some(name)) = (stage.as_mut(), &input.stage_name) {
            st.deployment_id = rec.deployment.deployment_id.clone();
            st.last_updated_date = Some(Timestamp(epoch_now().floor()));
            b.put(&s.key("stage", name), st)?;
        }
        self.db().commit(b)?;
        Ok(rec.deployment)
    }
}

impl Handler for HttpApis {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        use Op::*;
        matches!(
            Op::from_name(op),
            Some(
                CreateApi
                    | GetApi
                    | GetApis
                    | UpdateApi
                    | DeleteApi
                    | CreateRoute
                    | GetRoute
                    | GetRoutes
                    | DeleteRoute
                    | CreateIntegration
                    | GetIntegration
                    | GetIntegrations
                    | DeleteIntegration
                    | CreateStage
                    | GetStage
                    | GetStages
                    | UpdateStage
                    | DeleteStage
                    | CreateDeployment
                    | GetDeployments
                    | ImportApi
                    | ReimportApi
                    | ExportApi
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
                    "ApiGatewayV2",
                    op.name,
                ));
            };
            let is_write = !matches!(
                op,
                Op::GetApi
                    | Op::GetApis
                    | Op::GetRoute
                    | Op::GetRoutes
                    | Op::GetIntegration
                    | Op::GetIntegrations
                    | Op::GetStage
                    | Op::GetStages
                    | Op::GetDeployments
                    | Op::ExportApi
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

#[derive(Serialize)]
struct Items<T> {
    #[serde(rename = "Items")]
    items: Vec<T>,
}

impl HttpApis {
    fn dispatch(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        let api_id = input
            .value
            .get("ApiId")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let s = scope(ctx, &api_id);
        match op {
            Op::CreateApi => Output::from(&self.create_api(ctx, input.parse()?)?),
            Op::GetApi => Output::from(&self.api(&s)?),
            Op::GetApis => {
                let items: Vec<t::Api> =
                    self.db()
                        .list(&db::apis_prefix(V, &ctx.account_id, &ctx.region))?;
                Output::from(&Items { items })
            }
            Op::UpdateApi => Output::from(&self.update_api(ctx, input.parse()?)?),
            Op::DeleteApi => {
                self.delete_api(ctx, &api_id)?;
                Ok(Output::default())
            }
            Op::CreateRoute => Output::from(&self.create_route(ctx, input.parse()?)?),
            Op::GetRoute => {
                let i: t::GetRouteRequest = input.parse()?;
                self.api(&s)?;
                let r: t::Route =
                    self.db()
                        .get(&s.key("route", &i.route_id))?
                        .ok_or_else(|| {
                            not_found(format!("Invalid route identifier specified {}", i.route_id))
                        })?;
                Output::from(&r)
            }
            Op::GetRoutes => {
                self.api(&s)?;
                Output::from(&Items {
                    items: self.db().list::<t::Route>(&s.prefix("route"))?,
                })
            }
            Op::DeleteRoute => {
                let i: t::DeleteRouteRequest = input.parse()?;
                self.api(&s)?;
                self.db()
                    .get::<t::Route>(&s.key("route", &i.route_id))?
                    .ok_or_else(|| {
                        not_found(format!("Invalid route identifier specified {}", i.route_id))
                    })?;
                let mut b = self.db().batch();
                b.delete(s.key("route", &i.route_id).into_bytes());
                self.db().commit(b)?;
                Ok(Output::default())
            }
            Op::CreateIntegration => Output::from(&self.create_integration(ctx, input.parse()?)?),
            Op::GetIntegration => {
                let i: t::GetIntegrationRequest = input.parse()?;
                self.api(&s)?;
                let r: t::Integration = self
                    .db()
                    .get(&s.key("integ", &i.integration_id))?
                    .ok_or_else(|| {
                        not_found(format!(
                            "Invalid integration identifier specified {}",
                            i.integration_id
                        ))
                    })?;
                Output::from(&r)
            }
            Op::GetIntegrations => {
                self.api(&s)?;
                Output::from(&Items {
                    items: self.db().list::<t::Integration>(&s.prefix("integ"))?,
                })
            }
            Op::DeleteIntegration => {
                let id = input
                    .value
                    .get("IntegrationId")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                self.api(&s)?;
                self.db()
                    .get::<t::Integration>(&s.key("integ", &id))?
                    .ok_or_else(|| {
                        not_found(format!("Invalid integration identifier specified {id}"))
                    })?;
                let mut b = self.db().batch();
                b.delete(s.key("integ", &id).into_bytes());
                self.db().commit(b)?;
                Ok(Output::default())
            }
            Op::CreateStage => Output::from(&self.create_stage(ctx, input.parse()?)?),
            Op::GetStage => {
                let i: t::GetStageRequest = input.parse()?;
                Output::from(&self.stage(&s, &i.stage_name)?)
            }
            Op::GetStages => {
                self.api(&s)?;
                Output::from(&Items {
                    items: self.db().list::<t::Stage>(&s.prefix("stage"))?,
                })
            }
            Op::UpdateStage => Output::from(&self.update_stage(ctx, input.parse()?)?),
            Op::DeleteStage => {
                let i: t::DeleteStageRequest = input.parse()?;
                self.stage(&s, &i.stage_name)?;
                let mut b = self.db().batch();
                b.delete(s.key("stage", &i.stage_name).into_bytes());
                self.db().commit(b)?;
                Ok(Output::default())
            }
            Op::CreateDeployment => Output::from(&self.create_deployment(ctx, input.parse()?)?),
            Op::ImportApi => {
                let i: t::ImportApiRequest = input.parse()?;
                self.import_api(
                    ctx,
                    None,
                    &i.body,
                    i.basepath.as_deref(),
                    i.fail_on_warnings.unwrap_or(false),
                )
            }
            Op::ReimportApi => {
                let i: t::ReimportApiRequest = input.parse()?;
                self.import_api(
                    ctx,
                    Some(&i.api_id),
                    &i.body,
                    i.basepath.as_deref(),
                    i.fail_on_warnings.unwrap_or(false),
                )
            }
            Op::ExportApi => self.export_api(ctx, input.parse()?),
            Op::GetDeployments => {
                self.api(&s)?;
                let recs: Vec<DeploymentRecord> = self.db().list(&s.prefix("dep"))?;
                Output::from(&Items {
                    items: recs.into_iter().map(|r| r.deployment).collect::<Vec<_>>(),
                })
            }
            _ => Err(nimbus_protocol::not_implemented(
                nimbus_protocol::Wire::RestJson,
                "ApiGatewayV2",
                &format!("{op:?}"),
            )),
        }
    }
}

impl HttpApis {
    /// ImportApi (`existing` is None) and ReimportApi: the document's routes and
    /// integrations replace the API's.
    fn import_api(
        &self,
        ctx: &RequestContext,
        existing: Option<&str>,
        body: &str,
        basepath: Option<&str>,
        fail: bool,
    ) -> Result<Output, AwsError> {
        let (doc, flavor) = openapi::parse_document(body.as_bytes())?;
        let spec = openapi::http_spec(&doc, flavor)?;
        let mut warnings = spec.warnings.clone();
        if let Some(b) = basepath.filter(|b| *b != "ignore") {
            warnings.push(format!(
                "Basepath {b} is not supported by Nimbus and was ignored"
            ));
        }
        openapi::check_warnings(&warnings, fail)?;
        let mut api = match existing {
            Some(id) => {
                let s = scope(ctx, id);
                let mut api = self.api(&s)?;
                if let Some(n) = spec.name.clone().filter(|n| !n.is_empty()) {
                    api.name = Some(n);
                }
                api.description = spec.description.clone();
                api.version = spec.version.clone();
                api
            }
            None => self.create_api(
                ctx,
                t::CreateApiRequest {
                    name: spec
                        .name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .ok_or_else(openapi::invalid)?,
                    description: spec.description.clone(),
                    version: spec.version.clone(),
                    protocol_type: "HTTP".into(),
                    ..Default::default()
                },
            )?,
        };
        let id = api.api_id.clone().unwrap_or_default();
        let s = scope(ctx, &id);
        let mut b = self.db().batch();
        if existing.is_some() {
            for k in self.db().keys(&s.prefix("route"))? {
                b.delete(k);
            }
            for k in self.db().keys(&s.prefix("integ"))? {
                b.delete(k);
            }
        }
        let mut integ_ids = Vec::new();
        for i in &spec.integrations {
            let mut i = i.clone();
            let iid = ids::lower_alnum(7);
            i.integration_id = Some(iid.clone());
            b.put(&s.key("integ", &iid), &i)?;
            integ_ids.push(iid);
        }
        for (key, idx, op_name) in &spec.routes {
            let route = t::Route {
                api_key_required: Some(false),
                authorization_type: Some("NONE".into()),
                operation_name: op_name.clone(),
                route_id: Some(ids::lower_alnum(7)),
                route_key: Some(key.clone()),
                target: idx
                    .and_then(|i| integ_ids.get(i))
                    .map(|iid| format!("integrations/{iid}")),
                ..Default::default()
            };
            b.put(
                &s.key("route", route.route_id.as_deref().unwrap_or_default()),
                &route,
            )?;
        }
        b.put(&s.api_key(), &api)?;
        if let Err(e) = self.db().commit(b) {
            if existing.is_none() {
                let _ = self.delete_api(ctx, &id);
            }
            return Err(e);
        }
        if !warnings.is_empty() {
            api.warnings = Some(warnings);
        }
        Output::from(&api)
    }

    fn export_api(&self, ctx: &RequestContext, i: t::ExportApiRequest) -> Result<Output, AwsError> {
        let s = scope(ctx, &i.api_id);
        let api = self.api(&s)?;
        if i.specification != "OAS30" {
            return Err(bad_request(format!(
                "Invalid Specification {}. Valid values are: OAS30",
                i.specification
            )));
        }
        let yaml = match i.output_type.as_str() {
            "YAML" => true,
            "JSON" => false,
            other => {
                return Err(bad_request(format!(
                    "Invalid OutputType {other}. Valid values are: YAML, JSON"
                )))
            }
        };
        let mut routes: Vec<t::Route> = self.db().list(&s.prefix("route"))?;
        let mut integrations: Vec<t::Integration> = self.db().list(&s.prefix("integ"))?;
        let mut base = format!(
            "http://{}.execute-api.localhost:{}",
            i.api_id, self.inner.port
        );
        if let Some(name) = &i.stage_name {
            let st = self.stage(&s, name)?;
            if name != "$default" {
                base = format!("{base}/{name}");
            }
            if st.auto_deploy != Some(true) {
                if let Some(d) = &st.deployment_id {
                    if let Some(rec) = self.db().get::<DeploymentRecord>(&s.key("dep", d))? {
                        routes = rec.routes;
                        integrations = rec.integrations;
                    }
                }
            }
        }
        routes.sort_by(|a, b| a.route_key.cmp(&b.route_key));
        let doc = openapi::export_http(
            &api,
            &routes,
            &integrations,
            i.include_extensions.unwrap_or(true),
            &base,
        );
        let body = openapi::render(&doc, yaml)?;
        Ok(Output {
            value: serde_json::json!({}),
            payload: Some(bytes::Bytes::from(body)),
        })
    }
}
