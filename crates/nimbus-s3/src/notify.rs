//! S3 event notifications: the stored bucket configuration, its validation (as AWS
//! validates PutBucketNotificationConfiguration), matching, and the event records.
//!
//! Delivery goes through [`EventTarget`], implemented by the binary (Lambda's durable
//! async queue), so this crate does not depend on the Lambda crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use s3s::dto::{
    Event, EventBridgeConfiguration, FilterRule, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    TopicConfiguration,
};
use s3s::{S3Error, S3ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where S3 hands event notifications (implemented by the binary with Lambda).
pub trait EventTarget: Send + Sync {
    /// True when the Lambda function `arn` exists (destination validation).
    fn exists(&self, account: &str, region: &str, arn: &str) -> bool;
    /// Delivers one event (`{"Records": [record]}`) asynchronously to the function `arn`.
    /// Must not block for long; failures are the target's to log.
    fn deliver(&self, account: &str, region: &str, arn: &str, event: Value);
}

/// The late-bound target (Lambda starts after S3 is registered).
pub(crate) type TargetSlot = Arc<OnceLock<Arc<dyn EventTarget>>>;

/// Every event type a configuration may name (AWS's list).
const EVENTS: &[&str] = &[
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// Kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Lambda,
    Queue,
    Topic,
}

/// One stored configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub kind: Kind,
    pub id: String,
    pub arn: String,
    pub events: Vec<String>,
    /// (name as AWS returns it: `Prefix` / `Suffix`, value), in the order given.
    #[serde(default)]
    pub rules: Vec<(String, String)>,
}

/// A bucket's notification configuration as stored in its `BucketMeta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notifications {
    pub destinations: Vec<Destination>,
    #[serde(default)]
    pub event_bridge: bool,
}

fn invalid(message: &str, name: Option<&str>, value: Option<&str>) -> S3Error {
    let _ = (name, value);
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.to_string())
}

fn new_id() -> String {
    // AWS generates a random configuration id when none is given.
    use base64::Engine;
    let raw = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw.as_bytes())
}

fn rules_of(filter: Option<NotificationConfigurationFilter>) -> Result<Vec<(String, String)>, S3Error> {
    let rules = filter
        .and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for r in rules {
        let name = r.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default();
        let name = match name.as_str() {
            "prefix" => "Prefix",
            "suffix" => "Suffix",
            _ => {
                return Err(invalid("filter rule name must be either prefix or suffix", Some("FilterRule"), None));
            }
        };
        if out.iter().any(|(n, _)| n == name) {
            let msg = if name == "Prefix" {
                "Cannot specify more than one prefix rule in a filter."
            } else {
                "Cannot specify more than one suffix rule in a filter."
            };
            return Err(invalid(msg, Some("FilterRule"), None));
        }
        let value = r.value.unwrap_or_default();
        if value.len() > 1024 {
            return Err(invalid("The filter rule value exceeds the maximum length of 1024.", Some("FilterRule"), None));
        }
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn events_of(events: Vec<Event>) -> Result<Vec<String>, S3Error> {
    if events.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let e: String = e.into();
        if !EVENTS.contains(&e.as_str()) {
            return Err(invalid("The event is not supported for notifications", Some(&e), Some(&e)));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

fn prefix_of(rules: &[(String, String)]) -> &str {
    rules.iter().find(|(n, _)| n == "Prefix").map_or("", |(_, v)| v.as_str())
}

fn suffix_of(rules: &[(String, String)]) -> &str {
    rules.iter().find(|(n, _)| n == "Suffix").map_or("", |(_, v)| v.as_str())
}

/// True when the event patterns `a` and `b` can name the same event.
fn events_overlap(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let covers = |wild: &str, other: &str| {
        wild.strip_suffix('*').is_some_and(|stem| other.starts_with(stem))
    };
    covers(a, b) || covers(b, a)
}

/// True when `pattern` (possibly ending in `*`) matches the event `name` (with `s3:`).
pub fn event_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => name.starts_with(stem),
        None => pattern == name,
    }
}

fn overlap(a: &Destination, b: &Destination) -> bool {
    let shares = a.events.iter().any(|x| b.events.iter().any(|y| events_overlap(x, y)));
    if !shares {
        return false;
    }
    let (pa, pb) = (prefix_of(&a.rules), prefix_of(&b.rules));
    let (sa, sb) = (suffix_of(&a.rules), suffix_of(&b.rules));
    let prefixes = pa.starts_with(pb) || pb.starts_with(pa);
    let suffixes = sa.ends_with(sb) || sb.ends_with(sa);
    prefixes && suffixes
}

/// Validates a PutBucketNotificationConfiguration body as AWS does and turns it into
/// what is stored. `exists` checks a Lambda destination (None: cannot be validated).
pub fn parse(
    config: NotificationConfiguration,
    skip_validation: bool,
    exists: &dyn Fn(&str) -> Option<bool>,
) -> Result<Notifications, S3Error> {
    let mut out = Notifications {
        destinations: Vec::new(),
        event_bridge: config.event_bridge_configuration.is_some(),
    };
    for c in config.lambda_function_configurations.unwrap_or_default() {
        out.destinations.push(Destination {
            kind: Kind::Lambda,
            id: c.id.filter(|s| !s.is_empty()).unwrap_or_else(new_id),
            arn: c.lambda_function_arn,
            events: events_of(c.events)?,
            rules: rules_of(c.filter)?,
        });
    }
    for c in config.queue_configurations.unwrap_or_default() {
        out.destinations.push(Destination {
            kind: Kind::Queue,
            id: c.id.filter(|s| !s.is_empty()).unwrap_or_else(new_id),
            arn: c.queue_arn,
            events: events_of(c.events)?,
            rules: rules_of(c.filter)?,
        });
    }
    for c in config.topic_configurations.unwrap_or_default() {
        out.destinations.push(Destination {
            kind: Kind::Topic,
            id: c.id.filter(|s| !s.is_empty()).unwrap_or_else(new_id),
            arn: c.topic_arn,
            events: events_of(c.events)?,
            rules: rules_of(c.filter)?,
        });
    }
    for (i, a) in out.destinations.iter().enumerate() {
        if out.destinations[..i].iter().any(|b| b.id == a.id) {
            return Err(invalid(
                "Same ID used for multiple configurations. IDs must be unique.",
                Some(&a.id),
                None,
            ));
        }
        if out.destinations[..i].iter().any(|b| overlap(a, b)) {
            return Err(invalid(
                "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                None,
                None,
            ));
        }
    }
    if !skip_validation {
        let bad: Vec<&str> = out
            .destinations
            .iter()
            .filter(|d| match d.kind {
                // SQS and SNS are not served: their destinations cannot be validated.
                Kind::Queue | Kind::Topic => true,
                Kind::Lambda => exists(&d.arn) != Some(true),
            })
            .map(|d| d.arn.as_str())
            .collect();
        if !bad.is_empty() {
            return Err(invalid(
                "Unable to validate the following destination configurations",
                bad.first().copied(),
                None,
            ));
        }
    }
    Ok(out)
}

fn filter_dto(rules: &[(String, String)]) -> Option<NotificationConfigurationFilter> {
    if rules.is_empty() {
        return None;
    }
    Some(NotificationConfigurationFilter {
        key: Some(S3KeyFilter {
            filter_rules: Some(
                rules
                    .iter()
                    .map(|(n, v)| FilterRule {
                        name: Some(FilterRuleName::from(n.clone())),
                        value: Some(v.clone()),
                    })
                    .collect(),
            ),
        }),
    })
}

fn events_dto(events: &[String]) -> Vec<Event> {
    events.iter().map(|e| Event::from(e.clone())).collect()
}

/// The stored configuration as the Get answer's parts.
pub fn to_dto(n: &Notifications) -> NotificationConfiguration {
    let mut lambda = Vec::new();
    let mut queue = Vec::new();
    let mut topic = Vec::new();
    for d in &n.destinations {
        match d.kind {
            Kind::Lambda => lambda.push(LambdaFunctionConfiguration {
                events: events_dto(&d.events),
                filter: filter_dto(&d.rules),
                id: Some(d.id.clone()),
                lambda_function_arn: d.arn.clone(),
            }),
            Kind::Queue => queue.push(QueueConfiguration {
                events: events_dto(&d.events),
                filter: filter_dto(&d.rules),
                id: Some(d.id.clone()),
                queue_arn: d.arn.clone(),
            }),
            Kind::Topic => topic.push(TopicConfiguration {
                events: events_dto(&d.events),
                filter: filter_dto(&d.rules),
                id: Some(d.id.clone()),
                topic_arn: d.arn.clone(),
            }),
        }
    }
    NotificationConfiguration {
        event_bridge_configuration: n.event_bridge.then_some(EventBridgeConfiguration {}),
        lambda_function_configurations: (!lambda.is_empty()).then_some(lambda),
        queue_configurations: (!queue.is_empty()).then_some(queue),
        topic_configurations: (!topic.is_empty()).then_some(topic),
    }
}

/// The Lambda destinations that `event` (e.g. `s3:ObjectCreated:Put`) on `key` triggers.
pub fn matching<'a>(n: &'a Notifications, event: &str, key: &str) -> Vec<&'a Destination> {
    n.destinations
        .iter()
        .filter(|d| d.kind == Kind::Lambda)
        .filter(|d| d.events.iter().any(|p| event_matches(p, event)))
        .filter(|d| key.starts_with(prefix_of(&d.rules)) && key.ends_with(suffix_of(&d.rules)))
        .collect()
}

/// The object key as AWS puts it in event records: form-URL-encoded (space as `+`),
/// with `/` kept.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A hex sequencer that increases across every event this process produces.
pub fn next_sequencer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let now = u64::try_from(now).unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:018X}"),
            Err(p) => prev = p,
        }
    }
}

/// A stable principal id for an account (what AWS shows as the owner's principalId).
pub fn principal_id(account: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(account.as_bytes());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail: String = digest.iter().take(13).map(|b| alphabet[usize::from(*b) % alphabet.len()] as char).collect();
    format!("A{tail}")
}

/// ISO 8601 with milliseconds, UTC (`2024-05-01T12:00:00.123Z`).
pub fn event_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// What happened to which object, for the records.
pub struct Happened<'a> {
    /// With the `s3:` prefix, e.g. `s3:ObjectCreated:Put`.
    pub event: &'a str,
    pub bucket: &'a str,
    pub bucket_region: &'a str,
    pub bucket_owner: &'a str,
    pub key: &'a str,
    /// Size and ETag (no quotes), for ObjectCreated events.
    pub object: Option<(u64, &'a str)>,
    pub version_id: Option<&'a str>,
    pub requester_account: &'a str,
    pub request_id: &'a str,
    pub source_ip: &'a str,
    pub time_ms: i64,
    pub sequencer: &'a str,
}

/// One event record exactly as AWS builds it.
pub fn record(h: &Happened<'_>, configuration_id: &str) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("key".into(), json!(encode_key(h.key)));
    if let Some((size, etag)) = h.object {
        object.insert("size".into(), json!(size));
        object.insert("eTag".into(), json!(etag));
    }
    if let Some(v) = h.version_id {
        object.insert("versionId".into(), json!(v));
    }
    object.insert("sequencer".into(), json!(h.sequencer));
    // AWS shapes object tagging events as version 2.3 (compatible with 2.1).
    let version = if h.event.starts_with("s3:ObjectTagging:") { "2.3" } else { "2.1" };
    json!({
        "eventVersion": version,
        "eventSource": "aws:s3",
        "awsRegion": h.bucket_region,
        "eventTime": event_time(h.time_ms),
        "eventName": h.event.strip_prefix("s3:").unwrap_or(h.event),
        "userIdentity": {"principalId": format!("AWS:{}", principal_id(h.requester_account))},
        "requestParameters": {"sourceIPAddress": h.source_ip},
        "responseElements": {
            "x-amz-request-id": h.request_id,
            "x-amz-id-2": id2(h.request_id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": h.bucket,
                "ownerIdentity": {"principalId": principal_id(h.bucket_owner)},
                "arn": format!("arn:aws:s3:::{}", h.bucket),
            },
            "object": Value::Object(object),
        },
    })
}

/// The `x-amz-id-2` for a request id (the front sends the request id for both).
fn id2(request_id: &str) -> String {
    request_id.to_string()
}

/// Delivers `h` to every matching Lambda configuration in `n` (one invocation per record).
pub fn deliver(target: &dyn EventTarget, n: &Notifications, h: &Happened<'_>) {
    for d in matching(n, h.event, h.key) {
        let event = json!({"Records": [record(h, &d.id)]});
        target.deliver(h.bucket_owner, h.bucket_region, &d.arn, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(id: &str, events: &[&str], prefix: &str, suffix: &str) -> Destination {
        let mut rules = Vec::new();
        if !prefix.is_empty() {
            rules.push(("Prefix".to_string(), prefix.to_string()));
        }
        if !suffix.is_empty() {
            rules.push(("Suffix".to_string(), suffix.to_string()));
        }
        Destination {
            kind: Kind::Lambda,
            id: id.into(),
            arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            rules,
        }
    }

    #[test]
    fn event_shape() {
        let h = Happened {
            event: "s3:ObjectCreated:Put",
            bucket: "photos",
            bucket_region: "us-east-1",
            bucket_owner: "000000000000",
            key: "input/my cat+1.jpg",
            object: Some((1024, "d41d8cd98f00b204e9800998ecf8427e")),
            version_id: None,
            requester_account: "000000000000",
            request_id: "C3D13FE58DE4C810",
            source_ip: "127.0.0.1",
            time_ms: 1_700_000_000_123,
            sequencer: "0055AED6DCD90281E5",
        };
        let r = record(&h, "thumbs");
        let owner = principal_id("000000000000");
        let want = json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2023-11-14T22:13:20.123Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": format!("AWS:{owner}")},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "C3D13FE58DE4C810"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "thumbs",
                "bucket": {"name": "photos", "ownerIdentity": {"principalId": owner}, "arn": "arn:aws:s3:::photos"},
                "object": {"key": "input/my+cat%2B1.jpg", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"},
            },
        });
        assert_eq!(r, want);
        let d = Happened { event: "s3:ObjectRemoved:Delete", object: None, version_id: Some("v1"), ..h };
        let r = record(&d, "x");
        assert_eq!(r["eventName"], "ObjectRemoved:Delete");
        assert_eq!(r["s3"]["object"], json!({"key": "input/my+cat%2B1.jpg", "versionId": "v1", "sequencer": "0055AED6DCD90281E5"}));
    }

    #[test]
    fn sequencers_increase() {
        let a = next_sequencer();
        let b = next_sequencer();
        assert_eq!(a.len(), b.len());
        assert!(b > a);
    }

    #[test]
    fn matching_and_overlap() {
        let n = Notifications {
            destinations: vec![dest("a", &["s3:ObjectCreated:*"], "input/", ".jpg")],
            event_bridge: false,
        };
        assert_eq!(matching(&n, "s3:ObjectCreated:Put", "input/cat.jpg").len(), 1);
        assert!(matching(&n, "s3:ObjectCreated:Put", "input/notes.txt").is_empty());
        assert!(matching(&n, "s3:ObjectCreated:Put", "other/dog.jpg").is_empty());
        assert!(matching(&n, "s3:ObjectRemoved:Delete", "input/cat.jpg").is_empty());
        assert!(overlap(&dest("a", &["s3:ObjectCreated:*"], "in", ""), &dest("b", &["s3:ObjectCreated:Put"], "input/", ".jpg")));
        assert!(!overlap(&dest("a", &["s3:ObjectCreated:*"], "a/", ""), &dest("b", &["s3:ObjectCreated:Put"], "b/", "")));
        assert!(!overlap(&dest("a", &["s3:ObjectCreated:*"], "", ".png"), &dest("b", &["s3:ObjectCreated:*"], "", ".jpg")));
        assert!(!overlap(&dest("a", &["s3:ObjectRemoved:*"], "", ""), &dest("b", &["s3:ObjectCreated:*"], "", "")));
    }

    #[test]
    fn key_encoding() {
        assert_eq!(encode_key("a b/c=d(é).jpg"), "a+b/c%3Dd%28%C3%A9%29.jpg");
    }
}
