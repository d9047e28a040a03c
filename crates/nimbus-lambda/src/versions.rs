//! Published versions and qualified function names.
//!
//! - `PublishVersion` (and `Publish: true` on CreateFunction/UpdateFunctionCode) copies
//!   `$LATEST` (code and configuration) into an immutable numbered version (keyspace
//!   `lambda.versions`); publishing an unchanged function returns the latest version.
//! - `ListVersionsByFunction`, `ListFunctions` with `FunctionVersion=ALL`.
//! - Resolving `name:7`, `name:alias`, `Qualifier=...` ([`Inner::resolve_qualified`]):
//!   a version answers its own record (its own policy); an alias answers the version it
//!   points at, with the alias's own policy and RevisionId ([`crate::aliases`]).
//! - Deleting one version (refused while an alias points at it) or, with the function,
//!   every version, alias and provisioned concurrency configuration.
//! - The operation dispatch for versions, aliases and provisioned concurrency.
//! - How qualified names resolve for GetFunction/GetFunctionConfiguration
//!   ([`Inner::resolve_shown`]) and the function-concurrency operations, with AWS's
//!   texts for qualifier mismatches and missing functions, versions and aliases.
//!
//! Each version has its own environments: its fingerprint starts with the version, its
//! snapshot template is keyed by [`FunctionRecord::env_key`], `AWS_LAMBDA_FUNCTION_VERSION`,
//! the log stream's `[version]` and `ExecutedVersion` name it.

use base64::Engine;
use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_protocol::{Input, Output};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{AwsError, RequestContext};

use crate::model::{FunctionRecord, QueuedEvent, ALIASES, FUNCTIONS, PROVISIONED, VERSIONS};
use crate::{check_range, invalid, last_modified, new_revision, not_found, parse_name, store_err, Inner, B64};

/// The operations this module (with [`crate::aliases`] and [`crate::provisioned`]) serves.
pub fn implements(op: &str) -> bool {
    matches!(
        Op::from_name(op),
        Some(
            Op::PublishVersion
                | Op::ListVersionsByFunction
                | Op::CreateAlias
                | Op::GetAlias
                | Op::UpdateAlias
                | Op::DeleteAlias
                | Op::ListAliases
                | Op::PutProvisionedConcurrencyConfig
                | Op::GetProvisionedConcurrencyConfig
                | Op::DeleteProvisionedConcurrencyConfig
                | Op::ListProvisionedConcurrencyConfigs
        )
    )
}

pub fn is_version(q: &str) -> bool {
    !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit())
}

/// Row key of a version: the number zero-padded so versions sort numerically.
pub fn version_key(account: &str, region: &str, name: &str, version: u64) -> String {
    format!("{account}/{region}/{name}/{version:010}")
}

/// Prefix of every row (version, alias, provisioned configuration) of one function.
pub fn function_prefix(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}/")
}

/// The invocation log's START line names the version that ran.
pub fn label_start(log: &mut Vec<u8>, version: &str) {
    const LATEST: &[u8] = b" Version: $LATEST\n";
    if version == "$LATEST" {
        return;
    }
    let first = log.iter().position(|b| *b == b'\n').map(|i| i + 1).unwrap_or(log.len());
    if log.starts_with(b"START ") && log[..first].ends_with(LATEST) {
        let at = first - LATEST.len();
        log.splice(at..first, format!(" Version: {version}\n").into_bytes());
    }
}

/// Log streams of environments restored from a snapshot whose first REPORT is still to
/// come (bounded: a stream whose environment never ran is dropped with the rest).
static RESTORED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
const MAX_RESTORED: usize = 4096;

/// Remembers that a started environment was forked from a snapshot template.
pub fn note_restored(started: Result<std::sync::Arc<crate::env::Env>, bytes::Bytes>) -> Result<std::sync::Arc<crate::env::Env>, bytes::Bytes> {
    if let Ok(env) = &started {
        let mut r = RESTORED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.len() >= MAX_RESTORED {
            r.clear();
        }
        r.push(env.log_stream.clone());
    }
    started
}

/// A published version's environment restored from a snapshot reports its start as
/// SnapStart does: `Restore Duration: X ms\tBilled Restore Duration: Y ms` in place of
/// `Init Duration` (Y is X rounded up: Nimbus bills no hooks separately).
pub fn label_restore(log: &mut Vec<u8>, stream: &str) {
    let restored = {
        let mut r = RESTORED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match r.iter().position(|s| s == stream) {
            Some(i) => {
                r.swap_remove(i);
                true
            }
            None => false,
        }
    };
    if !restored {
        return;
    }
    let text = String::from_utf8_lossy(log).into_owned();
    let Some(at) = text.rfind("\tInit Duration: ") else { return };
    let rest = &text[at + "\tInit Duration: ".len()..];
    let Some(end) = rest.find(" ms") else { return };
    let Ok(ms) = rest[..end].parse::<f64>() else { return };
    let replaced = format!(
        "{}\tRestore Duration: {ms:.2} ms\tBilled Restore Duration: {} ms{}",
        &text[..at],
        ms.ceil() as u64,
        &rest[end + " ms".len()..]
    );
    *log = replaced.into_bytes();
}

/// A published version whose `after_restore` hook failed answers `SnapStartException`
/// (400, as AWS) rather than a function error.
pub fn snap_start_failure(rec: &FunctionRecord, outcome: crate::env::Outcome) -> Result<crate::env::Outcome, AwsError> {
    let crate::env::Outcome::FunctionError(body) = &outcome else { return Ok(outcome) };
    if rec.version.is_none() {
        return Ok(outcome);
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(outcome) };
    if doc.get("errorType").and_then(|v| v.as_str()) != Some("Runtime.AfterRestoreError") {
        return Ok(outcome);
    }
    let message = doc.get("errorMessage").and_then(|v| v.as_str()).unwrap_or_default();
    Err(AwsError::new(400, "SnapStartException", format!("The afterRestore() runtime hook encountered an error: {message}. For more information, check the Amazon CloudWatch logs."))
        .with_field("Type", "User".into()))
}

/// What makes two publications the same version: code and configuration, not the
/// description, revision, timestamps, policy or tags.
fn publish_digest(r: &FunctionRecord) -> String {
    serde_json::json!([
        r.code_hex,
        r.runtime,
        r.role,
        r.handler,
        r.timeout,
        r.memory,
        r.env,
        r.ephemeral,
        r.architectures,
        r.tracing_mode,
        r.logging,
        r.snap_start,
    ])
    .to_string()
}

/// A function as list operations (ListFunctions, ListVersionsByFunction) show it: AWS
/// leaves out the state fields there (recorded: localstack's test_lambda_api.snapshot.json,
/// list_versions_result, list_all).
pub(crate) fn list_item(mut c: t::FunctionConfiguration) -> t::FunctionConfiguration {
    c.state = None;
    c.state_reason = None;
    c.state_reason_code = None;
    c.last_update_status = None;
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
    c
}

/// A qualifier both in the function name and in `Qualifier` must be the same one (AWS's
/// text, recorded: localstack's test_lambda_api.snapshot.json, qualifier mismatch tests).
pub(crate) fn check_derived_qualifier(given: Option<&str>, derived: Option<&str>) -> Result<(), AwsError> {
    match (given, derived) {
        (Some(g), Some(d)) if g != d => Err(invalid("The derived qualifier from the function name does not match the specified qualifier.")),
        _ => Ok(()),
    }
}

fn decode_marker(m: &str) -> Result<String, AwsError> {
    B64.decode(m).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| invalid("Invalid Marker"))
}

impl Inner {
    pub(crate) fn load_version(&self, account: &str, region: &str, name: &str, version: &str) -> Result<Option<FunctionRecord>, AwsError> {
        let Ok(n) = version.parse::<u64>() else { return Ok(None) };
        let raw = self.store.get(VERSIONS, version_key(account, region, name, n).as_bytes()).map_err(store_err)?;
        match raw {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt version record: {e}"))),
        }
    }

    /// Every published version of a function, oldest first.
    pub(crate) fn all_versions(&self, account: &str, region: &str, name: &str) -> Result<Vec<FunctionRecord>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(VERSIONS, function_prefix(account, region, name).as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(r) = serde_json::from_slice::<FunctionRecord>(&v) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `latest` resolved with a qualifier other than `$LATEST`: a version or an alias.
    pub(crate) fn resolve_qualified(&self, latest: FunctionRecord, q: &str) -> Result<FunctionRecord, AwsError> {
        let (account, region, name) = (latest.account.clone(), latest.region.clone(), latest.name.clone());
        // Reserved concurrency and tags belong to the function, whichever version runs.
        let (reserved, tags) = (latest.reserved_concurrency, latest.tags.clone());
        if is_version(q) {
            let mut rec = self.load_version(&account, &region, &name, q)?.ok_or_else(|| not_found(&region, &account, &name, Some(q)))?;
            rec.reserved_concurrency = reserved;
            rec.tags = tags;
            return Ok(rec);
        }
        let alias = self.load_alias(&account, &region, &name, q)?.ok_or_else(|| not_found(&region, &account, &name, Some(q)))?;
        let mut rec = if alias.function_version == "$LATEST" {
            latest
        } else {
            self.load_version(&account, &region, &name, &alias.function_version)?
                .ok_or_else(|| not_found(&region, &account, &name, Some(&alias.function_version)))?
        };
        rec.alias = Some(alias.name);
        rec.policy = alias.policy;
        rec.revision_id = alias.revision_id;
        rec.reserved_concurrency = reserved;
        rec.tags = tags;
        Ok(rec)
    }

    /// The unqualified function for operations that change `$LATEST` or the function as a
    /// whole (versions are immutable; concurrency belongs to the function).
    pub(crate) fn resolve_latest(&self, ctx: &RequestContext, raw: &str) -> Result<FunctionRecord, AwsError> {
        self.resolve_latest_or(ctx, raw, None)
    }

    /// [`Self::resolve_latest`]; a missing function is reported with `missing` as the
    /// qualifier of its ARN (CreateAlias names the version the alias was to point at).
    pub(crate) fn resolve_latest_or(&self, ctx: &RequestContext, raw: &str, missing: Option<&str>) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        if q.is_some_and(|q| q != "$LATEST") {
            return Err(invalid(format!(
                "This operation cannot be performed on a function version or alias: {raw}. Please specify the unqualified function name or ARN."
            )));
        }
        self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, missing))
    }

    /// Put/Get/DeleteFunctionConcurrency: the function itself. AWS refuses a version or
    /// an alias with its own text, and PutFunctionConcurrency names a missing function by
    /// its `$LATEST` ARN (both recorded from AWS: localstack's test_lambda_api.snapshot.json,
    /// test_function_concurrency_exceptions / test_ops_on_nonexisting_fn).
    pub(crate) fn resolve_for_concurrency(&self, ctx: &RequestContext, raw: &str, put: bool) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        if q.is_some_and(|q| q != "$LATEST") {
            return Err(invalid(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
            ));
        }
        self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, put.then_some("$LATEST")))
    }

    /// GetFunction/GetFunctionConfiguration: the record and the configuration AWS shows
    /// for it. As recorded from AWS (localstack's test_lambda_api.snapshot.json): a
    /// missing function is named with the qualifier asked for; `Qualifier=$LATEST` shows
    /// the ARN qualified with `:$LATEST`; through an alias the ARN is the alias's and the
    /// RevisionId is the version's (the alias's own RevisionId is GetAlias's).
    pub(crate) fn resolve_shown(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>) -> Result<(FunctionRecord, t::FunctionConfiguration), AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q);
        let latest = self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, q.as_deref()))?;
        match q.as_deref() {
            None => {
                let c = latest.configuration();
                Ok((latest, c))
            }
            Some("$LATEST") => {
                let mut c = latest.configuration();
                c.function_arn = Some(format!("{}:$LATEST", latest.arn()));
                Ok((latest, c))
            }
            Some(other) => {
                let rec = self.resolve_qualified(latest.clone(), other)?;
                let mut c = rec.configuration();
                if rec.alias.is_some() {
                    let own = match rec.version.as_deref() {
                        Some(v) => self.load_version(&account, &region, &name, v)?.map(|v| v.revision_id),
                        None => Some(latest.revision_id.clone()),
                    };
                    if own.is_some() {
                        c.revision_id = own;
                    }
                }
                Ok((rec, c))
            }
        }
    }

    /// Tags belong to the unqualified function only (as AWS).
    pub(crate) fn resolve_for_tags(&self, ctx: &RequestContext, arn: &str) -> Result<FunctionRecord, AwsError> {
        let (region, account, name, q) = parse_name(ctx, arn)?;
        if q.is_some() {
            return Err(invalid("Tags on function aliases and versions are not supported. Please specify a function ARN."));
        }
        self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, None))
    }

    /// Saves a version's (policy) or an alias's (policy, RevisionId) changes.
    pub(crate) fn save_qualified(&self, rec: &FunctionRecord) -> Result<(), AwsError> {
        if let Some(a) = &rec.alias {
            let mut alias = self
                .load_alias(&rec.account, &rec.region, &rec.name, a)?
                .ok_or_else(|| not_found(&rec.region, &rec.account, &rec.name, Some(a)))?;
            alias.policy = rec.policy.clone();
            alias.revision_id = rec.revision_id.clone();
            return self.save_alias(&alias);
        }
        let Some(n) = rec.version.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
            return Err(AwsError::internal("a version record without a version number"));
        };
        // Function-level settings copied in by resolution are not the version's own.
        let mut own = rec.clone();
        own.reserved_concurrency = None;
        own.tags = Default::default();
        let v = serde_json::to_vec(&own).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(VERSIONS, version_key(&rec.account, &rec.region, &rec.name, n), v).map_err(store_err)
    }

    /// Whether any published version still runs the code blob `hexid`.
    pub(crate) fn version_uses_code(&self, hexid: &str) -> bool {
        let Ok(scan) = self.store.prefix(VERSIONS, b"", Direction::Forward) else { return true };
        for kv in scan {
            let Ok((_, v)) = kv else { return true };
            match serde_json::from_slice::<FunctionRecord>(&v) {
                // Its code, or (a layer version deleted since) a layer it was published with.
                Ok(r) if r.code_hex == hexid || r.layers.iter().any(|l| l.code_hex == hexid) => return true,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// The record a queued event runs: its function at the qualifier it was sent to
    /// (re-routed through a weighted alias at run time).
    pub(crate) fn load_event_target(&self, ev: &QueuedEvent) -> Result<Option<FunctionRecord>, AwsError> {
        let Some(latest) = self.load(&ev.account, &ev.region, &ev.name)? else { return Ok(None) };
        match ev.qualifier.as_deref() {
            None | Some("$LATEST") => Ok(Some(latest)),
            Some(q) => match self.resolve_qualified(latest, q) {
                Ok(r) => self.route(r).map(Some),
                Err(e) if e.status == 404 => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Publishes `$LATEST` as a new version unless the latest version already has its
    /// code and configuration; answers that version. The caller holds the write lock.
    pub(crate) fn publish_now(&self, latest: &FunctionRecord, description: Option<String>) -> Result<FunctionRecord, AwsError> {
        let versions = self.all_versions(&latest.account, &latest.region, &latest.name)?;
        if let Some(last) = versions.last() {
            if publish_digest(last) == publish_digest(latest) {
                return Ok(last.clone());
            }
        }
        let mut fresh = latest.clone();
        let mut latest = latest.clone();
        let n = latest.last_version.max(versions.last().and_then(|v| v.version.as_deref()?.parse().ok()).unwrap_or(0)) + 1;
        latest.last_version = n;
        fresh.version = Some(n.to_string());
        fresh.alias = None;
        fresh.last_version = 0;
        fresh.policy = Vec::new();
        fresh.tags = Default::default();
        fresh.reserved_concurrency = None;
        if let Some(d) = description {
            fresh.description = d;
        }
        fresh.last_modified = last_modified();
        fresh.revision_id = new_revision();
        let mut batch = WriteBatch::new();
        batch.put(FUNCTIONS, FunctionRecord::key(&latest.account, &latest.region, &latest.name), serde_json::to_vec(&latest).map_err(|e| AwsError::internal(e.to_string()))?);
        batch.put(VERSIONS, version_key(&fresh.account, &fresh.region, &fresh.name, n), serde_json::to_vec(&fresh).map_err(|e| AwsError::internal(e.to_string()))?);
        self.store.write(batch).map_err(store_err)?;
        Ok(fresh)
    }

    /// CreateFunction with `Publish: true`: the new version's configuration, under the
    /// unqualified ARN (as AWS answers it).
    pub(crate) fn publish_on_create(&self, latest: &FunctionRecord) -> Result<t::FunctionConfiguration, AwsError> {
        let v = self.publish_now(latest, None)?;
        let mut c = v.configuration();
        c.function_arn = Some(latest.arn());
        Ok(c)
    }

    async fn publish_version(&self, ctx: &RequestContext, input: t::PublishVersionRequest) -> Result<t::FunctionConfiguration, AwsError> {
        if let Some(p) = &input.publish_to {
            return Err(invalid(format!("PublishTo {p} is not supported by Nimbus: it applies to Lambda Managed Instances functions only.")));
        }
        let _guard = self.write_lock.lock().await;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        if let Some(r) = &input.revision_id {
            if *r != latest.revision_id {
                return Err(AwsError::new(
                    412,
                    "PreconditionFailedException",
                    "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
                ));
            }
        }
        if let Some(sha) = &input.code_sha256 {
            if *sha != latest.code_sha256 {
                return Err(invalid(format!(
                    "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                    latest.code_sha256
                )));
            }
        }
        Ok(self.publish_now(&latest, input.description)?.configuration())
    }

    fn list_versions(&self, ctx: &RequestContext, input: t::ListVersionsByFunctionRequest) -> Result<t::ListVersionsByFunctionResponse, AwsError> {
        let max = input.max_items.unwrap_or(50);
        check_range(max, 1, 10000, "maxItems")?;
        let latest = self.resolve_latest(ctx, &input.function_name)?;
        let mut all = Vec::new();
        let mut c = latest.configuration();
        c.function_arn = Some(format!("{}:$LATEST", latest.arn()));
        all.push(list_item(c));
        all.extend(self.all_versions(&latest.account, &latest.region, &latest.name)?.iter().map(|v| list_item(v.configuration())));
        let start = match &input.marker {
            Some(m) => {
                let after = decode_marker(m)?;
                all.iter().position(|c| c.version.as_deref() == Some(after.as_str())).map(|i| i + 1).ok_or_else(|| invalid("Invalid Marker"))?
            }
            None => 0,
        };
        let page: Vec<_> = all.into_iter().skip(start).collect();
        let more = page.len() > max as usize;
        let page: Vec<_> = page.into_iter().take(max as usize).collect();
        let next_marker = if more { page.last().and_then(|c| c.version.as_ref()).map(|v| B64.encode(v)) } else { None };
        Ok(t::ListVersionsByFunctionResponse { next_marker, versions: Some(page) })
    }

    /// ListFunctions with `FunctionVersion=ALL`: every function's `$LATEST` (ARN
    /// qualified with `:$LATEST`) followed by its published versions.
    pub(crate) fn list_functions_all(&self, ctx: &RequestContext, input: &t::ListFunctionsRequest, max: i32) -> Result<t::ListFunctionsResponse, AwsError> {
        if let Some(v) = input.function_version.as_deref().filter(|v| *v != "ALL") {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )));
        }
        let after = input.marker.as_deref().map(decode_marker).transpose()?;
        let mut functions = Vec::new();
        let mut next_marker = None;
        let mut skipping = after.is_some();
        'outer: for latest in self.all_functions(&format!("{}/{}/", ctx.account_id, ctx.region))? {
            let mut items = vec![{
                let mut c = latest.configuration();
                c.function_arn = Some(format!("{}:$LATEST", latest.arn()));
                list_item(c)
            }];
            items.extend(self.all_versions(&latest.account, &latest.region, &latest.name)?.iter().map(|v| list_item(v.configuration())));
            for c in items {
                let id = format!("{}:{}", latest.name, c.version.as_deref().unwrap_or_default());
                if skipping {
                    if after.as_deref() == Some(id.as_str()) {
                        skipping = false;
                    }
                    continue;
                }
                if functions.len() as i32 == max {
                    next_marker = functions.last().map(|c: &t::FunctionConfiguration| {
                        B64.encode(format!("{}:{}", c.function_name.as_deref().unwrap_or_default(), c.version.as_deref().unwrap_or_default()))
                    });
                    break 'outer;
                }
                functions.push(c);
            }
        }
        if skipping {
            return Err(invalid("Invalid Marker"));
        }
        Ok(t::ListFunctionsResponse { next_marker, functions: Some(functions) })
    }

    /// DeleteFunction with a qualifier (in `Qualifier` or the name): deletes that version.
    /// `false` when the call names the whole function. The caller holds the write lock.
    pub(crate) fn delete_qualified(&self, ctx: &RequestContext, input: &t::DeleteFunctionRequest) -> Result<bool, AwsError> {
        let (region, account, name, q) = parse_name(ctx, &input.function_name)?;
        check_derived_qualifier(input.qualifier.as_deref(), q.as_deref())?;
        let Some(q) = input.qualifier.clone().or(q) else { return Ok(false) };
        // Refused before the function is looked up, as AWS does (recorded:
        // test_ops_with_arn_qualifier_mismatch[delete_function] on a missing function).
        if q == "$LATEST" {
            return Err(invalid("$LATEST version cannot be deleted without deleting the function."));
        }
        let latest = self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, None))?;
        if !is_version(&q) {
            return Err(invalid(format!("Deletion of aliases is not supported by DeleteFunction: use DeleteAlias to delete the alias {q}.")));
        }
        let Some(rec) = self.load_version(&account, &region, &name, &q)? else {
            return Err(not_found(&region, &account, &name, Some(&q)));
        };
        let users: Vec<String> = self
            .all_aliases(&account, &region, &name)?
            .into_iter()
            .filter(|a| a.function_version == q || a.weights.contains_key(&q))
            .map(|a| a.name)
            .collect();
        if !users.is_empty() {
            return Err(AwsError::new(
                409,
                "ResourceConflictException",
                format!("Unable to delete version because the following aliases reference it: [{}]", users.join(", ")),
            ));
        }
        let n: u64 = q.parse().map_err(|_| not_found(&region, &account, &name, Some(&q)))?;
        let mut batch = WriteBatch::new();
        batch.delete(VERSIONS, version_key(&account, &region, &name, n));
        batch.delete(PROVISIONED, format!("{}{q}", function_prefix(&account, &region, &name)));
        batch.delete(crate::invoke_config::EVENT_CONFIGS, format!("{}{q}", function_prefix(&account, &region, &name)));
        batch.delete(crate::runtime_mgmt::RUNTIME_CONFIGS, format!("{}{q}", function_prefix(&account, &region, &name)));
        self.store.write(batch).map_err(store_err)?;
        let key = FunctionRecord::key(&account, &region, &name);
        self.pools.remove_provisioned(&key, &q);
        self.provisioned.forget(&format!("{}{q}", function_prefix(&account, &region, &name)));
        let prefix = format!("{q}|");
        self.pools.retire_where(&key, |fp| fp.starts_with(&prefix));
        self.templates.retire(&rec.env_key());
        if rec.code_hex != latest.code_hex {
            self.gc_code(&rec.code_hex);
        }
        Ok(true)
    }

    /// With the function: every version, alias and provisioned configuration, their
    /// environments and templates, and code blobs no longer used.
    pub(crate) fn delete_all_versions(&self, latest: &FunctionRecord) -> Result<(), AwsError> {
        let (account, region, name) = (&latest.account, &latest.region, &latest.name);
        let versions = self.all_versions(account, region, name)?;
        let prefix = function_prefix(account, region, name);
        let mut batch = WriteBatch::new();
        for ks in [VERSIONS, ALIASES, PROVISIONED, crate::invoke_config::EVENT_CONFIGS, crate::runtime_mgmt::RUNTIME_CONFIGS] {
            for kv in self.store.prefix(ks, prefix.as_bytes(), Direction::Forward).map_err(store_err)? {
                let (k, _) = kv.map_err(store_err)?;
                if ks == PROVISIONED {
                    if let Ok(k) = std::str::from_utf8(&k) {
                        self.provisioned.forget(k);
                    }
                }
                batch.delete(ks, k.to_vec());
            }
        }
        self.store.write(batch).map_err(store_err)?;
        self.pools.retire_all(&FunctionRecord::key(account, region, name));
        for v in &versions {
            self.templates.retire(&v.env_key());
        }
        let mut seen = std::collections::HashSet::new();
        for v in versions {
            if v.code_hex != latest.code_hex && seen.insert(v.code_hex.clone()) {
                self.gc_code(&v.code_hex);
            }
        }
        Ok(())
    }

    /// Serves the operations of [`implements`].
    pub(crate) async fn call_versions(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::PublishVersion => Output::from(&self.publish_version(ctx, input.parse()?).await?),
            Op::ListVersionsByFunction => Output::from(&self.list_versions(ctx, input.parse()?)?),
            Op::CreateAlias => Output::from(&self.create_alias(ctx, input.parse()?).await?),
            Op::GetAlias => Output::from(&self.get_alias(ctx, input.parse()?)?),
            Op::UpdateAlias => Output::from(&self.update_alias(ctx, input.parse()?).await?),
            Op::DeleteAlias => {
                self.delete_alias(ctx, input.parse()?).await?;
                Ok(Output::default())
            }
            Op::ListAliases => Output::from(&self.list_aliases(ctx, input.parse()?)?),
            Op::PutProvisionedConcurrencyConfig => Output::from(&self.put_provisioned(ctx, input.parse()?).await?),
            Op::GetProvisionedConcurrencyConfig => Output::from(&self.get_provisioned(ctx, input.parse()?)?),
            Op::DeleteProvisionedConcurrencyConfig => {
                self.delete_provisioned(ctx, input.parse()?).await?;
                Ok(Output::default())
            }
            Op::ListProvisionedConcurrencyConfigs => Output::from(&self.list_provisioned(ctx, input.parse()?)?),
            _ => Err(AwsError::internal(format!("{} is not implemented", op.name()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_line_names_the_version() {
        let mut log = b"START RequestId: abc Version: $LATEST\nhello\nEND RequestId: abc\n".to_vec();
        label_start(&mut log, "7");
        assert_eq!(log, b"START RequestId: abc Version: 7\nhello\nEND RequestId: abc\n".to_vec());
        let mut log = b"START RequestId: abc Version: $LATEST\n".to_vec();
        label_start(&mut log, "$LATEST");
        assert_eq!(log, b"START RequestId: abc Version: $LATEST\n".to_vec());
        let mut odd = b"garbage".to_vec();
        label_start(&mut odd, "3");
        assert_eq!(odd, b"garbage".to_vec());
    }

    #[test]
    fn restore_replaces_init_duration() {
        let mut log = b"START x\nREPORT RequestId: x\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\tInit Duration: 3.21 ms\t\n".to_vec();
        label_restore(&mut log, "not-restored");
        assert!(String::from_utf8_lossy(&log).contains("Init Duration: 3.21 ms"));
        note_restored(Err(bytes::Bytes::new())).ok();
        RESTORED.lock().unwrap().push("s1".into());
        label_restore(&mut log, "s1");
        let text = String::from_utf8(log).unwrap();
        assert!(text.ends_with("Max Memory Used: 9 MB\tRestore Duration: 3.21 ms\tBilled Restore Duration: 4 ms\t\n"), "{text}");
    }

    #[test]
    fn version_keys_sort_numerically() {
        assert!(version_key("a", "r", "f", 9) < version_key("a", "r", "f", 10));
        assert!(is_version("12") && !is_version("live") && !is_version("") && !is_version("$LATEST"));
    }
}
