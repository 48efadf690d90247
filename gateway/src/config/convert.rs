//! `file::ConfigFile -> model::Config`: parse every value, load every certificate and check
//! every cross-reference, collecting all problems (each with its key path) rather than stopping
//! at the first.

use super::file;
use super::model::*;
use crate::hooks::{Chain, Registry};
use crate::tls::load_certified_key;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Problems found while converting, each `key.path: reason`.
#[derive(Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// Record a problem at `path`.
    pub fn push(&mut self, path: impl std::fmt::Display, reason: impl std::fmt::Display) {
        self.0.push(format!("{path}: {reason}"));
    }
}

/// Parse a duration such as `500ms`, `2s`, `1m`, `1h`; a bare number is milliseconds.
pub fn parse_duration(value: &file::Duration) -> Result<Duration, String> {
    let text = match value {
        file::Duration::Millis(ms) => return Ok(Duration::from_millis(*ms)),
        file::Duration::Text(text) => text.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("invalid duration {text:?} (expected e.g. 500ms, 2s, 1m, 1h)");
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let millis_per_unit = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    Ok(Duration::from_millis(number * millis_per_unit))
}

fn duration_or(
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

fn socket_address(problems: &mut Problems, path: &str, text: &str) -> Option<SocketAddr> {
    match text.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(path, format!("invalid socket address {text:?}"));
            None
        }
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Convert a parsed file into the runtime model; `source` is the file's path, whose directory
/// relative certificate paths are resolved against.
pub fn convert(
    source: &Path,
    file: file::ConfigFile,
    registry: &Registry,
) -> Result<Config, Vec<String>> {
    let mut problems = Problems::default();
    let base = source.parent().unwrap_or(Path::new("."));

    let server = convert_server(&mut problems, &file.server);
    let timeouts = convert_timeouts(&mut problems, &file.timeouts);
    let trusted_proxies = file
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, text)| parse_cidr(&mut problems, &format!("trusted_proxies[{i}]"), text))
        .collect();

    let mut backends = BTreeMap::new();
    for (name, section) in &file.backends {
        if let Some(backend) = convert_backend(&mut problems, name, section) {
            backends.insert(name.clone(), Arc::new(backend));
        }
    }

    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    let mut listeners = Vec::new();
    if file.listeners.is_empty() {
        problems.push("listeners", "at least one listener is required");
    }
    for (i, section) in file.listeners.iter().enumerate() {
        let path = format!("listeners[{i}]");
        if !names.insert(section.name.as_str()) {
            problems.push(
                format!("{path}.name"),
                format!("duplicate listener name {:?}", section.name),
            );
        }
        let address = socket_address(&mut problems, &format!("{path}.address"), &section.address);
        if let Some(addr) = address {
            if !addresses.insert(addr) {
                problems.push(
                    format!("{path}.address"),
                    format!("address {addr} is already used by another listener"),
                );
            }
        }
        let role = convert_role(
            &mut problems,
            &path,
            base,
            section,
            &file.backends,
            registry,
        );
        if let (Some(address), Some(role)) = (address, role) {
            listeners.push(Listener {
                name: section.name.clone(),
                address,
                role,
            });
        }
    }

    let stats = file.stats.as_ref().and_then(|s| {
        let refresh = duration_or(
            &mut problems,
            "stats.refresh",
            &s.refresh,
            Duration::from_secs(10),
        );
        socket_address(&mut problems, "stats.address", &s.address)
            .map(|address| Stats { address, refresh })
    });
    if let Some(addr) = stats.map(|s| s.address) {
        if !addresses.insert(addr) {
            problems.push(
                "stats.address",
                format!("address {addr} is already used by a listener"),
            );
        }
    }

    let access_log = file
        .access_log
        .as_ref()
        .and_then(|log| convert_access_log(&mut problems, base, log));
    let mut pages = std::collections::HashMap::new();
    for (status, path) in &file.error_pages {
        if !(400..600).contains(status) {
            problems.push(
                format!("error_pages.{status}"),
                "not an error status (400-599)",
            );
            continue;
        }
        match crate::error_pages::load(&resolve(base, path)) {
            Ok(page) => {
                pages.insert(*status, page);
            }
            Err(e) => problems.push(format!("error_pages.{status}"), e),
        }
    }

    if server.user.is_some() || server.group.is_some() {
        if let Err((key, reason)) =
            crate::privileges::Identity::lookup(server.user.as_deref(), server.group.as_deref())
        {
            problems.push(format!("server.{key}"), reason);
        }
    }
    let admin_socket = file.admin.as_ref().map(|a| resolve(base, &a.socket));
    let limits = convert_limits(&mut problems, &file.limits);

    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    Ok(Config {
        source: source.to_path_buf(),
        server,
        listeners,
        stats,
        backends,
        timeouts,
        trusted_proxies,
        access_log,
        log_null_connections: file.log_null_connections,
        error_pages: Arc::new(crate::error_pages::ErrorPages::new(pages)),
        admin_socket,
        limits,
    })
}

/// Header sections longer than this are never accepted, whatever the configuration says.
const HEADER_BYTES_CEILING: usize = 1024 * 1024;
/// Pingora parses at most this many header fields.
const HEADERS_CEILING: usize = 256;

fn convert_limits(problems: &mut Problems, l: &file::LimitsSection) -> Limits {
    let default = Limits::default();
    let mut within = |key: &str, value: Option<usize>, default: usize, range: (usize, usize)| {
        let value = value.unwrap_or(default);
        if value < range.0 || value > range.1 {
            problems.push(
                format!("limits.{key}"),
                format!("{value} is out of range {}..={}", range.0, range.1),
            );
        }
        value.clamp(range.0, range.1)
    };
    let header_bytes = within(
        "header_bytes",
        l.header_bytes,
        default.header_bytes,
        (1024, HEADER_BYTES_CEILING),
    );
    let headers = within("headers", l.headers, default.headers, (8, HEADERS_CEILING));
    let uri_bytes = within(
        "uri_bytes",
        l.uri_bytes,
        default.uri_bytes,
        (64, header_bytes),
    );
    let h2_streams = within(
        "h2_streams",
        l.h2_streams.map(|n| n as usize),
        default.h2_streams as usize,
        (1, 10_000),
    );
    Limits {
        header_bytes,
        headers,
        uri_bytes,
        body_bytes: match l.body_bytes {
            None => default.body_bytes,
            Some(0) => u64::MAX,
            Some(n) => n,
        },
        h2_streams: h2_streams as u32,
        response_header_bytes: within(
            "response_header_bytes",
            l.response_header_bytes,
            default.response_header_bytes,
            (1024, HEADER_BYTES_CEILING),
        ),
    }
}

fn convert_access_log(
    problems: &mut Problems,
    base: &Path,
    log: &file::AccessLogSection,
) -> Option<AccessLog> {
    let format = match log.format.as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("haproxy") => LogFormat::Haproxy,
        Some(other) => {
            problems.push(
                "access_log.format",
                format!("unknown format {other:?} (json or haproxy)"),
            );
            return None;
        }
    };
    let target = if log.path == "stderr" {
        LogTarget::Stderr
    } else {
        let path = resolve(base, &log.path);
        if let Err(e) = crate::access_log::check_writable(&path) {
            problems.push("access_log.path", e);
            return None;
        }
        LogTarget::File(path)
    };
    Some(AccessLog { target, format })
}

fn parse_cidr(problems: &mut Problems, path: &str, text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    problems.push(path, format!("invalid CIDR {text:?}"));
    None
}

fn convert_server(problems: &mut Problems, s: &file::ServerSection) -> ServerSettings {
    let threads = s.threads.unwrap_or(1);
    if threads == 0 {
        problems.push("server.threads", "must be at least 1");
    }
    let max_connections = s.max_connections.unwrap_or(2048);
    if max_connections == 0 {
        problems.push("server.max_connections", "must be at least 1");
    }
    ServerSettings {
        threads: threads.max(1),
        pid_file: s
            .pid_file
            .clone()
            .unwrap_or_else(|| "/tmp/gateway.pid".into()),
        upgrade_sock: s
            .upgrade_sock
            .clone()
            .unwrap_or_else(|| "/tmp/gateway_upgrade.sock".into()),
        grace_period: duration_or(
            problems,
            "server.grace_period",
            &s.grace_period,
            Duration::from_secs(30),
        ),
        graceful_shutdown_timeout: duration_or(
            problems,
            "server.graceful_shutdown_timeout",
            &s.graceful_shutdown_timeout,
            Duration::from_secs(10),
        ),
        max_connections: max_connections.max(1),
        error_log: s.error_log.clone(),
        user: s.user.clone(),
        group: s.group.clone(),
        upstream_keepalive_pool_size: s.upstream_keepalive_pool_size.unwrap_or(128),
        state_file: s
            .state_file
            .as_deref()
            .unwrap_or("/tmp/gateway.state")
            .into(),
    }
}

fn convert_timeouts(problems: &mut Problems, t: &file::TimeoutsSection) -> Timeouts {
    let client = duration_or(
        problems,
        "timeouts.client",
        &t.client,
        Duration::from_secs(50),
    );
    Timeouts {
        connect: duration_or(
            problems,
            "timeouts.connect",
            &t.connect,
            Duration::from_secs(5),
        ),
        client,
        server: duration_or(
            problems,
            "timeouts.server",
            &t.server,
            Duration::from_secs(50),
        ),
        keep_alive: duration_or(problems, "timeouts.keep_alive", &t.keep_alive, client),
    }
}

/// Build the hooks of `entries` (at `path`), reporting each problem with its index.
fn build_hooks(
    problems: &mut Problems,
    path: &str,
    entries: &[serde_yaml::Value],
    registry: &Registry,
) -> Chain {
    let mut hooks = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match registry.build(entry) {
            Ok(hook) => hooks.push(hook),
            Err(e) => problems.push(format!("{path}[{i}]"), e),
        }
    }
    Chain::new(hooks)
}

fn convert_role(
    problems: &mut Problems,
    path: &str,
    base: &Path,
    section: &file::ListenerSection,
    backends: &BTreeMap<String, file::BackendSection>,
    registry: &Registry,
) -> Option<ListenerRole> {
    if let Some(redirect) = &section.redirect_https {
        if section.backend.is_some()
            || section.tls.is_some()
            || !section.routes.is_empty()
            || !section.hooks.is_empty()
        {
            problems.push(
                format!("{path}.redirect_https"),
                "a redirect listener takes no `backend`, `tls`, `routes` or `hooks`",
            );
        }
        let status = redirect.status.unwrap_or(301);
        if ![301, 302, 303, 307, 308].contains(&status) {
            problems.push(
                format!("{path}.redirect_https.status"),
                format!("{status} is not a redirect status (301, 302, 303, 307, 308)"),
            );
        }
        return Some(ListenerRole::RedirectHttps(Redirect {
            port: redirect.port.unwrap_or(443),
            status,
        }));
    }
    let Some(backend) = &section.backend else {
        problems.push(
            path,
            "needs either `backend` (proxy) or `redirect_https` (redirect)",
        );
        return None;
    };
    if !backends.contains_key(backend) {
        problems.push(
            format!("{path}.backend"),
            format!("unknown backend {backend:?}"),
        );
    }
    let hooks = build_hooks(problems, &format!("{path}.hooks"), &section.hooks, registry);
    let mut routes = Vec::new();
    for (i, route) in section.routes.iter().enumerate() {
        let rpath = format!("{path}.routes[{i}]");
        if !backends.contains_key(&route.backend) {
            problems.push(
                format!("{rpath}.backend"),
                format!("unknown backend {:?}", route.backend),
            );
        }
        if route.host.is_none() && route.path_prefix.is_none() {
            problems.push(&rpath, "set `host`, `path_prefix` or both");
        }
        routes.push(Route {
            host: route.host.as_ref().map(|h| h.to_ascii_lowercase()),
            path_prefix: route.path_prefix.clone(),
            backend: route.backend.clone(),
            hooks: build_hooks(problems, &format!("{rpath}.hooks"), &route.hooks, registry),
        });
    }
    let tls = match &section.tls {
        None => None,
        Some(tls) => Some(convert_tls(problems, &format!("{path}.tls"), base, tls)?),
    };
    Some(ListenerRole::Proxy {
        tls,
        backend: backend.clone(),
        hooks,
        routes,
    })
}

fn convert_tls(
    problems: &mut Problems,
    path: &str,
    base: &Path,
    tls: &file::TlsSection,
) -> Option<TlsConfig> {
    let before = problems.0.len();
    let mut certificates = Vec::new();
    let mut load = |key_path: String, cert: &str, key: Option<&str>| {
        let key = key.map(|k| resolve(base, k));
        match load_certified_key(&resolve(base, cert), key.as_deref()) {
            Ok(loaded) => certificates.push(loaded),
            Err(e) => problems.push(key_path, e),
        }
    };
    match (&tls.certificate, &tls.cert, &tls.key, &tls.certificates) {
        (Some(pem), None, None, None) => load(format!("{path}.certificate"), pem, None),
        (None, Some(cert), Some(key), None) => load(format!("{path}.cert"), cert, Some(key)),
        (None, None, None, Some(list)) if !list.is_empty() => {
            for (i, pem) in list.iter().enumerate() {
                load(format!("{path}.certificates[{i}]"), pem, None);
            }
        }
        _ => problems.push(
            path,
            "set exactly one of `certificate`, `cert` + `key`, or a non-empty `certificates`",
        ),
    }
    let min_version = match tls.min_version.as_deref() {
        None | Some("tls1.2") => TlsVersion::Tls12,
        Some("tls1.3") => TlsVersion::Tls13,
        Some(other) => {
            problems.push(
                format!("{path}.min_version"),
                format!("unsupported version {other:?} (tls1.2 or tls1.3)"),
            );
            TlsVersion::Tls12
        }
    };
    let config = TlsConfig {
        certificates,
        min_version,
        ciphers: tls.ciphers.clone(),
        ciphersuites: tls.ciphersuites.clone(),
    };
    if let Err(e) = crate::tls::check_cipher_settings(&config) {
        problems.push(path, e);
    }
    (problems.0.len() == before).then_some(config)
}

fn convert_backend(
    problems: &mut Problems,
    name: &str,
    section: &file::BackendSection,
) -> Option<Backend> {
    let path = format!("backends.{name}");
    let before = problems.0.len();
    match section.balance.as_deref() {
        None | Some("round_robin") | Some("roundrobin") => {}
        Some(other) => problems.push(
            format!("{path}.balance"),
            format!("unsupported balance {other:?} (round_robin)"),
        ),
    }
    if section.servers.is_empty() {
        problems.push(format!("{path}.servers"), "at least one server is required");
    }
    let mut names = HashSet::new();
    let mut servers = Vec::new();
    for (i, entry) in section.servers.iter().enumerate() {
        let spath = format!("{path}.servers[{i}]");
        if !names.insert(entry.name.as_str()) {
            problems.push(
                format!("{spath}.name"),
                format!("duplicate server name {:?}", entry.name),
            );
        }
        let weight = entry.weight.unwrap_or(1);
        if !(1..=256).contains(&weight) {
            problems.push(
                format!("{spath}.weight"),
                format!("{weight} is out of range 1..=256"),
            );
        }
        if let Some(address) = socket_address(problems, &format!("{spath}.address"), &entry.address)
        {
            servers.push(Server {
                name: entry.name.clone(),
                address,
                weight,
            });
        }
    }
    let health_check = section.health_check.as_ref().map(|hc| {
        let hpath = format!("{path}.health_check");
        let check_path = hc.path.clone().unwrap_or_else(|| "/".into());
        if !check_path.starts_with('/') || check_path.parse::<http::Uri>().is_err() {
            problems.push(
                format!("{hpath}.path"),
                format!("invalid path {check_path:?} (must start with /)"),
            );
        }
        let rise = hc.rise.unwrap_or(2);
        let fall = hc.fall.unwrap_or(3);
        for (key, value) in [("rise", rise), ("fall", fall)] {
            if value == 0 {
                problems.push(format!("{hpath}.{key}"), "must be at least 1");
            }
        }
        HealthCheck {
            path: check_path,
            host: hc.host.clone(),
            interval: duration_or(
                problems,
                &format!("{hpath}.interval"),
                &hc.interval,
                Duration::from_secs(2),
            ),
            timeout: duration_or(
                problems,
                &format!("{hpath}.timeout"),
                &hc.timeout,
                Duration::from_secs(1),
            ),
            rise,
            fall,
        }
    });
    (problems.0.len() == before).then(|| Backend {
        name: name.to_string(),
        servers,
        health_check,
    })
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
}
