//! The syslog output of the access log (`access_log.syslog`): each line becomes one message,
//! RFC 3164 (`<PRI>Mmm dd hh:mm:ss tag[pid]: line`, HAProxy's default) or RFC 5424
//! (`<PRI>1 timestamp host tag pid - - line`), severity `info`, timestamps in UTC.
//!
//! Datagram sockets (a Unix socket such as `/dev/log`, UDP) are non-blocking: a receiver that
//! is away or behind loses lines, which the writer counts. Over TCP each message is
//! octet-counted (RFC 6587, `LEN SP MSG`); connects and writes are bounded by
//! [`TCP_TIMEOUT`] and a broken connection is made again at the next write. The request
//! path never waits on any of this: it runs on the writer's service.

use crate::config::model::{Syslog, SyslogAddress, SyslogFraming};
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// How long a TCP connect or write to the receiver may take.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(1);

/// Severity `info`.
const SEVERITY: u8 = 6;

enum Socket {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// A `Write` that sends every complete line written to it as one syslog message.
pub struct SyslogSink {
    config: Syslog,
    socket: Option<Socket>,
    /// The part of each message before the timestamp: `<PRI>` (and `1 ` for RFC 5424).
    pri: String,
    /// The part after the timestamp, before the line.
    header: String,
    message: Vec<u8>,
}

impl SyslogSink {
    /// A sink sending to `config`'s receiver (connected at the first write).
    pub fn new(config: Syslog) -> Self {
        let pid = std::process::id();
        let pri = i32::from(config.facility) * 8 + i32::from(SEVERITY);
        let (pri, header) = match config.framing {
            SyslogFraming::Rfc3164 => (format!("<{pri}>"), format!(" {}[{pid}]: ", config.tag)),
            SyslogFraming::Rfc5424 => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "-".to_string());
                (
                    format!("<{pri}>1 "),
                    format!(" {host} {} {pid} - - ", config.tag),
                )
            }
        };
        SyslogSink {
            config,
            socket: None,
            pri,
            header,
            message: Vec::with_capacity(2048),
        }
    }

    fn connect(&self) -> io::Result<Socket> {
        Ok(match &self.config.address {
            SyslogAddress::Unix(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                socket.set_nonblocking(true)?;
                Socket::Unix(socket)
            }
            SyslogAddress::Udp(host) => {
                let to = resolve(host)?;
                let any = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = UdpSocket::bind(any)?;
                socket.connect(to)?;
                socket.set_nonblocking(true)?;
                Socket::Udp(socket)
            }
            SyslogAddress::Tcp(host) => {
                let stream = TcpStream::connect_timeout(&resolve(host)?, TCP_TIMEOUT)?;
                stream.set_write_timeout(Some(TCP_TIMEOUT))?;
                stream.set_nodelay(true)?;
                Socket::Tcp(stream)
            }
        })
    }

    /// Build the message for `line` (without its newline) stamped `timestamp`.
    fn frame(&mut self, timestamp: &str, line: &[u8]) {
        self.message.clear();
        let length = self.pri.len() + timestamp.len() + self.header.len() + line.len();
        if matches!(self.socket, Some(Socket::Tcp(_))) {
            self.message
                .extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
            self.message.push(b' ');
        }
        for part in [
            self.pri.as_bytes(),
            timestamp.as_bytes(),
            self.header.as_bytes(),
        ] {
            self.message.extend_from_slice(part);
        }
        self.message.extend_from_slice(line);
    }

    fn send(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Some(Socket::Unix(socket)) => socket.send(&self.message).map(drop),
            Some(Socket::Udp(socket)) => socket.send(&self.message).map(drop),
            Some(Socket::Tcp(stream)) => stream.write_all(&self.message),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

fn resolve(host: &str) -> io::Result<std::net::SocketAddr> {
    host.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

impl Write for SyslogSink {
    /// Sends each complete line of `bytes`; the bytes taken are those of the lines sent. The
    /// first line that cannot be sent ends the call (the writer counts it and the rest as
    /// lost); unless the receiver was only full, the socket is then dropped, to be made again.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.socket.is_none() {
            self.socket = Some(self.connect()?);
        }
        let timestamp = timestamp(self.config.framing, crate::metrics::unix_now());
        let mut taken = 0;
        while let Some(end) = bytes[taken..].iter().position(|&b| b == b'\n') {
            self.frame(&timestamp, &bytes[taken..taken + end]);
            if let Err(e) = self.send() {
                if e.kind() != io::ErrorKind::WouldBlock {
                    // Made again at the next write (a restarted receiver, a new address).
                    self.socket = None;
                }
                return if taken > 0 { Ok(taken) } else { Err(e) };
            }
            taken += end + 1;
        }
        if taken == 0 {
            // No newline: not a line the logger wrote; take it as one message.
            self.frame(&timestamp, bytes);
            self.send()?;
            return Ok(bytes.len());
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The message timestamp: `Mmm dd hh:mm:ss` (RFC 3164, day padded with a space) or RFC 3339
/// with milliseconds (RFC 5424), UTC.
fn timestamp(framing: SyslogFraming, unix: f64) -> String {
    let ms = (unix * 1000.0) as u64;
    match framing {
        SyslogFraming::Rfc5424 => super::line::Rfc3339(ms).to_string(),
        SyslogFraming::Rfc3164 => {
            // `dd/Mon/yyyy:hh:mm:ss.mmm` rearranged.
            let date = super::line::HaproxyDate(ms).to_string();
            let day = date[..2].trim_start_matches('0');
            format!("{} {day:>2} {}", &date[3..6], &date[12..20])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_each_rfc() {
        let at = 1_795_552_200.123; // 2026-11-24T20:30:00.123Z
        assert_eq!(timestamp(SyslogFraming::Rfc3164, at), "Nov 24 20:30:00");
        assert_eq!(
            timestamp(SyslogFraming::Rfc5424, at),
            "2026-11-24T20:30:00.123Z"
        );
        assert_eq!(
            timestamp(SyslogFraming::Rfc3164, 86_400.0 * 5.0),
            "Jan  6 00:00:00"
        );
    }
}
