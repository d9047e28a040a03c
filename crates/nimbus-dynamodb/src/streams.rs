//! DynamoDB Streams: the outbox written with every item change and the
//! `DynamoDBStreams_20120810` API that reads it.
//!
//! Layout: `dynamodb.streams`: `<stream id>` (32 hex) + sequence number (u64, big-endian)
//! → the record (JSON, in the canonical shape GetRecords answers). Records are put in the
//! same `WriteBatch` as the change, so none is lost or invented by a crash. Each stream has
//! one shard; sequence numbers increase by one per record.

use std::sync::Arc;

use nimbus_dynamodb_expr::{item_size, item_to_json, Item};
use nimbus_model::schema::{Operation, Service};
use nimbus_model::services::dynamodbstreams::{Op, SERVICE};
use nimbus_protocol::{BoxFuture, Handler, Input, Output};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{epoch_now, format_iso8601, AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::tables::{Table, TableMeta};
use crate::{get_str, out, store_err, Inner, KS_STREAMS, KS_TABLES};

/// 24 hours.
pub(crate) const RETENTION_SECS: f64 = 24.0 * 3600.0;
/// Shard iterators expire after 15 minutes.
const ITERATOR_TTL_SECS: f64 = 15.0 * 60.0;

/// One stream of a table (the last one is the table's latest stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StreamMeta {
    pub id: String,
    pub label: String,
    pub arn: String,
    pub view_type: String,
    pub created: f64,
    pub enabled: bool,
}

impl StreamMeta {
    pub fn new(table_arn: &str, view_type: &str) -> StreamMeta {
        let created = epoch_now();
        // `2024-05-01T12:00:00.123` (AWS's label: ISO 8601 without the zone).
        let mut label = format_iso8601(created).trim_end_matches('Z').to_string();
        if !label.contains('.') {
            label.push_str(".000");
        }
        StreamMeta {
            id: uuid::Uuid::new_v4().simple().to_string(),
            arn: format!("{table_arn}/stream/{label}"),
            label,
            view_type: view_type.to_string(),
            created,
            enabled: true,
        }
    }

    pub fn shard_id(&self) -> String {
        format!("shardId-00000001{:012}-{}", ((self.created * 1000.0) as u64) % 1_000_000_000_000, &self.id[..8.min(self.id.len())])
    }
}

pub(crate) fn seq_string(seq: u64) -> String {
    format!("1{seq:020}")
}

fn parse_seq(s: &str) -> Option<u64> {
    if s.len() != 21 || !s.starts_with('1') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s[1..].parse().ok()
}

fn record_key(stream: &str, seq: u64) -> Vec<u8> {
    let mut k = stream.as_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The stream's next sequence number (one past its last record, or 1).
fn next_seq_in_store(inner: &Inner, stream: &str) -> Result<u64, AwsError> {
    let mut scan = inner.store.prefix(KS_STREAMS, stream.as_bytes(), Direction::Reverse).map_err(store_err)?;
    match scan.next() {
        Some(kv) => {
            let (k, _) = kv.map_err(store_err)?;
            let mut b = [0u8; 8];
            if k.len() >= stream.len() + 8 {
                b.copy_from_slice(&k[stream.len()..stream.len() + 8]);
            }
            Ok(u64::from_be_bytes(b) + 1)
        }
        None => Ok(1),
    }
}

fn first_seq_in_store(inner: &Inner, stream: &str) -> Result<Option<u64>, AwsError> {
    let mut scan = inner.store.prefix(KS_STREAMS, stream.as_bytes(), Direction::Forward).map_err(store_err)?;
    match scan.next() {
        Some(kv) => {
            let (k, _) = kv.map_err(store_err)?;
            let mut b = [0u8; 8];
            if k.len() >= stream.len() + 8 {
                b.copy_from_slice(&k[stream.len()..stream.len() + 8]);
            }
            Ok(Some(u64::from_be_bytes(b)))
        }
        None => Ok(None),
    }
}

/// Adds the stream record of one change (old → new) to `batch`, if the table has an
/// enabled stream and the change changed something. `service` marks a TTL deletion.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_record(
    inner: &Inner,
    table: &Table,
    meta: &TableMeta,
    next: &mut Option<(String, u64)>,
    old: Option<&Item>,
    new: Option<&Item>,
    service: bool,
    batch: &mut WriteBatch,
) -> Result<(), AwsError> {
    let Some(s) = meta.streams.last().filter(|s| s.enabled) else { return Ok(()) };
    let name = match (old, new) {
        (None, Some(_)) => "INSERT",
        (Some(o), Some(n)) if o != n => "MODIFY",
        (Some(_), None) => "REMOVE",
        _ => return Ok(()),
    };
    let seq = match &*next {
        Some((id, n)) if *id == s.id => *n,
        _ => next_seq_in_store(inner, &s.id)?,
    };
    let Some(any) = new.or(old) else { return Ok(()) };
    let keys: Item = table.key_names().into_iter().filter_map(|n| any.get(n).map(|v| (n.to_string(), v.clone()))).collect();
    let mut size = item_size(&keys);
    let mut ddb = Map::new();
    ddb.insert("ApproximateCreationDateTime".into(), json!(epoch_now().floor()));
    ddb.insert("Keys".into(), item_to_json(&keys));
    if matches!(s.view_type.as_str(), "NEW_IMAGE" | "NEW_AND_OLD_IMAGES") {
        if let Some(n) = new {
            ddb.insert("NewImage".into(), item_to_json(n));
            size += item_size(n);
        }
    }
    if matches!(s.view_type.as_str(), "OLD_IMAGE" | "NEW_AND_OLD_IMAGES") {
        if let Some(o) = old {
            ddb.insert("OldImage".into(), item_to_json(o));
            size += item_size(o);
        }
    }
    ddb.insert("SequenceNumber".into(), json!(seq_string(seq)));
    ddb.insert("SizeBytes".into(), json!(size));
    ddb.insert("StreamViewType".into(), json!(s.view_type));
    let region = meta.arn.split(':').nth(3).unwrap_or("us-east-1");
    let mut rec = Map::new();
    rec.insert("eventID".into(), json!(uuid::Uuid::new_v4().simple().to_string()));
    rec.insert("eventName".into(), json!(name));
    rec.insert("eventVersion".into(), json!("1.1"));
    rec.insert("eventSource".into(), json!("aws:dynamodb"));
    rec.insert("awsRegion".into(), json!(region));
    rec.insert("dynamodb".into(), Value::Object(ddb));
    if service {
        rec.insert("userIdentity".into(), json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}));
    }
    let raw = serde_json::to_vec(&Value::Object(rec)).map_err(|e| AwsError::internal(e.to_string()))?;
    batch.put(KS_STREAMS, record_key(&s.id, seq), raw);
    *next = Some((s.id.clone(), seq + 1));
    Ok(())
}

fn stream_not_found(arn: &str) -> AwsError {
    AwsError::new(400, "ResourceNotFoundException", format!("Requested resource not found: Stream: {arn} not found"))
}

fn bad_iterator() -> AwsError {
    AwsError::validation("Invalid ShardIterator")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A cheap keyed checksum so a hand-edited iterator is refused.
fn check(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ 0x6e696d627573;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// An iterator: `<stream arn>|<stream id>|<next seq>|<issued ms>` with a checksum, hex-encoded.
fn make_iterator(arn: &str, stream: &str, seq: u64) -> String {
    let body = format!("{arn}|{stream}|{seq}|{}", (epoch_now() * 1000.0) as u64);
    let c = check(&body);
    hex(format!("{body}|{c:016x}").as_bytes())
}

struct Position {
    arn: String,
    stream: String,
    seq: u64,
    issued: f64,
}

fn parse_iterator(it: &str) -> Result<Position, AwsError> {
    let raw = unhex(it).ok_or_else(bad_iterator)?;
    let s = String::from_utf8(raw).map_err(|_| bad_iterator())?;
    let (body, c) = s.rsplit_once('|').ok_or_else(bad_iterator)?;
    if format!("{:016x}", check(body)) != c {
        return Err(bad_iterator());
    }
    let parts: Vec<&str> = body.rsplitn(4, '|').collect();
    let [issued, seq, stream, arn] = parts.as_slice() else { return Err(bad_iterator()) };
    Ok(Position {
        arn: arn.to_string(),
        stream: stream.to_string(),
        seq: seq.parse().map_err(|_| bad_iterator())?,
        issued: issued.parse::<f64>().map_err(|_| bad_iterator())? / 1000.0,
    })
}

impl Inner {
    /// The table and stream an ARN names, in the caller's account and region.
    fn stream_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<(Arc<Table>, StreamMeta), AwsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "dynamodb" {
            return Err(AwsError::validation(format!("Invalid StreamArn: {arn}")));
        }
        if parts[3] != ctx.region || parts[4] != ctx.account_id {
            return Err(stream_not_found(arn));
        }
        let rest = parts[5].strip_prefix("table/").ok_or_else(|| AwsError::validation(format!("Invalid StreamArn: {arn}")))?;
        let (name, _) = rest.split_once("/stream/").ok_or_else(|| AwsError::validation(format!("Invalid StreamArn: {arn}")))?;
        let table = self.table(ctx, name)?.ok_or_else(|| stream_not_found(arn))?;
        let meta = table.meta();
        let s = meta.streams.iter().find(|s| s.arn == arn).cloned().ok_or_else(|| stream_not_found(arn))?;
        Ok((table, s))
    }

    fn list_streams(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let filter = get_str(v, "TableName");
        let limit = v.get("Limit").and_then(Value::as_i64).unwrap_or(100).clamp(1, 100) as usize;
        let start = get_str(v, "ExclusiveStartStreamArn");
        let prefix = format!("{}\0{}\0", ctx.account_id, ctx.region).into_bytes();
        let mut all = Vec::new();
        for kv in self.store.prefix(KS_TABLES, &prefix, Direction::Forward).map_err(store_err)? {
            let (_, raw) = kv.map_err(store_err)?;
            let Ok(meta) = serde_json::from_slice::<TableMeta>(&raw) else { continue };
            if filter.is_some_and(|f| f != meta.name) {
                continue;
            }
            for s in &meta.streams {
                all.push(json!({"StreamArn": s.arn, "TableName": meta.name, "StreamLabel": s.label}));
            }
        }
        if let Some(start) = start {
            if let Some(i) = all.iter().position(|s| s["StreamArn"] == start) {
                all.drain(..=i);
            }
        }
        let more = all.len() > limit;
        all.truncate(limit);
        let mut resp = Map::new();
        if more {
            if let Some(l) = all.last() {
                resp.insert("LastEvaluatedStreamArn".into(), l["StreamArn"].clone());
            }
        }
        resp.insert("Streams".into(), Value::Array(all));
        out(Value::Object(resp))
    }

    fn describe_stream(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let arn = get_str(v, "StreamArn").unwrap_or_default();
        let (table, s) = self.stream_by_arn(ctx, arn)?;
        let meta = table.meta();
        let start = match first_seq_in_store(self, &s.id)? {
            Some(f) => f,
            None => next_seq_in_store(self, &s.id)?,
        };
        let mut range = Map::new();
        range.insert("StartingSequenceNumber".into(), json!(seq_string(start)));
        if !s.enabled {
            range.insert("EndingSequenceNumber".into(), json!(seq_string(next_seq_in_store(self, &s.id)?.saturating_sub(1).max(start))));
        }
        let mut key_schema = vec![json!({"AttributeName": meta.hash.name, "KeyType": "HASH"})];
        if let Some(r) = &meta.range {
            key_schema.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
        }
        out(json!({"StreamDescription": {
            "StreamArn": s.arn,
            "StreamLabel": s.label,
            "StreamStatus": if s.enabled { "ENABLED" } else { "DISABLED" },
            "StreamViewType": s.view_type,
            "CreationRequestDateTime": s.created,
            "TableName": meta.name,
            "KeySchema": key_schema,
            "Shards": [{"ShardId": s.shard_id(), "SequenceNumberRange": Value::Object(range)}],
        }}))
    }

    fn get_shard_iterator(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let arn = get_str(v, "StreamArn").unwrap_or_default();
        let (_, s) = self.stream_by_arn(ctx, arn)?;
        let shard = get_str(v, "ShardId").unwrap_or_default();
        if shard != s.shard_id() {
            return Err(AwsError::new(
                400,
                "ResourceNotFoundException",
                format!("Requested resource not found: Shard does not exist: {shard}"),
            ));
        }
        let kind = get_str(v, "ShardIteratorType").unwrap_or_default();
        let seq_param = get_str(v, "SequenceNumber");
        let need_seq = || -> Result<u64, AwsError> {
            let sn = seq_param.ok_or_else(|| {
                AwsError::validation(format!("SequenceNumber is required for ShardIteratorType {kind}"))
            })?;
            parse_seq(sn).ok_or_else(|| AwsError::validation(format!("Invalid SequenceNumber: {sn}")))
        };
        let seq = match kind {
            "TRIM_HORIZON" => first_seq_in_store(self, &s.id)?.unwrap_or(next_seq_in_store(self, &s.id)?),
            "LATEST" => next_seq_in_store(self, &s.id)?,
            "AT_SEQUENCE_NUMBER" => need_seq()?,
            "AFTER_SEQUENCE_NUMBER" => need_seq()? + 1,
            other => return Err(AwsError::validation(format!("Invalid ShardIteratorType: {other}"))),
        };
        if matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER") {
            let next = next_seq_in_store(self, &s.id)?;
            if seq > next {
                return Err(AwsError::validation(format!(
                    "Invalid SequenceNumber: {} is beyond the end of the shard",
                    seq_param.unwrap_or_default()
                )));
            }
        }
        out(json!({"ShardIterator": make_iterator(&s.arn, &s.id, seq)}))
    }

    fn get_records(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let it = get_str(v, "ShardIterator").unwrap_or_default();
        let pos = parse_iterator(it)?;
        if epoch_now() - pos.issued > ITERATOR_TTL_SECS {
            return Err(AwsError::new(400, "ExpiredIteratorException", "Iterator expired. The iterator was created more than 15 minutes ago."));
        }
        let limit = v.get("Limit").and_then(Value::as_i64).unwrap_or(1000);
        if !(1..=1000).contains(&limit) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
        let (_, s) = self.stream_by_arn(ctx, &pos.arn)?;
        if s.id != pos.stream {
            return Err(bad_iterator());
        }
        let cutoff = epoch_now() - RETENTION_SECS;
        let lo = record_key(&s.id, pos.seq);
        let hi = record_key(&s.id, u64::MAX);
        let mut records = Vec::new();
        let mut next = pos.seq;
        for kv in self.store.range(KS_STREAMS, (std::ops::Bound::Included(lo), std::ops::Bound::Included(hi)), Direction::Forward).map_err(store_err)? {
            let (k, raw) = kv.map_err(store_err)?;
            let mut b = [0u8; 8];
            if k.len() >= s.id.len() + 8 {
                b.copy_from_slice(&k[s.id.len()..s.id.len() + 8]);
            }
            next = u64::from_be_bytes(b) + 1;
            let rec: Value = serde_json::from_slice(&raw).map_err(|e| AwsError::internal(format!("corrupt stream record: {e}")))?;
            let at = rec.pointer("/dynamodb/ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or(0.0);
            if at < cutoff {
                continue;
            }
            records.push(rec);
            if records.len() as i64 >= limit {
                break;
            }
        }
        let mut resp = Map::new();
        resp.insert("Records".into(), Value::Array(records));
        let closed = !s.enabled && next >= next_seq_in_store(self, &s.id)?;
        if !closed {
            resp.insert("NextShardIterator".into(), json!(make_iterator(&s.arn, &s.id, next)));
        }
        out(Value::Object(resp))
    }

    /// Deletes stream records older than the retention period.
    pub(crate) fn prune_streams(&self) -> Result<(), AwsError> {
        let cutoff = epoch_now() - RETENTION_SECS;
        let metas = self.all_table_metas()?;
        for (_, meta) in metas {
            for s in &meta.streams {
                loop {
                    let mut batch = WriteBatch::new();
                    let mut done = true;
                    for kv in self.store.prefix(KS_STREAMS, s.id.as_bytes(), Direction::Forward).map_err(store_err)?.take(1000) {
                        let (k, raw) = kv.map_err(store_err)?;
                        let rec: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                        let at = rec.pointer("/dynamodb/ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or(0.0);
                        if at >= cutoff {
                            done = true;
                            break;
                        }
                        batch.delete(KS_STREAMS, k);
                        done = false;
                    }
                    if batch.is_empty() {
                        break;
                    }
                    self.store.write(batch).map_err(store_err)?;
                    if done {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The DynamoDB Streams service (`DynamoDBStreams_20120810.*`), sharing the tables of a
/// [`crate::DynamoDb`].
#[derive(Clone)]
pub struct DynamoDbStreams {
    pub(crate) inner: Arc<Inner>,
}

impl Handler for DynamoDbStreams {
    fn model(&self) -> &'static Service {
        &SERVICE
    }

    fn implements(&self, op: &str) -> bool {
        Op::from_name(op).is_some()
    }

    fn call<'a>(&'a self, ctx: &'a RequestContext, op: &'static Operation, input: Input) -> BoxFuture<'a, Result<Output, AwsError>> {
        Box::pin(async move {
            let Some(op) = Op::from_name(op.name) else {
                return Err(AwsError::new(501, "UnknownOperationException", format!("{} is not implemented", op.name)));
            };
            let inner = self.inner.clone();
            let ctx = ctx.clone();
            let r = tokio::task::spawn_blocking(move || {
                let v = &input.value;
                match op {
                    Op::ListStreams => inner.list_streams(&ctx, v),
                    Op::DescribeStream => inner.describe_stream(&ctx, v),
                    Op::GetShardIterator => inner.get_shard_iterator(&ctx, v),
                    Op::GetRecords => inner.get_records(&ctx, v),
                }
            })
            .await;
            match r {
                Ok(r) => r,
                Err(e) => Err(AwsError::internal(format!("the operation failed: {e}"))),
            }
        })
    }
}

/// A stream as a reader outside the DynamoDB Streams API sees it (Lambda's event
/// source mappings, through the binary's wiring).
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub enabled: bool,
    /// The table's partition key attribute.
    pub hash_key: String,
    /// (shard id, parent shard id), parents first.
    pub shards: Vec<(String, Option<String>)>,
}

impl DynamoDbStreams {
    fn located(&self, account: &str, region: &str, arn: &str) -> Result<(Arc<Table>, StreamMeta), AwsError> {
        let ctx = RequestContext::new(account, region);
        self.inner.stream_by_arn(&ctx, arn)
    }

    fn shard_of(s: &StreamMeta, shard: &str) -> Result<(), AwsError> {
        if shard != s.shard_id() {
            return Err(AwsError::new(400, "ResourceNotFoundException", format!("Requested resource not found: Shard does not exist: {shard}")));
        }
        Ok(())
    }

    /// The stream an ARN names, in `account`/`region` (`ResourceNotFoundException` when
    /// there is none).
    pub fn stream_info(&self, account: &str, region: &str, arn: &str) -> Result<StreamInfo, AwsError> {
        let (table, s) = self.located(account, region, arn)?;
        Ok(StreamInfo { enabled: s.enabled, hash_key: table.meta().hash.name.clone(), shards: vec![(s.shard_id(), None)] })
    }

    /// The sequence number of the shard's last record, if it has any.
    pub fn last_sequence_number(&self, account: &str, region: &str, arn: &str, shard: &str) -> Result<Option<String>, AwsError> {
        let (_, s) = self.located(account, region, arn)?;
        Self::shard_of(&s, shard)?;
        let next = next_seq_in_store(&self.inner, &s.id)?;
        Ok((first_seq_in_store(&self.inner, &s.id)?.is_some()).then(|| seq_string(next - 1)))
    }

    /// Up to `limit` records of the shard after sequence number `after` (`None`: from
    /// the oldest kept), as `GetRecords` returns them; and whether the shard is closed
    /// and read to its end.
    pub fn read_records(&self, account: &str, region: &str, arn: &str, shard: &str, after: Option<&str>, limit: usize) -> Result<(Vec<Value>, bool), AwsError> {
        let (_, s) = self.located(account, region, arn)?;
        Self::shard_of(&s, shard)?;
        let from = match after {
            Some(a) => parse_seq(a).ok_or_else(|| AwsError::validation(format!("Invalid SequenceNumber: {a}")))? + 1,
            None => 0,
        };
        let cutoff = epoch_now() - RETENTION_SECS;
        let lo = record_key(&s.id, from);
        let hi = record_key(&s.id, u64::MAX);
        let mut records = Vec::new();
        let mut next = from;
        for kv in self.inner.store.range(KS_STREAMS, (std::ops::Bound::Included(lo), std::ops::Bound::Included(hi)), Direction::Forward).map_err(store_err)? {
            if records.len() >= limit {
                break;
            }
            let (k, raw) = kv.map_err(store_err)?;
            let mut b = [0u8; 8];
            if k.len() >= s.id.len() + 8 {
                b.copy_from_slice(&k[s.id.len()..s.id.len() + 8]);
            }
            next = u64::from_be_bytes(b) + 1;
            let rec: Value = serde_json::from_slice(&raw).map_err(|e| AwsError::internal(format!("corrupt stream record: {e}")))?;
            let at = rec.pointer("/dynamodb/ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or(0.0);
            if at >= cutoff {
                records.push(rec);
            }
        }
        let ended = !s.enabled && records.len() < limit && next >= next_seq_in_store(&self.inner, &s.id)?;
        Ok((records, ended))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_and_refuse_tampering() {
        let it = make_iterator("arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/x", "abc", 42);
        let p = parse_iterator(&it).unwrap();
        assert_eq!(p.seq, 42);
        assert_eq!(p.stream, "abc");
        assert!(parse_iterator("zz").is_err());
        let mut bad = it.clone();
        bad.replace_range(0..2, "41");
        assert!(parse_iterator(&bad).is_err());
    }

    #[test]
    fn sequence_numbers_sort_as_strings() {
        assert!(seq_string(9) < seq_string(10));
        assert_eq!(seq_string(7).len(), 21);
        assert_eq!(parse_seq(&seq_string(123)), Some(123));
    }
}
