//! Reading an HTTP/1 request head under one deadline (its syntax and framing are checked by
//! [`super::framing`]).

use crate::proxy::state::HeadTimes;
use bytes::BytesMut;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, Sleep};

/// What an idle TLS connection holds while it waits for a request: the first read takes at
/// most this much (a short request fits whole; the rest of a longer one is already decrypted in
/// OpenSSL's record buffer, so reading it costs no system call), so 10,000 idle connections do
/// not hold 10 MiB.
const WAITING_HEAD_BUFFER: usize = 64;
/// Room for a head: most fit. Plain-TCP connections start with it, so a long head never takes
/// a second `recv`.
const HEAD_BUFFER: usize = 1024;
/// At shutdown, how long a connection that has not spoken yet (an idle keep-alive one, or one
/// accepted just before) is still watched for bytes the client sent before it could know.
pub(super) const SHUTDOWN_LINGER: Duration = Duration::from_millis(100);

/// How reading a request head ended.
pub enum Head {
    /// A complete head (and possibly the start of the body), and when it arrived.
    Complete(BytesMut, HeadTimes),
    /// The client closed, idled out between requests, or the process is shutting down.
    Closed,
    /// Part of a head arrived, then the client closed (HAProxy `CR`); its first byte's time.
    Aborted(std::time::Instant),
    /// Part of a head arrived, but not all of it before the deadline (HAProxy `cR`).
    TimedOut(std::time::Instant),
    /// The head grew past the limit.
    TooLarge(std::time::Instant),
}

/// Index just past the blank line ending an HTTP/1 head (`\r\n\r\n` or a bare `\n\n`).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf[start..].iter().enumerate().find_map(|(i, &b)| {
        let at = start + i;
        if b != b'\n' {
            return None;
        }
        match buf.get(at + 1..) {
            Some([b'\n', ..]) => Some(at + 2),
            Some([b'\r', b'\n', ..]) => Some(at + 3),
            _ => None,
        }
    })
}

/// What a connection waits for requests with, made once and re-armed for each request: one
/// tokio timer, whose deadline only moves later between requests (updated in place: no lock,
/// no allocation), and one registration with the shutdown watch. A `timeout` and a `changed()`
/// per request would each register and deregister with their drivers on every request.
pub struct Waits {
    timer: Pin<Box<Sleep>>,
    shutdown: ShutdownWatch,
    signal: ShutdownSignal,
}

/// Where a connection stands with the shutdown watch.
enum ShutdownSignal {
    /// Not watched yet (a connection on its first request is not).
    Unwatched,
    /// Resolves when the process starts shutting down (`true`) or its watch is gone (`false`).
    Watching(Pin<Box<dyn Future<Output = bool> + Send>>),
    /// The shutdown has started (the signal resolved; it is never polled again).
    Started,
}

impl Waits {
    /// The waits of a connection of the process whose shutdown `shutdown` announces.
    pub fn new(shutdown: &ShutdownWatch) -> Self {
        Waits {
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            shutdown: shutdown.clone(),
            signal: ShutdownSignal::Unwatched,
        }
    }

    /// Whether a wait saw the process start shutting down.
    fn shutting_down(&self) -> bool {
        matches!(self.signal, ShutdownSignal::Started)
    }

    /// Read into `buf` until `deadline`, or until a shutdown starts when `watch_shutdown`.
    async fn read<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        buf: &mut BytesMut,
        deadline: Instant,
        watch_shutdown: bool,
    ) -> Woken {
        self.timer.as_mut().reset(deadline);
        if watch_shutdown && matches!(self.signal, ShutdownSignal::Unwatched) {
            let mut shutdown = self.shutdown.clone();
            self.signal = ShutdownSignal::Watching(Box::pin(async move {
                shutdown.wait_for(|down| *down).await.is_ok()
            }));
        }
        let mut read = std::pin::pin!(stream.read_buf(buf));
        let timer = &mut self.timer;
        let mut signal = match &mut self.signal {
            ShutdownSignal::Watching(signal) if watch_shutdown => Some(signal),
            _ => None,
        };
        let woken = poll_fn(|cx| {
            if let Poll::Ready(read) = read.as_mut().poll(cx) {
                return Poll::Ready(Woken::Read(read.unwrap_or(0)));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Woken::TimedOut);
            }
            match signal.as_mut().map(|signal| signal.as_mut().poll(cx)) {
                Some(Poll::Ready(true)) => Poll::Ready(Woken::ShuttingDown),
                Some(Poll::Ready(false)) => Poll::Ready(Woken::WatchGone),
                _ => Poll::Pending,
            }
        })
        .await;
        if matches!(woken, Woken::ShuttingDown) {
            self.signal = ShutdownSignal::Started;
        }
        woken
    }
}

/// Why [`Waits::read`] returned.
enum Woken {
    /// Bytes read (0: the client closed, or the read failed).
    Read(usize),
    TimedOut,
    ShuttingDown,
    /// The shutdown watch's sender is gone (the process is going away).
    WatchGone,
}

/// Wait up to `idle` for the first byte, then up to `deadline` for the rest of a head of at
/// most `max_bytes` (`(idle, deadline)` is `waiting`). A `fresh` connection (no request
/// served yet) is waited for as usual at shutdown too: its client connected (through an L4
/// front, maybe) before it could know, and its first request is on the way.
pub async fn read_head(
    stream: &mut Stream,
    waits: &mut Waits,
    waiting: (Duration, Duration),
    max_bytes: usize,
    fresh: bool,
) -> Head {
    let (idle, deadline) = waiting;
    let tls = stream.get_ssl().is_some();
    let mut buf = BytesMut::with_capacity(if tls {
        WAITING_HEAD_BUFFER
    } else {
        HEAD_BUFFER
    });
    let idle_until = Instant::now() + idle;
    let first = loop {
        if fresh {
            break waits.read(stream, &mut buf, idle_until, false).await;
        }
        if waits.shutting_down() {
            // Going away: a request already on its way is still served (with
            // `Connection: close`); a connection that stays quiet is closed between requests.
            let linger = Instant::now() + SHUTDOWN_LINGER;
            break waits
                .read(stream, &mut buf, linger.min(idle_until), false)
                .await;
        }
        match waits.read(stream, &mut buf, idle_until, true).await {
            Woken::ShuttingDown => continue,
            Woken::WatchGone => return Head::Closed,
            woken => break woken,
        }
    };
    if !matches!(first, Woken::Read(n) if n > 0) {
        return Head::Closed;
    }
    let first_byte = Instant::now();
    let deadline = first_byte + deadline;
    let times = |complete: Instant| HeadTimes {
        first_byte: first_byte.into_std(),
        complete: complete.into_std(),
    };
    let mut scanned = 0;
    loop {
        if let Some(end) = head_end(&buf, scanned) {
            if end > max_bytes {
                return Head::TooLarge(first_byte.into_std());
            }
            return Head::Complete(buf, times(Instant::now()));
        }
        if buf.len() > max_bytes {
            return Head::TooLarge(first_byte.into_std());
        }
        scanned = buf.len();
        if buf.capacity() - buf.len() < HEAD_BUFFER {
            buf.reserve(buf.capacity().max(HEAD_BUFFER));
        }
        match waits.read(stream, &mut buf, deadline, false).await {
            Woken::Read(n) if n > 0 => {}
            Woken::TimedOut => return Head::TimedOut(first_byte.into_std()),
            _ => return Head::Aborted(first_byte.into_std()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn finds_the_blank_line_across_reads() {
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0),
            Some(27)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        // The terminator straddles the previous read's end.
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 25), Some(27));
    }
}
