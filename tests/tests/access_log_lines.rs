//! Access-log lines through the real binary: `format: json` lines match the requests (a
//! connection that sends nothing is not logged), `format: haproxy` lines have the `httplog`
//! shape, and null connections are logged when `log_null_connections` asks for them.

use gateway_tests::config::Backend;
use gateway_tests::gateway::workdir;
use gateway_tests::https_stats::{setup, value, Setup};
use gateway_tests::origin::Origin;
use gateway_tests::{https_client, scrape, tls_stream, wait_for};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

fn log_setup(format: &str, null_connections: bool) -> (Setup, std::path::PathBuf, Origin) {
    let origin = Origin::start("a");
    let log_dir = workdir().keep();
    let log = log_dir.join("access.log");
    let s = setup(Backend::of(&[&origin]), |c| {
        c.set("access_log.path", log.display().to_string())
            .set("access_log.format", format)
            .set("log_null_connections", null_connections)
    });
    (s, log, origin)
}

/// The lines of the access log at `path` once there are `at_least` (or after 3 s).
fn log_lines(path: &Path, at_least: usize) -> Vec<String> {
    log_lines_once(path, |lines| lines.len() >= at_least)
}

/// The lines of the access log at `path` once `done` holds for them (or after 3 s).
fn log_lines_once(path: &Path, mut done: impl FnMut(&[String]) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    wait_for(Duration::from_secs(3), || {
        lines = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        done(&lines)
    });
    lines
}

#[test]
fn json_access_log_lines_match_the_requests() {
    let (s, log, _origin) = log_setup("json", false);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    client
        .get(format!("https://localhost:{}/one?x=1", s.https.port()))
        .send()
        .unwrap();
    client
        .post(format!("https://localhost:{}/status/503", s.https.port()))
        .body("hello")
        .send()
        .unwrap();
    // A connection that sends nothing is not logged by default (HAProxy dontlognull).
    let l = [("listener", "https")];
    let connections = || value(&scrape(s.stats), "gateway_connections_total", &l);
    let open = || value(&scrape(s.stats), "gateway_connections_current", &l);
    let before = connections();
    drop(TcpStream::connect(s.https).unwrap());
    // Once the gateway has seen it come and go, only the two requests are in the log.
    let done = wait_for(Duration::from_secs(5), || {
        connections() > before && open() <= 1.0
    });
    assert!(
        done.is_some(),
        "the silent connection was never counted and closed"
    );
    let lines = log_lines(&log, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed[0]["method"], "GET");
    assert_eq!(parsed[0]["path"], "/one?x=1");
    assert_eq!(parsed[0]["status"], 200);
    assert_eq!(parsed[0]["listener"], "https");
    assert_eq!(parsed[0]["backend"], "app");
    assert_eq!(parsed[0]["server"], "a");
    assert_eq!(parsed[0]["bytes_sent"], 2);
    assert!(parsed[0]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(parsed[0]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(parsed[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(parsed[1]["method"], "POST");
    assert_eq!(parsed[1]["status"], 503);
    assert_eq!(parsed[1]["bytes_received"], 5);
}

#[test]
fn haproxy_access_log_lines_have_httplog_shape_and_null_connections_when_asked() {
    let (s, log, _origin) = log_setup("haproxy", true);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    client
        .get(format!("https://localhost:{}/path?q=1", s.https.port()))
        .send()
        .unwrap();
    let nulls = |lines: &[String]| lines.iter().filter(|l| l.contains(" CR-- ")).count();
    // The start-up readiness probe was itself a null connection, logged before the request.
    let lines = log_lines_once(&log, |lines| lines.iter().any(|l| l.contains("GET")));
    let nulls_before = nulls(&lines);
    let mut silent = tls_stream(&s.pki, s.https);
    let _ = silent.shutdown();
    drop(silent);
    let lines = log_lines_once(&log, |lines| nulls(lines) > nulls_before);
    assert_eq!(nulls(&lines), nulls_before + 1, "{lines:?}");
    let line = lines.iter().find(|l| l.contains("GET")).unwrap();
    let fields: Vec<&str> = line.split(' ').collect();
    assert!(fields[0].starts_with("127.0.0.1:"), "{line}");
    assert!(
        fields[1].starts_with('[') && fields[1].ends_with(']'),
        "{line}"
    );
    assert_eq!(fields[2], "https~", "a TLS frontend, as HAProxy marks it");
    assert_eq!(fields[3], "app/a");
    let timers: Vec<i64> = fields[4].split('/').map(|t| t.parse().unwrap()).collect();
    assert_eq!(timers.len(), 5, "{line}");
    assert_eq!(fields[5], "200");
    assert!(
        fields[6].parse::<usize>().unwrap() > 2,
        "head and body: {line}"
    );
    assert_eq!(fields[9], "----");
    assert!(line.ends_with("\"GET /path?q=1 HTTP/2.0\""), "{line}");
    let null = lines.iter().find(|l| !l.contains("GET")).unwrap();
    assert!(
        null.contains(" https~ https/<NOSRV> -1/-1/-1/-1/") && null.contains(" CR-- "),
        "{null}"
    );
}
