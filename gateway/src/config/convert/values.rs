//! Checks of single values shared by every section: durations, addresses, CIDRs, numbers in
//! range, names, header values, paths.

use crate::config::defaults::bounds;
use crate::config::file;
use crate::config::problem::Problems;
use ipnet::IpNet;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Parse a duration such as `500ms`, `2s`, `1m`, `1h`, `1d`; a bare number is milliseconds.
/// At most [`bounds::DURATION_MAX`].
pub fn parse_duration(value: &file::Duration) -> Result<Duration, String> {
    let too_long = || {
        format!(
            "longer than the maximum of {}ms (about 24.8 days)",
            bounds::DURATION_MAX.as_millis()
        )
    };
    let text = match value {
        file::Duration::Millis(ms) => {
            let duration = Duration::from_millis(*ms);
            return (duration <= bounds::DURATION_MAX)
                .then_some(duration)
                .ok_or_else(too_long);
        }
        file::Duration::Text(text) => text.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("invalid duration {text:?} (expected e.g. 500ms, 2s, 1m, 1h)");
    if number.is_empty() {
        return Err(invalid());
    }
    let millis_per_unit: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    // All digits: a parse failure can only be an overflow.
    let millis = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .ok_or_else(too_long)?;
    let duration = Duration::from_millis(millis);
    (duration <= bounds::DURATION_MAX)
        .then_some(duration)
        .ok_or_else(too_long)
}

/// A duration setting: its value if given and valid (greater than zero), else `default`.
pub fn duration_or(
    problems: &mut Problems,
    path: &str,
    value: &Option<file::Duration>,
    default: Duration,
) -> Duration {
    match value.as_ref().map(parse_duration) {
        None => default,
        Some(Ok(d)) if d.is_zero() => {
            problems.push(path, "must be greater than zero");
            default
        }
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            problems.push(path, e);
            default
        }
    }
}

/// A numeric setting: its value (or `default`) if within `range`, else a problem and the
/// nearest bound.
pub fn within<T: Copy + PartialOrd + Display>(
    problems: &mut Problems,
    path: impl Display,
    value: Option<T>,
    default: T,
    range: RangeInclusive<T>,
) -> T {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        return value;
    }
    problems.push(
        path,
        format!(
            "{value} is out of range {}..={}",
            range.start(),
            range.end()
        ),
    );
    if value < *range.start() {
        *range.start()
    } else {
        *range.end()
    }
}

/// An `ip:port`.
pub fn socket_address(problems: &mut Problems, path: &str, text: &str) -> Option<SocketAddr> {
    match text.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(path, format!("invalid socket address {text:?}"));
            None
        }
    }
}

/// A CIDR, or a single address.
pub fn cidr(problems: &mut Problems, path: &str, text: &str) -> Option<IpNet> {
    let net = crate::ip_text::parse_net(text);
    if net.is_none() {
        problems.push(path, format!("invalid CIDR {text:?}"));
    }
    net
}

/// A listener, backend or server name: letters, digits and `-_.:` (what HAProxy accepts; a
/// `,` or a space would break `show stat` CSV), of a bounded length.
pub fn name(problems: &mut Problems, path: impl Display, name: &str) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if !bounds::NAME_LENGTH.contains(&name.len()) {
        problems.push(
            path,
            format!(
                "name {name:?} must be {}..={} characters long",
                bounds::NAME_LENGTH.start(),
                bounds::NAME_LENGTH.end()
            ),
        );
    } else if !name.chars().all(allowed) {
        problems.push(
            path,
            format!("invalid name {name:?} (letters, digits and -_.: only)"),
        );
    }
}

/// A `Host` header value: a valid authority (`host` or `host:port`), no spaces or controls.
pub fn host(problems: &mut Problems, path: impl Display, host: &str) {
    if host.parse::<http::uri::Authority>().is_err() || host.contains('@') {
        problems.push(
            path,
            format!("invalid host {host:?} (a host name, optionally :port)"),
        );
    }
}

/// `path` as written, relative to `base` unless absolute.
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let text = |s: &str| file::Duration::Text(s.into());
        assert_eq!(
            parse_duration(&text("500ms")),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(parse_duration(&text("2s")), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration(&text("1m")), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(&text("1h")), Ok(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration(&file::Duration::Millis(5000)),
            Ok(Duration::from_secs(5))
        );
        assert!(parse_duration(&text("2 weeks")).is_err());
        assert!(parse_duration(&text("s")).is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_wrapped() {
        let text = |s: &str| file::Duration::Text(s.into());
        for huge in ["300000000000d", "99999999999999999999999s", "25d"] {
            assert!(parse_duration(&text(huge)).unwrap_err().contains("maximum"));
        }
        assert!(parse_duration(&file::Duration::Millis(u64::MAX)).is_err());
        assert_eq!(
            parse_duration(&text("24d")),
            Ok(Duration::from_secs(24 * 86_400))
        );
    }

    #[test]
    fn names_are_limited_to_what_haproxy_accepts() {
        let mut problems = Problems::default();
        for good in ["app", "node-1", "a_b.c:d"] {
            name(&mut problems, "x", good);
        }
        assert_eq!(problems.count(), 0);
        for bad in ["a,b", "a b", "", "é", &"a".repeat(65)] {
            name(&mut problems, "x", bad);
        }
        assert_eq!(problems.count(), 5);
    }
}
