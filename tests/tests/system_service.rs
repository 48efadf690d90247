//! Running as a system service, through the real binary: started as root it binds its
//! privileged port, then runs as the configured user and group (an unknown user is refused by
//! `gateway -t`); the systemd unit `systemd/gateway.service` passes `systemd-analyze verify`.

use gateway_tests::config::Config;
use gateway_tests::gateway::{binary, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{http_client, require_program, require_root};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

#[test]
#[ignore = "needs root (make test runs ignored tests; CI runs as root)"]
fn started_as_root_it_binds_then_runs_as_the_configured_user() {
    require_root();
    let dir = workdir();
    // The unprivileged user must be able to reach the configuration's directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let origin = Origin::start("p1");
    // A privileged port: only a process that bound it as root can serve on it.
    let port = (700..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = Config::plain(dir.path(), addr, &[&origin])
        .set("server.user", "nobody")
        .set("server.group", "nogroup");
    let yaml = config.yaml();
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    gw.wait_log("now running as uid", 1, Duration::from_secs(10));
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4],
        "real, effective, saved and filesystem uid"
    );
    let resp = http_client().get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.text().unwrap(), "p1\n");

    let (code, text) = check(
        dir.path(),
        &config.set("server.user", "no-such-user-x").yaml(),
    );
    assert_eq!(code, 1);
    assert!(
        text.contains("server.user: no such user \"no-such-user-x\""),
        "{text}"
    );
}

#[test]
#[ignore = "needs systemd-analyze (make test installs it and runs ignored tests)"]
fn systemd_unit_passes_systemd_analyze_verify() {
    let analyze = require_program("systemd-analyze", "systemd");
    let dir = workdir();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway.service"),
    )
    .unwrap();
    for needed in [
        "Type=forking",
        "PIDFile=",
        "ExecStartPre=/usr/local/bin/gateway -t",
        "ExecReload=",
        "User=gateway",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ] {
        assert!(unit.contains(needed), "unit lacks {needed}");
    }
    // verify checks that every command exists: point them at this build.
    let reload = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway-reload");
    let unit = unit
        .replace(
            "/usr/local/bin/gateway-reload",
            &reload.display().to_string(),
        )
        .replace("/usr/local/bin/gateway", &binary().display().to_string());
    let path = dir.path().join("gateway.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // Complaints about the host (no systemd running in a container) are not about the unit.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gateway.service"))
        .collect();
    assert!(about_unit.is_empty() && out.status.success(), "{text}");
}
