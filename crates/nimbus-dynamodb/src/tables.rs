//! The control plane: CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable and tags.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use nimbus_model::types::dynamodb as t;
use nimbus_model::Timestamp;
use nimbus_protocol::Output;
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{epoch_now, AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::indexes::{spawn_backfill, spawn_drop, IndexMeta};
use crate::streams::StreamMeta;
use crate::ttl::TtlMeta;
use crate::{out, store_err, Inner, KS_ITEMS, KS_STATS, KS_TABLES};

/// A key attribute: name and scalar type (`S`, `N` or `B`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct KeyAttr {
    pub name: String,
    pub ty: String,
}

/// What is stored for a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableMeta {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub created: f64,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub attribute_definitions: Vec<t::AttributeDefinition>,
    pub billing_mode: String,
    pub read_units: i64,
    pub write_units: i64,
    #[serde(default)]
    pub pay_per_request_since: Option<f64>,
    #[serde(default)]
    pub gsis: Vec<t::GlobalSecondaryIndex>,
    #[serde(default)]
    pub lsis: Vec<t::LocalSecondaryIndex>,
    #[serde(default)]
    pub tags: Vec<t::Tag>,
    #[serde(default)]
    pub stream: Option<t::StreamSpecification>,
    #[serde(default)]
    pub deletion_protection: bool,
    #[serde(default)]
    pub table_class: Option<String>,
    /// Secondary indexes with their storage ids and status.
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
    /// Streams, oldest first; the last is the latest.
    #[serde(default)]
    pub streams: Vec<StreamMeta>,
    #[serde(default)]
    pub ttl: Option<TtlMeta>,
    /// Point-in-time recovery, while enabled.
    #[serde(default)]
    pub pitr: Option<crate::pitr::PitrMeta>,
    /// Where a restored table came from.
    #[serde(default)]
    pub restore: Option<crate::backups::RestoreMeta>,
    /// Server-side encryption as specified (None: AWS-owned key, not shown).
    #[serde(default)]
    pub sse: Option<t::SSESpecification>,
}

impl TableMeta {
    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// Item count and total item size, guarded by the table's write lock.
#[derive(Debug, Default)]
pub(crate) struct TableState {
    pub count: i64,
    pub size: i64,
    pub deleted: bool,
    /// The latest stream's id and next sequence number, once known.
    pub stream_next: Option<(String, u64)>,
}

impl TableState {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&self.size.to_le_bytes());
        v
    }

    fn decode(b: &[u8]) -> TableState {
        let mut s = TableState::default();
        if b.len() == 16 {
            let mut c = [0u8; 8];
            c.copy_from_slice(&b[..8]);
            s.count = i64::from_le_bytes(c);
            c.copy_from_slice(&b[8..]);
            s.size = i64::from_le_bytes(c);
        }
        s
    }
}

/// A loaded table: immutable key schema, mutable metadata, and the write lock.
pub(crate) struct Table {
    pub id: String,
    pub name: String,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub meta: RwLock<TableMeta>,
    pub state: Mutex<TableState>,
    /// Provisioned-capacity token buckets.
    pub bucket: Mutex<crate::capacity::Buckets>,
}

impl Table {
    pub fn lock(&self) -> MutexGuard<'_, TableState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn meta(&self) -> TableMeta {
        self.meta.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn key_names(&self) -> Vec<&str> {
        let mut v = vec![self.hash.name.as_str()];
        if let Some(r) = &self.range {
            v.push(r.name.as_str());
        }
        v
    }
}

pub(crate) fn table_key(account: &str, region: &str, name: &str) -> Vec<u8> {
    format!("{account}\0{region}\0{name}").into_bytes()
}

fn table_prefix(account: &str, region: &str) -> Vec<u8> {
    format!("{account}\0{region}\0").into_bytes()
}

fn describe_not_found(name: &str) -> AwsError {
    AwsError::new(400, "ResourceNotFoundException", format!("Requested resource not found: Table: {name} not found"))
}

fn in_use(msg: String) -> AwsError {
    AwsError::new(400, "ResourceInUseException", msg)
}

pub(crate) fn ts(secs: f64) -> Timestamp {
    Timestamp(secs)
}

impl Inner {
    /// The table `name` in the caller's account and region, if it exists.
    pub(crate) fn table(&self, ctx: &RequestContext, name: &str) -> Result<Option<Arc<Table>>, AwsError> {
        let k = (ctx.account_id.clone(), ctx.region.clone(), name.to_string());
        if let Some(t) = self.tables.read().unwrap_or_else(|p| p.into_inner()).get(&k) {
            return Ok(Some(t.clone()));
        }
        let Some(raw) = self.store.get(KS_TABLES, &table_key(&k.0, &k.1, &k.2)).map_err(store_err)? else {
            return Ok(None);
        };
        let meta: TableMeta = serde_json::from_slice(&raw)
            .map_err(|e| AwsError::internal(format!("corrupt table metadata for {name}: {e}")))?;
        let state = match self.store.get(KS_STATS, meta.id.as_bytes()).map_err(store_err)? {
            Some(b) => TableState::decode(&b),
            None => TableState::default(),
        };
        let table = Arc::new(Table {
            id: meta.id.clone(),
            name: meta.name.clone(),
            hash: meta.hash.clone(),
            range: meta.range.clone(),
            meta: RwLock::new(meta),
            state: Mutex::new(state),
            bucket: Mutex::new(crate::capacity::Buckets::new()),
        });
        let mut map = self.tables.write().unwrap_or_else(|p| p.into_inner());
        Ok(Some(map.entry(k).or_insert(table).clone()))
    }

    /// The table `name`, or ResourceNotFoundException ("Requested resource not found").
    pub(crate) fn require_table(&self, ctx: &RequestContext, name: &str) -> Result<Arc<Table>, AwsError> {
        self.table(ctx, name)?.ok_or_else(crate::not_found)
    }

    fn save_meta(&self, ctx: &RequestContext, meta: &TableMeta) -> Result<(), AwsError> {
        let raw = serde_json::to_vec(meta).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(KS_TABLES, table_key(&ctx.account_id, &ctx.region, &meta.name), raw).map_err(store_err)
    }

    /// Saves metadata under the account and region of its ARN.
    pub(crate) fn save_meta_raw(&self, meta: &TableMeta) -> Result<(), AwsError> {
        let parts: Vec<&str> = meta.arn.splitn(6, ':').collect();
        let (Some(region), Some(account)) = (parts.get(3), parts.get(4)) else {
            return Err(AwsError::internal(format!("bad table ARN {}", meta.arn)));
        };
        let raw = serde_json::to_vec(meta).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(KS_TABLES, table_key(account, region, &meta.name), raw).map_err(store_err)
    }

    pub(crate) fn describe(&self, ctx: &RequestContext, meta: &TableMeta, state: &TableState, status: &str) -> t::TableDescription {
        let provisioned = meta.billing_mode == "PROVISIONED";
        let throughput = |r: i64, w: i64| t::ProvisionedThroughputDescription {
            number_of_decreases_today: Some(0),
            read_capacity_units: Some(if provisioned { r } else { 0 }),
            write_capacity_units: Some(if provisioned { w } else { 0 }),
            ..Default::default()
        };
        let index_arn = |n: &str| format!("{}/index/{n}", meta.arn);
        let _ = ctx;
        t::TableDescription {
            attribute_definitions: Some(meta.attribute_definitions.clone()),
            table_name: Some(meta.name.clone()),
            key_schema: Some(key_schema(meta)),
            table_status: Some(status.to_string()),
            creation_date_time: Some(ts(meta.created)),
            provisioned_throughput: Some(throughput(meta.read_units, meta.write_units)),
            table_size_bytes: Some(state.size),
            item_count: Some(state.count),
            table_arn: Some(meta.arn.clone()),
            table_id: Some(meta.id_uuid()),
            billing_mode_summary: Some(t::BillingModeSummary {
                billing_mode: Some(meta.billing_mode.clone()),
                last_update_to_pay_per_request_date_time: meta.pay_per_request_since.map(ts),
            }),
            local_secondary_indexes: (!meta.lsis.is_empty()).then(|| {
                meta.lsis
                    .iter()
                    .map(|i| {
                        let (count, size) = meta.index(&i.index_name).map(|x| self.index_stats(&x.id)).unwrap_or((0, 0));
                        t::LocalSecondaryIndexDescription {
                            index_name: Some(i.index_name.clone()),
                            key_schema: Some(i.key_schema.clone()),
                            projection: Some(i.projection.clone()),
                            index_size_bytes: Some(size),
                            item_count: Some(count),
                            index_arn: Some(index_arn(&i.index_name)),
                        }
                    })
                    .collect()
            }),
            global_secondary_indexes: (!meta.gsis.is_empty()).then(|| {
                meta.gsis
                    .iter()
                    .map(|i| {
                        let im = meta.index(&i.index_name);
                        let (count, size) = im.map(|x| self.index_stats(&x.id)).unwrap_or((0, 0));
                        let status = im.map(|x| x.status.clone()).unwrap_or_else(|| "ACTIVE".into());
                        t::GlobalSecondaryIndexDescription {
                            index_name: Some(i.index_name.clone()),
                            key_schema: Some(i.key_schema.clone()),
                            projection: Some(i.projection.clone()),
                            backfilling: (status == "CREATING").then(|| im.is_some_and(|x| x.backfilling)),
                            index_status: Some(status),
                            provisioned_throughput: Some(match &i.provisioned_throughput {
                                Some(p) => throughput(p.read_capacity_units, p.write_capacity_units),
                                None => throughput(0, 0),
                            }),
                            index_size_bytes: Some(size),
                            item_count: Some(count),
                            index_arn: Some(index_arn(&i.index_name)),
                            ..Default::default()
                        }
                    })
                    .collect()
            }),
            stream_specification: meta.stream.clone().filter(|s| s.stream_enabled),
            latest_stream_arn: meta.streams.last().map(|s| s.arn.clone()),
            latest_stream_label: meta.streams.last().map(|s| s.label.clone()),
            table_class_summary: meta.table_class.clone().map(|c| t::TableClassSummary { table_class: Some(c), ..Default::default() }),
            deletion_protection_enabled: Some(meta.deletion_protection),
            restore_summary: meta.restore.as_ref().map(|r| r.summary()),
            sse_description: meta.sse.as_ref().and_then(|s| crate::backups::sse_description(meta, s)),
            ..Default::default()
        }
    }

    pub(crate) fn create_table(&self, ctx: &RequestContext, input: t::CreateTableInput) -> Result<Output, AwsError> {
        let key_schema = input.key_schema.clone().unwrap_or_default();
        let defs = input.attribute_definitions.clone().unwrap_or_default();
        if key_schema.is_empty() {
            return Err(AwsError::validation("1 validation error detected: Value null at 'keySchema' failed to satisfy constraint: Member must not be null"));
        }
        if defs.is_empty() {
            return Err(AwsError::validation("1 validation error detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null"));
        }
        let (hash_name, range_name) = check_key_schema(&key_schema, "KeySchema")?;
        // Attribute definitions: unique names, and exactly the attributes the keys use.
        let mut defined = BTreeSet::new();
        for d in &defs {
            if !defined.insert(d.attribute_name.as_str()) {
                return Err(AwsError::validation(format!(
                    "Invalid Request: Cannot have two attributes with the same name: {}",
                    d.attribute_name
                )));
            }
        }
        let mut used: Vec<&str> = vec![hash_name.as_str()];
        if let Some(r) = &range_name {
            used.push(r.as_str());
        }
        let lsis = input.local_secondary_indexes.clone().unwrap_or_default();
        let gsis = input.global_secondary_indexes.clone().unwrap_or_default();
        let mut index_names = BTreeSet::new();
        for l in &lsis {
            let (h, r) = check_key_schema(&l.key_schema, "KeySchema")?;
            if h != hash_name {
                return Err(AwsError::validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {h}, table hash key: {hash_name}",
                    l.index_name
                )));
            }
            if r.is_none() || range_name.is_none() {
                return Err(AwsError::validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"));
            }
            used.extend(l.key_schema.iter().map(|k| k.attribute_name.as_str()));
            if !index_names.insert(l.index_name.as_str()) {
                return Err(AwsError::validation(format!("One or more parameter values were invalid: Duplicate index name: {}", l.index_name)));
            }
        }
        for l in &lsis {
            check_projection(&l.projection)?;
        }
        for g in &gsis {
            check_key_schema(&g.key_schema, "KeySchema")?;
            check_projection(&g.projection)?;
            used.extend(g.key_schema.iter().map(|k| k.attribute_name.as_str()));
            if !index_names.insert(g.index_name.as_str()) {
                return Err(AwsError::validation(format!("One or more parameter values were invalid: Duplicate index name: {}", g.index_name)));
            }
        }
        let used_set: BTreeSet<&str> = used.iter().copied().collect();
        let missing: Vec<&str> = used_set.iter().copied().filter(|u| !defined.contains(u)).collect();
        if !missing.is_empty() {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                used_set.iter().copied().collect::<Vec<_>>().join(", "),
                defs.iter().map(|d| d.attribute_name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if defined.len() != used_set.len() {
            if lsis.is_empty() && gsis.is_empty() {
                return Err(AwsError::validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"));
            }
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                defs.iter().map(|d| d.attribute_name.as_str()).collect::<Vec<_>>().join(", "),
                used_set.iter().copied().collect::<Vec<_>>().join(", ")
            )));
        }
        let ty_of = |n: &str| defs.iter().find(|d| d.attribute_name == n).map(|d| d.attribute_type.clone()).unwrap_or_default();
        let billing_mode = input.billing_mode.clone().unwrap_or_else(|| "PROVISIONED".into());
        let (read_units, write_units) = check_billing(&billing_mode, input.provisioned_throughput.as_ref())?;
        if billing_mode == "PROVISIONED" {
            for g in &gsis {
                if g.provisioned_throughput.is_none() {
                    return Err(AwsError::validation(format!(
                        "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                        g.index_name
                    )));
                }
            }
        }

        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        if self.table(ctx, &input.table_name)?.is_some() {
            return Err(in_use(format!("Table already exists: {}", input.table_name)));
        }
        let now = epoch_now();
        let arn = format!("arn:aws:dynamodb:{}:{}:table/{}", ctx.region, ctx.account_id, input.table_name);
        let key_attr = |n: &str| KeyAttr { ty: ty_of(n), name: n.to_string() };
        let mut indexes = Vec::new();
        for l in &lsis {
            let r = l.key_schema.get(1).map(|k| key_attr(&k.attribute_name));
            indexes.push(IndexMeta::new(&l.index_name, true, key_attr(&hash_name), r, &l.projection));
        }
        for g in &gsis {
            let h = g.key_schema.first().map(|k| key_attr(&k.attribute_name)).unwrap_or_else(|| key_attr(&hash_name));
            let r = g.key_schema.get(1).map(|k| key_attr(&k.attribute_name));
            indexes.push(IndexMeta::new(&g.index_name, false, h, r, &g.projection));
        }
        let stream = check_stream_spec(input.stream_specification.as_ref())?;
        let streams: Vec<StreamMeta> = stream.iter().map(|vt| StreamMeta::new(&arn, vt)).collect();
        let meta = TableMeta {
            name: input.table_name.clone(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            arn,
            created: (now * 1000.0).floor() / 1000.0,
            hash: KeyAttr { ty: ty_of(&hash_name), name: hash_name },
            range: range_name.map(|r| KeyAttr { ty: ty_of(&r), name: r }),
            attribute_definitions: defs,
            pay_per_request_since: (billing_mode == "PAY_PER_REQUEST").then_some(now.floor()),
            billing_mode,
            read_units,
            write_units,
            gsis,
            lsis,
            tags: input.tags.clone().unwrap_or_default(),
            stream: input.stream_specification.clone(),
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
            table_class: input.table_class.clone(),
            indexes,
            streams,
            ttl: None,
            pitr: None,
            restore: None,
            sse: input.sse_specification.clone(),
        };
        let raw = serde_json::to_vec(&meta).map_err(|e| AwsError::internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(KS_TABLES, table_key(&ctx.account_id, &ctx.region, &meta.name), raw);
        batch.put(KS_STATS, meta.id.as_bytes().to_vec(), TableState::default().encode());
        self.store.write(batch).map_err(store_err)?;
        let desc = self.describe(ctx, &meta, &TableState::default(), "ACTIVE");
        Output::from(&t::CreateTableOutput { table_description: Some(desc) })
    }

    pub(crate) fn describe_table(&self, ctx: &RequestContext, input: t::DescribeTableInput) -> Result<Output, AwsError> {
        let table = self.table(ctx, &input.table_name)?.ok_or_else(|| describe_not_found(&input.table_name))?;
        let meta = table.meta();
        let state = table.lock();
        let desc = self.describe(ctx, &meta, &state, "ACTIVE");
        drop(state);
        Output::from(&t::DescribeTableOutput { table: Some(desc) })
    }

    pub(crate) fn list_tables(&self, ctx: &RequestContext, input: t::ListTablesInput) -> Result<Output, AwsError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let prefix = table_prefix(&ctx.account_id, &ctx.region);
        let mut names = Vec::new();
        let mut more = false;
        for kv in self.store.prefix(KS_TABLES, &prefix, Direction::Forward).map_err(store_err)? {
            let (k, _) = kv.map_err(store_err)?;
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(start) = &input.exclusive_start_table_name {
                if name.as_str() <= start.as_str() {
                    continue;
                }
            }
            if names.len() == limit {
                more = true;
                break;
            }
            names.push(name);
        }
        let last = if more { names.last().cloned() } else { None };
        Output::from(&t::ListTablesOutput { table_names: Some(names), last_evaluated_table_name: last })
    }

    pub(crate) fn delete_table(&self, ctx: &RequestContext, input: t::DeleteTableInput) -> Result<Output, AwsError> {
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.table(ctx, &input.table_name)?.ok_or_else(|| describe_not_found(&input.table_name))?;
        let meta = table.meta();
        if meta.deletion_protection {
            return Err(AwsError::validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."));
        }
        let mut state = table.lock();
        // As on AWS, deleting a table with point-in-time recovery keeps a SYSTEM backup of
        // its last state (for 35 days), taken while writes are held off.
        if meta.pitr.is_some() {
            let snap = self.store.snapshot();
            self.take_backup(ctx, meta.clone(), &snap, &format!("{}$DeletedTableBackup", meta.name), "SYSTEM")?;
        }
        let desc = self.describe(ctx, &meta, &state, "DELETING");
        // Drop the metadata first (atomically with the stats), then the items in chunks.
        let mut batch = WriteBatch::new();
        batch.delete(KS_TABLES, table_key(&ctx.account_id, &ctx.region, &meta.name));
        batch.delete(KS_STATS, meta.id.as_bytes().to_vec());
        self.store.write(batch).map_err(store_err)?;
        state.deleted = true;
        drop(state);
        self.tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(ctx.account_id.clone(), ctx.region.clone(), meta.name.clone()));
        for ix in &meta.indexes {
            spawn_drop(self.me.clone(), crate::KS_INDEX, ix.id.clone());
        }
        for s in &meta.streams {
            spawn_drop(self.me.clone(), crate::KS_STREAMS, s.id.clone());
        }
        // Point-in-time history goes with the table (Nimbus keeps no restorable copy of
        // a deleted table; take a backup first to keep one).
        spawn_drop(self.me.clone(), crate::KS_PITR_BASE, meta.id.clone());
        spawn_drop(self.me.clone(), crate::KS_PITR_LOG, meta.id.clone());
        loop {
            let mut batch = WriteBatch::new();
            for kv in self.store.prefix(KS_ITEMS, meta.id.as_bytes(), Direction::Forward).map_err(store_err)?.take(1000) {
                let (k, _) = kv.map_err(store_err)?;
                batch.delete(KS_ITEMS, k);
            }
            if batch.is_empty() {
                break;
            }
            self.store.write(batch).map_err(store_err)?;
        }
        Output::from(&t::DeleteTableOutput { table_description: Some(desc) })
    }

    pub(crate) fn update_table(&self, ctx: &RequestContext, input: t::UpdateTableInput) -> Result<Output, AwsError> {
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.require_table(ctx, &input.table_name)?;
        // Hold the table lock while the metadata changes, so every write commits either
        // entirely before or entirely after (and maintains a new index from then on).
        let guard = table.lock();
        let mut meta = table.meta();
        let mut backfills = Vec::new();
        let mut drops = Vec::new();
        let updates = input.global_secondary_index_updates.clone().unwrap_or_default();
        if updates.iter().filter(|u| u.create.is_some() || u.delete.is_some()).count() > 1 {
            return Err(AwsError::new(
                400,
                "LimitExceededException",
                "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
            ));
        }
        for u in &updates {
            if let Some(c) = &u.create {
                self.plan_create_index(&mut meta, input.attribute_definitions.as_deref().unwrap_or_default(), c)?;
                backfills.push(c.index_name.clone());
            } else if let Some(d) = &u.delete {
                let Some(pos) = meta.indexes.iter().position(|i| i.name == d.index_name && !i.local) else {
                    return Err(AwsError::new(
                        400,
                        "ResourceNotFoundException",
                        format!("Requested resource not found: Requested index: {} not found", d.index_name),
                    ));
                };
                let ix = meta.indexes.remove(pos);
                meta.gsis.retain(|g| g.index_name != d.index_name);
                drops.push(ix.id);
            } else if let Some(up) = &u.update {
                let Some(g) = meta.gsis.iter_mut().find(|g| g.index_name == up.index_name) else {
                    return Err(AwsError::new(
                        400,
                        "ResourceNotFoundException",
                        format!("Requested resource not found: Requested index: {} not found", up.index_name),
                    ));
                };
                if up.provisioned_throughput.is_some() {
                    g.provisioned_throughput = up.provisioned_throughput.clone();
                }
            }
        }
        if input.replica_updates.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(AwsError::validation("ReplicaUpdates are not supported by Nimbus"));
        }
        let mut changed = false;
        if let Some(mode) = &input.billing_mode {
            let (r, w) = check_billing(mode, input.provisioned_throughput.as_ref())?;
            if *mode != meta.billing_mode {
                if mode == "PAY_PER_REQUEST" {
                    meta.pay_per_request_since = Some(epoch_now().floor());
                }
                meta.billing_mode = mode.clone();
                changed = true;
            }
            meta.read_units = r;
            meta.write_units = w;
        } else if let Some(p) = &input.provisioned_throughput {
            if meta.billing_mode == "PAY_PER_REQUEST" {
                return Err(AwsError::validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
            }
            if p.read_capacity_units == meta.read_units && p.write_capacity_units == meta.write_units {
                return Err(AwsError::validation(format!(
                    "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                    meta.read_units, p.read_capacity_units, meta.write_units, p.write_capacity_units
                )));
            }
            meta.read_units = p.read_capacity_units;
            meta.write_units = p.write_capacity_units;
            changed = true;
        }
        if let Some(s) = &input.stream_specification {
            let current = meta.streams.last().filter(|x| x.enabled).cloned();
            match (check_stream_spec(Some(s))?, current) {
                (Some(_), Some(_)) => {
                    return Err(AwsError::validation(format!("Table already has an enabled stream: TableName: {}", meta.name)))
                }
                (Some(vt), None) => meta.streams.push(StreamMeta::new(&meta.arn, &vt)),
                (None, Some(_)) => {
                    if let Some(l) = meta.streams.last_mut() {
                        l.enabled = false;
                    }
                }
                (None, None) => return Err(AwsError::validation("Table already has stream disabled")),
            }
            meta.stream = Some(s.clone());
            changed = true;
        }
        if let Some(d) = input.deletion_protection_enabled {
            meta.deletion_protection = d;
            changed = true;
        }
        if let Some(c) = &input.table_class {
            meta.table_class = Some(c.clone());
            changed = true;
        }
        let _ = changed;
        self.save_meta(ctx, &meta)?;
        *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta.clone();
        let desc = self.describe(ctx, &meta, &guard, "ACTIVE");
        drop(guard);
        for name in backfills {
            spawn_backfill(self.me.clone(), table.clone(), name);
        }
        for id in drops {
            spawn_drop(self.me.clone(), crate::KS_INDEX, id);
        }
        Output::from(&t::UpdateTableOutput { table_description: Some(desc) })
    }

    /// Adds a new global secondary index (status CREATING, backfilling) to `meta`.
    fn plan_create_index(&self, meta: &mut TableMeta, defs: &[t::AttributeDefinition], c: &t::CreateGlobalSecondaryIndexAction) -> Result<(), AwsError> {
        if meta.indexes.iter().any(|i| i.name == c.index_name) {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: Index with name: {} already exists",
                c.index_name
            )));
        }
        let (h, r) = check_key_schema(&c.key_schema, "KeySchema")?;
        check_projection(&c.projection)?;
        for d in defs {
            match meta.attribute_definitions.iter().find(|x| x.attribute_name == d.attribute_name) {
                Some(x) if x.attribute_type != d.attribute_type => {
                    return Err(AwsError::validation(format!(
                        "One or more parameter values were invalid: Attribute {} already exists with a different type",
                        d.attribute_name
                    )))
                }
                Some(_) => {}
                None => meta.attribute_definitions.push(d.clone()),
            }
        }
        let ty_of = |n: &str| meta.attribute_definitions.iter().find(|d| d.attribute_name == n).map(|d| d.attribute_type.clone());
        let mut attrs = Vec::new();
        for n in std::iter::once(&h).chain(r.iter()) {
            let Some(ty) = ty_of(n) else {
                return Err(AwsError::validation(format!(
                    "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                    std::iter::once(h.as_str()).chain(r.as_deref()).collect::<Vec<_>>().join(", "),
                    meta.attribute_definitions.iter().map(|d| d.attribute_name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            };
            attrs.push(KeyAttr { name: n.clone(), ty });
        }
        if meta.billing_mode == "PROVISIONED" && c.provisioned_throughput.is_none() {
            return Err(AwsError::validation(format!(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                c.index_name
            )));
        }
        let mut it = attrs.into_iter();
        let hash = it.next().ok_or_else(|| AwsError::validation("Invalid KeySchema"))?;
        let mut ix = IndexMeta::new(&c.index_name, false, hash, it.next(), &c.projection);
        ix.status = "CREATING".into();
        ix.backfilling = true;
        meta.indexes.push(ix);
        meta.gsis.push(t::GlobalSecondaryIndex {
            index_name: c.index_name.clone(),
            key_schema: c.key_schema.clone(),
            projection: c.projection.clone(),
            provisioned_throughput: c.provisioned_throughput.clone(),
            ..Default::default()
        });
        Ok(())
    }

    fn table_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<Arc<Table>, AwsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let bad = || AwsError::validation(format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}"));
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "dynamodb" {
            return Err(bad());
        }
        let name = parts[5].strip_prefix("table/").ok_or_else(bad)?;
        if parts[3] != ctx.region || parts[4] != ctx.account_id {
            return Err(AwsError::new(400, "ResourceNotFoundException", format!("Requested resource not found: ResourcArn: {arn} not found")));
        }
        self.table(ctx, name)?.ok_or_else(|| {
            AwsError::new(400, "ResourceNotFoundException", format!("Requested resource not found: ResourcArn: {arn} not found"))
        })
    }

    pub(crate) fn tag_resource(&self, ctx: &RequestContext, input: t::TagResourceInput) -> Result<Output, AwsError> {
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let mut meta = table.meta();
        for tag in input.tags {
            match meta.tags.iter_mut().find(|x| x.key == tag.key) {
                Some(x) => x.value = tag.value,
                None => meta.tags.push(tag),
            }
        }
        if meta.tags.len() > 50 {
            return Err(AwsError::validation("The number of tags exceeds the limit of 50"));
        }
        self.save_meta(ctx, &meta)?;
        *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
        out(json!({}))
    }

    pub(crate) fn untag_resource(&self, ctx: &RequestContext, input: t::UntagResourceInput) -> Result<Output, AwsError> {
        let _ddl = self.ddl.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let mut meta = table.meta();
        meta.tags.retain(|x| !input.tag_keys.contains(&x.key));
        self.save_meta(ctx, &meta)?;
        *table.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
        out(json!({}))
    }

    pub(crate) fn list_tags(&self, ctx: &RequestContext, input: t::ListTagsOfResourceInput) -> Result<Output, AwsError> {
        let table = self.table_by_arn(ctx, &input.resource_arn)?;
        let meta = table.meta();
        Output::from(&t::ListTagsOfResourceOutput { tags: Some(meta.tags), next_token: None })
    }
}

impl TableMeta {
    /// The table id as AWS shows it (a UUID with dashes).
    pub(crate) fn id_uuid(&self) -> String {
        uuid::Uuid::parse_str(&self.id).map(|u| u.hyphenated().to_string()).unwrap_or_else(|_| self.id.clone())
    }
}

fn key_schema(meta: &TableMeta) -> Vec<t::KeySchemaElement> {
    let mut v = vec![t::KeySchemaElement { attribute_name: meta.hash.name.clone(), key_type: "HASH".into() }];
    if let Some(r) = &meta.range {
        v.push(t::KeySchemaElement { attribute_name: r.name.clone(), key_type: "RANGE".into() });
    }
    v
}

/// Checks a key schema (one HASH first, optionally one RANGE second) and returns the names.
pub(crate) fn check_key_schema(ks: &[t::KeySchemaElement], _what: &str) -> Result<(String, Option<String>), AwsError> {
    let first = ks.first().ok_or_else(|| AwsError::validation("Invalid KeySchema: Some index key attributes have no definition"))?;
    if first.key_type != "HASH" {
        return Err(AwsError::validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"));
    }
    if ks.len() > 2 {
        return Err(AwsError::validation("Invalid KeySchema: Too many key schema elements: at most 2 (one HASH and one RANGE) are allowed"));
    }
    let range = match ks.get(1) {
        Some(second) => {
            if second.key_type != "RANGE" {
                return Err(AwsError::validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"));
            }
            if second.attribute_name == first.attribute_name {
                return Err(AwsError::validation("Both the Hash Key and the Range Key element in the KeySchema have the same name"));
            }
            Some(second.attribute_name.clone())
        }
        None => None,
    };
    Ok((first.attribute_name.clone(), range))
}

pub(crate) fn check_projection(p: &t::Projection) -> Result<(), AwsError> {
    let ty = p.projection_type.as_deref().unwrap_or("ALL");
    let has_non_key = p.non_key_attributes.as_ref().is_some_and(|n| !n.is_empty());
    match ty {
        "INCLUDE" if !has_non_key => Err(AwsError::validation(
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        )),
        "ALL" | "KEYS_ONLY" if has_non_key => Err(AwsError::validation(format!(
            "One or more parameter values were invalid: ProjectionType is {ty}, but NonKeyAttributes is specified"
        ))),
        "ALL" | "KEYS_ONLY" | "INCLUDE" => Ok(()),
        other => Err(AwsError::validation(format!("Unknown ProjectionType: {other}"))),
    }
}

/// The view type of an enabling stream specification, None for a disabling one.
fn check_stream_spec(s: Option<&t::StreamSpecification>) -> Result<Option<String>, AwsError> {
    let Some(s) = s else { return Ok(None) };
    if !s.stream_enabled {
        if s.stream_view_type.is_some() {
            return Err(AwsError::validation("One or more parameter values were invalid: Stream view type is specified but stream is disabled"));
        }
        return Ok(None);
    }
    match s.stream_view_type.as_deref() {
        Some(v @ ("KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")) => Ok(Some(v.to_string())),
        Some(other) => Err(AwsError::validation(format!("Invalid StreamViewType: {other}"))),
        None => Err(AwsError::validation(
            "One or more parameter values were invalid: Enabled stream requires a StreamViewType",
        )),
    }
}

pub(crate) fn check_billing(mode: &str, p: Option<&t::ProvisionedThroughput>) -> Result<(i64, i64), AwsError> {
    match (mode, p) {
        ("PROVISIONED", Some(p)) => Ok((p.read_capacity_units, p.write_capacity_units)),
        ("PROVISIONED", None) => Err(AwsError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
        (_, Some(_)) => Err(AwsError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (_, None) => Ok((0, 0)),
    }
}
