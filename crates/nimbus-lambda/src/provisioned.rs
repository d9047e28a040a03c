//! Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfigs (keyspace
//! `lambda.provisioned`, one row per configuration keyed `<account>/<region>/<name>/<qualifier>`)
//! and the keeper that holds the environments ready.
//!
//! A configuration names a published version or an alias (never `$LATEST`, as AWS). The
//! keeper ([`keep`]) starts that version's environments ahead of any invocation, with
//! `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency` and a full init (never forked
//! from a snapshot), waits until each has finished init and hands it to the pool, which
//! keeps it out of idle reaping and gives it to invocations of that version before any
//! on-demand environment; their REPORT lines carry no Init Duration (init ran before).
//! Environments that die or age out are replaced; an alias that moves takes its
//! environments along. Status is `IN_PROGRESS` until every requested environment is up,
//! then `READY`; an init failure makes it `FAILED` with `StatusReason`
//! `FUNCTION_ERROR_INIT_FAILURE` (the error goes to the server log; retried on the next Put).
//!
//! Limits as AWS: the configurations of a function with reserved concurrency fit in it;
//! otherwise they come out of the account's unreserved concurrency, which must stay at
//! 100 or more (`GetAccountSettings` reports it reduced by them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use nimbus_model::types::lambda as t;
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::model::{FunctionRecord, PROVISIONED};
use crate::versions::{function_prefix, is_version};
use crate::{check_range, invalid, last_modified, not_found, parse_name, store_err, Inner, B64};

/// AWS keeps the account's unreserved concurrency at 100 or more.
const MIN_UNRESERVED: i64 = 100;
/// Init of a provisioned environment, as AWS's init phase (10 s; not billed to an invocation).
const INIT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    account: String,
    region: String,
    function: String,
    qualifier: String,
    requested: i32,
    last_modified: String,
}

#[derive(Debug, Clone, Default)]
struct State {
    allocated: usize,
    failed: Option<String>,
}

/// What each configuration has allocated, and the keeper's wake-up.
#[derive(Default)]
pub struct Keeper {
    states: Mutex<HashMap<String, State>>,
    wake: tokio::sync::Notify,
}

impl Keeper {
    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the keeper now (a configuration or an alias changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Drops the state of a deleted configuration (row key).
    pub fn forget(&self, key: &str) {
        self.states().remove(key);
    }

    fn state(&self, key: &str) -> State {
        self.states().get(key).cloned().unwrap_or_default()
    }
}

fn not_found_config() -> AwsError {
    AwsError::new(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
}

fn not_published() -> AwsError {
    invalid("The function resource provided must be an alias or a published version.")
}

/// Keeps every configuration's environments up; runs for the server's lifetime.
pub async fn keep(inner: Arc<Inner>) {
    loop {
        let configs = inner.all_provisioned("").unwrap_or_else(|e| {
            tracing::warn!("lambda: cannot read provisioned concurrency configurations: {}", e.message);
            Vec::new()
        });
        for (key, config) in configs {
            inner.keep_one(&key, &config).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), inner.provisioned.wake.notified()).await;
    }
}

impl Inner {
    fn all_provisioned(&self, prefix: &str) -> Result<Vec<(String, Config)>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(PROVISIONED, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
            let (k, v) = kv.map_err(store_err)?;
            if let (Ok(k), Ok(c)) = (String::from_utf8(k.to_vec()), serde_json::from_slice::<Config>(&v)) {
                out.push((k, c));
            }
        }
        Ok(out)
    }

    /// The version a configuration keeps environments of (`None`: gone or `$LATEST`).
    fn provisioned_target(&self, c: &Config) -> Result<Option<FunctionRecord>, AwsError> {
        let version = if is_version(&c.qualifier) {
            c.qualifier.clone()
        } else {
            match self.load_alias(&c.account, &c.region, &c.function, &c.qualifier)? {
                Some(a) if is_version(&a.function_version) => a.function_version,
                _ => return Ok(None),
            }
        };
        self.load_version(&c.account, &c.region, &c.function, &version)
    }

    /// Brings one configuration to its requested environments.
    async fn keep_one(&self, key: &str, c: &Config) {
        let fn_key = FunctionRecord::key(&c.account, &c.region, &c.function);
        let target = match self.provisioned_target(c) {
            Ok(Some(t)) => t,
            _ => {
                self.pools.remove_provisioned(&fn_key, &c.qualifier);
                return;
            }
        };
        let fp = Self::fingerprint(&target);
        let want = c.requested.max(0) as usize;
        let mut alive = self.pools.provisioned_alive(&fn_key, &c.qualifier, &fp);
        if alive > want {
            self.pools.trim_provisioned(&fn_key, &c.qualifier, want);
            alive = self.pools.provisioned_alive(&fn_key, &c.qualifier, &fp);
        }
        self.provisioned.states().entry(key.to_string()).or_default().allocated = alive.min(want);
        while alive < want {
            if self.provisioned.state(key).failed.is_some() {
                return;
            }
            // Deleted or changed meanwhile: the next round sees the new configuration.
            match self.store.get(PROVISIONED, key.as_bytes()) {
                Ok(Some(v)) if serde_json::from_slice::<Config>(&v).is_ok_and(|now| now.requested == c.requested) => {}
                _ => return,
            }
            let failed = match self.spawn_env_as(&target, fp.clone(), "provisioned-concurrency").await {
                Ok(Ok(env)) => match env.wait_initialised(INIT_LIMIT).await {
                    Ok(()) => {
                        env.skip_init_report();
                        self.pools.add_provisioned(&fn_key, &c.qualifier, &fp, env);
                        alive = self.pools.provisioned_alive(&fn_key, &c.qualifier, &fp);
                        None
                    }
                    Err(why) => {
                        env.kill();
                        Some(why)
                    }
                },
                Ok(Err(body)) => Some(String::from_utf8_lossy(&body).into_owned()),
                Err(e) => Some(e.message),
            };
            let mut states = self.provisioned.states();
            let st = states.entry(key.to_string()).or_default();
            st.allocated = alive.min(want);
            if let Some(why) = failed {
                tracing::warn!(function = %c.function, qualifier = %c.qualifier, "provisioned concurrency failed: {why}");
                // AWS's StatusReason is the bare code (the error itself is in the logs):
                // CloudFormation quotes it as "Reason: FUNCTION_ERROR_INIT_FAILURE".
                st.failed = Some("FUNCTION_ERROR_INIT_FAILURE".into());
                return;
            }
        }
    }

    /// Provisioned concurrency of functions without reserved concurrency in `account`:
    /// it comes out of the account's unreserved concurrency.
    pub(crate) fn provisioned_unreserved(&self, account: &str) -> Result<i64, AwsError> {
        self.provisioned_sum(account, |_, _| true)
    }

    /// PutFunctionConcurrency of `reserved` on `f`: its provisioned concurrency must fit
    /// in it. Answers the provisioned concurrency of the account's other functions without
    /// reserved concurrency (it, too, keeps the unreserved pool from its minimum).
    pub(crate) fn check_reserved_covers_provisioned(&self, f: &FunctionRecord, reserved: i32) -> Result<i64, AwsError> {
        let own: i64 = self.all_provisioned(&function_prefix(&f.account, &f.region, &f.name))?.iter().map(|(_, c)| i64::from(c.requested)).sum();
        if own > i64::from(reserved) {
            return Err(invalid("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"));
        }
        let prefix = function_prefix(&f.account, &f.region, &f.name);
        self.provisioned_sum(&f.account, |k, _| !k.starts_with(&prefix))
    }

    fn provisioned_sum(&self, account: &str, include: impl Fn(&str, &Config) -> bool) -> Result<i64, AwsError> {
        let mut sum = 0i64;
        let mut reserved: HashMap<(String, String), bool> = HashMap::new();
        for (key, c) in self.all_provisioned(&format!("{account}/"))? {
            if !include(&key, &c) {
                continue;
            }
            let has_reserved = match reserved.get(&(c.region.clone(), c.function.clone())) {
                Some(r) => *r,
                None => {
                    let r = self.load(&c.account, &c.region, &c.function)?.is_some_and(|f| f.reserved_concurrency.is_some());
                    reserved.insert((c.region.clone(), c.function.clone()), r);
                    r
                }
            };
            if !has_reserved {
                sum += i64::from(c.requested);
            }
        }
        Ok(sum)
    }

    /// The function and its checked qualifier (an existing version or alias).
    fn provisioned_subject(&self, ctx: &RequestContext, function_name: &str, qualifier: &str) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, _) = parse_name(ctx, function_name)?;
        // A missing function is reported as its missing alias or version would be (recorded
        // from AWS: localstack's test_lambda_api.snapshot.json, test_provisioned_concurrency_exceptions).
        let Some(latest) = self.load(&account, &region, &name)? else {
            if is_version(qualifier) {
                return Err(not_found(&region, &account, &name, Some(qualifier)));
            }
            return Err(AwsError::new(
                404,
                "ResourceNotFoundException",
                format!("Cannot find alias arn: {}:{qualifier}", crate::model::function_arn(&region, &account, &name)),
            ));
        };
        if is_version(qualifier) {
            if self.load_version(&account, &region, &name, qualifier)?.is_none() {
                return Err(not_found(&region, &account, &name, Some(qualifier)));
            }
        } else if self.load_alias(&account, &region, &name, qualifier)?.is_none() {
            return Err(AwsError::new(404, "ResourceNotFoundException", format!("Cannot find alias arn: {}:{qualifier}", latest.arn())));
        }
        Ok(latest)
    }

    fn provisioned_view(&self, key: &str, c: &Config) -> (i32, String, Option<String>) {
        let st = self.provisioned.state(key);
        // Environments that died since the keeper's last round no longer count.
        let live = self.pools.provisioned_live(&FunctionRecord::key(&c.account, &c.region, &c.function), &c.qualifier);
        let allocated = st.allocated.min(live).min(c.requested.max(0) as usize) as i32;
        let status = match (&st.failed, allocated >= c.requested) {
            (Some(_), _) => "FAILED",
            (None, true) => "READY",
            (None, false) => "IN_PROGRESS",
        };
        (allocated, status.into(), st.failed)
    }

    pub(crate) async fn put_provisioned(&self, ctx: &RequestContext, input: t::PutProvisionedConcurrencyConfigRequest) -> Result<t::PutProvisionedConcurrencyConfigResponse, AwsError> {
        check_range(input.provisioned_concurrent_executions, 1, i32::MAX, "provisionedConcurrentExecutions")?;
        if input.qualifier == "$LATEST" {
            return Err(invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions."));
        }
        let requested = input.provisioned_concurrent_executions;
        let _guard = self.write_lock.lock().await;
        let latest = self.provisioned_subject(ctx, &input.function_name, &input.qualifier)?;
        let (account, region, name) = (latest.account.clone(), latest.region.clone(), latest.name.clone());
        let prefix = function_prefix(&account, &region, &name);
        let key = format!("{prefix}{}", input.qualifier);
        let others: Vec<(String, Config)> = self.all_provisioned(&prefix)?.into_iter().filter(|(k, _)| *k != key).collect();
        let aliases = self.all_aliases(&account, &region, &name)?;
        if is_version(&input.qualifier) {
            if aliases.iter().any(|a| a.function_version == input.qualifier && others.iter().any(|(_, c)| c.qualifier == a.name)) {
                return Err(AwsError::new(409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias"));
            }
        } else {
            let target = aliases.iter().find(|a| a.name == input.qualifier).map(|a| a.function_version.clone()).unwrap_or_default();
            if !is_version(&target) {
                return Err(invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions."));
            }
            if others.iter().any(|(_, c)| c.qualifier == target) {
                return Err(AwsError::new(
                    409,
                    "ResourceConflictException",
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
                ));
            }
        }
        let others_sum: i64 = others.iter().map(|(_, c)| i64::from(c.requested)).sum();
        match latest.reserved_concurrency {
            Some(r) if others_sum + i64::from(requested) > i64::from(r) => {
                return Err(invalid("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"));
            }
            Some(_) => {}
            None => {
                let reserved = self.total_reserved(&account, None)?;
                let provisioned = self.provisioned_sum(&account, |k, _| k != key)?;
                let unreserved = i64::from(self.config.account_concurrency) - reserved - provisioned;
                // Both texts as recorded from AWS (localstack's test_lambda_api.snapshot.json,
                // test_provisioned_concurrency_limits).
                if i64::from(requested) > unreserved {
                    return Err(invalid(format!(
                        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}]."
                    )));
                }
                if unreserved - i64::from(requested) < MIN_UNRESERVED {
                    return Err(invalid(format!(
                        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
                    )));
                }
            }
        }
        let config = Config { account, region, function: name, qualifier: input.qualifier.clone(), requested, last_modified: last_modified() };
        let v = serde_json::to_vec(&config).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(PROVISIONED, key.clone(), v).map_err(store_err)?;
        // A new request retries a failed one.
        self.provisioned.states().entry(key.clone()).or_default().failed = None;
        self.provisioned.wake();
        let (allocated, status, reason) = self.provisioned_view(&key, &config);
        Ok(t::PutProvisionedConcurrencyConfigResponse {
            requested_provisioned_concurrent_executions: Some(requested),
            available_provisioned_concurrent_executions: Some(allocated),
            allocated_provisioned_concurrent_executions: Some(allocated),
            status: Some(if status == "READY" { status } else { "IN_PROGRESS".into() }),
            status_reason: reason,
            last_modified: Some(config.last_modified),
        })
    }

    pub(crate) fn get_provisioned(&self, ctx: &RequestContext, input: t::GetProvisionedConcurrencyConfigRequest) -> Result<t::GetProvisionedConcurrencyConfigResponse, AwsError> {
        if input.qualifier == "$LATEST" {
            return Err(not_published());
        }
        let latest = self.provisioned_subject(ctx, &input.function_name, &input.qualifier)?;
        let key = format!("{}{}", function_prefix(&latest.account, &latest.region, &latest.name), input.qualifier);
        let raw = self.store.get(PROVISIONED, key.as_bytes()).map_err(store_err)?.ok_or_else(not_found_config)?;
        let c: Config = serde_json::from_slice(&raw).map_err(|e| AwsError::internal(format!("corrupt provisioned concurrency config: {e}")))?;
        let (allocated, status, reason) = self.provisioned_view(&key, &c);
        Ok(t::GetProvisionedConcurrencyConfigResponse {
            requested_provisioned_concurrent_executions: Some(c.requested),
            available_provisioned_concurrent_executions: Some(allocated),
            allocated_provisioned_concurrent_executions: Some(allocated),
            status: Some(status),
            status_reason: reason,
            last_modified: Some(c.last_modified),
        })
    }

    pub(crate) async fn delete_provisioned(&self, ctx: &RequestContext, input: t::DeleteProvisionedConcurrencyConfigRequest) -> Result<(), AwsError> {
        if input.qualifier == "$LATEST" {
            return Err(not_published());
        }
        let _guard = self.write_lock.lock().await;
        let latest = self.provisioned_subject(ctx, &input.function_name, &input.qualifier)?;
        let key = format!("{}{}", function_prefix(&latest.account, &latest.region, &latest.name), input.qualifier);
        self.store.delete(PROVISIONED, key.clone()).map_err(store_err)?;
        self.pools.remove_provisioned(&FunctionRecord::key(&latest.account, &latest.region, &latest.name), &input.qualifier);
        self.provisioned.forget(&key);
        Ok(())
    }

    pub(crate) fn list_provisioned(&self, ctx: &RequestContext, input: t::ListProvisionedConcurrencyConfigsRequest) -> Result<t::ListProvisionedConcurrencyConfigsResponse, AwsError> {
        let max = input.max_items.unwrap_or(50);
        check_range(max, 1, 50, "maxItems")?;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let after = match &input.marker {
            Some(m) => Some(B64.decode(m).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| invalid("Invalid Marker"))?),
            None => None,
        };
        let all: Vec<(String, Config)> = self
            .all_provisioned(&function_prefix(&latest.account, &latest.region, &latest.name))?
            .into_iter()
            .filter(|(_, c)| after.as_ref().is_none_or(|m| c.qualifier.as_str() > m.as_str()))
            .collect();
        let more = all.len() > max as usize;
        let page: Vec<(String, Config)> = all.into_iter().take(max as usize).collect();
        let next_marker = if more { page.last().map(|(_, c)| B64.encode(&c.qualifier)) } else { None };
        let items = page
            .iter()
            .map(|(key, c)| {
                let (allocated, status, reason) = self.provisioned_view(key, c);
                t::ProvisionedConcurrencyConfigListItem {
                    function_arn: Some(format!("{}:{}", latest.arn(), c.qualifier)),
                    requested_provisioned_concurrent_executions: Some(c.requested),
                    available_provisioned_concurrent_executions: Some(allocated),
                    allocated_provisioned_concurrent_executions: Some(allocated),
                    status: Some(status),
                    status_reason: reason,
                    last_modified: Some(c.last_modified.clone()),
                }
            })
            .collect();
        Ok(t::ListProvisionedConcurrencyConfigsResponse { provisioned_concurrency_configs: Some(items), next_marker })
    }
}
