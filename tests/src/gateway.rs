//! The real `gateway` binary, started on a configuration written to a temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// Path of the `gateway` binary: `$GATEWAY_BIN`, or the workspace's debug build, built
/// from the current sources once per test process (see [`built_artifacts`]).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GATEWAY_BIN").map(PathBuf::from) {
        assert!(path.exists(), "GATEWAY_BIN={} not found", path.display());
        return path;
    }
    built("gateway")
}

/// Path of an example binary such as `custom_hook`: next to `$GATEWAY_BIN`, or built from
/// the current sources once per test process.
pub fn example_binary(name: &str) -> PathBuf {
    let path = match std::env::var_os("GATEWAY_BIN") {
        Some(bin) => PathBuf::from(bin).with_file_name("examples").join(name),
        None => built(name),
    };
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// The executable cargo built for target `name` (a bin or an example of `gateway`).
fn built(name: &str) -> PathBuf {
    built_artifacts()
        .iter()
        .find(|(target, _)| target == name)
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| panic!("cargo built no executable named {name}"))
}

/// Runs `$CARGO build -p gateway --bins --examples` once per test process and returns each
/// built executable by target name, so no test ever runs a binary older than the sources.
/// (Cargo releases its build lock while tests run, so this nested build does not wait.)
pub fn built_artifacts() -> &'static [(String, PathBuf)] {
    static BUILT: std::sync::OnceLock<Vec<(String, PathBuf)>> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new(cargo)
            .current_dir(&workspace)
            .args(["build", "-p", "gateway", "--bins", "--examples"])
            .args(["--message-format", "json-render-diagnostics"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build -p gateway");
        assert!(out.status.success(), "cargo build -p gateway failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["reason"] == "compiler-artifact")
            .filter_map(|msg| {
                let name = msg["target"]["name"].as_str()?.to_string();
                let path = PathBuf::from(msg["executable"].as_str()?);
                Some((name, path))
            })
            .collect()
    })
}

/// A directory for one test's configuration, certificates and logs.
pub fn workdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("gateway-test-")
        .tempdir()
        .expect("temp dir")
}

/// `server:` settings every test uses: pid file, upgrade socket and state file inside `dir`.
pub fn server_section(dir: &Path) -> String {
    format!(
        "server:\n  threads: 1\n  pid_file: {0}/gateway.pid\n  upgrade_sock: {0}/upgrade.sock\n  state_file: {0}/gateway.state\n  grace_period: 1s\n  graceful_shutdown_timeout: 1s\n",
        dir.display()
    )
}

/// Like [`admin`], but `None` while nothing listens on `socket` (between two processes of an
/// upgrade): for polling.
pub fn try_admin(socket: &Path, command: &str) -> Option<String> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    Some(exchange_admin(stream, command))
}

/// Send `command` to the admin socket at `socket`; the answer up to its closing empty line.
pub fn admin(socket: &Path, command: &str) -> String {
    let stream = std::os::unix::net::UnixStream::connect(socket).expect("admin socket");
    exchange_admin(stream, command)
}

fn exchange_admin(mut stream: std::os::unix::net::UnixStream, command: &str) -> String {
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("admin answer");
    answer
        .strip_suffix('\n')
        .unwrap_or_else(|| {
            panic!("answer to {command:?} does not end with an empty line: {answer:?}")
        })
        .to_string()
}

/// A configuration with one plain listener `web` on `addr` in front of backend `app`
/// (`origins`); `listener_extra` goes inside the listener (hooks, routes), `extra` after the
/// backend (more backends, top-level sections).
pub fn plain_config(
    dir: &Path,
    addr: SocketAddr,
    origins: &[&crate::origin::Origin],
    listener_extra: &str,
    extra: &str,
) -> String {
    format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n{listener_extra}backends:\n  app:\n    servers:\n{}{extra}",
        server_section(dir),
        crate::servers_yaml(origins)
    )
}

/// The TLS gateway the hostile-input tests attack: [`Gateway::start_tls`] in front of the one
/// server at `origin_addr`, with short timeouts (connect 1 s, client 2 s, server 3 s), the
/// configuration then changed by `change`. (A TLS gateway in front of servers given by address
/// is [`crate::scripted::tls_gateway`].)
pub fn tls_gateway_short_timeouts(
    dir: &Path,
    pki: &crate::pki::Pki,
    origin_addr: impl ToString,
    addr: SocketAddr,
    change: impl FnOnce(crate::config::Config) -> crate::config::Config,
) -> Gateway {
    let app = crate::config::Backend::default().server("o", origin_addr);
    Gateway::start_tls(dir, pki, addr, app, |config| {
        change(config.set(
            "timeouts",
            crate::config::yaml("{ connect: 1s, client: 2s, server: 3s }"),
        ))
    })
}

/// Run `gateway -t -c` on `yaml`; returns the exit code and everything it printed.
pub fn check(dir: &Path, yaml: &str) -> (i32, String) {
    let path = dir.join("check.yaml");
    std::fs::write(&path, yaml).unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run gateway -t");
    let text = String::from_utf8_lossy(&stdout).into_owned() + &String::from_utf8_lossy(&stderr);
    (status.code().unwrap_or(-1), text)
}

/// A running gateway process; killed when dropped.
pub struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Gateway {
    /// Write `yaml` to `dir/gateway.yaml`, start the gateway on it and wait until every
    /// address in `ready` accepts connections.
    pub fn start(dir: &Path, yaml: &str, ready: &[SocketAddr]) -> Gateway {
        Gateway::start_with(dir, yaml, &[], ready)
    }

    /// Like [`Gateway::start`], with extra command-line flags (`-u`, `-d`).
    pub fn start_with(dir: &Path, yaml: &str, flags: &[&str], ready: &[SocketAddr]) -> Gateway {
        Gateway::start_program(&binary(), dir, yaml, flags, ready)
    }

    /// Like [`Gateway::start_with`], running `program` (e.g. a custom-hook build).
    pub fn start_program(
        program: &Path,
        dir: &Path,
        yaml: &str,
        flags: &[&str],
        ready: &[SocketAddr],
    ) -> Gateway {
        let config = dir.join("gateway.yaml");
        std::fs::write(&config, yaml).unwrap();
        let log = dir.join(format!("gateway{}.log", flags.concat()));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(flags)
            .arg("-c")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start gateway");
        let mut gateway = Gateway { child, log };
        for addr in ready {
            let up = crate::wait_for(Duration::from_secs(10), || crate::accepting(*addr));
            if up.is_none() {
                let status = gateway.child.try_wait().ok().flatten();
                panic!(
                    "gateway not accepting on {addr} (exit: {status:?}); log:\n{}",
                    gateway.log()
                );
            }
        }
        gateway
    }

    /// Start the gateway with one TLS listener `https` on `addr` (a `localhost` certificate
    /// from `pki`, written into `dir`) in front of backend `app`, the configuration first
    /// changed by `change`; wait until `addr` accepts connections.
    pub fn start_tls(
        dir: &Path,
        pki: &crate::pki::Pki,
        addr: SocketAddr,
        app: crate::config::Backend,
        change: impl FnOnce(crate::config::Config) -> crate::config::Config,
    ) -> Gateway {
        let cert = pki.leaf(dir, &["localhost"]);
        let config = crate::config::Config::new(dir)
            .listener(crate::config::Listener::tls("https", addr, &cert).backend("app"))
            .backend("app", app);
        Gateway::start(dir, &change(config).yaml(), &[addr])
    }

    /// Start a new process with `-u` on `yaml` (written to `dir/gateway.yaml`) and wait until
    /// it listens on the upgrade socket `dir/upgrade.sock` (as [`server_section`] and
    /// [`crate::config::Config::new`] place it) for the running process's sockets: from then
    /// on, SIGQUIT to the old process hands over.
    pub fn start_upgrade(dir: &Path, yaml: &str) -> Gateway {
        Gateway::start_program_upgrade(&binary(), dir, yaml)
    }

    /// Like [`Gateway::start_upgrade`], running `program`.
    pub fn start_program_upgrade(program: &Path, dir: &Path, yaml: &str) -> Gateway {
        let socket = dir.join("upgrade.sock");
        assert!(
            !socket.exists(),
            "{} exists before the upgrade",
            socket.display()
        );
        let mut new = Gateway::start_program(program, dir, yaml, &["-u"], &[]);
        let listening = crate::wait_for(Duration::from_secs(10), || socket.exists());
        if listening.is_none() {
            let status = new.child.try_wait().ok().flatten();
            panic!(
                "the new process never listened on {} (exit: {status:?}); log:\n{}",
                socket.display(),
                new.log()
            );
        }
        new
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` (e.g. `QUIT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        signal_pid(self.pid(), signal);
    }

    /// Wait up to `limit` for the process to exit; its exit code if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let mut code = None;
        crate::wait_for(limit, || {
            code = self
                .child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code
    }

    /// Everything the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait up to `limit` until the log contains `text` `count` times or more.
    pub fn wait_log(&self, text: &str, count: usize, limit: Duration) {
        let seen = crate::wait_for(limit, || self.log().matches(text).count() >= count);
        assert!(
            seen.is_some(),
            "{text:?} not logged {count} time(s); log:\n{}",
            self.log()
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `signal` to process `pid` with kill(1).
pub fn signal_pid(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{signal} {pid}");
}
