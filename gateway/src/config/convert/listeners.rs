//! `listeners:` and `stats:`: names, addresses (unique and not overlapping), roles, routes,
//! TLS settings.

use super::values::{self, duration_or, resolve, socket_address, within};
use crate::config::defaults::{self, bounds};
use crate::config::file;
use crate::config::model::*;
use crate::config::problem::Problems;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;

/// Every listener, checked against the backends that exist.
pub(super) fn listeners(
    problems: &mut Problems,
    base: &Path,
    sections: &[file::ListenerSection],
    backends: &BTreeMap<String, file::BackendSection>,
) -> Vec<Listener> {
    if sections.is_empty() {
        problems.push("listeners", "at least one listener is required");
    }
    let mut names = HashSet::new();
    let mut bound = Vec::new();
    let mut listeners = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let path = format!("listeners[{i}]");
        values::name(problems, format!("{path}.name"), &section.name);
        if !names.insert(section.name.as_str()) {
            problems.push(
                format!("{path}.name"),
                format!("duplicate listener name {:?}", section.name),
            );
        }
        let address = socket_address(problems, &format!("{path}.address"), &section.address);
        if let Some(address) = address {
            check_overlap(problems, &format!("{path}.address"), &bound, address);
            bound.push(address);
        }
        // Kept even with problems (see `convert_all`): the placeholder address is never used.
        listeners.push(Listener {
            name: section.name.clone(),
            address: address.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            role: role(problems, &path, base, section, backends),
            proxy_protocol: proxy_protocol(problems, &path, section),
        });
    }
    listeners
}

/// The stats listener, whose address must not overlap a listener's.
pub(super) fn stats(
    problems: &mut Problems,
    section: &file::StatsSection,
    listeners: &[Listener],
) -> Option<Stats> {
    let refresh = duration_or(
        problems,
        "stats.refresh",
        &section.refresh,
        defaults::STATS_REFRESH,
    );
    let address = socket_address(problems, "stats.address", &section.address)?;
    let bound: Vec<SocketAddr> = listeners.iter().map(|l| l.address).collect();
    check_overlap(problems, "stats.address", &bound, address);
    let names = section.prometheus_names.as_deref().unwrap_or(&[]);
    for name in names {
        if name != "gateway" && name != "haproxy" {
            problems.push(
                "stats.prometheus_names",
                format!("unknown name set {name:?} (gateway, haproxy)"),
            );
        }
    }
    let has = |set: &str| names.iter().any(|n| n == set);
    Some(Stats {
        address,
        refresh,
        gateway_names: names.is_empty() || has("gateway"),
        haproxy_names: has("haproxy"),
    })
}

/// Two sockets on one port overlap when their addresses are equal or one is a wildcard
/// (`0.0.0.0`, or `::`, which also takes IPv4 on Linux): one of the two would not bind, or
/// would take the other's traffic.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() {
        return false;
    }
    let wildcard_over = |w: SocketAddr, other: SocketAddr| {
        w.ip().is_unspecified() && (w.is_ipv6() || other.is_ipv4())
    };
    a.ip() == b.ip() || wildcard_over(a, b) || wildcard_over(b, a)
}

fn check_overlap(problems: &mut Problems, path: &str, bound: &[SocketAddr], address: SocketAddr) {
    if let Some(other) = bound.iter().find(|other| overlaps(**other, address)) {
        let reason = if *other == address {
            format!("address {address} is already used by another listener")
        } else {
            format!("address {address} overlaps {other} of another listener")
        };
        problems.push(path, reason);
    }
}

fn role(
    problems: &mut Problems,
    path: &str,
    base: &Path,
    section: &file::ListenerSection,
    backends: &BTreeMap<String, file::BackendSection>,
) -> ListenerRole {
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
        let default = Redirect::default();
        let status = redirect.status.unwrap_or(default.status);
        if ![301, 302, 303, 307, 308].contains(&status) {
            problems.push(
                format!("{path}.redirect_https.status"),
                format!("{status} is not a redirect status (301, 302, 303, 307, 308)"),
            );
        }
        let port = within(
            problems,
            format!("{path}.redirect_https.port"),
            redirect.port,
            default.port,
            bounds::PORT,
        );
        return ListenerRole::RedirectHttps(Redirect { port, status });
    }
    let backend = section.backend.clone().unwrap_or_else(|| {
        problems.push(
            path,
            "needs either `backend` (proxy) or `redirect_https` (redirect)",
        );
        String::new()
    });
    if section.backend.is_some() && !backends.contains_key(&backend) {
        problems.push(
            format!("{path}.backend"),
            format!("unknown backend {backend:?}"),
        );
    }
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
        if let Some(host) = &route.host {
            values::host(problems, format!("{rpath}.host"), host);
        }
        routes.push(Route {
            host: route.host.as_ref().map(|h| h.to_ascii_lowercase()),
            path_prefix: route.path_prefix.clone(),
            backend: route.backend.clone(),
            hooks: route.hooks.clone(),
        });
    }
    let tls = section
        .tls
        .as_ref()
        .and_then(|tls| tls_settings(problems, &format!("{path}.tls"), base, tls));
    ListenerRole::Proxy {
        tls,
        backend,
        hooks: section.hooks.clone(),
        routes,
    }
}

fn tls_settings(
    problems: &mut Problems,
    path: &str,
    base: &Path,
    tls: &file::TlsSection,
) -> Option<TlsSettings> {
    let certificates = match (&tls.certificate, &tls.cert, &tls.key, &tls.certificates) {
        (Some(pem), None, None, None) => CertificateFiles::Combined(resolve(base, pem)),
        (None, Some(cert), Some(key), None) => CertificateFiles::Pair {
            cert: resolve(base, cert),
            key: resolve(base, key),
        },
        (None, None, None, Some(list)) if !list.is_empty() => {
            CertificateFiles::BySni(list.iter().map(|pem| resolve(base, pem)).collect())
        }
        (None, None, None, None) if tls.acme.is_some() => CertificateFiles::BySni(Vec::new()),
        _ => {
            problems.push(
                path,
                "set exactly one of `certificate`, `cert` + `key`, a non-empty `certificates`, or `acme`",
            );
            return None;
        }
    };
    let min_version = match tls.min_version.as_deref() {
        None | Some("tls1.2") => TlsVersion::Tls12,
        Some("tls1.3") => TlsVersion::Tls13,
        Some(other) => {
            problems.push(
                format!("{path}.min_version"),
                format!("unsupported version {other:?} (tls1.2 or tls1.3)"),
            );
            return None;
        }
    };
    Some(TlsSettings {
        certificates,
        min_version,
        ciphers: tls.ciphers.clone(),
        ciphersuites: tls.ciphersuites.clone(),
        ticket_keys: tls.ticket_keys.as_ref().map(|file| resolve(base, file)),
        acme: (tls.acme.as_ref())
            .and_then(|acme| super::acme::certificate(problems, &format!("{path}.acme"), acme)),
    })
}

fn proxy_protocol(
    problems: &mut Problems,
    path: &str,
    section: &file::ListenerSection,
) -> Option<ProxyProtocol> {
    let pp = section.proxy_protocol.as_ref()?;
    let path = format!("{path}.proxy_protocol.trusted");
    if pp.trusted.is_empty() {
        problems.push(&path, "list the fronts' addresses or CIDRs");
    }
    let trusted = (pp.trusted.iter().enumerate())
        .filter_map(|(i, text)| values::cidr(problems, &format!("{path}[{i}]"), text))
        .collect();
    Some(ProxyProtocol { trusted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_overlap_specific_addresses_on_the_same_port() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(a("0.0.0.0:80"), a("127.0.0.1:80")));
        assert!(overlaps(a("127.0.0.1:80"), a("0.0.0.0:80")));
        assert!(overlaps(a("[::]:80"), a("127.0.0.1:80")));
        assert!(overlaps(a("[::]:80"), a("[::1]:80")));
        assert!(!overlaps(a("0.0.0.0:80"), a("[::1]:80")));
        assert!(!overlaps(a("0.0.0.0:80"), a("127.0.0.1:81")));
        assert!(!overlaps(a("127.0.0.1:80"), a("127.0.0.2:80")));
    }
}
