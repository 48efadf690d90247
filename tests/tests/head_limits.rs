//! Head limits on both sides, through the real binary: HTTP/2 requests held to HTTP/1's (a
//! long `:path` 414, too many fields 431, `*` for OPTIONS only; the connection goes on), an
//! origin's response head over the cap a 502 over HTTP/2 and HTTP/1.1 (one under it passes),
//! and the bounds of `limits.response_header_bytes`.

use gateway_tests::client::h2_request;
use gateway_tests::gateway::{server_section, workdir};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::scripted::{scripted_origin, tls_gateway};
use gateway_tests::{free_addr, https_client, https_http1_client};

#[test]
fn http2_requests_are_held_to_the_head_limits_of_http1() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = pki.write_ca(dir.path());
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, addr, &[origin.addr]);
    let long_path = format!("/{}", "a".repeat(9000));
    let cases: [(&str, &str, &[&str], u16); 4] = [
        ("long :path", &long_path, &[], 414),
        ("150 header fields", "/", &["--headers", "150"], 431),
        ("`*` for GET", "*", &[], 400),
        ("`*` for OPTIONS", "*", &["--method", "OPTIONS"], 200),
    ];
    for (case, path, args, status) in cases {
        let verdict = h2_request(addr, &ca, path, args);
        assert_eq!(verdict["statuses"][0], status, "{case}: {verdict}");
        assert_eq!(verdict["after"], 200, "{case}: the connection goes on");
    }
    // Only the OPTIONS * and the follow-up requests reached the origin.
    let seen = origin.requests();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().filter(|r| r.path == "*").count(), 1);

    // The same requests over HTTP/1.1 get the same statuses.
    let http1 = https_http1_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}", addr.port());
    let status = http1.get(format!("{url}{long_path}")).send().unwrap();
    assert_eq!(status.status(), 414);
    let mut many = http1.get(format!("{url}/"));
    for i in 0..150 {
        many = many.header(format!("x-extra-{i}"), "v");
    }
    assert_eq!(many.send().unwrap().status(), 431);
}

#[test]
fn an_origin_response_head_over_the_cap_is_a_bad_gateway() {
    let dir = workdir();
    let pki = Pki::new();
    let head_of = |bytes: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
            "a".repeat(bytes)
        )
        .into_bytes()
    };
    let (huge, fits) = (
        scripted_origin(head_of(200 * 1024)),
        scripted_origin(head_of(12 * 1024)),
    );
    let addr = free_addr();
    let _huge_gw = tls_gateway(dir.path(), &pki, addr, &[huge]);
    let fits_dir = workdir();
    let fits_addr = free_addr();
    let _fits_gw = tls_gateway(fits_dir.path(), &pki, fits_addr, &[fits]);
    let clients = [
        (
            "HTTP/2",
            https_client(&pki, &[("localhost", addr), ("localhost", fits_addr)]),
        ),
        (
            "HTTP/1.1",
            https_http1_client(&pki, &[("localhost", addr), ("localhost", fits_addr)]),
        ),
    ];
    for (protocol, client) in clients {
        let resp = client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .unwrap_or_else(|e| panic!("{protocol}: {e:?}"));
        assert_eq!(resp.status(), 502, "{protocol}");
        assert!(resp.headers().get("x-big").is_none());
        let resp = client
            .get(format!("https://localhost:{}/", fits_addr.port()))
            .send()
            .unwrap_or_else(|e| panic!("{protocol}: {e:?}"));
        assert_eq!(resp.status(), 200, "{protocol}: under the cap passes");
        assert_eq!(resp.text().unwrap(), "ok");
    }
}

#[test]
fn the_response_head_cap_is_settable_and_bounded() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = |value: &str| {
        format!(
            "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: o, address: \"{}\" }}\nlimits: {{ response_header_bytes: {value} }}\n",
            server_section(dir.path()),
            origin.addr
        )
    };
    let (code, out) = gateway_tests::gateway::check(dir.path(), &yaml("10"));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("limits.response_header_bytes: 10 is out of range"),
        "{out}"
    );
    let (code, out) = gateway_tests::gateway::check(dir.path(), &yaml("65536"));
    assert_eq!(code, 0, "{out}");
}
