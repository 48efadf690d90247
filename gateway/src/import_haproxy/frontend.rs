//! A `frontend` (or the frontend half of a `listen`): one listener per `bind`, the https
//! redirect, `default_backend`, `use_backend` routes, http rules as hooks, and the stats
//! listener.

use super::acl::{Acls, Fetch};
use super::notes::Notes;
use super::parse::{Directive, Section};
use super::rules::{http_rule, Rule};
use super::settings::{Global, ProxySettings};
use super::values::{based, duration, port_of, socket_address};
use serde_json::{json, Map, Value};

/// Keywords a frontend takes besides the proxy settings.
pub const KEYWORDS: &[&str] = &[
    "bind",
    "acl",
    "default_backend",
    "use_backend",
    "http-request",
    "http-response",
    "http-after-response",
    "stats",
];

/// Bind keywords that take a value.
const VALUED: &[&str] = &[
    "crt",
    "alpn",
    "name",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "curves",
    "ecdhe",
    "process",
    "thread",
    "interface",
    "mss",
    "user",
    "group",
    "mode",
    "uid",
    "gid",
    "id",
    "level",
    "severity-output",
    "ca-file",
    "crl-file",
    "verify",
    "npn",
    "maxconn",
    "backlog",
    "nice",
    "tcp-ut",
    "crt-list",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "sigalgs",
    "client-sigalgs",
    "namespace",
    "proto",
    "label",
    "shards",
];

/// One listener to write once every backend is known.
#[derive(Debug)]
pub struct ListenerPlan {
    /// `name:`.
    pub name: String,
    /// `address:`.
    pub address: String,
    /// Lines it came from.
    pub lines: Vec<usize>,
    /// `tls:`.
    pub tls: Option<Value>,
    /// `redirect_https: { port, status }`.
    pub redirect: Option<(u16, u16, usize)>,
    /// `default_backend` and its line.
    pub default_backend: Option<(String, usize)>,
    /// `use_backend` routes: (host, path_prefix, backend, line).
    pub routes: Vec<(Option<String>, Option<String>, String, usize)>,
    /// Hooks from the frontend's http rules, with their lines.
    pub hooks: Vec<(Value, usize)>,
}

/// What a frontend turns into.
#[derive(Debug, Default)]
pub struct Frontend {
    /// Its listeners.
    pub listeners: Vec<ListenerPlan>,
    /// `stats:` when it is a stats frontend: (value, lines).
    pub stats: Option<(Value, Vec<usize>)>,
    /// `timeouts:` keys it asks for.
    pub timeouts: Vec<(&'static str, String, usize)>,
}

/// Convert `section`; a `listen` section routes to its own backend by default.
pub fn frontend(
    section: &Section,
    settings: &ProxySettings,
    global: &Global,
    listen: bool,
    notes: &mut Notes,
) -> Frontend {
    let name = section.name.clone().unwrap_or_default();
    let mut acls = Acls::default();
    let mut binds: Vec<(&Directive, String, Option<Value>)> = Vec::new();
    let has_servers = section.directives.iter().any(|d| d.word(0) == "server");
    let mut default_backend = (listen && has_servers).then(|| (name.clone(), section.line));
    let mut routes = Vec::new();
    let mut hooks = Vec::new();
    let mut redirect = None;
    let mut stats_lines = Vec::new();
    let mut stats_refresh = None;
    let mut prometheus = false;
    for d in &section.directives {
        match d.word(0) {
            "bind" => {
                for address in d.word(1).split(',') {
                    let tls = bind_tls(d, global, notes);
                    match socket_address(address) {
                        Ok(a) => binds.push((d, a, tls)),
                        Err(why) => notes.lost_directive(d, why),
                    }
                }
            }
            "acl" => {
                if let Err(why) = acls.define(&d.words[1..]) {
                    notes.lost_directive(d, why);
                }
            }
            "default_backend" => default_backend = Some((d.word(1).to_string(), d.line)),
            "use_backend" => use_backend(d, &acls, &mut routes, notes),
            "http-request" | "http-response" | "http-after-response" => {
                for rule in http_rule(d, &acls, notes) {
                    match rule {
                        Rule::Hook(hook) => hooks.push((hook, d.line)),
                        Rule::RedirectHttps { status } => redirect = Some((status, d.line)),
                        Rule::PrometheusExporter => {
                            prometheus = true;
                            stats_lines.push(d.line);
                        }
                    }
                }
            }
            "stats" => match (d.word(1), d.word(2)) {
                ("enable", _) => stats_lines.push(d.line),
                ("uri", "/stats") => stats_lines.push(d.line),
                ("uri", _) => {
                    stats_lines.push(d.line);
                    notes.lost_directive(
                        d,
                        "the gateway's page is at /stats (JSON at /stats?format=json)",
                    );
                }
                ("refresh", value) => match duration(value) {
                    Ok(t) => {
                        stats_lines.push(d.line);
                        stats_refresh = Some(t);
                    }
                    Err(why) => notes.lost_directive(d, why),
                },
                ("show-legends" | "show-node" | "show-desc" | "show-modules", _) => {
                    stats_lines.push(d.line);
                    notes.unneeded_directive(d, "the gateway's page always shows what it has");
                }
                _ => notes.lost_directive(d, "not supported by the gateway's stats page"),
            },
            _ => {}
        }
    }
    let mut out = Frontend::default();
    for (key, (value, line)) in &settings.timeouts {
        match key.as_str() {
            "client" => out.timeouts.push(("client", value.clone(), *line)),
            "http-keep-alive" => out.timeouts.push(("keep_alive", value.clone(), *line)),
            "http-request" => notes.lost(
                *line,
                "timeout http-request",
                "the gateway bounds the request head by timeouts.client",
            ),
            "tarpit" => notes.not_needed(*line, "timeout tarpit", "the gateway has no tarpit"),
            "client-fin" => notes.lost(*line, "timeout client-fin", "not supported by the gateway"),
            _ => {}
        }
    }
    let serves_requests = default_backend.is_some() || !routes.is_empty();
    if !stats_lines.is_empty() && !serves_requests {
        match binds.as_slice() {
            [] => notes.lost(section.line, format!("frontend {name}"), "no bind"),
            [(d, address, tls), rest @ ..] => {
                if tls.is_some() {
                    notes.lost_directive(d, "the stats listener is plain HTTP");
                }
                for (d, _, _) in rest {
                    notes.lost_directive(d, "the stats listener has one address");
                }
                let mut stats = json!({ "address": address });
                if let Some(refresh) = stats_refresh {
                    stats["refresh"] = json!(refresh);
                }
                let mut lines = stats_lines.clone();
                lines.push(d.line);
                out.stats = Some((stats, lines));
                if !prometheus {
                    notes.not_needed(
                        section.line,
                        format!("frontend {name}"),
                        "the stats listener also serves Prometheus /metrics",
                    );
                }
            }
        }
        for (_, line) in &hooks {
            notes.lost(
                *line,
                format!("frontend {name}"),
                "the stats listener takes no hooks",
            );
        }
        return out;
    }
    for line in &stats_lines {
        notes.lost(
            *line,
            "stats",
            "the stats page has its own listener (stats.address)",
        );
    }
    let tls_port = binds
        .iter()
        .find(|(_, _, tls)| tls.is_some())
        .map(|(_, a, _)| port_of(a));
    let several = binds.len() > 1;
    let mut names: Vec<String> = Vec::new();
    for (d, address, tls) in binds {
        let mut listener_name = if several {
            format!("{name}-{}", port_of(&address))
        } else {
            name.clone()
        };
        while names.contains(&listener_name) {
            listener_name.push('_');
        }
        names.push(listener_name.clone());
        let redirect = match (&tls, redirect) {
            (None, Some((status, line))) => Some((tls_port.unwrap_or(443), status, line)),
            _ => None,
        };
        let mut lines = vec![section.line, d.line];
        if tls.is_some() {
            lines.extend(global.tls.iter().map(|(_, _, line)| *line));
        }
        out.listeners.push(ListenerPlan {
            name: listener_name,
            address,
            lines,
            tls,
            redirect,
            default_backend: default_backend.clone(),
            routes: routes.clone(),
            hooks: hooks.clone(),
        });
    }
    if out.listeners.is_empty() {
        notes.lost(
            section.line,
            format!("{} {name}", section.kind),
            "no bind the gateway can use",
        );
    }
    out
}

/// `tls:` for a bind with `ssl`; None for plain binds.
fn bind_tls(d: &Directive, global: &Global, notes: &mut Notes) -> Option<Value> {
    let mut tls = Map::new();
    let mut ssl = false;
    let mut certificates: Vec<String> = Vec::new();
    for (key, value, _) in &global.tls {
        tls.insert(key.to_string(), json!(value));
    }
    let mut i = 2;
    while i < d.words.len() {
        let key = d.word(i);
        let value = d.word(i + 1).to_string();
        let label = format!("bind {key}");
        match key {
            "ssl" => ssl = true,
            "crt" => certificates.extend(certificate_files(
                &based(global.crt_base.as_deref(), &value),
                d,
                notes,
            )),
            "alpn" if value.split(',').any(|p| p == "h2") => {
                notes.not_needed(d.line, label, "the gateway offers h2 and http/1.1")
            }
            "alpn" => notes.lost(d.line, label, "the gateway always offers h2 and http/1.1"),
            "ssl-min-ver" if value == "TLSv1.2" || value == "TLSv1.3" => {
                tls.insert("min_version".into(), json!(value.replace("TLSv", "tls")));
            }
            "ciphers" => drop(tls.insert("ciphers".into(), json!(value))),
            "ciphersuites" => drop(tls.insert("ciphersuites".into(), json!(value))),
            "name" | "process" | "thread" | "id" | "backlog" | "tfo" | "defer-accept" | "npn"
            | "label" | "shards" => notes.not_needed(d.line, label, "no meaning for the gateway"),
            "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {
                notes.not_needed(d.line, label, "the gateway's floor is TLS 1.2")
            }
            "accept-proxy" => notes.lost(
                d.line,
                label,
                "the gateway does not read the PROXY protocol",
            ),
            _ => notes.lost(d.line, label, "not supported by the gateway"),
        }
        i += if VALUED.contains(&key) { 2 } else { 1 };
    }
    if !ssl {
        if !certificates.is_empty() {
            notes.lost(
                d.line,
                "bind crt",
                "a certificate without `ssl` is not used",
            );
        }
        return None;
    }
    match certificates.len() {
        0 => {
            notes.lost(d.line, "bind ssl", "no certificate");
            return None;
        }
        1 => tls.insert("certificate".into(), json!(certificates[0])),
        _ => tls.insert("certificates".into(), json!(certificates)),
    };
    Some(Value::Object(tls))
}

/// The PEM files of a `crt`: the file, or the certificates of a directory (as HAProxy
/// loads them, sorted).
fn certificate_files(path: &str, d: &Directive, notes: &mut Notes) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return vec![path.to_string()];
    };
    let mut files: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("key" | "ocsp" | "issuer" | "sctl")
            )
        })
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    if files.is_empty() {
        notes.lost(
            d.line,
            "bind crt",
            format!("{path}: no certificate in the directory"),
        );
    }
    files
}

/// `use_backend NAME [if|unless COND]` as routes, one per alternative.
fn use_backend(
    d: &Directive,
    acls: &Acls,
    routes: &mut Vec<(Option<String>, Option<String>, String, usize)>,
    notes: &mut Notes,
) {
    let backend = d.word(1).to_string();
    if backend.contains('%') {
        return notes.lost_directive(d, "the gateway routes to named backends");
    }
    let condition = match acls.condition(&d.words[2.min(d.words.len())..]) {
        Ok(c) => c,
        Err(why) => return notes.lost_directive(d, why),
    };
    let mut found = Vec::new();
    for conjunction in &condition {
        let (mut host, mut prefix) = (None, None);
        for test in conjunction {
            let slot = match (&test.fetch, test.negated) {
                (Fetch::Host, false) => &mut host,
                (Fetch::PathPrefix, false) => &mut prefix,
                (fetch, negated) => {
                    let not = if negated { "not " } else { "" };
                    return notes.lost_directive(
                        d,
                        format!("routes match a Host and a path prefix, not {not}{fetch:?}"),
                    );
                }
            };
            if slot.replace(test.value.clone()).is_some() {
                return notes.lost_directive(d, "a route matches one Host and one path prefix");
            }
        }
        if host.is_none() && prefix.is_none() {
            prefix = Some("/".to_string());
        }
        found.push((host, prefix, backend.clone(), d.line));
    }
    routes.extend(found);
}
