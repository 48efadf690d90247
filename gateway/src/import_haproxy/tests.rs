//! Whole-file conversions: what a few haproxy.cfg snippets become, and that no cut of a real
//! file makes the import panic.

use super::convert;
use super::notes::{Kind, Note};

fn yaml_of(text: &str) -> (serde_yaml::Value, Vec<Note>) {
    let conversion = convert(text, "haproxy.cfg");
    let yaml = serde_yaml::from_str(&conversion.yaml)
        .unwrap_or_else(|e| panic!("{e}:\n{}", conversion.yaml));
    (yaml, conversion.notes)
}

fn lost(notes: &[Note]) -> Vec<(usize, &str)> {
    notes
        .iter()
        .filter(|n| n.kind == Kind::NotConverted)
        .map(|n| (n.line, n.directive.as_str()))
        .collect()
}

#[test]
fn a_listen_section_is_a_listener_and_its_own_backend() {
    let (yaml, notes) =
        yaml_of("listen web\n  bind 127.0.0.1:8080\n  server a 10.0.0.1:80 weight 3\n");
    assert_eq!(lost(&notes), []);
    assert_eq!(yaml["listeners"][0]["name"].as_str(), Some("web"));
    assert_eq!(yaml["listeners"][0]["backend"].as_str(), Some("web"));
    assert_eq!(
        yaml["backends"]["web"]["servers"][0]["weight"].as_u64(),
        Some(3)
    );
}

#[test]
fn the_redirect_goes_to_the_tls_bind_of_the_same_frontend() {
    let (yaml, _) = yaml_of(
        "frontend f\n  bind :8080\n  bind :8443 ssl crt /x.pem\n  http-request redirect scheme https code 308 unless { ssl_fc }\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n",
    );
    let redirect = &yaml["listeners"][0]["redirect_https"];
    assert_eq!(redirect["port"].as_u64(), Some(8443));
    assert_eq!(redirect["status"].as_u64(), Some(308));
    assert_eq!(
        yaml["listeners"][1]["tls"]["certificate"].as_str(),
        Some("/x.pem")
    );
    assert!(yaml["listeners"][1]["redirect_https"].is_null());
}

#[test]
fn per_proxy_settings_that_differ_from_the_first_are_losses() {
    let (yaml, notes) = yaml_of(
        "defaults\n  timeout server 5s\n  errorfile 503 /a.http\nbackend a\n  server s 10.0.0.1:80\nbackend b\n  timeout server 9s\n  errorfile 503 /b.http\n  server s 10.0.0.2:80\n",
    );
    assert_eq!(yaml["timeouts"]["server"].as_str(), Some("5s"));
    assert_eq!(yaml["error_pages"][503].as_str(), Some("/a.http"));
    assert_eq!(
        lost(&notes),
        [(1, "frontend"), (7, "timeout server"), (8, "errorfile")]
    );
}

#[test]
fn unknown_keywords_sections_and_tcp_proxies_are_losses_on_their_lines() {
    let (_, notes) = yaml_of(
        "global\n  frobnicate 1\npeers p\n  peer a 10.0.0.1:1024\nlisten db\n  mode tcp\n  bind :5432\n  server s 10.0.0.1:5432\n",
    );
    let lines: Vec<usize> = lost(&notes).iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2, 3, 4, 6, 7, 8]);
}

#[test]
fn every_cut_of_a_real_config_converts_without_panicking() {
    let seed = include_str!("../../../tests/fixtures/haproxy/seed.cfg");
    let routes = include_str!("../../../tests/fixtures/haproxy/routes.cfg");
    for text in [seed, routes] {
        let cuts = (0..text.len()).filter(|i| text.is_char_boundary(*i));
        for cut in cuts {
            let conversion = convert(&text[..cut], "cut.cfg");
            assert!(conversion.yaml.contains("listeners:"), "cut at {cut}");
        }
    }
    for line in [
        "http-request if",
        "http-request deny if",
        "use_backend",
        "server",
        "bind",
        "acl",
        "acl x",
        "option httpchk",
        "http-check send hdr",
        "stats socket",
        "errorfile",
        "timeout",
        "balance",
        "redirect",
    ] {
        let text = format!("global\n  {line}\ndefaults\n  {line}\nfrontend f\n  {line}\nbackend b\n  {line}\nlisten l\n  {line}\n");
        let conversion = convert(&text, "short.cfg");
        assert!(
            conversion.notes.len() >= 5,
            "{line}: {:?}",
            conversion.notes
        );
    }
}

#[test]
fn backend_rules_ride_on_the_routes_that_lead_to_the_backend() {
    let (yaml, notes) = yaml_of(
        "frontend f\n  bind :80\n  http-response set-header X-Frame-Options DENY\n  use_backend api if { path_beg /api }\n  default_backend app\nbackend api\n  server a 10.0.0.1:80\nbackend app\n  http-request set-header X-App yes\n  server b 10.0.0.2:80\n",
    );
    assert_eq!(lost(&notes), []);
    let listener = &yaml["listeners"][0];
    assert_eq!(
        listener["hooks"][0]["response"]["set"]["X-Frame-Options"].as_str(),
        Some("DENY")
    );
    assert_eq!(listener["routes"][0]["path_prefix"].as_str(), Some("/api"));
    assert!(listener["routes"][0]["hooks"].is_null());
    // The default backend's rules: a last, catch-all route.
    assert_eq!(listener["routes"][1]["path_prefix"].as_str(), Some("/"));
    assert_eq!(listener["routes"][1]["backend"].as_str(), Some("app"));
    assert_eq!(
        listener["routes"][1]["hooks"][0]["request"]["set"]["X-App"].as_str(),
        Some("yes")
    );
}

#[test]
fn a_certificate_directory_becomes_the_list_of_its_certificates() {
    let dir = std::env::temp_dir().join(format!("import-haproxy-crt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["b.pem", "a.pem", "a.pem.ocsp", "c.key"] {
        std::fs::write(dir.join(name), "x").unwrap();
    }
    let text = format!(
        "frontend f\n  bind :443 ssl crt {}\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n",
        dir.display()
    );
    let (yaml, _) = yaml_of(&text);
    let listed: Vec<&str> = yaml["listeners"][0]["tls"]["certificates"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let expected = [dir.join("a.pem"), dir.join("b.pem")].map(|p| p.display().to_string());
    assert_eq!(listed, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_proxy_of_the_same_name_is_a_loss() {
    let (yaml, notes) = yaml_of(
        "frontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\nbackend b\n  server t 10.0.0.2:80\nlisten f\n  bind :81\n  server u 10.0.0.3:80\n",
    );
    assert_eq!(
        yaml["backends"]["b"]["servers"][0]["name"].as_str(),
        Some("s")
    );
    assert_eq!(yaml["listeners"].as_sequence().unwrap().len(), 1);
    assert_eq!(
        lost(&notes),
        [
            (6, "backend"),
            (7, "server"),
            (8, "listen"),
            (9, "bind"),
            (10, "server")
        ]
    );
}

#[test]
fn accept_proxy_trusts_every_peer_and_ticket_keys_go_to_tls() {
    let (yaml, notes) = yaml_of(
        "frontend f\n  bind :443 ssl crt /x.pem tls-ticket-keys /t.key accept-proxy\n  bind :80 accept-proxy\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n",
    );
    assert_eq!(lost(&notes), []);
    let tls = &yaml["listeners"][0];
    assert_eq!(tls["tls"]["ticket_keys"].as_str(), Some("/t.key"));
    for listener in [tls, &yaml["listeners"][1]] {
        let trusted: Vec<&str> = listener["proxy_protocol"]["trusted"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(trusted, ["0.0.0.0/0", "::/0"]);
    }
    let (_, notes) = yaml_of(
        "frontend f\n  bind :80 tls-ticket-keys /t.key\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n",
    );
    assert_eq!(lost(&notes), [(2, "bind tls-ticket-keys")]);
}
