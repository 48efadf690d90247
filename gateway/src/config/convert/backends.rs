//! `backends:`: servers (names, addresses, weights) and health checks.

use super::origin;
use super::values::{self, duration_or, within};
use crate::config::defaults::{self, bounds};
use crate::config::file;
use crate::config::model::*;
use crate::config::problem::Problems;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

pub(super) fn backend(
    problems: &mut Problems,
    name: &str,
    section: &file::BackendSection,
    base: &Path,
) -> Option<Backend> {
    let path = format!("backends.{name}");
    let before = problems.count();
    values::name(problems, &path, name);
    let balance = balance(problems, &path, section);
    let protocol = origin::protocol(problems, &path, section.protocol.as_deref());
    let tls =
        (section.tls.as_ref()).map(|t| origin::tls_keys(problems, &format!("{path}.tls"), base, t));
    if section.servers.is_empty() && section.discovery.is_none() {
        problems.push(
            format!("{path}.servers"),
            "at least one server is required (or discovery)",
        );
    }
    let mut names = HashSet::new();
    let mut servers = Vec::new();
    for (i, entry) in section.servers.iter().enumerate() {
        let spath = format!("{path}.servers[{i}]");
        values::name(problems, format!("{spath}.name"), &entry.name);
        if !names.insert(entry.name.as_str()) {
            problems.push(
                format!("{spath}.name"),
                format!("duplicate server name {:?}", entry.name),
            );
        }
        let weight = within(
            problems,
            format!("{spath}.weight"),
            entry.weight,
            defaults::WEIGHT,
            bounds::WEIGHT,
        );
        let slowstart = entry.slowstart.as_ref().map(|d| {
            duration_or(
                problems,
                &format!("{spath}.slowstart"),
                &Some(d.clone()),
                Duration::ZERO,
            )
        });
        let max_connections = entry.max_connections.map(|n| {
            within(
                problems,
                format!("{spath}.max_connections"),
                Some(n),
                n,
                bounds::SERVER_MAX_CONNECTIONS,
            )
        });
        let own_tls = (entry.tls.as_ref())
            .map(|t| origin::tls_keys(problems, &format!("{spath}.tls"), base, t));
        let address = origin::address(problems, &format!("{spath}.address"), &entry.address);
        if let Some((address, host)) = address {
            servers.push(Server {
                name: entry.name.clone(),
                address,
                weight,
                backup: entry.backup.unwrap_or(false),
                slowstart,
                max_connections,
                tls: origin::merged(own_tls.as_ref(), tls.as_ref(), host.as_deref()),
            });
        }
    }
    if !section.servers.is_empty()
        && section.discovery.is_none()
        && section.servers.iter().all(|s| s.backup == Some(true))
    {
        problems.push(
            format!("{path}.servers"),
            "every server is a backup: at least one must not be",
        );
    }
    let health_check = section
        .health_check
        .as_ref()
        .map(|hc| health_check(problems, &format!("{path}.health_check"), hc));
    let discovery = section
        .discovery
        .as_ref()
        .map(|d| super::discovery::discovery(problems, &format!("{path}.discovery"), d));
    let max_queue = queue(problems, &path, section);
    let retries = retries(problems, &path, section);
    let observe_errors = section.observe.as_ref().map(|o| {
        within(
            problems,
            format!("{path}.observe.errors"),
            Some(o.errors),
            1,
            bounds::OBSERVE_ERRORS,
        )
    });
    if observe_errors.is_some() && section.health_check.is_none() {
        problems.push(
            format!("{path}.observe"),
            "needs health_check: a server marked down comes back only through its checks",
        );
    }
    (problems.count() == before).then(|| Backend {
        max_queue,
        retries,
        observe_errors,
        discovery,
        name: name.to_string(),
        servers,
        health_check,
        balance,
        sticky_cookie: section.sticky.as_ref().map(|s| s.cookie.clone()),
        tls: origin::merged(None, tls.as_ref(), None),
        protocol,
    })
}

/// `balance`, `hash` and `sticky`: the algorithm, and the combinations that make no sense.
fn balance(problems: &mut Problems, path: &str, section: &file::BackendSection) -> Balance {
    let balance = match section.balance.as_deref() {
        None | Some("round_robin") | Some("roundrobin") => Balance::RoundRobin,
        Some("least_conn") | Some("leastconn") => Balance::LeastConn,
        Some("random") => Balance::Random,
        Some("hash") => {
            let key = section.hash.as_ref().and_then(|h| h.key.as_deref());
            Balance::Hash(hash_key(problems, &format!("{path}.hash.key"), key))
        }
        Some(other) => {
            problems.push(
                format!("{path}.balance"),
                format!("unsupported balance {other:?} (round_robin, least_conn, random, hash)"),
            );
            Balance::RoundRobin
        }
    };
    if section.hash.is_some() && !matches!(balance, Balance::Hash(_)) {
        problems.push(format!("{path}.hash"), "needs balance: hash");
    }
    if let Some(sticky) = &section.sticky {
        if matches!(balance, Balance::Hash(_)) {
            problems.push(
                format!("{path}.sticky"),
                "cannot be used with balance: hash (the hash already pins requests)",
            );
        }
        if !valid_cookie_name(&sticky.cookie) {
            problems.push(
                format!("{path}.sticky.cookie"),
                format!("invalid cookie name {:?}", sticky.cookie),
            );
        }
    }
    balance
}

/// `source_ip` (the default), `path`, `header:<name>` or `cookie:<name>`.
fn hash_key(problems: &mut Problems, path: &str, key: Option<&str>) -> HashKey {
    let key = key.unwrap_or(defaults::HASH_KEY);
    match key.split_once(':') {
        None if key == "source_ip" => HashKey::SourceIp,
        None if key == "path" => HashKey::Path,
        Some(("header", name)) if http::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
            HashKey::Header(name.to_ascii_lowercase())
        }
        Some(("cookie", name)) if valid_cookie_name(name) => HashKey::Cookie(name.to_string()),
        _ => {
            problems.push(
                path,
                format!("invalid hash key {key:?} (source_ip, path, header:<name>, cookie:<name>)"),
            );
            HashKey::SourceIp
        }
    }
}

/// A cookie name: an RFC 6265 token.
fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn health_check(problems: &mut Problems, path: &str, hc: &file::HealthCheckSection) -> HealthCheck {
    let default = HealthCheck::default();
    let check_path = hc.path.clone().unwrap_or(default.path);
    if !check_path.starts_with('/') || check_path.parse::<http::Uri>().is_err() {
        problems.push(
            format!("{path}.path"),
            format!("invalid path {check_path:?} (must start with /)"),
        );
    }
    if let Some(host) = &hc.host {
        values::host(problems, format!("{path}.host"), host);
    }
    let mut count = |key: &str, value: Option<usize>, default: usize| {
        if value == Some(0) {
            problems.push(format!("{path}.{key}"), "must be at least 1");
            return default;
        }
        within(
            problems,
            format!("{path}.{key}"),
            value,
            default,
            bounds::RISE_FALL,
        )
    };
    let rise = count("rise", hc.rise, default.rise);
    let fall = count("fall", hc.fall, default.fall);
    let (kind, expect_status, expect_body) = origin::check_kind(problems, path, hc);
    HealthCheck {
        kind,
        expect_status,
        expect_body,
        path: check_path,
        host: hc.host.clone(),
        interval: duration_or(
            problems,
            &format!("{path}.interval"),
            &hc.interval,
            default.interval,
        ),
        timeout: duration_or(
            problems,
            &format!("{path}.timeout"),
            &hc.timeout,
            default.timeout,
        ),
        rise,
        fall,
    }
}

/// `max_queue`: only meaningful when some server has `max_connections`.
fn queue(problems: &mut Problems, path: &str, section: &file::BackendSection) -> Option<usize> {
    let max_queue = section.max_queue?;
    if section.servers.iter().all(|s| s.max_connections.is_none()) {
        problems.push(
            format!("{path}.max_queue"),
            "needs max_connections on at least one server (nothing is queued otherwise)",
        );
    }
    Some(within(
        problems,
        format!("{path}.max_queue"),
        Some(max_queue),
        max_queue,
        bounds::MAX_QUEUE,
    ))
}

/// `retries` and `retry_on` (HAProxy's `retry-on` keywords).
fn retries(problems: &mut Problems, path: &str, section: &file::BackendSection) -> Retries {
    let count = within(
        problems,
        format!("{path}.retries"),
        section.retries,
        defaults::RETRIES,
        bounds::RETRIES,
    );
    let default: Vec<String> = defaults::RETRY_ON.iter().map(|s| s.to_string()).collect();
    let words = section.retry_on.as_ref().unwrap_or(&default);
    let mut on = RetryOn::default();
    for (i, word) in words.iter().enumerate() {
        match retry_condition(word) {
            Some(condition) => on = on.with(condition),
            None => problems.push(
                format!("{path}.retry_on[{i}]"),
                format!(
                    "unknown condition {word:?} (none, conn-failure, empty-response, \
                     junk-response, response-timeout, all-retryable-errors, or one of the \
                     statuses {:?})",
                    RetryOn::STATUSES
                ),
            ),
        }
    }
    Retries { count, on }
}

/// The conditions one HAProxy `retry-on` keyword names.
fn retry_condition(word: &str) -> Option<RetryOn> {
    Some(match word {
        "none" => RetryOn::default(),
        "conn-failure" => RetryOn::CONN_FAILURE,
        "empty-response" => RetryOn::EMPTY_RESPONSE,
        "junk-response" => RetryOn::JUNK_RESPONSE,
        "response-timeout" => RetryOn::RESPONSE_TIMEOUT,
        "all-retryable-errors" => [500, 502, 503, 504]
            .into_iter()
            .filter_map(RetryOn::status)
            .fold(
                RetryOn::CONN_FAILURE
                    .with(RetryOn::EMPTY_RESPONSE)
                    .with(RetryOn::JUNK_RESPONSE)
                    .with(RetryOn::RESPONSE_TIMEOUT),
                RetryOn::with,
            ),
        status => RetryOn::status(status.parse().ok()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_on_reads_haproxys_names() {
        assert_eq!(retry_condition("conn-failure"), Some(RetryOn::CONN_FAILURE));
        assert_eq!(retry_condition("none"), Some(RetryOn::default()));
        let all = retry_condition("all-retryable-errors").unwrap();
        for status in [500, 502, 503, 504] {
            assert!(all.has_status(status), "{status}");
        }
        assert!(!all.has_status(404));
        assert!(all.contains(RetryOn::RESPONSE_TIMEOUT));
        assert!(retry_condition("404").unwrap().has_status(404));
        for unknown in ["418", "0rtt-rejected", "conn_failure", ""] {
            assert_eq!(retry_condition(unknown), None, "{unknown}");
        }
    }
}
