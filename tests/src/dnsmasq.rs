//! A throwaway `dnsmasq` (Debian's) on 127.0.0.1: answers from a hosts file it re-reads on
//! SIGHUP, logs every query to a file; killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `dnsmasq`.
pub struct Dnsmasq {
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    hosts: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Dnsmasq {
    /// Start one on a free port answering `hosts` (hosts-file lines) with a TTL of 1 s.
    pub fn start(dir: &Path, hosts: &str) -> Dnsmasq {
        Dnsmasq::start_with(dir, hosts, 1, &[])
    }

    /// Like [`Dnsmasq::start`], with the records' TTL in seconds and more options
    /// (`--srv-host=…`); panics when `dnsmasq` is missing or does not answer.
    pub fn start_with(dir: &Path, hosts: &str, ttl: u32, options: &[String]) -> Dnsmasq {
        let program = crate::require_program("dnsmasq", "dnsmasq");
        let addr = crate::free_addr();
        let path = dir.join("dns.hosts");
        let log = dir.join("dns.log");
        std::fs::write(&path, hosts).unwrap();
        let child = Command::new(program)
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .args(["--listen-address=127.0.0.1", "--pid-file=", "--log-queries"])
            .arg(format!("--local-ttl={ttl}"))
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--port={}", addr.port()))
            .arg(format!("--addn-hosts={}", path.display()))
            .arg("--user=root")
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let dns = Dnsmasq {
            addr,
            hosts: path,
            log,
            child,
        };
        let up = crate::wait_for(Duration::from_secs(10), || {
            std::net::UdpSocket::bind("127.0.0.1:0").is_ok_and(|s| {
                s.connect(addr).is_ok()
                    && s.set_read_timeout(Some(Duration::from_millis(100))).is_ok()
                    && s.send(&probe()).is_ok()
                    && s.recv(&mut [0u8; 512]).is_ok()
            })
        });
        assert!(up.is_some(), "dnsmasq did not answer on {addr}");
        dns
    }

    /// Replace the hosts file and make dnsmasq read it again.
    pub fn set_hosts(&self, hosts: &str) {
        std::fs::write(&self.hosts, hosts).unwrap();
        crate::gateway::signal_pid(self.child.id(), "HUP");
    }

    /// How many questions about `name` it was asked so far.
    pub fn queries(&self, name: &str) -> usize {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let asked = format!("] {name} from ");
        text.lines()
            .filter(|l| l.contains(" query[") && l.contains(&asked))
            .count()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill it and wait until it is gone.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A DNS query for `probe.test` A.
fn probe() -> Vec<u8> {
    let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5];
    q.extend_from_slice(b"probe\x04test\x00\x00\x01\x00\x01");
    q
}
