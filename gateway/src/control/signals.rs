//! Pingora's shutdown-signal watcher extended with SIGHUP. The signal loop itself never does
//! slow work: a reload is handed to the [`Reloader`] task (which reads the file on a thread
//! of its own, within a time limit), so SIGTERM, SIGQUIT and SIGINT are always answered.

use super::reload::Reloader;
use crate::live::Live;
use crate::state_file;
use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Pingora's shutdown-signal watcher, extended with SIGHUP (reload, log reopen) and the state
/// file.
pub struct Signals {
    live: Arc<Live>,
}

impl Signals {
    /// Signals acting on `live`.
    pub fn new(live: Arc<Live>) -> Self {
        Signals { live }
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let listen = |kind| signal(kind).expect("signal handlers can be installed");
        let mut hangup = listen(SignalKind::hangup());
        let mut quit = listen(SignalKind::quit());
        let mut terminate = listen(SignalKind::terminate());
        let mut interrupt = listen(SignalKind::interrupt());
        let reloader = Reloader::start(self.live.clone(), super::reload::READ_LIMIT);
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    crate::access_log::writer::request_reopen();
                    reloader.request();
                }
                _ = quit.recv() => {
                    log::warn!("SIGQUIT: handing over to the new process");
                    state_file::save(&self.live, false);
                    return ShutdownSignal::GracefulUpgrade;
                }
                _ = terminate.recv() => {
                    state_file::save(&self.live, false);
                    return ShutdownSignal::GracefulTerminate;
                }
                _ = interrupt.recv() => return ShutdownSignal::FastShutdown,
            }
        }
    }
}

/// Ignore SIGHUP until [`Signals`] listens for it: the default action would kill a process
/// that is still starting.
pub fn ignore_hangup_until_ready() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: ignoring a signal installs no handler code, so nothing can run unsafely in it.
    unsafe {
        let _ = signal(Signal::SIGHUP, SigHandler::SigIgn);
    }
}
