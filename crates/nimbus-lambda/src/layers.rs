//! Lambda layers: the layer API (`/2018-10-31/layers/...`), the `Layers` of a function,
//! and the merged, read-only `/opt` an environment sees.
//!
//! - Layer versions are stored in keyspace `lambda.layers` (one JSON row per version,
//!   keyed `<account>/<region>/<name>/<version, 10 digits>`); the last number given to
//!   each name lives in `lambda.layer-names`, so a number is never reused, even after
//!   every version was deleted (as on AWS). Zips are content-addressed blobs
//!   (`lambda/<sha256-hex>`) shared with function code, so `Content.Location` is served
//!   by the same code listener; a blob is deleted once no function, no function's layer
//!   and no layer version refers to it.
//! - A function records each layer as `{Arn, CodeSize}` plus its content digest and
//!   unzipped size: a function keeps working after `DeleteLayerVersion` (its blob stays).
//! - Layer version permissions (`AddLayerVersionPermission`, ...) are stored with the
//!   version and rendered as Lambda renders them. They are enforced: another account may
//!   get or use a layer version only when a statement names its account or `*`.
//!   Nimbus has no AWS Organizations, so a statement restricted by `OrganizationId`
//!   never grants access to another account.
//! - At run time the layers of a function are extracted in order into one directory per
//!   distinct layer list (`<data_dir>/lambda/opt/<digest of the list>`; later layers
//!   overwrite earlier files), reused by every function with the same list, removed when
//!   no function uses it, and bound read-only at `/opt` in the sandbox. With no private
//!   filesystem (`NIMBUS_LAMBDA_ISOLATION=off`, or a host without namespaces) there is no
//!   `/opt`: the runtime search paths (`PATH`, `LD_LIBRARY_PATH`, `NODE_PATH`, Python's
//!   `sys.path` via `NIMBUS_LAMBDA_OPT_DIR`) name the extracted directory instead.
//! - Layers with an `extensions/` directory are refused on a function: Nimbus has no
//!   Extensions API to run them.

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine;
use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_protocol::{Input, Output};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::model::FunctionRecord;
use crate::runtimes::{self, Launch, Runtimes};
use crate::{code, invalid, last_modified, new_revision, store_err, Inner, B64};

pub const LAYERS: &str = "lambda.layers";
pub const LAYER_NAMES: &str = "lambda.layer-names";
/// AWS: at most five layers per function.
pub const MAX_LAYERS: usize = 5;
/// AWS's limit on a layer version policy document.
const MAX_POLICY_BYTES: usize = 20 * 1024;
/// Set in an environment whose layers are not at `/opt` (no private filesystem).
pub const OPT_DIR_VAR: &str = "NIMBUS_LAMBDA_OPT_DIR";

/// One stored layer version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerVersion {
    pub account: String,
    pub region: String,
    pub name: String,
    pub version: i64,
    #[serde(default)]
    pub description: String,
    pub created: String,
    #[serde(default)]
    pub compatible_runtimes: Option<Vec<String>>,
    #[serde(default)]
    pub compatible_architectures: Option<Vec<String>>,
    #[serde(default)]
    pub license_info: Option<String>,
    pub code_sha256: String,
    pub code_hex: String,
    pub code_size: i64,
    pub unzipped: u64,
    /// The zip has files under `extensions/` (Lambda extensions).
    #[serde(default)]
    pub extensions: bool,
    #[serde(default)]
    pub policy: Vec<Value>,
    pub revision_id: String,
}

impl LayerVersion {
    fn key(account: &str, region: &str, name: &str, version: i64) -> String {
        format!("{account}/{region}/{name}/{version:010}")
    }
    pub fn layer_arn(&self) -> String {
        layer_arn(&self.region, &self.account, &self.name)
    }
    pub fn arn(&self) -> String {
        format!("{}:{}", self.layer_arn(), self.version)
    }
    fn list_item(&self) -> t::LayerVersionsListItem {
        t::LayerVersionsListItem {
            layer_version_arn: Some(self.arn()),
            version: Some(self.version),
            description: Some(self.description.clone()),
            created_date: Some(self.created.clone()),
            compatible_runtimes: self.compatible_runtimes.clone(),
            license_info: self.license_info.clone(),
            compatible_architectures: self.compatible_architectures.clone(),
        }
    }
    fn matches(&self, runtime: Option<&str>, arch: Option<&str>) -> bool {
        let has = |list: &Option<Vec<String>>, v: Option<&str>| match v {
            None => true,
            Some(v) => list.as_ref().is_some_and(|l| l.iter().any(|x| x == v)),
        };
        has(&self.compatible_runtimes, runtime) && has(&self.compatible_architectures, arch)
    }
    /// Whether account `caller` may get (and so use) this version.
    fn allows(&self, caller: &str) -> bool {
        caller == self.account
            || self.policy.iter().any(|s| {
                // A statement limited to an organization never matches: Nimbus has no Organizations.
                if s.get("Condition").is_some() {
                    return false;
                }
                match s.get("Principal") {
                    Some(Value::String(p)) => p == "*",
                    Some(Value::Object(o)) => o.get("AWS").and_then(Value::as_str) == Some(&format!("arn:aws:iam::{caller}:root")),
                    _ => false,
                }
            })
    }
}

/// A layer as a function records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionLayer {
    pub arn: String,
    pub code_size: i64,
    pub code_hex: String,
    pub unzipped: u64,
}

/// `FunctionConfiguration.Layers` (absent when the function has none, as on AWS).
pub fn render(layers: &[FunctionLayer]) -> Option<Vec<t::Layer>> {
    (!layers.is_empty()).then(|| {
        layers.iter().map(|l| t::Layer { arn: Some(l.arn.clone()), code_size: Some(l.code_size), ..Default::default() }).collect()
    })
}

/// What the environment fingerprint adds for layers (empty without layers).
pub fn fingerprint(layers: &[FunctionLayer]) -> String {
    layers.iter().map(|l| format!("|{}", l.code_hex)).collect()
}

pub fn layer_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:layer:{name}")
}

/// The operations this module serves.
pub fn implements(op: Op) -> bool {
    matches!(
        op,
        Op::PublishLayerVersion
            | Op::GetLayerVersion
            | Op::GetLayerVersionByArn
            | Op::ListLayers
            | Op::ListLayerVersions
            | Op::DeleteLayerVersion
            | Op::AddLayerVersionPermission
            | Op::RemoveLayerVersionPermission
            | Op::GetLayerVersionPolicy
    )
}

fn not_found() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "The resource you requested does not exist.")
}

fn caller(ctx: &RequestContext) -> String {
    ctx.assumed_role_arn.clone().unwrap_or_else(|| format!("arn:aws:iam::{}:root", ctx.account_id))
}

fn denied(ctx: &RequestContext, action: &str, resource: &str) -> AwsError {
    AwsError::new(
        403,
        "AccessDeniedException",
        format!(
            "User: {} is not authorized to perform: lambda:{action} on resource: {resource} because no resource-based policy allows the lambda:{action} action",
            caller(ctx)
        ),
    )
}

/// `LayerName` (a name or a layer ARN) → (region, account, name).
fn parse_layer_name(ctx: &RequestContext, raw: &str) -> Result<(String, String, String), AwsError> {
    if !raw.starts_with("arn:") {
        return Ok((ctx.region.clone(), ctx.account_id.clone(), raw.to_string()));
    }
    match raw.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", region, account, "layer", name] if !name.is_empty() => {
            Ok((region.to_string(), account.to_string(), name.to_string()))
        }
        _ => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{raw}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
        ))),
    }
}

/// A layer version ARN → (region, account, name, version).
fn parse_version_arn(raw: &str) -> Option<(String, String, String, i64)> {
    match raw.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", region, account, "layer", name, v] if !name.is_empty() => {
            Some((region.to_string(), account.to_string(), name.to_string(), v.parse().ok()?))
        }
        _ => None,
    }
}

/// Unzipped size of a zip (from its central directory) and whether it holds files under
/// `extensions/`; 0/false for what is not a zip (code::check refuses it).
pub fn inspect(zip: &[u8]) -> (u64, bool) {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(zip)) else { return (0, false) };
    let mut total: u64 = 0;
    let mut extensions = false;
    for i in 0..archive.len() {
        if let Ok(f) = archive.by_index_raw(i) {
            total = total.saturating_add(f.size());
            if !f.is_dir() && f.name().trim_start_matches("./").starts_with("extensions/") {
                extensions = true;
            }
        }
    }
    (total, extensions)
}

/// AWS's limit on function code plus layers, unzipped.
pub fn check_size(function_unzipped: u64, layers: &[FunctionLayer]) -> Result<(), AwsError> {
    if layers.is_empty() {
        return Ok(());
    }
    let total = layers.iter().fold(function_unzipped, |acc, l| acc.saturating_add(l.unzipped));
    if total > code::MAX_UNZIPPED {
        return Err(invalid(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {total} bytes.",
            code::MAX_UNZIPPED
        )));
    }
    Ok(())
}

/// Starts `runtime`; a `provided*` function whose zip has no `bootstrap` runs the one its
/// layers put at `/opt/bootstrap`, as on AWS.
pub fn launch(rt: &Runtimes, runtime: &str, code_dir: &Path, opt_dir: Option<&Path>) -> Result<Launch, String> {
    match rt.launch(runtime, code_dir) {
        Err(e) if runtimes::PROVIDED_RUNTIMES.contains(&runtime) => match opt_dir.map(|o| o.join("bootstrap")).filter(|b| b.is_file()) {
            Some(program) => Ok(Launch::Program { program, args: vec![] }),
            None => Err(e),
        },
        other => other,
    }
}

/// The search paths Lambda sets for layers: `PATH` (+`/opt/bin`), `LD_LIBRARY_PATH`,
/// `NODE_PATH` for Node.js, and for Python the layer root when it is not `/opt`
/// ([`OPT_DIR_VAR`], empty when there is none).
/// `opt`: where the environment sees the layers (`/opt` in the sandbox, the extracted
/// directory without one, `None` without either).
pub fn search_paths(vars: &mut BTreeMap<String, String>, runtime: &str, task_root: &Path, runtime_dir: &Path, opt: Option<&Path>, private_fs: bool) {
    let (task, rtd) = (task_root.display(), runtime_dir.display());
    if let Some(o) = opt {
        let path = vars.get("PATH").cloned().unwrap_or_default();
        vars.insert("PATH".into(), format!("{path}:{}/bin", o.display()));
    }
    let mut ld = format!("{rtd}:{rtd}/lib:{task}:{task}/lib");
    if let Some(o) = opt {
        ld.push_str(&format!(":{}/lib", o.display()));
    }
    vars.insert("LD_LIBRARY_PATH".into(), ld);
    if let Some(major) = runtime.strip_prefix("nodejs").and_then(|r| r.strip_suffix(".x")) {
        let mut np = String::new();
        if let Some(o) = opt {
            np.push_str(&format!("{0}/nodejs/node{major}/node_modules:{0}/nodejs/node_modules:", o.display()));
        }
        np.push_str(&format!("{rtd}/node_modules:{rtd}:{task}"));
        vars.insert("NODE_PATH".into(), np);
    }
    if !private_fs {
        // Empty without layers: the runtime must not pick up the host's own /opt.
        vars.insert(OPT_DIR_VAR.into(), opt.map(|o| o.display().to_string()).unwrap_or_default());
    }
}

impl Inner {
    fn opt_root(&self) -> PathBuf {
        self.code_root.parent().map(|p| p.join("opt")).unwrap_or_else(|| self.code_root.join("../opt"))
    }

    fn load_layer(&self, region: &str, account: &str, name: &str, version: i64) -> Result<Option<LayerVersion>, AwsError> {
        let raw = self.store.get(LAYERS, LayerVersion::key(account, region, name, version).as_bytes()).map_err(store_err)?;
        match raw {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt layer record: {e}"))),
        }
    }

    fn save_layer(&self, l: &LayerVersion) -> Result<(), AwsError> {
        let v = serde_json::to_vec(l).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(LAYERS, LayerVersion::key(&l.account, &l.region, &l.name, l.version), v).map_err(store_err)
    }

    fn scan_layers(&self, prefix: &str, dir: Direction) -> Result<Vec<LayerVersion>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(LAYERS, prefix.as_bytes(), dir).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(l) = serde_json::from_slice::<LayerVersion>(&v) {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// A version the caller owns (for publishing, deleting and managing permissions).
    fn owned_layer(&self, ctx: &RequestContext, raw: &str, version: i64, action: &str) -> Result<LayerVersion, AwsError> {
        let (region, account, name) = parse_layer_name(ctx, raw)?;
        let arn = format!("{}:{version}", layer_arn(&region, &account, &name));
        if account != ctx.account_id {
            return Err(denied(ctx, action, &arn));
        }
        self.load_layer(&region, &account, &name, version)?
            .ok_or_else(|| AwsError::new(404, "ResourceNotFoundException", format!("Layer version {arn} does not exist.")))
    }

    /// A version the caller may read: its own, or one whose policy grants its account.
    fn readable_layer(&self, ctx: &RequestContext, region: &str, account: &str, name: &str, version: i64) -> Result<LayerVersion, AwsError> {
        let found = self.load_layer(region, account, name, version)?;
        match found {
            Some(l) if l.allows(&ctx.account_id) => Ok(l),
            _ if account != ctx.account_id => Err(denied(ctx, "GetLayerVersion", &format!("{}:{version}", layer_arn(region, account, name)))),
            _ => Err(not_found()),
        }
    }

    fn layer_response(&self, l: &LayerVersion) -> t::GetLayerVersionResponse {
        t::GetLayerVersionResponse {
            content: Some(t::LayerVersionContentOutput {
                location: Some(format!("{}{}", self.code_url, l.code_hex)),
                code_sha256: Some(l.code_sha256.clone()),
                code_size: Some(l.code_size),
                ..Default::default()
            }),
            layer_arn: Some(l.layer_arn()),
            layer_version_arn: Some(l.arn()),
            description: Some(l.description.clone()),
            created_date: Some(l.created.clone()),
            version: Some(l.version),
            compatible_runtimes: l.compatible_runtimes.clone(),
            license_info: l.license_info.clone(),
            compatible_architectures: l.compatible_architectures.clone(),
        }
    }

    /// Serves one layer operation (see [`implements`]).
    pub(crate) async fn layer_call(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::PublishLayerVersion => Output::from(&self.publish_layer_version(ctx, input.parse()?).await?),
            Op::GetLayerVersion => {
                let i: t::GetLayerVersionRequest = input.parse()?;
                check_version_number(i.version_number)?;
                let (region, account, name) = parse_layer_name(ctx, &i.layer_name)?;
                Output::from(&self.layer_response(&self.readable_layer(ctx, &region, &account, &name, i.version_number)?))
            }
            Op::GetLayerVersionByArn => {
                let i: t::GetLayerVersionByArnRequest = input.parse()?;
                let (region, account, name, version) = parse_version_arn(&i.arn).ok_or_else(not_found)?;
                Output::from(&self.layer_response(&self.readable_layer(ctx, &region, &account, &name, version)?))
            }
            Op::ListLayers => Output::from(&self.list_layers(ctx, input.parse()?)?),
            Op::ListLayerVersions => Output::from(&self.list_layer_versions(ctx, input.parse()?)?),
            Op::DeleteLayerVersion => {
                let i: t::DeleteLayerVersionRequest = input.parse()?;
                check_version_number(i.version_number)?;
                self.delete_layer_version(ctx, &i.layer_name, i.version_number).await?;
                Ok(Output::default())
            }
            Op::AddLayerVersionPermission => Output::from(&self.add_layer_permission(ctx, input.parse()?).await?),
            Op::RemoveLayerVersionPermission => {
                let i: t::RemoveLayerVersionPermissionRequest = input.parse()?;
                let _guard = self.write_lock.lock().await;
                let mut l = self.owned_layer(ctx, &i.layer_name, i.version_number, "RemoveLayerVersionPermission")?;
                check_layer_revision(&l, &i.revision_id)?;
                let before = l.policy.len();
                l.policy.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(i.statement_id.as_str()));
                if l.policy.len() == before {
                    return Err(AwsError::new(404, "ResourceNotFoundException", format!("Statement {} is not found in resource policy.", i.statement_id)));
                }
                l.revision_id = new_revision();
                self.save_layer(&l)?;
                Ok(Output::default())
            }
            Op::GetLayerVersionPolicy => {
                let i: t::GetLayerVersionPolicyRequest = input.parse()?;
                let l = self.owned_layer(ctx, &i.layer_name, i.version_number, "GetLayerVersionPolicy")?;
                let doc = policy_document(&l).ok_or_else(|| AwsError::new(404, "ResourceNotFoundException", "No policy is associated with the given resource."))?;
                Output::from(&t::GetLayerVersionPolicyResponse { policy: Some(doc), revision_id: Some(l.revision_id) })
            }
            _ => Err(AwsError::internal(format!("{} is not a layer operation", op.name()))),
        }
    }

    async fn publish_layer_version(&self, ctx: &RequestContext, input: t::PublishLayerVersionRequest) -> Result<t::PublishLayerVersionResponse, AwsError> {
        let (region, account, name) = parse_layer_name(ctx, &input.layer_name)?;
        if account != ctx.account_id || region != ctx.region {
            return Err(denied(ctx, "PublishLayerVersion", &layer_arn(&region, &account, &name)));
        }
        let c = &input.content;
        let (zip, from_s3) = self.code_from(ctx, c.zip_file.as_ref().map(|z| &z.0), &c.s3_bucket, &c.s3_key, &c.s3_object_version, false).await?;
        let (unzipped, extensions) = inspect(&zip);
        // Under the lock, as CreateFunction: a concurrent garbage collection must not
        // delete the blob before the version that refers to it is written.
        let _guard = self.write_lock.lock().await;
        let checked = self.put_code(zip, "PublishLayerVersion", from_s3).await?;
        let name_key = format!("{account}/{region}/{name}");
        let last = self
            .store
            .get(LAYER_NAMES, name_key.as_bytes())
            .map_err(store_err)?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        let l = LayerVersion {
            account,
            region,
            name,
            version: last + 1,
            description: input.description.clone().unwrap_or_default(),
            created: last_modified(),
            // Empty lists are kept and shown as given (AWS answers `"CompatibleRuntimes": []`:
            // localstack's test_lambda_api.snapshot.json, publish_empty_result).
            compatible_runtimes: input.compatible_runtimes.clone(),
            compatible_architectures: input.compatible_architectures.clone(),
            license_info: input.license_info.clone(),
            code_sha256: checked.sha_b64,
            code_hex: checked.sha_hex,
            code_size: checked.size,
            unzipped,
            extensions,
            policy: Vec::new(),
            revision_id: new_revision(),
        };
        let mut batch = WriteBatch::new();
        batch.put(LAYER_NAMES, name_key, l.version.to_string().into_bytes());
        batch.put(LAYERS, LayerVersion::key(&l.account, &l.region, &l.name, l.version), serde_json::to_vec(&l).map_err(|e| AwsError::internal(e.to_string()))?);
        self.store.write(batch).map_err(store_err)?;
        let r = self.layer_response(&l);
        Ok(t::PublishLayerVersionResponse {
            content: r.content,
            layer_arn: r.layer_arn,
            layer_version_arn: r.layer_version_arn,
            description: r.description,
            created_date: r.created_date,
            version: r.version,
            compatible_runtimes: r.compatible_runtimes,
            license_info: r.license_info,
            compatible_architectures: r.compatible_architectures,
        })
    }

    fn list_layers(&self, ctx: &RequestContext, input: t::ListLayersRequest) -> Result<t::ListLayersResponse, AwsError> {
        let max = input.max_items.unwrap_or(50).clamp(1, 50) as usize;
        let after = match &input.marker {
            Some(m) => Some(String::from_utf8(B64.decode(m).map_err(|_| invalid("Invalid Marker"))?).map_err(|_| invalid("Invalid Marker"))?),
            None => None,
        };
        let all = self.scan_layers(&format!("{}/{}/", ctx.account_id, ctx.region), Direction::Forward)?;
        // Versions come grouped by name, oldest first: keep the newest match of each name.
        let mut latest: Vec<LayerVersion> = Vec::new();
        for l in all {
            if after.as_deref().is_some_and(|a| l.name.as_str() <= a) || !l.matches(input.compatible_runtime.as_deref(), input.compatible_architecture.as_deref()) {
                continue;
            }
            match latest.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => latest.push(l),
            }
        }
        let next_marker = (latest.len() > max).then(|| B64.encode(&latest[max - 1].name));
        latest.truncate(max);
        let layers = latest
            .iter()
            .map(|l| t::LayersListItem { layer_name: Some(l.name.clone()), layer_arn: Some(l.layer_arn()), latest_matching_version: Some(l.list_item()) })
            .collect();
        Ok(t::ListLayersResponse { next_marker, layers: Some(layers) })
    }

    fn list_layer_versions(&self, ctx: &RequestContext, input: t::ListLayerVersionsRequest) -> Result<t::ListLayerVersionsResponse, AwsError> {
        let (region, account, name) = parse_layer_name(ctx, &input.layer_name)?;
        if account != ctx.account_id {
            return Err(denied(ctx, "ListLayerVersions", &layer_arn(&region, &account, &name)));
        }
        let max = input.max_items.unwrap_or(50).clamp(1, 50) as usize;
        let before = match &input.marker {
            Some(m) => Some(
                String::from_utf8(B64.decode(m).map_err(|_| invalid("Invalid Marker"))?)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| invalid("Invalid Marker"))?,
            ),
            None => None,
        };
        // Newest first, as AWS lists them.
        let mut versions: Vec<LayerVersion> = self
            .scan_layers(&format!("{account}/{region}/{name}/"), Direction::Reverse)?
            .into_iter()
            .filter(|l| l.name == name && before.is_none_or(|b| l.version < b))
            .filter(|l| l.matches(input.compatible_runtime.as_deref(), input.compatible_architecture.as_deref()))
            .collect();
        let next_marker = (versions.len() > max).then(|| B64.encode(versions[max - 1].version.to_string()));
        versions.truncate(max);
        Ok(t::ListLayerVersionsResponse { next_marker, layer_versions: Some(versions.iter().map(LayerVersion::list_item).collect()) })
    }

    async fn delete_layer_version(&self, ctx: &RequestContext, raw: &str, version: i64) -> Result<(), AwsError> {
        let (region, account, name) = parse_layer_name(ctx, raw)?;
        if account != ctx.account_id {
            return Err(denied(ctx, "DeleteLayerVersion", &format!("{}:{version}", layer_arn(&region, &account, &name))));
        }
        let _guard = self.write_lock.lock().await;
        // Deleting a version that does not exist succeeds, as on AWS.
        let Some(l) = self.load_layer(&region, &account, &name, version)? else { return Ok(()) };
        self.store.delete(LAYERS, LayerVersion::key(&account, &region, &name, version)).map_err(store_err)?;
        self.gc_code(&l.code_hex);
        Ok(())
    }

    async fn add_layer_permission(&self, ctx: &RequestContext, i: t::AddLayerVersionPermissionRequest) -> Result<t::AddLayerVersionPermissionResponse, AwsError> {
        let _guard = self.write_lock.lock().await;
        let mut l = self.owned_layer(ctx, &i.layer_name, i.version_number, "AddLayerVersionPermission")?;
        if l.policy.iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(i.statement_id.as_str())) {
            return Err(AwsError::new(
                409,
                "ResourceConflictException",
                format!("The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.", i.statement_id),
            ));
        }
        check_layer_revision(&l, &i.revision_id)?;
        let principal = if i.principal == "*" {
            Value::String("*".into())
        } else if nimbus_types::is_account_id(&i.principal) {
            json!({"AWS": format!("arn:aws:iam::{}:root", i.principal)})
        } else {
            json!({"AWS": i.principal})
        };
        let mut statement = json!({
            "Sid": i.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": i.action,
            "Resource": l.arn(),
        });
        if let Some(org) = &i.organization_id {
            statement["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": org}});
        }
        l.policy.push(statement.clone());
        if policy_document(&l).map(|d| d.len()).unwrap_or(0) > MAX_POLICY_BYTES {
            return Err(AwsError::new(400, "PolicyLengthExceededException", "The final policy size is bigger than the limit."));
        }
        l.revision_id = new_revision();
        self.save_layer(&l)?;
        Ok(t::AddLayerVersionPermissionResponse { statement: Some(statement.to_string()), revision_id: Some(l.revision_id) })
    }

    /// Resolves a function's `Layers` (version ARNs, in order) as AWS checks them.
    pub(crate) fn function_layers(&self, ctx: &RequestContext, region: &str, arns: &[String]) -> Result<Vec<FunctionLayer>, AwsError> {
        if arns.len() > MAX_LAYERS {
            return Err(invalid(format!("Cannot reference more than {MAX_LAYERS} layers.")));
        }
        let mut seen: Vec<(String, &str)> = Vec::new();
        let mut out = Vec::new();
        for arn in arns {
            let missing = || invalid(format!("Layer version {arn} does not exist."));
            let (lregion, account, name, version) = parse_version_arn(arn).ok_or_else(missing)?;
            let found = self.load_layer(&lregion, &account, &name, version)?;
            let l = if account == ctx.account_id {
                if lregion != region {
                    return Err(invalid(format!(
                        "Layers are not in the same region as the function. Layers are expected to be in region {region}."
                    )));
                }
                found.ok_or_else(missing)?
            } else {
                // Another account's layer: whether it exists is not revealed without a grant.
                match found {
                    Some(l) if lregion == region && l.allows(&ctx.account_id) => l,
                    _ => return Err(denied(ctx, "GetLayerVersion", arn)),
                }
            };
            let layer = layer_arn(&lregion, &account, &name);
            if let Some((_, first)) = seen.iter().find(|(l, _)| *l == layer) {
                return Err(invalid(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {first} and {arn} are versions of the same layer."
                )));
            }
            seen.push((layer, arn.as_str()));
            if l.extensions {
                return Err(invalid(format!(
                    "Layer version {arn} contains Lambda extensions (an extensions/ directory). Nimbus has no Lambda Extensions API and cannot run them: use a layer without extensions."
                )));
            }
            out.push(FunctionLayer { arn: l.arn(), code_size: l.code_size, code_hex: l.code_hex.clone(), unzipped: l.unzipped });
        }
        Ok(out)
    }

    /// Unzipped size of a function's stored code (read from its blob).
    pub(crate) async fn code_unzipped(&self, code_hex: &str) -> Result<u64, AwsError> {
        let store = self.store.clone();
        let id = format!("lambda/{code_hex}");
        tokio::task::spawn_blocking(move || -> Result<u64, AwsError> {
            let blob = store.blobs().get(&id).map_err(store_err)?.ok_or_else(|| AwsError::internal("the function's code is missing from the blob store"))?;
            let data = blob.read_to_vec().map_err(|e| AwsError::internal(e.to_string()))?;
            Ok(inspect(&data).0)
        })
        .await
        .map_err(|e| AwsError::internal(e.to_string()))?
    }

    /// Whether blob `hexid` is still a layer's content (a layer version's or a function's layer).
    pub(crate) fn layer_blob_in_use(&self, hexid: &str, functions: &[FunctionRecord]) -> bool {
        if functions.iter().any(|f| f.layers.iter().any(|l| l.code_hex == hexid)) {
            return true;
        }
        match self.scan_layers("", Direction::Forward) {
            Ok(all) => all.iter().any(|l| l.code_hex == hexid),
            // When in doubt, keep the blob.
            Err(_) => true,
        }
    }

    /// Removes extracted layer directories no function uses, and the blobs of layers
    /// that were only kept for functions that no longer use them.
    pub(crate) fn gc_layers(&self, dropped: &[FunctionLayer]) {
        for l in dropped {
            self.gc_code(&l.code_hex);
        }
        let Ok(all) = self.all_functions("") else { return };
        let used: HashSet<String> = all.iter().filter(|f| !f.layers.is_empty()).map(|f| opt_id(&f.layers)).collect();
        let Ok(rd) = std::fs::read_dir(self.opt_root()) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // `.tmp-*` are extractions in progress.
            if !name.starts_with('.') && !used.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// The function's layers merged in order into one read-only directory (extracted on
    /// first use, shared by every function with the same layer list); `None` without layers.
    pub(crate) async fn opt_dir(&self, rec: &FunctionRecord, chown: bool) -> Result<Option<PathBuf>, AwsError> {
        if rec.layers.is_empty() {
            return Ok(None);
        }
        let dir = self.opt_root().join(opt_id(&rec.layers));
        if !dir.is_dir() {
            let store = self.store.clone();
            let hexes: Vec<String> = rec.layers.iter().map(|l| l.code_hex.clone()).collect();
            let dest = dir.clone();
            tokio::task::spawn_blocking(move || extract(&store, &hexes, &dest))
                .await
                .map_err(|e| AwsError::internal(e.to_string()))?
                .map_err(|e| AwsError::new(500, "ServiceException", format!("could not unpack the function's layers: {e}")))?;
        }
        if chown {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || nimbus_sandbox::prepare_code_dir(&d, nimbus_sandbox::SANDBOX_UID, nimbus_sandbox::SANDBOX_GID))
                .await
                .map_err(|e| AwsError::internal(e.to_string()))?
                .map_err(|e| AwsError::new(500, "ServiceException", format!("could not prepare the function's layers: {e}")))?;
        }
        Ok(Some(dir))
    }
}

fn check_version_number(v: i64) -> Result<(), AwsError> {
    if v < 1 {
        return Err(invalid("Layer Version Cannot be less than 1"));
    }
    Ok(())
}

fn check_layer_revision(l: &LayerVersion, given: &Option<String>) -> Result<(), AwsError> {
    match given {
        Some(r) if *r != l.revision_id => Err(AwsError::new(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

fn policy_document(l: &LayerVersion) -> Option<String> {
    (!l.policy.is_empty()).then(|| json!({"Version": "2012-10-17", "Id": "default", "Statement": l.policy}).to_string())
}

/// The directory name of a layer list: the digest of the ordered content digests.
fn opt_id(layers: &[FunctionLayer]) -> String {
    let joined: Vec<&str> = layers.iter().map(|l| l.code_hex.as_str()).collect();
    hex::encode(Sha256::digest(joined.join(",").as_bytes()))
}

/// Extracts the zips `hexes` in order into `dest` (later files replace earlier ones), via a
/// temporary sibling renamed into place.
fn extract(store: &nimbus_store::Store, hexes: &[String], dest: &Path) -> Result<(), String> {
    code::fill_dir(dest, |tmp| {
        for h in hexes {
            let blob = store.blobs().get(&format!("lambda/{h}")).map_err(|e| e.to_string())?.ok_or("a layer's content is missing from the blob store")?;
            let data = blob.read_to_vec().map_err(|e| e.to_string())?;
            code::unpack_into(&data, tmp)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn inspect_finds_size_and_extensions() {
        assert_eq!(inspect(&zip_of(&[("python/a.py", b"abc"), ("bin/x", b"12")])), (5, false));
        assert!(inspect(&zip_of(&[("extensions/ext", b"#!/bin/sh")])).1);
        assert_eq!(inspect(b"not a zip"), (0, false));
    }

    #[test]
    fn arns() {
        assert_eq!(parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"), Some(("us-east-1".into(), "123456789012".into(), "my-layer".into(), 3)));
        assert_eq!(parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer"), None);
        assert_eq!(parse_version_arn("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:x"), None);
    }

    #[test]
    fn size_limit() {
        let l = |n| FunctionLayer { arn: "a".into(), code_size: 1, code_hex: "h".into(), unzipped: n };
        assert!(check_size(code::MAX_UNZIPPED, &[]).is_ok());
        assert!(check_size(code::MAX_UNZIPPED - 10, &[l(10)]).is_ok());
        let e = check_size(code::MAX_UNZIPPED - 10, &[l(11)]).unwrap_err();
        assert_eq!(e.message, "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is 262144001 bytes.");
    }

    #[test]
    fn paths_point_at_opt() {
        let mut v = BTreeMap::new();
        v.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
        search_paths(&mut v, "nodejs20.x", Path::new("/var/task"), Path::new("/var/runtime"), Some(Path::new("/opt")), true);
        assert_eq!(v["PATH"], "/usr/bin:/bin:/opt/bin");
        assert_eq!(v["LD_LIBRARY_PATH"], "/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib");
        assert_eq!(v["NODE_PATH"], "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task");
        assert!(!v.contains_key(OPT_DIR_VAR));
        let mut v = BTreeMap::new();
        search_paths(&mut v, "python3.12", Path::new("/d/code/x"), Path::new("/d/rt"), Some(Path::new("/d/opt/y")), false);
        assert_eq!(v[OPT_DIR_VAR], "/d/opt/y");
        assert!(!v.contains_key("NODE_PATH"));
        let mut v = BTreeMap::new();
        search_paths(&mut v, "python3.12", Path::new("/d/code/x"), Path::new("/d/rt"), None, false);
        assert_eq!(v[OPT_DIR_VAR], "");
        assert_eq!(v["LD_LIBRARY_PATH"], "/d/rt:/d/rt/lib:/d/code/x:/d/code/x/lib");
    }
}
