//! HAProxy's `maxconn`: admitting a connection before anything else is done with it.

use pingora::protocols::Stream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections allowed to wait for a slot, at the least.
pub const MIN_QUEUE: usize = 64;

/// HAProxy `maxconn`, process-wide: at most `max` connections are served at once; up to `max`
/// more (at least [`MIN_QUEUE`]) wait for a slot, holding nothing but their socket; beyond that
/// a new connection is closed at once, so a flood cannot exhaust file descriptors.
pub struct ConnectionLimit {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl ConnectionLimit {
    /// A limit of `max` served connections (and `max`, at least [`MIN_QUEUE`], waiting).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(ConnectionLimit {
            slots: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            max_waiting: max.max(MIN_QUEUE),
        })
    }

    /// A slot, once one is free; `None` when too many connections are already waiting.
    pub(super) async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let _waiting = Waiting(&self.waiting);
        self.slots.clone().acquire_owned().await.ok()
    }
}

/// Completes when the client closes before sending anything (a queued connection it gave up
/// on); never, once it has sent a byte (the byte stays buffered for the request).
pub(super) async fn client_gone(stream: &mut Stream) {
    let mut first = [0u8; 1];
    if stream.try_peek(&mut first).await.is_ok() {
        std::future::pending::<()>().await;
    }
}
