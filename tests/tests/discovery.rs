//! `backends.<name>.discovery`: a real `dnsmasq` serves the origins' addresses; an origin
//! added to its hosts file takes requests without a gateway reload, one removed stops getting
//! them, and with dnsmasq stopped the last set is kept and the failures are counted. A short
//! TTL brings the next resolution forward (not below 1 s); servers joining later ramp up over
//! `discovery.slowstart`.

use gateway_tests::dnsmasq::Dnsmasq;
use gateway_tests::gateway::{check, server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, metric_value, scrape, wait_for};
use std::net::SocketAddr;
use std::time::Duration;

/// Send `count` requests; the statuses.
fn send(addr: SocketAddr, count: usize) -> Vec<u16> {
    let client = http_client();
    (0..count)
        .map(|_| {
            client
                .get(format!("http://{addr}/"))
                .send()
                .map_or(0, |r| r.status().as_u16())
        })
        .collect()
}

#[test]
#[ignore = "needs dnsmasq (make test installs it)"]
fn servers_follow_dns_without_a_reload() {
    let dir = workdir();
    let port = free_addr().port();
    let two = Origin::start_on("two", SocketAddr::from(([127, 0, 0, 2], port)));
    let three = Origin::start_on("three", SocketAddr::from(([127, 0, 0, 3], port)));
    let dns = Dnsmasq::start(dir.path(), "127.0.0.2 app.test\n");
    let mut dns = dns;
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n\
         backends:\n  app:\n    discovery:\n      dns: app.test\n      record: a\n      \
         port: {port}\n      interval: 200ms\n      resolvers: [\"{}\"]\n\
         stats: {{ address: \"{stats}\" }}\n",
        server_section(dir.path()),
        dns.addr
    );
    let gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    let pid = gateway.pid();

    // The first resolution brings 127.0.0.2 in.
    let first = wait_for(Duration::from_secs(10), || send(addr, 1) == [200]);
    assert!(
        first.is_some(),
        "no server discovered; log:\n{}",
        gateway.log()
    );
    assert!(send(addr, 10).iter().all(|s| *s == 200));
    assert_eq!(three.hits(), 0);

    // Added to DNS: 127.0.0.3 takes requests, no reload.
    dns.set_hosts("127.0.0.2 app.test\n127.0.0.3 app.test\n");
    let added = wait_for(Duration::from_secs(10), || {
        send(addr, 4);
        three.hits() > 0
    });
    assert!(
        added.is_some(),
        "added server got nothing; log:\n{}",
        gateway.log()
    );
    gateway.wait_log(
        &format!("servers now app-127.0.0.2:{port}, app-127.0.0.3:{port}"),
        1,
        Duration::from_secs(5),
    );

    // Removed from DNS while serving slow requests: it stops getting new ones, and the ones
    // it has finish.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                http_client()
                    .get(format!("http://{addr}/slow?ms=3000"))
                    .send()
                    .map_or(0, |r| r.status().as_u16())
            })
        })
        .collect();
    let in_flight = wait_for(Duration::from_secs(5), || {
        two.requests().iter().any(|r| r.path.starts_with("/slow"))
    });
    assert!(in_flight.is_some(), "no slow request reached 127.0.0.2");
    dns.set_hosts("127.0.0.3 app.test\n");
    gateway.wait_log(
        &format!("servers now app-127.0.0.3:{port}"),
        1,
        Duration::from_secs(10),
    );
    let answered = two.answered();
    let statuses: Vec<u16> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses, [200; 4]);
    assert!(
        two.answered() > answered,
        "the removed server's requests did not finish"
    );
    let before = two.hits();
    assert!(send(addr, 20).iter().all(|s| *s == 200));
    assert_eq!(two.hits(), before, "a removed server still got requests");

    // DNS down: the last set stays and the failures are counted.
    dns.stop();
    let errors = || {
        metric_value(
            &scrape(stats),
            "gateway_discovery_errors_total",
            &[("backend", "app")],
        )
        .unwrap_or(0.0)
    };
    assert!(wait_for(Duration::from_secs(15), || errors() >= 2.0).is_some());
    let served = three.hits();
    assert!(send(addr, 10).iter().all(|s| *s == 200));
    assert_eq!(three.hits(), served + 10);
    // /stats shows the resolutions: the last good one's age and the failures.
    let json: serde_json::Value = http_client()
        .get(format!("http://{stats}/stats?format=json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let app = json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "app")
        .unwrap();
    assert_eq!(app["discovery"]["dns"], "app.test");
    assert!(app["discovery"]["errors"].as_u64().unwrap() >= 2, "{app}");
    assert!(
        app["discovery"]["last_good_seconds"].as_f64().is_some(),
        "{app}"
    );
    let page = http_client()
        .get(format!("http://{stats}/stats"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("DNS app.test: last good"), "{page}");
    assert_eq!(gateway.pid(), pid);
    assert!(
        !gateway.log().contains("SIGHUP"),
        "the gateway was reloaded"
    );
}

#[test]
fn discovery_settings_are_checked() {
    let dir = workdir();
    let addr = free_addr();
    let config = |discovery: &str| {
        format!(
            "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n\
             backends:\n  app:\n    discovery: {discovery}\n",
            server_section(dir.path())
        )
    };
    let cases = [
        (
            "{ dns: \"bad name\", port: 80 }",
            "backends.app.discovery.dns: invalid DNS name",
        ),
        (
            "{ dns: app.test, record: mx, port: 80 }",
            "backends.app.discovery.record: unsupported record",
        ),
        (
            "{ dns: app.test }",
            "backends.app.discovery.port: required with record: a or aaaa",
        ),
        (
            "{ dns: app.test, record: srv, port: 80 }",
            "backends.app.discovery.port: not used with record: srv",
        ),
        (
            "{ dns: app.test, port: 80, interval: 10ms }",
            "backends.app.discovery.interval: must be between",
        ),
        (
            "{ dns: app.test, port: 80, resolvers: [\"127.0.0.1\"] }",
            "backends.app.discovery.resolvers[0]: invalid socket address",
        ),
        (
            "{ dns: app.test, port: 80, slowstart: soon }",
            "backends.app.discovery.slowstart: invalid duration",
        ),
    ];
    for (discovery, problem) in cases {
        let (code, out) = check(dir.path(), &config(discovery));
        assert_ne!(code, 0, "{discovery} accepted");
        assert!(out.contains(problem), "{discovery}: {out}");
    }
    let good =
        "{ dns: _http._tcp.app.test, record: srv, interval: 2s, resolvers: [\"127.0.0.1:5353\"] }";
    let (code, out) = check(dir.path(), &config(good));
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(
        dir.path(),
        &format!(
            "{}\n    servers: []\n",
            config("{ dns: app.test, port: 80 }").trim_end()
        ),
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
#[ignore = "needs dnsmasq (make test installs it)"]
fn discovered_servers_join_static_ones_once_their_checks_pass() {
    let dir = workdir();
    let port = free_addr().port();
    let fixed = Origin::start("fixed");
    let four = Origin::start_on("four", SocketAddr::from(([127, 0, 0, 4], port)));
    four.set_sick(true);
    let dns = Dnsmasq::start(dir.path(), "127.0.0.4 checked.test\n");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n\
         backends:\n  app:\n    servers:\n      - {{ name: fixed, address: \"{}\" }}\n    \
         health_check: {{ path: /health, interval: 1s, timeout: 1s, rise: 2, fall: 3 }}\n    \
         discovery: {{ dns: checked.test, port: {port}, interval: 200ms, resolvers: [\"{}\"] }}\n\
         stats: {{ address: \"{stats}\" }}\n",
        server_section(dir.path()),
        fixed.addr,
        dns.addr
    );
    let gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    gateway.wait_log(
        &format!("servers now app-127.0.0.4:{port}"),
        1,
        Duration::from_secs(10),
    );

    // Discovered but not yet up (it would take 3 failed checks to take an up server down):
    // never sent a request, while it is checked.
    assert!(send(addr, 20).iter().all(|s| *s == 200));
    assert_eq!(four.hits(), 0, "a server not yet up got requests");
    assert!(wait_for(Duration::from_secs(10), || four.health_checks() >= 2).is_some());
    assert!(send(addr, 20).iter().all(|s| *s == 200));
    assert_eq!(four.hits(), 0, "a server not yet up got requests");
    assert!(fixed.hits() >= 40);

    // Healthy: it joins the static server.
    four.set_sick(false);
    let joined = wait_for(Duration::from_secs(10), || {
        send(addr, 4);
        four.hits() > 0
    });
    assert!(
        joined.is_some(),
        "the discovered server never took requests"
    );
}

#[test]
#[ignore = "needs dnsmasq (make test installs it)"]
fn srv_records_give_address_and_port() {
    let dir = workdir();
    let (port5, port6) = (free_addr().port(), free_addr().port());
    let five = Origin::start_on("five", SocketAddr::from(([127, 0, 0, 5], port5)));
    let six = Origin::start_on("six", SocketAddr::from(([127, 0, 0, 6], port6)));
    let options = [
        format!("--srv-host=_http._tcp.svc.test,five.test,{port5},0,1"),
        format!("--srv-host=_http._tcp.svc.test,six.test,{port6},0,1"),
    ];
    let hosts = "127.0.0.5 five.test\n127.0.0.6 six.test\n";
    let dns = Dnsmasq::start_with(dir.path(), hosts, 1, &options);
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n\
         backends:\n  app:\n    discovery: {{ dns: _http._tcp.svc.test, record: srv, \
         interval: 200ms, resolvers: [\"{}\"] }}\n\
         stats: {{ address: \"{stats}\" }}\n",
        server_section(dir.path()),
        dns.addr
    );
    let gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    gateway.wait_log(
        &format!("servers now app-127.0.0.5:{port5}, app-127.0.0.6:{port6}"),
        1,
        Duration::from_secs(10),
    );
    assert!(send(addr, 10).iter().all(|s| *s == 200));
    assert_eq!((five.hits(), six.hits()), (5, 5));
}

/// A gateway with plain listener `web` in front of backend `app`, discovered from `dns`
/// (`name`, A records on `port`) with `more` discovery settings; with a stats listener.
fn discovering(
    dir: &std::path::Path,
    dns: &Dnsmasq,
    name: &str,
    port: u16,
    more: &str,
) -> (SocketAddr, SocketAddr, Gateway) {
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n\
         backends:\n  app:\n    discovery: {{ dns: {name}, port: {port}, \
         resolvers: [\"{}\"]{more} }}\n\
         stats: {{ address: \"{stats}\" }}\n",
        server_section(dir),
        dns.addr
    );
    let gateway = Gateway::start(dir, &yaml, &[addr, stats]);
    (addr, stats, gateway)
}

#[test]
#[ignore = "needs dnsmasq (make test installs it)"]
fn a_short_ttl_resolves_again_before_the_interval_but_not_within_a_second() {
    let dir = workdir();
    let port = free_addr().port();
    let seven = Origin::start_on("seven", SocketAddr::from(([127, 0, 0, 7], port)));
    let eight = Origin::start_on("eight", SocketAddr::from(([127, 0, 0, 8], port)));
    // TTL 0 (Consul's default); the interval alone would resolve once a minute.
    let dns = Dnsmasq::start_with(dir.path(), "127.0.0.7 ttl.test\n", 0, &[]);
    let (addr, _stats, gateway) =
        discovering(dir.path(), &dns, "ttl.test", port, ", interval: 60s");
    gateway.wait_log(
        &format!("servers now app-127.0.0.7:{port}"),
        1,
        Duration::from_secs(10),
    );
    let start = std::time::Instant::now();
    let asked_before = dns.queries("ttl.test");
    dns.set_hosts("127.0.0.7 ttl.test\n127.0.0.8 ttl.test\n");
    let added = wait_for(Duration::from_secs(10), || {
        send(addr, 2);
        eight.hits() > 0
    });
    assert!(
        added.is_some(),
        "the TTL did not bring a resolution forward; log:\n{}",
        gateway.log()
    );
    // Keep asking for a while: the 1 s floor holds (the loop looks every 100 ms).
    assert!(wait_for(Duration::from_secs(10), || dns.queries("ttl.test")
        >= asked_before + 4)
    .is_some());
    let asked = dns.queries("ttl.test") - asked_before;
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        (asked as f64) <= seconds + 2.0,
        "{asked} resolutions in {seconds:.1}s: more than one a second"
    );
    assert!(seven.hits() > 0);
}

#[test]
#[ignore = "needs dnsmasq (make test installs it)"]
fn servers_joining_later_ramp_up_over_discovery_slowstart() {
    let dir = workdir();
    let port = free_addr().port();
    let nine = Origin::start_on("nine", SocketAddr::from(([127, 0, 0, 9], port)));
    let ten = Origin::start_on("ten", SocketAddr::from(([127, 0, 0, 10], port)));
    let eleven = Origin::start_on("eleven", SocketAddr::from(([127, 0, 0, 11], port)));
    let dns = Dnsmasq::start(dir.path(), "127.0.0.9 ramp.test\n127.0.0.10 ramp.test\n");
    let more = ", interval: 200ms, slowstart: 120s";
    let (addr, _stats, gateway) = discovering(dir.path(), &dns, "ramp.test", port, more);
    gateway.wait_log(
        &format!("servers now app-127.0.0.9:{port}, app-127.0.0.10:{port}"),
        1,
        Duration::from_secs(10),
    );
    // The first servers found are at full weight, as at start: an even split.
    assert!(send(addr, 20).iter().all(|s| *s == 200));
    assert_eq!((nine.hits(), ten.hits()), (10, 10));

    // One joining later starts at a small share of its weight.
    dns.set_hosts("127.0.0.9 ramp.test\n127.0.0.10 ramp.test\n127.0.0.11 ramp.test\n");
    gateway.wait_log(
        &format!("servers now app-127.0.0.9:{port}, app-127.0.0.10:{port}, app-127.0.0.11:{port}"),
        1,
        Duration::from_secs(10),
    );
    assert!(send(addr, 400).iter().all(|s| *s == 200));
    let new = eleven.hits();
    assert!(
        (1..=60).contains(&new),
        "the new server got {new} of 400 requests (full weight: about 133)"
    );
    // Another change rebuilds the backend: the ramp goes on (neither restarts nor ends).
    dns.set_hosts("127.0.0.9 ramp.test\n127.0.0.11 ramp.test\n");
    gateway.wait_log(
        &format!("servers now app-127.0.0.9:{port}, app-127.0.0.11:{port}"),
        1,
        Duration::from_secs(10),
    );
    let served = eleven.hits();
    assert!(send(addr, 200).iter().all(|s| *s == 200));
    let later = eleven.hits() - served;
    assert!(
        later <= 50,
        "{later} of 200 (full weight: 100): the ramp ended early"
    );
}
