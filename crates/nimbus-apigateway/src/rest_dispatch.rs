//! The REST API control plane's operation table: which operations are served and
//! how each request reaches its handler method.

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::apigateway::{Op, SERVICE};
use nimbus_model::types::apigateway as t;
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_types::{AwsError, RequestContext};

use crate::db;
use crate::rest::*;
use crate::rest_patch;
use crate::{bad_request, not_found};

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
                    | UpdateIntegration
                    | UpdateIntegrationResponse
                    | UpdateMethodResponse
                    | DeleteIntegrationResponse
                    | DeleteMethodResponse
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
            Op::UpdateIntegration => {
                let i: t::UpdateIntegrationRequest = input.parse()?;
                let ops = i.patch_operations.unwrap_or_default();
                Output::from(&self.with_method(ctx, &i.rest_api_id, &i.resource_id, &i.http_method, |m| {
                    let cur = m.method_integration.as_ref().ok_or_else(invalid_integration)?;
                    let next = rest_patch::apply(cur, &ops, rest_patch::integration_field)?;
                    if let Some(p) = next.passthrough_behavior.as_deref() {
                        if !matches!(p, "WHEN_NO_MATCH" | "WHEN_NO_TEMPLATES" | "NEVER") {
                            return Err(bad_request(format!(
                                "Invalid passthrough behavior specified: {p}. Valid values are: WHEN_NO_MATCH, WHEN_NO_TEMPLATES, NEVER"
                            )));
                        }
                    }
                    m.method_integration = Some(next.clone());
                    Ok(next)
                })?)
            }
            Op::UpdateIntegrationResponse => {
                let i: t::UpdateIntegrationResponseRequest = input.parse()?;
                let ops = i.patch_operations.unwrap_or_default();
                Output::from(&self.with_method(
                    ctx,
                    &i.rest_api_id,
                    &i.resource_id,
                    &i.http_method,
                    |m| {
                        let integ = m
                            .method_integration
                            .as_mut()
                            .ok_or_else(invalid_integration)?;
                        let cur = integ
                            .integration_responses
                            .as_mut()
                            .and_then(|r| r.get_mut(&i.status_code))
                            .ok_or_else(|| not_found("Invalid Response status code specified"))?;
                        *cur =
                            rest_patch::apply(cur, &ops, rest_patch::integration_response_field)?;
                        Ok(cur.clone())
                    },
                )?)
            }
            Op::UpdateMethodResponse => {
                let i: t::UpdateMethodResponseRequest = input.parse()?;
                let ops = i.patch_operations.unwrap_or_default();
                Output::from(&self.with_method(
                    ctx,
                    &i.rest_api_id,
                    &i.resource_id,
                    &i.http_method,
                    |m| {
                        let cur = m
                            .method_responses
                            .as_mut()
                            .and_then(|r| r.get_mut(&i.status_code))
                            .ok_or_else(|| not_found("Invalid Response status code specified"))?;
                        *cur = rest_patch::apply(cur, &ops, rest_patch::method_response_field)?;
                        Ok(cur.clone())
                    },
                )?)
            }
            Op::DeleteIntegrationResponse => {
                let i: t::DeleteIntegrationResponseRequest = input.parse()?;
                self.with_method(ctx, &i.rest_api_id, &i.resource_id, &i.http_method, |m| {
                    m.method_integration
                        .as_mut()
                        .and_then(|x| x.integration_responses.as_mut())
                        .and_then(|r| r.remove(&i.status_code))
                        .map(|_| ())
                        .ok_or_else(|| not_found("Invalid Response status code specified"))
                })?;
                Ok(Output::default())
            }
            Op::DeleteMethodResponse => {
                let i: t::DeleteMethodResponseRequest = input.parse()?;
                self.with_method(ctx, &i.rest_api_id, &i.resource_id, &i.http_method, |m| {
                    m.method_responses
                        .as_mut()
                        .and_then(|r| r.remove(&i.status_code))
                        .map(|_| ())
                        .ok_or_else(|| not_found("Invalid Response status code specified"))
                })?;
                Ok(Output::default())
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
