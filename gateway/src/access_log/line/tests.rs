use super::*;

fn entry() -> Entry<'static> {
    Entry {
        unix_ms: 1_795_552_200_123,
        client: Some("192.0.2.1:5555".parse().unwrap()),
        listener: "https",
        tls: false,
        backend: "app",
        server: "node1",
        status: 200,
        duration_ms: 3.4,
        head_ms: 1.4,
        connect_ms: 0.6,
        response_ms: 2.2,
        bytes_sent: 12,
        bytes_received: 0,
        method: "GET",
        path: "/a?b=1",
        version: "HTTP/1.1",
        termination: "--",
        retries: 0,
        cookie_state: "--",
        head_bytes: 100,
        queue_ms: 0.0,
        counts: Counts {
            actconn: 3,
            feconn: 2,
            beconn: 1,
            srv_conn: 1,
            srv_queue: 0,
            backend_queue: 0,
        },
        request_id: None,
    }
}

#[test]
fn the_request_id_goes_before_the_request_line_in_both_formats() {
    let id = "0193a8c4-5f2e-7b1a-9c3d-4e5f60718293";
    let with_id = Entry {
        request_id: Some(id),
        ..entry()
    };
    let mut line = Vec::new();
    with_id.write_httplog(&mut line);
    let line = String::from_utf8(line).unwrap();
    assert!(
        line.ends_with(&format!(
            " ---- 3/2/1/1/0 0/0 {id} \"GET /a?b=1 HTTP/1.1\"\n"
        )),
        "{line}"
    );
    let mut json = Vec::new();
    with_id.write_json(&mut json);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["request_id"], id);
    let mut json = Vec::new();
    entry().write_json(&mut json);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(v.get("request_id").is_none());
}

#[test]
fn httplog_line_has_haproxy_shape() {
    let mut line = Vec::new();
    entry().write_httplog(&mut line);
    assert_eq!(
        String::from_utf8(line).unwrap(),
        "192.0.2.1:5555 [24/Nov/2026:20:30:00.123] https app/node1 1/0/1/2/3 200 112 - - ---- 3/2/1/1/0 0/0 \"GET /a?b=1 HTTP/1.1\"\n"
    );
}

#[test]
fn unreached_phases_are_minus_one_and_tls_frontends_marked() {
    let null = Entry {
        termination: "CR",
        tls: true,
        ..Entry::started("https", None, Duration::from_millis(5))
    };
    let mut line = Vec::new();
    null.write_httplog(&mut line);
    let line = String::from_utf8(line).unwrap();
    assert!(
        line.contains(
            "] https~ https/<NOSRV> -1/-1/-1/-1/5 0 0 - - CR-- 0/0/0/0/0 0/0 \"<BADREQ>\""
        ),
        "{line}"
    );
}

#[test]
fn json_line_has_the_documented_fields() {
    let mut line = Vec::new();
    entry().write_json(&mut line);
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    for key in [
        "client",
        "listener",
        "backend",
        "server",
        "status",
        "duration_ms",
        "head_ms",
        "bytes_sent",
        "method",
        "path",
        "time",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["time"], "2026-11-24T20:30:00.123Z");
    assert_eq!(v["client"], "192.0.2.1:5555");
}
