//! A small DNS client for service discovery: one A, AAAA or SRV question over UDP to the
//! configured resolvers (or the system's), answered with addresses and the smallest TTL.

use crate::config::model::{Discovery, DnsRecord};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;

/// One resolved server: its address and weight (SRV's, else 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Address and port.
    pub address: SocketAddr,
    /// Relative weight.
    pub weight: usize,
}

/// What a resolution found: the servers, in a stable order, and the smallest TTL of the
/// records that named them (`None` without records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The servers.
    pub targets: Vec<Target>,
    /// The smallest TTL among the records used.
    pub ttl: Option<Duration>,
}

/// The servers `discovery` names now. An error for a resolver that did not answer or
/// answered with an error.
pub async fn resolve(discovery: &Discovery, timeout: Duration) -> Result<Resolution, String> {
    let resolvers = if discovery.resolvers.is_empty() {
        system_resolvers()
    } else {
        discovery.resolvers.clone()
    };
    let mut ttl: Option<u32> = None;
    let mut note_ttl = |answer: &Answer| {
        if let Some(t) = answer.ttl {
            ttl = Some(ttl.map_or(t, |old| old.min(t)));
        }
    };
    let mut targets = match discovery.record {
        DnsRecord::A | DnsRecord::Aaaa => {
            let qtype = if discovery.record == DnsRecord::A {
                TYPE_A
            } else {
                TYPE_AAAA
            };
            let answer = ask(&resolvers, &discovery.name, qtype, timeout).await?;
            note_ttl(&answer);
            answer
                .addresses
                .into_iter()
                .map(|(_, ip)| Target {
                    address: SocketAddr::new(ip, discovery.port),
                    weight: 1,
                })
                .collect::<Vec<_>>()
        }
        DnsRecord::Srv => {
            let answer = ask(&resolvers, &discovery.name, TYPE_SRV, timeout).await?;
            note_ttl(&answer);
            let mut targets = Vec::new();
            for srv in &answer.services {
                let mut ips: Vec<IpAddr> = answer
                    .addresses
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(&srv.target))
                    .map(|(_, ip)| *ip)
                    .collect();
                if ips.is_empty() {
                    let more = ask(&resolvers, &srv.target, TYPE_A, timeout).await?;
                    note_ttl(&more);
                    ips = more.addresses.into_iter().map(|(_, ip)| ip).collect();
                }
                targets.extend(ips.into_iter().map(|ip| Target {
                    address: SocketAddr::new(ip, srv.port),
                    weight: usize::from(srv.weight).clamp(1, 256),
                }));
            }
            targets
        }
    };
    targets.sort_by_key(|t| t.address);
    targets.dedup_by_key(|t| t.address);
    Ok(Resolution {
        targets,
        ttl: ttl.map(|t| Duration::from_secs(t.into())),
    })
}

/// `nameserver` lines of `/etc/resolv.conf`, port 53; 127.0.0.1:53 without any.
fn system_resolvers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let found: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if found.is_empty() {
        vec![SocketAddr::from(([127, 0, 0, 1], 53))]
    } else {
        found
    }
}

/// What an answer held.
#[derive(Debug, Default)]
struct Answer {
    /// A and AAAA records (answer and additional sections), by owner name.
    addresses: Vec<(String, IpAddr)>,
    /// SRV records.
    services: Vec<Service>,
    /// The smallest TTL of the A, AAAA and SRV records.
    ttl: Option<u32>,
}

#[derive(Debug)]
struct Service {
    weight: u16,
    port: u16,
    target: String,
}

/// Ask each resolver in turn until one answers.
async fn ask(
    resolvers: &[SocketAddr],
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut last = String::from("no resolver");
    for resolver in resolvers {
        match tokio::time::timeout(timeout, ask_one(*resolver, name, qtype)).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => last = format!("{resolver}: {e}"),
            Err(_) => last = format!("{resolver}: no answer within {}ms", timeout.as_millis()),
        }
    }
    Err(last)
}

async fn ask_one(resolver: SocketAddr, name: &str, qtype: u16) -> Result<Answer, String> {
    let local: SocketAddr = if resolver.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    socket.connect(resolver).await.map_err(|e| e.to_string())?;
    let id = query_id();
    socket
        .send(&query(id, name, qtype)?)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        // Skip stray datagrams that are not the answer to this question.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return parse(&buf[..n]);
        }
    }
}

fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

/// A query message: one question, recursion desired.
fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut msg = Vec::with_capacity(32 + name.len());
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("invalid DNS name {name:?}"));
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    Ok(msg)
}

/// Read an answer message; an error for a server failure or a malformed message.
fn parse(msg: &[u8]) -> Result<Answer, String> {
    let short = || "truncated DNS message".to_string();
    let u16_at = |pos: usize| -> Result<u16, String> {
        msg.get(pos..pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(short)
    };
    if msg.len() < 12 || msg[2] & 0x80 == 0 {
        return Err("not a DNS answer".into());
    }
    match msg[3] & 0x0f {
        0 | 3 => {} // no error, or no such name: no records
        rcode => return Err(format!("DNS error (rcode {rcode})")),
    }
    let questions = u16_at(4)?;
    let records = u16_at(6)? as usize + u16_at(8)? as usize + u16_at(10)? as usize;
    let mut pos = 12;
    for _ in 0..questions {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut answer = Answer::default();
    for _ in 0..records {
        let (owner, after) = read_name(msg, pos)?;
        let rtype = u16_at(after)?;
        let ttl = (u32::from(u16_at(after + 4)?) << 16) | u32::from(u16_at(after + 6)?);
        let len = u16_at(after + 8)? as usize;
        let data = after + 10;
        let rdata = msg.get(data..data + len).ok_or_else(short)?;
        match (rtype, len) {
            (TYPE_A, 4) => {
                let ip = Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]);
                answer.addresses.push((owner.clone(), ip.into()));
            }
            (TYPE_AAAA, 16) => {
                let bytes: [u8; 16] = rdata.try_into().map_err(|_| short())?;
                answer
                    .addresses
                    .push((owner.clone(), Ipv6Addr::from(bytes).into()));
            }
            (TYPE_SRV, 7..) => answer.services.push(Service {
                weight: u16_at(data + 2)?,
                port: u16_at(data + 4)?,
                target: read_name(msg, data + 6)?.0,
            }),
            _ => {
                pos = data + len;
                continue;
            }
        }
        // RFC 2181: a TTL with the top bit set is read as 0.
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        answer.ttl = Some(answer.ttl.map_or(ttl, |t| t.min(ttl)));
        pos = data + len;
    }
    Ok(answer)
}

/// The name at `pos` (following compression pointers) and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos).ok_or("truncated DNS name")? as usize;
        match len {
            0 => return Ok((labels.join("."), end.unwrap_or(pos + 1))),
            0xc0.. => {
                let low = *msg.get(pos + 1).ok_or("truncated DNS name")? as usize;
                end.get_or_insert(pos + 2);
                pos = ((len & 0x3f) << 8) | low;
            }
            1..=63 => {
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or("truncated DNS name")?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos += 1 + len;
            }
            _ => return Err("invalid DNS label".into()),
        }
    }
    Err("DNS name too long or looping".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query(7, "app.test", A)` with two A records, the second compressed.
    fn answer_two_a() -> Vec<u8> {
        let mut msg = query(7, "app.test", TYPE_A).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 2;
        for last in [2u8, 3] {
            msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, last]);
        }
        msg
    }

    #[test]
    fn parses_compressed_a_records() {
        let answer = parse(&answer_two_a()).unwrap();
        let ips: Vec<String> = answer
            .addresses
            .iter()
            .map(|(n, ip)| format!("{n} {ip}"))
            .collect();
        assert_eq!(ips, ["app.test 127.0.0.2", "app.test 127.0.0.3"]);
        assert_eq!(answer.ttl, Some(30));
    }

    #[test]
    fn the_smallest_ttl_of_the_records_counts() {
        let mut msg = answer_two_a();
        let second = msg.len() - 16;
        msg[second + 6..second + 10].copy_from_slice(&7u32.to_be_bytes());
        assert_eq!(parse(&msg).unwrap().ttl, Some(7));
        msg[second + 6..second + 10].copy_from_slice(&0x8000_0000u32.to_be_bytes());
        assert_eq!(parse(&msg).unwrap().ttl, Some(0));
    }

    #[test]
    fn refuses_truncated_and_failed_answers() {
        let full = answer_two_a();
        assert!(parse(&full[..full.len() - 3]).is_err());
        let mut failed = full.clone();
        failed[3] = 0x82; // SERVFAIL
        assert!(parse(&failed).is_err());
        let mut looping = full;
        looping[12] = 0xc0;
        looping[13] = 12;
        assert!(parse(&looping).is_err());
    }

    #[test]
    fn parses_aaaa_records() {
        let mut msg = query(8, "v6.test", TYPE_AAAA).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16]);
        msg.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let answer = parse(&msg).unwrap();
        assert_eq!(
            answer.addresses,
            [("v6.test".to_string(), IpAddr::from(Ipv6Addr::LOCALHOST))]
        );
    }

    #[test]
    fn parses_srv_records() {
        let mut msg = query(9, "_h._tcp.app", TYPE_SRV).unwrap();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 5, 0, 10]);
        msg.extend_from_slice(&[0, 1, 0, 5, 0x1f, 0x90, 1, b'b', 0xc0, 20]);
        let answer = parse(&msg).unwrap();
        assert_eq!(answer.services.len(), 1);
        assert_eq!(answer.services[0].port, 8080);
        assert_eq!(answer.services[0].weight, 5);
        assert_eq!(answer.services[0].target, "b.app");
    }
}
