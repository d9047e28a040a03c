//! Which service and operation a request is for, decided from what the request itself
//! says: `X-Amz-Target`, the SigV4 credential scope, an `Action=` parameter, or the path.

use http::request::Parts;
use nimbus_model::schema::{Protocol, Service};
use nimbus_model::services;
use nimbus_protocol::awsjson::split_target;

/// The SigV4 credential scope of a request, parsed without verifying anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// From `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`
    /// or a presigned URL's `X-Amz-Credential`.
    pub fn of(parts: &Parts) -> Option<Scope> {
        let credential = match parts.headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(auth) => auth
                .split([',', ' '])
                .find_map(|p| p.trim().strip_prefix("Credential="))
                .map(str::to_string)?,
            None => {
                let query = parts.uri.query()?;
                form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "X-Amz-Credential")
                    .map(|(_, v)| v.into_owned())?
            }
        };
        let mut it = credential.split('/');
        Some(Scope {
            access_key_id: it.next()?.to_string(),
            date: it.next()?.to_string(),
            region: it.next()?.to_string(),
            service: it.next()?.to_string(),
        })
    }
}

/// Where a request goes.
#[derive(Debug)]
pub enum Target {
    /// `GET /_nimbus/health`.
    Health,
    /// awsJson: a service found by its target prefix, and the operation name as sent.
    Json { service: &'static Service, op: String },
    /// awsJson with a target prefix no model has.
    UnknownTarget { target: String },
    /// awsQuery: `Action=` with the service from the scope (or the only one with it).
    Query { service: &'static Service },
    /// restJson: the service chosen by scope or path; routing happens at decode.
    RestJson { service: &'static Service },
    /// The Lambda Runtime API (`/2018-06-01/runtime/...`).
    RuntimeApi,
    /// An API Gateway invoke URL: `/restapis/{id}/{stage}/_user_request_/...` or a
    /// `{id}.execute-api.*` host.
    ExecuteApi,
    /// A Lambda function URL: a `{urlId}.lambda-url.{region}.*` host or the path form
    /// `/_nimbus/lambda-url/{urlId}/...`.
    LambdaUrl,
    /// Everything else is S3 (restXml).
    S3,
}

/// Query-protocol services in the order an unsigned request's `Action` is tried.
const QUERY_ORDER: &[&str] = &["sts", "sqs", "sns", "iam", "monitoring"];

/// Path prefixes of restJson services (by service id), for requests whose scope does
/// not say.
const REST_PREFIXES: &[(&str, &str)] = &[
    ("/2015-03-31/", "Lambda"),
    ("/2016-08-19/", "Lambda"),
    ("/2017-03-31/", "Lambda"),
    ("/2017-10-31/", "Lambda"),
    ("/2018-10-31/", "Lambda"),
    ("/2019-09-25/", "Lambda"),
    ("/2019-09-30/", "Lambda"),
    ("/2020-04-22/", "Lambda"),
    ("/2020-06-30/", "Lambda"),
    ("/2021-10-31/", "Lambda"),
    ("/2021-11-15/", "Lambda"),
    ("/2022-07-20/", "Lambda"),
    ("/v2/", "ApiGatewayV2"),
    ("/restapis", "API Gateway"),
    ("/apikeys", "API Gateway"),
    ("/usageplans", "API Gateway"),
    ("/domainnames", "API Gateway"),
    ("/clientcertificates", "API Gateway"),
    ("/account", "API Gateway"),
    ("/vpclinks", "API Gateway"),
    ("/sdktypes", "API Gateway"),
    ("/schedules", "Scheduler"),
    ("/schedule-groups", "Scheduler"),
];

fn host_of(parts: &Parts) -> String {
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
        .unwrap_or("");
    host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase()
}

/// `{apiId}.execute-api.localhost`, `{apiId}.execute-api.localhost.localstack.cloud`,
/// `{apiId}.execute-api.{region}.amazonaws.com`.
pub fn host_is_execute_api(parts: &Parts) -> bool {
    host_of(parts).split('.').nth(1) == Some("execute-api")
}

/// `{urlId}.lambda-url.{region}.on.aws`, `{urlId}.lambda-url.{region}.localhost.localstack.cloud`,
/// or the path form `/_nimbus/lambda-url/{urlId}/...` for clients that cannot set Host.
pub fn is_lambda_url(parts: &Parts) -> bool {
    parts.uri.path().starts_with("/_nimbus/lambda-url/") || host_of(parts).split('.').nth(1) == Some("lambda-url")
}

/// `/restapis/{apiId}/{stage}/_user_request_/...`.
pub fn is_user_request_path(path: &str) -> bool {
    let mut it = path.trim_start_matches('/').split('/');
    it.next() == Some("restapis") && it.nth(2) == Some("_user_request_")
}

/// Virtual-hosted-style S3: `bucket.s3.localhost:4566`, `bucket.s3.us-east-1.amazonaws.com`,
/// `s3.localhost.localstack.cloud`.
fn host_is_s3(parts: &Parts) -> bool {
    let host = host_of(parts);
    host.starts_with("s3.") || host.contains(".s3.") || host.contains(".s3-")
}

fn by_prefix(name: &str) -> Option<&'static Service> {
    services::ALL.iter().copied().find(|s| s.endpoint_prefix == name)
}

fn by_id(id: &str) -> Option<&'static Service> {
    services::ALL.iter().copied().find(|s| s.service_id == id)
}

fn speaks(service: &Service, p: Protocol) -> bool {
    service.protocol == p || service.protocols.contains(&p)
}

/// Classifies a request. `form` is the body when it is form-encoded, so an `Action=`
/// inside it can be seen.
pub fn classify(parts: &Parts, form_action: Option<&str>, scope: Option<&Scope>) -> Target {
    let path = parts.uri.path();
    if path == "/_nimbus/health" {
        return Target::Health;
    }
    // Before X-Amz-Target: a URL carries the user's own request, whatever its headers.
    if is_lambda_url(parts) {
        return Target::LambdaUrl;
    }
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let Some((prefix, op)) = split_target(target) else {
            return Target::UnknownTarget { target: target.to_string() };
        };
        return match services::ALL.iter().copied().find(|s| s.target_prefix == Some(prefix)) {
            Some(service) => Target::Json { service, op: op.to_string() },
            None => Target::UnknownTarget { target: target.to_string() },
        };
    }
    if path.starts_with("/2018-06-01/runtime/") {
        return Target::RuntimeApi;
    }
    if host_is_execute_api(parts) || is_user_request_path(path) {
        return Target::ExecuteApi;
    }
    if host_is_s3(parts) {
        return Target::S3;
    }
    let scoped = scope.map(|s| s.service.as_str());
    if let Some(action) = form_action {
        let by_scope = scoped.and_then(|name| {
            services::ALL
                .iter()
                .copied()
                .find(|s| (s.signing_name == name || s.endpoint_prefix == name) && speaks(s, Protocol::Query))
        });
        if let Some(service) = by_scope {
            return Target::Query { service };
        }
        if scoped.is_none() || scoped.is_some_and(|s| s != "s3") {
            let found = QUERY_ORDER
                .iter()
                .filter_map(|p| by_prefix(p))
                .find(|s| s.operation(action).is_some())
                .or_else(|| by_prefix("sts"));
            if let Some(service) = found {
                return Target::Query { service };
            }
        }
    }
    match scoped {
        Some("s3") => return Target::S3,
        Some("apigateway") => {
            let id = if path.starts_with("/v2/") { "ApiGatewayV2" } else { "API Gateway" };
            if let Some(service) = by_id(id) {
                return Target::RestJson { service };
            }
        }
        Some(name) => {
            if let Some(service) = services::ALL
                .iter()
                .copied()
                .find(|s| (s.signing_name == name || s.endpoint_prefix == name) && s.protocol == Protocol::RestJson)
            {
                return Target::RestJson { service };
            }
        }
        None => {}
    }
    for (prefix, id) in REST_PREFIXES {
        if path.starts_with(prefix) || path == prefix.trim_end_matches('/') {
            if let Some(service) = by_id(id) {
                return Target::RestJson { service };
            }
        }
    }
    Target::S3
}
