//! `access_log: { syslog, facility, tag, framing }`.

use crate::config::defaults::{SYSLOG_FACILITY, SYSLOG_TAG, SYSLOG_TCP_PORT, SYSLOG_UDP_PORT};
use crate::config::file;
use crate::config::model::{Syslog, SyslogAddress, SyslogFraming};
use crate::config::problem::Problems;
use std::path::PathBuf;

/// Syslog facilities by name, in number order (RFC 5424 table 1, as HAProxy names them).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The syslog target `address` with the section's settings; `None` (problems pushed) when
/// something is wrong.
pub(super) fn syslog(
    problems: &mut Problems,
    address: &str,
    log: &file::AccessLogSection,
) -> Option<Syslog> {
    let before = problems.count();
    let address = match address.split_once("://") {
        Some(("udp", host)) => SyslogAddress::Udp(host_port(problems, host, SYSLOG_UDP_PORT)?),
        Some(("tcp", host)) => SyslogAddress::Tcp(host_port(problems, host, SYSLOG_TCP_PORT)?),
        None if address.starts_with('/') => SyslogAddress::Unix(PathBuf::from(address)),
        _ => {
            problems.push(
                "access_log.syslog",
                format!("{address:?} is not a socket path, udp://host[:port] or tcp://host[:port]"),
            );
            return None;
        }
    };
    let name = log.facility.as_deref().unwrap_or(SYSLOG_FACILITY);
    let facility = FACILITIES.iter().position(|f| *f == name);
    if facility.is_none() {
        problems.push(
            "access_log.facility",
            format!("unknown facility {name:?} ({})", FACILITIES.join(", ")),
        );
    }
    let tag = log.tag.clone().unwrap_or_else(|| SYSLOG_TAG.to_string());
    let tag_ok = !tag.is_empty()
        && tag.len() <= 32
        && tag
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b':' && b != b'[');
    if !tag_ok {
        problems.push(
            "access_log.tag",
            "1 to 32 printable characters, without ':' or '['",
        );
    }
    let framing = match log.framing.as_deref() {
        None | Some("rfc3164") => SyslogFraming::Rfc3164,
        Some("rfc5424") => SyslogFraming::Rfc5424,
        Some(other) => {
            problems.push(
                "access_log.framing",
                format!("unknown framing {other:?} (rfc3164 or rfc5424)"),
            );
            return None;
        }
    };
    if problems.count() > before {
        return None;
    }
    Some(Syslog {
        address,
        facility: facility? as u8,
        tag,
        framing,
    })
}

/// `host[:port]` with `default` as the port when none is given.
fn host_port(problems: &mut Problems, text: &str, default: u16) -> Option<String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => match port.parse::<u16>() {
            Ok(port) if port > 0 => (host, port),
            _ => {
                problems.push("access_log.syslog", format!("bad port in {text:?}"));
                return None;
            }
        },
        _ => (text, default),
    };
    if host.is_empty() {
        problems.push("access_log.syslog", format!("no host in {text:?}"));
        return None;
    }
    Some(format!("{host}:{port}"))
}
