//! A throwaway `redis-server` (Debian's) on 127.0.0.1, without persistence; killed when
//! dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl RedisServer {
    /// Start one on a free port, its files (log) in `dir`; panics when `redis-server` is
    /// missing or does not come up.
    pub fn start(dir: &Path) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            addr: crate::free_addr(),
            dir: dir.to_path_buf(),
        };
        server.restart();
        server
    }

    /// `redis://addr/0`.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// Start it again on the same port (after [`RedisServer::stop`]), empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let program = crate::require_program("redis-server", "redis-server");
        let log = std::fs::File::create(self.dir.join("redis.log")).unwrap();
        let child = Command::new(program)
            .args(["--port", &self.addr.port().to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let up = crate::wait_for(Duration::from_secs(10), || crate::accepting(self.addr));
        assert!(
            up.is_some(),
            "redis-server did not come up on {}",
            self.addr
        );
    }

    /// Send `signal` (e.g. `STOP`, `CONT`) to the server process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("running");
        crate::gateway::signal_pid(child.id(), signal);
    }

    /// Kill it and wait until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
