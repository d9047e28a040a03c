//! Consumed capacity: writes cost 1 unit per KB (of the larger of the old and new item),
//! reads 1 unit per 4 KB, halved for eventually consistent reads.

use std::time::Instant;

use nimbus_types::AwsError;
use serde_json::{json, Value};

use crate::tables::Table;

/// Burst capacity: up to 300 seconds of unused throughput.
const BURST_SECS: f64 = 300.0;

/// Token buckets of a PROVISIONED table (read and write units).
#[derive(Debug)]
pub(crate) struct Buckets {
    read: f64,
    write: f64,
    at: Option<Instant>,
}

impl Buckets {
    pub fn new() -> Buckets {
        Buckets { read: 0.0, write: 0.0, at: None }
    }
}

fn throttled() -> AwsError {
    AwsError::new(
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    )
}

/// Refills the table's buckets and returns the guard (None when the table is on demand).
fn refill(table: &Table) -> Option<(std::sync::MutexGuard<'_, Buckets>, f64, f64)> {
    let (mode, r, w) = {
        let m = table.meta.read().unwrap_or_else(|p| p.into_inner());
        (m.billing_mode == "PROVISIONED", m.read_units as f64, m.write_units as f64)
    };
    if !mode {
        return None;
    }
    let mut b = table.bucket.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match b.at {
        // A new (or newly loaded) table starts with one second of capacity.
        None => {
            b.read = r;
            b.write = w;
        }
        Some(at) => {
            let dt = now.duration_since(at).as_secs_f64();
            b.read = (b.read + r * dt).min(r * BURST_SECS);
            b.write = (b.write + w * dt).min(w * BURST_SECS);
        }
    }
    b.at = Some(now);
    Some((b, r, w))
}

/// Refuses a request when the table's bucket is exhausted (PROVISIONED tables only).
pub(crate) fn admit(table: &Table, write: bool) -> Result<(), AwsError> {
    let Some((b, _, _)) = refill(table) else { return Ok(()) };
    let left = if write { b.write } else { b.read };
    if left <= 0.0 {
        return Err(throttled());
    }
    Ok(())
}

/// Takes the units a request consumed from the table's bucket (it may go negative: the
/// debt is paid back before the next request is admitted).
pub(crate) fn charge(table: &Table, write: bool, units: f64) {
    if let Some((mut b, _, _)) = refill(table) {
        if write {
            b.write -= units;
        } else {
            b.read -= units;
        }
    }
}

pub(crate) fn write_units(old: usize, new: usize) -> f64 {
    let size = old.max(new);
    (size.div_ceil(1024)).max(1) as f64
}

pub(crate) fn read_units(size: usize, consistent: bool) -> f64 {
    let units = (size.div_ceil(4096)).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Which ConsumedCapacity a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rcc {
    None,
    Total,
    Indexes,
}

impl Rcc {
    pub fn from(v: &Value) -> Rcc {
        match v.get("ReturnConsumedCapacity").and_then(Value::as_str) {
            Some("TOTAL") => Rcc::Total,
            Some("INDEXES") => Rcc::Indexes,
            _ => Rcc::None,
        }
    }

    /// The ConsumedCapacity object for `units` on `table`, if one was asked for.
    pub fn render(self, table: &str, units: f64, read: bool) -> Option<Value> {
        let kind = if read { "ReadCapacityUnits" } else { "WriteCapacityUnits" };
        match self {
            Rcc::None => None,
            Rcc::Total => Some(json!({"TableName": table, "CapacityUnits": units, kind: units})),
            Rcc::Indexes => Some(json!({
                "TableName": table, "CapacityUnits": units, kind: units,
                "Table": {"CapacityUnits": units, kind: units}
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_round_up_per_kilobyte() {
        assert_eq!(write_units(0, 0), 1.0);
        assert_eq!(write_units(0, 1), 1.0);
        assert_eq!(write_units(0, 1024), 1.0);
        assert_eq!(write_units(0, 1025), 2.0);
        assert_eq!(write_units(3000, 10), 3.0);
        assert_eq!(write_units(400 * 1024, 0), 400.0);
    }

    #[test]
    fn reads_round_up_per_four_kilobytes_and_halve_when_eventual() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(100, false), 0.5);
        assert_eq!(read_units(3 * 4096 + 1, false), 2.0);
    }

    #[test]
    fn render_shapes() {
        assert_eq!(Rcc::None.render("T", 1.0, true), None);
        let t = Rcc::Total.render("T", 2.0, false).unwrap();
        assert_eq!(t["CapacityUnits"], 2.0);
        assert_eq!(t["WriteCapacityUnits"], 2.0);
        let i = Rcc::Indexes.render("T", 0.5, true).unwrap();
        assert_eq!(i["Table"]["CapacityUnits"], 0.5);
    }
}
