//! The access log (HAProxy `option httplog`): one line per request, as JSON or as an
//! httplog-like line, written off the request path.
//!
//! Request threads format a line and `try_send` it to a bounded queue; a background service
//! (started after Pingora daemonizes) drains the queue into a buffered writer and flushes
//! whenever the queue runs dry. A full queue or a failing disk drops lines and counts them
//! (`gateway_access_log_dropped_total`, `gateway_access_log_errors_total`); it never stalls a
//! request.

pub mod line;

pub use line::Entry;

use crate::config::model::{self, LogFormat, LogTarget};
use async_trait::async_trait;
use once_cell::sync::Lazy;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::{register_int_counter, IntCounter};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Lines waiting to be written at most; beyond, new lines are dropped.
const QUEUE_LINES: usize = 65_536;

static DROPPED: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "gateway_access_log_dropped_total",
        "Access-log lines dropped because the writer fell behind."
    )
    .expect("metric registered once")
});

static ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    register_int_counter!(
        "gateway_access_log_errors_total",
        "Access-log writes that failed (disk full, file removed, ...)."
    )
    .expect("metric registered once")
});

/// Check at start-up (`-t`) that `path` can be appended to and its disk has room.
pub fn check_writable(path: &Path) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {} for appending: {e}", path.display()))?;
    let stat = nix_statvfs(path)?;
    if stat == 0 {
        return Err(format!("{}: the disk is full", path.display()));
    }
    Ok(())
}

/// Bytes available to unprivileged users on the filesystem holding `path`.
fn nix_statvfs(path: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: path contains a NUL byte", path.display()))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid C string and `stat` a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The request side of the access log: formats lines and queues them.
pub struct AccessLog {
    format: LogFormat,
    queue: mpsc::Sender<String>,
}

impl AccessLog {
    /// The logger and the background service that writes its lines.
    pub fn new(config: &model::AccessLog) -> (AccessLog, LogWriter) {
        let (queue, lines) = mpsc::channel(QUEUE_LINES);
        Lazy::force(&DROPPED);
        Lazy::force(&ERRORS);
        let logger = AccessLog {
            format: config.format,
            queue,
        };
        let writer = LogWriter {
            target: config.target.clone(),
            lines: Mutex::new(Some(lines)),
        };
        (logger, writer)
    }

    /// Log a connection on `listener` from `client` that closed without a request.
    pub fn log_null_connection(&self, listener: &str, client: String) {
        let unix_ms = (crate::metrics::unix_now() * 1000.0) as u64;
        self.log(&Entry {
            time: line::rfc3339(unix_ms),
            client,
            listener,
            backend: "-",
            server: "-",
            status: 0,
            duration_ms: 0.0,
            connect_ms: -1.0,
            response_ms: -1.0,
            bytes_sent: 0,
            bytes_received: 0,
            method: "-",
            path: "-",
            version: "-",
            termination: "CR",
            retries: 0,
            unix_ms,
        });
    }

    /// Queue the line for `entry`; drops it (and counts) when the writer is behind.
    pub fn log(&self, entry: &Entry<'_>) {
        let line = match self.format {
            LogFormat::Json => entry.to_json(),
            LogFormat::Haproxy => entry.to_httplog(),
        };
        if self.queue.try_send(line).is_err() {
            DROPPED.inc();
        }
    }
}

/// The background service writing queued lines to the log target.
pub struct LogWriter {
    target: LogTarget,
    lines: Mutex<Option<mpsc::Receiver<String>>>,
}

impl LogWriter {
    fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match &self.target {
            LogTarget::Stderr => Box::new(std::io::stderr()),
            LogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        })
    }
}

#[async_trait]
impl BackgroundService for LogWriter {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(mut lines) = self.lines.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let mut out = match self.open() {
            Ok(sink) => std::io::BufWriter::with_capacity(64 * 1024, sink),
            Err(e) => {
                log::error!("access log: {e}; lines will be dropped");
                ERRORS.inc();
                return;
            }
        };
        loop {
            let line = tokio::select! {
                line = lines.recv() => line,
                _ = shutdown.changed() => None,
            };
            let Some(line) = line else { break };
            if out.write_all(line.as_bytes()).is_err() {
                ERRORS.inc();
            }
            if lines.is_empty() && out.flush().is_err() {
                ERRORS.inc();
            }
        }
        while let Ok(line) = lines.try_recv() {
            let _ = out.write_all(line.as_bytes());
        }
        let _ = out.flush();
    }
}
