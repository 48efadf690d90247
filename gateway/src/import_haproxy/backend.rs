//! A `backend` (or the backend half of a `listen`): balance, servers, health check and the
//! backend's own http rules.

use super::acl::Acls;
use super::balance::balance_entries;
use super::checks::{health_check, keep, Checks};
use super::notes::Notes;
use super::parse::{Directive, Section};
use super::rules::{http_rule, Rule};
use super::settings::ProxySettings;
use super::values::{duration, socket_address};
use super::yaml::{Entry, Item, Node};
use serde_json::Value;

/// Keywords a backend takes besides the proxy settings.
pub const KEYWORDS: &[&str] = &["server", "cookie", "hash-type", "http-reuse", "fullconn"];

/// Server keywords that take a value.
const VALUED: &[&str] = &[
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "weight",
    "maxconn",
    "maxqueue",
    "minconn",
    "port",
    "addr",
    "cookie",
    "ca-file",
    "crt",
    "sni",
    "verify",
    "check-sni",
    "resolvers",
    "init-addr",
    "id",
    "slowstart",
    "on-error",
    "observe",
    "error-limit",
    "agent-port",
    "agent-inter",
    "source",
    "alpn",
    "proto",
    "pool-max-conn",
    "pool-purge-delay",
    "ws",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "namespace",
    "resolve-prefer",
    "resolve-net",
    "track",
    "redir",
    "max-reuse",
    "tcp-ut",
    "agent-send",
    "health-check-port",
    "check-proto",
    "check-alpn",
    "set-proxy-v2-tlv-fmt",
];

/// A converted backend.
pub struct Backend {
    /// The `backends.<name>` entry.
    pub entry: Entry,
    /// Hooks from the backend's http rules (with their lines), for every route that leads
    /// to it.
    pub hooks: Vec<(Value, usize)>,
    /// `timeouts:` keys it asks for: (key, value, line).
    pub timeouts: Vec<(&'static str, String, usize)>,
}

/// Convert `section` (a backend, or a listen when `listen`) with its effective `settings`;
/// None when no server is left.
pub fn backend(
    section: &Section,
    settings: &ProxySettings,
    listen: bool,
    notes: &mut Notes,
) -> Option<Backend> {
    let name = section.name.clone().unwrap_or_default();
    let mut acls = Acls::default();
    let mut servers = Vec::new();
    let mut hooks = Vec::new();
    let mut checks = Checks::default();
    let mut cookie = None;
    let sticky = section.directives.iter().any(|d| d.word(0) == "cookie");
    for d in &section.directives {
        match d.word(0) {
            "acl" if !listen => {
                if let Err(why) = acls.define(&d.words[1..]) {
                    notes.lost_directive(d, why);
                }
            }
            "server" => {
                if let Some(item) = server(d, settings, sticky, &mut checks, notes) {
                    servers.push(item);
                }
            }
            "http-request" | "http-response" | "http-after-response" if !listen => {
                for rule in http_rule(d, &acls, notes) {
                    match rule {
                        Rule::Hook(hook) => hooks.push((hook, d.line)),
                        _ => notes.lost_directive(d, "only frontends redirect or serve metrics"),
                    }
                }
            }
            "http-reuse" => notes.unneeded_directive(d, "the gateway pools origin connections"),
            "cookie" => cookie = Some(d),
            "hash-type" => notes.unneeded_directive(d, "the gateway's hash is consistent (ketama)"),
            "fullconn" => notes.lost_directive(d, "not supported by the gateway"),
            _ => {}
        }
    }
    backups(&mut servers, section, settings.allbackups, notes);
    if servers.is_empty() {
        notes.lost(
            section.line,
            format!("backend {name}"),
            "no server the gateway can use",
        );
        return None;
    }
    let mut entries = balance_entries(settings.balance.as_ref(), cookie, notes);
    entries.push(Entry::node("servers", &[], Node::List(servers)));
    let mut timeouts = Vec::new();
    if let Some(check) = health_check(settings, &checks, notes) {
        entries.push(check);
    }
    for (key, (value, line)) in &settings.timeouts {
        match key.as_str() {
            "connect" => timeouts.push(("connect", value.clone(), *line)),
            "server" => timeouts.push(("server", value.clone(), *line)),
            "check" | "client" | "http-keep-alive" | "http-request" | "client-fin" | "tarpit" => {}
            other => notes.lost(
                *line,
                format!("timeout {other}"),
                "not supported by the gateway",
            ),
        }
    }
    if let Some(d) = &settings.retries {
        let why = "the gateway retries a failed connection once, on another server";
        if d.word(1) == "1" {
            notes.unneeded_directive(d, why);
        } else {
            notes.lost_directive(d, why);
        }
    }
    let lines: Vec<usize> = vec![section.line];
    Some(Backend {
        entry: Entry::node(&name, &lines, Node::Map(entries)),
        hooks,
        timeouts,
    })
}

/// One `server` line (with `default-server` first) as a `servers:` item.
fn server(
    d: &Directive,
    settings: &ProxySettings,
    sticky: bool,
    checks: &mut Checks,
    notes: &mut Notes,
) -> Option<Item> {
    let name = d.word(1).to_string();
    let label = |what: &str| format!("server {name} {what}");
    let address = match socket_address(d.word(2)) {
        Ok(a) => a,
        Err(why) => {
            notes.lost(d.line, label("address"), why);
            return None;
        }
    };
    let mut params: Vec<(usize, &str, &str)> = Vec::new();
    for defaults in &settings.default_server {
        collect(&defaults.words[1..], defaults.line, &mut params);
    }
    collect(d.words.get(3..).unwrap_or_default(), d.line, &mut params);
    let mut weight: Option<(u64, usize)> = None;
    let mut has_check = false;
    let mut skip = None;
    let mut backup = None;
    let mut slowstart = None;
    for &(line, key, value) in &params {
        let lost = |notes: &mut Notes, why: &str| notes.lost(line, label(key), why);
        match key {
            "check" => has_check = true,
            "no-check" => has_check = false,
            "inter" | "rise" | "fall" => match (key, duration(value), value.parse::<u64>()) {
                ("inter", Ok(t), _) => keep(&mut checks.interval, t, line, &label(key), notes),
                ("rise", _, Ok(n)) if n > 0 => keep(&mut checks.rise, n, line, &label(key), notes),
                ("fall", _, Ok(n)) if n > 0 => keep(&mut checks.fall, n, line, &label(key), notes),
                _ => lost(notes, "not a valid value"),
            },
            "weight" => match value.parse::<u64>() {
                Ok(w) if (1..=256).contains(&w) => weight = Some((w, line)),
                _ => {
                    lost(notes, "the gateway takes weights 1..=256; server left out");
                    skip = Some(());
                }
            },
            "id" | "enabled" => notes.not_needed(line, label(key), "no meaning for the gateway"),
            "backup" => backup = Some(line),
            "slowstart" => match duration(value) {
                Ok(t) => slowstart = Some(t),
                Err(why) => lost(notes, &why),
            },
            "ssl" => {
                lost(
                    notes,
                    "the gateway speaks plain HTTP to origins; server left out",
                );
                skip = Some(());
            }
            "disabled" => {
                lost(
                    notes,
                    "start it with `disable server` on the admin socket; server left out",
                );
                skip = Some(());
            }
            "verify" | "ca-file" | "sni" | "crt" | "check-sni" | "check-ssl" => {
                lost(notes, "origin TLS is not supported by the gateway")
            }
            "maxconn" => lost(notes, "no per-server connection limit in the gateway"),
            "cookie" if !sticky => {
                notes.not_needed(line, label(key), "the backend has no cookie persistence")
            }
            "cookie" if value == name => {
                notes.not_needed(line, label(key), "the gateway's cookie value is the server name")
            }
            "cookie" => lost(
                notes,
                &format!("the gateway's cookie value is the server name {name:?}; a client holding {value:?} is balanced again once"),
            ),
            _ => lost(notes, "not supported by the gateway"),
        }
    }
    if skip.is_some() {
        return None;
    }
    if has_check {
        checks.checked.push(d.line);
    } else {
        checks.unchecked.push(d.line);
    }
    Some({
        let mut entry = vec![
            Entry::leaf("name", &[], name.clone()),
            Entry::leaf("address", &[], address),
        ];
        if let Some((w, _)) = weight {
            entry.push(Entry::leaf("weight", &[], w));
        }
        if backup.is_some() {
            entry.push(Entry::leaf("backup", &[], true));
        }
        if let Some(t) = slowstart {
            entry.push(Entry::leaf("slowstart", &[], t));
        }
        let mut lines: Vec<usize> = settings.default_server.iter().map(|d| d.line).collect();
        lines.push(d.line);
        Item {
            lines,
            value: Node::Leaf(Value::Object(
                entry
                    .into_iter()
                    .map(|e| match e.value {
                        Node::Leaf(v) => (e.key, v),
                        _ => unreachable!("server fields are leaves"),
                    })
                    .collect(),
            )),
        }
    })
}

/// HAProxy sends to the first backup only, unless `option allbackups`; the gateway balances
/// across them. With only backups HAProxy serves with them; the gateway wants one that is not.
fn backups(servers: &mut [Item], section: &Section, allbackups: bool, notes: &mut Notes) {
    let is_backup = |item: &Item| matches!(&item.value, Node::Leaf(Value::Object(m)) if m.contains_key("backup"));
    if !allbackups {
        for item in servers.iter().filter(|i| is_backup(i)).skip(1) {
            notes.lost(
                item.lines.last().copied().unwrap_or(section.line),
                "backup",
                "HAProxy uses the first backup only (no option allbackups); the gateway balances across them",
            );
        }
    }
    if servers.is_empty() || !servers.iter().all(is_backup) {
        return;
    }
    for item in servers.iter_mut() {
        if let Node::Leaf(Value::Object(m)) = &mut item.value {
            m.remove("backup");
        }
    }
    notes.not_needed(
        section.line,
        "backup",
        "every server is a backup: they serve as ordinary servers, as in HAProxy",
    );
}

/// Split server words into (line, keyword, value).
fn collect<'a>(words: &'a [String], line: usize, out: &mut Vec<(usize, &'a str, &'a str)>) {
    let mut i = 0;
    while i < words.len() {
        let key = words[i].as_str();
        if VALUED.contains(&key) {
            let value = words.get(i + 1).map(String::as_str).unwrap_or("");
            out.push((line, key, value));
            i += 2;
        } else {
            out.push((line, key, ""));
            i += 1;
        }
    }
}
