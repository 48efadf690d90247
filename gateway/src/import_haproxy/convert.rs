//! The whole import: sections in file order, `defaults` carried into the proxies after
//! them, and the per-proxy settings the gateway keeps globally (timeouts, errorfiles, the
//! access log) reconciled, first value wins.

use super::backend::{self, backend, Backend};
use super::frontend::{self, frontend, Frontend};
use super::listener::listener;
use super::notes::{Note, Notes};
use super::parse::{parse, Section};
use super::settings::{self, Global, ProxySettings};
use super::yaml::{render, Entry, Item, Node};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A converted file.
pub struct Conversion {
    /// The gateway configuration.
    pub yaml: String,
    /// What was not converted, or not needed, in line order.
    pub notes: Vec<Note>,
}

/// Settings the gateway keeps once for every proxy: key → (value, lines).
#[derive(Default)]
struct Shared(BTreeMap<String, (Value, Vec<usize>)>);

impl Shared {
    fn offer(&mut self, key: &str, value: Value, line: usize, label: &str, notes: &mut Notes) {
        match self.0.get_mut(key) {
            None => drop(self.0.insert(key.to_string(), (value, vec![line]))),
            Some((first, lines)) if *first == value => lines.push(line),
            Some((first, _)) => notes.lost(
                line,
                label,
                format!("global in the gateway; the first proxy's {first} is used"),
            ),
        }
    }

    fn entries(&self) -> Vec<Entry> {
        self.0
            .iter()
            .map(|(k, (v, lines))| Entry::leaf(k, lines, v.clone()))
            .collect()
    }
}

/// Convert haproxy.cfg `text`; `source` names it in the comments.
pub fn convert(text: &str, source: &str) -> Conversion {
    let parsed = parse(text);
    let mut notes = Notes::default();
    for bad in &parsed.bad_lines {
        notes.lost(bad.line, bad.directive.clone(), bad.why.clone());
    }
    let mut global = Global::default();
    let mut global_seen = false;
    let mut defaults = ProxySettings::default();
    let mut frontends: Vec<Frontend> = Vec::new();
    let mut backends: BTreeMap<String, Backend> = BTreeMap::new();
    let mut timeouts = Shared::default();
    let mut error_pages = Shared::default();
    let mut httplog: Option<(usize, Option<usize>)> = None;
    let mut proxy_names = std::collections::HashSet::new();
    for section in &parsed.sections {
        let kind = section.kind.as_str();
        match kind {
            "global" if global_seen => {
                notes.lost(section.line, "global", "a second global section")
            }
            "global" => {
                global = settings::global(section, &mut notes);
                global_seen = true;
            }
            "defaults" => {
                defaults = settings::defaults(section, &mut notes);
            }
            "frontend" | "backend" | "listen" => {
                let Some(name) = &section.name else {
                    notes.lost(section.line, kind, "a proxy needs a name");
                    continue;
                };
                let side = if kind == "backend" {
                    "backend"
                } else {
                    "frontend"
                };
                if !proxy_names.insert((side, name.clone()))
                    || (kind == "listen" && !proxy_names.insert(("backend", name.clone())))
                {
                    notes.lost(
                        section.line,
                        kind,
                        format!("a second {side} named {name:?}"),
                    );
                    for d in &section.directives {
                        notes.lost_directive(d, format!("inside the second {kind} {name}"));
                    }
                    continue;
                }
                let settings = proxy_settings(section, &defaults, &mut notes);
                if let Some(line) = settings.tcp_mode {
                    notes.lost(
                        line,
                        "mode",
                        format!("{kind} {name}: the gateway proxies HTTP only"),
                    );
                    for d in section.directives.iter().filter(|d| d.line != line) {
                        notes.lost_directive(d, format!("inside TCP-mode {kind} {name}"));
                    }
                    continue;
                }
                if kind != "backend" {
                    let converted =
                        frontend(section, &settings, &global, kind == "listen", &mut notes);
                    for (key, value, line) in &converted.timeouts {
                        timeouts.offer(key, json!(value), *line, &timeout_label(key), &mut notes);
                    }
                    if let Some(line) = settings.httplog {
                        httplog.get_or_insert((line, settings.dontlognull));
                    }
                    frontends.push(converted);
                }
                let has_servers = section.directives.iter().any(|d| d.word(0) == "server");
                if kind == "backend" || (kind == "listen" && has_servers) {
                    if let Some(converted) =
                        backend(section, &settings, kind == "listen", &mut notes)
                    {
                        for (key, value, line) in &converted.timeouts {
                            timeouts.offer(
                                key,
                                json!(value),
                                *line,
                                &timeout_label(key),
                                &mut notes,
                            );
                        }
                        backends.insert(name.clone(), converted);
                    }
                }
                for (code, (path, line)) in &settings.error_pages {
                    error_pages.offer(
                        &code.to_string(),
                        json!(path),
                        *line,
                        "errorfile",
                        &mut notes,
                    );
                }
            }
            other => {
                notes.lost(
                    section.line,
                    other,
                    "this section is not supported by the gateway",
                );
                for d in &section.directives {
                    notes.lost_directive(d, format!("inside `{other}`"));
                }
            }
        }
    }
    let mut document = Vec::new();
    if !global.server.is_empty() {
        document.push(Entry::node("server", &[], Node::Map(global.server.clone())));
    }
    if !frontends
        .iter()
        .flat_map(|f| &f.listeners)
        .any(|l| l.tls.is_some())
    {
        for (key, _, line) in &global.tls {
            notes.not_needed(
                *line,
                format!("ssl-default-bind ({key})"),
                "no TLS listener",
            );
        }
    }
    let mut budget = frontend::MAX_EXPANSION;
    let listeners: Vec<Item> = frontends
        .iter()
        .flat_map(|f| &f.listeners)
        .filter_map(|plan| listener(plan, &backends, &mut budget, &mut notes))
        .collect();
    if listeners.is_empty() {
        notes.lost(
            1,
            "frontend",
            "no listener could be converted; the gateway needs one",
        );
    }
    document.push(Entry::node("listeners", &[], Node::List(listeners)));
    let mut stats = frontends.iter().filter_map(|f| f.stats.as_ref());
    if let Some((value, lines)) = stats.next() {
        document.push(Entry::leaf("stats", lines, value.clone()));
    }
    for (_, lines) in stats {
        notes.lost(lines[0], "stats", "the gateway has one stats listener");
    }
    if let (Some((log_target, log_line)), Some((httplog_line, dontlognull))) =
        (&global.log, httplog)
    {
        let (access_log, lost) = super::log_target::access_log(log_target);
        let remark = format!(
            "HAProxy `log {}`{}",
            log_target.join(" "),
            lost.map(|why| format!(": {why}")).unwrap_or_default()
        );
        document.push(
            Entry::leaf("access_log", &[*log_line, httplog_line], access_log).remark(&remark),
        );
        let lines: Vec<usize> = dontlognull.into_iter().collect();
        document.push(Entry::leaf(
            "log_null_connections",
            &lines,
            dontlognull.is_none(),
        ));
    }
    let backend_entries: Vec<Entry> = backends.values().map(|b| b.entry.clone()).collect();
    document.push(Entry::node("backends", &[], Node::Map(backend_entries)));
    if !timeouts.0.is_empty() {
        document.push(Entry::node("timeouts", &[], Node::Map(timeouts.entries())));
    }
    if !error_pages.0.is_empty() {
        document.push(Entry::node(
            "error_pages",
            &[],
            Node::Map(error_pages.entries()),
        ));
    }
    if global.admin.iter().any(|entry| entry.key == "socket") {
        document.push(Entry::node("admin", &[], Node::Map(global.admin.clone())));
    } else {
        for entry in &global.admin {
            for &line in &entry.lines {
                notes.not_needed(
                    line,
                    "stats timeout",
                    "there is no stats socket to time out",
                );
            }
        }
    }
    let used = cited(&document);
    let noted: std::collections::BTreeSet<usize> = notes.0.iter().map(|n| n.line).collect();
    for section in &parsed.sections {
        for d in section.directives.iter().filter(|d| d.word(0) != "acl") {
            if used.contains(&d.line) || noted.contains(&d.line) {
                continue;
            }
            if section.kind == "defaults" {
                notes.unneeded_directive(d, "no converted proxy uses it");
            } else {
                notes.lost_directive(d, "nothing the gateway converted uses it");
            }
        }
    }
    let header = format!(
        "Written by `gateway import-haproxy {source}`: each block names the lines it came from.\nCheck it with `gateway -t -c FILE`."
    );
    let mut notes = notes.0;
    notes.sort_by_key(|n| n.line);
    Conversion {
        yaml: render(source, &header, &document),
        notes,
    }
}

/// A proxy's effective settings: the last `defaults` above it overridden by its own lines;
/// lines neither it nor the frontend and backend conversions know are reported.
fn proxy_settings(section: &Section, defaults: &ProxySettings, notes: &mut Notes) -> ProxySettings {
    let mut settings = defaults.clone();
    let kind = section.kind.as_str();
    for d in &section.directives {
        if settings.apply(d, notes) {
            continue;
        }
        let keyword = d.word(0);
        let known = match kind {
            "frontend" => frontend::KEYWORDS.contains(&keyword),
            "backend" => {
                backend::KEYWORDS.contains(&keyword)
                    || matches!(
                        keyword,
                        "acl" | "http-request" | "http-response" | "http-after-response"
                    )
            }
            _ => frontend::KEYWORDS.contains(&keyword) || backend::KEYWORDS.contains(&keyword),
        };
        if known {
            continue;
        }
        match keyword {
            "description" | "id" | "enabled" => {
                notes.unneeded_directive(d, "no meaning for the gateway")
            }
            "maxconn" => notes.lost_directive(
                d,
                "the gateway's connection limit is server.max_connections, for all listeners",
            ),
            _ => notes.lost_directive(d, "not supported by the gateway"),
        }
    }
    settings
}

/// Every line cited anywhere in `entries`.
fn cited(entries: &[Entry]) -> std::collections::BTreeSet<usize> {
    fn node(value: &Node, out: &mut std::collections::BTreeSet<usize>) {
        match value {
            Node::Leaf(_) => {}
            Node::Map(entries) => {
                for e in entries {
                    out.extend(&e.lines);
                    node(&e.value, out);
                }
            }
            Node::List(items) => {
                for i in items {
                    out.extend(&i.lines);
                    node(&i.value, out);
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for e in entries {
        out.extend(&e.lines);
        node(&e.value, &mut out);
    }
    out
}

/// `timeout <HAProxy name>` for a `timeouts:` key.
fn timeout_label(key: &str) -> String {
    let haproxy = if key == "keep_alive" {
        "http-keep-alive"
    } else {
        key
    };
    format!("timeout {haproxy}")
}
