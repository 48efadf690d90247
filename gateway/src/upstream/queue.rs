//! A backend's queue (HAProxy `maxconn` per server, `maxqueue`, `timeout queue`): a request
//! that finds every eligible server at its `max_connections` waits here, first come first
//! served, and goes to the first server that frees a slot. Only backends with a limited
//! server have one; the others never touch it.

use super::{ServerState, Upstream};
use crate::metrics::{QUEUE_CURRENT, QUEUE_REFUSED, QUEUE_WAIT};
use prometheus::{Histogram, IntCounter, IntGauge};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// HAProxy's window for `qtime`: the average over the last 1024 requests.
const QTIME_WINDOW: u64 = 1024;

/// Why a request left the queue without a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_queue` requests were already waiting.
    Full,
    /// It waited `timeouts.queue`.
    Timeout,
    /// The client went away.
    ClientGone,
}

/// One waiting request: its place and where its server is sent.
struct Waiter {
    id: u64,
    grant: oneshot::Sender<usize>,
}

/// The requests waiting for a server of one backend.
pub struct Queue {
    waiters: Mutex<VecDeque<Waiter>>,
    /// `waiters.len()`, readable without the lock.
    len: AtomicUsize,
    max_seen: AtomicUsize,
    limit: Option<usize>,
    next_id: AtomicU64,
    /// HAProxy's sliding sum of queue times in ms (`qtime` is it / [`QTIME_WINDOW`]).
    qtime_sum: AtomicU64,
    current: IntGauge,
    wait: Histogram,
    full: IntCounter,
    timeout: IntCounter,
}

impl Queue {
    /// The queue of `backend`, holding at most `limit` requests.
    pub(super) fn new(backend: &str, limit: Option<usize>) -> Queue {
        Queue {
            waiters: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            max_seen: AtomicUsize::new(0),
            limit,
            next_id: AtomicU64::new(0),
            qtime_sum: AtomicU64::new(0),
            current: QUEUE_CURRENT.with_label_values(&[backend]),
            wait: QUEUE_WAIT.with_label_values(&[backend]),
            full: QUEUE_REFUSED.with_label_values(&[backend, "full"]),
            timeout: QUEUE_REFUSED.with_label_values(&[backend, "timeout"]),
        }
    }

    /// Requests waiting now.
    pub fn current(&self) -> usize {
        self.len.load(SeqCst)
    }

    /// The most requests that waited at once.
    pub fn max(&self) -> usize {
        self.max_seen.load(SeqCst)
    }

    /// `max_queue`, if set.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// HAProxy's `qtime`: average time in the queue of the last 1024 requests, in ms.
    pub fn average_ms(&self) -> u64 {
        self.qtime_sum.load(SeqCst) / QTIME_WINDOW
    }

    /// Add one request's time in the queue (0 when it did not wait) to `qtime`.
    fn note_wait(&self, waited: Duration) {
        let ms = waited.as_millis() as u64;
        let _ = self
            .qtime_sum
            .fetch_update(SeqCst, SeqCst, |sum| Some(sum - sum / QTIME_WINDOW + ms));
    }

    fn remove(&self, id: u64) -> bool {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(at) = waiters.iter().position(|w| w.id == id) else {
            return false;
        };
        waiters.remove(at);
        self.len.store(waiters.len(), SeqCst);
        self.current.set(waiters.len() as i64);
        true
    }
}

impl ServerState {
    /// Whether the server is below its `max_connections` (always, without one).
    pub fn has_slot(&self) -> bool {
        self.max_connections()
            .is_none_or(|max| self.active.load(SeqCst) < max)
    }

    /// Take one of the server's slots, if it has one free; counts the request in flight.
    fn try_acquire(&self) -> bool {
        let max = self.max_connections().unwrap_or(usize::MAX);
        let taken = self
            .active
            .fetch_update(SeqCst, SeqCst, |n| (n < max).then_some(n + 1));
        match taken {
            Ok(before) => {
                self.note_sessions(before + 1);
                true
            }
            Err(_) => false,
        }
    }
}

impl Upstream {
    /// The backend's queue, when a server has `max_connections`.
    pub fn queue(&self) -> Option<&Queue> {
        self.queue.as_ref()
    }

    /// Requests waiting in the backend's queue (HAProxy `backend_queue`, `qcur`).
    pub fn queue_current(&self) -> usize {
        self.queue.as_ref().map_or(0, Queue::current)
    }

    /// Take a slot of server `index` for a request, when the backend has a queue. False when
    /// the server is full, or when others are already waiting (they go first).
    pub fn try_admit(&self, index: usize) -> bool {
        match &self.queue {
            Some(queue) if queue.current() > 0 => false,
            _ => self.servers[index].try_acquire(),
        }
    }

    /// Whether some server other than `avoid` would take requests if it had a free slot.
    pub fn any_eligible(&self, avoid: Option<usize>) -> bool {
        self.servers
            .iter()
            .enumerate()
            .any(|(i, s)| avoid != Some(i) && s.takes_requests())
    }

    /// Wait in the queue for a server slot: the server's index, or why not. `closed`
    /// resolves when the client goes away. Requires a queue ([`Self::queue`]).
    pub async fn wait_for_slot(
        &self,
        timeout: Duration,
        closed: impl Future<Output = ()>,
    ) -> Result<usize, Refusal> {
        let queue = self
            .queue
            .as_ref()
            .expect("only backends with a queue wait");
        let started = Instant::now();
        let (grant, granted) = oneshot::channel();
        let id = queue.next_id.fetch_add(1, SeqCst);
        {
            let mut waiters = queue.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if queue.limit.is_some_and(|limit| waiters.len() >= limit) {
                queue.full.inc();
                return Err(Refusal::Full);
            }
            waiters.push_back(Waiter { id, grant });
            queue.len.store(waiters.len(), SeqCst);
            queue.max_seen.fetch_max(waiters.len(), SeqCst);
            queue.current.set(waiters.len() as i64);
        }
        // A slot may have been freed while the request was not yet waiting.
        self.dispatch();
        let mut granted = granted;
        let outcome = tokio::select! {
            biased;
            index = &mut granted => index.map_err(|_| Refusal::Timeout),
            () = tokio::time::sleep(timeout) => Err(Refusal::Timeout),
            () = closed => Err(Refusal::ClientGone),
        };
        let outcome = match outcome {
            Err(refusal) if !queue.remove(id) => {
                // Granted just now: take it unless the client is gone.
                match granted.try_recv() {
                    Ok(index) if refusal == Refusal::ClientGone => {
                        self.release(index);
                        Err(refusal)
                    }
                    Ok(index) => Ok(index),
                    Err(_) => Err(refusal),
                }
            }
            other => other,
        };
        let waited = started.elapsed();
        queue.wait.observe(waited.as_secs_f64());
        queue.note_wait(waited);
        if outcome == Err(Refusal::Timeout) {
            queue.timeout.inc();
        }
        outcome
    }

    /// Count a request that got a server without waiting into `qtime`.
    pub fn admitted_at_once(&self) {
        if let Some(queue) = &self.queue {
            queue.note_wait(Duration::ZERO);
        }
    }

    /// Give server `index`'s slot back, then let the first waiting requests have the slots
    /// now free.
    pub fn release(&self, index: usize) {
        let Some(queue) = &self.queue else {
            self.servers[index].finished();
            return;
        };
        // Sequentially consistent with the waiter's push and its look for a free slot: one
        // of the two sees the other, so no waiter misses this slot.
        self.servers[index].active.fetch_sub(1, SeqCst);
        if queue.current() > 0 {
            self.dispatch();
        }
    }

    /// Hand free slots to waiting requests, first come first served, while an eligible server
    /// has one.
    pub fn dispatch(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let mut waiters = queue.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let mut misses = 0;
        while !waiters.is_empty() && misses < self.servers.len() {
            let Some(index) = self.pick(None, None) else {
                break;
            };
            if !self.servers[index].try_acquire() {
                misses += 1;
                continue;
            }
            let waiter = waiters.pop_front().expect("not empty");
            if waiter.grant.send(index).is_err() {
                // Its request has just given up; the slot goes to the next.
                self.servers[index].finished();
            }
        }
        queue.len.store(waiters.len(), SeqCst);
        queue.current.set(waiters.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;
    use crate::config::model::{self, Balance};
    use crate::upstream::Upstream;
    use std::sync::Arc;
    use std::time::Duration;

    /// A backend of `n` servers with `max_connections: 1` and `max_queue`.
    fn upstream(n: usize, max_queue: Option<usize>) -> Arc<Upstream> {
        let servers = (0..n)
            .map(|i| model::Server {
                name: format!("s{i}"),
                address: format!("127.0.0.1:{}", 2000 + i).parse().unwrap(),
                weight: 1,
                backup: false,
                slowstart: None,
                max_connections: Some(1),
                tls: None,
            })
            .collect();
        let backend = model::Backend {
            name: format!("queue-unit-{}", std::process::id()),
            servers,
            health_check: None,
            balance: Balance::RoundRobin,
            sticky_cookie: None,
            discovery: None,
            max_queue,
            retries: model::Retries {
                count: 1,
                on: model::RetryOn::CONN_FAILURE,
            },
            observe_errors: None,
            tls: None,
            protocol: Default::default(),
        };
        Upstream::new(&backend, None)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn waiters_get_freed_slots_first_come_first_served() {
        let up = upstream(2, None);
        assert!(up.try_admit(0) && up.try_admit(1));
        assert!(!up.try_admit(0), "full");
        runtime().block_on(async {
            let never = std::future::pending::<()>;
            let (a, b) = (up.clone(), up.clone());
            let first =
                tokio::spawn(async move { a.wait_for_slot(Duration::from_secs(5), never()).await });
            tokio::task::yield_now().await;
            let second =
                tokio::spawn(async move { b.wait_for_slot(Duration::from_secs(5), never()).await });
            tokio::task::yield_now().await;
            assert_eq!(up.queue_current(), 2);
            assert!(!up.try_admit(1), "newcomers queue behind the waiters");
            up.release(1);
            assert_eq!(
                first.await.unwrap(),
                Ok(1),
                "the first waiter, on the freed server"
            );
            up.release(0);
            assert_eq!(second.await.unwrap(), Ok(0));
            assert_eq!(up.queue_current(), 0);
            assert_eq!(up.queue().unwrap().max(), 2);
        });
    }

    #[test]
    fn a_full_queue_a_timeout_and_a_client_gone_are_refusals() {
        let up = upstream(1, Some(1));
        assert!(up.try_admit(0));
        runtime().block_on(async {
            let waiting = {
                let up = up.clone();
                tokio::spawn(async move {
                    up.wait_for_slot(Duration::from_millis(50), std::future::pending())
                        .await
                })
            };
            tokio::task::yield_now().await;
            let full = up
                .wait_for_slot(Duration::from_secs(5), std::future::pending())
                .await;
            assert_eq!(full, Err(Refusal::Full));
            assert_eq!(waiting.await.unwrap(), Err(Refusal::Timeout));
            let gone = up.wait_for_slot(Duration::from_secs(5), async {}).await;
            assert_eq!(gone, Err(Refusal::ClientGone));
            assert_eq!(up.queue_current(), 0, "each one left its place");
        });
        up.release(0);
        assert!(up.try_admit(0), "the slot is free again");
    }
}
