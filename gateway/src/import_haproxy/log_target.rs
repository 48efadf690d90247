//! HAProxy's first `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL]` as the
//! gateway's `access_log` target.

use serde_json::{json, Map, Value};

/// Facility names both HAProxy and the gateway accept.
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The `access_log` settings (with `format: haproxy`) for the `log` directive's `words` (the
/// target first), and a remark when something could not be carried over.
pub fn access_log(words: &[String]) -> (Value, Option<String>) {
    let mut log = Map::new();
    let mut remark = None;
    let target = words.first().map(String::as_str).unwrap_or("");
    let target = target.trim_start_matches("unix@");
    if target == "stdout" || target == "stderr" {
        log.insert("path".into(), json!("stderr"));
    } else if target.starts_with('/') {
        log.insert("syslog".into(), json!(target));
    } else if let Some(host) = udp_host(target) {
        log.insert("syslog".into(), json!(format!("udp://{host}")));
    } else {
        log.insert("path".into(), json!("stderr"));
        remark = Some(format!(
            "log target {target:?} not converted: the access log goes to stderr"
        ));
    }
    let syslog = log.contains_key("syslog");
    let mut i = 1;
    while i < words.len() {
        match (words[i].as_str(), words.get(i + 1).map(String::as_str)) {
            ("len" | "sample", Some(_)) => i += 2,
            ("format", Some(format)) => {
                match format {
                    "rfc5424" if syslog => {
                        log.insert("framing".into(), json!("rfc5424"));
                    }
                    "rfc3164" | "local" => {}
                    other => {
                        remark = Some(format!("log format {other} not converted (rfc3164)"));
                    }
                }
                i += 2;
            }
            (facility, _) => {
                if syslog && FACILITIES.contains(&facility) {
                    log.insert("facility".into(), json!(facility));
                }
                break;
            }
        }
    }
    log.insert("format".into(), json!("haproxy"));
    (Value::Object(log), remark)
}

/// `host:port` of a UDP target (`udp@`, `ipv4@`, `ipv6@` or bare `host[:port]`).
fn udp_host(target: &str) -> Option<String> {
    let bare = ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"]
        .iter()
        .find_map(|p| target.strip_prefix(p))
        .unwrap_or(target);
    if bare.is_empty() || bare.contains('@') {
        return None;
    }
    let has_port = bare
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.ends_with(':') && port.parse::<u16>().is_ok());
    Some(if has_port {
        bare.to_string()
    } else {
        format!("{bare}:514")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn targets_become_syslog_outputs() {
        let (log, remark) = access_log(&words("/dev/log local0"));
        assert_eq!(
            log,
            json!({ "syslog": "/dev/log", "facility": "local0", "format": "haproxy" })
        );
        assert!(remark.is_none());
        let (log, _) = access_log(&words("127.0.0.1:5140 len 2048 format rfc5424 local3 info"));
        assert_eq!(
            log,
            json!({ "syslog": "udp://127.0.0.1:5140", "framing": "rfc5424", "facility": "local3", "format": "haproxy" })
        );
        let (log, _) = access_log(&words("udp@logs.example local1"));
        assert_eq!(log["syslog"], "udp://logs.example:514");
        let (log, _) = access_log(&words("stdout format raw local0"));
        assert_eq!(log["path"], "stderr");
        let (log, remark) = access_log(&words("ring@buffer local0"));
        assert_eq!(log["path"], "stderr");
        assert!(remark.unwrap().contains("ring@buffer"));
    }
}
