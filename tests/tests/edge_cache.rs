//! The `cache` hook through the real binary, against a real origin that counts what reaches
//! it: hit and miss (`X-Cache`, counters), HEAD from a GET object, 304s, `default_ttl` on a
//! route, what must not be stored (no-store, private, Set-Cookie, Authorization, too large),
//! Vary, stampede protection (100 concurrent misses, one origin request), purge (PURGE from
//! `trusted_proxies`, the admin socket) and the memory bound under 10,000 distinct URLs.

#[path = "edge/cache_edge.rs"]
mod cache_edge;
#[path = "edge/cache_origin.rs"]
mod cache_origin;

use cache_edge::{edge, edge_with, fetch, x_cache};
use cache_origin::{CacheOrigin, LAST_MODIFIED};
use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{admin, check, workdir, Gateway};
use gateway_tests::pki::Pki;
use gateway_tests::{
    accepting, free_addr, http_client, https_client, https_http1_client, wait_for,
};
use reqwest::blocking::Client;
use std::time::Duration;

#[test]
fn hits_misses_head_304_default_ttl_and_the_counters() {
    let edge = edge("max_bytes: 1MiB");
    let target = "/page?cc=max-age=60&etag=v1";
    let (first, body) = fetch(&edge, target, &[]);
    assert_eq!(first, "MISS");
    let (second, again) = fetch(&edge, target, &[]);
    assert_eq!((second.as_str(), again.as_str()), ("HIT", body.as_str()));
    assert_eq!(edge.origin.count(target), 1);

    // HEAD is answered from the GET object; a HEAD miss is fetched with GET and fills it.
    let head = edge.send(&edge.client, "HEAD", target, &[]);
    assert_eq!((head.status().as_u16(), x_cache(&head)), (200, "HIT"));
    let length = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(length, body.len().to_string());
    assert_eq!(head.bytes().unwrap().len(), 0);
    let fresh = "/head-first?cc=max-age=60";
    let head = edge.send(&edge.client, "HEAD", fresh, &[]);
    assert_eq!((head.status().as_u16(), x_cache(&head)), (200, "MISS"));
    assert_eq!(edge.origin.seen(fresh)[0].method, "GET");
    assert_eq!(fetch(&edge, fresh, &[]).0, "HIT");
    assert_eq!(edge.origin.count(fresh), 1);

    // Conditional requests: 304 from the cache when the validator matches.
    for condition in [
        ("if-none-match", "\"v1\""),
        ("if-modified-since", LAST_MODIFIED),
    ] {
        let resp = edge.get(target, &[condition]);
        assert_eq!((resp.status().as_u16(), x_cache(&resp)), (304, "HIT"));
        assert_eq!(resp.bytes().unwrap().len(), 0);
    }
    let resp = edge.get(target, &[("if-none-match", "\"v2\"")]);
    assert_eq!(resp.status(), 200);
    assert_eq!(edge.origin.count(target), 1, "304s came from the cache");
    // A conditional miss is filled with an unconditional request, then answered 304.
    let conditional = "/conditional?cc=max-age=60&etag=v7";
    let resp = edge.get(conditional, &[("if-none-match", "\"v7\"")]);
    assert_eq!((resp.status().as_u16(), x_cache(&resp)), (304, "MISS"));
    let seen = &edge.origin.seen(conditional)[0];
    assert!(seen.headers.iter().all(|(name, _)| name != "if-none-match"));
    assert_eq!(fetch(&edge, conditional, &[]).0, "HIT");

    // `no-cache`: stored, but revalidated each time; the origin's 304 keeps the object.
    let revalidated = "/revalidated?cc=no-cache&etag=v3";
    let (_, stored) = fetch(&edge, revalidated, &[]);
    let (_, again) = fetch(&edge, revalidated, &[]);
    assert_eq!(again, stored);
    let seen = edge.origin.seen(revalidated);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v3\""));

    // Expires is a freshness too; without any, nothing is stored unless default_ttl says so.
    let expires = "/expires?expires=future";
    fetch(&edge, expires, &[]);
    assert_eq!(fetch(&edge, expires, &[]).0, "HIT");
    let silent = "/silent";
    fetch(&edge, silent, &[]);
    assert_eq!(fetch(&edge, silent, &[]).0, "MISS");
    assert_eq!(edge.origin.count(silent), 2);
    let ttl = "/ttl/silent";
    fetch(&edge, ttl, &[]);
    assert_eq!(
        fetch(&edge, ttl, &[]).0,
        "HIT",
        "the route's cache has default_ttl"
    );
    assert_eq!(edge.origin.count(ttl), 1);

    let hits = edge.metric("gateway_cache_requests_total", &[("result", "hit")]);
    let misses = edge.metric("gateway_cache_requests_total", &[("result", "miss")]);
    assert_eq!((hits, misses), (9.0, 9.0));
    assert!(edge.metric("gateway_cache_objects", &[]) >= 5.0);
    assert!(edge.metric("gateway_cache_bytes", &[]) > 0.0);
}

#[test]
fn http2_and_http1_share_one_object() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = CacheOrigin::start();
    let https = free_addr();
    let app = Backend::of(&[]).server("o", origin.addr);
    let _gateway = Gateway::start_tls(dir.path(), &pki, https, app, |config| {
        config.with_listener(0, |l| l.hook("{ kind: cache }"))
    });
    let names = [("localhost", https)];
    let url = format!("https://localhost:{}/both?cc=max-age=60", https.port());
    let mut bodies = Vec::new();
    let (h1, h2) = (reqwest::Version::HTTP_11, reqwest::Version::HTTP_2);
    for (client, version, expected) in [
        (https_client(&pki, &names), h2, "MISS"),
        (https_http1_client(&pki, &names), h1, "HIT"),
        (https_client(&pki, &names), h2, "HIT"),
    ] {
        let resp = client.get(&url).send().unwrap();
        assert_eq!((resp.version(), x_cache(&resp)), (version, expected));
        bodies.push(resp.text().unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]));
    assert_eq!(origin.count("/both?cc=max-age=60"), 1);
}

#[test]
fn what_must_not_be_stored_is_not() {
    let edge = edge("max_bytes: 1MiB, max_object_bytes: 64k");
    let twice = |target: &str, headers: &[(&str, &str)]| {
        let first = fetch(&edge, target, headers);
        let second = fetch(&edge, target, headers);
        (first, second, edge.origin.count(target))
    };
    for target in [
        "/no-store?cc=no-store,max-age=60",
        "/private?cc=private,max-age=60",
        "/cookie?cc=max-age=60&cookie=session=1",
        "/large?cc=max-age=60&size=100000",
        "/large-chunked?cc=max-age=60&size=100000&chunked=1",
    ] {
        let ((_, first), (cache, second), count) = twice(target, &[]);
        assert_eq!((cache.as_str(), count), ("MISS", 2), "{target}");
        assert_ne!(first, second, "{target}");
    }
    // Served whole, even though not stored.
    let (_, large) = fetch(
        &edge,
        "/large-chunked?cc=max-age=60&size=100000&chunked=1",
        &[],
    );
    assert_eq!(large.len(), 100_000);

    // A public response is stored even with a cookie, and the stored copy has none.
    let public = "/public-cookie?cc=public,max-age=60&cookie=session=2";
    let first = edge.get(public, &[]);
    assert_eq!(first.headers()["set-cookie"], "session=2");
    let second = edge.get(public, &[]);
    assert_eq!(x_cache(&second), "HIT");
    assert!(second.headers().get("set-cookie").is_none());

    // Authorization: only a response that allows it is stored.
    let auth = [("authorization", "Bearer secret")];
    let ((_, _), (cache, _), count) = twice("/auth?cc=max-age=60", &auth);
    assert_eq!((cache.as_str(), count), ("MISS", 2));
    let ((_, _), (cache, _), count) = twice("/auth-public?cc=public,max-age=60", &auth);
    assert_eq!((cache.as_str(), count), ("HIT", 1));
}

#[test]
fn compression_applies_to_hits_as_to_misses() {
    let hooks = ["{ kind: compression, min_bytes: 10 }", "{ kind: cache }"];
    let edge = edge_with(&hooks.map(String::from));
    let target = "/compressible?cc=max-age=60&size=5000";
    for expected in ["MISS", "HIT"] {
        let resp = edge.get(target, &[("accept-encoding", "gzip")]);
        assert_eq!(x_cache(&resp), expected);
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        let mut body = Vec::new();
        let wire = resp.bytes().unwrap();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&wire[..]), &mut body)
            .unwrap();
        assert_eq!(body.len(), 5000);
        assert!(body.starts_with(b"response 0 to /compressible"));
    }
    let (cache, body) = fetch(&edge, target, &[]);
    assert_eq!((cache.as_str(), body.len()), ("HIT", 5000));
    assert_eq!(edge.origin.count(target), 1);
}

#[test]
fn vary_keeps_one_object_per_value_of_the_listed_headers() {
    let edge = edge("max_bytes: 1MiB");
    let target = "/vary?cc=max-age=60&vary=Accept-Language";
    let (_, en) = fetch(&edge, target, &[("accept-language", "en")]);
    let (_, fr) = fetch(&edge, target, &[("accept-language", "fr")]);
    assert_ne!(en, fr);
    assert_eq!(
        fetch(&edge, target, &[("accept-language", "en")]),
        ("HIT".to_string(), en)
    );
    assert_eq!(
        fetch(&edge, target, &[("accept-language", "fr")]),
        ("HIT".to_string(), fr)
    );
    assert_eq!(fetch(&edge, target, &[]).0, "MISS");
    assert_eq!(edge.origin.count(target), 3);
    // Vary: * is never stored.
    let star = "/vary-star?cc=max-age=60&vary=*";
    fetch(&edge, star, &[]);
    assert_eq!(fetch(&edge, star, &[]).0, "MISS");
}

#[test]
fn one_hundred_concurrent_misses_make_one_origin_request() {
    let edge = edge("max_bytes: 1MiB");
    let target = "/stampede?cc=max-age=60&delay=1000";
    let bodies: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    let resp = edge.send(&http_client(), "GET", target, &[]);
                    assert_eq!(resp.status(), 200);
                    resp.text().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(edge.origin.count(target), 1);
    assert!(bodies.iter().all(|b| b == &bodies[0]));
}

#[test]
fn purge_from_trusted_proxies_and_the_admin_socket() {
    let edge = edge("max_bytes: 1MiB");
    let trusted = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let target = "/purged?cc=max-age=60";
    fetch(&edge, target, &[]);
    assert_eq!(fetch(&edge, target, &[]).0, "HIT");

    // From anyone else, PURGE is refused and the object stays.
    let refused = edge.send(&edge.client, "PURGE", target, &[]);
    assert_eq!(refused.status(), 403);
    assert_eq!(fetch(&edge, target, &[]).0, "HIT");
    let purged = edge.send(&trusted, "PURGE", target, &[]);
    assert_eq!(purged.status(), 200);
    let again = edge.send(&trusted, "PURGE", target, &[]);
    assert_eq!(again.status(), 404);
    assert_eq!(fetch(&edge, target, &[]).0, "MISS");
    assert_eq!(edge.origin.count(target), 2);

    // `cache purge <path>` drops the path with any query string, in every cache.
    for target in [
        "/admin?cc=max-age=60",
        "/admin?cc=max-age=60&v=2",
        "/kept?cc=max-age=60",
    ] {
        fetch(&edge, target, &[]);
        assert_eq!(fetch(&edge, target, &[]).0, "HIT");
    }
    assert_eq!(admin(&edge.socket, "cache purge /admin"), "2\n");
    assert_eq!(fetch(&edge, "/admin?cc=max-age=60", &[]).0, "MISS");
    assert_eq!(fetch(&edge, "/kept?cc=max-age=60", &[]).0, "HIT");
    assert_eq!(edge.metric("gateway_cache_purges_total", &[]), 3.0);
}

#[test]
fn a_reload_starts_with_empty_caches_and_frees_the_old_objects() {
    let edge = edge("max_bytes: 1MiB");
    let before = http_client();
    for i in 0..50 {
        let target = format!("/before/{i}?cc=max-age=600&size=10000");
        assert_eq!(edge.send(&before, "GET", &target, &[]).status(), 200);
    }
    assert_eq!(edge.metric("gateway_cache_objects", &[]), 50.0);
    edge.gateway.signal("HUP");
    edge.gateway.wait_log("applied", 1, Duration::from_secs(20));
    // A new connection is served by the new state, whose cache is empty.
    let after = http_client();
    let target = "/before/0?cc=max-age=600&size=10000";
    assert_eq!(x_cache(&edge.send(&after, "GET", target, &[])), "MISS");
    // The old objects go with the old state's last connection.
    drop(before);
    let freed = wait_for(Duration::from_secs(20), || {
        edge.metric("gateway_cache_objects", &[]) == 1.0
    });
    assert!(
        freed.is_some(),
        "{}",
        edge.metric("gateway_cache_objects", &[])
    );
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn ten_thousand_distinct_urls_stay_within_max_bytes() {
    let edge = edge("max_bytes: 2MiB");
    // Warm up the allocator and the connection pools before the baseline.
    for i in 0..200 {
        fetch(&edge, &format!("/warm/{i}?cc=max-age=600&size=10000"), &[]);
    }
    let before = rss_kib(edge.gateway.pid());
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let edge = &edge;
            scope.spawn(move || {
                let client = http_client();
                for i in (worker..10_000).step_by(4) {
                    let target = format!("/flood/{i}?cc=max-age=600&size=10000");
                    assert_eq!(edge.send(&client, "GET", &target, &[]).status(), 200);
                }
            });
        }
    });
    let after = rss_kib(edge.gateway.pid());
    let held = edge.metric("gateway_cache_bytes", &[]);
    let evictions = edge.metric("gateway_cache_evictions_total", &[]);
    println!("RSS {before} KiB -> {after} KiB, held {held} bytes, {evictions} evictions");
    // 10,000 objects of 10 kB would be 100 MB; the cache holds at most 2 MiB of them.
    assert!(held <= (2 << 20) as f64, "held {held}");
    assert!(evictions >= 9_000.0, "evictions {evictions}");
    assert!(
        after < before + 40 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert!(accepting(edge.web));
}

#[test]
fn bad_cache_settings_are_refused_with_their_key_path() {
    let dir = workdir();
    let listener = Listener::plain("web", free_addr())
        .backend("app")
        .hook("{ kind: cache, max_bytes: 2G }")
        .route("{ path_prefix: /x, backend: app, hooks: [ { kind: cache, default_ttl: soon } ] }")
        .hook("{ kind: cache, max_bytes: 1k, max_object_bytes: 4k }");
    let config = Config::new(dir.path())
        .listener(listener)
        .backend("app", Backend::of(&[]).server("o", "127.0.0.1:9"));
    let (code, output) = check(dir.path(), &config.yaml());
    assert_ne!(code, 0);
    for problem in [
        "listeners[0].hooks[0]: cache: max_bytes: 2147483648 is not within 1..=1GiB",
        "listeners[0].hooks[1]: cache: max_object_bytes: 4096 is not within 1..=max_bytes (1024)",
        "listeners[0].routes[0].hooks[0]: cache: default_ttl: invalid duration \"soon\"",
    ] {
        assert!(output.contains(problem), "{problem} not in {output}");
    }
}
