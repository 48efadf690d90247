//! A `frontend` (or the frontend half of a `listen`): one listener per `bind`, the https
//! redirect, `default_backend`, `use_backend` routes, http rules as hooks, and the stats
//! listener.

use super::acl::{Acls, Fetch};
use super::bind::{accept_proxy, bind_tls};
use super::notes::Notes;
use super::parse::{Directive, Section};
use super::rules::{http_rule, Rule};
use super::settings::{Global, ProxySettings};
use super::values::{duration, port_of, socket_address};
use serde_json::{json, Value};

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

/// Listeners, routes and hooks written out at most, in all: each bind repeats its
/// frontend's rules, and each route its backend's.
pub const MAX_EXPANSION: usize = 100_000;

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
    /// `proxy_protocol:` (from `accept-proxy`).
    pub proxy_protocol: Option<Value>,
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
    let expansion = binds.len().saturating_mul(1 + hooks.len() + routes.len());
    if expansion > MAX_EXPANSION {
        notes.lost(
            section.line,
            format!("{} {name}", section.kind),
            format!(
                "{} binds × {} rules is over {MAX_EXPANSION} items to write out",
                binds.len(),
                hooks.len() + routes.len()
            ),
        );
        return out;
    }
    let several = binds.len() > 1;
    let mut names: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (d, address, tls) in binds {
        let mut listener_name = if several {
            format!("{name}-{}", port_of(&address))
        } else {
            name.clone()
        };
        while names.contains(&listener_name) {
            listener_name.push('_');
        }
        names.insert(listener_name.clone());
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
            proxy_protocol: accept_proxy(d),
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
