//! A `bind` line's TLS settings: certificates (a file or a directory), `ssl-default-bind-*`
//! from `global`, and the bind options the gateway has or does not need.

use super::notes::Notes;
use super::parse::Directive;
use super::settings::Global;
use super::values::based;
use serde_json::{json, Map, Value};

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
    "tls-ticket-keys",
];
/// `tls:` for a bind with `ssl`; None for plain binds.
pub fn bind_tls(d: &Directive, global: &Global, notes: &mut Notes) -> Option<Value> {
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
            "accept-proxy" => {} // the listener's proxy_protocol (see accept_proxy)
            "tls-ticket-keys" => drop(tls.insert("ticket_keys".into(), json!(value))),
            _ => notes.lost(d.line, label, "not supported by the gateway"),
        }
        i += if VALUED.contains(&key) { 2 } else { 1 };
    }
    if !ssl {
        if tls.contains_key("ticket_keys") {
            notes.lost(d.line, "bind tls-ticket-keys", "not used without `ssl`");
        }
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

/// `proxy_protocol:` for a bind with `accept-proxy`. HAProxy takes the header from any peer
/// there; so does this, with a remark to narrow it to the fronts.
pub fn accept_proxy(d: &Directive) -> Option<Value> {
    d.words
        .get(2..)
        .unwrap_or_default()
        .iter()
        .any(|w| w == "accept-proxy")
        .then(|| json!({ "trusted": ["0.0.0.0/0", "::/0"] }))
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
