//! On-demand backups (CreateBackup, DescribeBackup, ListBackups, DeleteBackup,
//! RestoreTableFromBackup) and the restore machinery point-in-time recovery shares:
//! building a new table's metadata from a source schema plus the request's overrides, and
//! writing the items (with their index entries) into it.
//!
//! Layout:
//! - `dynamodb.backups`: `<account>\0<region>\0<backup id>` → [`BackupMeta`] (JSON). The
//!   backup id is `<13-digit epoch millis>-<8 hex>` (AWS's shape), so keys sort by time.
//! - `dynamodb.backup_items`: `<backup id>\0<item storage key>` → the item (DynamoDB JSON).
//!
//! Deleting a table with point-in-time recovery on keeps a SYSTEM backup of it for 35
//! days (as AWS does); the sweeper removes it after that.
//!
//! A backup copies the table as of one store snapshot taken under the table lock, so it is
//! a consistent image of one instant (items, item count and size, and schema together).
//! Its items are written first and its metadata last: a crash mid-copy leaves no visible
//! backup. A restore writes the new table's items and index entries first and its
//! metadata last, so the table appears complete or not at all; the source is only read.
//! A marker in `dynamodb.restores` (removed by that last batch) lets the next start drop
//! what a restore interrupted by a crash had written.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, RwLock};

use nimbus_dynamodb_expr::{item_size, Item};
use nimbus_model::types::dynamodb as t;
use nimbus_protocol::Output;
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::indexes::IndexMeta;
use crate::items::{decode_item, encode_item};
use crate::keys::{item_key, table_end};
use crate::tables::{check_billing, check_key_schema, check_projection, table_key, ts, KeyAttr, Table, TableMeta, TableState};
use crate::{store_err, Inner, KS_BACKUPS, KS_BACKUP_ITEMS, KS_INDEX, KS_ITEMS, KS_STATS, KS_TABLES};

/// `<new table id>` → JSON list of the table and index ids a restore in progress writes.
const KS_RESTORES: &str = "dynamodb.restores";

/// Items per write batch when copying.
const CHUNK: usize = 500;

/// Where a restored table came from (DescribeTable's RestoreSummary).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RestoreMeta {
    #[serde(default)]
    pub source_backup_arn: Option<String>,
    pub source_table_arn: String,
    pub restore_time: f64,
}

impl RestoreMeta {
    pub fn summary(&self) -> t::RestoreSummary {
        t::RestoreSummary {
            source_backup_arn: self.source_backup_arn.clone(),
            source_table_arn: Some(self.source_table_arn.clone()),
            restore_date_time: Some(ts(self.restore_time)),
            restore_in_progress: Some(false),
        }
    }
}

/// The SSEDescription of a table whose SSESpecification enabled KMS encryption.
pub(crate) fn sse_description(meta: &TableMeta, s: &t::SSESpecification) -> Option<t::SSEDescription> {
    if s.enabled != Some(true) {
        return None;
    }
    let parts: Vec<&str> = meta.arn.splitn(6, ':').collect();
    let (region, account) = (parts.get(3).copied().unwrap_or("us-east-1"), parts.get(4).copied().unwrap_or("000000000000"));
    let key = match s.kms_master_key_id.as_deref() {
        Some(k) if k.starts_with("arn:") => k.to_string(),
        Some(k) => format!("arn:aws:kms:{region}:{account}:key/{k}"),
        // The AWS managed key `alias/aws/dynamodb`.
        None => format!("arn:aws:kms:{region}:{account}:key/aws-dynamodb"),
    };
    Some(t::SSEDescription {
        status: Some("ENABLED".into()),
        sse_type: Some("KMS".into()),
        kms_master_key_arn: Some(key),
        ..Default::default()
    })
}

/// What is stored for one backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BackupMeta {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub created: f64,
    /// The table's metadata at the instant of the backup.
    pub table: TableMeta,
    pub count: i64,
    pub size: i64,
    /// USER, or SYSTEM for the backup taken when a table with point-in-time recovery is
    /// deleted (kept 35 days, as on AWS).
    #[serde(default = "user_kind")]
    pub kind: String,
}

fn user_kind() -> String {
    "USER".into()
}

/// How long AWS keeps the SYSTEM backup of a deleted table.
const SYSTEM_BACKUP_SECS: f64 = 35.0 * 86_400.0;

impl BackupMeta {
    fn expiry(&self) -> Option<f64> {
        (self.kind == "SYSTEM").then_some(self.created + SYSTEM_BACKUP_SECS)
    }

    fn details(&self, status: &str) -> t::BackupDetails {
        t::BackupDetails {
            backup_arn: Some(self.arn.clone()),
            backup_name: Some(self.name.clone()),
            backup_size_bytes: Some(self.size),
            backup_status: Some(status.to_string()),
            backup_type: Some(self.kind.clone()),
            backup_creation_date_time: Some(ts(self.created)),
            backup_expiry_date_time: self.expiry().map(ts),
        }
    }

    fn description(&self, status: &str) -> t::BackupDescription {
        let m = &self.table;
        let provisioned = m.billing_mode == "PROVISIONED";
        let throughput = |r: i64, w: i64| t::ProvisionedThroughput { read_capacity_units: r, write_capacity_units: w };
        t::BackupDescription {
            backup_details: Some(self.details(status)),
            source_table_details: Some(t::SourceTableDetails {
                table_name: Some(m.name.clone()),
                table_id: Some(uuid_of(&m.id)),
                table_arn: Some(m.arn.clone()),
                table_size_bytes: Some(self.size),
                key_schema: Some(key_schema(m)),
                table_creation_date_time: Some(ts(m.created)),
                provisioned_throughput: Some(if provisioned { throughput(m.read_units, m.write_units) } else { throughput(0, 0) }),
                item_count: Some(self.count),
                billing_mode: Some(m.billing_mode.clone()),
                ..Default::default()
            }),
            source_table_feature_details: Some(t::SourceTableFeatureDetails {
                local_secondary_indexes: (!m.lsis.is_empty()).then(|| {
                    m.lsis
                        .iter()
                        .map(|l| t::LocalSecondaryIndexInfo {
                            index_name: Some(l.index_name.clone()),
                            key_schema: Some(l.key_schema.clone()),
                            projection: Some(l.projection.clone()),
                        })
                        .collect()
                }),
                global_secondary_indexes: (!m.gsis.is_empty()).then(|| {
                    m.gsis
                        .iter()
                        .map(|g| t::GlobalSecondaryIndexInfo {
                            index_name: Some(g.index_name.clone()),
                            key_schema: Some(g.key_schema.clone()),
                            projection: Some(g.projection.clone()),
                            provisioned_throughput: g.provisioned_throughput.clone(),
                            ..Default::default()
                        })
                        .collect()
                }),
                stream_description: m.stream.clone().filter(|s| s.stream_enabled),
                time_to_live_description: m.ttl.as_ref().filter(|x| x.enabled).map(|x| t::TimeToLiveDescription {
                    time_to_live_status: Some("ENABLED".into()),
                    attribute_name: Some(x.attribute.clone()),
                }),
                sse_description: m.sse.as_ref().and_then(|s| sse_description(m, s)),
            }),
        }
    }

    fn summary(&self) -> t::BackupSummary {
        t::BackupSummary {
            table_name: Some(self.table.name.clone()),
            table_id: Some(uuid_of(&self.table.id)),
            table_arn: Some(self.table.arn.clone()),
            backup_arn: Some(self.arn.clone()),
            backup_name: Some(self.name.clone()),
            backup_creation_date_time: Some(ts(self.created)),
            backup_expiry_date_time: self.expiry().map(ts),
            backup_status: Some("AVAILABLE".into()),
            backup_type: Some(self.kind.clone()),
            backup_size_bytes: Some(self.size),
        }
    }
}

fn uuid_of(id: &str) -> String {
    uuid::Uuid::parse_str(id).map(|u| u.hyphenated().to_string()).unwrap_or_else(|_| id.to_string())
}

fn key_schema(meta: &TableMeta) -> Vec<t::KeySchemaElement> {
    let mut v = vec![t::KeySchemaElement { attribute_name: meta.hash.name.clone(), key_type: "HASH".into() }];
    if let Some(r) = &meta.range {
        v.push(t::KeySchemaElement { attribute_name: r.name.clone(), key_type: "RANGE".into() });
    }
    v
}

pub(crate) fn table_not_found(name: &str) -> AwsError {
    AwsError::new(400, "TableNotFoundException", format!("Table not found: {name}"))
}

fn backup_not_found(arn: &str) -> AwsError {
    AwsError::new(400, "BackupNotFoundException", format!("Backup not found: {arn}"))
}

pub(crate) fn table_exists(name: &str) -> AwsError {
    AwsError::new(400, "TableAlreadyExistsException", format!("Table already exists: {name}"))
}

fn backup_key(account: &str, region: &str, id: &str) -> Vec<u8> {
    format!("{account}\0{region}\0{id}").into_bytes()
}

fn items_prefix(id: &str) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(0);
    k
}

/// Tables with a backup being taken and backups being restored or deleted: a second
/// conflicting operation gets BackupInUseException.
static BUSY: Mutex<Option<HashSet<String>>> = Mutex::new(None);

struct Busy(String);

impl Busy {
    fn take(what: String, err: impl FnOnce() -> AwsError) -> Result<Busy, AwsError> {
        let mut g = BUSY.lock().unwrap_or_else(|p| p.into_inner());
        let set = g.get_or_insert_with(HashSet::new);
        if !set.insert(what.clone()) {
            return Err(err());
        }
        Ok(Busy(what))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut g = BUSY.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = g.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// The overrides RestoreTableFromBackup and RestoreTableToPointInTime share.
pub(crate) struct Overrides {
    pub billing_mode: Option<String>,
    pub gsis: Option<Vec<t::GlobalSecondaryIndex>>,
    pub lsis: Option<Vec<t::LocalSecondaryIndex>>,
    pub throughput: Option<t::ProvisionedThroughput>,
    pub on_demand: Option<t::OnDemandThroughput>,
    pub sse: Option<t::SSESpecification>,
}

impl Inner {
    fn backup_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<BackupMeta, AwsError> {
        let id = arn.rsplit_once("/backup/").map(|(_, id)| id).unwrap_or_default();
        if id.is_empty() || id.contains('\0') {
            return Err(backup_not_found(arn));
        }
        let Some(raw) = self.store.get(KS_BACKUPS, &backup_key(&ctx.account_id, &ctx.region, id)).map_err(store_err)? else {
            return Err(backup_not_found(arn));
        };
        let b: BackupMeta = serde_json::from_slice(&raw).map_err(|e| AwsError::internal(format!("corrupt backup metadata: {e}")))?;
        if b.arn != arn || b.expiry().is_some_and(|e| e <= epoch_now()) {
            return Err(backup_not_found(arn));
        }
        Ok(b)
    }

    pub(crate) fn create_backup(&self, ctx: &RequestContext, input: t::CreateBackupInput) -> Result<Output, AwsError> {
        let table = self.table(ctx, &input.table_name)?.ok_or_else(|| table_not_found(&input.table_name))?;
        let _busy = Busy::take(format!("table:{}", table.id), || {
            AwsError::new(400, "BackupInUseException", format!("Backup is already in progress for table: {}", input.table_name))
        })?;
        // The snapshot is taken under the table lock, so no write is half-visible in it and
        // the schema read here is the one the items were written under.
        let (meta, snap) = {
            let g = table.lock();
            if g.deleted {
                return Err(table_not_found(&input.table_name));
            }
            (table.meta(), self.store.snapshot())
        };
        let b = self.take_backup(ctx, meta, &snap, &input.backup_name, "USER")?;
        Output::from(&t::CreateBackupOutput { backup_details: Some(b.details("AVAILABLE")) })
    }

    /// Copies the table `meta` as of `snap` into a new backup (items first, metadata last).
    pub(crate) fn take_backup(&self, ctx: &RequestContext, meta: TableMeta, snap: &nimbus_store::Snapshot, name: &str, kind: &str) -> Result<BackupMeta, AwsError> {
        let now = epoch_now();
        // Ids sort by creation: strictly increasing milliseconds, even within one.
        let millis = {
            static LAST: Mutex<u64> = Mutex::new(0);
            let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
            *last = ((now * 1000.0) as u64).max(*last + 1);
            *last
        };
        let now = now.max(millis as f64 / 1000.0);
        let id = format!("{millis:013}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        // Registered before any item is written, so the orphan cleanup leaves it alone.
        let _copying = Busy::take(format!("backup:{id}"), || AwsError::internal("backup id collision"))?;
        let stats = snap.get(KS_STATS, meta.id.as_bytes()).map_err(store_err)?;
        let mut count = 0i64;
        let mut size = 0i64;
        let mut batch = WriteBatch::new();
        for kv in snap.range(KS_ITEMS, meta.id.as_bytes().to_vec()..table_end(&meta.id), Direction::Forward).map_err(store_err)? {
            let (k, raw) = kv.map_err(store_err)?;
            if stats.is_none() {
                size += item_size(&decode_item(&raw)?) as i64;
            }
            count += 1;
            let mut bk = items_prefix(&id);
            bk.extend_from_slice(&k);
            batch.put(KS_BACKUP_ITEMS, bk, raw);
            if batch.len() >= CHUNK {
                self.store.write(std::mem::take(&mut batch)).map_err(store_err)?;
            }
        }
        if let Some(s) = stats.filter(|s| s.len() == 16) {
            let mut b = [0u8; 8];
            b.copy_from_slice(&s[8..]);
            size = i64::from_le_bytes(b);
        }
        let b = BackupMeta {
            arn: format!("{}/backup/{id}", meta.arn),
            id: id.clone(),
            name: name.to_string(),
            created: (now * 1000.0).floor() / 1000.0,
            table: meta,
            count,
            size,
            kind: kind.to_string(),
        };
        let raw = serde_json::to_vec(&b).map_err(|e| AwsError::internal(e.to_string()))?;
        batch.put(KS_BACKUPS, backup_key(&ctx.account_id, &ctx.region, &id), raw);
        self.store.write(batch).map_err(store_err)?;
        Ok(b)
    }

    pub(crate) fn describe_backup(&self, ctx: &RequestContext, input: t::DescribeBackupInput) -> Result<Output, AwsError> {
        let b = self.backup_by_arn(ctx, &input.backup_arn)?;
        Output::from(&t::DescribeBackupOutput { backup_description: Some(b.description("AVAILABLE")) })
    }

    pub(crate) fn list_backups(&self, ctx: &RequestContext, input: t::ListBackupsInput) -> Result<Output, AwsError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        // Nimbus takes USER backups and the SYSTEM backups of deleted tables (no AWS Backup).
        let wanted = input.backup_type.clone().unwrap_or_else(|| "USER".into());
        let prefix = backup_key(&ctx.account_id, &ctx.region, "");
        let start_after = input.exclusive_start_backup_arn.as_deref().and_then(|a| a.rsplit_once("/backup/")).map(|(_, id)| id.to_string());
        let lower = input.time_range_lower_bound.map(|x| x.0);
        let upper = input.time_range_upper_bound.map(|x| x.0);
        let mut out = Vec::new();
        let mut last = None;
        if wanted != "AWS_BACKUP" {
            for kv in self.store.prefix(KS_BACKUPS, &prefix, Direction::Forward).map_err(store_err)? {
                let (k, raw) = kv.map_err(store_err)?;
                let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                if start_after.as_ref().is_some_and(|s| id.as_str() <= s.as_str()) {
                    continue;
                }
                let Ok(b) = serde_json::from_slice::<BackupMeta>(&raw) else { continue };
                if input.table_name.as_ref().is_some_and(|n| *n != b.table.name) {
                    continue;
                }
                if wanted != "ALL" && wanted != b.kind {
                    continue;
                }
                if b.expiry().is_some_and(|e| e <= epoch_now()) {
                    continue;
                }
                // The lower bound is inclusive, the upper bound exclusive (as AWS documents).
                if lower.is_some_and(|l| b.created < l) || upper.is_some_and(|u| b.created >= u) {
                    continue;
                }
                if out.len() == limit {
                    last = out.last().and_then(|s: &t::BackupSummary| s.backup_arn.clone());
                    break;
                }
                out.push(b.summary());
            }
        }
        Output::from(&t::ListBackupsOutput { backup_summaries: Some(out), last_evaluated_backup_arn: last })
    }

    pub(crate) fn delete_backup(&self, ctx: &RequestContext, input: t::DeleteBackupInput) -> Result<Output, AwsError> {
        let b = self.backup_by_arn(ctx, &input.backup_arn)?;
        let _busy = Busy::take(format!("backup:{}", b.id), || {
            AwsError::new(400, "BackupInUseException", format!("Backup is in use: {}", input.backup_arn))
        })?;
        // The metadata goes first, so the backup disappears at once; its items follow.
        self.store.delete(KS_BACKUPS, backup_key(&ctx.account_id, &ctx.region, &b.id)).map_err(store_err)?;
        self.drop_items_prefix(KS_BACKUP_ITEMS, &items_prefix(&b.id))?;
        Output::from(&t::DeleteBackupOutput { backup_description: Some(b.description("DELETED")) })
    }

    /// Deletes the items of backups whose metadata was never written (a crash while the
    /// backup was being taken) or is gone (a crash while it was being deleted).
    pub(crate) fn drop_orphan_backup_items(&self) -> Result<(), AwsError> {
        let known_ids = || -> Result<HashSet<Vec<u8>>, AwsError> {
            let mut known = HashSet::new();
            for kv in self.store.prefix(KS_BACKUPS, b"", Direction::Forward).map_err(store_err)? {
                let (k, _) = kv.map_err(store_err)?;
                if let Some(id) = k.rsplit(|b| *b == 0).next() {
                    known.insert(id.to_vec());
                }
            }
            Ok(known)
        };
        let known = known_ids()?;
        // One seek per backup: jump past each backup's items.
        let mut from: Vec<u8> = Vec::new();
        loop {
            let mut scan = if from.is_empty() {
                self.store.prefix(KS_BACKUP_ITEMS, b"", Direction::Forward)
            } else {
                self.store.range(KS_BACKUP_ITEMS, from.clone().., Direction::Forward)
            }
            .map_err(store_err)?;
            let first = scan.next();
            let Some(kv) = first else { return Ok(()) };
            let (k, _) = kv.map_err(store_err)?;
            let id = k.split(|b| *b == 0).next().unwrap_or_default().to_vec();
            if !known.contains(&id) {
                // Not while a backup with this id is being taken (its metadata comes last);
                // once none is, the metadata either exists by now or never will.
                if let Ok(_g) = Busy::take(format!("backup:{}", String::from_utf8_lossy(&id)), || AwsError::internal("busy")) {
                    if !known_ids()?.contains(&id) {
                        let mut prefix = id.clone();
                        prefix.push(0);
                        self.drop_items_prefix(KS_BACKUP_ITEMS, &prefix)?;
                    }
                }
            }
            from = id;
            from.push(1);
        }
    }

    /// Drops the items and index entries of a restore that did not complete.
    fn drop_restore(&self, ids: &[String]) -> Result<(), AwsError> {
        if let Some((table, indexes)) = ids.split_first() {
            self.drop_items_prefix(KS_ITEMS, table.as_bytes())?;
            for ix in indexes {
                self.drop_items_prefix(KS_INDEX, ix.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Cleans up after restores a crash interrupted (each left a marker naming its ids).
    pub(crate) fn drop_interrupted_restores(&self) -> Result<(), AwsError> {
        // Restores run under the control-plane lock: none is in flight while this holds it.
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let mut markers = Vec::new();
        for kv in self.store.prefix(KS_RESTORES, b"", Direction::Forward).map_err(store_err)? {
            markers.push(kv.map_err(store_err)?);
        }
        for (k, raw) in markers {
            let ids: Vec<String> = serde_json::from_slice(&raw).unwrap_or_default();
            // Only 32-hex ids: a damaged marker must not widen what is deleted.
            if ids.iter().all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())) {
                self.drop_restore(&ids)?;
            }
            self.store.delete(KS_RESTORES, k).map_err(store_err)?;
        }
        Ok(())
    }

    /// Deletes SYSTEM backups past their expiry.
    pub(crate) fn prune_backups(&self) -> Result<(), AwsError> {
        let now = epoch_now();
        let mut expired = Vec::new();
        for kv in self.store.prefix(KS_BACKUPS, b"", Direction::Forward).map_err(store_err)? {
            let (k, raw) = kv.map_err(store_err)?;
            if let Ok(b) = serde_json::from_slice::<BackupMeta>(&raw) {
                if b.expiry().is_some_and(|e| e <= now) {
                    expired.push((k, b.id));
                }
            }
        }
        for (k, id) in expired {
            self.store.delete(KS_BACKUPS, k).map_err(store_err)?;
            self.drop_items_prefix(KS_BACKUP_ITEMS, &items_prefix(&id))?;
        }
        Ok(())
    }

    pub(crate) fn drop_items_prefix(&self, ks: &str, prefix: &[u8]) -> Result<(), AwsError> {
        loop {
            let mut batch = WriteBatch::new();
            for kv in self.store.prefix(ks, prefix, Direction::Forward).map_err(store_err)?.take(1000) {
                let (k, _) = kv.map_err(store_err)?;
                batch.delete(ks, k);
            }
            if batch.is_empty() {
                return Ok(());
            }
            self.store.write(batch).map_err(store_err)?;
        }
    }

    pub(crate) fn restore_from_backup(&self, ctx: &RequestContext, input: t::RestoreTableFromBackupInput) -> Result<Output, AwsError> {
        let b = self.backup_by_arn(ctx, &input.backup_arn)?;
        let _busy = Busy::take(format!("backup:{}", b.id), || {
            AwsError::new(400, "BackupInUseException", format!("Backup is in use: {}", input.backup_arn))
        })?;
        let ov = Overrides {
            billing_mode: input.billing_mode_override,
            gsis: input.global_secondary_index_override,
            lsis: input.local_secondary_index_override,
            throughput: input.provisioned_throughput_override,
            on_demand: input.on_demand_throughput_override,
            sse: input.sse_specification_override,
        };
        let restore = RestoreMeta { source_backup_arn: Some(b.arn.clone()), source_table_arn: b.table.arn.clone(), restore_time: b.created };
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        if self.table(ctx, &input.target_table_name)?.is_some() {
            return Err(table_exists(&input.target_table_name));
        }
        let meta = restored_meta(ctx, &b.table, &input.target_table_name, &ov, restore)?;
        let prefix = items_prefix(&b.id);
        let snap = self.store.snapshot();
        let items = snap.prefix(KS_BACKUP_ITEMS, &prefix, Direction::Forward).map_err(store_err)?.map(|kv| {
            let (_, raw) = kv.map_err(store_err)?;
            decode_item(&raw)
        });
        let desc = self.materialize(ctx, meta, items)?;
        Output::from(&t::RestoreTableFromBackupOutput { table_description: Some(desc) })
    }

    /// Writes a new table: its items and their index entries in chunks, then its
    /// metadata and stats in the last batch (so it appears only once complete). The caller
    /// holds the control-plane lock and has checked that the name is free.
    pub(crate) fn materialize(
        &self,
        ctx: &RequestContext,
        meta: TableMeta,
        items: impl Iterator<Item = Result<Item, AwsError>>,
    ) -> Result<t::TableDescription, AwsError> {
        let table = Table {
            id: meta.id.clone(),
            name: meta.name.clone(),
            hash: meta.hash.clone(),
            range: meta.range.clone(),
            meta: RwLock::new(meta.clone()),
            state: Mutex::new(TableState::default()),
            bucket: Mutex::new(crate::capacity::Buckets::new()),
        };
        let mut state = TableState::default();
        let mut batch = WriteBatch::new();
        // The marker names what this restore writes, so a crash midway can be cleaned up
        // at the next start; the last batch removes it with the metadata.
        let ids: Vec<String> = std::iter::once(meta.id.clone()).chain(meta.indexes.iter().map(|i| i.id.clone())).collect();
        let marker = serde_json::to_vec(&ids).map_err(|e| AwsError::internal(e.to_string()))?;
        batch.put(KS_RESTORES, meta.id.as_bytes().to_vec(), marker);
        let mut written = false;
        let cleanup = |inner: &Inner| {
            // A restore that fails halfway leaves nothing behind.
            let _ = inner.drop_restore(&ids);
            let _ = inner.store.delete(KS_RESTORES, meta.id.as_bytes().to_vec());
        };
        for item in items {
            let step = (|| -> Result<(), AwsError> {
                let item = item?;
                let key = item_key(&table, &item)?;
                for ix in &meta.indexes {
                    // An item whose index key has another type than the (overridden) index
                    // expects is simply not in that index.
                    if ix.check_item(&item).is_ok() {
                        if let Some(ek) = ix.entry_key(&table, &item) {
                            batch.put(KS_INDEX, ek, encode_item(&ix.project(&table, &item))?);
                        }
                    }
                }
                state.count += 1;
                state.size += item_size(&item) as i64;
                batch.put(KS_ITEMS, key, encode_item(&item)?);
                Ok(())
            })();
            if let Err(e) = step {
                if written {
                    cleanup(self);
                }
                return Err(e);
            }
            if batch.len() >= CHUNK {
                written = true;
                if let Err(e) = self.store.write(std::mem::take(&mut batch)) {
                    cleanup(self);
                    return Err(store_err(e));
                }
            }
        }
        let raw = serde_json::to_vec(&meta).map_err(|e| AwsError::internal(e.to_string()))?;
        batch.put(KS_TABLES, table_key(&ctx.account_id, &ctx.region, &meta.name), raw);
        batch.put(KS_STATS, meta.id.as_bytes().to_vec(), state.encode());
        batch.delete(KS_RESTORES, meta.id.as_bytes().to_vec());
        if let Err(e) = self.store.write(batch) {
            cleanup(self);
            return Err(store_err(e));
        }
        Ok(self.describe(ctx, &meta, &state, "ACTIVE"))
    }
}

/// The metadata of a table restored from `src` as `name`, with the request's overrides.
/// Streams, TTL, tags, point-in-time recovery and deletion protection are not carried
/// over (AWS leaves them to be set up again on the restored table).
pub(crate) fn restored_meta(ctx: &RequestContext, src: &TableMeta, name: &str, ov: &Overrides, restore: RestoreMeta) -> Result<TableMeta, AwsError> {
    if ov.on_demand.is_some() {
        return Err(AwsError::validation("OnDemandThroughputOverride is not supported by Nimbus"));
    }
    let now = epoch_now();
    let mut m = src.clone();
    m.name = name.to_string();
    m.id = uuid::Uuid::new_v4().simple().to_string();
    m.arn = format!("arn:aws:dynamodb:{}:{}:table/{name}", ctx.region, ctx.account_id);
    m.created = (now * 1000.0).floor() / 1000.0;
    m.tags = Vec::new();
    m.stream = None;
    m.streams = Vec::new();
    m.ttl = None;
    m.pitr = None;
    m.deletion_protection = false;
    m.restore = Some(restore);
    if let Some(s) = &ov.sse {
        m.sse = Some(s.clone());
    }
    // Billing mode and throughput.
    let mode = ov.billing_mode.clone().unwrap_or_else(|| src.billing_mode.clone());
    let throughput = ov.throughput.clone().or_else(|| {
        (mode == "PROVISIONED" && src.billing_mode == "PROVISIONED")
            .then_some(t::ProvisionedThroughput { read_capacity_units: src.read_units, write_capacity_units: src.write_units })
    });
    let (r, w) = check_billing(&mode, throughput.as_ref())?;
    if mode != src.billing_mode || m.pay_per_request_since.is_none() && mode == "PAY_PER_REQUEST" {
        m.pay_per_request_since = (mode == "PAY_PER_REQUEST").then_some(now.floor());
    }
    m.billing_mode = mode.clone();
    m.read_units = r;
    m.write_units = w;
    // Indexes: the source's or the overrides.
    if let Some(g) = &ov.gsis {
        m.gsis = g.clone();
    }
    if let Some(l) = &ov.lsis {
        m.lsis = l.clone();
    }
    let mut names = BTreeSet::new();
    for l in &m.lsis {
        let (h, r) = check_key_schema(&l.key_schema, "KeySchema")?;
        check_projection(&l.projection)?;
        if h != m.hash.name {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {h}, table hash key: {}",
                l.index_name, m.hash.name
            )));
        }
        if r.is_none() || m.range.is_none() {
            return Err(AwsError::validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"));
        }
        if !names.insert(l.index_name.clone()) {
            return Err(AwsError::validation(format!("One or more parameter values were invalid: Duplicate index name: {}", l.index_name)));
        }
    }
    for g in m.gsis.iter_mut() {
        check_key_schema(&g.key_schema, "KeySchema")?;
        check_projection(&g.projection)?;
        if !names.insert(g.index_name.clone()) {
            return Err(AwsError::validation(format!("One or more parameter values were invalid: Duplicate index name: {}", g.index_name)));
        }
        if mode == "PROVISIONED" {
            if g.provisioned_throughput.is_none() {
                g.provisioned_throughput = Some(t::ProvisionedThroughput { read_capacity_units: r, write_capacity_units: w });
            }
        } else {
            g.provisioned_throughput = None;
        }
    }
    // Every key attribute must be defined; definitions no index uses any more are dropped.
    let used: BTreeSet<String> = std::iter::once(m.hash.name.clone())
        .chain(m.range.iter().map(|r| r.name.clone()))
        .chain(m.lsis.iter().flat_map(|l| l.key_schema.iter().map(|k| k.attribute_name.clone())))
        .chain(m.gsis.iter().flat_map(|g| g.key_schema.iter().map(|k| k.attribute_name.clone())))
        .collect();
    let ty_of = |n: &str| m.attribute_definitions.iter().find(|d| d.attribute_name == n).map(|d| d.attribute_type.clone());
    let missing: Vec<&str> = used.iter().map(String::as_str).filter(|u| ty_of(u).is_none()).collect();
    if !missing.is_empty() {
        return Err(AwsError::validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            used.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
            m.attribute_definitions.iter().map(|d| d.attribute_name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let key_attr = |n: &str| KeyAttr { name: n.to_string(), ty: ty_of(n).unwrap_or_default() };
    let mut indexes = Vec::new();
    for l in &m.lsis {
        let r = l.key_schema.get(1).map(|k| key_attr(&k.attribute_name));
        indexes.push(IndexMeta::new(&l.index_name, true, key_attr(&m.hash.name), r, &l.projection));
    }
    for g in &m.gsis {
        let h = g.key_schema.first().map(|k| key_attr(&k.attribute_name)).unwrap_or_else(|| key_attr(&m.hash.name));
        let r = g.key_schema.get(1).map(|k| key_attr(&k.attribute_name));
        indexes.push(IndexMeta::new(&g.index_name, false, h, r, &g.projection));
    }
    m.indexes = indexes;
    m.attribute_definitions.retain(|d| used.contains(&d.attribute_name));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use nimbus_store::{Direction, WriteBatch};
    use nimbus_types::RequestContext;
    use serde_json::json;

    use crate::{KS_BACKUP_ITEMS, KS_ITEMS};

    #[test]
    fn interrupted_backups_are_cleaned_and_complete_ones_kept() {
        use nimbus_model::services::dynamodb::Op;
        use nimbus_protocol::Input;
        let d = crate::DynamoDb::without_sweeper(nimbus_store::Store::temporary().unwrap());
        let ctx = RequestContext::new("000000000000", "us-east-1");
        let call = |op: Op, v: serde_json::Value| d.inner.dispatch(&ctx, op, Input { value: v, payload: None }).map(|o| o.value).unwrap();
        call(Op::CreateTable, json!({"TableName": "Tab", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]}));
        for i in 0..3 {
            call(Op::PutItem, json!({"TableName": "Tab", "Item": {"k": {"S": format!("k{i}")}}}));
        }
        let b = call(Op::CreateBackup, json!({"TableName": "Tab", "BackupName": "kept"}));
        // What a crash in the middle of a backup leaves: items without metadata.
        let mut batch = WriteBatch::new();
        for kv in d.inner.store.prefix(KS_ITEMS, b"", Direction::Forward).unwrap() {
            let (k, v) = kv.unwrap();
            let mut bk = b"0000000000001-deadbeef\0".to_vec();
            bk.extend_from_slice(&k);
            batch.put(KS_BACKUP_ITEMS, bk, v);
        }
        d.inner.store.write(batch).unwrap();
        assert_eq!(d.inner.store.prefix(KS_BACKUP_ITEMS, b"", Direction::Forward).unwrap().count(), 6);
        d.inner.drop_orphan_backup_items().unwrap();
        assert_eq!(d.inner.store.prefix(KS_BACKUP_ITEMS, b"", Direction::Forward).unwrap().count(), 3);
        call(Op::RestoreTableFromBackup, json!({"TargetTableName": "Back", "BackupArn": b["BackupDetails"]["BackupArn"]}));
        assert_eq!(call(Op::DescribeTable, json!({"TableName": "Back"}))["Table"]["ItemCount"], 3);
        assert_eq!(d.inner.store.prefix(super::KS_RESTORES, b"", Direction::Forward).unwrap().count(), 0);
    }

    #[test]
    fn interrupted_restores_are_cleaned() {
        let d = crate::DynamoDb::without_sweeper(nimbus_store::Store::temporary().unwrap());
        // What a crash in the middle of a restore leaves: its marker and some items.
        let (t, ix) = ("a".repeat(32), "b".repeat(32));
        let mut batch = WriteBatch::new();
        batch.put(super::KS_RESTORES, t.as_bytes().to_vec(), serde_json::to_vec(&[&t, &ix]).unwrap());
        batch.put(KS_ITEMS, format!("{t}item").into_bytes(), b"{}".to_vec());
        batch.put(crate::KS_INDEX, format!("{ix}entry").into_bytes(), b"{}".to_vec());
        batch.put(KS_ITEMS, format!("{}item", "c".repeat(32)).into_bytes(), b"{}".to_vec());
        d.inner.store.write(batch).unwrap();
        d.inner.drop_interrupted_restores().unwrap();
        assert_eq!(d.inner.store.prefix(KS_ITEMS, b"", Direction::Forward).unwrap().count(), 1, "other tables are untouched");
        assert_eq!(d.inner.store.prefix(crate::KS_INDEX, b"", Direction::Forward).unwrap().count(), 0);
        assert_eq!(d.inner.store.prefix(super::KS_RESTORES, b"", Direction::Forward).unwrap().count(), 0);
    }
}
