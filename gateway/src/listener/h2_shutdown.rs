//! When an HTTP/2 connection hears of a shutdown (SIGTERM, or the old process of a `-u`
//! upgrade).
//!
//! Pingora sends GOAWAY on an HTTP/2 connection as soon as the shutdown watch it was given
//! turns true. A connection accepted just before the shutdown (by an L4 front, for a client
//! that could not know) has often not sent its first request yet: the GOAWAY then tells the
//! client to send nothing on it, and the connection closes. A client drops that request unsent
//! (hyper: "connection closed", and it retries only on a reused connection). So a connection
//! gets [`FIRST_STREAMS`] (at most `timeouts.client`) from its start to open streams before
//! its GOAWAY, as an HTTP/1 connection accepted before the shutdown gets its first request
//! served. Older connections get GOAWAY at once, as before.

use pingora::server::ShutdownWatch;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a new HTTP/2 connection may open streams before a shutdown reaches it.
pub const FIRST_STREAMS: Duration = Duration::from_secs(1);

/// The shutdown watch for an HTTP/2 connection starting now: it turns true when `shutdown`
/// does, but not before `wait` from now. The returned future forwards the shutdown and never
/// ends: poll it alongside the connection, so that it is dropped with it (no task outlives a
/// connection).
pub fn after_first_streams(
    shutdown: &ShutdownWatch,
    wait: Duration,
) -> (ShutdownWatch, impl Future<Output = Infallible>) {
    let not_before = Instant::now() + wait;
    let (delayed, watch) = watch::channel(false);
    let mut shutdown = shutdown.clone();
    let forward = async move {
        if shutdown.wait_for(|down| *down).await.is_ok() {
            tokio::time::sleep_until(not_before).await;
            let _ = delayed.send(true);
        }
        // Keep the sender: dropping it would end the connection's watch with an error.
        std::future::pending::<Infallible>().await
    };
    (watch, forward)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turned(watch: &ShutdownWatch) -> bool {
        *watch.borrow()
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_hears_of_the_shutdown_only_after_the_wait() {
        let (shutdown, watch) = watch::channel(false);
        let (delayed, forward) = after_first_streams(&watch, Duration::from_secs(1));
        let mut forward = Box::pin(forward);
        shutdown.send(true).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(900), &mut forward).await;
        assert!(early.is_err());
        assert!(!turned(&delayed));
        let _ = tokio::time::timeout(Duration::from_millis(200), &mut forward).await;
        assert!(turned(&delayed));
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_connection_hears_of_it_at_once() {
        let (shutdown, watch) = watch::channel(false);
        let (delayed, forward) = after_first_streams(&watch, Duration::from_secs(1));
        let mut forward = Box::pin(forward);
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut forward).await;
        assert!(!turned(&delayed));
        shutdown.send(true).unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(1), &mut forward).await;
        assert!(turned(&delayed));
        assert!(delayed.has_changed().unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn no_shutdown_no_change() {
        let (_shutdown, watch) = watch::channel(false);
        let (delayed, forward) = after_first_streams(&watch, Duration::from_secs(1));
        let _ = tokio::time::timeout(Duration::from_secs(60), forward).await;
        assert!(!turned(&delayed));
    }
}
