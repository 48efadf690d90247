//! The request path through the real binary: TLS termination, HTTP/2, SNI, round robin,
//! forwarded headers, health checks, retries and timeouts.

use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::{common_name, Pki};
use gateway_tests::{free_addr, https_client, https_http1_client, wait_for};
use reqwest::tls::TlsInfo;
use std::collections::HashMap;
use std::time::Duration;

fn body_counts(client: &reqwest::blocking::Client, url: &str, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let resp = client.get(url).send().unwrap();
        assert_eq!(resp.status(), 200);
        *counts
            .entry(resp.text().unwrap().trim().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// Which origin answered each of `n` requests, whatever the status.
fn answered_by(client: &reqwest::blocking::Client, url: &str, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let body = client.get(url).send().unwrap().text().unwrap();
        *counts.entry(body.trim().to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn round_robin_spreads_evenly_over_three_servers() {
    let dir = workdir();
    let pki = Pki::new();
    let origins = [
        Origin::start("n1"),
        Origin::start("n2"),
        Origin::start("n3"),
    ];
    let refs: Vec<&Origin> = origins.iter().collect();
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&refs), |c| c);
    let client = https_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}/", addr.port());
    let counts = body_counts(&client, &url, 300);
    for origin in &origins {
        let served = counts.get(&origin.name).copied().unwrap_or(0);
        assert!((98..=102).contains(&served), "{counts:?}");
        assert_eq!(origin.hits(), served, "the origin saw what the client saw");
    }
}

#[test]
fn weights_set_each_server_share() {
    let dir = workdir();
    let pki = Pki::new();
    let (heavy, light) = (Origin::start("heavy"), Origin::start("light"));
    let servers = Backend::default()
        .weighted_server("heavy", heavy.addr, 3)
        .weighted_server("light", light.addr, 1);
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, servers, |c| c);
    let client = https_client(&pki, &[("localhost", addr)]);
    let counts = body_counts(&client, &format!("https://localhost:{}/", addr.port()), 300);
    assert!((223..=227).contains(&counts["heavy"]), "{counts:?}");
    assert!((73..=77).contains(&counts["light"]), "{counts:?}");
}

#[test]
fn tls_offers_http2_and_http1_by_alpn() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| c);
    let url = format!("https://localhost:{}/h2", addr.port());
    let h2 = https_client(&pki, &[("localhost", addr)])
        .get(&url)
        .send()
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.status(), 200);
    assert_eq!(h2.text().unwrap(), "n1\n");

    let h1_client = https_http1_client(&pki, &[("localhost", addr)]);
    let h1 = h1_client.get(&url).send().unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.status(), 200);
    let seen = origin.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.path == "/h2" && r.method == "GET"));
}

#[test]
fn sni_selects_the_matching_certificate_and_falls_back_to_the_first() {
    let dir = workdir();
    let pki = Pki::new();
    let a = pki.leaf(dir.path(), &["a.test"]);
    let b = pki.leaf(dir.path(), &["b.test", "*.b.test"]);
    let origin = Origin::start("n1");
    let addr = free_addr();
    let certificates = [a.display().to_string(), b.display().to_string()];
    let yaml = Config::new(dir.path())
        .listener(
            Listener::plain("https", addr)
                .set("tls.certificates", certificates.to_vec())
                .backend("app"),
        )
        .backend("app", Backend::of(&[&origin]))
        .yaml();
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let names = [
        ("a.test", addr),
        ("b.test", addr),
        ("www.b.test", addr),
        ("c.test", addr),
    ];
    let client = https_client(&pki, &names);
    let presented = |host: &str| {
        let resp = client
            .get(format!("https://{host}:{}/", addr.port()))
            .send();
        resp.map(|r| {
            let info = r.extensions().get::<TlsInfo>().unwrap();
            common_name(info.peer_certificate().unwrap())
        })
    };
    assert_eq!(presented("a.test").unwrap(), "a.test");
    assert_eq!(presented("b.test").unwrap(), "b.test");
    assert_eq!(presented("www.b.test").unwrap(), "b.test");
    // An unknown name gets the default (first) certificate, which the client rejects.
    let unknown = presented("c.test").unwrap_err();
    assert!(
        format!("{unknown:?}").contains("certificate"),
        "{unknown:?}"
    );
}

#[test]
fn origin_receives_forwarded_headers_and_never_a_spoofed_address() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| c);
    // Over HTTP/2 (no header case kept) and HTTP/1.1 (case kept): two ways of setting them.
    let url = format!("https://localhost:{}/fw?q=1", addr.port());
    let h2 = https_client(&pki, &[("localhost", addr)]);
    let h1 = https_http1_client(&pki, &[("localhost", addr)]);
    for (client, version) in [
        (h2, reqwest::Version::HTTP_2),
        (h1, reqwest::Version::HTTP_11),
    ] {
        let resp = client
            .get(&url)
            .header("X-Forwarded-For", "6.6.6.6")
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Port", "1")
            .send()
            .unwrap();
        assert_eq!(resp.version(), version);
    }
    let seen = origin.requests();
    assert_eq!(seen.len(), 2);
    for seen in &seen {
        assert_eq!(seen.path, "/fw?q=1");
        assert_eq!(seen.header_values("x-forwarded-for"), ["127.0.0.1"]);
        assert_eq!(seen.header_values("x-forwarded-proto"), ["https"]);
        assert_eq!(
            seen.header_values("x-forwarded-port"),
            [addr.port().to_string()]
        );
        assert_eq!(
            seen.header_values("host"),
            [format!("localhost:{}", addr.port())]
        );
    }
}

#[test]
fn trusted_proxy_chain_is_kept_and_appended() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| {
        c.set("trusted_proxies", vec!["127.0.0.0/8"])
    });
    let client = https_client(&pki, &[("localhost", addr)]);
    client
        .get(format!("https://localhost:{}/", addr.port()))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .unwrap();
    let seen = &origin.requests()[0];
    assert_eq!(
        seen.header_values("x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"]
    );
}

/// `gateway_backend_server_up{server=NAME}` as the stats listener reports it.
fn server_up(stats: std::net::SocketAddr, name: &str) -> Option<u8> {
    let text = gateway_tests::http_client()
        .get(format!("http://{stats}/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    let needle = format!("server=\"{name}\"}} ");
    text.lines()
        .filter(|l| l.starts_with("gateway_backend_server_up{"))
        .find_map(|l| {
            l.split_once(&needle)
                .and_then(|(_, v)| v.trim().parse().ok())
        })
}

/// Checks every 200 ms; down after 3 failures, up after 2 successes.
const FAST_CHECKS: &str = "{ path: /health, interval: 200ms, timeout: 100ms, rise: 2, fall: 3 }";
const FALL: usize = 3;
const RISE: usize = 2;

#[test]
fn failing_server_leaves_rotation_within_interval_times_fall_and_returns_after_rise() {
    let dir = workdir();
    let pki = Pki::new();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let app = Backend::of(&[&a, &b]).health_check(FAST_CHECKS);
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, app, |c| c);
    let client = https_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}/", addr.port());
    assert!(wait_for(Duration::from_secs(5), || b.health_checks() >= 2).is_some());

    // Timing is counted in health checks: b leaves after `fall` failed ones (one more may be
    // on its way while the client looks), not before.
    let checks_when_sick = b.health_checks();
    b.set_sick(true);
    let gone = wait_for(Duration::from_secs(5), || {
        answered_by(&client, &url, 4).get("a") == Some(&4)
    });
    assert!(gone.is_some(), "failing server still in rotation");
    let failed = b.health_checks() - checks_when_sick;
    assert!(
        (FALL..=FALL + 1).contains(&failed),
        "left rotation after {failed} failed checks"
    );
    assert_eq!(body_counts(&client, &url, 20).get("a"), Some(&20));

    let checks_when_healed = b.health_checks();
    b.set_sick(false);
    let hits_before = b.hits();
    let back = wait_for(Duration::from_secs(5), || {
        let _ = client.get(&url).send();
        b.hits() > hits_before
    });
    assert!(back.is_some(), "healed server never returned");
    let good = b.health_checks() - checks_when_healed;
    assert!(
        (RISE..=RISE + 1).contains(&good),
        "returned after {good} good checks"
    );
}

#[test]
fn killed_server_is_marked_down_within_interval_times_fall_and_up_after_rise() {
    let dir = workdir();
    let pki = Pki::new();
    let (a, mut b) = (Origin::start("a"), Origin::start("b"));
    let (addr, stats) = (free_addr(), free_addr());
    let app = Backend::of(&[&a, &b]).health_check(FAST_CHECKS);
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, app, |c| {
        c.set("stats.address", stats.to_string())
    });
    assert!(wait_for(Duration::from_secs(5), || gateway_tests::accepting(stats)).is_some());
    assert_eq!(server_up(stats, "b"), Some(1));

    // A killed server sees no check: a's checks, made in the same rounds, count the time.
    let b_addr = b.addr;
    let rounds_when_killed = a.health_checks();
    b.stop();
    let down = wait_for(Duration::from_secs(5), || server_up(stats, "b") == Some(0));
    assert!(down.is_some(), "killed server never marked down");
    let rounds = a.health_checks() - rounds_when_killed;
    assert!(
        (FALL - 1..=FALL + 2).contains(&rounds),
        "marked down after {rounds} rounds of checks"
    );
    assert_eq!(server_up(stats, "a"), Some(1));
    let client = https_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}/", addr.port());
    assert_eq!(body_counts(&client, &url, 10).get("a"), Some(&10));

    let b = Origin::start_on("b", b_addr);
    let up = wait_for(Duration::from_secs(5), || server_up(stats, "b") == Some(1));
    assert!(up.is_some(), "restarted server never marked up");
    let good = b.health_checks();
    assert!(
        (RISE..=RISE + 1).contains(&good),
        "marked up after {good} good checks"
    );
    assert_eq!(body_counts(&client, &url, 10).get("b"), Some(&5));
}

#[test]
fn all_servers_down_is_503() {
    let dir = workdir();
    let pki = Pki::new();
    let mut a = Origin::start("a");
    let app = Backend::of(&[&a])
        .health_check("{ path: /health, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, app, |c| c);
    let client = https_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}/", addr.port());
    assert_eq!(client.get(&url).send().unwrap().status(), 200);
    a.stop();
    let down = wait_for(Duration::from_secs(3), || {
        client.get(&url).send().unwrap().status() == 503
    });
    assert!(down.is_some(), "never answered 503 with every server down");
}

#[test]
fn connect_failure_is_retried_on_another_server() {
    let dir = workdir();
    let pki = Pki::new();
    let live = Origin::start("live");
    let dead = free_addr(); // nothing listens here
    let servers = Backend::default()
        .server("dead", dead)
        .server("live", live.addr);
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, servers, |c| c);
    let client = https_client(&pki, &[("localhost", addr)]);
    let counts = body_counts(&client, &format!("https://localhost:{}/", addr.port()), 20);
    assert_eq!(counts.get("live"), Some(&20));
    assert_eq!(live.hits(), 20);
}

#[test]
fn slow_origin_is_504_after_the_server_timeout() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("slow");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| {
        c.set(
            "timeouts",
            yaml("{ connect: 1s, client: 5s, server: 300ms }"),
        )
    });
    let client = https_client(&pki, &[("localhost", addr)]);
    let resp = client
        .get(format!("https://localhost:{}/slow?ms=3000", addr.port()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 504);
    // The gateway answered while the origin had not: it did not wait for it.
    assert_eq!((origin.hits(), origin.answered()), (1, 0));
    let fast = client
        .get(format!("https://localhost:{}/slow?ms=10", addr.port()))
        .send()
        .unwrap();
    assert_eq!(fast.status(), 200);
}
