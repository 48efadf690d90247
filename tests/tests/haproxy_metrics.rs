//! `stats.prometheus_names: [gateway, haproxy]`: the gateway serves HAProxy 2.6's exporter
//! families. Debian's HAProxy (`http-request use-service prometheus-exporter`) and the gateway
//! run the same topology and are both scraped: every `haproxy_*` family the gateway serves has
//! HAProxy's type and labels, and every family HAProxy serves is either served by the gateway
//! or listed in the README as not applicable.

use gateway_tests::client::plain_exchange;
use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, metric_value, promtool_check, require_program, scrape, wait_for};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped, even by a failing assertion.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Family name → (type, label names), from the text format.
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.to_string()).or_default().0 = kind.to_string();
        } else if !line.starts_with('#') && !line.is_empty() {
            let (name, labels) = match line.split_once('{') {
                Some((name, rest)) => (name, rest.split_once('}').unwrap().0),
                None => (line.split(' ').next().unwrap(), ""),
            };
            let names = labels
                .split(',')
                .filter_map(|l| l.split_once('=').map(|(n, _)| n.to_string()));
            out.entry(name.to_string()).or_default().1.extend(names);
        }
    }
    out
}

/// The families the README lists as not applicable.
fn not_applicable() -> BTreeSet<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("HAProxy exporter families the gateway does not serve")
        .expect("README section");
    let section = &readme[start..];
    // The bullet list that follows, up to the first blank line after it.
    let list = section.find("\n- ").expect("a list");
    let section = &section[..list + section[list..].find("\n\n").unwrap_or(section.len() - list)];
    section
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("haproxy_"))
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "needs haproxy and promtool (make test installs them)"]
fn haproxy_names_match_haproxys_own_exporter() {
    let program = require_program("haproxy", "haproxy");
    let origin = Origin::start("a");
    let dir = workdir();
    let (web, stats) = (free_addr(), free_addr());
    let config = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\nfrontend stats\n  bind {stats}\n  http-request use-service prometheus-exporter if {{ path /metrics }}\nfrontend web\n  bind {web}\n  default_backend app\nbackend app\n  option httpchk GET /health\n  server a {} check inter 500ms\n",
        origin.addr
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let haproxy = Command::new(program)
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _haproxy = Killed(haproxy);
    let up = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(web).is_ok()
    });
    assert!(up.is_some(), "haproxy not accepting");

    let (gw, gw_stats) = (free_addr(), free_addr());
    let gw_dir = workdir();
    let app = Backend::of(&[&origin]).health_check("{ path: /health, interval: 500ms }");
    let yaml = Config::new(gw_dir.path())
        .listener(Listener::plain("web", gw).backend("app"))
        .backend("app", app)
        .set("stats.address", gw_stats.to_string())
        .set(
            "stats.prometheus_names",
            serde_json::json!(["gateway", "haproxy"]),
        )
        .yaml();
    let _gateway = Gateway::start(gw_dir.path(), &yaml, &[gw, gw_stats]);
    for addr in [web, gw] {
        let answer = plain_exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Both have checked the server a few times (HAProxy and the gateway each).
    let checked = wait_for(Duration::from_secs(10), || origin.health_checks() >= 6);
    assert!(checked.is_some(), "health checks never ran");
    let theirs_text = scrape(stats);
    let ours_text = scrape(gw_stats);
    promtool_check(&ours_text);
    let (theirs, ours) = (families(&theirs_text), families(&ours_text));
    assert!(
        ours.contains_key("gateway_requests_total"),
        "gateway names kept"
    );
    for (name, (kind, labels)) in ours.iter().filter(|(n, _)| n.starts_with("haproxy_")) {
        let (their_kind, their_labels) = theirs
            .get(name)
            .unwrap_or_else(|| panic!("{name}: HAProxy has no such family"));
        assert_eq!(kind, their_kind, "{name}");
        assert_eq!(labels, their_labels, "{name}");
    }
    let listed = not_applicable();
    let missing: Vec<&String> = theirs
        .keys()
        .filter(|n| !ours.contains_key(*n) && !listed.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "neither served nor listed in the README: {missing:?}"
    );
    for name in &listed {
        assert!(
            !ours.contains_key(name),
            "{name} is served but listed as not applicable"
        );
    }
    // The same traffic gives the same figures.
    for text in [&theirs_text, &ours_text] {
        let web = [("proxy", "web"), ("code", "2xx")];
        assert_eq!(
            metric_value(text, "haproxy_frontend_http_responses_total", &web),
            Some(1.0)
        );
        let server = [("proxy", "app"), ("server", "a"), ("state", "UP")];
        assert_eq!(
            metric_value(text, "haproxy_server_status", &server),
            Some(1.0)
        );
    }
}

#[test]
#[ignore = "needs promtool (make test installs it)"]
fn haproxy_names_alone_leave_out_the_gateway_families() {
    let origin = Origin::start("a");
    let dir = workdir();
    let (web, stats) = (free_addr(), free_addr());
    let yaml = Config::plain(dir.path(), web, &[&origin])
        .set("stats.address", stats.to_string())
        .set("stats.prometheus_names", serde_json::json!(["haproxy"]))
        .yaml();
    let _gateway = Gateway::start(dir.path(), &yaml, &[web, stats]);
    let text = scrape(stats);
    promtool_check(&text);
    assert!(
        text.contains("haproxy_frontend_current_sessions{proxy=\"web\"}"),
        "{text}"
    );
    assert!(!text.contains("gateway_"), "{text}");
}

#[test]
fn unknown_name_sets_are_refused() {
    let dir = workdir();
    let origin = Origin::start("a");
    let yaml = Config::plain(dir.path(), free_addr(), &[&origin])
        .set("stats.address", free_addr().to_string())
        .set("stats.prometheus_names", serde_json::json!(["statsd"]))
        .yaml();
    let (code, out) = check(dir.path(), &yaml);
    assert_ne!(code, 0);
    assert!(
        out.contains("stats.prometheus_names: unknown name set \"statsd\""),
        "{out}"
    );
}
