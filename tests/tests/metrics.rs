//! Metrics through the real binary: the values on `/metrics` follow the traffic (requests by
//! code, servers, checks, in-flight requests, bytes, handshakes, connections), connect errors
//! and retries are counted per server, and the full metric set passes `promtool check metrics`
//! and is scraped by a real Prometheus.

use gateway_tests::config::Backend;
use gateway_tests::gateway::workdir;
use gateway_tests::https_stats::{setup, value};
use gateway_tests::origin::Origin;
use gateway_tests::{
    free_addr, http_client, https_client, promtool_check, scrape, tls_stream, wait_for,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
