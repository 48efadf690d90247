//! The admin socket's listener and sessions: lines are read whole, up to [`MAX_LINE`] bytes;
//! a longer line is refused without running any of it and ends the session. A session idle
//! for the configured timeout (HAProxy `stats timeout`) is closed.

use super::commands::{self, Mode};
use crate::live::Live;
use pingora::server::ShutdownWatch;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest command line accepted, newline excluded (HAProxy's is its buffer size, 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// Input discarded after a refused line, at most, before the session closes.
const DISCARD_MAX: u64 = 1 << 20;

/// The answer to a line longer than [`MAX_LINE`].
pub const LINE_TOO_LONG: &str =
    "Command line too long (more than 16384 bytes); nothing executed.\n";

/// Listen on `path` (mode 0660) until `shutdown`, answering commands about `live`; sessions
/// idle for `idle` are closed.
pub async fn serve(path: &Path, live: Arc<Live>, idle: Duration, mut shutdown: ShutdownWatch) {
    // A socket left by an earlier process (or the process being upgraded) is replaced; its
    // open connections keep their process.
    if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!("admin socket {}: {e}", path.display());
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)) {
        log::error!("admin socket {}: cannot set mode 0660: {e}", path.display());
    }
    log::info!("admin socket listening on {}", path.display());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(session(stream, live.clone(), idle));
                }
                Err(e) => {
                    log::warn!("admin socket accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// What reading one line gave.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A whole line (or the last bytes before end of input), newline removed.
    Line,
    /// End of input, nothing pending.
    End,
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// Nothing arrived for the idle timeout (or the read failed).
    Idle,
}

/// Read one line into `line` (cleared first), waiting at most `idle` for each piece.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    idle: Duration,
) -> LineRead {
    line.clear();
    loop {
        let available = match tokio::time::timeout(idle, reader.fill_buf()).await {
            Ok(Ok(available)) => available,
            Ok(Err(_)) | Err(_) => return LineRead::Idle,
        };
        if available.is_empty() {
            return if line.is_empty() {
                LineRead::End
            } else {
                LineRead::Line
            };
        }
        let (piece, used, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        if line.len() + piece.len() > MAX_LINE {
            return LineRead::TooLong;
        }
        line.extend_from_slice(piece);
        reader.consume(used);
        if complete {
            return LineRead::Line;
        }
    }
}

async fn session(stream: UnixStream, live: Arc<Live>, idle: Duration) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let mut mode = Mode {
        interactive: false,
        timeout: idle,
    };
    loop {
        let idle = mode.timeout;
        let answer = match read_line(&mut reader, &mut line, idle).await {
            LineRead::End | LineRead::Idle => return,
            LineRead::TooLong => {
                let _ = write
                    .write_all(format!("{LINE_TOO_LONG}\n").as_bytes())
                    .await;
                // Closing with unread input would reset the connection before the client
                // reads the refusal: discard (a bounded amount of) the rest first.
                let mut rest = (&mut reader).take(DISCARD_MAX);
                let mut sink = tokio::io::sink();
                let discard = tokio::io::copy(&mut rest, &mut sink);
                let _ = tokio::time::timeout(idle, discard).await;
                return;
            }
            LineRead::Line => {
                match commands::run_line(&live, &String::from_utf8_lossy(&line), &mut mode) {
                    Some(answer) => answer,
                    None => return,
                }
            }
        };
        let written = tokio::time::timeout(idle, write.write_all(answer.as_bytes())).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8]) -> Vec<(LineRead, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(100, input);
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            let read = read_line(&mut reader, &mut line, Duration::from_secs(1)).await;
            let stop = read != LineRead::Line;
            out.push((read, line.clone()));
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lines_are_read_whole_across_buffer_refills() {
        let long = "x".repeat(MAX_LINE);
        let input = format!("help\n{long}\nlast");
        let lines = lines_of(input.as_bytes()).await;
        assert_eq!(lines[0], (LineRead::Line, b"help".to_vec()));
        assert_eq!(lines[1], (LineRead::Line, long.into_bytes()));
        assert_eq!(lines[2], (LineRead::Line, b"last".to_vec()));
        assert_eq!(lines[3].0, LineRead::End);
    }

    #[tokio::test]
    async fn a_line_over_the_cap_is_refused() {
        let input = format!("{}\n", "y".repeat(MAX_LINE + 1));
        let lines = lines_of(input.as_bytes()).await;
        assert_eq!(lines[0].0, LineRead::TooLong);
    }
}
