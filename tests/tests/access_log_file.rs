//! The access log's file through the real binary: reopened on SIGHUP and on `reopen logs`
//! (logrotate renames it first), lines lost to a full disk counted one by one in
//! `gateway_access_log_errors_total` and logged once, and a path in a missing directory
//! refused by `gateway -t`.

use gateway_tests::admin_socket::start_with_admin;
use gateway_tests::gateway::{
    admin, binary, check, plain_config, server_section, workdir, Gateway,
};
use gateway_tests::origin::Origin;
use gateway_tests::{accepting, free_addr, http_client, metric_value, scrape, wait_for};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn access_log_config(dir: &Path, addr: SocketAddr, origin: &Origin, stats: SocketAddr) -> String {
    let socket = dir.join("admin.sock");
    plain_config(
        dir,
        addr,
        &[origin],
        "",
        &format!(
            "access_log: {{ path: {}, format: json }}\nstats: {{ address: \"{stats}\" }}\nadmin: {{ socket: {} }}\n",
            dir.join("access.log").display(),
            socket.display()
        ),
    )
}

fn lines_with(path: &Path, text: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

#[test]
fn the_access_log_is_reopened_on_sighup_and_on_reopen_logs() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = access_log_config(dir.path(), addr, &a, stats);
    let (gateway, socket) = start_with_admin(dir.path(), &yaml, addr);
    let log = dir.path().join("access.log");
    let client = http_client();
    let get = |path: &str| {
        let resp = client.get(format!("http://{addr}{path}")).send().unwrap();
        assert_eq!(resp.status(), 200);
    };
    let limit = Duration::from_secs(5);

    get("/before-rotation");
    assert!(wait_for(limit, || lines_with(&log, "/before-rotation") == 1).is_some());
    // logrotate: rename, then tell the process.
    let first = dir.path().join("access.log.1");
    std::fs::rename(&log, &first).unwrap();
    gateway.signal("HUP");
    gateway.wait_log("access log reopened", 1, limit);
    get("/after-sighup");
    assert!(
        wait_for(limit, || lines_with(&log, "/after-sighup") == 1).is_some(),
        "the new file should get the lines; rotated one has {}",
        lines_with(&first, "/after-sighup")
    );
    assert_eq!(lines_with(&first, "/after-sighup"), 0);

    let second = dir.path().join("access.log.2");
    std::fs::rename(&log, &second).unwrap();
    assert_eq!(admin(&socket, "reopen logs"), "");
    gateway.wait_log("access log reopened", 2, limit);
    get("/after-reopen-logs");
    assert!(wait_for(limit, || lines_with(&log, "/after-reopen-logs") == 1).is_some());
    assert_eq!(lines_with(&second, "/after-reopen-logs"), 0);
}

/// A shell wrapper that starts the gateway with files capped at `bytes` (RLIMIT_FSIZE) and
/// SIGXFSZ ignored, so writes past the cap fail with EFBIG as on a full disk.
fn capped_gateway_program(dir: &Path, bytes: u64) -> PathBuf {
    let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("prlimit (util-linux) is needed to cap the file size");
    let script = dir.join("capped-gateway.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntrap '' XFSZ\nexec {prlimit} --fsize={bytes} {} \"$@\"\n",
            binary().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn access_log_lines_lost_to_a_full_disk_are_counted_one_by_one() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = access_log_config(dir.path(), addr, &a, stats);
    let program = capped_gateway_program(dir.path(), 48 * 1024);
    let gateway = Gateway::start_program(&program, dir.path(), &yaml, &[], &[addr, stats]);
    let log = dir.path().join("access.log");

    const REQUESTS: usize = 600;
    let client = http_client();
    for i in 0..REQUESTS {
        let resp = client.get(format!("http://{addr}/line{i}")).send().unwrap();
        assert_eq!(resp.status(), 200);
    }
    let written = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("/line")
            .count()
    };
    let lost = || {
        metric_value(&scrape(stats), "gateway_access_log_errors_total", &[]).unwrap_or(0.0) as usize
    };
    let all_accounted = wait_for(Duration::from_secs(10), || {
        std::fs::read(&log).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + lost()
            >= REQUESTS
    });
    let complete = std::fs::read(&log)
        .unwrap()
        .iter()
        .filter(|&&c| c == b'\n')
        .count();
    assert!(
        all_accounted.is_some(),
        "{complete} lines written + {} counted lost != {REQUESTS}; log:\n{}",
        lost(),
        gateway.log()
    );
    assert!(written() < REQUESTS, "the cap should have been reached");
    assert_eq!(complete + lost(), REQUESTS);
    assert_eq!(
        gateway.log().matches("lines are lost").count(),
        1,
        "the failure is logged once, not per write"
    );
}

#[test]
fn access_log_in_a_missing_directory_is_refused_by_the_check() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"127.0.0.1:1\"\n    redirect_https: {{}}\nbackends: {{}}\naccess_log: {{ path: /nonexistent/dir/access.log }}\n",
        server_section(dir.path())
    );
    let (code, out) = check(dir.path(), &yaml);
    assert_ne!(code, 0);
    assert!(
        out.contains("access_log.path: cannot open /nonexistent/dir/access.log"),
        "{out}"
    );
    let _ = accepting;
}
