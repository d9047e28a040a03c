//! Lambda function URLs, control plane: `CreateFunctionUrlConfig`,
//! `GetFunctionUrlConfig`, `UpdateFunctionUrlConfig`, `DeleteFunctionUrlConfig`,
//! `ListFunctionUrlConfigs`, and the storage of URL configurations.
//!
//! A URL belongs to the unqualified function (`$LATEST`) or to one alias, never to a
//! version (the `Qualifier` pattern refuses `$LATEST` and numbers, as AWS). Each has a
//! 32-character id; `FunctionUrl` is AWS's form `https://<id>.lambda-url.<region>.on.aws/`,
//! and Nimbus serves it on its own port by Host (`<id>.lambda-url.<region>.*`) or by path
//! (`/_nimbus/lambda-url/<id>/...`): see the `url_endpoint` module.
//!
//! `InvokeMode: RESPONSE_STREAM` is refused: Nimbus buffers every response.

use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_protocol::{Input, Output};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::model::function_arn;
use crate::{invalid, parse_name, store_err, Inner};

/// URL configurations, keyed `<account>/<region>/<function>/<qualifier or $LATEST>`.
pub const URLS: &str = "lambda.urls";
/// URL id → the configuration's key in [`URLS`].
pub const URL_IDS: &str = "lambda.url_ids";

/// A function URL configuration as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UrlRecord {
    pub url_id: String,
    pub account: String,
    pub region: String,
    pub function: String,
    /// The alias, or `None` for the unqualified function.
    pub qualifier: Option<String>,
    pub auth_type: String,
    pub cors: Option<t::Cors>,
    pub invoke_mode: String,
    pub creation_time: String,
    pub last_modified_time: String,
}

impl UrlRecord {
    pub fn key(&self) -> String {
        url_key(&self.account, &self.region, &self.function, self.qualifier.as_deref())
    }

    pub fn function_arn(&self) -> String {
        let arn = function_arn(&self.region, &self.account, &self.function);
        match &self.qualifier {
            Some(q) => format!("{arn}:{q}"),
            None => arn,
        }
    }

    /// AWS's form of the URL (what `FunctionUrl` answers).
    pub fn url(&self) -> String {
        format!("https://{}.lambda-url.{}.on.aws/", self.url_id, self.region)
    }

    fn config(&self) -> t::FunctionUrlConfig {
        t::FunctionUrlConfig {
            function_url: Some(self.url()),
            function_arn: Some(self.function_arn()),
            creation_time: Some(self.creation_time.clone()),
            last_modified_time: Some(self.last_modified_time.clone()),
            cors: self.cors.clone(),
            auth_type: Some(self.auth_type.clone()),
            invoke_mode: Some(self.invoke_mode.clone()),
        }
    }
}

fn url_key(account: &str, region: &str, function: &str, qualifier: Option<&str>) -> String {
    format!("{account}/{region}/{function}/{}", qualifier.unwrap_or("$LATEST"))
}

/// Timestamps as Lambda writes them for URL configurations (microseconds, `Z`).
fn url_time() -> String {
    let now = nimbus_types::epoch_now();
    let iso = nimbus_types::format_iso8601(now.floor());
    let micros = ((now - now.floor()) * 1_000_000.0) as u64;
    format!("{}.{micros:06}Z", iso.trim_end_matches('Z'))
}

fn not_exist() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "The resource you requested does not exist.")
}

fn function_not_exist() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "Function does not exist")
}

fn check_len_list(field: &str, list: &Option<Vec<String>>, max_items: usize, min_len: usize, max_len: usize) -> Result<(), AwsError> {
    let Some(list) = list else { return Ok(()) };
    let shown = format!("[{}]", list.join(", "));
    if list.len() > max_items {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max_items}"
        )));
    }
    for v in list {
        if v.len() > max_len {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to {max_len}, Member must have length greater than or equal to {min_len}]"
            )));
        }
        if v.len() < min_len {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: Member must satisfy constraint: [Member must have length greater than or equal to {min_len}, Member must have length less than or equal to {max_len}]"
            )));
        }
    }
    Ok(())
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"];

fn check_cors(cors: &Option<t::Cors>) -> Result<(), AwsError> {
    let Some(c) = cors else { return Ok(()) };
    check_len_list("cors.allowHeaders", &c.allow_headers, 100, 0, 1024)?;
    check_len_list("cors.allowMethods", &c.allow_methods, 6, 0, 6)?;
    check_len_list("cors.allowOrigins", &c.allow_origins, 100, 1, 253)?;
    check_len_list("cors.exposeHeaders", &c.expose_headers, 100, 0, 1024)?;
    if let Some(age) = c.max_age {
        crate::check_range(age, 0, 86400, "cors.maxAge")?;
    }
    for m in c.allow_methods.iter().flatten() {
        if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
            return Err(invalid(format!(
                "{m} is not a valid HTTP method. Valid methods are GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or *."
            )));
        }
    }
    Ok(())
}

fn check_auth_type(a: &str) -> Result<(), AwsError> {
    if a == "NONE" || a == "AWS_IAM" {
        return Ok(());
    }
    Err(AwsError::validation(format!(
        "1 validation error detected: Value '{a}' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_IAM, NONE]"
    )))
}

fn check_invoke_mode(m: Option<&str>) -> Result<String, AwsError> {
    match m {
        None | Some("BUFFERED") => Ok("BUFFERED".into()),
        // Nimbus has no streamed responses: refuse rather than buffer silently.
        Some("RESPONSE_STREAM") => Err(invalid(
            "InvokeMode RESPONSE_STREAM is not supported by Nimbus: function URL responses are buffered. Use InvokeMode BUFFERED.",
        )),
        Some(other) => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"
        ))),
    }
}

/// (region, account, function, alias) of a URL request; `Qualifier` (or the name's own
/// qualifier) must be an alias name.
fn target(ctx: &RequestContext, function_name: &str, qualifier: Option<&str>) -> Result<(String, String, String, Option<String>), AwsError> {
    let (region, account, name, q) = parse_name(ctx, function_name)?;
    let q = qualifier.map(str::to_string).or(q);
    if let Some(q) = &q {
        if crate::versions::is_version(q) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (^\\$LATEST$)|((?!^[0-9]+$)([a-zA-Z0-9-_]+))"
            )));
        }
        if q.is_empty() || q.len() > 128 || !q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
            )));
        }
    }
    Ok((region, account, name, q))
}

pub fn implements(op: Op) -> bool {
    matches!(
        op,
        Op::CreateFunctionUrlConfig | Op::GetFunctionUrlConfig | Op::UpdateFunctionUrlConfig | Op::DeleteFunctionUrlConfig | Op::ListFunctionUrlConfigs
    )
}

impl Inner {
    pub(crate) fn load_url(&self, key: &str) -> Result<Option<UrlRecord>, AwsError> {
        match self.store.get(URLS, key.as_bytes()).map_err(store_err)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt function URL record: {e}"))),
        }
    }

    /// The configuration served under `url_id`, if any.
    pub(crate) fn url_by_id(&self, url_id: &str) -> Result<Option<UrlRecord>, AwsError> {
        let Some(key) = self.store.get(URL_IDS, url_id.as_bytes()).map_err(store_err)? else { return Ok(None) };
        self.load_url(&String::from_utf8_lossy(&key))
    }

    fn save_url(&self, u: &UrlRecord) -> Result<(), AwsError> {
        let v = serde_json::to_vec(u).map_err(|e| AwsError::internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(URLS, u.key(), v);
        batch.put(URL_IDS, u.url_id.clone(), u.key().into_bytes());
        self.store.write(batch).map_err(store_err)
    }

    /// Deletes the URL of `qualifier` (an alias), or every URL of the function when `None`
    /// (the function itself is gone).
    pub(crate) fn delete_urls(&self, account: &str, region: &str, function: &str, qualifier: Option<&str>) -> Result<(), AwsError> {
        let found: Vec<UrlRecord> = match qualifier {
            Some(q) => self.load_url(&url_key(account, region, function, Some(q)))?.into_iter().collect(),
            None => {
                let prefix = format!("{account}/{region}/{function}/");
                let mut out = Vec::new();
                for kv in self.store.prefix(URLS, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
                    let (_, v) = kv.map_err(store_err)?;
                    if let Ok(u) = serde_json::from_slice::<UrlRecord>(&v) {
                        out.push(u);
                    }
                }
                out
            }
        };
        if found.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for u in &found {
            batch.delete(URLS, u.key());
            batch.delete(URL_IDS, u.url_id.clone());
        }
        self.store.write(batch).map_err(store_err)
    }

    pub(crate) async fn url_call(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::CreateFunctionUrlConfig => {
                let i: t::CreateFunctionUrlConfigRequest = input.parse()?;
                let c = self.create_url(ctx, i).await?.config();
                Output::from(&t::CreateFunctionUrlConfigResponse {
                    function_url: c.function_url,
                    function_arn: c.function_arn,
                    auth_type: c.auth_type,
                    cors: c.cors,
                    creation_time: c.creation_time,
                    invoke_mode: c.invoke_mode,
                })
            }
            Op::GetFunctionUrlConfig => {
                let i: t::GetFunctionUrlConfigRequest = input.parse()?;
                let (region, account, name, q) = target(ctx, &i.function_name, i.qualifier.as_deref())?;
                if self.load(&account, &region, &name)?.is_none() {
                    return Err(not_exist());
                }
                let u = self.load_url(&url_key(&account, &region, &name, q.as_deref()))?.ok_or_else(not_exist)?;
                Output::from(&u.config())
            }
            Op::UpdateFunctionUrlConfig => {
                let i: t::UpdateFunctionUrlConfigRequest = input.parse()?;
                Output::from(&self.update_url(ctx, i).await?.config())
            }
            Op::DeleteFunctionUrlConfig => {
                let i: t::DeleteFunctionUrlConfigRequest = input.parse()?;
                let _guard = self.write_lock.lock().await;
                let (region, account, name, q) = target(ctx, &i.function_name, i.qualifier.as_deref())?;
                if self.load(&account, &region, &name)?.is_none() {
                    return Err(not_exist());
                }
                let key = url_key(&account, &region, &name, q.as_deref());
                if self.load_url(&key)?.is_none() {
                    return Err(not_exist());
                }
                match q {
                    Some(q) => self.delete_urls(&account, &region, &name, Some(&q))?,
                    None => self.delete_urls(&account, &region, &name, Some("$LATEST"))?,
                }
                Ok(Output::default())
            }
            Op::ListFunctionUrlConfigs => {
                let i: t::ListFunctionUrlConfigsRequest = input.parse()?;
                self.list_urls(ctx, i)
            }
            _ => Err(AwsError::internal("not a function URL operation")),
        }
    }

    async fn create_url(&self, ctx: &RequestContext, i: t::CreateFunctionUrlConfigRequest) -> Result<UrlRecord, AwsError> {
        let _guard = self.write_lock.lock().await;
        let (region, account, name, q) = target(ctx, &i.function_name, i.qualifier.as_deref())?;
        check_auth_type(&i.auth_type)?;
        let invoke_mode = check_invoke_mode(i.invoke_mode.as_deref())?;
        check_cors(&i.cors)?;
        if self.load(&account, &region, &name)?.is_none() {
            return Err(function_not_exist());
        }
        if let Some(existing) = self.load_url(&url_key(&account, &region, &name, q.as_deref()))? {
            return Err(AwsError::new(
                409,
                "ResourceConflictException",
                format!(
                    "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                    existing.function_arn()
                ),
            ));
        }
        if let Some(alias) = &q {
            if self.load_alias(&account, &region, &name, alias)?.is_none() {
                return Err(function_not_exist());
            }
        }
        let now = url_time();
        let u = UrlRecord {
            url_id: uuid::Uuid::new_v4().simple().to_string(),
            account,
            region,
            function: name,
            qualifier: q,
            auth_type: i.auth_type,
            cors: i.cors,
            invoke_mode,
            creation_time: now.clone(),
            last_modified_time: now,
        };
        self.save_url(&u)?;
        Ok(u)
    }

    async fn update_url(&self, ctx: &RequestContext, i: t::UpdateFunctionUrlConfigRequest) -> Result<UrlRecord, AwsError> {
        let _guard = self.write_lock.lock().await;
        let (region, account, name, q) = target(ctx, &i.function_name, i.qualifier.as_deref())?;
        if let Some(a) = &i.auth_type {
            check_auth_type(a)?;
        }
        let invoke_mode = i.invoke_mode.as_deref().map(|m| check_invoke_mode(Some(m))).transpose()?;
        check_cors(&i.cors)?;
        if self.load(&account, &region, &name)?.is_none() {
            return Err(function_not_exist());
        }
        if let Some(alias) = &q {
            if self.load_alias(&account, &region, &name, alias)?.is_none() {
                return Err(function_not_exist());
            }
        }
        let mut u = self.load_url(&url_key(&account, &region, &name, q.as_deref()))?.ok_or_else(not_exist)?;
        if let Some(a) = i.auth_type {
            u.auth_type = a;
        }
        if let Some(c) = i.cors {
            u.cors = Some(c);
        }
        if let Some(m) = invoke_mode {
            u.invoke_mode = m;
        }
        u.last_modified_time = url_time();
        self.save_url(&u)?;
        Ok(u)
    }

    fn list_urls(&self, ctx: &RequestContext, i: t::ListFunctionUrlConfigsRequest) -> Result<Output, AwsError> {
        let (region, account, name, _) = parse_name(ctx, &i.function_name)?;
        if let Some(m) = i.max_items {
            crate::check_range(m, 1, 50, "maxItems")?;
        }
        if self.load(&account, &region, &name)?.is_none() {
            return Err(function_not_exist());
        }
        let prefix = format!("{account}/{region}/{name}/");
        let mut all = Vec::new();
        for kv in self.store.prefix(URLS, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(u) = serde_json::from_slice::<UrlRecord>(&v) {
                all.push(u);
            }
        }
        // The marker is the ARN of the last configuration of the previous page.
        all.sort_by_key(UrlRecord::function_arn);
        let start = match &i.marker {
            Some(m) => all.iter().position(|u| u.function_arn() > *m).unwrap_or(all.len()),
            None => 0,
        };
        let max = i.max_items.unwrap_or(50) as usize;
        let page: Vec<&UrlRecord> = all.iter().skip(start).take(max).collect();
        let next = (start + page.len() < all.len()).then(|| page.last().map(|u| u.function_arn())).flatten();
        Output::from(&t::ListFunctionUrlConfigsResponse {
            function_url_configs: Some(page.iter().map(|u| u.config()).collect()),
            next_marker: next,
        })
    }
}
