//! `global`, and the proxy settings that `defaults` gives every proxy and a proxy may
//! override (modes, options, timeouts, errorfiles, retries, balance, default-server).

use super::notes::Notes;
use super::parse::{Directive, Section};
use super::values::{based, duration};
use super::yaml::Entry;
use std::collections::BTreeMap;

/// What `global` says.
#[derive(Debug, Default)]
pub struct Global {
    /// `server:` entries.
    pub server: Vec<Entry>,
    /// `admin:` entries.
    pub admin: Vec<Entry>,
    /// The first `log` directive's words (target first) and its line.
    pub log: Option<(Vec<String>, usize)>,
    /// `ssl-default-bind-ciphers`, `-ciphersuites`, `-options`: `tls:` keys with their line.
    pub tls: Vec<(&'static str, String, usize)>,
    /// `crt-base`.
    pub crt_base: Option<String>,
    /// `ca-base`.
    pub ca_base: Option<String>,
}

/// Read `global`.
pub fn global(section: &Section, notes: &mut Notes) -> Global {
    let mut g = Global::default();
    let mut state_base = None;
    let mut state_file = None;
    for d in &section.directives {
        let arg = d.word(1).to_string();
        let line = [d.line];
        match d.word(0) {
            "maxconn" => number(&mut g.server, "max_connections", d, notes),
            "nbthread" => number(&mut g.server, "threads", d, notes),
            "pidfile" => g.server.push(Entry::leaf("pid_file", &line, arg)),
            "user" | "group" if arg.chars().all(|c| c.is_ascii_digit()) => {
                notes.lost_directive(d, "the gateway takes a user or group name")
            }
            "user" => g.server.push(Entry::leaf("user", &line, arg)),
            "group" => g.server.push(Entry::leaf("group", &line, arg)),
            "hard-stop-after" => match duration(&arg) {
                Ok(t) => g.server.push(Entry::leaf("grace_period", &line, t)),
                Err(why) => notes.lost_directive(d, why),
            },
            "server-state-base" => state_base = Some(arg),
            "server-state-file" => state_file = Some((arg, d.line)),
            "crt-base" => {
                g.crt_base = Some(arg);
                notes.unneeded_directive(d, "certificate paths are written out in full");
            }
            "ca-base" => {
                g.ca_base = Some(arg);
                notes.unneeded_directive(d, "CA paths are written out in full");
            }
            "log" => log_target(&mut g, d, notes),
            "stats" => stats_socket(&mut g, d, notes),
            "ssl-default-bind-ciphers" => g.tls.push(("ciphers", arg, d.line)),
            "ssl-default-bind-ciphersuites" => g.tls.push(("ciphersuites", arg, d.line)),
            "ssl-default-bind-options" => bind_options(&mut g, d, notes),
            "chroot" => notes.unneeded_directive(
                d,
                "the systemd unit confines the process (ProtectSystem=strict)",
            ),
            "daemon" => notes.unneeded_directive(
                d,
                "`gateway -d` daemonizes; under systemd it runs in the foreground",
            ),
            "master-worker" => notes
                .unneeded_directive(d, "the gateway is one process; upgrades hand sockets over"),
            "nbproc" if arg == "1" => notes.unneeded_directive(d, "the gateway is one process"),
            "tune.ssl.default-dh-param" => match arg.parse::<u32>() {
                Ok(bits) if bits <= 2048 => notes.unneeded_directive(
                    d,
                    "OpenSSL sizes DHE parameters to the certificate's key: 2048 bits for RSA 2048",
                ),
                _ => notes.lost_directive(
                    d,
                    "OpenSSL sizes DHE parameters to the certificate's key; no larger size can be set",
                ),
            },
            "default-path" | "zero-warning" | "description" | "node" => {
                notes.unneeded_directive(d, "no meaning for the gateway")
            }
            _ => notes.lost_directive(d, "not supported by the gateway"),
        }
    }
    if let Some((file, line)) = state_file {
        let path = based(state_base.as_deref(), &file);
        g.server.push(Entry::leaf("state_file", &[line], path));
    }
    g
}

fn number(entries: &mut Vec<Entry>, key: &str, d: &Directive, notes: &mut Notes) {
    match d.word(1).parse::<u64>() {
        Ok(n) if n > 0 => entries.push(Entry::leaf(key, &[d.line], n)),
        _ => notes.lost_directive(d, format!("{:?} is not a positive number", d.word(1))),
    }
}

/// `log TARGET FACILITY [LEVEL]`: the first one carries the access log; the others are
/// HAProxy's own event logs.
fn log_target(g: &mut Global, d: &Directive, notes: &mut Notes) {
    if g.log.is_none() {
        g.log = Some((d.words[1..].to_vec(), d.line));
    } else {
        notes.unneeded_directive(
            d,
            "a second log target for HAProxy's own events; the gateway logs them to stderr",
        );
    }
}

/// `stats socket PATH [mode M] [level L] [expose-fd listeners]` and `stats timeout`.
fn stats_socket(g: &mut Global, d: &Directive, notes: &mut Notes) {
    match d.word(1) {
        "socket" => {}
        "timeout" => {
            return match duration(d.word(2)) {
                Ok(timeout) => g.admin.push(Entry::leaf("timeout", &[d.line], timeout)),
                Err(why) => notes.lost_directive(d, why),
            }
        }
        _ => return notes.lost_directive(d, "not supported by the gateway"),
    }
    let path = d.word(2);
    if !path.starts_with('/') && !path.starts_with("unix@") {
        return notes.lost_directive(d, "the admin socket is a Unix socket");
    }
    let path = path.trim_start_matches("unix@");
    g.admin.push(Entry::leaf("socket", &[d.line], path));
    let mut i = 3;
    while i < d.words.len() {
        let (option, value) = (d.word(i), d.word(i + 1));
        let label = format!("stats socket {option}");
        match (option, value) {
            ("mode", "660" | "0660") => {}
            ("mode", _) => notes.lost(
                d.line,
                label,
                "the gateway creates the socket with mode 0660",
            ),
            ("level", "admin") => {}
            ("level", _) => notes.lost(d.line, label, "the admin socket grants every command"),
            ("expose-fd", _) => notes.not_needed(
                d.line,
                label,
                "upgrades hand the listening sockets over server.upgrade_sock",
            ),
            _ => notes.lost(d.line, label, "not supported by the gateway"),
        }
        i += if option == "expose-fd"
            || option == "mode"
            || option == "level"
            || option == "user"
            || option == "group"
        {
            2
        } else {
            1
        };
    }
}

/// `ssl-default-bind-options`.
fn bind_options(g: &mut Global, d: &Directive, notes: &mut Notes) {
    let mut i = 1;
    while i < d.words.len() {
        let option = d.word(i);
        let label = format!("ssl-default-bind-options {option}");
        match option {
            "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {
                notes.not_needed(d.line, label, "the gateway's floor is TLS 1.2")
            }
            "no-tlsv12" => g.tls.push(("min_version", "tls1.3".into(), d.line)),
            "ssl-min-ver" => {
                i += 1;
                match d.word(i) {
                    "TLSv1.2" => g.tls.push(("min_version", "tls1.2".into(), d.line)),
                    "TLSv1.3" => g.tls.push(("min_version", "tls1.3".into(), d.line)),
                    other => notes.lost(
                        d.line,
                        label,
                        format!("{other}: the gateway's floor is TLS 1.2"),
                    ),
                }
            }
            "ssl-max-ver" => {
                i += 1;
                notes.lost(d.line, label, "the gateway always offers TLS 1.3");
            }
            "prefer-client-ciphers" => {
                notes.lost(d.line, label, "the gateway uses the server's cipher order")
            }
            _ => notes.lost(d.line, label, "not supported by the gateway"),
        }
        i += 1;
    }
}

/// The settings a proxy gets from `defaults` and may override itself.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// HAProxy timeout name → (gateway duration, line).
    pub timeouts: BTreeMap<String, (String, usize)>,
    /// errorfile status → (path, line).
    pub error_pages: BTreeMap<u16, (String, usize)>,
    /// Line of `option httplog`.
    pub httplog: Option<usize>,
    /// Line of `option dontlognull`.
    pub dontlognull: Option<usize>,
    /// `option httpchk`.
    pub httpchk: Option<Directive>,
    /// `http-check send` / `http-check expect` lines.
    pub http_check: Vec<Directive>,
    /// `balance`.
    pub balance: Option<Directive>,
    /// `default-server`.
    pub default_server: Vec<Directive>,
    /// `retries`.
    pub retries: Option<Directive>,
    /// `mode tcp` (the proxy cannot be converted).
    pub tcp_mode: Option<usize>,
    /// `option allbackups`.
    pub allbackups: bool,
}

impl ProxySettings {
    /// Take `d` if it is a proxy setting; false when it is something else.
    pub fn apply(&mut self, d: &Directive, notes: &mut Notes) -> bool {
        match (d.word(0), d.word(1)) {
            ("mode", "http") => notes.unneeded_directive(d, "the gateway speaks HTTP"),
            ("mode", _) => self.tcp_mode = Some(d.line),
            ("log", "global") => notes.unneeded_directive(d, "the log target is global"),
            ("log", _) => notes.lost_directive(d, "the access log target is global"),
            ("option", "httplog") => self.httplog = Some(d.line),
            ("option", "dontlognull") => self.dontlognull = Some(d.line),
            ("no", "option") if d.word(2) == "dontlognull" => self.dontlognull = None,
            ("option", "forwardfor") if d.words.len() == 2 => notes.unneeded_directive(
                d,
                "the gateway always sends X-Forwarded-For, -Proto and -Port",
            ),
            ("option", "redispatch") => {
                notes.unneeded_directive(d, "the gateway's retry always goes to another server")
            }
            ("option", "httpchk") => self.httpchk = Some(d.clone()),
            ("option", "allbackups") => {
                self.allbackups = true;
                notes.unneeded_directive(d, "the gateway balances across every backup server")
            }
            ("http-check", "send" | "expect") => self.http_check.push(d.clone()),
            ("option", "http-use-htx") => notes.unneeded_directive(
                d,
                "HAProxy 2.x always uses HTX; the gateway has one HTTP engine",
            ),
            (
                "option",
                "http-server-close" | "http-keep-alive" | "httpclose" | "http-buffer-request",
            ) => notes.unneeded_directive(
                d,
                "the gateway keeps client connections alive and pools origin connections itself",
            ),
            ("option", "http-ignore-probes") => notes.unneeded_directive(
                d,
                "connections that send no request are not logged unless log_null_connections",
            ),
            ("timeout", name) => match duration(d.word(2)) {
                Ok(t) => {
                    self.timeouts.insert(name.to_string(), (t, d.line));
                }
                Err(why) => notes.lost_directive(d, why),
            },
            ("errorfile", code) => match code.parse::<u16>() {
                Ok(code) if !d.word(2).is_empty() => {
                    self.error_pages
                        .insert(code, (d.word(2).to_string(), d.line));
                }
                _ => notes.lost_directive(d, "expected `errorfile CODE FILE`"),
            },
            ("retries", _) => self.retries = Some(d.clone()),
            ("balance", _) => self.balance = Some(d.clone()),
            ("default-server", _) => self.default_server.push(d.clone()),
            ("load-server-state-from-file", _) => notes.unneeded_directive(
                d,
                "the gateway always reads server.state_file at an upgrade",
            ),
            _ => return false,
        }
        true
    }
}

/// Read a `defaults` section.
pub fn defaults(section: &Section, notes: &mut Notes) -> ProxySettings {
    let mut settings = ProxySettings::default();
    for d in &section.directives {
        if !settings.apply(d, notes) {
            notes.lost_directive(d, "not supported by the gateway");
        }
    }
    settings
}
