//! HAProxy (Debian's) as an L4 front: `mode tcp`, `send-proxy-v2` and `check` to each
//! gateway, standing in for an AWS NLB; its state read from the stats socket. Killed when
//! dropped.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running HAProxy in front of some gateways.
pub struct Front {
    /// Balanced (round robin, per connection) over every gateway that is up.
    pub addr: SocketAddr,
    /// One address per gateway, to reach that one only.
    pub pinned: Vec<SocketAddr>,
    socket: PathBuf,
    child: Child,
}

/// The balanced backend's name in HAProxy; its servers are `gw0`, `gw1`, ...
pub const BALANCED: &str = "gateways";

impl Front {
    /// Start HAProxy with its files in `dir` in front of `gateways` (TLS listeners that
    /// accept PROXY v2 from 127.0.0.1); checks every 200 ms, down after 2 failures. Panics
    /// when `haproxy` is missing or does not come up.
    pub fn start(dir: &Path, gateways: &[SocketAddr]) -> Front {
        let program = crate::require_program("haproxy", "haproxy");
        let addr = crate::free_addr();
        let pinned: Vec<SocketAddr> = gateways.iter().map(|_| crate::free_addr()).collect();
        let socket = dir.join("haproxy.sock");
        let mut config = format!(
            "global\n  stats socket {} level admin\n  log stderr format raw local0 info\n\
             defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 2s\n  timeout client 60s\n  \
             timeout server 60s\n  retries 2\n  option redispatch\n\
             frontend balanced\n  bind {addr}\n  default_backend {BALANCED}\n\
             backend {BALANCED}\n  balance roundrobin\n",
            socket.display()
        );
        for (i, gateway) in gateways.iter().enumerate() {
            config += &format!(
                "  server gw{i} {gateway} send-proxy-v2 check inter 200ms fall 2 rise 2\n"
            );
        }
        for (i, (gateway, front)) in gateways.iter().zip(&pinned).enumerate() {
            config += &format!(
                "frontend pinned{i}\n  bind {front}\n  default_backend only{i}\n\
                 backend only{i}\n  server gw{i} {gateway} send-proxy-v2\n"
            );
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new(program)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let front = Front {
            addr,
            pinned,
            socket,
            child,
        };
        let up = crate::wait_for(Duration::from_secs(10), || {
            crate::accepting(front.addr) && front.pinned.iter().all(|a| crate::accepting(*a))
        });
        assert!(up.is_some(), "haproxy did not come up on {}", front.addr);
        front
    }

    /// The answer to `command` on the stats socket.
    pub fn ask(&self, command: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).expect("haproxy stats socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    /// The `status` column of `show stat` for server `server` of backend `backend`
    /// (`UP`, `DOWN`, `UP 1/2`, ...); empty when there is no such row.
    pub fn status(&self, backend: &str, server: &str) -> String {
        let stat = self.ask("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = header.iter().position(|c| *c == "status");
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|row| row.first() == Some(&backend) && row.get(1) == Some(&server))
            .and_then(|row| Some(row.get(column?)?.to_string()))
            .unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
