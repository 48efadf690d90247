//! The process's control plane: signals (reload, upgrade, stop), the background service that
//! runs health checks and the admin socket, and the privilege drop after binding.
//!
//! Signals, as HAProxy and Pingora operators know them:
//! - `SIGHUP`: reload the YAML in place, off the signal loop and within a time limit
//!   ([`reload`]); a bad or slow file leaves the old one. The access log is reopened.
//! - `SIGQUIT`: hand the listening sockets to a new process started with `-u` (Pingora), after
//!   writing the state file the new process starts from; then finish in-flight requests.
//! - `SIGTERM`: graceful stop (state file written); `SIGINT`: fast stop.

mod reload;
mod signals;

pub use signals::{ignore_hangup_until_ready, Signals};

use crate::live::Live;
use crate::privileges::Identity;
use crate::state_file;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long the listeners get to be bound before privileges are dropped regardless.
const BIND_WAIT: Duration = Duration::from_secs(30);

/// Raise the open-file limit to its hard maximum, and warn when even that cannot hold
/// `max_connections` served connections (a client and an origin socket each), as many waiting,
/// and the listeners, checks and logs.
pub fn raise_open_file_limit(max_connections: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((mut soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        soft = hard;
    }
    let needed = (max_connections as u64) * 3 + 256;
    if soft < needed {
        log::warn!(
            "open-file limit {soft} is below the {needed} that server.max_connections {max_connections} may need; raise LimitNOFILE or lower max_connections"
        );
    }
}

/// The background service: health checks, the admin socket, the privilege drop, and
/// following the previous process after an upgrade.
pub struct Control {
    live: Arc<Live>,
    admin_socket: Option<(PathBuf, Duration)>,
    identity: Option<(Identity, Vec<u16>)>,
    /// After an upgrade: the state taken over, and how long to wait for the old process's
    /// last one.
    taken_over: std::sync::Mutex<Option<(state_file::SavedState, Duration)>>,
}

impl Control {
    /// Control for `live`; `admin_socket` is the admin socket's path and idle timeout;
    /// `identity` is who to become once the `u16` ports are bound.
    pub fn new(
        live: Arc<Live>,
        admin_socket: Option<(PathBuf, Duration)>,
        identity: Option<(Identity, Vec<u16>)>,
    ) -> Self {
        Control {
            live,
            admin_socket,
            identity,
            taken_over: std::sync::Mutex::new(None),
        }
    }

    /// After an upgrade, add the counts the old process (whose hand-over state is `state`)
    /// makes after the hand-over, once it exits (within `limit`).
    pub fn follow(&self, state: state_file::SavedState, limit: Duration) {
        *self.taken_over.lock().unwrap_or_else(|e| e.into_inner()) = Some((state, limit));
    }
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Some((identity, ports)) = self.identity.clone() {
            std::thread::spawn(move || {
                crate::privileges::drop_after_bind(identity, ports, BIND_WAIT)
            });
        }
        self.live.start_checks(tokio::runtime::Handle::current());
        self.live
            .start_discovery(&tokio::runtime::Handle::current());
        if let Some((path, idle)) = self.admin_socket.clone() {
            let (live, shutdown) = (self.live.clone(), shutdown.clone());
            tokio::spawn(async move { crate::admin::serve(&path, live, idle, shutdown).await });
        }
        let taken_over = self
            .taken_over
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((first, limit)) = taken_over {
            let path = self.live.state_file.clone();
            std::thread::spawn(move || state_file::follow_old_process(&path, &first, limit));
        }
        let _ = shutdown.changed().await;
    }
}
