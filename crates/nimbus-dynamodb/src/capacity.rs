//! Consumed capacity: writes cost 1 unit per KB (of the larger of the old and new item),
//! reads 1 unit per 4 KB, halved for eventually consistent reads.

use serde_json::{json, Value};

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
