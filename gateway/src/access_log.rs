//! The access log (HAProxy `option httplog`): one line per request, as JSON or as an
//! httplog-like line, written off the request path.
//!
//! Request threads format a line and `try_send` it to a bounded queue; a background service
//! (started after Pingora daemonizes) wakes every [`FLUSH_EVERY`], drains the queue into a
//! buffered writer and flushes it: no wake-up and no write per line. A full queue or a failing disk drops lines and counts them
//! (`gateway_access_log_dropped_total`, `gateway_access_log_errors_total`); it never stalls a
//! request.

mod date;
pub mod line;
pub mod syslog;
pub mod writer;

pub use line::Entry;
pub use writer::LogWriter;

use crate::config::model::{self, LogFormat};
use once_cell::sync::Lazy;
use prometheus::{register_int_counter, IntCounter};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Bytes a thread's buffer may hold before new lines are dropped.
pub const MAX_PENDING: usize = 8 << 20;
/// How often the writer collects the buffers and writes them.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

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
        "Access-log lines lost because writing them failed (disk full, file too large, ...)."
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
    let stat = nix::sys::statvfs::statvfs(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

type Shard = Arc<Mutex<Vec<u8>>>;

/// Every thread's buffer, for the writer to collect.
static SHARDS: Lazy<Mutex<Vec<Shard>>> = Lazy::new(|| Mutex::new(Vec::new()));

thread_local! {
    /// This thread's buffer, registered in [`SHARDS`] on first use.
    static SHARD: Shard = {
        let shard = Shard::default();
        if let Ok(mut shards) = SHARDS.lock() {
            shards.push(shard.clone());
        }
        shard
    };
}

/// The request side of the access log: formats lines into the thread's buffer.
pub struct AccessLog {
    format: LogFormat,
}

impl AccessLog {
    /// The logger and the background service that writes its lines.
    pub fn new(config: &model::AccessLog) -> (AccessLog, LogWriter) {
        Lazy::force(&DROPPED);
        Lazy::force(&ERRORS);
        let writer = LogWriter::new(config.target.clone());
        (
            AccessLog {
                format: config.format,
            },
            writer,
        )
    }

    /// Log a connection on `listener` (`tls`: a TLS listener) from `client` that closed
    /// without a request; `counts` are the connections open then.
    pub fn log_null_connection(
        &self,
        listener: &str,
        tls: bool,
        client: Option<std::net::SocketAddr>,
        counts: line::Counts,
    ) {
        self.log(&Entry {
            termination: "CR",
            tls,
            counts,
            ..Entry::started(listener, client, std::time::Duration::ZERO)
        });
    }

    /// Append the line for `entry` to this thread's buffer; drops it (and counts) when the
    /// writer is behind.
    pub fn log(&self, entry: &Entry<'_>) {
        SHARD.with(|shard| {
            let Ok(mut buffer) = shard.lock() else {
                return;
            };
            if buffer.len() > MAX_PENDING {
                DROPPED.inc();
                return;
            }
            match self.format {
                LogFormat::Json => entry.write_json(&mut buffer),
                LogFormat::Haproxy => entry.write_httplog(&mut buffer),
            }
        });
    }
}
