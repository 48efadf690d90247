//! IP addresses as text: written without `fmt` (`Display` costs ~1,300 instructions for an
//! IPv4 address, and the client address is written on every request: `X-Forwarded-For`, the
//! access log), and the one reader of "an address or a CIDR" (`trusted_proxies`, `ip_filter`).

use ipnet::IpNet;
use std::fmt::Write;
use std::net::IpAddr;

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128 network).
pub fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether `ip` is in any of `nets`; an IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    nets.iter().any(|net| net.contains(&ip))
}

/// Append `ip` to `out` as `Display` would write it (IPv4 digit by digit, IPv6 through `fmt`).
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let mut text = String::new();
            let _ = write!(text, "{v6}");
            out.extend_from_slice(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_networks_and_single_addresses() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
            .iter()
            .map(|t| parse_net(t).unwrap())
            .collect();
        for inside in ["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.9.9.9"] {
            assert!(contains(&nets, inside.parse().unwrap()), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.8", "2001:db9::1"] {
            assert!(!contains(&nets, outside.parse().unwrap()), "{outside}");
        }
        for bad in ["", "10.0.0.0/33", "host", "10.0.0.0/8/1"] {
            assert_eq!(parse_net(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "192.0.2.255",
            "::1",
            "2001:db8::7",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = b"x".to_vec();
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}").into_bytes());
        }
    }
}
