//! Asynchronous invocation configuration and destinations.
//!
//! - Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) (keyspace `lambda.eventconfigs`,
//!   one row per qualifier keyed `<account>/<region>/<name>/<qualifier>`, `$LATEST`
//!   included): `MaximumRetryAttempts` (0-2, default 2), `MaximumEventAgeInSeconds`
//!   (60-21600, default 6 h) and `DestinationConfig`. Put replaces the whole configuration,
//!   Update merges into an existing one (as AWS). Rows go with their function, version
//!   or alias.
//! - What the async queue asks of it ([`Inner::async_settings`]): the settings of the
//!   qualifier an event was sent to, whether the event is too old to run again, and the
//!   queue row of the record sent to a destination ([`Inner::destination_event`]), in
//!   AWS's invocation-record format (version 1.0, requestContext, requestPayload,
//!   responseContext, responsePayload).
//!
//! Destinations: a Lambda function (ARN, qualified or not; it must exist at Put/Update
//! time and may not be the function itself) gets the record as an asynchronous
//! invocation through the same durable queue. SQS, SNS, EventBridge and S3 destinations
//! name services Nimbus does not have: they are refused with InvalidParameterValueException.
//! Nimbus does not enforce IAM, so the execution role's permission to reach the
//! destination is not checked.

use base64::Engine;
use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_model::Timestamp;
use nimbus_protocol::{Input, Output};
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::{function_arn, FunctionRecord, QueuedEvent};
use crate::versions::{check_derived_qualifier, function_prefix};
use crate::{check_range, invalid, now_ms, parse_name, store_err, Inner, B64};

pub const EVENT_CONFIGS: &str = "lambda.eventconfigs";

/// AWS's defaults when a qualifier has no configuration or leaves a field unset.
const DEFAULT_RETRIES: i32 = 2;
const DEFAULT_MAX_AGE: i32 = 21600;

pub fn implements(op: Op) -> bool {
    matches!(
        op,
        Op::PutFunctionEventInvokeConfig
            | Op::GetFunctionEventInvokeConfig
            | Op::UpdateFunctionEventInvokeConfig
            | Op::DeleteFunctionEventInvokeConfig
            | Op::ListFunctionEventInvokeConfigs
    )
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EventConfig {
    qualifier: String,
    max_retries: Option<i32>,
    max_age: Option<i32>,
    on_success: Option<String>,
    on_failure: Option<String>,
    /// Epoch seconds.
    last_modified: f64,
}

/// What the queue applies to one event.
#[derive(Debug, Clone)]
pub struct AsyncSettings {
    pub max_retries: i32,
    pub max_age_ms: u64,
    on_success: Option<String>,
    on_failure: Option<String>,
}

impl AsyncSettings {
    /// True when the event was first queued longer ago than `MaximumEventAgeInSeconds`.
    pub fn expired(&self, ev: &QueuedEvent) -> bool {
        ev.first_ms != 0 && now_ms().saturating_sub(ev.first_ms) > self.max_age_ms
    }

    /// When a retry wanted at `due` (epoch ms) runs: no later than just past the event's age limit.
    pub fn retry_due(&self, ev: &QueuedEvent, due: u64) -> u64 {
        if ev.first_ms == 0 {
            return due;
        }
        due.min(ev.first_ms + self.max_age_ms + 1)
    }
}

/// How an event ended, for its destination record.
pub enum Finish<'a> {
    Success(&'a FunctionRecord, &'a [u8]),
    RetriesExhausted(&'a FunctionRecord, &'a [u8]),
    EventAgeExceeded,
}

fn config_key(account: &str, region: &str, name: &str, qualifier: &str) -> String {
    format!("{}{qualifier}", function_prefix(account, region, name))
}

fn qualified(region: &str, account: &str, name: &str, qualifier: &str) -> String {
    format!("{}:{qualifier}", function_arn(region, account, name))
}

fn no_config(arn: &str) -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", format!("The function {arn} doesn't have an EventInvokeConfig"))
}

fn no_function() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "The function doesn't exist.")
}

fn nothing_set() -> AwsError {
    invalid("You must specify at least one of error handling or destination setting.")
}

/// `json` bytes as a JSON value when they parse, else as a string (the record embeds them).
fn as_json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
}

impl EventConfig {
    fn render(&self, region: &str, account: &str, name: &str) -> t::FunctionEventInvokeConfig {
        t::FunctionEventInvokeConfig {
            last_modified: Some(Timestamp(self.last_modified)),
            function_arn: Some(qualified(region, account, name, &self.qualifier)),
            maximum_retry_attempts: self.max_retries,
            maximum_event_age_in_seconds: self.max_age,
            destination_config: Some(t::DestinationConfig {
                on_success: Some(t::OnSuccess { destination: self.on_success.clone() }),
                on_failure: Some(t::OnFailure { destination: self.on_failure.clone() }),
            }),
        }
    }
}

impl Inner {
    /// (region, account, name, qualifier) of a call, the function (and a qualifier other
    /// than `$LATEST`) required to exist.
    fn config_target(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>) -> Result<(String, String, String, String), AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q).unwrap_or_else(|| "$LATEST".into());
        let latest = self.load(&account, &region, &name)?.ok_or_else(no_function)?;
        if q != "$LATEST" {
            self.resolve_qualified(latest, &q).map_err(|e| if e.status == 404 { no_function() } else { e })?;
        }
        Ok((region, account, name, q))
    }

    fn load_config(&self, key: &str) -> Result<Option<EventConfig>, AwsError> {
        match self.store.get(EVENT_CONFIGS, key.as_bytes()).map_err(store_err)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt event invoke config: {e}"))),
        }
    }

    /// One destination: empty means none; a Lambda function must exist and not be the
    /// function itself; other services are not in Nimbus.
    fn check_destination(&self, ctx: &RequestContext, own: &str, field: &str, arn: &str) -> Result<(), AwsError> {
        if arn.starts_with("kafka://") {
            return Err(invalid(format!(
                "The destination ARN {arn} is invalid: Nimbus has no Kafka destinations; only Lambda function ARNs can be destinations of asynchronous invocations."
            )));
        }
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let well_formed = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && !parts[2].is_empty()
            && parts[2].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && (parts[4].is_empty() || nimbus_types::is_account_id(parts[4]));
        if !well_formed || arn.len() > 350 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{arn}' at 'destinationConfig.{field}.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: $|kafka://([^.]([a-zA-Z0-9\\-_.]{{0,248}}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}})?:(\\d{{12}})?:(.*)"
            )));
        }
        let service = match parts[2] {
            "lambda" => {
                let Ok((_, _, name, _)) = parse_name(ctx, arn) else {
                    return Err(invalid(format!("The destination ARN {arn} is invalid.")));
                };
                if name == own {
                    return Err(invalid("You can't specify the function as a destination for itself."));
                }
                if self.resolve(ctx, arn, None).is_err() {
                    return Err(invalid(format!("The destination ARN {arn} is invalid.")));
                }
                return Ok(());
            }
            "sqs" => "Amazon SQS",
            "sns" => "Amazon SNS",
            "events" => "Amazon EventBridge",
            "s3" => "Amazon S3",
            other => other,
        };
        Err(invalid(format!(
            "The destination ARN {arn} is invalid: Nimbus has no {service} destinations; only Lambda function ARNs can be destinations of asynchronous invocations."
        )))
    }

    fn check_config_input(
        &self,
        ctx: &RequestContext,
        own: &str,
        dest: &Option<t::DestinationConfig>,
    ) -> Result<(Option<String>, Option<String>), AwsError> {
        let on_success = dest.as_ref().and_then(|d| d.on_success.as_ref()).and_then(|s| s.destination.clone()).filter(|s| !s.is_empty());
        let on_failure = dest.as_ref().and_then(|d| d.on_failure.as_ref()).and_then(|s| s.destination.clone()).filter(|s| !s.is_empty());
        if let Some(a) = &on_success {
            self.check_destination(ctx, own, "onSuccess", a)?;
        }
        if let Some(a) = &on_failure {
            self.check_destination(ctx, own, "onFailure", a)?;
        }
        Ok((on_success, on_failure))
    }

    async fn put_event_config(&self, ctx: &RequestContext, i: t::PutFunctionEventInvokeConfigRequest, merge: bool) -> Result<t::FunctionEventInvokeConfig, AwsError> {
        // Ranges are the request's own constraints, checked before anything is looked up.
        if let Some(r) = i.maximum_retry_attempts {
            check_range(r, 0, 2, "maximumRetryAttempts")?;
        }
        if let Some(a) = i.maximum_event_age_in_seconds {
            check_range(a, 60, 21600, "maximumEventAgeInSeconds")?;
        }
        if i.maximum_retry_attempts.is_none() && i.maximum_event_age_in_seconds.is_none() && i.destination_config.is_none() {
            return Err(nothing_set());
        }
        let _guard = self.write_lock.lock().await;
        let (region, account, name, q) = self.config_target(ctx, &i.function_name, i.qualifier.as_deref())?;
        let key = config_key(&account, &region, &name, &q);
        let (on_success, on_failure) = self.check_config_input(ctx, &name, &i.destination_config)?;
        let mut cfg = if merge {
            self.load_config(&key)?.ok_or_else(|| no_config(&qualified(&region, &account, &name, &q)))?
        } else {
            EventConfig { qualifier: q.clone(), ..Default::default() }
        };
        if !merge || i.maximum_retry_attempts.is_some() {
            cfg.max_retries = i.maximum_retry_attempts;
        }
        if !merge || i.maximum_event_age_in_seconds.is_some() {
            cfg.max_age = i.maximum_event_age_in_seconds;
        }
        if !merge || i.destination_config.is_some() {
            cfg.on_success = on_success;
            cfg.on_failure = on_failure;
        }
        cfg.last_modified = nimbus_types::epoch_now();
        let v = serde_json::to_vec(&cfg).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(EVENT_CONFIGS, key, v).map_err(store_err)?;
        Ok(cfg.render(&region, &account, &name))
    }

    fn get_event_config(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>, delete: bool) -> Result<t::FunctionEventInvokeConfig, AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q);
        let shown_q = q.clone().unwrap_or_else(|| "$LATEST".into());
        // Delete names the ARN as it was asked for (unqualified without a qualifier).
        let missing = || match (&q, delete) {
            (None, true) => no_config(&function_arn(&region, &account, &name)),
            _ => no_config(&qualified(&region, &account, &name, &shown_q)),
        };
        if self.load(&account, &region, &name)?.is_none() {
            return Err(missing());
        }
        let key = config_key(&account, &region, &name, &shown_q);
        let cfg = self.load_config(&key)?.ok_or_else(missing)?;
        if delete {
            self.store.delete(EVENT_CONFIGS, key).map_err(store_err)?;
        }
        Ok(cfg.render(&region, &account, &name))
    }

    fn list_event_configs(&self, ctx: &RequestContext, i: t::ListFunctionEventInvokeConfigsRequest) -> Result<t::ListFunctionEventInvokeConfigsResponse, AwsError> {
        let max = i.max_items.unwrap_or(50);
        check_range(max, 1, 50, "maxItems")?;
        let (region, account, name, _) = parse_name(ctx, &i.function_name)?;
        if self.load(&account, &region, &name)?.is_none() {
            return Err(no_function());
        }
        let prefix = function_prefix(&account, &region, &name);
        let after = match &i.marker {
            Some(m) => Some(
                B64.decode(m).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| invalid("Invalid Marker"))?,
            ),
            None => None,
        };
        let mut out = Vec::new();
        let mut next_marker = None;
        for kv in self.store.prefix(EVENT_CONFIGS, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            let Ok(cfg) = serde_json::from_slice::<EventConfig>(&v) else { continue };
            if after.as_ref().is_some_and(|a| cfg.qualifier.as_str() <= a.as_str()) {
                continue;
            }
            if out.len() as i32 == max {
                next_marker = out.last().map(|c: &EventConfig| B64.encode(&c.qualifier));
                break;
            }
            out.push(cfg);
        }
        Ok(t::ListFunctionEventInvokeConfigsResponse {
            function_event_invoke_configs: Some(out.iter().map(|c| c.render(&region, &account, &name)).collect()),
            next_marker,
        })
    }

    /// Serves the operations of [`implements`].
    pub(crate) async fn invoke_config_call(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::PutFunctionEventInvokeConfig => Output::from(&self.put_event_config(ctx, input.parse()?, false).await?),
            Op::UpdateFunctionEventInvokeConfig => {
                let i: t::UpdateFunctionEventInvokeConfigRequest = input.parse()?;
                let i = t::PutFunctionEventInvokeConfigRequest {
                    function_name: i.function_name,
                    qualifier: i.qualifier,
                    maximum_retry_attempts: i.maximum_retry_attempts,
                    maximum_event_age_in_seconds: i.maximum_event_age_in_seconds,
                    destination_config: i.destination_config,
                };
                Output::from(&self.put_event_config(ctx, i, true).await?)
            }
            Op::GetFunctionEventInvokeConfig => {
                let i: t::GetFunctionEventInvokeConfigRequest = input.parse()?;
                Output::from(&self.get_event_config(ctx, &i.function_name, i.qualifier.as_deref(), false)?)
            }
            Op::DeleteFunctionEventInvokeConfig => {
                let i: t::DeleteFunctionEventInvokeConfigRequest = input.parse()?;
                let _guard = self.write_lock.lock().await;
                self.get_event_config(ctx, &i.function_name, i.qualifier.as_deref(), true)?;
                Ok(Output::default())
            }
            Op::ListFunctionEventInvokeConfigs => Output::from(&self.list_event_configs(ctx, input.parse()?)?),
            _ => Err(AwsError::internal(format!("{} is not implemented", op.name()))),
        }
    }

    // ---- what the async queue asks ----

    /// The settings of the qualifier `ev` was sent to (AWS's defaults without a configuration).
    pub(crate) fn async_settings(&self, ev: &QueuedEvent) -> AsyncSettings {
        let q = ev.qualifier.as_deref().unwrap_or("$LATEST");
        let cfg = self.load_config(&config_key(&ev.account, &ev.region, &ev.name, q)).ok().flatten().unwrap_or_default();
        AsyncSettings {
            max_retries: cfg.max_retries.unwrap_or(DEFAULT_RETRIES),
            max_age_ms: cfg.max_age.unwrap_or(DEFAULT_MAX_AGE) as u64 * 1000,
            on_success: cfg.on_success,
            on_failure: cfg.on_failure,
        }
    }

    /// The queue row (key, value) that delivers `ev`'s invocation record to its
    /// destination, if one is configured for how it ended; written by the caller in the
    /// same batch that removes `ev`, so the record is neither lost nor sent twice.
    pub(crate) fn destination_event(&self, ev: &QueuedEvent, settings: &AsyncSettings, finish: Finish<'_>) -> Option<(String, Vec<u8>)> {
        let (dest, condition) = match &finish {
            Finish::Success(..) => (settings.on_success.as_ref()?, "Success"),
            Finish::RetriesExhausted(..) => (settings.on_failure.as_ref()?, "RetriesExhausted"),
            Finish::EventAgeExceeded => (settings.on_failure.as_ref()?, "EventAgeExceeded"),
        };
        let payload = B64.decode(&ev.payload).unwrap_or_default();
        let invoked = match &finish {
            Finish::EventAgeExceeded => ev.attempt,
            _ => ev.attempt + 1,
        };
        let mut record = json!({
            "version": "1.0",
            "timestamp": nimbus_types::format_iso8601(nimbus_types::epoch_now()),
            "requestContext": {
                "requestId": ev.id,
                "functionArn": qualified(&ev.region, &ev.account, &ev.name, ev.qualifier.as_deref().unwrap_or("$LATEST")),
                "condition": condition,
                "approximateInvokeCount": invoked,
            },
            "requestPayload": as_json(&payload),
        });
        match finish {
            Finish::Success(rec, body) => {
                record["responseContext"] = json!({"statusCode": 200, "executedVersion": rec.version_name()});
                record["responsePayload"] = as_json(body);
            }
            Finish::RetriesExhausted(rec, body) => {
                record["responseContext"] = json!({"statusCode": 200, "executedVersion": rec.version_name(), "functionError": "Unhandled"});
                record["responsePayload"] = as_json(body);
            }
            Finish::EventAgeExceeded => {}
        }
        let ctx = RequestContext {
            request_id: nimbus_types::new_request_id(),
            account_id: ev.account.clone(),
            region: ev.region.clone(),
            access_key_id: None,
            assumed_role_arn: None,
        };
        let target = match self.resolve(&ctx, dest, None) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(function = %ev.name, request_id = %ev.id, destination = %dest, "dropping an invocation record: {}", e.message);
                return None;
            }
        };
        let now = now_ms();
        let out = QueuedEvent {
            id: ctx.request_id.clone(),
            account: target.account.clone(),
            region: target.region.clone(),
            name: target.name.clone(),
            payload: B64.encode(record.to_string()),
            attempt: 0,
            client_context: None,
            qualifier: target.alias.clone().or_else(|| target.version.clone()),
            first_ms: now,
        };
        let v = serde_json::to_vec(&out).ok()?;
        Some((format!("{now:020}/{}", out.id), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(first_ms: u64) -> QueuedEvent {
        QueuedEvent {
            id: "r".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            name: "f".into(),
            payload: String::new(),
            attempt: 0,
            client_context: None,
            qualifier: None,
            first_ms,
        }
    }

    #[test]
    fn age_limit_expires_and_caps_retries() {
        let s = AsyncSettings { max_retries: 2, max_age_ms: 60_000, on_success: None, on_failure: None };
        let now = now_ms();
        assert!(!s.expired(&event(now)));
        assert!(s.expired(&event(now - 61_000)));
        // Rows queued before the enqueue time was recorded never expire by age.
        assert!(!s.expired(&event(0)));
        assert_eq!(s.retry_due(&event(now), now + 120_000), now + 60_001);
        assert_eq!(s.retry_due(&event(now), now + 1_000), now + 1_000);
    }

    #[test]
    fn record_payloads_embed_json_or_text() {
        assert_eq!(as_json(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(as_json(b"not json"), json!("not json"));
    }
}
