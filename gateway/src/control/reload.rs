//! Reloads (SIGHUP), one at a time on a task of their own, never on the signal loop.
//!
//! Reading the file (and the certificates and errorfiles it names) runs on a thread of its
//! own and gets [`READ_LIMIT`]: past it the reload is abandoned and logged as refused, and
//! the old configuration keeps serving; whatever that thread reads later is thrown away. A
//! panic while reading or applying is a refused reload too.

use crate::live::Live;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long reading the configuration for a reload may take.
pub const READ_LIMIT: Duration = Duration::from_secs(10);

/// Abandoned reads (threads still blocked) past which new reloads are refused at once.
const STUCK_READS_MAX: usize = 4;

/// Runs the reloads asked for with [`Reloader::request`].
pub struct Reloader {
    requests: mpsc::Sender<()>,
}

impl Reloader {
    /// Start the reload task for `live` on the current runtime; reads get `limit`.
    pub fn start(live: Arc<Live>, limit: Duration) -> Reloader {
        let (requests, mut asked) = mpsc::channel(1);
        tokio::spawn(async move {
            let reads = Reads::default();
            while asked.recv().await.is_some() {
                reload(&live, &reads, limit).await;
            }
        });
        Reloader { requests }
    }

    /// Ask for a reload. One already waiting to start reads the file as it is by then, so a
    /// second is not queued.
    pub fn request(&self) {
        let _ = self.requests.try_send(());
    }
}

async fn reload(live: &Arc<Live>, reads: &Reads, limit: Duration) {
    log::warn!("SIGHUP: reloading {}", live.source().display());
    let reader = live.clone();
    let outcome = match reads.within(limit, move || reader.read_config()).await {
        Ok(Ok(config)) => {
            let applier = live.clone();
            tokio::task::spawn_blocking(move || applier.apply(&config))
                .await
                .unwrap_or_else(|e| Err(vec![format!("applying the configuration failed: {e}")]))
        }
        Ok(Err(problems)) => Err(problems),
        Err(problem) => Err(vec![problem]),
    };
    live.log_reload(outcome);
}

/// Reads of the configuration on threads of their own.
#[derive(Default)]
struct Reads {
    /// Threads started and not finished (at most one not abandoned).
    running: Arc<AtomicUsize>,
}

impl Reads {
    /// Run `read` on a new thread and wait at most `limit` for it.
    async fn within<T: Send + 'static>(
        &self,
        limit: Duration,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let stuck = self.running.load(Ordering::Relaxed);
        if stuck >= STUCK_READS_MAX {
            return Err(format!(
                "{stuck} earlier reloads are still blocked reading files; not trying another"
            ));
        }
        let (done, result) = oneshot::channel();
        let running = self.running.clone();
        running.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                let value = std::panic::catch_unwind(AssertUnwindSafe(read));
                running.fetch_sub(1, Ordering::Relaxed);
                let _ = done.send(value);
            });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::Relaxed);
            return Err(format!(
                "cannot start a thread to read the configuration: {e}"
            ));
        }
        match tokio::time::timeout(limit, result).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(_))) | Ok(Err(_)) => {
                Err("reading the configuration failed unexpectedly (panic, see above)".into())
            }
            Err(_) => Err(format!(
                "reading the configuration took longer than {limit:?}: abandoned"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_that_blocks_is_abandoned_and_later_ones_still_run() {
        let reads = Reads::default();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let stuck = reads
            .within(Duration::from_millis(50), move || blocked.recv().is_ok())
            .await;
        assert!(stuck.unwrap_err().contains("abandoned"));
        assert_eq!(reads.within(Duration::from_secs(5), || 7).await, Ok(7));
        release.send(()).unwrap();
    }

    #[tokio::test]
    async fn a_panicking_read_is_an_error() {
        let reads = Reads::default();
        let read = reads
            .within(Duration::from_secs(5), || -> u8 { panic!("bad input") })
            .await;
        assert!(read.unwrap_err().contains("panic"));
        assert_eq!(reads.running.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn too_many_blocked_reads_refuse_at_once() {
        let reads = Reads::default();
        let mut releases = Vec::new();
        for _ in 0..STUCK_READS_MAX {
            let (release, blocked) = std::sync::mpsc::channel::<()>();
            releases.push(release);
            let read = reads
                .within(Duration::from_millis(10), move || blocked.recv().is_ok())
                .await;
            assert!(read.is_err());
        }
        let refused = reads.within(Duration::from_secs(5), || 1).await;
        assert!(refused.unwrap_err().contains("still blocked"));
    }
}
