//! Runtime management: Put/GetRuntimeManagementConfig (keyspace `lambda.runtimeconfigs`,
//! one row per qualifier keyed `<account>/<region>/<name>/<qualifier>`) and the
//! `RuntimeVersionConfig` of `FunctionConfiguration`.
//!
//! Nimbus has one runtime version per runtime: the host's interpreter (Python, Node.js)
//! or, for `provided*`, this Nimbus build. Its `RuntimeVersionArn` is
//! `arn:aws:lambda:<region>::runtime:<64 hex>`, the SHA-256 of the runtime name and the
//! interpreter's `--version` (so it changes when the host's interpreter does). `Manual`
//! accepts only that ARN; `Auto` and `FunctionUpdate` take none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_protocol::{Input, Output};
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::model::FunctionRecord;
use crate::runtimes::Runtimes;
use crate::versions::{check_derived_qualifier, function_prefix, is_version};
use crate::{invalid, not_found, parse_name, store_err, Inner};

pub const RUNTIME_CONFIGS: &str = "lambda.runtimeconfigs";

/// Each runtime's interpreter on this host (set at start).
static INTERPRETERS: OnceLock<HashMap<String, Option<PathBuf>>> = OnceLock::new();
/// Each runtime's identity (name + interpreter version), computed on first use.
static IDENTITIES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

pub fn implements(op: Op) -> bool {
    matches!(op, Op::PutRuntimeManagementConfig | Op::GetRuntimeManagementConfig)
}

/// Records where each runtime's interpreter is, for [`version_arn`].
pub fn register(runtimes: &Runtimes) {
    let mut m = HashMap::new();
    for rt in crate::runtimes::PYTHON_RUNTIMES.iter().chain(crate::runtimes::NODE_RUNTIMES) {
        m.insert(rt.to_string(), runtimes.interpreter(rt));
    }
    let _ = INTERPRETERS.set(m);
}

fn identity(runtime: &str) -> String {
    let mut cache = IDENTITIES.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(id) = cache.get(runtime) {
        return id.clone();
    }
    let interpreter = INTERPRETERS.get().and_then(|m| m.get(runtime).cloned().flatten());
    let version = match interpreter {
        Some(p) => std::process::Command::new(&p)
            .arg("--version")
            .output()
            .ok()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout).trim(), String::from_utf8_lossy(&o.stderr).trim()))
            .unwrap_or_else(|| p.display().to_string()),
        None => format!("nimbus {}", env!("CARGO_PKG_VERSION")),
    };
    let id = format!("{runtime}|{version}");
    cache.insert(runtime.to_string(), id.clone());
    id
}

/// The one runtime version ARN of `runtime` in `region`.
pub fn version_arn(region: &str, runtime: &str) -> String {
    let digest = sha2::Sha256::digest(identity(runtime).as_bytes());
    format!("arn:aws:lambda:{region}::runtime:{}", hex::encode(digest))
}

/// `FunctionConfiguration.RuntimeVersionConfig` (zip functions have a runtime).
pub fn version_config(region: &str, runtime: Option<&str>) -> Option<t::RuntimeVersionConfig> {
    runtime.map(|rt| t::RuntimeVersionConfig { runtime_version_arn: Some(version_arn(region, rt)), error: None })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RuntimeConfig {
    update_runtime_on: String,
    runtime_version_arn: Option<String>,
}

impl Inner {
    /// The function at `$LATEST` or a published version (the qualifiers this API takes).
    fn runtime_target(&self, ctx: &RequestContext, raw: &str, qualifier: Option<&str>) -> Result<(FunctionRecord, String), AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        check_derived_qualifier(qualifier, q.as_deref())?;
        let q = qualifier.map(str::to_string).or(q).unwrap_or_else(|| "$LATEST".into());
        let latest = self.load(&account, &region, &name)?.ok_or_else(|| not_found(&region, &account, &name, None))?;
        if q == "$LATEST" {
            return Ok((latest, q));
        }
        if !is_version(&q) {
            return Err(invalid(format!("Runtime management configuration applies to $LATEST or a published version, not to the alias {q}.")));
        }
        let rec = self.load_version(&account, &region, &name, &q)?.ok_or_else(|| not_found(&region, &account, &name, Some(&q)))?;
        Ok((rec, q))
    }

    fn runtime_arn_of(rec: &FunctionRecord, q: &str) -> String {
        if q == "$LATEST" {
            rec.arn()
        } else {
            format!("{}:{q}", rec.arn())
        }
    }

    async fn put_runtime_config(&self, ctx: &RequestContext, i: t::PutRuntimeManagementConfigRequest) -> Result<t::PutRuntimeManagementConfigResponse, AwsError> {
        if !["Auto", "FunctionUpdate", "Manual"].contains(&i.update_runtime_on.as_str()) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{}' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]",
                i.update_runtime_on
            )));
        }
        let _guard = self.write_lock.lock().await;
        let (rec, q) = self.runtime_target(ctx, &i.function_name, i.qualifier.as_deref())?;
        let arn = match (i.update_runtime_on.as_str(), i.runtime_version_arn) {
            ("Manual", None) => return Err(invalid("RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")),
            ("Manual", Some(a)) => {
                let own = version_arn(&rec.region, rec.runtime.as_deref().unwrap_or_default());
                if a != own {
                    return Err(invalid(format!(
                        "The runtime version {a} is not available for runtime {}: Nimbus has one runtime version per runtime ({own}).",
                        rec.runtime.as_deref().unwrap_or_default()
                    )));
                }
                Some(a)
            }
            (mode, Some(_)) => return Err(invalid(format!("RuntimeVersionArn can be set only when UpdateRuntimeOn is Manual, not {mode}."))),
            (_, None) => None,
        };
        let cfg = RuntimeConfig { update_runtime_on: i.update_runtime_on, runtime_version_arn: arn };
        let v = serde_json::to_vec(&cfg).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store
            .put(RUNTIME_CONFIGS, format!("{}{q}", function_prefix(&rec.account, &rec.region, &rec.name)), v)
            .map_err(store_err)?;
        Ok(t::PutRuntimeManagementConfigResponse {
            update_runtime_on: Some(cfg.update_runtime_on),
            function_arn: Some(Self::runtime_arn_of(&rec, &q)),
            runtime_version_arn: cfg.runtime_version_arn,
        })
    }

    fn get_runtime_config(&self, ctx: &RequestContext, i: t::GetRuntimeManagementConfigRequest) -> Result<t::GetRuntimeManagementConfigResponse, AwsError> {
        let (rec, q) = self.runtime_target(ctx, &i.function_name, i.qualifier.as_deref())?;
        let key = format!("{}{q}", function_prefix(&rec.account, &rec.region, &rec.name));
        let cfg = match self.store.get(RUNTIME_CONFIGS, key.as_bytes()).map_err(store_err)? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| AwsError::internal(format!("corrupt runtime management config: {e}")))?,
            None => RuntimeConfig { update_runtime_on: "Auto".into(), runtime_version_arn: None },
        };
        Ok(t::GetRuntimeManagementConfigResponse {
            update_runtime_on: Some(cfg.update_runtime_on),
            runtime_version_arn: cfg.runtime_version_arn,
            function_arn: Some(Self::runtime_arn_of(&rec, &q)),
        })
    }

    /// Serves the operations of [`implements`].
    pub(crate) async fn runtime_mgmt_call(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::PutRuntimeManagementConfig => Output::from(&self.put_runtime_config(ctx, input.parse()?).await?),
            Op::GetRuntimeManagementConfig => Output::from(&self.get_runtime_config(ctx, input.parse()?)?),
            _ => Err(AwsError::internal(format!("{} is not implemented", op.name()))),
        }
    }
}
