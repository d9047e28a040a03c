//! Storage layout (keyspace `apigateway`), per account and region:
//!
//! - `idx/{apiId}` → which account/region/kind owns an API id (the data plane only
//!   knows the id);
//! - `{account}/{region}/v1/api/{apiId}` → a REST API;
//!   `{account}/{region}/v1/r/{apiId}/{kind}/{id}` → its resources, deployments, stages;
//! - `{account}/{region}/v2/api/{apiId}` and `.../v2/r/{apiId}/...` for HTTP APIs.

use nimbus_store::{Direction, Store, WriteBatch};
use nimbus_types::AwsError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const KS: &str = "apigateway";

/// Who owns an API id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiIndex {
    pub version: u8,
    pub account: String,
    pub region: String,
}

pub fn idx_key(api_id: &str) -> String {
    format!("idx/{api_id}")
}

pub fn api_key(v: &str, account: &str, region: &str, api_id: &str) -> String {
    format!("{account}/{region}/{v}/api/{api_id}")
}

pub fn apis_prefix(v: &str, account: &str, region: &str) -> String {
    format!("{account}/{region}/{v}/api/")
}

/// Prefix of everything an API owns (`kind` empty), or of one kind of child.
pub fn child_prefix(v: &str, account: &str, region: &str, api_id: &str, kind: &str) -> String {
    if kind.is_empty() {
        format!("{account}/{region}/{v}/r/{api_id}/")
    } else {
        format!("{account}/{region}/{v}/r/{api_id}/{kind}/")
    }
}

pub fn child_key(
    v: &str,
    account: &str,
    region: &str,
    api_id: &str,
    kind: &str,
    id: &str,
) -> String {
    format!("{account}/{region}/{v}/r/{api_id}/{kind}/{id}")
}

fn store_err(e: nimbus_store::Error) -> AwsError {
    AwsError::internal(format!("storage error: {e}"))
}

pub struct Db {
    store: Store,
}

impl Db {
    pub fn new(store: Store) -> Self {
        Db { store }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AwsError> {
        match self.store.get(KS, key.as_bytes()).map_err(store_err)? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| AwsError::internal(format!("corrupt record {key}: {e}"))),
            None => Ok(None),
        }
    }

    pub fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, AwsError> {
        let mut out = Vec::new();
        for kv in self
            .store
            .prefix(KS, prefix.as_bytes(), Direction::Forward)
            .map_err(store_err)?
        {
            let (_, v) = kv.map_err(store_err)?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|e| AwsError::internal(format!("corrupt record: {e}")))?,
            );
        }
        Ok(out)
    }

    pub fn keys(&self, prefix: &str) -> Result<Vec<Vec<u8>>, AwsError> {
        let mut out = Vec::new();
        for kv in self
            .store
            .prefix(KS, prefix.as_bytes(), Direction::Forward)
            .map_err(store_err)?
        {
            out.push(kv.map_err(store_err)?.0);
        }
        Ok(out)
    }

    pub fn batch(&self) -> Batch {
        Batch {
            batch: WriteBatch::new(),
        }
    }

    pub fn commit(&self, batch: Batch) -> Result<(), AwsError> {
        self.store.write(batch.batch).map_err(store_err)
    }
}

pub struct Batch {
    batch: WriteBatch,
}

impl Batch {
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<&mut Self, AwsError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| AwsError::internal(format!("cannot encode a record: {e}")))?;
        self.batch.put(KS, key.as_bytes().to_vec(), bytes);
        Ok(self)
    }

    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.batch.delete(KS, key);
        self
    }
}
