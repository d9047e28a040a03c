//! Event source mappings (`/2015-03-31/event-source-mappings`): the control plane of
//! Lambda reading DynamoDB streams. Mappings are stored durably (keyspace `lambda.esm`,
//! keyed `<account>/<region>/<uuid>`); each enabled mapping has a poller
//! ([`crate::esm_poller`]) whose per-shard checkpoints live in `lambda.esm_checkpoints`.
//!
//! Only DynamoDB stream ARNs are served. Other event sources (SQS, Kinesis, Kafka, MQ,
//! DocumentDB) are refused, as are settings Nimbus cannot honour: `OnFailure`
//! destinations (Nimbus has no SQS or SNS), tumbling windows, `KMSKeyArn`,
//! `MetricsConfig`.
//!
//! The stream itself is read through a [`StreamSource`] the binary connects
//! ([`crate::Lambda::read_streams_from`]).

use std::sync::Arc;

use nimbus_model::services::lambda::Op;
use nimbus_model::types::lambda as t;
use nimbus_model::Timestamp;
use nimbus_protocol::{Input, Output};
use nimbus_store::{Direction, WriteBatch};
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};

use crate::{esm_filter, invalid, parse_name, store_err, Inner, Lambda};

pub const MAPPINGS: &str = "lambda.esm";
pub const CHECKPOINTS: &str = "lambda.esm_checkpoints";

/// AWS reports this transition reason for stream (DynamoDB, Kinesis) mappings.
const USER_ACTION: &str = "User action";
/// Tags per resource, as for functions.
const MAX_TAGS: usize = 50;
/// Filters per event source (AWS's default quota).
const MAX_FILTERS: usize = 5;

/// A stream's shard as a mapping's poller sees it.
#[derive(Debug, Clone)]
pub struct StreamShard {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
}

/// What a poller needs to know about a stream.
#[derive(Debug, Clone)]
pub struct StreamDescription {
    /// False once the table's stream was turned off (no new records arrive).
    pub enabled: bool,
    /// The table's partition key: records with the same value keep their order when
    /// `ParallelizationFactor` > 1.
    pub partition_key: String,
    pub shards: Vec<StreamShard>,
}

/// Records read from a shard, oldest first, each exactly as `GetRecords` returns it.
#[derive(Debug, Clone)]
pub struct ShardRecords {
    pub records: Vec<serde_json::Value>,
    /// The shard is closed and every record in it has been read.
    pub ended: bool,
}

/// Why a stream could not be read.
#[derive(Debug, Clone)]
pub enum StreamError {
    /// No such stream (or shard) in that account and region.
    NotFound,
    Failed(String),
}

/// Reads DynamoDB streams for event source mappings. Sequence numbers are the
/// `SequenceNumber` strings of the records (fixed width, so they sort as numbers).
pub trait StreamSource: Send + Sync + 'static {
    fn describe(&self, account: &str, region: &str, arn: &str) -> Result<StreamDescription, StreamError>;
    /// The sequence number of the shard's last record (`None`: the shard is empty).
    fn last_sequence(&self, account: &str, region: &str, arn: &str, shard: &str) -> Result<Option<String>, StreamError>;
    /// Up to `limit` records after `after` (`None`: from the oldest record kept).
    fn read(&self, account: &str, region: &str, arn: &str, shard: &str, after: Option<&str>, limit: usize) -> Result<ShardRecords, StreamError>;
}

/// One mapping as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Mapping {
    pub uuid: String,
    pub account: String,
    pub region: String,
    /// The function's name and the qualifier it was given with (`None`: unqualified).
    pub function: String,
    pub qualifier: Option<String>,
    pub source_arn: String,
    pub starting_position: String,
    pub batch_size: i32,
    pub window: i32,
    pub parallelization: i32,
    pub filters: Option<t::FilterCriteria>,
    pub max_record_age: i32,
    pub bisect: bool,
    pub max_retries: i32,
    pub report_item_failures: bool,
    pub enabled: bool,
    pub state: String,
    pub last_modified: f64,
    pub last_result: String,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

impl Mapping {
    pub fn key(account: &str, region: &str, uuid: &str) -> String {
        format!("{account}/{region}/{uuid}")
    }

    pub fn store_key(&self) -> String {
        Self::key(&self.account, &self.region, &self.uuid)
    }

    pub fn function_arn(&self) -> String {
        let arn = crate::model::function_arn(&self.region, &self.account, &self.function);
        match &self.qualifier {
            Some(q) => format!("{arn}:{q}"),
            None => arn,
        }
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{}:event-source-mapping:{}", self.region, self.account, self.uuid)
    }

    /// The parsed filters (validated when stored; an unparsable one matches nothing).
    pub fn patterns(&self) -> Option<Vec<Option<esm_filter::Pattern>>> {
        let filters = self.filters.as_ref()?.filters.as_ref()?;
        if filters.is_empty() {
            return None;
        }
        Some(filters.iter().map(|f| f.pattern.as_deref().and_then(esm_filter::parse)).collect())
    }

    pub fn render(&self) -> t::EventSourceMappingConfiguration {
        t::EventSourceMappingConfiguration {
            uuid: Some(self.uuid.clone()),
            starting_position: Some(self.starting_position.clone()),
            batch_size: Some(self.batch_size),
            maximum_batching_window_in_seconds: Some(self.window),
            parallelization_factor: Some(self.parallelization),
            event_source_arn: Some(self.source_arn.clone()),
            filter_criteria: self.filters.clone().filter(|f| f.filters.as_ref().is_some_and(|v| !v.is_empty())),
            function_arn: Some(self.function_arn()),
            last_modified: Some(Timestamp(self.last_modified)),
            last_processing_result: Some(self.last_result.clone()),
            state: Some(self.state.clone()),
            state_transition_reason: Some(USER_ACTION.into()),
            destination_config: Some(t::DestinationConfig { on_success: None, on_failure: Some(t::OnFailure { destination: None }) }),
            maximum_record_age_in_seconds: Some(self.max_record_age),
            bisect_batch_on_function_error: Some(self.bisect),
            maximum_retry_attempts: Some(self.max_retries),
            tumbling_window_in_seconds: Some(0),
            function_response_types: Some(if self.report_item_failures { vec!["ReportBatchItemFailures".into()] } else { Vec::new() }),
            event_source_mapping_arn: Some(self.arn()),
            ..Default::default()
        }
    }
}

pub fn implements(op: Op) -> bool {
    matches!(
        op,
        Op::CreateEventSourceMapping | Op::GetEventSourceMapping | Op::UpdateEventSourceMapping | Op::DeleteEventSourceMapping | Op::ListEventSourceMappings
    )
}

fn not_found() -> AwsError {
    AwsError::new(404, "ResourceNotFoundException", "The resource you requested does not exist.")
}

fn epoch() -> f64 {
    (nimbus_types::epoch_now() * 1000.0).round() / 1000.0
}

fn unsupported(param: &str) -> AwsError {
    invalid(format!("Unsupported {param} parameter for given event source mapping type."))
}

/// The event source's service, refusing what Nimbus does not read.
fn check_source(arn: Option<&str>, self_managed: bool) -> Result<String, AwsError> {
    if self_managed {
        return Err(invalid("Nimbus serves event source mappings for DynamoDB streams only: self-managed Apache Kafka event sources are not supported."));
    }
    let Some(arn) = arn else { return Err(invalid("Unrecognized event source.")) };
    let service = arn.split(':').nth(2).unwrap_or_default();
    let name = match service {
        "dynamodb" => return Ok(arn.to_string()),
        "sqs" => "Amazon SQS",
        "kinesis" => "Amazon Kinesis",
        "kafka" => "Amazon MSK",
        "mq" => "Amazon MQ",
        "rds" | "docdb" => "Amazon DocumentDB",
        _ => return Err(invalid("Unrecognized event source.")),
    };
    Err(invalid(format!("Nimbus serves event source mappings for DynamoDB streams only: {name} event sources are not supported.")))
}

fn check_filters(f: &Option<t::FilterCriteria>) -> Result<(), AwsError> {
    let Some(filters) = f.as_ref().and_then(|f| f.filters.as_ref()) else { return Ok(()) };
    if filters.len() > MAX_FILTERS {
        return Err(invalid(format!("The number of filters ({}) exceeds the limit of {MAX_FILTERS} per event source.", filters.len())));
    }
    for f in filters {
        if f.pattern.as_deref().and_then(esm_filter::parse).is_none() {
            return Err(invalid("Invalid filter pattern definition."));
        }
    }
    Ok(())
}

fn check_record_age(v: i32) -> Result<(), AwsError> {
    if v != -1 && v < 60 {
        return Err(invalid("MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"));
    }
    Ok(())
}

fn check_destination(d: &Option<t::DestinationConfig>) -> Result<(), AwsError> {
    let Some(d) = d else { return Ok(()) };
    if d.on_success.as_ref().is_some_and(|s| s.destination.is_some()) {
        return Err(invalid("Unsupported DestinationConfig parameter for given event source mapping type."));
    }
    if d.on_failure.as_ref().is_some_and(|f| f.destination.is_some()) {
        return Err(invalid(
            "Nimbus has no Amazon SQS or Amazon SNS yet: DestinationConfig.OnFailure destinations are not supported (discarded records are logged by the server).",
        ));
    }
    Ok(())
}

fn check_tumbling(v: Option<i32>) -> Result<(), AwsError> {
    if v.is_some_and(|v| v > 0) {
        return Err(invalid("Nimbus does not support tumbling windows: TumblingWindowInSeconds must be 0."));
    }
    Ok(())
}

fn check_response_types(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_some_and(|v| v.iter().any(|x| x == "ReportBatchItemFailures"))
}

impl Lambda {
    /// Reads DynamoDB streams for event source mappings from `source`. Without it,
    /// mappings can be created but their pollers wait.
    pub fn read_streams_from(&self, source: Arc<dyn StreamSource>) {
        let _ = self.inner.esm.source.set(source);
    }
}

impl Inner {
    pub(crate) fn load_mapping(&self, key: &str) -> Result<Option<Mapping>, AwsError> {
        match self.store.get(MAPPINGS, key.as_bytes()).map_err(store_err)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| AwsError::internal(format!("corrupt event source mapping: {e}"))),
        }
    }

    pub(crate) fn save_mapping(&self, m: &Mapping) -> Result<(), AwsError> {
        let v = serde_json::to_vec(m).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(MAPPINGS, m.store_key(), v).map_err(store_err)
    }

    /// Removes a mapping and its checkpoints in one batch.
    pub(crate) fn remove_mapping(&self, m: &Mapping) -> Result<(), AwsError> {
        let mut batch = WriteBatch::new();
        batch.delete(MAPPINGS, m.store_key());
        for kv in self.store.prefix(CHECKPOINTS, format!("{}/", m.uuid).as_bytes(), Direction::Forward).map_err(store_err)? {
            let (k, _) = kv.map_err(store_err)?;
            batch.delete(CHECKPOINTS, k);
        }
        self.store.write(batch).map_err(store_err)
    }

    fn mappings_in(&self, account: &str, region: &str) -> Result<Vec<Mapping>, AwsError> {
        let mut out = Vec::new();
        for kv in self.store.prefix(MAPPINGS, format!("{account}/{region}/").as_bytes(), Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            if let Ok(m) = serde_json::from_slice::<Mapping>(&v) {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Every stored mapping (for resuming pollers at start).
    pub(crate) fn all_mappings(&self) -> Vec<Mapping> {
        let Ok(scan) = self.store.prefix(MAPPINGS, b"", Direction::Forward) else { return Vec::new() };
        scan.filter_map(|kv| kv.ok()).filter_map(|(_, v)| serde_json::from_slice::<Mapping>(&v).ok()).collect()
    }

    /// The function a mapping invokes: (name, qualifier). The function (and the version
    /// or alias) must exist.
    fn mapping_target(&self, ctx: &RequestContext, raw: &str) -> Result<(String, Option<String>), AwsError> {
        let (region, account, name, q) = parse_name(ctx, raw)?;
        let missing = || invalid("Function does not exist");
        if region != ctx.region {
            return Err(missing());
        }
        let latest = self.load(&account, &region, &name)?.ok_or_else(missing)?;
        match q.as_deref() {
            None => Ok((name, None)),
            Some(q) => {
                if q != "$LATEST" {
                    self.resolve_qualified(latest, q).map_err(|_| missing())?;
                }
                Ok((name, Some(q.to_string())))
            }
        }
    }

    fn stream_source(&self) -> Result<Arc<dyn StreamSource>, AwsError> {
        self.esm.source.get().cloned().ok_or_else(|| invalid("Nimbus cannot read DynamoDB streams in this build."))
    }

    /// The stream must exist and be enabled; answers its shards.
    async fn check_stream(&self, account: &str, region: &str, arn: &str) -> Result<StreamDescription, AwsError> {
        let source = self.stream_source()?;
        let (a, r, s) = (account.to_string(), region.to_string(), arn.to_string());
        let found = tokio::task::spawn_blocking(move || source.describe(&a, &r, &s)).await.map_err(|e| AwsError::internal(e.to_string()))?;
        match found {
            Ok(d) if d.enabled => Ok(d),
            Ok(_) | Err(StreamError::NotFound) => Err(invalid(format!("Stream not found: {arn}"))),
            Err(StreamError::Failed(e)) => Err(AwsError::new(500, "ServiceException", format!("could not read the stream: {e}"))),
        }
    }

    fn check_duplicate(&self, m: &Mapping) -> Result<(), AwsError> {
        for other in self.mappings_in(&m.account, &m.region)? {
            if other.uuid != m.uuid && other.source_arn == m.source_arn && other.function_arn() == m.function_arn() {
                return Err(AwsError::new(
                    409,
                    "ResourceConflictException",
                    format!(
                        "The event source arn (\" {} \") and function (\" {} \") provided mapping already exists. Please update or delete the existing mapping with UUID {}",
                        m.source_arn, m.function, other.uuid
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn create_mapping(&self, ctx: &RequestContext, i: t::CreateEventSourceMappingRequest) -> Result<t::EventSourceMappingConfiguration, AwsError> {
        let arn = check_source(i.event_source_arn.as_deref(), i.self_managed_event_source.is_some())?;
        let position = match i.starting_position.as_deref() {
            None => {
                return Err(invalid(
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.",
                ))
            }
            Some("AT_TIMESTAMP") => return Err(invalid(format!("Unsupported starting position for arn type: {arn}"))),
            Some(p) => p.to_string(),
        };
        if i.starting_position_timestamp.is_some() {
            return Err(unsupported("StartingPositionTimestamp"));
        }
        for (given, name) in [
            (i.topics.is_some(), "Topics"),
            (i.queues.is_some(), "Queues"),
            (i.source_access_configurations.is_some(), "SourceAccessConfigurations"),
            (i.amazon_managed_kafka_event_source_config.is_some(), "AmazonManagedKafkaEventSourceConfig"),
            (i.self_managed_kafka_event_source_config.is_some(), "SelfManagedKafkaEventSourceConfig"),
            (i.document_db_event_source_config.is_some(), "DocumentDBEventSourceConfig"),
            (i.scaling_config.is_some(), "ScalingConfig"),
            (i.provisioned_poller_config.is_some(), "ProvisionedPollerConfig"),
        ] {
            if given {
                return Err(unsupported(name));
            }
        }
        refuse_unsupported_extras(i.kms_key_arn.is_some(), i.metrics_config.is_some(), i.logging_config.is_some())?;
        let tags = i.tags.clone().unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(invalid("Number of tags exceeds resource tag limit."));
        }
        check_destination(&i.destination_config)?;
        check_tumbling(i.tumbling_window_in_seconds)?;
        let max_record_age = i.maximum_record_age_in_seconds.unwrap_or(-1);
        check_record_age(max_record_age)?;
        check_filters(&i.filter_criteria)?;
        let (function, qualifier) = self.mapping_target(ctx, &i.function_name)?;
        let stream = self.check_stream(&ctx.account_id, &ctx.region, &arn).await?;
        let enabled = i.enabled.unwrap_or(true);
        let m = Mapping {
            uuid: uuid::Uuid::new_v4().to_string(),
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            function,
            qualifier,
            source_arn: arn,
            starting_position: position.clone(),
            batch_size: i.batch_size.unwrap_or(100),
            window: i.maximum_batching_window_in_seconds.unwrap_or(0),
            parallelization: i.parallelization_factor.unwrap_or(1),
            filters: i.filter_criteria.clone(),
            max_record_age,
            bisect: i.bisect_batch_on_function_error.unwrap_or(false),
            max_retries: i.maximum_retry_attempts.unwrap_or(-1),
            report_item_failures: check_response_types(&i.function_response_types),
            enabled,
            state: "Creating".into(),
            last_modified: epoch(),
            last_result: "No records processed".into(),
            tags,
        };
        // LATEST means the records written after this call: pin the position now, so
        // nothing written before the poller starts is skipped.
        let mut checkpoints = Vec::new();
        if position == "LATEST" {
            let source = self.stream_source()?;
            for shard in &stream.shards {
                let (s, a, r, arn, id) = (source.clone(), m.account.clone(), m.region.clone(), m.source_arn.clone(), shard.shard_id.clone());
                let last = tokio::task::spawn_blocking(move || s.last_sequence(&a, &r, &arn, &id))
                    .await
                    .map_err(|e| AwsError::internal(e.to_string()))?
                    .map_err(|_| invalid(format!("Stream not found: {}", m.source_arn)))?;
                if let Some(seq) = last {
                    checkpoints.push((format!("{}/{}", m.uuid, shard.shard_id), seq));
                }
            }
        }
        let _guard = self.esm.lock.lock().await;
        self.check_duplicate(&m)?;
        let mut batch = WriteBatch::new();
        batch.put(MAPPINGS, m.store_key(), serde_json::to_vec(&m).map_err(|e| AwsError::internal(e.to_string()))?);
        for (k, seq) in checkpoints {
            batch.put(CHECKPOINTS, k, seq.into_bytes());
        }
        self.store.write(batch).map_err(store_err)?;
        Ok(m.render())
    }

    fn get_mapping(&self, ctx: &RequestContext, uuid: &str) -> Result<Mapping, AwsError> {
        self.load_mapping(&Mapping::key(&ctx.account_id, &ctx.region, uuid))?.ok_or_else(not_found)
    }

    async fn update_mapping(&self, ctx: &RequestContext, i: t::UpdateEventSourceMappingRequest) -> Result<t::EventSourceMappingConfiguration, AwsError> {
        for (given, name) in [
            (i.source_access_configurations.is_some(), "SourceAccessConfigurations"),
            (i.amazon_managed_kafka_event_source_config.is_some(), "AmazonManagedKafkaEventSourceConfig"),
            (i.self_managed_kafka_event_source_config.is_some(), "SelfManagedKafkaEventSourceConfig"),
            (i.document_db_event_source_config.is_some(), "DocumentDBEventSourceConfig"),
            (i.scaling_config.is_some(), "ScalingConfig"),
            (i.provisioned_poller_config.is_some(), "ProvisionedPollerConfig"),
        ] {
            if given {
                return Err(unsupported(name));
            }
        }
        refuse_unsupported_extras(i.kms_key_arn.is_some(), i.metrics_config.is_some(), i.logging_config.is_some())?;
        check_destination(&i.destination_config)?;
        check_tumbling(i.tumbling_window_in_seconds)?;
        if let Some(v) = i.maximum_record_age_in_seconds {
            check_record_age(v)?;
        }
        check_filters(&i.filter_criteria)?;
        let target = match &i.function_name {
            Some(f) => Some(self.mapping_target(ctx, f)?),
            None => None,
        };
        let _guard = self.esm.lock.lock().await;
        let mut m = self.get_mapping(ctx, &i.uuid)?;
        if m.state == "Deleting" {
            return Err(AwsError::new(
                400,
                "ResourceInUseException",
                format!("Cannot update the event source mapping {} because it is being deleted.", m.uuid),
            ));
        }
        if let Some((f, q)) = target {
            m.function = f;
            m.qualifier = q;
            self.check_duplicate(&m)?;
        }
        if let Some(v) = i.batch_size {
            m.batch_size = v;
        }
        if let Some(v) = i.maximum_batching_window_in_seconds {
            m.window = v;
        }
        if let Some(v) = i.parallelization_factor {
            m.parallelization = v;
        }
        if let Some(v) = i.maximum_record_age_in_seconds {
            m.max_record_age = v;
        }
        if let Some(v) = i.bisect_batch_on_function_error {
            m.bisect = v;
        }
        if let Some(v) = i.maximum_retry_attempts {
            m.max_retries = v;
        }
        if i.function_response_types.is_some() {
            m.report_item_failures = check_response_types(&i.function_response_types);
        }
        if let Some(f) = i.filter_criteria {
            // `{}` (or no filters) removes the filters.
            m.filters = f.filters.as_ref().is_some_and(|v| !v.is_empty()).then_some(f);
        }
        m.state = match i.enabled {
            Some(true) if !m.enabled => "Enabling",
            Some(false) if m.enabled => "Disabling",
            _ => "Updating",
        }
        .into();
        if let Some(e) = i.enabled {
            m.enabled = e;
        }
        m.last_modified = epoch();
        self.save_mapping(&m)?;
        Ok(m.render())
    }

    async fn delete_mapping(&self, ctx: &RequestContext, uuid: &str) -> Result<t::EventSourceMappingConfiguration, AwsError> {
        let _guard = self.esm.lock.lock().await;
        let mut m = self.get_mapping(ctx, uuid)?;
        m.state = "Deleting".into();
        m.last_modified = epoch();
        self.save_mapping(&m)?;
        Ok(m.render())
    }

    fn list_mappings(&self, ctx: &RequestContext, i: t::ListEventSourceMappingsRequest) -> Result<t::ListEventSourceMappingsResponse, AwsError> {
        let max = i.max_items.unwrap_or(100).max(1) as usize;
        let function = match &i.function_name {
            Some(f) => {
                let (region, account, name, q) = parse_name(ctx, f)?;
                let arn = crate::model::function_arn(&region, &account, &name);
                Some(match q {
                    Some(q) => format!("{arn}:{q}"),
                    None => arn,
                })
            }
            None => None,
        };
        let mut all: Vec<Mapping> = self
            .mappings_in(&ctx.account_id, &ctx.region)?
            .into_iter()
            .filter(|m| i.event_source_arn.as_ref().is_none_or(|a| *a == m.source_arn))
            .filter(|m| function.as_ref().is_none_or(|f| *f == m.function_arn()))
            .collect();
        if let Some(marker) = &i.marker {
            let at = all.iter().position(|m| m.uuid == *marker).ok_or_else(|| invalid("Invalid Marker"))?;
            all.drain(..=at);
        }
        let more = all.len() > max;
        all.truncate(max);
        Ok(t::ListEventSourceMappingsResponse {
            next_marker: if more { all.last().map(|m| m.uuid.clone()) } else { None },
            event_source_mappings: Some(all.iter().map(Mapping::render).collect()),
        })
    }

    pub(crate) async fn esm_call(self: &Arc<Self>, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::CreateEventSourceMapping => {
                let out = self.create_mapping(ctx, input.parse()?).await?;
                self.reconcile_mapping(&Mapping::key(&ctx.account_id, &ctx.region, out.uuid.as_deref().unwrap_or_default())).await;
                Output::from(&out)
            }
            Op::GetEventSourceMapping => {
                let i: t::GetEventSourceMappingRequest = input.parse()?;
                Output::from(&self.get_mapping(ctx, &i.uuid)?.render())
            }
            Op::UpdateEventSourceMapping => {
                let out = self.update_mapping(ctx, input.parse()?).await?;
                self.reconcile_mapping(&Mapping::key(&ctx.account_id, &ctx.region, out.uuid.as_deref().unwrap_or_default())).await;
                Output::from(&out)
            }
            Op::DeleteEventSourceMapping => {
                let i: t::DeleteEventSourceMappingRequest = input.parse()?;
                let out = self.delete_mapping(ctx, &i.uuid).await?;
                self.reconcile_mapping(&Mapping::key(&ctx.account_id, &ctx.region, &i.uuid)).await;
                Output::from(&out)
            }
            Op::ListEventSourceMappings => Output::from(&self.list_mappings(ctx, input.parse()?)?),
            _ => Err(AwsError::internal(format!("{} is not an event source mapping operation", op.name()))),
        }
    }
}

/// Whether a tagging call (`ListTags`, `TagResource`, `UntagResource`) names an event
/// source mapping rather than a function.
pub fn names_mapping(input: &Input) -> bool {
    input.value.get("Resource").and_then(|v| v.as_str()).is_some_and(|r| r.split(':').nth(5) == Some("event-source-mapping"))
}

impl Inner {
    fn mapping_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<Mapping, AwsError> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", region, account, "event-source-mapping", uuid] if *account == ctx.account_id && *region == ctx.region => {
                self.load_mapping(&Mapping::key(account, region, uuid))?.ok_or_else(not_found)
            }
            _ => Err(not_found()),
        }
    }

    /// `ListTags`, `TagResource` and `UntagResource` on an event source mapping's ARN.
    pub(crate) async fn esm_tags(&self, ctx: &RequestContext, op: Op, input: Input) -> Result<Output, AwsError> {
        match op {
            Op::ListTags => {
                let i: t::ListTagsRequest = input.parse()?;
                let m = self.mapping_by_arn(ctx, &i.resource)?;
                Output::from(&t::ListTagsResponse { tags: Some(m.tags) })
            }
            Op::TagResource => {
                let i: t::TagResourceRequest = input.parse()?;
                let _guard = self.esm.lock.lock().await;
                let mut m = self.mapping_by_arn(ctx, &i.resource)?;
                m.tags.extend(i.tags);
                if m.tags.len() > MAX_TAGS {
                    return Err(invalid("Number of tags exceeds resource tag limit."));
                }
                self.save_mapping(&m)?;
                Ok(Output::default())
            }
            _ => {
                let i: t::UntagResourceRequest = input.parse()?;
                let _guard = self.esm.lock.lock().await;
                let mut m = self.mapping_by_arn(ctx, &i.resource)?;
                for k in &i.tag_keys {
                    m.tags.remove(k);
                }
                self.save_mapping(&m)?;
                Ok(Output::default())
            }
        }
    }
}

fn refuse_unsupported_extras(kms: bool, metrics: bool, logging: bool) -> Result<(), AwsError> {
    if kms {
        return Err(invalid("Nimbus has no AWS KMS: KMSKeyArn (encrypted filter criteria) is not supported."));
    }
    if metrics {
        return Err(invalid("Nimbus has no CloudWatch metrics: MetricsConfig is not supported."));
    }
    if logging {
        return Err(unsupported("LoggingConfig"));
    }
    Ok(())
}
