//! `backends.<name>.discovery`: DNS service discovery settings.

use super::values::{duration_or, socket_address};
use crate::config::defaults::{self, bounds};
use crate::config::file;
use crate::config::model::{Discovery, DnsRecord};
use crate::config::problem::Problems;

pub(super) fn discovery(
    problems: &mut Problems,
    path: &str,
    section: &file::DiscoverySection,
) -> Discovery {
    let name = section.dns.trim_end_matches('.').to_ascii_lowercase();
    if !valid_dns_name(&name) {
        problems.push(
            format!("{path}.dns"),
            format!("invalid DNS name {:?}", section.dns),
        );
    }
    let record = match section.record.as_deref() {
        None | Some("a") | Some("A") => DnsRecord::A,
        Some("aaaa") | Some("AAAA") => DnsRecord::Aaaa,
        Some("srv") | Some("SRV") => DnsRecord::Srv,
        Some(other) => {
            problems.push(
                format!("{path}.record"),
                format!("unsupported record {other:?} (a, aaaa, srv)"),
            );
            DnsRecord::A
        }
    };
    let port = match (record, section.port) {
        (DnsRecord::Srv, Some(_)) => {
            problems.push(
                format!("{path}.port"),
                "not used with record: srv (the records carry the port)",
            );
            0
        }
        (DnsRecord::Srv, None) => 0,
        (_, None) => {
            problems.push(format!("{path}.port"), "required with record: a or aaaa");
            0
        }
        (_, Some(0)) => {
            problems.push(format!("{path}.port"), "must be between 1 and 65535");
            0
        }
        (_, Some(port)) => port,
    };
    let interval = duration_or(
        problems,
        &format!("{path}.interval"),
        &section.interval,
        defaults::DISCOVERY_INTERVAL,
    );
    if !bounds::DISCOVERY_INTERVAL.contains(&interval) {
        problems.push(
            format!("{path}.interval"),
            format!(
                "must be between {}ms and {}s",
                bounds::DISCOVERY_INTERVAL.start().as_millis(),
                bounds::DISCOVERY_INTERVAL.end().as_secs()
            ),
        );
    }
    let resolvers = section
        .resolvers
        .iter()
        .enumerate()
        .filter_map(|(i, r)| socket_address(problems, &format!("{path}.resolvers[{i}]"), r))
        .collect();
    let slowstart = section.slowstart.as_ref().map(|d| {
        duration_or(
            problems,
            &format!("{path}.slowstart"),
            &Some(d.clone()),
            std::time::Duration::ZERO,
        )
    });
    Discovery {
        name,
        record,
        port,
        interval,
        resolvers,
        slowstart,
    }
}

/// A DNS name: labels of 1 to 63 letters, digits, `-` or `_`, 253 characters at most.
fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::valid_dns_name;

    #[test]
    fn dns_names() {
        assert!(valid_dns_name("app.service.consul"));
        assert!(valid_dns_name("_http._tcp.app.local"));
        assert!(!valid_dns_name("app..local"));
        assert!(!valid_dns_name("-app.local"));
        assert!(!valid_dns_name("app local"));
        assert!(!valid_dns_name(&"a".repeat(64)));
    }
}
