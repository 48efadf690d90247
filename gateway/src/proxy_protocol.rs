//! The PROXY protocol header (HAProxy's `accept-proxy`), versions 1 (text) and 2 (binary):
//! what an L4 front (HAProxy `send-proxy`, an AWS NLB) writes before the client's bytes to
//! tell the gateway who the client is. Only the parsing lives here; the listener reads the
//! header from the socket ([`need`] says how much to read, never past the header).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 2's 12-byte signature.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 header, CRLF included (the specification's bound).
pub const V1_MAX: usize = 107;
/// The longest version 2 header accepted, TLVs included (AWS NLB's are well under this).
pub const V2_MAX: usize = 16 + 1024;
/// Bytes read first: enough to tell the versions apart, and shorter than either's shortest
/// header (`PROXY UNKNOWN\r\n` is 15 bytes), so no client byte is read with it.
pub const PREFIX: usize = 8;

/// What a header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Proxied for this client.
    Client(SocketAddr),
    /// The front's own connection (v2 `LOCAL`), or an address family we do not carry
    /// (v1 `UNKNOWN`, v2 `UNSPEC`/`UNIX`): served with the peer's address.
    Peer,
}

/// Why a header was refused; the label of `gateway_proxy_protocol_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The connection does not start with a PROXY protocol signature.
    Missing,
    /// A signature, then something the specification does not allow.
    Malformed,
    /// The connection ended inside the header.
    Truncated,
    /// Longer than [`V1_MAX`] / [`V2_MAX`].
    Oversized,
}

impl Error {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Error::Missing => "missing",
            Error::Malformed => "malformed",
            Error::Truncated => "truncated",
            Error::Oversized => "oversized",
        }
    }
}

/// How much of a header `buf` (the bytes read so far, at least [`PREFIX`]) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The header is the first `n` bytes.
    Complete(usize),
    /// Read on until `n` bytes are in (never past the header's end).
    Upto(usize),
}

/// Where the header that starts `buf` ends, as far as `buf` tells: a v1 header at its CRLF
/// (read a byte at a time), a v2 header after the length its 16-byte prefix gives.
pub fn need(buf: &[u8]) -> Result<Need, Error> {
    if buf.starts_with(b"PROXY ") {
        return match buf.windows(2).position(|w| w == b"\r\n") {
            Some(i) => Ok(Need::Complete(i + 2)),
            None if buf.len() >= V1_MAX => Err(Error::Oversized),
            None => Ok(Need::Upto(buf.len() + 1)),
        };
    }
    let n = buf.len().min(12);
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(Error::Missing);
    }
    if buf.len() < 16 {
        return Ok(Need::Upto(16));
    }
    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > V2_MAX {
        return Err(Error::Oversized);
    }
    Ok(if buf.len() >= len {
        Need::Complete(len)
    } else {
        Need::Upto(len)
    })
}

/// Parse a complete header (exactly its bytes, as [`need`] delimited it).
pub fn parse(header: &[u8]) -> Result<Header, Error> {
    if header.starts_with(b"PROXY ") {
        parse_v1(header)
    } else {
        parse_v2(header)
    }
}

fn parse_v1(header: &[u8]) -> Result<Header, Error> {
    let line = header
        .strip_suffix(b"\r\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or(Error::Malformed)?;
    let mut fields = line.split(' ');
    fields.next(); // "PROXY"
    let family = fields.next().ok_or(Error::Malformed)?;
    if family == "UNKNOWN" {
        return Ok(Header::Peer); // the rest of the line is ignored
    }
    let rest: Vec<&str> = fields.collect();
    let [source, destination, source_port, destination_port] = rest[..] else {
        return Err(Error::Malformed);
    };
    let ip = |text: &str| -> Result<IpAddr, Error> {
        match family {
            "TCP4" => text.parse::<Ipv4Addr>().map(IpAddr::V4),
            "TCP6" => text.parse::<Ipv6Addr>().map(IpAddr::V6),
            _ => return Err(Error::Malformed),
        }
        .map_err(|_| Error::Malformed)
    };
    let port = |text: &str| -> Result<u16, Error> {
        let canonical = !text.is_empty() && (text == "0" || !text.starts_with('0'));
        let all_digits = text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<u16>() {
            Ok(port) if canonical && all_digits => Ok(port),
            _ => Err(Error::Malformed),
        }
    };
    let (source, _) = (ip(source)?, ip(destination)?);
    let (source_port, _) = (port(source_port)?, port(destination_port)?);
    Ok(Header::Client(SocketAddr::new(source, source_port)))
}

fn parse_v2(header: &[u8]) -> Result<Header, Error> {
    if header.len() < 16 || header[..12] != V2_SIGNATURE[..] {
        return Err(Error::Missing);
    }
    let body = &header[16..];
    if body.len() != usize::from(u16::from_be_bytes([header[14], header[15]])) {
        return Err(Error::Truncated);
    }
    let (version, command) = (header[12] >> 4, header[12] & 0x0f);
    if version != 2 {
        return Err(Error::Malformed);
    }
    match command {
        // LOCAL (the front's own health check): the block is discarded, family included.
        0 => return Ok(Header::Peer),
        1 => {}
        _ => return Err(Error::Malformed),
    }
    let (family, transport) = (header[13] >> 4, header[13] & 0x0f);
    if family > 3 || transport > 2 {
        return Err(Error::Malformed);
    }
    let address_len = match family {
        1 => 12,
        2 => 36,
        _ => return Ok(Header::Peer), // UNSPEC, UNIX: not an address we can use
    };
    let tlvs = body.get(address_len..).ok_or(Error::Malformed)?;
    check_tlvs(tlvs)?;
    let (ip, port): (IpAddr, u16) = if family == 1 {
        let octets = <[u8; 4]>::try_from(&body[..4]).map_err(|_| Error::Malformed)?;
        (Ipv4Addr::from(octets).into(), port_at(body, 8))
    } else {
        let octets = <[u8; 16]>::try_from(&body[..16]).map_err(|_| Error::Malformed)?;
        (Ipv6Addr::from(octets).into(), port_at(body, 32))
    };
    Ok(Header::Client(SocketAddr::new(ip, port)))
}

fn port_at(body: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([body[at], body[at + 1]])
}

/// TLVs (type, 2-byte length, value) are skipped, but must tile the rest of the header.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), Error> {
    while !tlvs.is_empty() {
        if tlvs.len() < 3 {
            return Err(Error::Malformed);
        }
        let len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        tlvs = tlvs.get(3 + len..).ok_or(Error::Malformed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
