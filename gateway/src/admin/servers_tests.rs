//! Unit tests of the server verbs ([`super`]).

use crate::admin::execute;
use crate::hooks::Registry;
use crate::live::Live;
use crate::runtime_config::{parse, RuntimeConfig};
use std::path::Path;
use std::sync::Arc;

fn config(b_address: &str) -> RuntimeConfig {
    let yaml = format!(
        "
listeners:
  - {{ name: web, address: 127.0.0.1:1, backend: app }}
backends:
  app:
    servers:
      - {{ name: a, address: 127.0.0.1:2 }}
      - {{ name: b, address: {b_address} }}
"
    );
    parse(Path::new("/t.yaml"), &yaml, &Registry::with_builtins()).unwrap()
}

fn live() -> Arc<Live> {
    Live::new(&config("127.0.0.1:3"), Registry::with_builtins()).unwrap()
}

/// `(name, address, status, max_connections)` of every server of `app`.
fn servers(live: &Live) -> Vec<(String, String, &'static str, Option<usize>)> {
    let app = live.upstream("app").unwrap();
    app.servers
        .iter()
        .map(|s| {
            let address = s.config.address.to_string();
            (
                s.config.name.clone(),
                address,
                s.status(),
                s.max_connections(),
            )
        })
        .collect()
}

#[test]
fn an_added_server_starts_in_maintenance_and_survives_a_reload() {
    let live = live();
    let added = execute(&live, "add server app/c 127.0.0.1:9 weight 5 backup");
    assert_eq!(added, "New server registered.\n");
    let c = ("c".to_string(), "127.0.0.1:9".to_string(), "MAINT", None);
    assert_eq!(servers(&live)[2], c);
    assert_eq!(execute(&live, "enable server app/c"), "");
    live.apply(&config("127.0.0.1:3")).unwrap();
    let app = live.upstream("app").unwrap();
    assert_eq!(
        app.servers[2].status(),
        "UP",
        "admin state kept by the reload"
    );
    assert!(app.servers[2].config.backup);
    assert_eq!(app.servers[2].weight(), 5);
    assert_eq!(
        execute(&live, "add server app/c 127.0.0.1:10"),
        "Already exists a server with the same name in backend.\n"
    );
}

#[test]
fn bad_add_arguments_get_haproxy_lines_and_change_nothing() {
    let live = live();
    for (command, answer) in [
        (
            "add server app/d",
            "'server' expects <name> and <addr>[:<port>] as arguments.\n",
        ),
        ("add server nope/d 127.0.0.1:1", "No such backend.\n"),
        ("add server app 127.0.0.1:1", "Require 'backend/server'.\n"),
        (
            "add server app/d bad:x",
            "invalid character 'x' in port number 'x' in 'bad:x'\n",
        ),
        (
            "add server app/d 127.0.0.1:1 bogus",
            "unknown keyword 'bogus'.\n",
        ),
        (
            "add server app/d 127.0.0.1:1 weight 999",
            "weight of server d is not within 0 and 256 (999)..\n",
        ),
    ] {
        assert_eq!(execute(&live, command), answer, "{command}");
    }
    assert_eq!(servers(&live).len(), 2);
}

#[test]
fn delete_needs_maintenance_and_stays_deleted() {
    let live = live();
    assert_eq!(
        execute(&live, "del server app/b"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    let app = live.upstream("app").unwrap();
    app.servers[1].started();
    execute(&live, "disable server app/b");
    assert_eq!(
        execute(&live, "del server app/b"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    app.servers[1].finished();
    assert_eq!(execute(&live, "del server app/b"), "Server deleted.\n");
    assert_eq!(servers(&live).len(), 1);
    live.apply(&config("127.0.0.1:3")).unwrap();
    assert_eq!(servers(&live).len(), 1, "still deleted after a reload");
    assert_eq!(execute(&live, "del server app/b"), "No such server.\n");
}

#[test]
fn set_addr_answers_as_haproxy_and_yields_to_the_file() {
    let live = live();
    assert_eq!(
        execute(&live, "set server app/b addr 127.0.0.2"),
        "IP changed from '127.0.0.1' to '127.0.0.2' by 'stats socket command'\n"
    );
    assert_eq!(
        execute(&live, "set server app/b addr 127.0.0.2 port 9000"),
        "no need to change the addr, port changed from '3' to '9000' by 'stats socket command'\n"
    );
    assert_eq!(
        execute(&live, "set server app/b addr 127.0.0.2 port x"),
        "problem converting port 'x' to an int by 'stats socket command'\n"
    );
    assert_eq!(
        execute(&live, "set server app/b addr nope"),
        "Invalid addr 'nope' by 'stats socket command'\n"
    );
    execute(&live, "disable server app/b");
    live.apply(&config("127.0.0.1:3")).unwrap();
    let moved = ("b".to_string(), "127.0.0.2:9000".to_string(), "MAINT", None);
    assert_eq!(
        servers(&live)[1],
        moved,
        "kept over a reload, admin state too"
    );
    live.apply(&config("127.0.0.1:4")).unwrap();
    assert_eq!(
        servers(&live)[1].1,
        "127.0.0.1:4",
        "the file moved it: file wins"
    );
}

#[test]
fn maxconn_is_stored_and_kept() {
    let live = live();
    assert_eq!(execute(&live, "set maxconn server app/a 10"), "");
    assert_eq!(
        execute(&live, "set maxconn server app/a x"),
        "maxconn string empty or preceded by garbage\n"
    );
    assert_eq!(
        execute(&live, "set maxconn server app/a"),
        "Require <maxconn>.\n"
    );
    live.apply(&config("127.0.0.1:3")).unwrap();
    assert_eq!(servers(&live)[0].3, Some(10));
    assert_eq!(execute(&live, "set maxconn server app/a 0"), "");
    assert_eq!(servers(&live)[0].3, None);
}

#[test]
fn the_state_file_carries_runtime_servers_to_a_new_process() {
    let old = live();
    execute(&old, "add server app/c 127.0.0.1:9");
    execute(&old, "enable server app/c");
    execute(&old, "set server app/a addr 127.0.0.5");
    let saved = crate::state_file::capture(&old, false);
    let json = serde_json::to_string(&saved).unwrap();
    let new = live();
    crate::state_file::restore(&new, &serde_json::from_str(&json).unwrap());
    let listed = servers(&new);
    assert_eq!(listed[0].1, "127.0.0.5:2");
    assert_eq!(listed[2], ("c".into(), "127.0.0.1:9".into(), "UP", None));
}

#[test]
fn an_added_server_in_a_checked_backend_waits_for_its_checks() {
    let yaml = "
listeners:
  - { name: web, address: 127.0.0.1:1, backend: app }
backends:
  app:
    health_check: { path: /health }
    servers:
      - { name: a, address: 127.0.0.1:2 }
";
    let registry = Registry::with_builtins();
    let live = Live::new(
        &parse(Path::new("/t.yaml"), yaml, &registry).unwrap(),
        registry,
    )
    .unwrap();
    assert_eq!(
        execute(&live, "add server app/c 127.0.0.1:9"),
        "New server registered.\n"
    );
    assert_eq!(execute(&live, "enable server app/c"), "");
    let app = live.upstream("app").unwrap();
    assert_eq!(
        app.servers[1].status(),
        "DOWN",
        "up only after `rise` good checks"
    );
}
