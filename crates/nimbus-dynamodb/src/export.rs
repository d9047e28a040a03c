//! ExportTableToPointInTime, DescribeExport and ListExports: full exports of a table's
//! point-in-time state to S3 in DynamoDB JSON, laid out as AWS does under
//! `<S3Prefix>/AWSDynamoDB/<ExportId>/`: `_started`, `data/<random>.json.gz` (one
//! `{"Item":{...}}` line per item, gzip), `manifest-files.json` and
//! `manifest-summary.json`, each with a `.md5` file holding its base64 MD5.
//!
//! Unlike AWS, which runs exports in the background for minutes, the export is written
//! before the call returns, and the answer says so truthfully: `COMPLETED` with its
//! `EndTime`, `ItemCount`, `BilledSizeBytes` and `ExportManifest`, or `FAILED` with the S3
//! error as `FailureCode`/`FailureMessage`. Records live in `dynamodb.exports`
//! (`<account>\0<region>\0<export id>` → JSON) and survive restarts.
//!
//! Not supported (answered with a ValidationException): ION output, incremental
//! exports, and SSE-KMS on the written objects.

use std::io::Write as _;

use nimbus_dynamodb_expr::item_size;
use nimbus_model::types::dynamodb as t;
use nimbus_protocol::Output;
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::backups::table_not_found;
use crate::items::{decode_item, lock_table};
use crate::pitr::{now_precise, state_at_time, unavailable, window};
use crate::s3io::{self, iso, md5_b64, new_id, ObjectStore, S3Failure};
use crate::{out, store_err, Inner};

pub(crate) const KS_EXPORTS: &str = "dynamodb.exports";

/// How long a ClientToken names the same export (AWS: 8 hours).
pub(crate) const TOKEN_SECS: f64 = 8.0 * 3600.0;

/// One export, as DescribeExport reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportRecord {
    id: String,
    arn: String,
    status: String,
    start: f64,
    end: Option<f64>,
    table_arn: String,
    table_id: String,
    export_time: f64,
    client_token: String,
    /// The request's parameters, to tell a retry from a conflicting reuse of the token.
    fingerprint: String,
    bucket: String,
    bucket_owner: Option<String>,
    prefix: Option<String>,
    sse: Option<String>,
    format: String,
    export_type: String,
    item_count: i64,
    billed_bytes: i64,
    manifest: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

impl ExportRecord {
    fn description(&self) -> Value {
        let mut d = json!({
            "ExportArn": self.arn,
            "ExportStatus": self.status,
            "StartTime": self.start,
            "TableArn": self.table_arn,
            "TableId": self.table_id,
            "ExportTime": self.export_time,
            "ClientToken": self.client_token,
            "S3Bucket": self.bucket,
            "ExportFormat": self.format,
            "ExportType": self.export_type,
        });
        let m = d.as_object_mut().expect("a JSON object literal");
        let mut opt = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        opt("EndTime", self.end.map(Value::from));
        opt("S3BucketOwner", self.bucket_owner.clone().map(Value::from));
        opt("S3Prefix", self.prefix.clone().map(Value::from));
        opt("S3SseAlgorithm", self.sse.clone().map(Value::from));
        opt("ExportManifest", self.manifest.clone().map(Value::from));
        opt("FailureCode", self.failure_code.clone().map(Value::from));
        opt("FailureMessage", self.failure_message.clone().map(Value::from));
        if self.status == "COMPLETED" {
            opt("ItemCount", Some(self.item_count.into()));
            opt("BilledSizeBytes", Some(self.billed_bytes.into()));
        }
        d
    }
}

fn record_key(account: &str, region: &str, id: &str) -> Vec<u8> {
    format!("{account}\0{region}\0{id}").into_bytes()
}

fn export_not_found(arn: &str) -> AwsError {
    AwsError::new(400, "ExportNotFoundException", format!("Export not found: {arn}"))
}

/// `arn:aws:dynamodb:<region>:<account>:table/<name>` → the table name, when it is in
/// the caller's account and region.
pub(crate) fn table_name_of(ctx: &RequestContext, arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match (parts.first(), parts.get(2), parts.get(3), parts.get(4), parts.get(5).and_then(|r| r.strip_prefix("table/"))) {
        (Some(&"arn"), Some(&"dynamodb"), Some(r), Some(a), Some(n)) if *r == ctx.region && *a == ctx.account_id && !n.is_empty() && !n.contains('/') => {
            Some(n.to_string())
        }
        _ => None,
    }
}

/// 26 lowercase base32 characters, as AWS names data files.
fn data_file_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut n = uuid::Uuid::new_v4().as_u128();
    (0..26)
        .map(|_| {
            let c = ALPHABET[(n & 31) as usize] as char;
            n >>= 5;
            c
        })
        .collect()
}

impl Inner {
    fn exports_of(&self, ctx: &RequestContext) -> Result<Vec<ExportRecord>, AwsError> {
        let prefix = record_key(&ctx.account_id, &ctx.region, "");
        let mut all = Vec::new();
        for kv in self.store.prefix(KS_EXPORTS, &prefix, Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            match serde_json::from_slice::<ExportRecord>(&v) {
                Ok(r) => all.push(r),
                Err(e) => tracing::warn!("dynamodb: skipping an unreadable export record: {e}"),
            }
        }
        Ok(all)
    }

    fn save_export(&self, ctx: &RequestContext, r: &ExportRecord) -> Result<(), AwsError> {
        let raw = serde_json::to_vec(r).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(KS_EXPORTS, record_key(&ctx.account_id, &ctx.region, &r.id), raw).map_err(store_err)
    }

    pub(crate) fn export_table(&self, ctx: &RequestContext, input: t::ExportTableToPointInTimeInput) -> Result<Output, AwsError> {
        let format = input.export_format.clone().unwrap_or_else(|| "DYNAMODB_JSON".into());
        match format.as_str() {
            "DYNAMODB_JSON" => {}
            "ION" => return Err(AwsError::validation("ExportFormat ION is not supported by Nimbus yet; use DYNAMODB_JSON")),
            other => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'exportFormat' failed to satisfy constraint: Member must satisfy enum value set: [DYNAMODB_JSON, ION]"
                )))
            }
        }
        let export_type = input.export_type.clone().unwrap_or_else(|| "FULL_EXPORT".into());
        match export_type.as_str() {
            "FULL_EXPORT" => {}
            "INCREMENTAL_EXPORT" => return Err(AwsError::validation("ExportType INCREMENTAL_EXPORT is not supported by Nimbus yet; use FULL_EXPORT")),
            other => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'exportType' failed to satisfy constraint: Member must satisfy enum value set: [FULL_EXPORT, INCREMENTAL_EXPORT]"
                )))
            }
        }
        if input.incremental_export_specification.is_some() {
            return Err(AwsError::validation("IncrementalExportSpecification is only valid with ExportType INCREMENTAL_EXPORT"));
        }
        match input.s3_sse_algorithm.as_deref() {
            None | Some("AES256") => {}
            Some("KMS") => return Err(AwsError::validation("S3SseAlgorithm KMS is not supported by Nimbus yet; use AES256")),
            Some(other) => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 's3SseAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]"
                )))
            }
        }
        if input.s3_sse_kms_key_id.is_some() {
            return Err(AwsError::validation("S3SseKmsKeyId is not supported by Nimbus yet"));
        }
        if input.s3_bucket.is_empty() || input.s3_bucket.len() > 255 {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 's3Bucket' failed to satisfy constraint: Member must have length between 0 and 255",
            ));
        }
        let s3 = s3io::store(&self.s3, "ExportTableToPointInTime")?;
        let name = table_name_of(ctx, &input.table_arn).ok_or_else(|| table_not_found(&input.table_arn))?;
        let fingerprint = serde_json::to_string(&json!([
            input.table_arn,
            input.export_time.map(|t| t.0),
            input.s3_bucket,
            input.s3_bucket_owner,
            input.s3_prefix,
            input.s3_sse_algorithm,
            format,
            export_type
        ]))
        .map_err(|e| AwsError::internal(e.to_string()))?;
        // One export at a time per service: token checks and the new record are atomic.
        let _serial = self.exports_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_precise();
        if let Some(token) = input.client_token.as_deref() {
            let prior = self.exports_of(ctx)?.into_iter().find(|r| r.client_token == token && now - r.start < TOKEN_SECS);
            if let Some(r) = prior {
                if r.fingerprint != fingerprint {
                    return Err(AwsError::new(
                        400,
                        "ExportConflictException",
                        format!("Export with client token {token} was requested with different parameters"),
                    ));
                }
                return out(json!({"ExportDescription": r.description()}));
            }
        }
        let table = self.table(ctx, &name)?.ok_or_else(|| table_not_found(&input.table_arn))?;
        // The schema and the history are read together, under the table lock.
        let (meta, snap) = {
            let g = lock_table(&table).map_err(|_| table_not_found(&input.table_arn))?;
            let r = (table.meta(), self.store.snapshot());
            drop(g);
            r
        };
        let Some(pitr) = meta.pitr.clone() else { return Err(unavailable(&name)) };
        let at = input.export_time.map(|t| t.0).unwrap_or(now);
        let (earliest, latest) = window(&pitr, now);
        // Half a millisecond of slack: timestamps travel as decimal seconds.
        if at < earliest - 0.0005 || at > latest + 0.0005 {
            return Err(AwsError::new(
                400,
                "InvalidExportTimeException",
                "ExportTime must be within the point in time recovery window of the table: between its EarliestRestorableDateTime and LatestRestorableDateTime",
            ));
        }
        let id = new_id(now);
        let start = (now * 1000.0).floor() / 1000.0;
        let mut rec = ExportRecord {
            arn: format!("{}/export/{id}", meta.arn),
            id,
            status: "IN_PROGRESS".into(),
            start,
            end: None,
            table_arn: meta.arn.clone(),
            table_id: meta.id_uuid(),
            export_time: (at * 1000.0).floor() / 1000.0,
            client_token: input.client_token.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            fingerprint,
            bucket: input.s3_bucket.clone(),
            bucket_owner: input.s3_bucket_owner.clone(),
            prefix: input.s3_prefix.clone(),
            sse: input.s3_sse_algorithm.clone(),
            format,
            export_type,
            item_count: 0,
            billed_bytes: 0,
            manifest: None,
            failure_code: None,
            failure_message: None,
        };
        let state = state_at_time(self, &snap, &table, at)?;
        drop(snap);
        match self.write_export(ctx, s3.as_ref(), &mut rec, state.into_values()) {
            Ok(()) => rec.status = "COMPLETED".into(),
            Err(f) => {
                rec.status = "FAILED".into();
                rec.failure_code = Some(f.code);
                rec.failure_message = Some(f.message);
                rec.manifest = None;
            }
        }
        if rec.end.is_none() {
            rec.end = Some((now_precise() * 1000.0).floor() / 1000.0);
        }
        self.save_export(ctx, &rec)?;
        out(json!({"ExportDescription": rec.description()}))
    }

    /// Writes the export's objects in AWS's order: `_started`, the data file, the files
    /// manifest, the summary manifest (each manifest followed by its `.md5`).
    fn write_export(&self, ctx: &RequestContext, s3: &dyn ObjectStore, rec: &mut ExportRecord, items: impl Iterator<Item = Vec<u8>>) -> Result<(), S3Failure> {
        if let Some(owner) = &rec.bucket_owner {
            if *owner != ctx.account_id {
                return Err(S3Failure { code: "AccessDenied".into(), message: "Access Denied".into() });
            }
        }
        let base = match rec.prefix.as_deref() {
            Some(p) if !p.is_empty() => format!("{}/AWSDynamoDB/{}", p.trim_end_matches('/'), rec.id),
            _ => format!("AWSDynamoDB/{}", rec.id),
        };
        let (account, region, bucket) = (ctx.account_id.as_str(), ctx.region.as_str(), rec.bucket.clone());
        let put = |key: &str, body: Vec<u8>| s3io::run(s3.put(account, region, &bucket, key, body));
        put(&format!("{base}/_started"), Vec::new())?;
        let internal = |e: String| S3Failure { code: "InternalError".into(), message: e };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let (mut count, mut billed) = (0i64, 0i64);
        for raw in items {
            let item = decode_item(&raw).map_err(|e| internal(e.message))?;
            billed += item_size(&item) as i64;
            count += 1;
            gz.write_all(b"{\"Item\":").and_then(|()| gz.write_all(&raw)).and_then(|()| gz.write_all(b"}\n")).map_err(|e| internal(e.to_string()))?;
        }
        let data = gz.finish().map_err(|e| internal(e.to_string()))?;
        let data_key = format!("{base}/data/{}.json.gz", data_file_name());
        let data_etag = put(&data_key, data)?;
        let files = json!({
            "itemCount": count,
            "md5Checksum": md5_b64(&data_etag),
            "etag": data_etag,
            "dataFileS3Key": data_key,
        });
        let files_key = format!("{base}/manifest-files.json");
        let files_etag = put(&files_key, format!("{files}\n").into_bytes())?;
        put(&format!("{base}/manifest-files.md5"), md5_b64(&files_etag).into_bytes())?;
        let end = (now_precise() * 1000.0).floor() / 1000.0;
        let summary = json!({
            "version": "2020-06-30",
            "exportArn": rec.arn,
            "startTime": iso(rec.start),
            "endTime": iso(end),
            "tableArn": rec.table_arn,
            "tableId": rec.table_id,
            "exportTime": iso(rec.export_time),
            "s3Bucket": rec.bucket,
            "s3Prefix": rec.prefix,
            "s3SseAlgorithm": rec.sse,
            "s3SseKmsKeyId": Value::Null,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": billed,
            "itemCount": count,
            "outputFormat": rec.format,
            "exportType": rec.export_type,
        });
        let summary_key = format!("{base}/manifest-summary.json");
        let summary_etag = put(&summary_key, summary.to_string().into_bytes())?;
        put(&format!("{base}/manifest-summary.md5"), md5_b64(&summary_etag).into_bytes())?;
        rec.item_count = count;
        rec.billed_bytes = billed;
        rec.manifest = Some(summary_key);
        rec.end = Some(end);
        Ok(())
    }

    fn export_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<ExportRecord, AwsError> {
        let id = arn.rsplit_once("/export/").map(|(_, id)| id).ok_or_else(|| export_not_found(arn))?;
        let raw = self.store.get(KS_EXPORTS, &record_key(&ctx.account_id, &ctx.region, id)).map_err(store_err)?;
        let rec: ExportRecord = raw.and_then(|r| serde_json::from_slice(&r).ok()).ok_or_else(|| export_not_found(arn))?;
        if rec.arn != arn {
            return Err(export_not_found(arn));
        }
        Ok(rec)
    }

    pub(crate) fn describe_export(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let arn = crate::get_str(v, "ExportArn").ok_or_else(|| {
            AwsError::validation("1 validation error detected: Value null at 'exportArn' failed to satisfy constraint: Member must not be null")
        })?;
        let rec = self.export_by_arn(ctx, arn)?;
        out(json!({"ExportDescription": rec.description()}))
    }

    pub(crate) fn list_exports(&self, ctx: &RequestContext, input: t::ListExportsInput) -> Result<Output, AwsError> {
        let max = input.max_results.unwrap_or(25);
        if !(1..=25).contains(&max) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 25"
            )));
        }
        let after = input.next_token.as_deref();
        let mut page = Vec::new();
        let mut next = None;
        for r in self.exports_of(ctx)? {
            if input.table_arn.as_deref().is_some_and(|a| a != r.table_arn) {
                continue;
            }
            if after.is_some_and(|a| r.id.as_str() <= a) {
                continue;
            }
            if page.len() == max as usize {
                next = page.last().map(|r: &ExportRecord| r.id.clone());
                break;
            }
            page.push(r);
        }
        let summaries: Vec<Value> = page.iter().map(|r| json!({"ExportArn": r.arn, "ExportStatus": r.status, "ExportType": r.export_type})).collect();
        let mut resp = json!({"ExportSummaries": summaries});
        if let Some(n) = next {
            resp["NextToken"] = n.into();
        }
        out(resp)
    }
}
