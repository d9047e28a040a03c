//! Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases (keyspace
//! `lambda.aliases`, one JSON row per alias keyed `<account>/<region>/<name>/<alias>`).
//!
//! An alias points at `$LATEST` or a published version and may route a share of its
//! invocations to one other version (`RoutingConfig.AdditionalVersionWeights`); each
//! invocation picks its version ([`Inner::route`]) and `ExecutedVersion` reports it. An
//! alias has its own resource policy and RevisionId: permissions granted on
//! `name:alias` live here, not with the version.

use std::collections::BTreeMap;

use base64::Engine;
use nimbus_model::types::lambda as t;
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::model::{function_arn, FunctionRecord, ALIASES, PROVISIONED};
use crate::versions::{function_prefix, is_version};
use crate::{check_range, invalid, new_revision, not_found, store_err, Inner, B64};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    pub account: String,
    pub region: String,
    pub function: String,
    pub name: String,
    pub function_version: String,
    #[serde(default)]
    pub description: String,
    /// `AdditionalVersionWeights`: version → share of invocations (0.0..1.0).
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    pub revision_id: String,
    /// The alias's own resource-policy statements.
    #[serde(default)]
    pub policy: Vec<serde_json::Value>,
}

impl AliasRecord {
    fn key(&self) -> String {
        alias_key(&self.account, &self.region, &self.function, &self.name)
    }

    pub fn arn(&self) -> String {
        format!("{}:{}", function_arn(&self.region, &self.account, &self.function), self.name)
    }

    fn configuration(&self) -> t::AliasConfiguration {
        t::AliasConfiguration {
            alias_arn: Some(self.arn()),
            name: Some(self.name.clone()),
            function_version: Some(self.function_version.clone()),
            description: Some(self.description.clone()),
            routing_config: (!self.weights.is_empty())
                .then(|| t::AliasRoutingConfiguration { additional_version_weights: Some(self.weights.clone()) }),
            revision_id: Some(self.revision_id.clone()),
        }
    }
}

fn alias_key(account: &str, region: &str, function: &str, alias: &str) -> String {
    format!("{}{alias}", function_prefix(account, region, function))
}

/// GetAlias (and the provisioned concurrency operations) on a missing alias.
fn alias_not_found(latest: &FunctionRecord, alias: &str) -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", format!("Cannot find alias arn: {}:{alias}", latest.arn()))
}

/// UpdateAlias on a missing alias says it differently from GetAlias (AWS's text, as
/// quoted from real UpdateAlias failures: terraform-provider-aws#4090, localstack#11832).
fn update_alias_not_found(latest: &FunctionRecord, alias: &str) -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", format!("Alias not found: {}:{alias}", latest.arn()))
}

/// A double as AWS's (Java) validation messages print it: `2.0`, `-1.0`, `0.25`.
fn java_double(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Alias names: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, at most 128 characters (the lookahead is
/// one the model's validator cannot compile, so it is checked here).
fn check_alias_name(name: &str) -> Result<(), AwsError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !is_version(name)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(AwsError::validation(format!(
        "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
    )))
}

/// A uniform number in [0, 1) for weighted routing.
fn unit_random() -> f64 {
    // The low 53 bits of a v4 UUID are random (its version and variant bits are higher).
    let b = uuid::Uuid::new_v4().as_u128() as u64;
    (b & ((1u64 << 53) - 1)) as f64 / (1u64 << 53) as f64
}

impl Inner {
    pub(crate) fn load_alias(&self, account: &str, region: &str, function: &str, alias: &str) -> Result<Option<AliasRecord>, AwsError> {
        let raw = self.store.get(ALIASES, alias_key(account, region, function, alias).as_bytes()).map_err(store_err)?;
        match raw {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt alias record: {e}"))),
        }
    }

    pub(crate) fn save_alias(&self, a: &AliasRecord) -> Result<(), AwsError> {
        let v = serde_json::to_vec(a).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(ALIASES, a.key(), v).map_err(store_err)
    }

    pub(crate) fn all_aliases(&self, account: &str, region: &str, function: &str) -> Result<Vec<AliasRecord>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(ALIASES, function_prefix(account, region, function).as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(a) = serde_json::from_slice::<AliasRecord>(&v) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// For an invocation through a weighted alias: the version this invocation runs.
    pub(crate) fn route(&self, rec: FunctionRecord) -> Result<FunctionRecord, AwsError> {
        let Some(alias_name) = rec.alias.clone() else { return Ok(rec) };
        let Some(alias) = self.load_alias(&rec.account, &rec.region, &rec.name, &alias_name)? else { return Ok(rec) };
        let Some((version, weight)) = alias.weights.iter().next() else { return Ok(rec) };
        if unit_random() >= *weight {
            return Ok(rec);
        }
        let mut other = self
            .load_version(&rec.account, &rec.region, &rec.name, version)?
            .ok_or_else(|| not_found(&rec.region, &rec.account, &rec.name, Some(version)))?;
        other.alias = Some(alias_name);
        other.policy = rec.policy;
        other.revision_id = rec.revision_id;
        other.reserved_concurrency = rec.reserved_concurrency;
        other.tags = rec.tags;
        Ok(other)
    }

    /// `FunctionVersion` must be `$LATEST` or an existing version.
    fn check_target(&self, latest: &FunctionRecord, version: &str) -> Result<(), AwsError> {
        if version == "$LATEST" {
            return Ok(());
        }
        if !is_version(version) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{version}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"
            )));
        }
        match self.load_version(&latest.account, &latest.region, &latest.name, version)? {
            Some(_) => Ok(()),
            None => Err(not_found(&latest.region, &latest.account, &latest.name, Some(version))),
        }
    }

    /// Validates `AdditionalVersionWeights` for an alias whose primary version is `primary`.
    fn check_weights(&self, latest: &FunctionRecord, primary: &str, routing: &Option<t::AliasRoutingConfiguration>) -> Result<BTreeMap<String, f64>, AwsError> {
        let weights = routing.as_ref().and_then(|r| r.additional_version_weights.clone()).unwrap_or_default();
        if weights.is_empty() {
            return Ok(weights);
        }
        if weights.len() > 1 {
            return Err(invalid("Number of items in AdditionalVersionWeights cannot be greater than 1"));
        }
        for (version, w) in &weights {
            // AWS's texts, as recorded from the service (localstack's
            // test_lambda_api.snapshot.json, test_notfound_and_invalid_routingconfigs).
            let shown = java_double(*w);
            if !w.is_finite() || *w < 0.0 || *w > 1.0 {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{{{version}={shown}}}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"
                )));
            }
            if !is_version(version) {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{{{version}={shown}}}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member must not be null]"
                )));
            }
            if primary == "$LATEST" {
                return Err(invalid("$LATEST is not supported for an alias pointing to more than 1 version"));
            }
            if version == primary {
                return Err(invalid(format!(
                    "Invalid function version {primary}. Function version {primary} is already included in routing configuration."
                )));
            }
            self.check_target(latest, version)?;
        }
        Ok(weights)
    }

    pub(crate) async fn create_alias(&self, ctx: &RequestContext, input: t::CreateAliasRequest) -> Result<t::AliasConfiguration, AwsError> {
        check_alias_name(&input.name)?;
        let _guard = self.write_lock.lock().await;
        // A missing function is reported with the version the alias was to point at.
        let latest = self.resolve_latest_or(ctx, &input.function_name, Some(&input.function_version))?;
        self.check_target(&latest, &input.function_version)?;
        let weights = self.check_weights(&latest, &input.function_version, &input.routing_config)?;
        if let Some(existing) = self.load_alias(&latest.account, &latest.region, &latest.name, &input.name)? {
            return Err(AwsError::new(409, "ResourceConflictException", format!("Alias already exists: {}", existing.arn())));
        }
        let alias = AliasRecord {
            account: latest.account.clone(),
            region: latest.region.clone(),
            function: latest.name.clone(),
            name: input.name,
            function_version: input.function_version,
            description: input.description.unwrap_or_default(),
            weights,
            revision_id: new_revision(),
            policy: Vec::new(),
        };
        self.save_alias(&alias)?;
        Ok(alias.configuration())
    }

    pub(crate) fn get_alias(&self, ctx: &RequestContext, input: t::GetAliasRequest) -> Result<t::AliasConfiguration, AwsError> {
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let alias = self.load_alias(&latest.account, &latest.region, &latest.name, &input.name)?.ok_or_else(|| alias_not_found(&latest, &input.name))?;
        Ok(alias.configuration())
    }

    pub(crate) async fn update_alias(&self, ctx: &RequestContext, input: t::UpdateAliasRequest) -> Result<t::AliasConfiguration, AwsError> {
        let _guard = self.write_lock.lock().await;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let mut alias = self.load_alias(&latest.account, &latest.region, &latest.name, &input.name)?.ok_or_else(|| update_alias_not_found(&latest, &input.name))?;
        if input.revision_id.as_ref().is_some_and(|r| *r != alias.revision_id) {
            return Err(AwsError::new(
                412,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
        if let Some(v) = &input.function_version {
            self.check_target(&latest, v)?;
            alias.function_version = v.clone();
        }
        if let Some(d) = input.description {
            alias.description = d;
        }
        if input.routing_config.is_some() {
            alias.weights = self.check_weights(&latest, &alias.function_version, &input.routing_config)?;
        } else if !alias.weights.is_empty() {
            // The primary version moved: the kept routing must still make sense.
            let kept = Some(t::AliasRoutingConfiguration { additional_version_weights: Some(alias.weights.clone()) });
            self.check_weights(&latest, &alias.function_version, &kept)?;
        }
        alias.revision_id = new_revision();
        self.save_alias(&alias)?;
        // Provisioned environments follow the alias to its new version.
        self.provisioned.wake();
        Ok(alias.configuration())
    }

    pub(crate) async fn delete_alias(&self, ctx: &RequestContext, input: t::DeleteAliasRequest) -> Result<(), AwsError> {
        let _guard = self.write_lock.lock().await;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let key = alias_key(&latest.account, &latest.region, &latest.name, &input.name);
        let mut batch = nimbus_store::WriteBatch::new();
        batch.delete(ALIASES, key.clone());
        // Its provisioned concurrency configuration goes with it.
        batch.delete(PROVISIONED, key.clone());
        batch.delete(crate::invoke_config::EVENT_CONFIGS, key.clone());
        self.store.write(batch).map_err(store_err)?;
        // So does its function URL.
        self.delete_urls(&latest.account, &latest.region, &latest.name, Some(&input.name))?;
        self.pools.remove_provisioned(&FunctionRecord::key(&latest.account, &latest.region, &latest.name), &input.name);
        self.provisioned.forget(&key);
        Ok(())
    }

    pub(crate) fn list_aliases(&self, ctx: &RequestContext, input: t::ListAliasesRequest) -> Result<t::ListAliasesResponse, AwsError> {
        let max = input.max_items.unwrap_or(50);
        check_range(max, 1, 10000, "maxItems")?;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let after = match &input.marker {
            Some(m) => Some(B64.decode(m).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| invalid("Invalid Marker"))?),
            None => None,
        };
        let matching: Vec<AliasRecord> = self
            .all_aliases(&latest.account, &latest.region, &latest.name)?
            .into_iter()
            .filter(|a| input.function_version.as_ref().is_none_or(|v| *v == a.function_version))
            .filter(|a| after.as_ref().is_none_or(|m| a.name.as_str() > m.as_str()))
            .collect();
        let more = matching.len() > max as usize;
        let page: Vec<AliasRecord> = matching.into_iter().take(max as usize).collect();
        let next_marker = if more { page.last().map(|a| B64.encode(&a.name)) } else { None };
        Ok(t::ListAliasesResponse { next_marker, aliases: Some(page.iter().map(AliasRecord::configuration).collect()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        assert!(check_alias_name("live").is_ok());
        assert!(check_alias_name("blue-2_x").is_ok());
        assert!(check_alias_name("12").is_err());
        assert!(check_alias_name("").is_err());
        assert!(check_alias_name("a/b").is_err());
        assert!(check_alias_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(-1.0), "-1.0");
        assert_eq!(java_double(0.25), "0.25");
        assert_eq!(java_double(1.5), "1.5");
    }

    #[test]
    fn random_is_a_unit_interval() {
        for _ in 0..1000 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
