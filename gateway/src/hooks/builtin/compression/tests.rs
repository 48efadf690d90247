use super::*;
use crate::hooks::builtin::testing::request;
use std::io::Read;

fn hook(yaml: &str) -> Compression {
    Compression::new(serde_yaml::from_str(yaml).unwrap()).unwrap()
}

/// Run a request with `req_headers` and a response with `resp_headers` through `hook`;
/// the response head and the state after it.
fn respond(
    hook: &Compression,
    method: &str,
    req_headers: &[(&str, &str)],
    status: u16,
    resp_headers: &[(&str, &str)],
) -> (ResponseHeader, HookState) {
    let req = request(method, "/", req_headers);
    let info = RequestInfo {
        header: &req,
        client: None,
        trusted_proxies: &[],
    };
    let mut state = HookState::default();
    futures::executor::block_on(hook.on_request(&info, &mut state));
    let mut resp = ResponseHeader::build(status, None).unwrap();
    for (name, value) in resp_headers {
        resp.append_header(name.to_string(), *value).unwrap();
    }
    futures::executor::block_on(hook.on_response(&mut resp, &mut state));
    (resp, state)
}

const HTML: &[(&str, &str)] = &[
    ("content-type", "text/html"),
    ("content-length", "4000"),
    ("etag", "\"v1\""),
    ("accept-ranges", "bytes"),
];

#[test]
fn an_accepted_coding_rewrites_the_head_and_streams_the_body() {
    let hook = hook("{}");
    let (resp, mut state) = respond(&hook, "GET", &[("accept-encoding", "gzip")], 200, HTML);
    assert_eq!(resp.headers["content-encoding"], "gzip");
    assert_eq!(resp.headers["vary"], "Accept-Encoding");
    assert_eq!(resp.headers["etag"], "W/\"v1\"");
    assert!(resp.headers.get("content-length").is_none());
    assert!(resp.headers.get("accept-ranges").is_none());
    let text = "hello compression ".repeat(200);
    let mut body = Some(Bytes::from(text[..2000].to_string()));
    hook.on_response_body(&mut body, false, &mut state);
    let mut wire = body.unwrap().to_vec();
    let mut body = Some(Bytes::from(text[2000..].to_string()));
    hook.on_response_body(&mut body, false, &mut state);
    wire.extend_from_slice(&body.unwrap());
    let mut end = None;
    hook.on_response_body(&mut end, true, &mut state);
    wire.extend_from_slice(&end.unwrap());
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&wire[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, text);
    assert!(wire.len() < text.len() / 5);
}

#[test]
fn compressible_responses_vary_even_when_the_client_takes_none() {
    let hook = hook("{}");
    let (resp, state) = respond(&hook, "GET", &[], 200, HTML);
    assert_eq!(resp.headers["vary"], "Accept-Encoding");
    assert_eq!(resp.headers["content-length"], "4000");
    assert!(state.values.get::<Active>().is_none());
    let already = [
        ("content-type", "text/html"),
        ("vary", "accept-encoding, cookie"),
    ];
    let (resp, _) = respond(&hook, "GET", &[("accept-encoding", "br")], 200, &already);
    assert_eq!(resp.headers.get_all("vary").iter().count(), 1);
    assert_eq!(resp.headers["content-encoding"], "br");
}

#[test]
fn heads_ranges_and_excluded_responses_pass_unchanged() {
    let hook = hook("{ algorithms: [gzip], min_bytes: 100, types: [application/json] }");
    let ae = ("accept-encoding", "gzip");
    let json = [
        ("content-type", "application/json"),
        ("content-length", "500"),
    ];
    let untouched = |method, extra: &[(&str, &str)], status, headers: &[(&str, &str)]| {
        let req: Vec<(&str, &str)> = [ae].iter().chain(extra).copied().collect();
        let (resp, state) = respond(&hook, method, &req, status, headers);
        resp.headers.get("content-encoding").is_none() && state.values.get::<Active>().is_none()
    };
    assert!(!untouched("GET", &[], 200, &json));
    assert!(untouched("HEAD", &[], 200, &json));
    assert!(untouched("GET", &[("range", "bytes=0-9")], 200, &json));
    assert!(untouched("GET", &[], 206, &json));
    assert!(untouched("GET", &[], 304, &json));
    assert!(untouched("GET", &[], 200, &[("content-type", "text/html")]));
    assert!(untouched(
        "GET",
        &[],
        200,
        &[
            ("content-type", "application/json"),
            ("content-length", "99")
        ]
    ));
    let encoded = [
        ("content-type", "application/json"),
        ("content-encoding", "br"),
    ];
    let (resp, _) = respond(&hook, "GET", &[ae], 200, &encoded);
    assert_eq!(resp.headers["content-encoding"], "br");
    assert!(resp.headers.get("vary").is_none());
}

#[test]
fn bad_settings_are_refused() {
    let build = |yaml: &str| Compression::new(serde_yaml::from_str(yaml).unwrap()).err();
    assert!(build("{ algorithms: [deflate] }")
        .unwrap()
        .starts_with("algorithms[0]"));
    assert!(build("{ algorithms: [] }")
        .unwrap()
        .starts_with("algorithms"));
    assert!(build("{ level: 11 }").unwrap().starts_with("level"));
    assert!(build("{ level: fast }").unwrap().starts_with("level"));
    assert!(build("{ types: [html] }").unwrap().starts_with("types[0]"));
    assert!(build("{ level: 1, algorithms: [br, gzip] }").is_none());
    assert!(serde_yaml::from_str::<Settings>("{ min_size: 1 }").is_err());
}
