//! `gateway` run on a configuration it must refuse, for the `config_*` tests: each run bounded
//! by [`LIMIT`] and never a panic, and a valid base configuration ([`config`]) to spoil.

use crate::gateway::{binary, server_section, workdir};
use crate::wait_for;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longest a refusal may take: every case of the `config_*` tests is refused in milliseconds.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Run the gateway with `args` and the configuration file `path`; its exit code and output.
/// Killed (and the test failed) if it runs longer than [`LIMIT`].
pub fn run(args: &[&str], path: &Path) -> (i32, String) {
    let dir = workdir();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(binary())
        .args(args)
        .arg("-c")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run gateway");
    let mut status = None;
    wait_for(LIMIT, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "gateway {args:?} -c {} still running after {LIMIT:?}",
            path.display()
        );
    };
    let text = std::fs::read_to_string(out).unwrap() + &std::fs::read_to_string(err).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    (status.code().unwrap_or(-1), text)
}

/// `gateway -t` on `path` exits 1 and prints each of `expected`.
pub fn assert_refused_file(path: &Path, expected: &[&str]) {
    let (code, out) = run(&["-t"], path);
    assert_eq!(code, 1, "expected a refusal, got:\n{out}");
    for needle in expected {
        assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
    }
}

/// `gateway -t` on `yaml` exits 1 and prints each of `expected`.
pub fn assert_refused(dir: &Path, yaml: &str, expected: &[&str]) {
    let path = dir.join("check.yaml");
    std::fs::write(&path, yaml).unwrap();
    assert_refused_file(&path, expected);
}

/// A valid configuration: one plain listener in front of backend `app`; the extras go inside
/// the listener, inside the backend, and after everything (sections not already present).
pub fn config(dir: &Path, listener_extra: &str, backend_extra: &str, extra: &str) -> String {
    format!(
        "{}listeners:\n  - name: web\n    address: \"127.0.0.1:18080\"\n    backend: app\n{listener_extra}backends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\" }}\n{backend_extra}{extra}",
        server_section(dir)
    )
}
