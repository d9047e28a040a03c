//! Time to live: UpdateTimeToLive/DescribeTimeToLive and the background sweeper that
//! deletes expired items (with service REMOVE stream records), prunes old stream records,
//! point-in-time history past its window and expired SYSTEM backups, and at start resumes
//! interrupted index backfills and drops what interrupted backups and restores wrote.

use std::sync::Weak;
use std::time::Duration;

use nimbus_dynamodb_expr::{AttrValue, Item};
use nimbus_protocol::Output;
use nimbus_store::Direction;
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::items::{decode_item, Change};
use crate::keys::{key_of, key_param, table_end};
use crate::tables::TableMeta;
use crate::{get_str, out, store_err, Inner, KS_ITEMS, KS_TABLES};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TtlMeta {
    pub attribute: String,
    pub enabled: bool,
}

/// A table's (account, region) and metadata.
pub(crate) type Located = ((String, String), TableMeta);

fn expired(item: &Item, attr: &str, now: f64) -> bool {
    matches!(item.get(attr), Some(AttrValue::N(n)) if n.to_f64() <= now)
}

impl Inner {
    pub(crate) fn update_ttl(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let name = get_str(v, "TableName").unwrap_or_default();
        let spec = v.get("TimeToLiveSpecification").cloned().unwrap_or(Value::Null);
        let enabled = spec.get("Enabled").and_then(Value::as_bool).unwrap_or(false);
        let attr = get_str(&spec, "AttributeName").unwrap_or_default().to_string();
        if attr.is_empty() {
            return Err(AwsError::validation("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null"));
        }
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.require_table(ctx, name)?;
        let guard = table.lock();
        let mut meta = table.meta();
        match (&meta.ttl, enabled) {
            (Some(t), true) if t.enabled => return Err(AwsError::validation("TimeToLive is already enabled")),
            (Some(t), false) if t.enabled && t.attribute != attr => {
                return Err(AwsError::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {}",
                    t.attribute
                )))
            }
            (None, false) => return Err(AwsError::validation("TimeToLive is already disabled")),
            (Some(t), false) if !t.enabled => return Err(AwsError::validation("TimeToLive is already disabled")),
            _ => {}
        }
        meta.ttl = Some(TtlMeta { attribute: attr.clone(), enabled });
        self.save_meta_raw(&meta)?;
        *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
        drop(guard);
        out(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}))
    }

    pub(crate) fn describe_ttl(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let name = get_str(v, "TableName").unwrap_or_default();
        let table = self.require_table(ctx, name)?;
        let meta = table.meta();
        let desc = match &meta.ttl {
            Some(t) if t.enabled => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": t.attribute}),
            _ => json!({"TimeToLiveStatus": "DISABLED"}),
        };
        out(json!({"TimeToLiveDescription": desc}))
    }

    /// Every table's (account, region) and metadata.
    pub(crate) fn all_table_metas(&self) -> Result<Vec<Located>, AwsError> {
        let mut v = Vec::new();
        for kv in self.store.prefix(KS_TABLES, b"", Direction::Forward).map_err(store_err)? {
            let (k, raw) = kv.map_err(store_err)?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let mut parts = key.splitn(3, '\0');
            let (Some(a), Some(r)) = (parts.next(), parts.next()) else { continue };
            if let Ok(meta) = serde_json::from_slice::<TableMeta>(&raw) {
                v.push(((a.to_string(), r.to_string()), meta));
            }
        }
        Ok(v)
    }

    /// Deletes the expired items of every table with TTL enabled.
    pub(crate) fn sweep_ttl(&self) -> Result<usize, AwsError> {
        let mut deleted = 0;
        for ((account, region), meta) in self.all_table_metas()? {
            let Some(ttl) = meta.ttl.clone().filter(|t| t.enabled) else { continue };
            let ctx = RequestContext::new(account, region);
            let Some(table) = self.table(&ctx, &meta.name)? else { continue };
            let now = epoch_now();
            // Find candidates without the lock, then delete each under it after re-checking.
            let mut keys = Vec::new();
            let lo = table.id.as_bytes().to_vec();
            for kv in self.store.range(KS_ITEMS, lo..table_end(&table.id), Direction::Forward).map_err(store_err)? {
                let (_, raw) = kv.map_err(store_err)?;
                let item = decode_item(&raw)?;
                if expired(&item, &ttl.attribute, now) {
                    keys.push(key_of(&table, &item));
                }
            }
            for chunk in keys.chunks(100) {
                let mut guard = table.lock();
                if guard.deleted {
                    break;
                }
                let mut changes = Vec::new();
                for k in chunk {
                    let sk = key_param(&table, k)?;
                    if let Some(old) = self.load(&sk)? {
                        if expired(&old, &ttl.attribute, now) {
                            changes.push(Change { t: 0, key: sk, old: Some(old), new: None, service: true });
                        }
                    }
                }
                deleted += changes.len();
                self.commit(&mut [(&table, &mut guard)], changes)?;
            }
        }
        Ok(deleted)
    }
}

/// The sweeper interval: `NIMBUS_DYNAMODB_TTL_INTERVAL_SECONDS` (default 5).
fn interval() -> Duration {
    let secs = std::env::var("NIMBUS_DYNAMODB_TTL_INTERVAL_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(5.0);
    Duration::from_secs_f64(secs)
}

/// Starts the background thread: resumes backfills, then sweeps TTL and prunes streams
/// every interval until the service is dropped.
pub(crate) fn start(inner: Weak<Inner>) {
    let _ = std::thread::Builder::new().name("ddb-ttl".into()).spawn(move || {
        if let Some(i) = inner.upgrade() {
            i.resume_backfills();
            if let Err(e) = i.drop_orphan_backup_items() {
                tracing::warn!("cleaning up interrupted backups failed: {}", e.message);
            }
            if let Err(e) = i.drop_interrupted_restores() {
                tracing::warn!("cleaning up interrupted restores failed: {}", e.message);
            }
        }
        let every = interval();
        let mut last_prune = std::time::Instant::now();
        loop {
            std::thread::sleep(every);
            let Some(i) = inner.upgrade() else { return };
            if let Err(e) = i.sweep_ttl() {
                tracing::warn!("TTL sweep failed: {}", e.message);
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = std::time::Instant::now();
                if let Err(e) = i.prune_streams() {
                    tracing::warn!("stream pruning failed: {}", e.message);
                }
                if let Err(e) = i.prune_pitr() {
                    tracing::warn!("point-in-time history pruning failed: {}", e.message);
                }
                if let Err(e) = i.prune_backups() {
                    tracing::warn!("expired backup pruning failed: {}", e.message);
                }
            }
        }
    });
}

impl Inner {
    fn resume_backfills(&self) {
        let Ok(metas) = self.all_table_metas() else { return };
        for ((account, region), meta) in metas {
            for ix in meta.indexes.iter().filter(|i| i.status == "CREATING") {
                let ctx = RequestContext::new(account.clone(), region.clone());
                if let Ok(Some(table)) = self.table(&ctx, &meta.name) {
                    crate::indexes::spawn_backfill(self.me.clone(), table, ix.name.clone());
                }
            }
        }
    }
}
