//! `tls.ticket_keys` (HAProxy `tls-ticket-keys`): a session from one gateway process resumes
//! on another that reads the same key file, not on one with other keys; the file is re-read on
//! SIGHUP; a bad file is refused by `gateway -t`.

use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, require_program, wait_for};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A key file of three random `len`-byte keys, HAProxy's format.
fn key_file(path: &Path, len: usize) -> PathBuf {
    let lines: Vec<String> = (0..3)
        .map(|_| {
            let mut key = vec![0u8; len];
            openssl::rand::rand_bytes(&mut key).unwrap();
            openssl::base64::encode_block(&key)
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    path.to_path_buf()
}

fn start(cert: &Path, keys: &Path, origin: &Origin) -> (tempfile::TempDir, SocketAddr, Gateway) {
    let dir = workdir();
    let addr = free_addr();
    let config = Config::new(dir.path())
        .listener(
            Listener::tls("https", addr, cert)
                .set("tls.ticket_keys", keys.display().to_string())
                .backend("app"),
        )
        .backend("app", Backend::of(&[origin]));
    let gateway = Gateway::start(dir.path(), &config.yaml(), &[addr]);
    (dir, addr, gateway)
}

/// One `openssl s_client` handshake with `addr` over `version` (`-tls1_2`, `-tls1_3`),
/// saving its session to `out` or offering the one in `session`: "New" or "Reused".
fn handshake(addr: SocketAddr, version: &str, session: &Path, save: bool) -> String {
    let mut command = Command::new(require_program("openssl", "openssl"));
    command
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .arg(version)
        .arg(if save { "-sess_out" } else { "-sess_in" })
        .arg(session);
    if version == "-tls1_3" {
        // TLS 1.3 tickets arrive after the handshake: ask for something and wait for it.
        command.arg("-ign_eof");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("New,") || l.starts_with("Reused,"));
    let line = line.unwrap_or_else(|| panic!("no session line from s_client: {text}"));
    line.split(',').next().unwrap().to_string()
}

#[test]
#[ignore = "needs openssl (make test installs it)"]
fn a_session_resumes_on_another_instance_with_the_same_keys_only() {
    let shared = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(shared.path(), &["localhost"]);
    let origin = Origin::start("a");
    let keys = key_file(&shared.path().join("tickets.key"), 80);
    let other = key_file(&shared.path().join("other.key"), 48);
    let (_d1, one, _g1) = start(&cert, &keys, &origin);
    let (_d2, two, _g2) = start(&cert, &keys, &origin);
    let (_d3, three, g3) = start(&cert, &other, &origin);
    for version in ["-tls1_2", "-tls1_3"] {
        let session = shared.path().join(format!("session{version}.pem"));
        assert_eq!(handshake(one, version, &session, true), "New", "{version}");
        assert_eq!(
            handshake(two, version, &session, false),
            "Reused",
            "{version}"
        );
        assert_eq!(
            handshake(three, version, &session, false),
            "New",
            "{version}"
        );
    }
    // Rotation: the third instance gets the shared keys on SIGHUP.
    std::fs::copy(&keys, &other).unwrap();
    g3.signal("HUP");
    let session = shared.path().join("session-tls1_2.pem");
    let resumed = wait_for(Duration::from_secs(10), || {
        handshake(three, "-tls1_2", &session, false) == "Reused"
    });
    assert!(resumed.is_some(), "the reloaded keys were not used");
}

#[test]
fn bad_key_files_are_refused_by_the_check() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let origin = Origin::start("a");
    let two_keys = dir.path().join("two.key");
    let key = openssl::base64::encode_block(&[7u8; 48]);
    std::fs::write(&two_keys, format!("{key}\n{key}\n")).unwrap();
    for (file, reason) in [
        (two_keys, "at least 3 are needed"),
        (dir.path().join("absent.key"), "absent.key"),
    ] {
        let config = Config::new(dir.path())
            .listener(
                Listener::tls("https", free_addr(), &cert)
                    .set("tls.ticket_keys", file.display().to_string())
                    .backend("app"),
            )
            .backend("app", Backend::of(&[&origin]));
        let (code, out) = check(dir.path(), &config.yaml());
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("listeners[0].tls.ticket_keys: "), "{out}");
        assert!(out.contains(reason), "{out}");
    }
}
