//! Admin-socket sessions through the real binary: a command line is run whole or, past
//! 16 KiB, refused whole; an idle session is closed after `admin.timeout` while a talking one
//! is not; `gateway -t` checks that timeout.

use gateway_tests::admin_socket::{server_state, start_with_admin};
use gateway_tests::free_addr;
use gateway_tests::gateway::{admin, check, plain_config, workdir};
use gateway_tests::origin::Origin;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A plain listener on `addr` in front of `origins`, with an admin socket in `dir` and
/// `extra` (top-level sections) appended.
fn admin_config(
    dir: &Path,
    addr: SocketAddr,
    origins: &[&Origin],
    admin: &str,
    extra: &str,
) -> String {
    let socket = dir.join("admin.sock");
    plain_config(
        dir,
        addr,
        origins,
        "",
        &format!("admin: {{ socket: {}{admin} }}\n{extra}", socket.display()),
    )
}

const SRV_UWEIGHT: usize = 7;

#[test]
fn an_admin_line_is_run_whole_or_refused_whole() {
    let dir = workdir();
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = admin_config(dir.path(), addr, &[&a], "", "");
    let (_gateway, socket) = start_with_admin(dir.path(), &yaml, addr);

    // 4096 bytes end right after "weight 10": a reader that cuts lines there sets weight 10.
    let prefix = "help;".repeat(814);
    let line = format!("{prefix}set server app/a weight 100");
    assert_eq!(prefix.len() + "set server app/a weight 10".len(), 4096);
    let answer = admin(&socket, &line);
    assert_eq!(
        answer.matches("The following commands are valid").count(),
        814
    );
    assert_eq!(server_state(&socket, "a")[SRV_UWEIGHT], "100");

    // Past 16 KiB: refused, nothing of it run, the session closed.
    let too_long = format!("{}set server app/a weight 7", "help;".repeat(4000));
    let answer = admin(&socket, &too_long);
    assert!(answer.starts_with("Command line too long"), "{answer:.200}");
    assert!(!answer.contains("The following commands"), "{answer:.200}");
    assert_eq!(server_state(&socket, "a")[SRV_UWEIGHT], "100");
}

#[test]
fn idle_admin_sessions_are_closed_after_the_timeout() {
    let dir = workdir();
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = admin_config(dir.path(), addr, &[&a], ", timeout: 1s", "");
    let (_gateway, socket) = start_with_admin(dir.path(), &yaml, addr);

    let mut idle = UnixStream::connect(&socket).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let read = idle.read_to_end(&mut rest);
    assert!(
        matches!(read, Ok(0)),
        "the gateway should close an idle session: {read:?}"
    );

    // A session that keeps talking (every 200 ms, longer than the 1 s timeout in all) is not cut.
    let mut busy = UnixStream::connect(&socket).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..6 {
        busy.write_all(b"show info\n").unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\n\n") {
            busy.read_exact(&mut byte).unwrap();
            answer.push(byte[0]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn admin_timeout_is_checked_by_the_config_test() {
    let dir = workdir();
    let a = Origin::start("a");
    let base = plain_config(dir.path(), "127.0.0.1:1".parse().unwrap(), &[&a], "", "");
    let socket = dir.path().join("admin.sock");
    let (code, out) = check(
        dir.path(),
        &format!(
            "{base}admin: {{ socket: {}, timeout: 10s }}\n",
            socket.display()
        ),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(
        dir.path(),
        &format!(
            "{base}admin: {{ socket: {}, timeout: soon }}\n",
            socket.display()
        ),
    );
    assert_ne!(code, 0);
    assert!(out.contains("admin.timeout: invalid duration"), "{out}");
}
