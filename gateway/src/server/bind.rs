//! Listening sockets bound by the gateway itself, so that a bind failure at start is fatal with
//! its reason (as in HAProxy and nginx) rather than a panic in one Pingora thread while the rest
//! serves. The sockets go into Pingora's fd table (the one `-u` hands over), where its listeners
//! find them instead of binding again. They are bound but not listening: Pingora calls
//! `listen()` when its service starts, so a client that connects earlier is refused rather than
//! queued before the process is ready (a SIGHUP sent then would be lost).

use crate::config::model::Config;
use async_trait::async_trait;
use pingora::server::{ListenFds, RuntimeOpts, ShutdownWatch};
use pingora::services::Service;
use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use tokio::net::TcpSocket;

/// A socket bound at start for the listening address `key` (the address string given to Pingora).
pub struct Bound {
    what: String,
    key: String,
    address: SocketAddr,
    socket: Option<TcpSocket>,
}

impl Bound {
    /// Bind `address` now (a fresh start); `what` names it in errors.
    pub fn now(what: &str, address: SocketAddr) -> Result<Self, String> {
        let socket = bind(what, address)?;
        Ok(Self {
            socket: Some(socket),
            ..Self::later(what, address)
        })
    }

    /// An address whose socket comes from the old process (`-u`), or is bound when the
    /// service starts if the old process did not have it.
    pub fn later(what: &str, address: SocketAddr) -> Self {
        Self {
            what: what.to_string(),
            key: address.to_string(),
            address,
            socket: None,
        }
    }

    /// Put the socket into `fds` unless it already holds one for this address (handed over).
    /// A socket that cannot be had is fatal: the process exits with the reason.
    fn install(&mut self, fds: &ListenFds) {
        let mut table = fds.lock();
        if table.get(&self.key).is_some() {
            return;
        }
        let socket = match self.socket.take() {
            Some(socket) => socket,
            None => bind(&self.what, self.address).unwrap_or_else(|e| fatal(&e)),
        };
        table.add(self.key.clone(), socket.into_raw_fd());
    }
}

/// A non-blocking socket bound to `address` with SO_REUSEADDR, as Pingora binds its own;
/// Pingora's listener calls `listen()` on it when it takes the fd.
fn bind(what: &str, address: SocketAddr) -> Result<TcpSocket, String> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    };
    socket
        .and_then(|socket| socket.set_reuseaddr(true).map(|()| socket))
        .and_then(|socket| socket.bind(address).map(|()| socket))
        .map_err(|e| format!("{what}: cannot bind {address}: {e}"))
}

fn fatal(reason: &str) -> ! {
    log::error!("{reason}");
    eprintln!("gateway: {reason}");
    std::process::exit(1)
}

/// A listening service started only once its sockets are in Pingora's fd table. Should the
/// service still fail to start (its listener panics), the process exits instead of running on
/// without it.
pub struct WithSockets<S> {
    inner: S,
    sockets: Vec<Bound>,
}

impl<S> WithSockets<S> {
    pub fn new(inner: S, sockets: Vec<Bound>) -> Self {
        Self { inner, sockets }
    }
}

#[async_trait]
impl<S: Service + 'static> Service for WithSockets<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let Some(fds) = &fds {
            for socket in &mut self.sockets {
                socket.install(fds);
            }
        }
        let name = self.inner.name().to_string();
        let started = self.inner.start_service(fds, shutdown, listeners_per_fd);
        if let Err(panic) =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(started)).await
        {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            fatal(&format!("{name}: {reason}"));
        }
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn runtime_opts_override(&self, global: &RuntimeOpts) -> Option<RuntimeOpts> {
        self.inner.runtime_opts_override(global)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}

/// The sockets of every listener, then the stats listener, in `config`'s order: bound now at a
/// fresh start (a failure is returned, with the address and reason), else left to the hand-over.
pub fn all(config: &Config, now: bool) -> Result<Vec<Bound>, String> {
    config
        .listeners
        .iter()
        .map(|l| (format!("listener {}", l.name), l.address))
        .chain(config.stats.map(|s| ("stats".to_string(), s.address)))
        .map(|(what, address)| match now {
            true => Bound::now(&what, address),
            false => Ok(Bound::later(&what, address)),
        })
        .collect()
}

/// The sockets of `sockets` for `address`, taken out.
pub fn take(sockets: &mut Vec<Bound>, address: SocketAddr) -> Vec<Bound> {
    let (mine, rest) = std::mem::take(sockets)
        .into_iter()
        .partition(|s| s.address == address);
    *sockets = rest;
    mine
}
