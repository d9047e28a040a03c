//! Point-in-time recovery: UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime, the change history written with every item write while it
//! is enabled, and the pruning of history that left the recovery window.
//!
//! Layout:
//! - `dynamodb.pitr_base`: `<item storage key>` (which starts with the table id) → the
//!   item: the table as of [`PitrMeta::since`], the start of the history.
//! - `dynamodb.pitr_log`: `<table id><commit time, µs, u64 BE><sequence, u64 BE>` →
//!   `<u32 LE key length><item storage key><item JSON, empty for a delete>`: every change
//!   since then, put in the same `WriteBatch` as the change itself (like the Streams
//!   outbox), so the history never misses or invents a write, also across `kill -9`.
//!
//! Enabling copies the table into the base under the table lock. A restore to time `T`
//! reads one store snapshot: the base, then every logged change with a commit time ≤ `T`,
//! in commit order (writes to a table are serialised by its lock). The sweeper folds
//! changes older than the window into the base and advances `since`, so storage stays
//! bounded by the window. Disabling drops the history, as on AWS.
//!
//! Difference from AWS: `LatestRestorableDateTime` is "now" (AWS lags about five minutes
//! behind), so a restore can include a write made a moment ago.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nimbus_dynamodb_expr::Item;
use nimbus_model::types::dynamodb as t;
use nimbus_protocol::Output;
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::backups::{restored_meta, table_exists, table_not_found, Overrides, RestoreMeta};
use crate::items::{decode_item, encode_item, lock_table};
use crate::keys::table_end;
use crate::tables::{ts, Table, TableMeta};
use crate::{store_err, Inner, KS_ITEMS, KS_PITR_BASE, KS_PITR_LOG};

/// AWS's default (and largest) recovery period.
pub(crate) const DEFAULT_DAYS: i32 = 35;
const DAY_SECS: f64 = 86_400.0;
const CHUNK: usize = 1000;

/// Point-in-time recovery of a table, while enabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PitrMeta {
    /// RecoveryPeriodInDays (1–35).
    pub days: i32,
    /// Epoch seconds (whole milliseconds): the instant the base holds; the earliest
    /// restorable time unless the window has moved past it.
    pub since: f64,
}

impl PitrMeta {
    fn earliest(&self, now: f64) -> f64 {
        self.since.max(((now - f64::from(self.days) * DAY_SECS) * 1000.0).ceil() / 1000.0)
    }
}

/// The (earliest, latest) restorable times of a table with point-in-time recovery.
pub(crate) fn window(p: &PitrMeta, now: f64) -> (f64, f64) {
    (p.earliest(now), now)
}

/// The table's items (storage key → raw item) as of `at` (epoch seconds), from `snap`.
pub(crate) fn state_at_time(inner: &Inner, snap: &nimbus_store::Snapshot, table: &Table, at: f64) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, AwsError> {
    inner.state_at(snap, table, micros(at))
}

/// Epoch seconds with microsecond precision (`epoch_now` has milliseconds): the commit
/// time of history entries.
pub(crate) fn now_precise() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as f64 / 1e6).unwrap_or(0.0)
}

/// Orders log entries committed within the same microsecond.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn micros(secs: f64) -> u64 {
    if secs <= 0.0 {
        0
    } else {
        (secs * 1_000_000.0).round() as u64
    }
}

fn log_key(table_id: &str, at_us: u64, seq: u64) -> Vec<u8> {
    let mut k = table_id.as_bytes().to_vec();
    k.extend_from_slice(&at_us.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn log_time(table_id: &str, key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = key.get(table_id.len()..table_id.len() + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

/// Splits a log value into the item storage key and the new item (None: deleted).
fn decode_entry(raw: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), AwsError> {
    let corrupt = || AwsError::internal("corrupt point-in-time history entry");
    let len_bytes: [u8; 4] = raw.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    let key = raw.get(4..4 + len).ok_or_else(corrupt)?.to_vec();
    let rest = raw.get(4 + len..).ok_or_else(corrupt)?;
    Ok((key, (!rest.is_empty()).then(|| rest.to_vec())))
}

/// Adds the history entry of one item write to `batch` when the table has point-in-time
/// recovery on. `at` is the commit time shared by the whole batch.
pub(crate) fn log_change(meta: &TableMeta, key: &[u8], new: Option<&Item>, at: f64, batch: &mut WriteBatch) -> Result<(), AwsError> {
    if meta.pitr.is_none() {
        return Ok(());
    }
    let mut v = Vec::with_capacity(key.len() + 256);
    v.extend_from_slice(&(key.len() as u32).to_le_bytes());
    v.extend_from_slice(key);
    if let Some(n) = new {
        v.extend_from_slice(&encode_item(n)?);
    }
    batch.put(KS_PITR_LOG, log_key(&meta.id, micros(at), SEQ.fetch_add(1, Ordering::Relaxed)), v);
    Ok(())
}

pub(crate) fn unavailable(name: &str) -> AwsError {
    AwsError::new(400, "PointInTimeRecoveryUnavailableException", format!("Point in time recovery is not enabled for table '{name}'"))
}

fn invalid_time() -> AwsError {
    AwsError::new(
        400,
        "InvalidRestoreTimeException",
        "An invalid restore time was specified. RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime.",
    )
}

fn description(meta: &TableMeta, now: f64) -> t::ContinuousBackupsDescription {
    let pitr = match &meta.pitr {
        Some(p) => t::PointInTimeRecoveryDescription {
            point_in_time_recovery_status: Some("ENABLED".into()),
            recovery_period_in_days: Some(p.days),
            earliest_restorable_date_time: Some(ts(p.earliest(now))),
            latest_restorable_date_time: Some(ts((now * 1000.0).floor() / 1000.0)),
        },
        None => t::PointInTimeRecoveryDescription { point_in_time_recovery_status: Some("DISABLED".into()), ..Default::default() },
    };
    t::ContinuousBackupsDescription {
        // On-demand backups are always available.
        continuous_backups_status: Some("ENABLED".into()),
        point_in_time_recovery_description: Some(pitr),
    }
}

impl Inner {
    pub(crate) fn describe_continuous_backups(&self, ctx: &RequestContext, input: t::DescribeContinuousBackupsInput) -> Result<Output, AwsError> {
        let table = self.table(ctx, &input.table_name)?.ok_or_else(|| table_not_found(&input.table_name))?;
        let desc = description(&table.meta(), epoch_now());
        Output::from(&t::DescribeContinuousBackupsOutput { continuous_backups_description: Some(desc) })
    }

    pub(crate) fn update_continuous_backups(&self, ctx: &RequestContext, input: t::UpdateContinuousBackupsInput) -> Result<Output, AwsError> {
        let spec = &input.point_in_time_recovery_specification;
        if let Some(d) = spec.recovery_period_in_days {
            if !spec.point_in_time_recovery_enabled {
                return Err(AwsError::validation("RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true"));
            }
            if !(1..=35).contains(&d) {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{d}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and 35"
                )));
            }
        }
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.table(ctx, &input.table_name)?.ok_or_else(|| table_not_found(&input.table_name))?;
        let guard = lock_table(&table).map_err(|_| table_not_found(&input.table_name))?;
        let mut meta = table.meta();
        match (&mut meta.pitr, spec.point_in_time_recovery_enabled) {
            // As documented: an unspecified period is 35 days, also when re-enabling.
            (Some(p), true) => p.days = spec.recovery_period_in_days.unwrap_or(DEFAULT_DAYS),
            (None, true) => {
                // Start a fresh history: clear what an earlier enablement (or an
                // interrupted one) left, then copy the table as it is now. Writes wait on
                // the table lock meanwhile, so the copy is the state of one instant.
                self.drop_items_prefix(KS_PITR_BASE, table.id.as_bytes())?;
                self.drop_items_prefix(KS_PITR_LOG, table.id.as_bytes())?;
                let since = (now_precise() * 1000.0).ceil() / 1000.0;
                let mut batch = WriteBatch::new();
                for kv in self.store.range(KS_ITEMS, table.id.as_bytes().to_vec()..table_end(&table.id), Direction::Forward).map_err(store_err)? {
                    let (k, v) = kv.map_err(store_err)?;
                    batch.put(KS_PITR_BASE, k, v);
                    if batch.len() >= CHUNK {
                        self.store.write(std::mem::take(&mut batch)).map_err(store_err)?;
                    }
                }
                self.store.write(batch).map_err(store_err)?;
                // Every later write must commit strictly after `since`.
                while now_precise() <= since {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                meta.pitr = Some(PitrMeta { days: spec.recovery_period_in_days.unwrap_or(DEFAULT_DAYS), since });
            }
            (Some(_), false) => meta.pitr = None,
            (None, false) => {}
        }
        self.save_meta_raw(&meta)?;
        *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta.clone();
        if meta.pitr.is_none() {
            self.drop_items_prefix(KS_PITR_BASE, table.id.as_bytes())?;
            self.drop_items_prefix(KS_PITR_LOG, table.id.as_bytes())?;
        }
        drop(guard);
        let desc = description(&meta, epoch_now());
        Output::from(&t::UpdateContinuousBackupsOutput { continuous_backups_description: Some(desc) })
    }

    pub(crate) fn restore_to_point_in_time(&self, ctx: &RequestContext, input: t::RestoreTableToPointInTimeInput) -> Result<Output, AwsError> {
        let source = match (&input.source_table_name, &input.source_table_arn) {
            (Some(n), _) => n.clone(),
            (None, Some(arn)) => {
                let parts: Vec<&str> = arn.splitn(6, ':').collect();
                match (parts.get(3), parts.get(4), parts.get(5).and_then(|r| r.strip_prefix("table/"))) {
                    (Some(r), Some(a), Some(n)) if *r == ctx.region && *a == ctx.account_id && !n.contains('/') => n.to_string(),
                    _ => return Err(table_not_found(arn)),
                }
            }
            (None, None) => return Err(AwsError::validation("Either SourceTableArn or SourceTableName must be specified")),
        };
        let use_latest = input.use_latest_restorable_time.unwrap_or(false);
        if use_latest && input.restore_date_time.is_some() {
            return Err(AwsError::validation("Only one of RestoreDateTime or UseLatestRestorableTime can be specified"));
        }
        if !use_latest && input.restore_date_time.is_none() {
            return Err(AwsError::validation("Either RestoreDateTime or UseLatestRestorableTime must be specified"));
        }
        let table = self.table(ctx, &source)?.ok_or_else(|| table_not_found(&source))?;
        let ov = Overrides {
            billing_mode: input.billing_mode_override,
            gsis: input.global_secondary_index_override,
            lsis: input.local_secondary_index_override,
            throughput: input.provisioned_throughput_override,
            on_demand: input.on_demand_throughput_override,
            sse: input.sse_specification_override,
        };
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        // The schema and the history are read together, under the table lock.
        let (meta, snap, now) = {
            let g = lock_table(&table).map_err(|_| table_not_found(&source))?;
            let r = (table.meta(), self.store.snapshot(), now_precise());
            drop(g);
            r
        };
        let Some(pitr) = meta.pitr.clone() else { return Err(unavailable(&source)) };
        let at = match input.restore_date_time {
            Some(t) => t.0,
            None => now,
        };
        // Half a millisecond of slack: timestamps travel as decimal seconds.
        if at < pitr.earliest(now) - 0.0005 || at > now {
            return Err(invalid_time());
        }
        if self.table(ctx, &input.target_table_name)?.is_some() {
            return Err(table_exists(&input.target_table_name));
        }
        let restore = RestoreMeta { source_backup_arn: None, source_table_arn: meta.arn.clone(), restore_time: at };
        let target = restored_meta(ctx, &meta, &input.target_table_name, &ov, restore)?;
        let state = self.state_at(&snap, &table, micros(at))?;
        let items = state.into_values().map(|raw| decode_item(&raw));
        let desc = self.materialize(ctx, target, items)?;
        Output::from(&t::RestoreTableToPointInTimeOutput { table_description: Some(desc) })
    }

    /// The table's items (storage key → raw item) as of `at_us`, from the base and the log.
    fn state_at(&self, snap: &nimbus_store::Snapshot, table: &Table, at_us: u64) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, AwsError> {
        let mut state = BTreeMap::new();
        for kv in snap.range(KS_PITR_BASE, table.id.as_bytes().to_vec()..table_end(&table.id), Direction::Forward).map_err(store_err)? {
            let (k, v) = kv.map_err(store_err)?;
            state.insert(k, v);
        }
        let lo = log_key(&table.id, 0, 0);
        let hi = log_key(&table.id, at_us, u64::MAX);
        for kv in snap.range(KS_PITR_LOG, (Bound::Included(lo), Bound::Included(hi)), Direction::Forward).map_err(store_err)? {
            let (_, raw) = kv.map_err(store_err)?;
            let (key, item) = decode_entry(&raw)?;
            match item {
                Some(i) => state.insert(key, i),
                None => state.remove(&key),
            };
        }
        Ok(state)
    }

    /// Folds history older than each table's recovery window into its base.
    pub(crate) fn prune_pitr(&self) -> Result<(), AwsError> {
        for ((account, region), meta) in self.all_table_metas()? {
            let Some(p) = meta.pitr.clone() else { continue };
            let now = epoch_now();
            let cutoff = p.earliest(now);
            if cutoff <= p.since {
                continue;
            }
            let ctx = RequestContext::new(account, region);
            let Some(table) = self.table(&ctx, &meta.name)? else { continue };
            self.fold(&table, cutoff)?;
        }
        Ok(())
    }

    /// Advances the table's `since` to `cutoff`, then applies the log entries before it to
    /// the base and deletes them, a chunk per batch (each batch keeps base + log exact for
    /// every time from `cutoff` on, so a crash between chunks loses nothing).
    fn fold(&self, table: &Arc<Table>, cutoff: f64) -> Result<(), AwsError> {
        {
            let g = table.lock();
            if g.deleted {
                return Ok(());
            }
            let mut meta = table.meta();
            let Some(p) = meta.pitr.as_mut() else { return Ok(()) };
            if cutoff <= p.since {
                return Ok(());
            }
            p.since = cutoff;
            self.save_meta_raw(&meta)?;
            *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
        }
        let limit = micros(cutoff);
        loop {
            // Under the table lock, so disabling (which drops the history) cannot interleave.
            let g = table.lock();
            if g.deleted || table.meta().pitr.is_none() {
                return Ok(());
            }
            let mut batch = WriteBatch::new();
            let lo = log_key(&table.id, 0, 0);
            let hi = log_key(&table.id, limit, 0);
            for kv in self.store.range(KS_PITR_LOG, lo..hi, Direction::Forward).map_err(store_err)?.take(CHUNK) {
                let (k, raw) = kv.map_err(store_err)?;
                debug_assert!(log_time(&table.id, &k) < limit);
                let (key, item) = decode_entry(&raw)?;
                match item {
                    Some(i) => batch.put(KS_PITR_BASE, key, i),
                    None => batch.delete(KS_PITR_BASE, key),
                };
                batch.delete(KS_PITR_LOG, k);
            }
            let done = batch.len() < 2 * CHUNK;
            self.store.write(batch).map_err(store_err)?;
            drop(g);
            if done {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entries_round_trip() {
        let mut batch = WriteBatch::new();
        let raw = {
            let mut v = 3u32.to_le_bytes().to_vec();
            v.extend_from_slice(b"abc");
            v.extend_from_slice(b"{}");
            v
        };
        let (k, i) = decode_entry(&raw).unwrap();
        assert_eq!(k, b"abc");
        assert_eq!(i.as_deref(), Some(&b"{}"[..]));
        let (_, none) = decode_entry(&raw[..7]).unwrap();
        assert!(none.is_none());
        assert!(decode_entry(&[1, 0]).is_err());
        assert!(decode_entry(&[9, 0, 0, 0, 1]).is_err());
        batch.put(KS_PITR_LOG, b"x".to_vec(), b"y".to_vec());
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn folding_old_history_keeps_every_later_restore_exact() {
        use nimbus_model::services::dynamodb::Op;
        use nimbus_protocol::Input;
        use serde_json::{json, Value};
        let d = crate::DynamoDb::without_sweeper(nimbus_store::Store::temporary().unwrap());
        let ctx = RequestContext::new("000000000000", "us-east-1");
        let call = |op: Op, v: Value| d.inner.dispatch(&ctx, op, Input { value: v, payload: None }).map(|o| o.value);
        call(Op::CreateTable, json!({"TableName": "Tab", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "N"}], "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]})).unwrap();
        for i in 0..5 {
            call(Op::PutItem, json!({"TableName": "Tab", "Item": {"k": {"N": i.to_string()}}})).unwrap();
        }
        call(Op::UpdateContinuousBackups, json!({"TableName": "Tab", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}})).unwrap();
        for i in 5..3000 {
            call(Op::PutItem, json!({"TableName": "Tab", "Item": {"k": {"N": i.to_string()}}})).unwrap();
        }
        for i in 0..10 {
            call(Op::DeleteItem, json!({"TableName": "Tab", "Key": {"k": {"N": i.to_string()}}})).unwrap();
        }
        let middle = now_precise();
        std::thread::sleep(std::time::Duration::from_millis(5));
        for i in 10..20 {
            call(Op::DeleteItem, json!({"TableName": "Tab", "Key": {"k": {"N": i.to_string()}}})).unwrap();
        }
        let table = d.inner.table(&ctx, "Tab").unwrap().unwrap();
        let before = d.inner.state_at(&d.inner.store.snapshot(), &table, micros(middle)).unwrap();
        assert_eq!(before.len(), 2990);
        // Fold everything up to `middle` into the base (more than one chunk of history).
        d.inner.fold(&table, middle).unwrap();
        assert_eq!(table.meta().pitr.unwrap().since, middle);
        // Only history from the cutoff on is left, and the base absorbed the rest.
        let left: Vec<u64> = d.inner.store.prefix(KS_PITR_LOG, table.id.as_bytes(), Direction::Forward).unwrap().map(|kv| log_time(&table.id, &kv.unwrap().0)).collect();
        assert!(left.len() >= 10 && left.len() < 1000, "{}", left.len());
        assert!(left.iter().all(|t| *t >= micros(middle)));
        let base = d.inner.store.prefix(KS_PITR_BASE, table.id.as_bytes(), Direction::Forward).unwrap().count();
        assert!(base >= 2990 - left.len());
        assert_eq!(d.inner.state_at(&d.inner.store.snapshot(), &table, micros(middle)).unwrap(), before);
        assert_eq!(d.inner.state_at(&d.inner.store.snapshot(), &table, micros(now_precise())).unwrap().len(), 2980);
        // Earlier than the new start of the window is refused.
        let e = call(Op::RestoreTableToPointInTime, json!({"SourceTableName": "Tab", "TargetTableName": "Old", "RestoreDateTime": middle - 1.0})).unwrap_err();
        assert_eq!(e.code, "InvalidRestoreTimeException");
        call(Op::RestoreTableToPointInTime, json!({"SourceTableName": "Tab", "TargetTableName": "Mid", "RestoreDateTime": middle})).unwrap();
        let t = call(Op::DescribeTable, json!({"TableName": "Mid"})).unwrap();
        assert_eq!(t["Table"]["ItemCount"], 2990);
    }

    #[test]
    fn log_keys_sort_by_time_then_sequence() {
        let a = log_key("t", 5, 9);
        let b = log_key("t", 6, 0);
        let c = log_key("t", 6, 1);
        assert!(a < b && b < c);
        assert_eq!(log_time("t", &b), 6);
        assert_eq!(micros(1.5), 1_500_000);
    }
}
