//! HAProxy values in the gateway's spelling: durations, addresses, paths.

use std::net::IpAddr;
use std::path::Path;

/// A HAProxy time (`5000`, `5s`, `1m`, `100us`, `1d`) as the gateway writes it (`5s`,
/// `1m`, `250ms`); an error for sub-millisecond precision or junk.
pub fn duration(text: &str) -> Result<String, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a time"))?;
    let millis = match unit {
        "" | "ms" => Some(number),
        "us" if number.is_multiple_of(1000) => Some(number / 1000),
        "us" => return Err(format!("{text}: the gateway counts in milliseconds")),
        "s" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        "d" => number.checked_mul(86_400_000),
        _ => return Err(format!("{text:?} is not a time")),
    }
    .ok_or_else(|| format!("{text} is too long"))?;
    Ok(millis_text(millis))
}

/// Milliseconds in the largest unit that divides them.
fn millis_text(millis: u64) -> String {
    match millis {
        0 => "0ms".to_string(),
        m if m.is_multiple_of(3_600_000) => format!("{}h", m / 3_600_000),
        m if m.is_multiple_of(60_000) => format!("{}m", m / 60_000),
        m if m.is_multiple_of(1000) => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// A HAProxy address with a port (`*:80`, `:443`, `10.0.0.1:80`, `ipv6@::1:80`,
/// `[::1]:80`) as `ip:port`; an error for names, port ranges, Unix sockets and missing
/// ports.
pub fn socket_address(text: &str) -> Result<String, String> {
    let bare = text
        .strip_prefix("ipv4@")
        .or_else(|| text.strip_prefix("ipv6@"))
        .or_else(|| text.strip_prefix("tcp@"))
        .or_else(|| text.strip_prefix("tcp4@"))
        .or_else(|| text.strip_prefix("tcp6@"))
        .unwrap_or(text);
    if bare.starts_with('/') || bare.contains('@') {
        return Err(format!("{text}: only TCP addresses are supported"));
    }
    let (host, port) = bare
        .rsplit_once(':')
        .ok_or_else(|| format!("{text}: no port (HAProxy would reuse the client's)"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{text}: port {port:?} is not one port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "" | "*" | "0.0.0.0" => return Ok(format!("0.0.0.0:{port}")),
        "::" => return Ok(format!("[::]:{port}")),
        other => other
            .parse()
            .map_err(|_| format!("{text}: {other:?} is a name; the gateway needs an IP address"))?,
    };
    Ok(match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    })
}

/// The port of an `ip:port` written by [`socket_address`].
pub fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// `path` joined to `base` (HAProxy's `crt-base`, `ca-base`, `server-state-base`) when
/// relative.
pub fn based(base: Option<&str>, path: &str) -> String {
    match base {
        Some(base) if !path.starts_with('/') => Path::new(base).join(path).display().to_string(),
        _ => path.to_string(),
    }
}

/// A literal header value from a HAProxy log-format string (`%%` is `%`); an error when it
/// computes anything (`%[...]`, `%ci`).
pub fn literal(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
            } else {
                return Err(format!(
                    "{text:?} is computed per request; the gateway sets fixed values"
                ));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_largest_unit() {
        assert_eq!(duration("5000").unwrap(), "5s");
        assert_eq!(duration("50000").unwrap(), "50s");
        assert_eq!(duration("1500ms").unwrap(), "1500ms");
        assert_eq!(duration("2m").unwrap(), "2m");
        assert_eq!(duration("1d").unwrap(), "24h");
        assert_eq!(duration("3000us").unwrap(), "3ms");
        assert!(duration("5us").is_err());
        assert!(duration("5x").is_err());
        assert!(duration("").is_err());
        assert!(duration("99999999999999999999d").is_err());
    }

    #[test]
    fn addresses_become_ip_port() {
        assert_eq!(socket_address("*:80").unwrap(), "0.0.0.0:80");
        assert_eq!(socket_address(":443").unwrap(), "0.0.0.0:443");
        assert_eq!(socket_address("10.0.0.1:8080").unwrap(), "10.0.0.1:8080");
        assert_eq!(socket_address("ipv6@::1:80").unwrap(), "[::1]:80");
        assert_eq!(socket_address(":::80").unwrap(), "[::]:80");
        assert!(socket_address("10.0.0.1").is_err());
        assert!(socket_address("www.example.com:80").is_err());
        assert!(socket_address("/run/x.sock").is_err());
        assert!(socket_address("unix@/run/x.sock").is_err());
        assert!(socket_address(":8000-8010").is_err());
    }

    #[test]
    fn literals_refuse_expressions() {
        assert_eq!(literal("max-age=600").unwrap(), "max-age=600");
        assert_eq!(literal("100%%").unwrap(), "100%");
        assert!(literal("%[dst_port]").is_err());
    }
}
