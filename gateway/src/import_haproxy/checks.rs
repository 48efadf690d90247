//! A backend's `health_check:`: `option httpchk` (HAProxy 1.x and 2.x forms), `http-check
//! send`, `timeout check`, and the `check`, `inter`, `rise`, `fall` of its servers.

use super::notes::Notes;
use super::settings::ProxySettings;
use super::yaml::Entry;
use serde_json::{json, Value};

/// Health-check settings read from server lines: value and line, first wins.
#[derive(Default)]
pub struct Checks {
    /// `inter`, as the gateway writes durations.
    pub interval: Option<(String, usize)>,
    /// `rise`.
    pub rise: Option<(u64, usize)>,
    /// `fall`.
    pub fall: Option<(u64, usize)>,
    /// Lines of servers with `check`.
    pub checked: Vec<usize>,
    /// Lines of servers without.
    pub unchecked: Vec<usize>,
}

/// Keep the first value; a different later one is a loss (checks are per backend).
pub fn keep<T: PartialEq + Clone>(
    slot: &mut Option<(T, usize)>,
    value: T,
    line: usize,
    label: &str,
    notes: &mut Notes,
) {
    match slot {
        None => *slot = Some((value, line)),
        Some((first, _)) if *first == value => {}
        Some(_) => notes.lost(
            line,
            label,
            "the gateway's check settings are per backend; the first server's are used",
        ),
    }
}

/// `health_check:` from `option httpchk`, `http-check send` and the servers' `check`.
pub fn health_check(settings: &ProxySettings, checks: &Checks, notes: &mut Notes) -> Option<Entry> {
    let Some(&first) = checks.checked.first() else {
        if let Some(d) = &settings.httpchk {
            notes.unneeded_directive(d, "no server has `check`");
        }
        return None;
    };
    for line in &checks.unchecked {
        notes.lost(
            *line,
            "server",
            "the gateway checks every server of a backend that checks one",
        );
    }
    let mut lines = vec![first];
    let mut check = serde_json::Map::new();
    let (mut path, mut host) = ("/".to_string(), None);
    match &settings.httpchk {
        None => notes.lost(
            first,
            "server check",
            "HAProxy checks a TCP connect here; the gateway sends GET / (add `option httpchk`)",
        ),
        Some(d) => {
            lines.push(d.line);
            let words = &d.words[2..];
            let (method, uri, version) = match words {
                [] => ("GET", "/", ""),
                [uri] => ("GET", uri.as_str(), ""),
                [m, uri] => (m.as_str(), uri.as_str(), ""),
                [m, uri, v, ..] => (m.as_str(), uri.as_str(), v.as_str()),
            };
            if method != "GET" {
                notes.lost_directive(d, "the gateway checks with GET");
            }
            path = uri.to_string();
            host = version
                .split("\r\n")
                .filter_map(|h| h.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim().to_string());
        }
    }
    for d in &settings.http_check {
        lines.push(d.line);
        if d.word(1) != "send" {
            notes.lost_directive(d, "the gateway counts every 2xx and 3xx as healthy");
            continue;
        }
        let mut i = 2;
        while i < d.words.len() {
            match (d.word(i), d.word(i + 1)) {
                ("uri", uri) => path = uri.to_string(),
                ("meth", "GET") | ("ver", _) => {}
                ("meth", _) => notes.lost_directive(d, "the gateway checks with GET"),
                ("hdr", name) if name.eq_ignore_ascii_case("host") => {
                    host = Some(d.word(i + 2).to_string());
                    i += 1;
                }
                _ => notes.lost_directive(d, "only uri, meth GET and hdr host are supported"),
            }
            i += 2;
        }
    }
    check.insert("path".into(), json!(path));
    if let Some(host) = host {
        check.insert("host".into(), json!(host));
    }
    if let Some((interval, line)) = &checks.interval {
        lines.push(*line);
        check.insert("interval".into(), json!(interval));
    }
    if let Some((timeout, line)) = settings.timeouts.get("check") {
        lines.push(*line);
        check.insert("timeout".into(), json!(timeout));
    }
    if let Some((rise, line)) = checks.rise {
        lines.push(line);
        check.insert("rise".into(), json!(rise));
    }
    if let Some((fall, line)) = checks.fall {
        lines.push(line);
        check.insert("fall".into(), json!(fall));
    }
    Some(Entry::leaf("health_check", &lines, Value::Object(check)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_haproxy::parse::{split_words, Directive};

    fn settings(lines: &[&str]) -> (ProxySettings, Notes) {
        let mut settings = ProxySettings::default();
        let mut notes = Notes::default();
        for (i, line) in lines.iter().enumerate() {
            let d = Directive {
                line: i + 1,
                words: split_words(line).unwrap(),
            };
            assert!(settings.apply(&d, &mut notes), "{line}");
        }
        (settings, notes)
    }

    fn checked() -> Checks {
        Checks {
            checked: vec![9],
            ..Checks::default()
        }
    }

    fn check_of(lines: &[&str]) -> (Value, Notes) {
        let (settings, mut notes) = settings(lines);
        let entry = health_check(&settings, &checked(), &mut notes).unwrap();
        match entry.value {
            crate::import_haproxy::yaml::Node::Leaf(v) => (v, notes),
            _ => unreachable!(),
        }
    }

    #[test]
    fn httpchk_forms_give_path_and_host() {
        let (v, notes) = check_of(&["option httpchk GET /"]);
        assert_eq!(v, json!({ "path": "/" }));
        assert!(!notes.any_lost());
        let (v, _) = check_of(&["option httpchk /ping"]);
        assert_eq!(v, json!({ "path": "/ping" }));
        let (v, notes) = check_of(&[r"option httpchk GET /up HTTP/1.1\r\nHost:\ www.example.com"]);
        assert_eq!(v, json!({ "path": "/up", "host": "www.example.com" }));
        assert!(!notes.any_lost());
        let (v, notes) = check_of(&[
            "option httpchk",
            "http-check send meth GET uri /h ver HTTP/1.1 hdr host svc.example.com",
            "timeout check 500ms",
        ]);
        assert_eq!(
            v,
            json!({ "path": "/h", "host": "svc.example.com", "timeout": "500ms" })
        );
        assert!(!notes.any_lost(), "{notes:?}");
    }

    #[test]
    fn what_the_gateway_checks_differently_is_a_loss() {
        let (_, notes) = check_of(&["option httpchk HEAD /"]);
        assert!(notes.any_lost());
        let (_, notes) = check_of(&["option httpchk", "http-check expect status 200"]);
        assert!(notes.any_lost());
        let (v, notes) = check_of(&[]);
        assert_eq!(v, json!({ "path": "/" }));
        assert!(notes.any_lost(), "a TCP check became an HTTP one");
    }

    #[test]
    fn httpchk_without_checked_servers_is_not_needed() {
        let (settings, mut notes) = settings(&["option httpchk GET /"]);
        assert!(health_check(&settings, &Checks::default(), &mut notes).is_none());
        assert!(!notes.any_lost() && notes.0.len() == 1);
    }
}
