//! Reloading the configuration through the real binary: SIGHUP applies a new file in place
//! (certificates, servers, hooks, routes, error pages) while connections opened before keep
//! theirs, refuses a bad file and reports what needs an upgrade; `systemd/gateway-reload`
//! validates first, then sends SIGHUP or starts the upgrade when the binary was replaced; a
//! reload stuck reading its certificate is abandoned, and signals still work after it.

use gateway_tests::client::{get_keep_alive as exchange, presented_names};
use gateway_tests::config::{Backend, Config};
use gateway_tests::gateway::{binary, plain_config, server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, http_client, https_client, tls_stream, wait_for};
use std::path::Path;
use std::time::Duration;

#[test]
fn sighup_reloads_in_place_and_refuses_a_bad_file() {
    let dir = workdir();
    let pki = Pki::new();
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    let cert1 = pki.leaf(&v1, &["localhost"]);
    let cert2 = pki.leaf(&v2, &["localhost", "v2.test"]);
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let gw = Gateway::start(
        dir.path(),
        &Config::tls(dir.path(), addr, &cert1, &[&a]).yaml(),
        &[addr],
    );
    let mut before = tls_stream(&pki, addr);
    assert_eq!(presented_names(&before), ["localhost"]);
    assert_eq!(exchange(&mut before, "/"), (200, "a\n".into()));

    // New certificate, new server, a hook, an error page: all applied by SIGHUP.
    let page = dir.path().join("403.http");
    std::fs::write(
        &page,
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nno, v2\r\n",
    )
    .unwrap();
    let v2 = Config::tls(dir.path(), addr, &cert2, &[&b])
        .with_listener(0, |l| {
            l.hook("{ kind: deny, path_prefix: /blocked }")
                .route("{ path_prefix: /to-a, backend: other }")
        })
        .backend("other", Backend::of(&[&a]))
        .set("error_pages.403", page.display().to_string());
    let v2_yaml = v2.yaml();
    std::fs::write(dir.path().join("gateway.yaml"), &v2_yaml).unwrap();
    gw.signal("HUP");
    gw.wait_log("applied", 1, Duration::from_secs(5));

    let mut after = tls_stream(&pki, addr);
    assert_eq!(presented_names(&after), ["localhost", "v2.test"]);
    assert_eq!(exchange(&mut after, "/"), (200, "b\n".into()));
    assert_eq!(exchange(&mut after, "/blocked"), (403, "no, v2\r\n".into()));
    assert_eq!(
        exchange(&mut after, "/to-a/x"),
        (200, "a\n".into()),
        "a new route"
    );
    // The connection opened before the reload keeps working, with the configuration it was
    // accepted under (as HAProxy's old process keeps its connections): tests/request_path.rs.
    assert_eq!(exchange(&mut before, "/again"), (200, "a\n".into()));
    assert_eq!(b.hits(), 1);

    // A bad file is refused with its key path; the process keeps serving the last good one.
    std::fs::write(
        dir.path().join("gateway.yaml"),
        v2.clone().set("listeners.0.backend", "nowhere").yaml(),
    )
    .unwrap();
    gw.signal("HUP");
    gw.wait_log("configuration refused", 1, Duration::from_secs(5));
    assert!(gw.log().contains("listeners[0].backend"), "{}", gw.log());
    let mut later = tls_stream(&pki, addr);
    assert_eq!(presented_names(&later), ["localhost", "v2.test"]);
    assert_eq!(exchange(&mut later, "/"), (200, "b\n".into()));
    assert_eq!(exchange(&mut later, "/blocked").0, 403);

    // A new listen address needs new sockets: reported, not applied.
    let moved = free_addr();
    std::fs::write(
        dir.path().join("gateway.yaml"),
        v2.clone()
            .set("listeners.0.address", moved.to_string())
            .yaml(),
    )
    .unwrap();
    gw.signal("HUP");
    gw.wait_log("needs an upgrade", 1, Duration::from_secs(5));
    assert!(gw
        .log()
        .contains(&format!("listener https moves from {addr} to {moved}")));
    assert_eq!(exchange(&mut later, "/"), (200, "b\n".into()));
    assert_eq!(a.hits(), 3, "two before the reload, one by the route to a");
}

#[test]
fn reload_script_validates_then_hups_or_upgrades_a_replaced_binary() {
    let dir = workdir();
    let origin = Origin::start("r1");
    let addr = free_addr();
    // A copy of the binary, so the test can replace it like a package upgrade does.
    let installed = dir.path().join("gateway");
    std::fs::copy(binary(), &installed).unwrap();
    let yaml = plain_config(dir.path(), addr, &[&origin], "", "");
    let mut old = Gateway::start_program(&installed, dir.path(), &yaml, &[], &[addr]);
    let config = dir.path().join("gateway.yaml");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway-reload");
    // Output to files, not pipes: the daemon the upgrade starts inherits them.
    let reload = || {
        let (out, err) = (dir.path().join("reload.out"), dir.path().join("reload.err"));
        let status = std::process::Command::new(&script)
            .arg(old.pid().to_string())
            .arg(&config)
            .arg(&installed)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        let read = |p| std::fs::read_to_string(p).unwrap();
        (status.success(), read(&out), read(&err))
    };

    // A bad file fails the reload and changes nothing.
    let bad = Config::plain(dir.path(), addr, &[&origin]).set("listeners.0.backend", "gone");
    std::fs::write(&config, bad.yaml()).unwrap();
    let (ok, _, errors) = reload();
    assert!(!ok);
    assert!(errors.contains("listeners[0].backend"), "{errors}");
    std::fs::write(&config, &yaml).unwrap();

    // Same binary: SIGHUP.
    let (ok, _, errors) = reload();
    assert!(ok, "{errors}");
    old.wait_log("applied", 1, Duration::from_secs(5));

    // A new binary installed over the old one: the upgrade dance.
    let staged = dir.path().join("gateway.new");
    std::fs::copy(binary(), &staged).unwrap();
    std::fs::rename(&staged, &installed).unwrap();
    let (ok, said, errors) = reload();
    assert!(ok, "{errors}");
    assert!(said.contains("upgrade started"), "{said}");
    // Requests go on until the old process is gone: none fails.
    let client = http_client();
    let mut sent = 0;
    while old.wait_exit(Duration::ZERO).is_none() {
        assert!(
            sent < 1000,
            "old process still running; log:\n{}",
            old.log()
        );
        let resp = client
            .get(format!("http://{addr}/during{sent}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        sent += 1;
        std::thread::sleep(Duration::from_millis(50)); // paced like a client
    }
    let new_pid: u32 = std::fs::read_to_string(dir.path().join("gateway.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, old.pid());
    assert_eq!(
        client
            .get(format!("http://{addr}/after"))
            .send()
            .unwrap()
            .status(),
        200
    );
    gateway_tests::gateway::signal_pid(new_pid, "TERM");
    assert!(wait_for(Duration::from_secs(10), || !gateway_tests::accepting(addr)).is_some());
}

#[test]
fn a_reload_that_cannot_read_its_certificate_is_abandoned_and_signals_still_work() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = format!(
        "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: a, address: \"{}\" }}\n",
        server_section(dir.path()),
        cert.display(),
        a.addr
    );
    let mut gateway = Gateway::start(dir.path(), &yaml, &[addr]);
    // The certificate becomes a FIFO nobody writes to: reading it blocks.
    std::fs::remove_file(&cert).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&cert)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(made.success());
    gateway.signal("HUP");
    let client = https_client(&pki, &[("localhost", addr)]);
    let get = || {
        client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .map(|r| r.status().as_u16())
    };
    assert_eq!(get().unwrap(), 200);
    gateway.wait_log("configuration refused", 1, Duration::from_secs(20));
    assert_eq!(get().unwrap(), 200, "the old configuration keeps serving");
    gateway.signal("TERM");
    assert!(
        gateway.wait_exit(Duration::from_secs(10)).is_some(),
        "SIGTERM ignored after a stuck reload; log:\n{}",
        gateway.log()
    );
}
