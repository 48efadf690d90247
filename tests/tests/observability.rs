//! Metrics follow traffic, the stats page and its JSON, Prometheus and promtool, the access
//! log: through the real binary.

use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{check, server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{
    accepting, free_addr, http_client, https_client, metric_value, promtool_check, scrape,
    tls_stream, wait_for,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    pki: Pki,
    https: SocketAddr,
    stats: SocketAddr,
    gateway: Gateway,
}

/// An https listener in front of backend `app` with a stats listener, the configuration
/// changed by `change`.
fn setup(app: Backend, change: impl FnOnce(Config) -> Config) -> Setup {
    let dir = workdir();
    let pki = Pki::new();
    let (https, stats) = (free_addr(), free_addr());
    let gateway = Gateway::start_tls(dir.path(), &pki, https, app, |config| {
        change(config.set(
            "stats",
            yaml(&format!("{{ address: \"{stats}\", refresh: 3s }}")),
        ))
    });
    assert!(wait_for(Duration::from_secs(10), || accepting(stats)).is_some());
    Setup {
        _dir: dir,
        pki,
        https,
        stats,
        gateway,
    }
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_value(text, name, labels).unwrap_or_else(|| panic!("{name}{labels:?} missing"))
}

#[test]
fn metric_values_follow_the_traffic() {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let health = "{ path: /health, interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }";
    let s = setup(Backend::of(&[&a, &b]).health_check(health), |c| c);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    for i in 0..10 {
        let resp = client
            .get(format!("https://localhost:{}/{i}", s.https.port()))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let not_found = client
        .get(format!("https://localhost:{}/status/404", s.https.port()))
        .send()
        .unwrap();
    assert_eq!(not_found.status(), 404);

    // A failed handshake, three open connections and one request in flight.
    let mut garbage = TcpStream::connect(s.https).unwrap();
    garbage.write_all(b"this is not TLS\r\n\r\n").unwrap();
    let _ = garbage.read(&mut [0u8; 64]);
    let open: Vec<_> = (0..3).map(|_| tls_stream(&s.pki, s.https)).collect();
    let slow_url = format!("https://localhost:{}/slow?ms=1500", s.https.port());
    let slow_client = client.clone();
    let slow = std::thread::spawn(move || slow_client.get(slow_url).send().unwrap().status());
    assert!(wait_for(Duration::from_secs(3), || a.hits() + b.hits() == 12).is_some());

    let text = scrape(s.stats);
    let l = [("listener", "https")];
    assert_eq!(
        value(&text, "gateway_requests_total", &[l[0], ("code", "200")]),
        10.0
    );
    assert_eq!(
        value(&text, "gateway_requests_total", &[l[0], ("code", "404")]),
        1.0
    );
    for server in ["a", "b"] {
        let sl = [("backend", "app"), ("server", server)];
        let ok = value(
            &text,
            "gateway_backend_requests_total",
            &[sl[0], sl[1], ("code", "200")],
        );
        assert!((5.0..=6.0).contains(&ok), "{server}: {ok}");
        assert_eq!(value(&text, "gateway_backend_server_up", &sl), 1.0);
        assert!(
            value(
                &text,
                "gateway_backend_checks_total",
                &[sl[0], sl[1], ("result", "success")]
            ) >= 1.0
        );
        assert!(value(&text, "gateway_backend_check_duration_seconds_count", &sl) >= 1.0);
        assert_eq!(
            value(&text, "gateway_backend_connect_errors_total", &sl),
            0.0
        );
    }
    let in_flight = value(
        &text,
        "gateway_backend_in_flight_requests",
        &[("server", "a")],
    ) + value(
        &text,
        "gateway_backend_in_flight_requests",
        &[("server", "b")],
    );
    assert_eq!(in_flight, 1.0);
    assert_eq!(
        value(&text, "gateway_request_duration_seconds_count", &l),
        11.0
    );
    assert_eq!(
        value(&text, "gateway_bytes_out_total", &l),
        10.0 * 2.0 + 2.0
    );
    assert_eq!(
        value(&text, "gateway_tls_handshake_failures_total", &l),
        1.0
    );
    // reqwest multiplexes everything on one HTTP/2 connection; plus the three held open.
    assert_eq!(value(&text, "gateway_tls_handshakes_total", &l), 4.0);
    assert!(value(&text, "gateway_connections_current", &l) >= 4.0);
    assert!(
        value(
            &text,
            "gateway_backend_response_time_seconds_count",
            &[("backend", "app")]
        ) >= 5.0
    );
    assert_eq!(value(&text, "gateway_build_info", &[]), 1.0);
    assert!(value(&text, "gateway_process_start_time_seconds", &[]) > 1.7e9);

    assert_eq!(slow.join().unwrap(), 200);
    drop(open);
    let settled = wait_for(Duration::from_secs(3), || {
        let text = scrape(s.stats);
        value(&text, "gateway_connections_current", &l) <= 1.0
            && value(
                &text,
                "gateway_backend_in_flight_requests",
                &[("server", "a")],
            ) == 0.0
            && value(
                &text,
                "gateway_backend_in_flight_requests",
                &[("server", "b")],
            ) == 0.0
    });
    assert!(settled.is_some(), "gauges did not come back down");
    drop(s.gateway);
}

#[test]
fn connect_errors_and_retries_are_counted_per_server() {
    let live = Origin::start("live");
    let dead = free_addr();
    let servers = Backend::default()
        .server("dead", dead)
        .server("live", live.addr);
    let s = setup(servers, |c| c);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    for _ in 0..10 {
        let resp = client
            .get(format!("https://localhost:{}/", s.https.port()))
            .send();
        assert_eq!(resp.unwrap().status(), 200);
    }
    let text = scrape(s.stats);
    let errors = value(
        &text,
        "gateway_backend_connect_errors_total",
        &[("server", "dead"), ("reason", "refused")],
    );
    assert!(errors >= 1.0);
    assert_eq!(
        value(
            &text,
            "gateway_backend_retries_total",
            &[("server", "dead")]
        ),
        errors
    );
    assert_eq!(
        value(
            &text,
            "gateway_backend_connect_errors_total",
            &[("server", "live"), ("reason", "refused")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "gateway_backend_requests_total",
            &[("server", "live"), ("code", "200")]
        ),
        10.0
    );
}

#[test]
fn full_metric_set_passes_promtool_and_a_real_prometheus_scrapes_it() {
    let origin = Origin::start("a");
    let health = "{ path: /health, interval: 200ms, timeout: 200ms }";
    let s = setup(Backend::of(&[&origin]).health_check(health), |c| c);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    for _ in 0..3 {
        client
            .get(format!("https://localhost:{}/", s.https.port()))
            .send()
            .unwrap();
    }
    wait_for(Duration::from_secs(3), || origin.health_checks() > 0);
    promtool_check(&scrape(s.stats));

    let dir = workdir();
    let web = free_addr();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nscrape_configs:\n  - job_name: gateway\n    static_configs: [ {{ targets: [\"{}\"] }} ]\n",
            s.stats
        ),
    )
    .unwrap();
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus)");
    let query = format!("http://{web}/api/v1/query?query=gateway_requests_total");
    let scraped = wait_for(Duration::from_secs(30), || {
        let body = http_client()
            .get(&query)
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        body.contains("\"status\":\"success\"") && body.contains("\"listener\":\"https\"")
    });
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert!(
        scraped.is_some(),
        "Prometheus never returned gateway_requests_total"
    );
}

#[test]
fn stats_page_shows_a_down_server_in_chromium_and_as_json() {
    let (up, mut down) = (Origin::start("alive"), Origin::start("dead"));
    let health = "{ path: /health, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }";
    let s = setup(Backend::of(&[&up, &down]).health_check(health), |c| c);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    for _ in 0..4 {
        client
            .get(format!("https://localhost:{}/", s.https.port()))
            .send()
            .unwrap();
    }
    down.stop();
    let json_url = format!("http://{}/stats?format=json", s.stats);
    let json =
        || -> serde_json::Value { http_client().get(&json_url).send().unwrap().json().unwrap() };
    let dead_down = wait_for(Duration::from_secs(3), || {
        json()["backends"][0]["servers"][1]["status"] == "DOWN"
    });
    assert!(dead_down.is_some());
    let snapshot = json();
    let servers = &snapshot["backends"][0]["servers"];
    assert_eq!(servers[0]["name"], "alive");
    assert_eq!(servers[0]["status"], "UP");
    assert_eq!(servers[0]["last_check"], "L7OK");
    assert_eq!(servers[1]["last_check"], "L4CON");
    assert_eq!(servers[0]["requests_total"], 2);
    assert_eq!(servers[0]["responses"]["success"], 2);
    assert_eq!(snapshot["listeners"][0]["name"], "https");
    assert_eq!(snapshot["listeners"][0]["requests_total"], 4);

    let stats_url = format!("http://{}/stats", s.stats);
    let page = http_client()
        .get(&stats_url)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{page}"
    );

    let dom = chromium(&["--dump-dom", &stats_url]);
    assert!(dom.contains("Backend app (1 of 2 up)"), "{dom}");
    let row = |name: &str| {
        let start = dom.find(&format!("data-server=\"{name}\"")).unwrap();
        dom[start..start + dom[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(row("alive").contains(">UP "), "{}", row("alive"));
    assert!(row("dead").contains(">DOWN "), "{}", row("dead"));
    assert!(dom.contains("class=\"server down\""));

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/stats-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1400,700",
        &stats_url,
    ]);
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 1000)
        .unwrap_or(false));
}

/// Run headless Chromium with `args`; its standard output.
fn chromium(args: &[&str]) -> String {
    let profile = workdir();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium (Debian package chromium; `make test` installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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

#[test]
fn access_log_in_a_missing_directory_is_refused_by_the_check() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"127.0.0.1:1\"\n    redirect_https: {{}}\nbackends: {{}}\naccess_log: {{ path: /nonexistent/dir/access.log }}\n",
        server_section(dir.path())
    );
    let (code, out) = check(dir.path(), &yaml);
    assert_ne!(code, 0);
    assert!(
        out.contains("access_log.path: cannot open /nonexistent/dir/access.log"),
        "{out}"
    );
    let _ = accepting;
}
