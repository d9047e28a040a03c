//! Time in the formats AWS protocols use: epoch seconds, ISO 8601 and HTTP dates.

use time::format_description::well_known::{Iso8601, Rfc2822, Rfc3339};
use time::OffsetDateTime;

/// Seconds since the Unix epoch, with millisecond precision.
pub fn epoch_now() -> f64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

fn from_epoch(secs: f64) -> OffsetDateTime {
    let nanos = (secs * 1e9).round() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-22T04:33:58Z`, or `2026-11-22T04:33:58.123Z` when there are milliseconds.
pub fn format_iso8601(secs: f64) -> String {
    let t = from_epoch(secs);
    let ms = t.millisecond();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if ms == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{ms:03}Z")
    }
}

/// Parses ISO 8601 / RFC 3339 into epoch seconds.
pub fn parse_iso8601(s: &str) -> Option<f64> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// `Sun, 22 Nov 2026 04:33:58 GMT` (RFC 7231 IMF-fixdate).
pub fn format_http_date(secs: f64) -> String {
    let t = from_epoch(secs.floor());
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[u8::from(t.month()) as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date (RFC 7231 / RFC 2822) into epoch seconds.
pub fn parse_http_date(s: &str) -> Option<f64> {
    let s = s.trim();
    let t = OffsetDateTime::parse(&s.replace("GMT", "+0000"), &Rfc2822).ok()?;
    Some(t.unix_timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(1.5), "1970-01-01T00:00:01.500Z");
        assert_eq!(parse_iso8601("2026-11-22T04:33:58Z"), Some(1795322038.0));
        assert_eq!(format_http_date(1795322038.0), "Sun, 22 Nov 2026 04:33:58 GMT");
        assert_eq!(parse_http_date("Sun, 22 Nov 2026 04:33:58 GMT"), Some(1795322038.0));
    }
}
