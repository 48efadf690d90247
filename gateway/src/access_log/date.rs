//! The two renderings of a Unix-milliseconds time in the access log: RFC 3339 (JSON) and
//! HAProxy's accept date (httplog).

use std::fmt::{self, Display};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u64,
}

fn parts(unix_ms: u64) -> Parts {
    let secs = unix_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    Parts {
        year,
        month,
        day,
        hour: secs % 86_400 / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
        millis: unix_ms % 1000,
    }
}

/// Renders Unix milliseconds as `2026-11-24T20:30:00.123Z`.
pub struct Rfc3339(pub u64);

impl Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = parts(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
        )
    }
}

/// Renders Unix milliseconds as `24/Nov/2026:20:30:00.123`, HAProxy's accept date.
pub struct HaproxyDate(pub u64);

impl Display for HaproxyDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let p = parts(self.0);
        write!(
            f,
            "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
            p.day,
            MONTHS[(p.month - 1) as usize],
            p.year,
            p.hour,
            p.minute,
            p.second,
            p.millis
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Rfc3339(1_795_552_200_123).to_string(),
            "2026-11-24T20:30:00.123Z"
        );
        assert_eq!(
            HaproxyDate(951_782_400_000).to_string(),
            "29/Feb/2000:00:00:00.000"
        );
    }
}
