//! The access-log writer: a background service that collects every thread's buffer of lines
//! each [`super::FLUSH_EVERY`] and appends it to the log target.
//!
//! - Lost lines are counted as lines: a failed or short write adds every line it did not
//!   complete to `gateway_access_log_errors_total` (a disk that fills loses thousands of
//!   lines in a few write calls).
//! - The file is reopened by path on request ([`request_reopen`]: SIGHUP and the admin
//!   socket's `reopen logs`), so after logrotate renames it the new file receives the lines.

use super::{Shard, ERRORS, SHARDS};
use crate::config::model::LogTarget;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`request_reopen`], taken by the writer at its next collection.
static REOPEN: AtomicBool = AtomicBool::new(false);

/// Ask the writer to reopen its file (by path) before its next write.
pub fn request_reopen() {
    REOPEN.store(true, Ordering::Relaxed);
}

/// The background service writing the threads' buffers to the log target.
pub struct LogWriter {
    target: LogTarget,
}

impl LogWriter {
    /// A writer appending to `target`.
    pub fn new(target: LogTarget) -> Self {
        LogWriter { target }
    }

    fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match &self.target {
            LogTarget::Stderr => Box::new(std::io::stderr()),
            LogTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            LogTarget::Syslog(syslog) => Box::new(super::syslog::SyslogSink::new(syslog.clone())),
        })
    }

    /// The sink to write to now: reopened if asked (keeping the old one if that fails).
    fn current<'a>(
        &self,
        sink: &'a mut Option<Box<dyn Write + Send>>,
    ) -> Option<&'a mut Box<dyn Write + Send>> {
        if REOPEN.swap(false, Ordering::Relaxed) || sink.is_none() {
            match self.open() {
                Ok(opened) => {
                    if sink.is_some() {
                        log::warn!("access log reopened");
                    }
                    *sink = Some(opened);
                }
                Err(e) if sink.is_some() => {
                    log::error!("access log: cannot reopen: {e}; still writing to the old file")
                }
                Err(_) => {}
            }
        }
        sink.as_mut()
    }

    /// Swap every thread's buffer out and write it to `out` (`None`: the log could not be
    /// opened, every line is lost). The error that lost lines, if any.
    fn collect(
        &self,
        mut out: Option<&mut Box<dyn Write + Send>>,
        spare: &mut Vec<u8>,
    ) -> Option<std::io::Error> {
        let shards: Vec<Shard> = SHARDS.lock().map(|s| s.clone()).unwrap_or_default();
        let mut failure = None;
        for shard in shards {
            if let Ok(mut buffer) = shard.lock() {
                std::mem::swap(&mut *buffer, spare);
            }
            let (written, error) = match out.as_mut() {
                Some(out) => write_some(&mut **out, spare),
                None => (0, Some(ErrorKind::NotFound.into())),
            };
            let lost = count_lines(&spare[written..]);
            if lost > 0 {
                ERRORS.inc_by(lost);
                failure = failure.or(error);
            }
            spare.clear();
        }
        if let Some(out) = out {
            // The file is unbuffered; stderr's flush cannot lose lines already written.
            let _ = out.flush();
        }
        failure
    }
}

/// Write as much of `bytes` as `out` takes; how many bytes it took, and why it stopped short.
fn write_some(out: &mut dyn Write, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut done = 0;
    while done < bytes.len() {
        match out.write(&bytes[done..]) {
            Ok(0) => return (done, Some(ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// Lines in `bytes` (a line whose start was written but not its end counts as lost).
fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[async_trait]
impl BackgroundService for LogWriter {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut sink = match self.open() {
            Ok(sink) => Some(sink),
            Err(e) => {
                log::error!("access log: {e}; lines will be lost until it can be reopened");
                None
            }
        };
        let mut tick = tokio::time::interval(super::FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut spare = Vec::with_capacity(64 * 1024);
        let mut failing = false;
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                _ = shutdown.changed() => true,
            };
            let out = self.current(&mut sink);
            match (self.collect(out, &mut spare), failing) {
                (Some(e), false) => {
                    log::error!(
                        "access log: {e}; lines are lost (gateway_access_log_errors_total)"
                    );
                    failing = true;
                }
                (None, true) => {
                    log::warn!("access log: writing again");
                    failing = false;
                }
                _ => {}
            }
            if stopping {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails like a full disk.
    struct FullDisk {
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            let n = bytes.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_not_written_whole_is_counted() {
        let lines = b"one\ntwo\nthree\nfour\n";
        let mut disk = FullDisk { room: 6 };
        let (written, error) = write_some(&mut disk, lines);
        assert_eq!(written, 6);
        assert_eq!(error.unwrap().raw_os_error(), Some(28));
        assert_eq!(count_lines(&lines[written..]), 3, "two, three, four");
    }
}
