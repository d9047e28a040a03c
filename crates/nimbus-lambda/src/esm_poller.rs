//! The pollers of event source mappings: one tokio task per enabled mapping reads its
//! DynamoDB stream shard by shard (parents before children) from the durable checkpoint,
//! drops records the filters reject, and invokes the function synchronously (the same
//! path as `Invoke` with `RequestResponse`) with batches of `{"Records": [...]}`.
//!
//! After a batch succeeds the checkpoint (keyspace `lambda.esm_checkpoints`,
//! `<uuid>/<shard id>` → the last sequence number handled) is written, so a restart
//! resumes without re-delivering. A failed batch is retried (bisected first when
//! `BisectBatchOnFunctionError` is set) until it succeeds, runs out of
//! `MaximumRetryAttempts` or its records pass `MaximumRecordAgeInSeconds`; then it is
//! discarded and the server log says so (`OnFailure` destinations are refused at
//! creation). `ReportBatchItemFailures` resumes from the lowest failed sequence number.
//! Throttled invocations back off and retry without counting an attempt.
//!
//! With `ParallelizationFactor` > 1, each chunk read from a shard is split into that
//! many lanes by partition key; lanes run concurrently, each in order, and the shard's
//! checkpoint moves once every lane is done.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nimbus_types::RequestContext;
use serde_json::{json, Value};

use crate::env::Outcome;
use crate::esm::{Mapping, ShardRecords, StreamDescription, StreamError, StreamSource, CHECKPOINTS};
use crate::{lock, Inner, MAX_SYNC_PAYLOAD};

/// AWS polls each DynamoDB stream shard four times a second.
const POLL: Duration = Duration::from_millis(250);
/// Checkpoint value of a closed shard that has been read to its end.
const SHARD_END: &str = "SHARD_END";
/// Records read from a shard at once (a batch per lane at most).
const MAX_CHUNK: usize = 10_000;

/// The running pollers and what they share.
#[derive(Default)]
pub(crate) struct Esm {
    /// Where stream records come from, once connected.
    pub source: OnceLock<Arc<dyn StreamSource>>,
    /// Serialises writes of mapping records: API calls, state changes, processing results.
    pub lock: tokio::sync::Mutex<()>,
    running: Mutex<HashMap<String, Running>>,
    generation: AtomicU64,
}

struct Running {
    generation: u64,
    stop: Arc<Stop>,
}

/// Asks a poller to stop between invocations (an invocation in flight finishes).
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Stop {
    fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    fn stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps `d` or until stopped; true when stopped.
    async fn sleep(&self, d: Duration) -> bool {
        if self.stopped() {
            return true;
        }
        let _ = tokio::time::timeout(d, self.wake.notified()).await;
        self.stopped()
    }
}

/// What one invocation of the function answered.
enum Invoked {
    Ok(Bytes),
    FunctionError,
    Throttled,
    /// The function is gone, or a service error: retried later, not counted.
    Failed(String),
}

/// Starts the pollers of every stored mapping and settles states left in transition.
pub(crate) async fn resume(inner: Arc<Inner>) {
    for m in inner.all_mappings() {
        inner.reconcile_mapping(&m.store_key()).await;
    }
}

impl Inner {
    /// Makes the running pollers agree with a stored mapping: starts or stops its
    /// poller, settles `Creating`/`Enabling`/`Updating` to `Enabled` and `Disabling` to
    /// `Disabled`, and removes a `Deleting` mapping once its poller has stopped.
    pub(crate) fn reconcile_mapping<'a>(self: &'a Arc<Self>, key: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let _guard = self.esm.lock.lock().await;
            let m = match self.load_mapping(key) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(mapping = %key, "cannot read an event source mapping: {}", e.message);
                    return;
                }
            };
            let running = lock(&self.esm.running).get(key).map(|r| r.stop.clone());
            let Some(mut m) = m else {
                if let Some(s) = running {
                    s.stop();
                }
                return;
            };
            if m.enabled && m.state != "Deleting" {
                if running.is_none() {
                    let stop = Arc::new(Stop::default());
                    let generation = self.esm.generation.fetch_add(1, Ordering::SeqCst);
                    lock(&self.esm.running).insert(key.to_string(), Running { generation, stop: stop.clone() });
                    tokio::spawn(run(self.clone(), key.to_string(), stop, generation));
                }
                if m.state != "Enabled" {
                    m.state = "Enabled".into();
                    if let Err(e) = self.save_mapping(&m) {
                        tracing::error!(mapping = %m.uuid, "cannot update an event source mapping: {}", e.message);
                    }
                }
            } else if let Some(s) = running {
                // The poller reconciles again when it has stopped.
                s.stop();
            } else if m.state == "Deleting" {
                if let Err(e) = self.remove_mapping(&m) {
                    tracing::error!(mapping = %m.uuid, "cannot delete an event source mapping: {}", e.message);
                }
            } else if m.state != "Disabled" {
                m.state = "Disabled".into();
                if let Err(e) = self.save_mapping(&m) {
                    tracing::error!(mapping = %m.uuid, "cannot update an event source mapping: {}", e.message);
                }
            }
        })
    }

    /// Records the mapping's `LastProcessingResult` (written only when it changes).
    async fn set_result(&self, key: &str, result: &str) {
        let _guard = self.esm.lock.lock().await;
        if let Ok(Some(mut m)) = self.load_mapping(key) {
            if m.last_result != result {
                m.last_result = result.to_string();
                let _ = self.save_mapping(&m);
            }
        }
    }

    fn checkpoint(&self, uuid: &str, shard: &str, seq: &str) {
        if let Err(e) = self.store.put(CHECKPOINTS, format!("{uuid}/{shard}"), seq.as_bytes().to_vec()) {
            tracing::error!(mapping = %uuid, "cannot write the checkpoint of an event source mapping: {e}");
        }
    }

    fn load_checkpoint(&self, uuid: &str, shard: &str) -> Option<String> {
        self.store
            .get(CHECKPOINTS, format!("{uuid}/{shard}").as_bytes())
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok())
    }
}

async fn run(inner: Arc<Inner>, key: String, stop: Arc<Stop>, generation: u64) {
    poll(&inner, &key, &stop).await;
    {
        let mut running = lock(&inner.esm.running);
        if running.get(&key).is_some_and(|r| r.generation == generation) {
            running.remove(&key);
        }
    }
    inner.reconcile_mapping(&key).await;
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StreamError> + Send + 'static) -> Result<T, StreamError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(StreamError::Failed(e.to_string())))
}

fn seq_of(record: &Value) -> &str {
    record.pointer("/dynamodb/SequenceNumber").and_then(Value::as_str).unwrap_or_default()
}

/// The shard to read next and its checkpoint: parents are finished before children.
fn next_shard(inner: &Inner, m: &Mapping, desc: &StreamDescription) -> Option<(String, Option<String>)> {
    let ids: Vec<&str> = desc.shards.iter().map(|s| s.shard_id.as_str()).collect();
    for s in &desc.shards {
        let cp = inner.load_checkpoint(&m.uuid, &s.shard_id);
        if cp.as_deref() == Some(SHARD_END) {
            continue;
        }
        let parent_done = match &s.parent_shard_id {
            Some(p) if ids.contains(&p.as_str()) => inner.load_checkpoint(&m.uuid, p).as_deref() == Some(SHARD_END),
            _ => true,
        };
        if parent_done {
            return Some((s.shard_id.clone(), cp));
        }
    }
    None
}

async fn poll(inner: &Arc<Inner>, key: &str, stop: &Arc<Stop>) {
    let mut gathering: Option<Instant> = None;
    while !stop.stopped() {
        let m = match inner.load_mapping(key) {
            Ok(Some(m)) if m.enabled && m.state != "Deleting" => m,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(mapping = %key, "cannot read an event source mapping: {}", e.message);
                if stop.sleep(Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let Some(source) = inner.esm.source.get().cloned() else {
            if stop.sleep(Duration::from_millis(100)).await {
                return;
            }
            continue;
        };
        let (s, a, r, arn) = (source.clone(), m.account.clone(), m.region.clone(), m.source_arn.clone());
        let desc = match blocking(move || s.describe(&a, &r, &arn)).await {
            Ok(d) => d,
            Err(e) => {
                if let StreamError::Failed(msg) = &e {
                    tracing::warn!(mapping = %m.uuid, "cannot describe {}: {msg}", m.source_arn);
                }
                if stop.sleep(Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let Some((shard, after)) = next_shard(inner, &m, &desc) else {
            if stop.sleep(POLL).await {
                return;
            }
            continue;
        };
        let limit = (m.batch_size.max(1) as usize).saturating_mul(m.parallelization.max(1) as usize).min(MAX_CHUNK);
        let (s, a, r, arn, id) = (source.clone(), m.account.clone(), m.region.clone(), m.source_arn.clone(), shard.clone());
        let read: Result<ShardRecords, StreamError> = blocking(move || s.read(&a, &r, &arn, &id, after.as_deref(), limit)).await;
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                if let StreamError::Failed(msg) = &e {
                    tracing::warn!(mapping = %m.uuid, "cannot read {}: {msg}", m.source_arn);
                }
                if stop.sleep(Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        if read.records.is_empty() {
            if read.ended {
                inner.checkpoint(&m.uuid, &shard, SHARD_END);
                continue;
            }
            gathering = None;
            if stop.sleep(POLL).await {
                return;
            }
            continue;
        }
        // MaximumBatchingWindowInSeconds: wait for a full batch, at most that long.
        if m.window > 0 && read.records.len() < limit && !read.ended {
            let since = *gathering.get_or_insert_with(Instant::now);
            let left = Duration::from_secs(m.window as u64).saturating_sub(since.elapsed());
            if !left.is_zero() {
                if stop.sleep(left.min(POLL)).await {
                    return;
                }
                continue;
            }
        }
        gathering = None;
        if !process_chunk(inner, &m, &desc, &shard, read.records, stop).await {
            return;
        }
    }
}

/// Handles one chunk read from a shard; false when stopped before it was done.
async fn process_chunk(inner: &Arc<Inner>, m: &Mapping, desc: &StreamDescription, shard: &str, records: Vec<Value>, stop: &Arc<Stop>) -> bool {
    let Some(last) = records.last().map(|r| seq_of(r).to_string()) else { return true };
    let patterns = m.patterns();
    let matched: Vec<Value> = records
        .into_iter()
        .map(|mut r| {
            if let Value::Object(o) = &mut r {
                o.insert("eventSourceARN".into(), Value::String(m.source_arn.clone()));
            }
            r
        })
        .filter(|r| match &patterns {
            None => true,
            Some(ps) => ps.iter().any(|p| p.as_ref().is_some_and(|p| p.matches(r))),
        })
        .collect();
    if m.parallelization <= 1 {
        for batch in batches(matched, m.batch_size) {
            if !process_batch(inner, m, Some(shard), batch, stop).await {
                return false;
            }
        }
    } else {
        let lanes = m.parallelization as usize;
        let mut by_lane: Vec<Vec<Value>> = vec![Vec::new(); lanes];
        for r in matched {
            let key = r.pointer("/dynamodb/Keys").and_then(|k| k.get(&desc.partition_key)).map(Value::to_string).unwrap_or_default();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            by_lane[(h.finish() % lanes as u64) as usize].push(r);
        }
        let mut tasks = tokio::task::JoinSet::new();
        let stop_flag = Arc::new(AtomicBool::new(false));
        for lane in by_lane.into_iter().filter(|l| !l.is_empty()) {
            let (inner, m, stopped, stop) = (inner.clone(), m.clone(), stop_flag.clone(), stop.clone());
            tasks.spawn(async move {
                for batch in batches(lane, m.batch_size) {
                    if !process_batch(&inner, &m, None, batch, &stop).await {
                        stopped.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        if stop_flag.load(Ordering::SeqCst) || stop.stopped() {
            return false;
        }
    }
    inner.checkpoint(&m.uuid, shard, &last);
    true
}

/// Splits records into batches of at most `size` records that fit a synchronous payload.
fn batches(records: Vec<Value>, size: i32) -> Vec<Vec<Value>> {
    let size = size.max(1) as usize;
    // `{"Records":[...]}` plus commas.
    let room = MAX_SYNC_PAYLOAD - 64;
    let mut out = Vec::new();
    let mut cur: Vec<Value> = Vec::new();
    let mut bytes = 0usize;
    for r in records {
        let n = r.to_string().len() + 1;
        if !cur.is_empty() && (cur.len() >= size || bytes + n > room) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += n;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Delay before retrying a failed batch: 100 ms doubling, at most 5 s.
fn backoff(retries: i32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1u64 << retries.clamp(0, 6) as u32)).min(Duration::from_secs(5))
}

/// With `ReportBatchItemFailures`: `Ok(None)` for success, `Ok(Some(i))` to resume at
/// record `i`, `Err(())` when the response fails the whole batch.
fn item_failures(body: &[u8], batch: &[Value]) -> Result<Option<usize>, ()> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return Ok(None) };
    let Some(list) = v.as_object().and_then(|o| o.get("batchItemFailures")) else { return Ok(None) };
    let items = match list {
        Value::Null => return Ok(None),
        Value::Array(a) if a.is_empty() => return Ok(None),
        Value::Array(a) => a,
        _ => return Err(()),
    };
    let mut lowest: Option<usize> = None;
    for item in items {
        let id = item.get("itemIdentifier").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(())?;
        let at = batch.iter().position(|r| seq_of(r) == id).ok_or(())?;
        lowest = Some(lowest.map_or(at, |l| l.min(at)));
    }
    Ok(lowest)
}

/// Drops records older than `MaximumRecordAgeInSeconds`, saying so in the server log.
fn drop_expired(m: &Mapping, batch: Vec<Value>) -> Vec<Value> {
    if m.max_record_age < 0 {
        return batch;
    }
    let now = nimbus_types::epoch_now();
    let (keep, old): (Vec<Value>, Vec<Value>) = batch.into_iter().partition(|r| {
        let at = r.pointer("/dynamodb/ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or(now);
        now - at <= m.max_record_age as f64
    });
    if !old.is_empty() {
        tracing::warn!(
            mapping = %m.uuid, function = %m.function_arn(),
            "discarding {} stream records older than MaximumRecordAgeInSeconds={} (sequence numbers {}..{}); OnFailure destinations are not supported",
            old.len(), m.max_record_age, seq_of(&old[0]), seq_of(&old[old.len() - 1])
        );
    }
    keep
}

async fn invoke(inner: &Inner, m: &Mapping, batch: &[Value]) -> Invoked {
    let ctx = RequestContext {
        request_id: nimbus_types::new_request_id(),
        account_id: m.account.clone(),
        region: m.region.clone(),
        access_key_id: None,
        assumed_role_arn: None,
    };
    let rec = match inner.resolve(&ctx, &m.function_arn(), None).and_then(|r| inner.route(r)) {
        Ok(r) => r,
        Err(e) => return Invoked::Failed(e.message),
    };
    let payload = Bytes::from(json!({ "Records": batch }).to_string());
    match inner.execute(&rec, &ctx.request_id, payload, None, false).await {
        Ok((outcome, _)) => match crate::versions::snap_start_failure(&rec, outcome) {
            Ok(Outcome::Ok(body)) => Invoked::Ok(body),
            Ok(Outcome::FunctionError(_)) => Invoked::FunctionError,
            Err(e) => Invoked::Failed(e.message),
        },
        Err(e) if e.status == 429 => Invoked::Throttled,
        Err(e) => Invoked::Failed(e.message),
    }
}

fn discard(m: &Mapping, batch: &[Value], retries: i32) {
    if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
        tracing::warn!(
            mapping = %m.uuid, function = %m.function_arn(),
            "discarding {} stream records (sequence numbers {}..{}) after {} retries; OnFailure destinations are not supported",
            batch.len(), seq_of(first), seq_of(last), retries
        );
    }
}

/// Delivers one batch with the mapping's retry policy; false when stopped first.
/// `shard` is where to checkpoint after each part that is done (`None`: the caller
/// checkpoints the whole chunk).
async fn process_batch(inner: &Inner, m: &Mapping, shard: Option<&str>, batch: Vec<Value>, stop: &Stop) -> bool {
    let key = m.store_key();
    let done = |part: &[Value]| {
        if let (Some(shard), Some(last)) = (shard, part.last()) {
            inner.checkpoint(&m.uuid, shard, seq_of(last));
        }
    };
    let mut work: VecDeque<(Vec<Value>, i32)> = VecDeque::from([(batch, 0)]);
    // Service errors in a row (a deleted function, ...): retried ever more slowly.
    let mut troubles: u32 = 0;
    while let Some((b, retries)) = work.pop_front() {
        if stop.stopped() {
            return false;
        }
        let b = drop_expired(m, b);
        if b.is_empty() {
            continue;
        }
        let failed = match invoke(inner, m, &b).await {
            Invoked::Ok(body) => {
                let outcome = if m.report_item_failures { item_failures(&body, &b) } else { Ok(None) };
                if let Ok(None) = outcome {
                    // Checkpoint first: "OK" then means the batch will not come again.
                    done(&b);
                }
                inner.set_result(&key, "OK").await;
                match outcome {
                    Ok(None) => continue,
                    Ok(Some(at)) => {
                        // The records before the first failure are done.
                        done(&b[..at]);
                        b[at..].to_vec()
                    }
                    Err(()) => b,
                }
            }
            Invoked::FunctionError => {
                inner.set_result(&key, "PROBLEM: Function call failed").await;
                if m.bisect && b.len() > 1 {
                    // Splitting does not count as a retry.
                    let right = b[b.len() / 2..].to_vec();
                    let left = b[..b.len() / 2].to_vec();
                    work.push_front((right, retries));
                    work.push_front((left, retries));
                    continue;
                }
                b
            }
            Invoked::Throttled => {
                if stop.sleep(Duration::from_millis(500)).await {
                    return false;
                }
                work.push_front((b, retries));
                continue;
            }
            Invoked::Failed(msg) => {
                if msg.starts_with("Function not found") {
                    // As AWS reports a mapping whose function was deleted.
                    inner.set_result(&key, &format!("PROBLEM: {msg}")).await;
                }
                if troubles.is_power_of_two() || troubles == 0 {
                    tracing::warn!(mapping = %m.uuid, function = %m.function_arn(), "cannot invoke the function of an event source mapping: {msg}");
                }
                troubles = troubles.saturating_add(1);
                if stop.sleep(Duration::from_secs(u64::from(troubles.min(30)))).await {
                    return false;
                }
                work.push_front((b, retries));
                continue;
            }
        };
        if m.max_retries >= 0 && retries >= m.max_retries {
            discard(m, &failed, retries);
            done(&failed);
            continue;
        }
        if stop.sleep(backoff(retries)).await {
            return false;
        }
        work.push_front((failed, retries + 1));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: &str) -> Value {
        json!({"dynamodb": {"SequenceNumber": seq}})
    }

    #[test]
    fn batch_item_failures() {
        let b = vec![rec("1"), rec("2"), rec("3")];
        assert_eq!(item_failures(b"null", &b), Ok(None));
        assert_eq!(item_failures(b"not json", &b), Ok(None));
        assert_eq!(item_failures(br#"{"batchItemFailures": []}"#, &b), Ok(None));
        assert_eq!(item_failures(br#"{"batchItemFailures": null}"#, &b), Ok(None));
        assert_eq!(item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}"#, &b), Ok(Some(1)));
        assert_eq!(item_failures(br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#, &b), Err(()));
        assert_eq!(item_failures(br#"{"batchItemFailures": [{"itemIdentifier": null}]}"#, &b), Err(()));
        assert_eq!(item_failures(br#"{"batchItemFailures": [{"id": "2"}]}"#, &b), Err(()));
        assert_eq!(item_failures(br#"{"batchItemFailures": [{"itemIdentifier": "9"}]}"#, &b), Err(()));
    }

    #[test]
    fn batches_respect_size() {
        let recs: Vec<Value> = (0..7).map(|i| rec(&i.to_string())).collect();
        let b = batches(recs, 3);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
    }
}
