//! What Nimbus stores about a function (keyspace `lambda.functions`, one JSON row per
//! function keyed `<account>/<region>/<name>`) and how it renders as AWS's
//! `FunctionConfiguration`.

use std::collections::BTreeMap;

use nimbus_model::types::lambda as t;
use serde::{Deserialize, Serialize};

pub const FUNCTIONS: &str = "lambda.functions";
pub const EVENTS: &str = "lambda.events";
/// Published versions: one row per version, keyed `<account>/<region>/<name>/<version, 10 digits>`.
pub const VERSIONS: &str = "lambda.versions";
/// Aliases: keyed `<account>/<region>/<name>/<alias>`.
pub const ALIASES: &str = "lambda.aliases";
/// Provisioned concurrency configurations: keyed `<account>/<region>/<name>/<qualifier>`.
pub const PROVISIONED: &str = "lambda.provisioned";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub account: String,
    pub region: String,
    pub name: String,
    pub runtime: Option<String>,
    pub role: String,
    pub handler: Option<String>,
    #[serde(default)]
    pub description: String,
    pub timeout: i32,
    pub memory: i32,
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    pub ephemeral: i32,
    pub architectures: Vec<String>,
    pub package_type: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// base64 of the SHA-256 of the zip (what AWS reports).
    pub code_sha256: String,
    /// hex of the same digest: the blob id and the unzip directory name.
    pub code_hex: String,
    pub code_size: i64,
    pub last_modified: String,
    pub revision_id: String,
    #[serde(default)]
    pub reserved_concurrency: Option<i32>,
    #[serde(default)]
    pub tracing_mode: Option<String>,
    /// `KMSKeyArn` as set: shown back as AWS does. Nimbus has no KMS; environment
    /// variables are stored as they are, under the data directory's protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(default)]
    pub logging: Option<t::LoggingConfig>,
    /// Resource-policy statements (`AddPermission`), rendered as AWS renders them.
    #[serde(default)]
    pub policy: Vec<serde_json::Value>,
    /// `SnapStart.ApplyOn` as last set (`PublishedVersions` or `None`); unset means the
    /// server's default (`NIMBUS_LAMBDA_SNAPSHOTS`), see the template module.
    #[serde(default)]
    pub snap_start: Option<String>,
    /// `VpcConfig` as last set (unset: never attached), see the vpc module.
    #[serde(default)]
    pub vpc: Option<crate::vpc::VpcRecord>,
    /// The published version this record is (`None`: `$LATEST`). Versions are immutable
    /// copies of `$LATEST` (code and configuration); only their policy changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Set when the record was resolved through an alias: `policy` and `revision_id` are
    /// then the alias's own (never stored with the version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// `$LATEST` only: the last version number handed out (AWS never reuses one, even
    /// after the version is deleted).
    #[serde(default)]
    pub last_version: u64,
    /// The function's layers, in order (see the layers module).
    #[serde(default)]
    pub layers: Vec<crate::layers::FunctionLayer>,
}

impl FunctionRecord {
    pub fn key(account: &str, region: &str, name: &str) -> String {
        format!("{account}/{region}/{name}")
    }

    pub fn arn(&self) -> String {
        function_arn(&self.region, &self.account, &self.name)
    }

    /// `$LATEST` or the version number.
    pub fn version_name(&self) -> &str {
        self.version.as_deref().unwrap_or("$LATEST")
    }

    /// The ARN with the qualifier the record was resolved with (alias or version), or the
    /// unqualified ARN for `$LATEST`.
    pub fn qualified_arn(&self) -> String {
        match (&self.alias, &self.version) {
            (Some(q), _) | (None, Some(q)) => format!("{}:{q}", self.arn()),
            (None, None) => self.arn(),
        }
    }

    /// Key of this version's execution state (snapshot template, provisioned
    /// environments): the function key, plus `:<version>` for a published version.
    pub fn env_key(&self) -> String {
        let key = Self::key(&self.account, &self.region, &self.name);
        match &self.version {
            Some(v) => format!("{key}:{v}"),
            None => key,
        }
    }

    /// `LoggingConfig.LogGroup` when set, else AWS's default `/aws/lambda/<name>`.
    pub fn log_group(&self) -> String {
        match self.logging.as_ref().and_then(|l| l.log_group.clone()) {
            Some(g) => g,
            None => format!("/aws/lambda/{}", self.name),
        }
    }

    pub fn configuration(&self) -> t::FunctionConfiguration {
        t::FunctionConfiguration {
            function_name: Some(self.name.clone()),
            function_arn: Some(self.qualified_arn()),
            runtime: self.runtime.clone(),
            role: Some(self.role.clone()),
            handler: self.handler.clone(),
            code_size: Some(self.code_size),
            description: Some(self.description.clone()),
            timeout: Some(self.timeout),
            memory_size: Some(self.memory),
            last_modified: Some(self.last_modified.clone()),
            code_sha256: Some(self.code_sha256.clone()),
            version: Some(self.version_name().into()),
            environment: self.env.as_ref().map(|v| t::EnvironmentResponse { variables: Some(v.clone()), error: None }),
            tracing_config: Some(t::TracingConfigResponse {
                mode: Some(self.tracing_mode.clone().unwrap_or_else(|| "PassThrough".into())),
            }),
            revision_id: Some(self.revision_id.clone()),
            state: Some("Active".into()),
            last_update_status: Some("Successful".into()),
            package_type: Some(self.package_type.clone()),
            architectures: Some(self.architectures.clone()),
            ephemeral_storage: Some(t::EphemeralStorage { size: self.ephemeral }),
            snap_start: Some(t::SnapStartResponse {
                apply_on: Some(self.snap_start.clone().unwrap_or_else(|| "None".into())),
                optimization_status: Some(
                    if crate::template::applies(self.snap_start.as_deref(), self.runtime.as_deref().unwrap_or_default()) { "On" } else { "Off" }.into(),
                ),
            }),
            runtime_version_config: crate::runtime_mgmt::version_config(&self.region, self.runtime.as_deref()),
            kms_key_arn: self.kms_key_arn.clone(),
            vpc_config: crate::vpc::render(self.vpc.as_ref(), &self.account, &self.region),
            logging_config: Some(t::LoggingConfig { log_format: Some("Text".into()), log_group: Some(self.log_group()), ..Default::default() }),
            layers: crate::layers::render(&self.layers),
            ..Default::default()
        }
    }
}

pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// One queued `Event` invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub id: String,
    pub account: String,
    pub region: String,
    pub name: String,
    /// base64 payload
    pub payload: String,
    pub attempt: u32,
    #[serde(default)]
    pub client_context: Option<String>,
    /// The version or alias the event was sent to (`None`: `$LATEST`).
    #[serde(default)]
    pub qualifier: Option<String>,
    /// When the event was first queued (epoch ms; 0 in rows queued before this was
    /// recorded), for `MaximumEventAgeInSeconds`.
    #[serde(default)]
    pub first_ms: u64,
}
