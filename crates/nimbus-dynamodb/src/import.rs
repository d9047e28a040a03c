//! ImportTable, DescribeImport and ListImports: a new table created from
//! `TableCreationParameters` and filled from every object under an S3 prefix, in
//! DynamoDB JSON (`{"Item":{...}}` lines, as exports write them) or CSV, optionally
//! gzip-compressed.
//!
//! CSV as AWS reads it: the header is `CsvOptions.HeaderList` or else each file's first
//! line; columns named in `AttributeDefinitions` take that type (S, N or B as base64),
//! every other value is a string; empty cells are left out of the item. Quoted fields
//! follow RFC 4180 (`""` is a quote, a quoted field may span lines).
//!
//! Every item goes through PutItem's write path, so indexes, streams, point-in-time
//! history and the table's item count and size stay right; like AWS, an import consumes
//! none of the table's write capacity (a PROVISIONED table does not throttle it). A line
//! that cannot be parsed or written is counted in `ErrorCount` and skipped, as AWS does.
//! Unlike AWS, the import runs before the call returns and is reported as it ended:
//! `COMPLETED`, or `FAILED` (the prefix could not be listed or read, in which case no
//! table is left behind). Records live in `dynamodb.imports` and survive restarts.
//!
//! Not supported (ValidationException): ION input and ZSTD compression.

use std::io::Read as _;
use std::sync::Arc;

use nimbus_dynamodb_expr::{item_from_json, item_size};

use nimbus_model::types::dynamodb as t;
use nimbus_protocol::Output;
use nimbus_store::Direction;
use nimbus_types::{AwsError, RequestContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::export::{table_name_of, TOKEN_SECS};
use crate::items::{lock_table, Change, MAX_ITEM_SIZE};
use crate::keys::item_key;
use crate::tables::Table;
use crate::pitr::now_precise;
use crate::s3io::{self, new_id, ObjectStore, S3Failure};
use crate::{expr_err, out, store_err, Inner};

pub(crate) const KS_IMPORTS: &str = "dynamodb.imports";

/// The largest object an import reads (after decompression, too).
const MAX_OBJECT_BYTES: u64 = 256 * 1024 * 1024;

/// One import, as DescribeImport reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImportRecord {
    id: String,
    arn: String,
    status: String,
    table_arn: String,
    table_id: Option<String>,
    client_token: String,
    fingerprint: String,
    source: t::S3BucketSource,
    format: String,
    options: Option<t::InputFormatOptions>,
    compression: String,
    params: t::TableCreationParameters,
    start: f64,
    end: Option<f64>,
    processed_bytes: i64,
    processed_items: i64,
    imported_items: i64,
    errors: i64,
    failure_code: Option<String>,
    failure_message: Option<String>,
}

impl ImportRecord {
    fn description(&self) -> Result<Value, AwsError> {
        let mut m = Map::new();
        m.insert("ImportArn".into(), self.arn.clone().into());
        m.insert("ImportStatus".into(), self.status.clone().into());
        m.insert("TableArn".into(), self.table_arn.clone().into());
        if let Some(id) = &self.table_id {
            m.insert("TableId".into(), id.clone().into());
        }
        m.insert("ClientToken".into(), self.client_token.clone().into());
        m.insert("S3BucketSource".into(), enc(&self.source)?);
        m.insert("ErrorCount".into(), self.errors.into());
        m.insert("InputFormat".into(), self.format.clone().into());
        if let Some(o) = &self.options {
            m.insert("InputFormatOptions".into(), enc(o)?);
        }
        m.insert("InputCompressionType".into(), self.compression.clone().into());
        m.insert("TableCreationParameters".into(), enc(&self.params)?);
        m.insert("StartTime".into(), self.start.into());
        if let Some(e) = self.end {
            m.insert("EndTime".into(), e.into());
        }
        m.insert("ProcessedSizeBytes".into(), self.processed_bytes.into());
        m.insert("ProcessedItemCount".into(), self.processed_items.into());
        m.insert("ImportedItemCount".into(), self.imported_items.into());
        if let Some(c) = &self.failure_code {
            m.insert("FailureCode".into(), c.clone().into());
        }
        if let Some(c) = &self.failure_message {
            m.insert("FailureMessage".into(), c.clone().into());
        }
        Ok(Value::Object(m))
    }

    fn summary(&self) -> Result<Value, AwsError> {
        let mut s = json!({
            "ImportArn": self.arn,
            "ImportStatus": self.status,
            "TableArn": self.table_arn,
            "S3BucketSource": enc(&self.source)?,
            "InputFormat": self.format,
            "StartTime": self.start,
        });
        if let Some(e) = self.end {
            s["EndTime"] = e.into();
        }
        Ok(s)
    }
}

/// A model type as the JSON of an answer.
fn enc<T: Serialize>(v: &T) -> Result<Value, AwsError> {
    serde_json::to_value(v).map_err(|e| AwsError::internal(e.to_string()))
}

fn record_key(account: &str, region: &str, id: &str) -> Vec<u8> {
    format!("{account}\0{region}\0{id}").into_bytes()
}

fn import_not_found(arn: &str) -> AwsError {
    AwsError::new(400, "ImportNotFoundException", format!("Import not found: {arn}"))
}

fn enum_error(value: &str, member: &str, set: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{set}]"
    ))
}

/// A ListImports NextToken naming the last import returned: the model wants hex digits
/// in groups of 16, at least 112 of them.
fn next_token(id: &str) -> String {
    let mut hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    while hex.len() < 112 || !hex.len().is_multiple_of(16) {
        hex.push('0');
    }
    hex
}

fn token_id(token: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..token.len() / 2).map(|i| token.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    let bytes: Vec<u8> = bytes?.into_iter().take_while(|b| *b != 0).collect();
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// Splits CSV text into records of fields (RFC 4180 quoting). Blank lines are skipped.
pub(crate) fn parse_csv(text: &str, delim: char) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut touched = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                touched = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if touched || !field.is_empty() || !record.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                touched = false;
            }
            c if c == delim => {
                record.push(std::mem::take(&mut field));
                touched = true;
            }
            c => {
                field.push(c);
                touched = true;
            }
        }
    }
    if touched || !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// What one source object yields: items (or the reason a line is not one).
fn items_of(text: &str, format: &str, csv: &CsvSpec) -> Vec<Result<Value, ()>> {
    if format == "CSV" {
        let mut rows = parse_csv(text, csv.delimiter).into_iter();
        let header = match &csv.header {
            Some(h) => h.clone(),
            None => match rows.next() {
                Some(h) => h,
                None => return Vec::new(),
            },
        };
        return rows
            .map(|row| {
                if row.len() != header.len() {
                    return Err(());
                }
                let mut item = Map::new();
                for (name, value) in header.iter().zip(row) {
                    if value.is_empty() {
                        continue;
                    }
                    let ty = csv.types.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str()).unwrap_or("S");
                    item.insert(name.clone(), json!({ ty: value }));
                }
                Ok(Value::Object(item))
            })
            .collect();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut o)) if o.len() == 1 => match o.remove("Item") {
                Some(item @ Value::Object(_)) => Ok(item),
                _ => Err(()),
            },
            _ => Err(()),
        })
        .collect()
}

struct CsvSpec {
    delimiter: char,
    header: Option<Vec<String>>,
    /// Attribute name → its type from AttributeDefinitions.
    types: Vec<(String, String)>,
}

impl Inner {
    fn imports_of(&self, ctx: &RequestContext) -> Result<Vec<ImportRecord>, AwsError> {
        let prefix = record_key(&ctx.account_id, &ctx.region, "");
        let mut all = Vec::new();
        for kv in self.store.prefix(KS_IMPORTS, &prefix, Direction::Forward).map_err(store_err)? {
            let (_, v) = kv.map_err(store_err)?;
            match serde_json::from_slice::<ImportRecord>(&v) {
                Ok(r) => all.push(r),
                Err(e) => tracing::warn!("dynamodb: skipping an unreadable import record: {e}"),
            }
        }
        Ok(all)
    }

    fn save_import(&self, ctx: &RequestContext, r: &ImportRecord) -> Result<(), AwsError> {
        let raw = serde_json::to_vec(r).map_err(|e| AwsError::internal(e.to_string()))?;
        self.store.put(KS_IMPORTS, record_key(&ctx.account_id, &ctx.region, &r.id), raw).map_err(store_err)
    }

    pub(crate) fn import_table(&self, ctx: &RequestContext, input: t::ImportTableInput) -> Result<Output, AwsError> {
        match input.input_format.as_str() {
            "DYNAMODB_JSON" | "CSV" => {}
            "ION" => return Err(AwsError::validation("InputFormat ION is not supported by Nimbus yet; use DYNAMODB_JSON or CSV")),
            other => return Err(enum_error(other, "inputFormat", "DYNAMODB_JSON, ION, CSV")),
        }
        let compression = input.input_compression_type.clone().unwrap_or_else(|| "NONE".into());
        match compression.as_str() {
            "NONE" | "GZIP" => {}
            "ZSTD" => return Err(AwsError::validation("InputCompressionType ZSTD is not supported by Nimbus yet; use GZIP or NONE")),
            other => return Err(enum_error(other, "inputCompressionType", "GZIP, ZSTD, NONE")),
        }
        let csv_opts = input.input_format_options.as_ref().and_then(|o| o.csv.clone());
        if csv_opts.is_some() && input.input_format != "CSV" {
            return Err(AwsError::validation("InputFormatOptions can only be specified when InputFormat is CSV"));
        }
        let delimiter = match csv_opts.as_ref().and_then(|c| c.delimiter.as_deref()) {
            None => ',',
            Some(d) => {
                let mut cs = d.chars();
                match (cs.next(), cs.next()) {
                    (Some(c @ (',' | '\t' | ':' | ';' | '|' | ' ')), None) => c,
                    _ => {
                        return Err(AwsError::validation(format!(
                            "1 validation error detected: Value '{d}' at 'inputFormatOptions.csv.delimiter' failed to satisfy constraint: Member must satisfy regular expression pattern: [,;:|\\t ]"
                        )))
                    }
                }
            }
        };
        let header = csv_opts.as_ref().and_then(|c| c.header_list.clone());
        if let Some(h) = &header {
            if h.is_empty() || h.len() > 255 || h.iter().any(|n| n.is_empty() || n.len() > 65536) {
                return Err(AwsError::validation("CsvOptions.HeaderList must name between 1 and 255 non-empty attributes"));
            }
        }
        let params = input.table_creation_parameters.clone();
        let name = params.table_name.clone();
        let csv = CsvSpec {
            delimiter,
            header,
            types: params.attribute_definitions.iter().map(|d| (d.attribute_name.clone(), d.attribute_type.clone())).collect(),
        };
        let s3 = s3io::store(&self.s3, "ImportTable")?;
        let fingerprint = serde_json::to_string(&json!([
            serde_json::to_value(&input.s3_bucket_source).ok(),
            input.input_format,
            serde_json::to_value(&input.input_format_options).ok(),
            compression,
            serde_json::to_value(&params).ok(),
        ]))
        .map_err(|e| AwsError::internal(e.to_string()))?;
        // One import at a time per service: token checks, the name check and the new
        // table are decided together.
        let _serial = self.imports_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_precise();
        if let Some(token) = input.client_token.as_deref() {
            let prior = self.imports_of(ctx)?.into_iter().find(|r| r.client_token == token && now - r.start < TOKEN_SECS);
            if let Some(r) = prior {
                if r.fingerprint != fingerprint {
                    return Err(AwsError::new(
                        400,
                        "ImportConflictException",
                        format!("Import with client token {token} was requested with different parameters"),
                    ));
                }
                return out(json!({"ImportTableDescription": r.description()?}));
            }
        }
        if self.table(ctx, &name)?.is_some() {
            return Err(AwsError::new(400, "ResourceInUseException", format!("Table already exists: {name}")));
        }
        let id = new_id(now);
        let table_arn = format!("arn:aws:dynamodb:{}:{}:table/{name}", ctx.region, ctx.account_id);
        let mut rec = ImportRecord {
            arn: format!("{table_arn}/import/{id}"),
            id,
            status: "IN_PROGRESS".into(),
            table_arn,
            table_id: None,
            client_token: input.client_token.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            fingerprint,
            source: input.s3_bucket_source.clone(),
            format: input.input_format.clone(),
            options: input.input_format_options.clone(),
            compression: compression.clone(),
            params: params.clone(),
            start: (now * 1000.0).floor() / 1000.0,
            end: None,
            processed_bytes: 0,
            processed_items: 0,
            imported_items: 0,
            errors: 0,
            failure_code: None,
            failure_message: None,
        };
        let src = &input.s3_bucket_source;
        let listed = match &src.s3_bucket_owner {
            Some(owner) if *owner != ctx.account_id => Err(S3Failure { code: "AccessDenied".into(), message: "Access Denied".into() }),
            _ => s3io::run(s3.list(&ctx.account_id, &src.s3_bucket, src.s3_key_prefix.as_deref().unwrap_or(""))),
        };
        let objects = match listed {
            Ok(o) => o,
            Err(f) => return self.fail_import(ctx, rec, f),
        };
        let create = t::CreateTableInput {
            table_name: name.clone(),
            attribute_definitions: Some(params.attribute_definitions.clone()),
            key_schema: Some(params.key_schema.clone()),
            billing_mode: params.billing_mode.clone(),
            provisioned_throughput: params.provisioned_throughput.clone(),
            on_demand_throughput: params.on_demand_throughput.clone(),
            sse_specification: params.sse_specification.clone(),
            global_secondary_indexes: params.global_secondary_indexes.clone(),
            ..Default::default()
        };
        self.create_table(ctx, create)?;
        rec.table_id = self.table(ctx, &name)?.map(|t| t.meta().id_uuid());
        if let Err(f) = self.fill(ctx, s3.as_ref(), &mut rec, &objects, &csv) {
            // A failed import leaves no table behind.
            let _ = self.delete_table(ctx, t::DeleteTableInput { table_name: name });
            return self.fail_import(ctx, rec, f);
        }
        rec.status = "COMPLETED".into();
        rec.end = Some((now_precise() * 1000.0).floor() / 1000.0);
        self.save_import(ctx, &rec)?;
        out(json!({"ImportTableDescription": rec.description()?}))
    }

    fn fail_import(&self, ctx: &RequestContext, mut rec: ImportRecord, f: S3Failure) -> Result<Output, AwsError> {
        rec.status = "FAILED".into();
        rec.failure_code = Some(f.code);
        rec.failure_message = Some(f.message);
        rec.end = Some((now_precise() * 1000.0).floor() / 1000.0);
        self.save_import(ctx, &rec)?;
        out(json!({"ImportTableDescription": rec.description()?}))
    }

    /// Reads every object and writes its items with PutItem.
    fn fill(&self, ctx: &RequestContext, s3: &dyn ObjectStore, rec: &mut ImportRecord, objects: &[(String, u64)], csv: &CsvSpec) -> Result<(), S3Failure> {
        let bucket = rec.source.s3_bucket.clone();
        let name = rec.params.table_name.clone();
        let table = match self.table(ctx, &name) {
            Ok(Some(t)) => t,
            _ => return Err(S3Failure { code: "InternalError".into(), message: format!("The new table {name} disappeared during the import") }),
        };
        for (key, size) in objects {
            let raw = s3io::run(s3.get(&ctx.account_id, &bucket, key, MAX_OBJECT_BYTES))?;
            rec.processed_bytes += *size as i64;
            let bytes = if rec.compression == "GZIP" {
                let mut out = Vec::new();
                let dec = flate2::read::MultiGzDecoder::new(raw.as_slice());
                if let Err(e) = dec.take(MAX_OBJECT_BYTES + 1).read_to_end(&mut out) {
                    return Err(S3Failure { code: "InvalidCompressedData".into(), message: format!("{key} is not valid GZIP data: {e}") });
                }
                if out.len() as u64 > MAX_OBJECT_BYTES {
                    return Err(S3Failure { code: "ObjectTooLarge".into(), message: format!("{key} decompresses to more than {MAX_OBJECT_BYTES} bytes") });
                }
                out
            } else {
                raw
            };
            let text = String::from_utf8_lossy(&bytes);
            for item in items_of(&text, &rec.format, csv) {
                rec.processed_items += 1;
                let Ok(item) = item else {
                    rec.errors += 1;
                    continue;
                };
                match self.import_put(&table, &item) {
                    Ok(()) => rec.imported_items += 1,
                    Err(_) => rec.errors += 1,
                }
            }
        }
        Ok(())
    }

    /// PutItem's write path (validation, index entries, stream records, history and
    /// stats in one batch) without its capacity check and charge: as on AWS, an import
    /// consumes none of the new table's write capacity.
    fn import_put(&self, table: &Arc<Table>, item: &Value) -> Result<(), AwsError> {
        let item = item_from_json(item).map_err(expr_err)?;
        let key = item_key(table, &item)?;
        if item_size(&item) > MAX_ITEM_SIZE {
            return Err(AwsError::validation("Item size has exceeded the maximum allowed size"));
        }
        self.check_not_held(&key)?;
        let mut guard = lock_table(table)?;
        let old = self.load(&key)?;
        self.commit(&mut [(table, &mut guard)], vec![Change::new(0, key, old, Some(item))])
    }

    fn import_by_arn(&self, ctx: &RequestContext, arn: &str) -> Result<ImportRecord, AwsError> {
        let id = arn.rsplit_once("/import/").map(|(_, id)| id).ok_or_else(|| import_not_found(arn))?;
        let raw = self.store.get(KS_IMPORTS, &record_key(&ctx.account_id, &ctx.region, id)).map_err(store_err)?;
        let rec: ImportRecord = raw.and_then(|r| serde_json::from_slice(&r).ok()).ok_or_else(|| import_not_found(arn))?;
        if rec.arn != arn {
            return Err(import_not_found(arn));
        }
        Ok(rec)
    }

    pub(crate) fn describe_import(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let arn = crate::get_str(v, "ImportArn").ok_or_else(|| {
            AwsError::validation("1 validation error detected: Value null at 'importArn' failed to satisfy constraint: Member must not be null")
        })?;
        let rec = self.import_by_arn(ctx, arn)?;
        out(json!({"ImportTableDescription": rec.description()?}))
    }

    pub(crate) fn list_imports(&self, ctx: &RequestContext, input: t::ListImportsInput) -> Result<Output, AwsError> {
        let max = input.page_size.unwrap_or(25);
        if !(1..=25).contains(&max) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{max}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 25"
            )));
        }
        if let Some(arn) = &input.table_arn {
            if table_name_of(ctx, arn).is_none() && !arn.starts_with("arn:") {
                return Err(AwsError::validation(format!("Invalid TableArn: {arn}")));
            }
        }
        let after = match input.next_token.as_deref() {
            Some(tok) => Some(token_id(tok).ok_or_else(|| AwsError::validation("Invalid NextToken"))?),
            None => None,
        };
        let after = after.as_deref();
        let mut page: Vec<ImportRecord> = Vec::new();
        let mut next = None;
        for r in self.imports_of(ctx)? {
            if input.table_arn.as_deref().is_some_and(|a| a != r.table_arn) {
                continue;
            }
            if after.is_some_and(|a| r.id.as_str() <= a) {
                continue;
            }
            if page.len() == max as usize {
                next = page.last().map(|r| next_token(&r.id));
                break;
            }
            page.push(r);
        }
        let list = page.iter().map(ImportRecord::summary).collect::<Result<Vec<_>, _>>()?;
        let mut resp = json!({"ImportSummaryList": list});
        if let Some(n) = next {
            resp["NextToken"] = n.into();
        }
        out(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_delimiters_and_blank_lines() {
        let rows = parse_csv("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n\n\"multi\nline\",\n", ',');
        assert_eq!(rows, vec![vec!["a", "b"], vec!["x,1", "say \"hi\""], vec!["multi\nline", ""]]);
        assert_eq!(parse_csv("p|q", '|'), vec![vec!["p", "q"]]);
        assert!(parse_csv("\n\n", ',').is_empty());
    }

    #[test]
    fn next_tokens_round_trip() {
        let t = next_token("01234567890123-abcdef01");
        assert!(t.len() >= 112 && t.len().is_multiple_of(16) && t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(token_id(&t).as_deref(), Some("01234567890123-abcdef01"));
        assert_eq!(token_id("zz"), None);
    }

    #[test]
    fn csv_items_type_key_attributes() {
        let spec = CsvSpec { delimiter: ',', header: None, types: vec![("id".into(), "N".into())] };
        let items = items_of("id,name,empty\n1,ann,\n2,bob\n", "CSV", &spec);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Ok(json!({"id": {"N": "1"}, "name": {"S": "ann"}})));
        assert_eq!(items[1], Err(()));
    }

    #[test]
    fn json_lines_need_exactly_an_item() {
        let spec = CsvSpec { delimiter: ',', header: None, types: vec![] };
        let items = items_of("{\"Item\":{\"k\":{\"S\":\"a\"}}}\nnot json\n{\"Other\":{}}\n", "DYNAMODB_JSON", &spec);
        assert_eq!(items, vec![Ok(json!({"k": {"S": "a"}})), Err(()), Err(())]);
    }
}
