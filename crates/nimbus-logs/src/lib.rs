//! CloudWatch Logs (awsJson1.1, `Logs_20140328.*`): log groups, log streams and log
//! events, retention, filter patterns and tags, stored durably in `nimbus-store`.
//!
//! Layout (every key starts with `<account>\0<region>\0`; group names cannot contain
//! `\0` and stream names are refused if they do):
//! - `logs.groups`: `<acct>\0<region>\0<group>` → [`GroupMeta`] (JSON).
//! - `logs.streams`: `<acct>\0<region>\0<group>\0<stream>` → [`StreamMeta`] (JSON).
//! - `logs.events`: `<acct>\0<region>\0<group>\0<stream>\0<ts: 8 bytes, sign-flipped
//!   big-endian><seq: 8 bytes big-endian>` → `<ingestion time: 8 bytes><message>`, so a
//!   stream's events are one range scan in timestamp order (ties in arrival order).
//!
//! A position in a stream is the 16 key bytes after the stream prefix read as a u128;
//! GetLogEvents tokens are `f/<pos>` (events at or after pos, forward) and `b/<pos>`
//! (events before pos, backward). All writes are serialised by one mutex; reads scan
//! snapshots. Retention is applied on every read and expired events are pruned by
//! PutRetentionPolicy and by a background sweeper (every minute).
//!
//! Lambda writes function logs with [`Logs::append`].

mod filter;

pub use filter::{Pattern, PatternError};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::logs::{Op, SERVICE};
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_store::{Direction, Store, WriteBatch};
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

const KS_GROUPS: &str = "logs.groups";
const KS_STREAMS: &str = "logs.streams";
const KS_EVENTS: &str = "logs.events";

/// Per-event overhead counted against the batch size (AWS: 26 bytes).
const EVENT_OVERHEAD: usize = 26;
/// Largest PutLogEvents batch (messages + overhead).
const MAX_BATCH_BYTES: usize = 1_048_576;
/// Largest single event (message + overhead).
const MAX_EVENT_BYTES: usize = 262_144;
const MAX_BATCH_EVENTS: usize = 10_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Largest GetLogEvents/FilterLogEvents response (messages + overhead).
const MAX_RESPONSE_BYTES: usize = 1_048_576;
const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const MAX_TAGS: usize = 50;
const DELETE_CHUNK: usize = 10_000;

/// The CloudWatch Logs service. Cheap to clone.
#[derive(Clone)]
pub struct Logs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Serialises every write (read-modify-write of stream and group metadata).
    write: Mutex<()>,
}

#[derive(Serialize, Deserialize, Default, Clone, Debug)]
struct GroupMeta {
    creation_time: i64,
    #[serde(default)]
    retention: Option<i64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    stored_bytes: i64,
}

#[derive(Serialize, Deserialize, Default, Clone, Debug)]
struct StreamMeta {
    creation_time: i64,
    #[serde(default)]
    first: Option<i64>,
    #[serde(default)]
    last: Option<i64>,
    #[serde(default)]
    last_ingestion: Option<i64>,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    stored_bytes: i64,
}

// ---------- errors and small helpers ----------

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::new(400, "InvalidParameterException", msg)
}

fn group_not_found() -> AwsError {
    AwsError::new(400, "ResourceNotFoundException", "The specified log group does not exist.")
}

fn stream_not_found() -> AwsError {
    AwsError::new(400, "ResourceNotFoundException", "The specified log stream does not exist.")
}

fn bad_token() -> AwsError {
    invalid("The specified nextToken is invalid.")
}

fn store_err(e: nimbus_store::Error) -> AwsError {
    AwsError::new(500, "ServiceUnavailableException", format!("storage error: {e}"))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn flip(ts: i64) -> u64 {
    (ts as u64) ^ (1 << 63)
}

fn unflip(u: u64) -> i64 {
    (u ^ (1 << 63)) as i64
}

fn pos(ts: i64, seq: u64) -> u128 {
    ((flip(ts) as u128) << 64) | seq as u128
}

fn pos_ts(p: u128) -> i64 {
    unflip((p >> 64) as u64)
}

fn pos_seq(p: u128) -> u64 {
    p as u64
}

fn key3(a: &str, r: &str, g: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + r.len() + g.len() + 2);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(r.as_bytes());
    k.push(0);
    k.extend_from_slice(g.as_bytes());
    k
}

/// `<acct>\0<region>\0<group>\0`: prefix of the group's streams and events.
fn group_prefix(a: &str, r: &str, g: &str) -> Vec<u8> {
    let mut k = key3(a, r, g);
    k.push(0);
    k
}

fn stream_key(a: &str, r: &str, g: &str, st: &str) -> Vec<u8> {
    let mut k = group_prefix(a, r, g);
    k.extend_from_slice(st.as_bytes());
    k
}

fn event_prefix(a: &str, r: &str, g: &str, st: &str) -> Vec<u8> {
    let mut k = stream_key(a, r, g, st);
    k.push(0);
    k
}

fn event_key(prefix: &[u8], p: u128) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&p.to_be_bytes());
    k
}

fn key_pos(key: &[u8]) -> Option<u128> {
    let tail: [u8; 16] = key.get(key.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(u128::from_be_bytes(tail))
}

fn decode_event(v: &[u8]) -> (i64, String) {
    let ingestion = v.get(..8).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes).unwrap_or(0);
    let msg = String::from_utf8_lossy(v.get(8..).unwrap_or(&[])).into_owned();
    (ingestion, msg)
}

fn encode_event(ingestion: i64, msg: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + msg.len());
    v.extend_from_slice(&ingestion.to_be_bytes());
    v.extend_from_slice(msg.as_bytes());
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn event_id(stream: &str, ts: i64, seq: u64) -> String {
    format!("{:020}{:020}{:016}", flip(ts), seq, fnv(stream) % 10_000_000_000_000_000)
}

fn group_arn(a: &str, r: &str, g: &str) -> String {
    format!("arn:aws:logs:{r}:{a}:log-group:{g}")
}

fn sequence_token(seq: u64) -> String {
    format!("{:056}", seq)
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>[:*]` → (region, account, name).
fn parse_group_arn(arn: &str) -> Option<(String, String, String)> {
    let mut it = arn.splitn(7, ':');
    let (Some("arn"), Some(_), Some("logs"), Some(region), Some(account), Some("log-group"), Some(rest)) =
        (it.next(), it.next(), it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty() && !name.contains(':')).then(|| (region.to_string(), account.to_string(), name.to_string()))
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (name or ARN).
fn request_group(ctx: &RequestContext, v: &Value) -> Result<String, AwsError> {
    let name = s(v, "logGroupName");
    let ident = s(v, "logGroupIdentifier");
    match (name, ident) {
        (Some(_), Some(_)) => Err(invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")),
        (Some(n), None) => Ok(n.to_string()),
        (None, Some(id)) if id.starts_with("arn:") => match parse_group_arn(id) {
            Some((r, a, n)) if r == ctx.region && a == ctx.account_id => Ok(n),
            Some(_) => Err(group_not_found()),
            None => Err(invalid(format!("Invalid log group identifier: {id}"))),
        },
        (None, Some(id)) => Ok(id.to_string()),
        (None, None) => Err(invalid("Should provide either a logGroupName or a logGroupIdentifier.")),
    }
}

fn out(value: Value) -> Result<Output, AwsError> {
    Ok(Output { value, payload: None })
}

fn check_stream_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty() || name.len() > 512 || name.contains(['\0', ':', '*']) {
        return Err(invalid(format!("Invalid log stream name: {name:?}")));
    }
    Ok(())
}

fn check_group_name(name: &str) -> Result<(), AwsError> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if !ok {
        return Err(invalid(format!("Invalid log group name: {name:?}")));
    }
    Ok(())
}

/// An offset pagination token for Describe*.
fn offset_token(v: &Value) -> Result<usize, AwsError> {
    match s(v, "nextToken") {
        None => Ok(0),
        Some(t) => t.strip_prefix("o/").and_then(|n| n.parse().ok()).ok_or_else(bad_token),
    }
}

fn tags_of(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn string_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// One event read back from storage.
struct Event {
    stream: String,
    ts: i64,
    seq: u64,
    ingestion: i64,
    message: String,
}

impl Logs {
    /// The service, with its background retention sweeper.
    pub fn new(store: Store) -> Logs {
        let logs = Logs::without_sweeper(store);
        let weak: Weak<Inner> = Arc::downgrade(&logs.inner);
        let _ = std::thread::Builder::new().name("logs-retention".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(60));
            let Some(inner) = weak.upgrade() else { return };
            if let Err(e) = inner.sweep() {
                tracing::warn!("logs retention sweep failed: {e}");
            }
        });
        logs
    }

    /// The service without background threads (tests).
    pub fn without_sweeper(store: Store) -> Logs {
        Logs { inner: Arc::new(Inner { store, write: Mutex::new(()) }) }
    }

    /// Appends events to a log stream, creating the group and stream if missing (as
    /// Lambda does for `/aws/lambda/<name>`). Events may come in any order (they are
    /// stored by timestamp); empty messages are skipped and messages longer than
    /// AWS's event limit (262,118 bytes) are truncated. No age limits apply.
    /// Blocking (a few storage writes): call from a blocking thread or accept a short stall.
    pub fn append(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<(), AwsError> {
        check_group_name(group)?;
        check_stream_name(stream)?;
        let mut events: Vec<(i64, String)> = events
            .into_iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(ts, mut m)| {
                let max = MAX_EVENT_BYTES - EVENT_OVERHEAD;
                if m.len() > max {
                    let mut cut = max;
                    while !m.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    m.truncate(cut);
                }
                (ts, m)
            })
            .collect();
        events.sort_by_key(|(ts, _)| *ts);
        let inner = &self.inner;
        let _guard = inner.write.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_ms();
        let mut batch = WriteBatch::new();
        let mut gmeta = match inner.group(account, region, group)? {
            Some(g) => g,
            None => GroupMeta { creation_time: now, ..GroupMeta::default() },
        };
        let mut smeta = match inner.stream(account, region, group, stream)? {
            Some(m) => m,
            None => StreamMeta { creation_time: now, ..StreamMeta::default() },
        };
        for chunk in events.chunks(MAX_BATCH_EVENTS) {
            inner.write_events(&mut batch, account, region, group, stream, &mut smeta, &mut gmeta, chunk, now);
        }
        inner.put_stream(&mut batch, account, region, group, stream, &smeta)?;
        inner.put_group(&mut batch, account, region, group, &gmeta)?;
        inner.store.write(batch).map_err(store_err)
    }
}

impl Inner {
    fn group(&self, a: &str, r: &str, g: &str) -> Result<Option<GroupMeta>, AwsError> {
        match self.store.get(KS_GROUPS, &key3(a, r, g)).map_err(store_err)? {
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt log group: {e}"))),
            None => Ok(None),
        }
    }

    fn require_group(&self, a: &str, r: &str, g: &str) -> Result<GroupMeta, AwsError> {
        self.group(a, r, g)?.ok_or_else(group_not_found)
    }

    fn stream(&self, a: &str, r: &str, g: &str, st: &str) -> Result<Option<StreamMeta>, AwsError> {
        match self.store.get(KS_STREAMS, &stream_key(a, r, g, st)).map_err(store_err)? {
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt log stream: {e}"))),
            None => Ok(None),
        }
    }

    fn put_group(&self, b: &mut WriteBatch, a: &str, r: &str, g: &str, m: &GroupMeta) -> Result<(), AwsError> {
        let v = serde_json::to_vec(m).map_err(|e| AwsError::internal(e.to_string()))?;
        b.put(KS_GROUPS, key3(a, r, g), v);
        Ok(())
    }

    fn put_stream(&self, b: &mut WriteBatch, a: &str, r: &str, g: &str, st: &str, m: &StreamMeta) -> Result<(), AwsError> {
        let v = serde_json::to_vec(m).map_err(|e| AwsError::internal(e.to_string()))?;
        b.put(KS_STREAMS, stream_key(a, r, g, st), v);
        Ok(())
    }

    /// Adds events (sorted by timestamp) to `batch` and updates the metadata.
    #[allow(clippy::too_many_arguments)]
    fn write_events(
        &self,
        batch: &mut WriteBatch,
        a: &str,
        r: &str,
        g: &str,
        st: &str,
        smeta: &mut StreamMeta,
        gmeta: &mut GroupMeta,
        events: &[(i64, String)],
        now: i64,
    ) {
        let prefix = event_prefix(a, r, g, st);
        for (ts, msg) in events {
            smeta.seq += 1;
            batch.put(KS_EVENTS, event_key(&prefix, pos(*ts, smeta.seq)), encode_event(now, msg));
            smeta.first = Some(smeta.first.map_or(*ts, |f| f.min(*ts)));
            smeta.last = Some(smeta.last.map_or(*ts, |l| l.max(*ts)));
            smeta.stored_bytes += msg.len() as i64;
            gmeta.stored_bytes += msg.len() as i64;
        }
        if !events.is_empty() {
            smeta.last_ingestion = Some(now);
        }
    }

    /// Deletes every key of `ks` starting with `prefix`, in chunks of [`DELETE_CHUNK`].
    fn delete_prefix(&self, ks: &str, prefix: &[u8]) -> Result<(), AwsError> {
        loop {
            let mut batch = WriteBatch::new();
            for kv in self.store.prefix(ks, prefix, Direction::Forward).map_err(store_err)?.take(DELETE_CHUNK) {
                let (k, _) = kv.map_err(store_err)?;
                batch.delete(ks, k);
            }
            if batch.is_empty() {
                return Ok(());
            }
            self.store.write(batch).map_err(store_err)?;
        }
    }

    fn retention_cutoff(meta: &GroupMeta, now: i64) -> Option<i64> {
        meta.retention.map(|d| now - d * DAY_MS)
    }

    /// Deletes the events of group `g` older than its retention. Caller holds the write lock.
    fn prune_group(&self, a: &str, r: &str, g: &str) -> Result<(), AwsError> {
        let Some(mut gmeta) = self.group(a, r, g)? else { return Ok(()) };
        let Some(cutoff) = Self::retention_cutoff(&gmeta, now_ms()) else { return Ok(()) };
        let gp = group_prefix(a, r, g);
        let streams: Vec<(Vec<u8>, Vec<u8>)> =
            self.store.prefix(KS_STREAMS, &gp, Direction::Forward).map_err(store_err)?.collect::<Result<_, _>>().map_err(store_err)?;
        for (skey, sval) in streams {
            let Ok(mut smeta) = serde_json::from_slice::<StreamMeta>(&sval) else { continue };
            if smeta.first.is_none_or(|f| f >= cutoff) {
                continue;
            }
            let name = String::from_utf8_lossy(&skey[gp.len()..]).into_owned();
            let ep = event_prefix(a, r, g, &name);
            let (lo, hi) = (event_key(&ep, 0), event_key(&ep, pos(cutoff, 0)));
            loop {
                let mut batch = WriteBatch::new();
                let mut freed = 0i64;
                for kv in self.store.range(KS_EVENTS, lo.clone()..hi.clone(), Direction::Forward).map_err(store_err)?.take(DELETE_CHUNK) {
                    let (k, v) = kv.map_err(store_err)?;
                    freed += v.len().saturating_sub(8) as i64;
                    batch.delete(KS_EVENTS, k);
                }
                if batch.is_empty() {
                    break;
                }
                smeta.stored_bytes = (smeta.stored_bytes - freed).max(0);
                gmeta.stored_bytes = (gmeta.stored_bytes - freed).max(0);
                self.put_stream(&mut batch, a, r, g, &name, &smeta)?;
                self.put_group(&mut batch, a, r, g, &gmeta)?;
                self.store.write(batch).map_err(store_err)?;
            }
            // The first remaining event's timestamp.
            let first = self
                .store
                .prefix(KS_EVENTS, &ep, Direction::Forward)
                .map_err(store_err)?
                .next()
                .transpose()
                .map_err(store_err)?
                .and_then(|(k, _)| key_pos(&k))
                .map(pos_ts);
            smeta.first = first;
            let mut batch = WriteBatch::new();
            self.put_stream(&mut batch, a, r, g, &name, &smeta)?;
            self.store.write(batch).map_err(store_err)?;
        }
        Ok(())
    }

    /// Prunes every group that has a retention policy.
    fn sweep(&self) -> Result<(), AwsError> {
        let groups: Vec<(Vec<u8>, Vec<u8>)> =
            self.store.prefix(KS_GROUPS, b"", Direction::Forward).map_err(store_err)?.collect::<Result<_, _>>().map_err(store_err)?;
        for (k, v) in groups {
            let Ok(meta) = serde_json::from_slice::<GroupMeta>(&v) else { continue };
            if meta.retention.is_none() {
                continue;
            }
            let parts: Vec<String> = k.splitn(3, |b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            if let [a, r, g] = parts.as_slice() {
                let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
                self.prune_group(a, r, g)?;
            }
        }
        Ok(())
    }

    // ---------- operations ----------

    fn create_log_group(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        check_group_name(g)?;
        let tags = tags_of(v, "tags");
        if tags.len() > MAX_TAGS {
            return Err(invalid("A log group can have no more than 50 tags."));
        }
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let (a, r) = (&ctx.account_id, &ctx.region);
        if self.group(a, r, g)?.is_some() {
            return Err(AwsError::new(400, "ResourceAlreadyExistsException", "The specified log group already exists"));
        }
        // Leftovers of a deletion interrupted by a crash must not reappear.
        self.delete_prefix(KS_EVENTS, &group_prefix(a, r, g))?;
        self.delete_prefix(KS_STREAMS, &group_prefix(a, r, g))?;
        let meta = GroupMeta { creation_time: now_ms(), tags, ..GroupMeta::default() };
        let mut b = WriteBatch::new();
        self.put_group(&mut b, a, r, g, &meta)?;
        self.store.write(b).map_err(store_err)?;
        out(json!({}))
    }

    fn delete_log_group(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.require_group(a, r, g)?;
        let mut b = WriteBatch::new();
        b.delete(KS_GROUPS, key3(a, r, g));
        self.store.write(b).map_err(store_err)?;
        self.delete_prefix(KS_EVENTS, &group_prefix(a, r, g))?;
        self.delete_prefix(KS_STREAMS, &group_prefix(a, r, g))?;
        out(json!({}))
    }

    fn group_json(a: &str, r: &str, g: &str, m: &GroupMeta) -> Value {
        let arn = group_arn(a, r, g);
        let mut o = Map::new();
        o.insert("logGroupName".into(), json!(g));
        o.insert("creationTime".into(), json!(m.creation_time));
        if let Some(d) = m.retention {
            o.insert("retentionInDays".into(), json!(d));
        }
        o.insert("metricFilterCount".into(), json!(0));
        o.insert("arn".into(), json!(format!("{arn}:*")));
        o.insert("logGroupArn".into(), json!(arn));
        o.insert("storedBytes".into(), json!(m.stored_bytes));
        o.insert("logGroupClass".into(), json!("STANDARD"));
        Value::Object(o)
    }

    fn describe_log_groups(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (a, r) = (&ctx.account_id, &ctx.region);
        let prefix = s(v, "logGroupNamePrefix").unwrap_or("");
        let pattern = s(v, "logGroupNamePattern");
        if !prefix.is_empty() && pattern.is_some() {
            return Err(invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."));
        }
        let limit = int(v, "limit").unwrap_or(50).clamp(1, 50) as usize;
        let offset = offset_token(v)?;
        let base = key3(a, r, "");
        let mut all = Vec::new();
        for kv in self.store.prefix(KS_GROUPS, &key3(a, r, prefix), Direction::Forward).map_err(store_err)? {
            let (k, val) = kv.map_err(store_err)?;
            let name = String::from_utf8_lossy(&k[base.len()..]).into_owned();
            if let Some(p) = pattern {
                if !name.to_lowercase().contains(&p.to_lowercase()) {
                    continue;
                }
            }
            let Ok(m) = serde_json::from_slice::<GroupMeta>(&val) else { continue };
            all.push(Self::group_json(a, r, &name, &m));
        }
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        let mut o = json!({ "logGroups": page });
        if offset + limit < all.len() {
            o["nextToken"] = json!(format!("o/{}", offset + limit));
        }
        out(o)
    }

    fn put_retention_policy(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let days = int(v, "retentionInDays").ok_or_else(|| invalid("retentionInDays is required"))?;
        if !RETENTION_DAYS.contains(&days) {
            let set: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
            return Err(invalid(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                set.join(", ")
            )));
        }
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut m = self.require_group(a, r, g)?;
        m.retention = Some(days);
        let mut b = WriteBatch::new();
        self.put_group(&mut b, a, r, g, &m)?;
        self.store.write(b).map_err(store_err)?;
        self.prune_group(a, r, g)?;
        out(json!({}))
    }

    fn delete_retention_policy(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut m = self.require_group(a, r, g)?;
        m.retention = None;
        let mut b = WriteBatch::new();
        self.put_group(&mut b, a, r, g, &m)?;
        self.store.write(b).map_err(store_err)?;
        out(json!({}))
    }

    fn create_log_stream(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let st = s(v, "logStreamName").ok_or_else(|| invalid("logStreamName is required"))?;
        check_stream_name(st)?;
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.require_group(a, r, g)?;
        if self.stream(a, r, g, st)?.is_some() {
            return Err(AwsError::new(400, "ResourceAlreadyExistsException", "The specified log stream already exists"));
        }
        self.delete_prefix(KS_EVENTS, &event_prefix(a, r, g, st))?;
        let mut b = WriteBatch::new();
        self.put_stream(&mut b, a, r, g, st, &StreamMeta { creation_time: now_ms(), ..StreamMeta::default() })?;
        self.store.write(b).map_err(store_err)?;
        out(json!({}))
    }

    fn delete_log_stream(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let st = s(v, "logStreamName").ok_or_else(|| invalid("logStreamName is required"))?;
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut gm = self.require_group(a, r, g)?;
        let sm = self.stream(a, r, g, st)?.ok_or_else(stream_not_found)?;
        gm.stored_bytes = (gm.stored_bytes - sm.stored_bytes).max(0);
        let mut b = WriteBatch::new();
        b.delete(KS_STREAMS, stream_key(a, r, g, st));
        self.put_group(&mut b, a, r, g, &gm)?;
        self.store.write(b).map_err(store_err)?;
        self.delete_prefix(KS_EVENTS, &event_prefix(a, r, g, st))?;
        out(json!({}))
    }

    fn describe_log_streams(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (a, r) = (&ctx.account_id, &ctx.region);
        let g = request_group(ctx, v)?;
        let prefix = s(v, "logStreamNamePrefix").unwrap_or("");
        let by_time = match s(v, "orderBy") {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => true,
            Some(o) => return Err(invalid(format!("Invalid orderBy: {o}"))),
        };
        if by_time && !prefix.is_empty() {
            return Err(invalid("Cannot order by LastEventTime with a logStreamNamePrefix."));
        }
        let descending = v.get("descending").and_then(Value::as_bool).unwrap_or(false);
        let limit = int(v, "limit").unwrap_or(50).clamp(1, 50) as usize;
        let offset = offset_token(v)?;
        self.require_group(a, r, &g)?;
        let gp = group_prefix(a, r, &g);
        let mut all: Vec<(String, StreamMeta)> = Vec::new();
        for kv in self.store.prefix(KS_STREAMS, &stream_key(a, r, &g, prefix), Direction::Forward).map_err(store_err)? {
            let (k, val) = kv.map_err(store_err)?;
            let Ok(m) = serde_json::from_slice::<StreamMeta>(&val) else { continue };
            all.push((String::from_utf8_lossy(&k[gp.len()..]).into_owned(), m));
        }
        if by_time {
            all.sort_by(|x, y| x.1.last.unwrap_or(i64::MIN).cmp(&y.1.last.unwrap_or(i64::MIN)).then_with(|| x.0.cmp(&y.0)));
        }
        if descending {
            all.reverse();
        }
        let arn = group_arn(a, r, &g);
        let page: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(name, m)| {
                let mut o = Map::new();
                o.insert("logStreamName".into(), json!(name));
                o.insert("creationTime".into(), json!(m.creation_time));
                if let Some(x) = m.first {
                    o.insert("firstEventTimestamp".into(), json!(x));
                }
                if let Some(x) = m.last {
                    o.insert("lastEventTimestamp".into(), json!(x));
                }
                if let Some(x) = m.last_ingestion {
                    o.insert("lastIngestionTime".into(), json!(x));
                }
                o.insert("uploadSequenceToken".into(), json!(sequence_token(m.seq)));
                o.insert("arn".into(), json!(format!("{arn}:log-stream:{name}")));
                o.insert("storedBytes".into(), json!(m.stored_bytes));
                Value::Object(o)
            })
            .collect();
        let mut o = json!({ "logStreams": page });
        if offset + limit < all.len() {
            o["nextToken"] = json!(format!("o/{}", offset + limit));
        }
        out(o)
    }

    fn put_log_events(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let g = s(v, "logGroupName").ok_or_else(|| invalid("logGroupName is required"))?;
        let st = s(v, "logStreamName").ok_or_else(|| invalid("logStreamName is required"))?;
        let raw = v.get("logEvents").and_then(Value::as_array).ok_or_else(|| invalid("logEvents is required"))?;
        if raw.is_empty() || raw.len() > MAX_BATCH_EVENTS {
            return Err(invalid(format!("The number of log events in a batch must be between 1 and {MAX_BATCH_EVENTS}.")));
        }
        let mut events = Vec::with_capacity(raw.len());
        let mut total = 0usize;
        for e in raw {
            let ts = int(e, "timestamp").ok_or_else(|| invalid("Every log event needs a timestamp"))?;
            let msg = s(e, "message").ok_or_else(|| invalid("Every log event needs a message"))?;
            let size = msg.len() + EVENT_OVERHEAD;
            if size > MAX_EVENT_BYTES {
                return Err(invalid(format!("Log event too large: {size} bytes exceeds limit of {MAX_EVENT_BYTES}")));
            }
            total += size;
            events.push((ts, msg.to_string()));
        }
        if total > MAX_BATCH_BYTES {
            return Err(invalid(format!("Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}")));
        }
        if events.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(invalid("Log events in a single PutLogEvents request must be in chronological order."));
        }
        if let (Some(f), Some(l)) = (events.first(), events.last()) {
            if l.0 - f.0 > 24 * HOUR_MS {
                return Err(invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours."));
            }
        }
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut gmeta = self.require_group(a, r, g)?;
        let mut smeta = self.stream(a, r, g, st)?.ok_or_else(stream_not_found)?;
        let now = now_ms();
        let too_old_cutoff = now - 14 * DAY_MS;
        let expired_cutoff = Self::retention_cutoff(&gmeta, now);
        let too_new_cutoff = now + 2 * HOUR_MS;
        let mut too_old_end = None;
        let mut expired_end = None;
        let mut too_new_start = None;
        for (i, (ts, _)) in events.iter().enumerate() {
            if *ts < too_old_cutoff {
                too_old_end = Some(i);
            }
            if expired_cutoff.is_some_and(|c| *ts < c) {
                expired_end = Some(i);
            }
            if *ts > too_new_cutoff && too_new_start.is_none() {
                too_new_start = Some(i);
            }
        }
        let start = too_old_end.max(expired_end).map_or(0, |i| i + 1);
        let end = too_new_start.unwrap_or(events.len()).max(start);
        let mut batch = WriteBatch::new();
        self.write_events(&mut batch, a, r, g, st, &mut smeta, &mut gmeta, &events[start..end], now);
        self.put_stream(&mut batch, a, r, g, st, &smeta)?;
        self.put_group(&mut batch, a, r, g, &gmeta)?;
        self.store.write(batch).map_err(store_err)?;
        let mut o = json!({ "nextSequenceToken": sequence_token(smeta.seq) });
        if too_old_end.is_some() || expired_end.is_some() || too_new_start.is_some() {
            let mut info = Map::new();
            if let Some(i) = too_new_start {
                info.insert("tooNewLogEventStartIndex".into(), json!(i));
            }
            if let Some(i) = too_old_end {
                info.insert("tooOldLogEventEndIndex".into(), json!(i));
            }
            if let Some(i) = expired_end {
                info.insert("expiredLogEventEndIndex".into(), json!(i));
            }
            o["rejectedLogEventsInfo"] = Value::Object(info);
        }
        out(o)
    }

    fn get_log_events(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (a, r) = (&ctx.account_id, &ctx.region);
        let g = request_group(ctx, v)?;
        let st = s(v, "logStreamName").ok_or_else(|| invalid("logStreamName is required"))?;
        let limit = int(v, "limit").unwrap_or(10_000).clamp(1, 10_000) as usize;
        let from_head = v.get("startFromHead").and_then(Value::as_bool).unwrap_or(false);
        let token = match s(v, "nextToken") {
            None => None,
            Some(t) => {
                let (fwd, digits) = match (t.strip_prefix("f/"), t.strip_prefix("b/")) {
                    (Some(d), _) => (true, d),
                    (_, Some(d)) => (false, d),
                    _ => return Err(bad_token()),
                };
                Some((fwd, digits.parse::<u128>().map_err(|_| bad_token())?))
            }
        };
        let gmeta = self.require_group(a, r, &g)?;
        if self.stream(a, r, &g, st)?.is_none() {
            return Err(stream_not_found());
        }
        let mut lo_ts = int(v, "startTime").unwrap_or(i64::MIN);
        if let Some(c) = Self::retention_cutoff(&gmeta, now_ms()) {
            lo_ts = lo_ts.max(c);
        }
        let lo = if lo_ts == i64::MIN { 0 } else { pos(lo_ts, 0) };
        let hi = int(v, "endTime").map_or(u128::MAX, |e| pos(e, 0));
        let (forward, p) = token.unwrap_or(if from_head { (true, 0) } else { (false, u128::MAX) });
        let ep = event_prefix(a, r, &g, st);
        let (start, end) = if forward { (lo.max(p), hi) } else { (lo, hi.min(p)) };
        let mut events: Vec<(u128, Value)> = Vec::new();
        if start < end {
            let range = (Bound::Included(event_key(&ep, start)), Bound::Excluded(event_key(&ep, end)));
            let dir = if forward { Direction::Forward } else { Direction::Reverse };
            let mut bytes = 0usize;
            for kv in self.store.range(KS_EVENTS, range, dir).map_err(store_err)? {
                let (k, val) = kv.map_err(store_err)?;
                let Some(kp) = key_pos(&k) else { continue };
                let (ingestion, message) = decode_event(&val);
                bytes += message.len() + EVENT_OVERHEAD;
                if !events.is_empty() && bytes > MAX_RESPONSE_BYTES {
                    break;
                }
                events.push((kp, json!({ "timestamp": pos_ts(kp), "message": message, "ingestionTime": ingestion })));
                if events.len() >= limit {
                    break;
                }
            }
        }
        if !forward {
            events.reverse();
        }
        let tok = |d: &str, p: u128| format!("{d}/{p:040}");
        let (next_f, next_b) = match (events.first(), events.last()) {
            (Some((first, _)), Some((last, _))) => (tok("f", last + 1), tok("b", *first)),
            _ if token.is_none() && !forward => (tok("f", lo), tok("b", p)),
            _ => (tok("f", p), tok("b", p)),
        };
        let list: Vec<Value> = events.into_iter().map(|(_, e)| e).collect();
        out(json!({ "events": list, "nextForwardToken": next_f, "nextBackwardToken": next_b }))
    }

    fn filter_log_events(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let (a, r) = (&ctx.account_id, &ctx.region);
        let g = request_group(ctx, v)?;
        let names = v.get("logStreamNames").map(|_| string_list(v, "logStreamNames"));
        let prefix = s(v, "logStreamNamePrefix");
        if names.is_some() && prefix.is_some() {
            return Err(invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters."));
        }
        let pattern = Pattern::parse(s(v, "filterPattern").unwrap_or(""))
            .map_err(|e| invalid(format!("Invalid filter pattern: {}", e.0)))?;
        let limit = int(v, "limit").unwrap_or(10_000).clamp(1, 10_000) as usize;
        // Resume after (ts, stream, seq) of the last event returned.
        let after: Option<(i64, String, u64)> = match s(v, "nextToken") {
            None => None,
            Some(t) => {
                let mut it = t.splitn(3, '/');
                let (Some(ts), Some(seq), Some(st)) = (it.next(), it.next(), it.next()) else { return Err(bad_token()) };
                let ts = ts.parse::<i64>().map_err(|_| bad_token())?;
                let seq = seq.parse::<u64>().map_err(|_| bad_token())?;
                let st = unhex(st).and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad_token)?;
                Some((ts, st, seq))
            }
        };
        let gmeta = self.require_group(a, r, &g)?;
        let mut lo_ts = int(v, "startTime").unwrap_or(i64::MIN);
        if let Some(c) = Self::retention_cutoff(&gmeta, now_ms()) {
            lo_ts = lo_ts.max(c);
        }
        if let Some((ts, _, _)) = &after {
            lo_ts = lo_ts.max(*ts);
        }
        let hi = match int(v, "endTime") {
            Some(e) if e < i64::MAX => pos(e + 1, 0),
            _ => u128::MAX,
        };
        let lo = if lo_ts == i64::MIN { 0 } else { pos(lo_ts, 0) };
        let snap = self.store.snapshot();
        let gp = group_prefix(a, r, &g);
        let streams: Vec<String> = match names {
            Some(list) => {
                let mut out = Vec::new();
                for n in list {
                    if snap.get(KS_STREAMS, &stream_key(a, r, &g, &n)).map_err(store_err)?.is_some() {
                        out.push(n);
                    }
                }
                out
            }
            None => {
                let mut out = Vec::new();
                for kv in snap.prefix(KS_STREAMS, &stream_key(a, r, &g, prefix.unwrap_or("")), Direction::Forward).map_err(store_err)? {
                    let (k, _) = kv.map_err(store_err)?;
                    out.push(String::from_utf8_lossy(&k[gp.len()..]).into_owned());
                }
                out
            }
        };
        // k-way merge of the streams' scans by (timestamp, stream, seq).
        let mut scans = Vec::with_capacity(streams.len());
        if lo < hi {
            for st in &streams {
                let ep = event_prefix(a, r, &g, st);
                let range = (Bound::Included(event_key(&ep, lo)), Bound::Excluded(event_key(&ep, hi)));
                scans.push(snap.range(KS_EVENTS, range, Direction::Forward).map_err(store_err)?);
            }
        }
        let next_of = |i: usize, scans: &mut Vec<nimbus_store::Scan>| -> Result<Option<Event>, AwsError> {
            for kv in scans[i].by_ref() {
                let (k, val) = kv.map_err(store_err)?;
                let Some(kp) = key_pos(&k) else { continue };
                let (ts, seq) = (pos_ts(kp), pos_seq(kp));
                if let Some((ats, ast, aseq)) = &after {
                    if (ts, streams[i].as_str(), seq) <= (*ats, ast.as_str(), *aseq) {
                        continue;
                    }
                }
                let (ingestion, message) = decode_event(&val);
                if !pattern.matches(&message) {
                    continue;
                }
                return Ok(Some(Event { stream: streams[i].clone(), ts, seq, ingestion, message }));
            }
            Ok(None)
        };
        let mut heap: BinaryHeap<Reverse<(i64, String, u64, usize)>> = BinaryHeap::new();
        let mut pending: Vec<Option<Event>> = Vec::with_capacity(scans.len());
        for i in 0..scans.len() {
            let e = next_of(i, &mut scans)?;
            if let Some(e) = &e {
                heap.push(Reverse((e.ts, e.stream.clone(), e.seq, i)));
            }
            pending.push(e);
        }
        let mut found = Vec::new();
        let mut bytes = 0usize;
        let mut last: Option<(i64, String, u64)> = None;
        let mut more = false;
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let Some(e) = pending[i].take() else { continue };
            bytes += e.message.len() + EVENT_OVERHEAD;
            if found.len() >= limit || (!found.is_empty() && bytes > MAX_RESPONSE_BYTES) {
                more = true;
                break;
            }
            found.push(json!({
                "logStreamName": e.stream,
                "timestamp": e.ts,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": event_id(&e.stream, e.ts, e.seq),
            }));
            last = Some((e.ts, e.stream.clone(), e.seq));
            let n = next_of(i, &mut scans)?;
            if let Some(n) = &n {
                heap.push(Reverse((n.ts, n.stream.clone(), n.seq, i)));
            }
            pending[i] = n;
        }
        let searched: Vec<Value> =
            streams.iter().map(|n| json!({ "logStreamName": n, "searchedCompletely": !more })).collect();
        let mut o = json!({ "events": found, "searchedLogStreams": searched });
        if more {
            if let Some((ts, st, seq)) = last {
                o["nextToken"] = json!(format!("{ts}/{seq}/{}", hex(st.as_bytes())));
            }
        }
        out(o)
    }

    /// (account, region, group) of a tagging request's `resourceArn`.
    fn arn_group(&self, ctx: &RequestContext, v: &Value) -> Result<String, AwsError> {
        let arn = s(v, "resourceArn").ok_or_else(|| invalid("resourceArn is required"))?;
        match parse_group_arn(arn) {
            Some((r, a, g)) if r == ctx.region && a == ctx.account_id => Ok(g),
            Some(_) => Err(group_not_found()),
            None => Err(invalid(format!("Invalid resource ARN: {arn}"))),
        }
    }

    fn tag(&self, ctx: &RequestContext, g: &str, add: BTreeMap<String, String>, remove: Vec<String>) -> Result<Output, AwsError> {
        let (a, r) = (&ctx.account_id, &ctx.region);
        let _guard = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut m = self.require_group(a, r, g)?;
        m.tags.extend(add);
        for k in remove {
            m.tags.remove(&k);
        }
        if m.tags.len() > MAX_TAGS {
            return Err(AwsError::new(400, "TooManyTagsException", "A resource can have no more than 50 tags."));
        }
        let mut b = WriteBatch::new();
        self.put_group(&mut b, a, r, g, &m)?;
        self.store.write(b).map_err(store_err)?;
        out(json!({}))
    }

    fn list_tags(&self, ctx: &RequestContext, g: &str) -> Result<Output, AwsError> {
        let m = self.require_group(&ctx.account_id, &ctx.region, g)?;
        out(json!({ "tags": m.tags }))
    }

    fn dispatch(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        let v = &input.value;
        let name = || s(v, "logGroupName").map(str::to_string).ok_or_else(|| invalid("logGroupName is required"));
        match op {
            Op::CreateLogGroup => self.create_log_group(ctx, v),
            Op::DeleteLogGroup => self.delete_log_group(ctx, v),
            Op::DescribeLogGroups => self.describe_log_groups(ctx, v),
            Op::PutRetentionPolicy => self.put_retention_policy(ctx, v),
            Op::DeleteRetentionPolicy => self.delete_retention_policy(ctx, v),
            Op::CreateLogStream => self.create_log_stream(ctx, v),
            Op::DeleteLogStream => self.delete_log_stream(ctx, v),
            Op::DescribeLogStreams => self.describe_log_streams(ctx, v),
            Op::PutLogEvents => self.put_log_events(ctx, v),
            Op::GetLogEvents => self.get_log_events(ctx, v),
            Op::FilterLogEvents => self.filter_log_events(ctx, v),
            Op::TagLogGroup => self.tag(ctx, &name()?, tags_of(v, "tags"), Vec::new()),
            Op::UntagLogGroup => self.tag(ctx, &name()?, BTreeMap::new(), string_list(v, "tags")),
            Op::ListTagsLogGroup => self.list_tags(ctx, &name()?),
            Op::TagResource => {
                let g = self.arn_group(ctx, v)?;
                self.tag(ctx, &g, tags_of(v, "tags"), Vec::new())
            }
            Op::UntagResource => {
                let g = self.arn_group(ctx, v)?;
                self.tag(ctx, &g, BTreeMap::new(), string_list(v, "tagKeys"))
            }
            Op::ListTagsForResource => {
                let g = self.arn_group(ctx, v)?;
                self.list_tags(ctx, &g)
            }
            _ => Err(AwsError::new(501, "UnknownOperationException", format!("{} is not implemented", op.name()))),
        }
    }
}

const IMPLEMENTED: &[Op] = &[
    Op::CreateLogGroup,
    Op::DeleteLogGroup,
    Op::DescribeLogGroups,
    Op::PutRetentionPolicy,
    Op::DeleteRetentionPolicy,
    Op::CreateLogStream,
    Op::DeleteLogStream,
    Op::DescribeLogStreams,
    Op::PutLogEvents,
    Op::GetLogEvents,
    Op::FilterLogEvents,
    Op::TagLogGroup,
    Op::UntagLogGroup,
    Op::ListTagsLogGroup,
    Op::TagResource,
    Op::UntagResource,
    Op::ListTagsForResource,
];

impl Handler for Logs {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        Op::from_name(op).is_some_and(|o| IMPLEMENTED.contains(&o))
    }

    fn call<'a>(&'a self, ctx: &'a RequestContext, op: &'static Operation, input: Input) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            let Some(op) = Op::from_name(op.name) else {
                return Err(AwsError::new(501, "UnknownOperationException", format!("{} is not implemented", op.name)));
            };
            let inner = self.inner.clone();
            let ctx = ctx.clone();
            match tokio::task::spawn_blocking(move || inner.dispatch(&ctx, op, input)).await {
                Ok(r) => r,
                Err(e) => Err(AwsError::internal(format!("the operation failed: {e}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext::new("000000000000", "us-east-1")
    }

    fn call(l: &Logs, op: Op, v: Value) -> Result<Value, AwsError> {
        l.inner.dispatch(&ctx(), op, Input { value: v, payload: None }).map(|o| o.value)
    }

    #[test]
    fn positions_order_by_timestamp_then_seq() {
        assert!(pos(-5, 9) < pos(0, 0));
        assert!(pos(0, 1) < pos(0, 2));
        assert!(pos(1, 0) > pos(0, u64::MAX - 1));
        assert_eq!(pos_ts(pos(1_700_000_000_000, 3)), 1_700_000_000_000);
        assert_eq!(pos_seq(pos(-1, 3)), 3);
    }

    #[test]
    fn arns() {
        assert_eq!(
            parse_group_arn("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/f:*"),
            Some(("us-east-1".into(), "000000000000".into(), "/aws/lambda/f".into()))
        );
        assert_eq!(parse_group_arn("arn:aws:logs:us-east-1:000000000000:log-group:g").map(|x| x.2), Some("g".into()));
        assert_eq!(parse_group_arn("arn:aws:s3:::b"), None);
    }

    #[test]
    fn append_creates_group_and_stream_and_reads_back_in_order() {
        let l = Logs::without_sweeper(Store::temporary().unwrap());
        let now = now_ms();
        l.append("000000000000", "us-east-1", "/aws/lambda/f", "s1", vec![(now + 2, "b".into()), (now, "a".into()), (now + 1, "".into())])
            .unwrap();
        l.append("000000000000", "us-east-1", "/aws/lambda/f", "s1", vec![(now + 1, "c".into())]).unwrap();
        let v = call(&l, Op::GetLogEvents, json!({"logGroupName": "/aws/lambda/f", "logStreamName": "s1", "startFromHead": true})).unwrap();
        let msgs: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
        assert_eq!(msgs, ["a", "c", "b"]);
        assert!(l.append("000000000000", "us-east-1", "bad name!", "s", vec![]).is_err());
        assert!(l.append("000000000000", "us-east-1", "g", "a:b", vec![]).is_err());
    }

    #[test]
    fn filter_tokens_resume_across_streams() {
        let l = Logs::without_sweeper(Store::temporary().unwrap());
        let now = now_ms();
        for st in ["a", "b", "c"] {
            l.append("000000000000", "us-east-1", "g", st, (0..5).map(|i| (now + i, format!("{st}{i}"))).collect()).unwrap();
        }
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({"logGroupName": "g", "limit": 4});
            if let Some(t) = &token {
                req["nextToken"] = json!(t);
            }
            let v = call(&l, Op::FilterLogEvents, req).unwrap();
            for e in v["events"].as_array().unwrap() {
                seen.push(e["message"].as_str().unwrap().to_string());
            }
            match v.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        let expected: Vec<String> = (0..5).flat_map(|i| ["a", "b", "c"].map(|s| format!("{s}{i}"))).collect();
        assert_eq!(seen, expected);
    }
}
