//! Hooks, routes and errorfiles through the real binary (and the custom-hook example's own
//! binary): what the client got and what the origins saw.

use gateway_tests::client::{plain_exchange, send_then_read_to_close, tcp_stream};
use gateway_tests::gateway::{
    check, example_binary, plain_config, server_section, workdir, Gateway,
};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, servers_yaml};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// [`plain_config`] started.
fn gateway(
    dir: &Path,
    addr: SocketAddr,
    listener_extra: &str,
    origins: &[&Origin],
    extra: &str,
) -> Gateway {
    let yaml = plain_config(dir, addr, origins, listener_extra, extra);
    Gateway::start(dir, &yaml, &[addr])
}

fn get(url: String) -> reqwest::blocking::Response {
    http_client().get(url).send().unwrap()
}

#[test]
fn ip_filter_refuses_outside_allow_and_inside_deny() {
    let dir = workdir();
    let origin = Origin::start("app");
    let addr = free_addr();
    let hooks =
        "    hooks: [ { kind: ip_filter, allow: [\"127.0.0.0/8\"], deny: [\"127.0.0.2/32\"] } ]\n";
    let _gw = gateway(dir.path(), addr, hooks, &[&origin], "");
    assert_eq!(get(format!("http://{addr}/")).status(), 200);
    let from_denied = reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let resp = from_denied.get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        origin.hits(),
        1,
        "the refused request never reached the origin"
    );

    let dir2 = workdir();
    let addr2 = free_addr();
    let only_ten =
        "    hooks: [ { kind: ip_filter, allow: [\"10.0.0.0/8\", \"2001:db8::/32\"] } ]\n";
    let _gw2 = gateway(dir2.path(), addr2, only_ten, &[&origin], "");
    assert_eq!(get(format!("http://{addr2}/")).status(), 403);
    assert_eq!(origin.hits(), 1);
}

#[test]
fn deny_headers_and_redirect_hooks() {
    let dir = workdir();
    let origin = Origin::start("app");
    let addr = free_addr();
    let hooks = r#"    hooks:
      - { kind: deny, path_prefix: /admin, methods: [POST], status: 405 }
      - { kind: deny, header: { name: user-agent, value: "(?i)badbot" } }
      - { kind: redirect, rules: [ { path_regex: '^/user/(\d+)$', to: '/profile/$1', status: 301 } ] }
      - { kind: headers, request: { set: { X-From-Gateway: "1" }, remove: [cookie] }, response: { set: { Cache-Control: "max-age=600" }, add: { X-Served-By: gateway } } }
"#;
    let _gw = gateway(dir.path(), addr, hooks, &[&origin], "");
    let client = http_client();
    let admin = client
        .post(format!("http://{addr}/admin/x"))
        .send()
        .unwrap();
    assert_eq!(admin.status(), 405);
    assert_eq!(
        client
            .get(format!("http://{addr}/admin/x"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let bot = client
        .get(format!("http://{addr}/"))
        .header("User-Agent", "BadBot/1.0")
        .send()
        .unwrap();
    assert_eq!(bot.status(), 403);
    let moved = client.get(format!("http://{addr}/user/42")).send().unwrap();
    assert_eq!(moved.status(), 301);
    assert_eq!(moved.headers()["location"], "/profile/42");

    let ok = client
        .get(format!("http://{addr}/page"))
        .header("Cookie", "session=1")
        .send()
        .unwrap();
    assert_eq!(ok.headers()["cache-control"], "max-age=600");
    assert_eq!(ok.headers()["x-served-by"], "gateway");
    let seen = origin.requests();
    assert_eq!(
        seen.len(),
        2,
        "denied and redirected requests never reached the origin"
    );
    let page = seen.iter().find(|r| r.path == "/page").unwrap();
    assert_eq!(page.header_values("x-from-gateway"), ["1"]);
    assert!(page.header_values("cookie").is_empty());
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let dir = workdir();
    let origin = Origin::start("app");
    let addr = free_addr();
    let hooks = "    hooks: [ { kind: rate_limit, requests_per_second: 3, burst: 0 } ]\n";
    let _gw = gateway(dir.path(), addr, hooks, &[&origin], "");
    // Requests as fast as the client goes until 4 are refused: each one-second window the
    // requests touched let 3 through, no more (the clock only bounds the window count).
    let started = std::time::Instant::now();
    let mut answers: Vec<reqwest::blocking::Response> = Vec::new();
    while answers.iter().filter(|r| r.status() == 429).count() < 4 {
        assert!(answers.len() < 500, "no 4 refusals in 500 requests");
        answers.push(get(format!("http://{addr}/")));
    }
    let windows = started.elapsed().as_secs() as usize + 2;
    let limited: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    let allowed = answers.len() - limited.len();
    assert!(
        (3..=3 * windows).contains(&allowed),
        "{allowed} allowed within {windows} windows"
    );
    assert!(limited.iter().all(|r| r.headers()["retry-after"] == "1"));
    assert_eq!(origin.hits(), allowed);
}

#[test]
fn max_body_size_refuses_declared_and_streamed_bodies() {
    let dir = workdir();
    let origin = Origin::start("app");
    let addr = free_addr();
    let hooks = "    hooks: [ { kind: max_body_size, bytes: 25 } ]\n";
    let _gw = gateway(dir.path(), addr, hooks, &[&origin], "");
    let client = http_client();
    let big = client
        .post(format!("http://{addr}/"))
        .body(vec![b'x'; 26])
        .send()
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(origin.bytes_received(), 0, "the origin saw nothing of it");
    let small = client
        .post(format!("http://{addr}/"))
        .body(vec![b'x'; 25])
        .send()
        .unwrap();
    assert_eq!(small.status(), 200);
    let before = origin.bytes_received();

    // Chunked, 10 bytes at a time: the chunk crossing 25 bytes is never forwarded.
    let head: &[u8] = b"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk: &[u8] = b"a\r\n0123456789\r\n";
    let parts: Vec<&[u8]> = std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, 10))
        .chain(std::iter::once(&b"0\r\n\r\n"[..]))
        .collect();
    // 30 ms between writes: the body streams in.
    let answer = send_then_read_to_close(&mut tcp_stream(addr), &parts, Duration::from_millis(30));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let forwarded = origin.bytes_received() - before;
    assert!(
        forwarded < 250,
        "origin received {forwarded} bytes of a 100-byte body plus head"
    );
}

#[test]
fn routes_pick_backends_by_host_and_path_and_run_their_own_hooks() {
    let dir = workdir();
    let (app, api, statics) = (
        Origin::start("app"),
        Origin::start("api"),
        Origin::start("static"),
    );
    let addr = free_addr();
    let routes = r#"    routes:
      - { host: api.example.com, backend: api }
      - path_prefix: /static
        backend: static
        hooks: [ { kind: headers, response: { set: { Cache-Control: "max-age=600" } } } ]
"#;
    let extra = format!(
        "  api:\n    servers:\n{}  static:\n    servers:\n{}",
        servers_yaml(&[&api]),
        servers_yaml(&[&statics])
    );
    let _gw = gateway(dir.path(), addr, routes, &[&app], &extra);
    let client = http_client();
    let by_host = client
        .get(format!("http://{addr}/static/x"))
        .header("Host", "API.example.com:8080")
        .send()
        .unwrap();
    assert_eq!(by_host.text().unwrap(), "api\n");
    let by_path = client
        .get(format!("http://{addr}/static/app.css"))
        .send()
        .unwrap();
    assert_eq!(by_path.headers()["cache-control"], "max-age=600");
    assert_eq!(by_path.text().unwrap(), "static\n");
    let default = client
        .get(format!("http://{addr}/index.html"))
        .send()
        .unwrap();
    assert!(default.headers().get("cache-control").is_none());
    assert_eq!(default.text().unwrap(), "app\n");
    assert_eq!((app.hits(), api.hits(), statics.hits()), (1, 1, 1));
}

const PAGE_503: &str = "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const PAGE_403: &str = "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";

#[test]
fn haproxy_errorfiles_are_served_for_the_gateways_own_responses() {
    let dir = workdir();
    let errors = dir.path().join("errors");
    std::fs::create_dir(&errors).unwrap();
    std::fs::write(errors.join("503.http"), PAGE_503).unwrap();
    std::fs::write(errors.join("403.http"), PAGE_403).unwrap();
    let dead = free_addr();
    let addr = free_addr();
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n    hooks: [ {{ kind: deny, path_prefix: /private }} ]\nbackends:\n  app:\n    servers:\n      - {{ name: dead, address: \"{dead}\" }}\n    health_check: {{ path: /, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }}\nerror_pages:\n  503: errors/503.http\n  403: {}\n",
        server_section(dir.path()),
        errors.join("403.http").display()
    );
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let forbidden = get(format!("http://{addr}/private"));
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.headers()["content-type"], "text/html");
    assert!(forbidden
        .text()
        .unwrap()
        .contains("Request forbidden by administrative rules."));
    let unavailable = gateway_tests::wait_for(Duration::from_secs(3), || {
        get(format!("http://{addr}/")).status() == 503
    });
    assert!(unavailable.is_some());
    let resp = get(format!("http://{addr}/"));
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert!(resp
        .text()
        .unwrap()
        .contains("No server is available to handle this request."));
}

#[test]
fn check_refuses_unknown_kinds_bad_settings_and_bad_errorfiles() {
    let dir = workdir();
    std::fs::write(dir.path().join("not-http.html"), "<html>503</html>").unwrap();
    let yaml = "listeners:\n  - name: web\n    address: \"127.0.0.1:1\"\n    backend: app\n    hooks:\n      - { kind: nope }\n      - { kind: deny, path: /x }\n      - { kind: rate_limit, requests_per_second: 0 }\n    routes:\n      - { path_prefix: /a, backend: missing }\nbackends:\n  app:\n    servers: [ { name: a, address: \"127.0.0.1:9\" } ]\nerror_pages:\n  503: not-http.html\n  404: /nonexistent/404.http\n";
    let (code, out) = check(dir.path(), yaml);
    assert_ne!(code, 0);
    for needle in [
        "listeners[0].hooks[0]: unknown hook kind \"nope\"",
        "listeners[0].hooks[1]: deny: unknown field `path`",
        "listeners[0].hooks[2]: rate_limit: requests_per_second: must be at least 1",
        "listeners[0].routes[0].backend: unknown backend \"missing\"",
        "error_pages.503: ",
        "does not start with an HTTP status line",
        "error_pages.404: cannot read /nonexistent/404.http",
    ] {
        assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
    }
}

#[test]
fn custom_hook_example_runs_its_own_api_key_hook() {
    let dir = workdir();
    let origin = Origin::start("app");
    let addr = free_addr();
    let hooks = "    hooks: [ { kind: api_key, header: X-Api-Key, keys: [s3cret] } ]\n";
    let yaml = plain_config(dir.path(), addr, &[&origin], hooks, "");
    let program = example_binary("custom_hook");
    let _gw = Gateway::start_program(&program, dir.path(), &yaml, &[], &[addr]);
    let client = http_client();
    let none = client.get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "ApiKey");
    let wrong = client
        .get(format!("http://{addr}/"))
        .header("X-Api-Key", "guess")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(format!("http://{addr}/ok"))
        .header("X-Api-Key", "s3cret")
        .send()
        .unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(origin.hits(), 1);
    assert_eq!(origin.requests()[0].path, "/ok");

    // The stock binary does not know the kind.
    let (code, out) = check(dir.path(), &yaml);
    assert_ne!(code, 0);
    assert!(out.contains("unknown hook kind \"api_key\""), "{out}");
}

#[test]
fn errorfiles_cover_malformed_heads_and_slow_clients_and_nothing_reaches_the_origin() {
    let dir = workdir();
    let errors = dir.path().join("errors");
    std::fs::create_dir(&errors).unwrap();
    for (status, reason) in [
        (400, "Bad request"),
        (408, "Request Time-out"),
        (431, "Too many headers"),
    ] {
        let page = format!("HTTP/1.0 {status} {reason}\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>{status} {reason}</h1></body></html>\n");
        std::fs::write(errors.join(format!("{status}.http")), page).unwrap();
    }
    let origin = Origin::start("app");
    let addr = free_addr();
    let extra = "timeouts: { client: 300ms }\nerror_pages: { 400: errors/400.http, 408: errors/408.http, 431: errors/431.http }\n";
    let _gw = gateway(dir.path(), addr, "", &[&origin], extra);
    let exchange = |request: &[u8]| plain_exchange(addr, request);
    let bad = exchange(b"GET / HTTP/1.1\r\nHost: a\r\nNo colon in this line\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.0 400 Bad request"), "{bad}");
    assert!(bad.contains("<h1>400 Bad request</h1>"));
    let many = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X-A: b\r\n".repeat(300)
    );
    let many = exchange(many.as_bytes());
    assert!(many.contains("<h1>431 Too many headers</h1>"), "{many}");
    let slow = exchange(b"GET / HTTP/1.1\r\nHost: a\r\n");
    assert!(slow.contains("<h1>408 Request Time-out</h1>"), "{slow}");
    assert_eq!(origin.bytes_received(), 0, "the origin saw none of them");
}
