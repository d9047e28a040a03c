//! Configuration: one struct, read from a TOML file, then `NIMBUS_*` environment
//! variables and command-line flags (flags win over the environment, which wins over
//! the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use nimbus_edge::AuthMode;
use nimbus_sts::StaticKey;

/// Signature checking, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Accept any credentials (a 12-digit access key id still names the account).
    Off,
    /// Verify SigV4 against configured keys and STS sessions.
    Sigv4,
}

/// How Lambda execution environments are isolated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Refuse to run functions when the host lacks any isolation primitive.
    Strict,
    /// Enforce what the host allows; say once at start what cannot be enforced.
    #[default]
    BestEffort,
    /// Plain child processes.
    Off,
}

impl Isolation {
    pub fn sandbox(self) -> nimbus_sandbox::Mode {
        match self {
            Isolation::Strict => nimbus_sandbox::Mode::Strict,
            Isolation::BestEffort => nimbus_sandbox::Mode::BestEffort,
            Isolation::Off => nimbus_sandbox::Mode::Off,
        }
    }
}

/// Whether API Gateway needs a Lambda resource policy to invoke a function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LambdaPermissions {
    /// As AWS: the function's policy must allow apigateway.amazonaws.com (AddPermission).
    #[default]
    Enforce,
    /// Integrations may invoke any function of their account.
    AllowAll,
}

impl LambdaPermissions {
    pub fn apigateway(self) -> nimbus_apigateway::LambdaPermissions {
        match self {
            LambdaPermissions::Enforce => nimbus_apigateway::LambdaPermissions::Enforce,
            LambdaPermissions::AllowAll => nimbus_apigateway::LambdaPermissions::AllowAll,
        }
    }
}

/// When a write is acknowledged, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Once the operating system has it: survives `kill -9`.
    #[default]
    Os,
    /// Once it is on disk: survives power loss (group commit keeps throughput).
    Fsync,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Os => "os",
            Durability::Fsync => "fsync",
        }
    }

    pub fn store(self) -> nimbus_store::Durability {
        match self {
            Durability::Os => nimbus_store::Durability::Os,
            Durability::Fsync => nimbus_store::Durability::Fsync,
        }
    }
}

/// Everything Nimbus can be told. Each field's default serves a laptop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the edge listener. Default `127.0.0.1:4566`.
    pub listen: SocketAddr,
    /// Where state lives. Default `./.nimbus`.
    pub data_dir: PathBuf,
    /// Region for requests whose signature names none. Default `us-east-1`.
    pub region: String,
    /// Account for requests whose access key names none. Default `000000000000`.
    pub account_id: String,
    /// `off` accepts any signature; `sigv4` only configured keys and STS sessions.
    /// Default: `off` on a loopback address, `sigv4` on any other.
    pub auth: Option<Auth>,
    /// `os`: a write is acknowledged once the OS has it (survives `kill -9`);
    /// `fsync`: once it is on disk (survives power loss). Default `os`.
    pub durability: Durability,
    /// Isolation of Lambda execution environments: `strict`, `best-effort` or `off`.
    /// Default `best-effort`.
    pub isolation: Isolation,
    /// Long-term access keys accepted in `sigv4` mode. Default none.
    pub access_keys: Vec<StaticKey>,
    /// `enforce`: API Gateway invokes a Lambda function only when the function's
    /// resource policy allows it (AddPermission), as AWS; `allow-all`: always.
    /// Default `enforce`.
    pub apigateway_lambda_permissions: LambdaPermissions,
    /// `enforce`: a Lambda function URL answers only callers its function's resource
    /// policy allows (`lambda:InvokeFunctionUrl` and `lambda:InvokeFunction`; for
    /// `AuthType: NONE` principal `*`), as
    /// AWS; `allow-all`: any caller (AWS_IAM URLs still need a signed request).
    /// Default `enforce`.
    pub lambda_url_permissions: LambdaPermissions,
    /// Largest request body held in memory, in bytes. Default 72 MiB (a 50 MB Lambda
    /// zip is about 70 MB once base64-encoded). S3 streams and is not bound by it.
    pub max_body_bytes: usize,
    /// Log filter (`tracing` syntax). Default `info` (storage engine at `warn`;
    /// the S3 protocol crate, which logs every client error, off).
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: PathBuf::from(".nimbus"),
            region: nimbus_types::DEFAULT_REGION.into(),
            account_id: nimbus_types::DEFAULT_ACCOUNT.into(),
            auth: None,
            durability: Durability::default(),
            isolation: Isolation::default(),
            access_keys: Vec::new(),
            apigateway_lambda_permissions: LambdaPermissions::default(),
            lambda_url_permissions: LambdaPermissions::default(),
            max_body_bytes: 72 * 1024 * 1024,
            log: "info,fjall=warn,lsm_tree=warn,s3s=off".into(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Could not read the config file.
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The config file is not valid.
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    /// An access key is not `ID:SECRET` or `ID:SECRET:ACCOUNT`.
    #[error("invalid access key {0:?}: expected ID:SECRET or ID:SECRET:ACCOUNT")]
    AccessKey(String),
    /// The account id is not 12 digits.
    #[error("invalid account id {0:?}: expected 12 digits")]
    Account(String),
}

impl Config {
    /// Reads `path` (TOML).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }

    /// The auth mode in force: as configured, or by the listen address.
    pub fn auth_mode(&self) -> AuthMode {
        match self.auth {
            Some(Auth::Off) => AuthMode::Off,
            Some(Auth::Sigv4) => AuthMode::Sigv4,
            None if self.listen.ip().is_loopback() => AuthMode::Off,
            None => AuthMode::Sigv4,
        }
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        if !nimbus_types::is_account_id(&self.account_id) {
            return Err(ConfigError::Account(self.account_id.clone()));
        }
        Ok(())
    }
}

/// Parses `ID:SECRET[:ACCOUNT]`, several separated by commas.
pub fn parse_access_keys(s: &str) -> Result<Vec<StaticKey>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let parts: Vec<&str> = p.trim().split(':').collect();
            match parts.as_slice() {
                [id, secret] => Ok(StaticKey { access_key_id: id.to_string(), secret_access_key: secret.to_string(), account_id: None }),
                [id, secret, account] if nimbus_types::is_account_id(account) => Ok(StaticKey {
                    access_key_id: id.to_string(),
                    secret_access_key: secret.to_string(),
                    account_id: Some(account.to_string()),
                }),
                _ => Err(ConfigError::AccessKey(p.to_string())),
            }
        })
        .collect()
}
