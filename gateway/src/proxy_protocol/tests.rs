use super::*;

/// Read `stream` as the listener does: [`PREFIX`] bytes, then what [`need`] asks for.
fn read(stream: &[u8]) -> Result<(Header, usize), Error> {
    let mut have = PREFIX;
    loop {
        let buf = stream.get(..have).ok_or(Error::Truncated)?;
        match need(buf)? {
            Need::Complete(n) => return parse(&stream[..n]).map(|h| (h, n)),
            Need::Upto(n) => have = n,
        }
    }
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend([0x20 | command, family]);
    out.extend((body.len() as u16).to_be_bytes());
    out.extend(body);
    out
}

fn v4_body() -> Vec<u8> {
    let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
    body.extend(50000u16.to_be_bytes());
    body.extend(443u16.to_be_bytes());
    body
}

fn addr(text: &str) -> Header {
    Header::Client(text.parse().unwrap())
}

#[test]
fn v1_tcp4_tcp6_and_unknown() {
    let s = b"PROXY TCP4 192.0.2.7 10.0.0.1 50000 443\r\nGET /";
    assert_eq!(read(s), Ok((addr("192.0.2.7:50000"), 41)));
    let s = b"PROXY TCP6 2001:db8::7 2001:db8::1 1234 443\r\n\x16\x03";
    assert_eq!(read(s).unwrap().0, addr("[2001:db8::7]:1234"));
    assert_eq!(read(b"PROXY UNKNOWN\r\n"), Ok((Header::Peer, 15)));
    let s = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    assert_eq!(read(s).unwrap().0, Header::Peer);
}

#[test]
fn v1_malformed_forms() {
    for bad in [
        &b"PROXY TCP4 192.0.2.7 10.0.0.1 50000\r\n"[..], // a field short
        b"PROXY TCP4 192.0.2.7 10.0.0.1 50000 443 9\r\n", // a field too many
        b"PROXY TCP4 2001:db8::7 10.0.0.1 50000 443\r\n", // v6 address in TCP4
        b"PROXY TCP6 192.0.2.7 2001:db8::1 50000 443\r\n", // v4 address in TCP6
        b"PROXY TCP4 192.0.2.777 10.0.0.1 50000 443\r\n", // not an address
        b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n",  // port out of range
        b"PROXY TCP4 192.0.2.7 10.0.0.1 +5000 443\r\n",  // sign
        b"PROXY TCP4 192.0.2.7 10.0.0.1 05000 443\r\n",  // leading zero
        b"PROXY TCP4  192.0.2.7 10.0.0.1 5000 443\r\n",  // double space
        b"PROXY UDP4 192.0.2.7 10.0.0.1 5000 443\r\n",   // unknown family
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5000 443\n\r\n", // bare LF inside
        b"PROXY \r\n",                                   // nothing
    ] {
        assert_eq!(
            read(bad),
            Err(Error::Malformed),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn v1_truncated_and_oversized() {
    assert_eq!(read(b"PROXY TCP4 192.0.2.7 10.0"), Err(Error::Truncated));
    let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
    assert_eq!(read(long.as_bytes()), Err(Error::Oversized));
}

#[test]
fn missing_header() {
    assert_eq!(read(b"GET / HTTP/1.1\r\n\r\n"), Err(Error::Missing));
    assert_eq!(
        read(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"),
        Err(Error::Missing)
    );
    assert_eq!(read(b"PROXYTCP4 1.2.3.4"), Err(Error::Missing));
    assert_eq!(
        read(b"\r\n\r\n\0\r\nQUIX\n\x21\x11\0\x0c"),
        Err(Error::Missing)
    );
}

#[test]
fn v2_proxy_ipv4_ipv6_with_tlvs() {
    let header = v2(1, 0x11, &v4_body());
    assert_eq!(read(&header), Ok((addr("192.0.2.7:50000"), 28)));
    let mut body = vec![0x20, 0x01, 0x0d, 0xb8];
    body.extend([0; 11]);
    body.push(7);
    body.extend([0x20, 0x01, 0x0d, 0xb8]);
    body.extend([0; 11]);
    body.push(1);
    body.extend(1234u16.to_be_bytes());
    body.extend(443u16.to_be_bytes());
    // An AWS NLB VPC endpoint TLV (0xEA) and a NOOP (0x04): skipped.
    body.extend([0xea, 0, 5, 1, b'v', b'p', b'c', b'e']);
    body.extend([0x04, 0, 0]);
    let mut stream = v2(1, 0x21, &body);
    let len = stream.len();
    stream.extend(b"\x16\x03\x01");
    assert_eq!(read(&stream), Ok((addr("[2001:db8::7]:1234"), len)));
}

#[test]
fn v2_local_unspec_and_unix_use_the_peer() {
    assert_eq!(read(&v2(0, 0x00, &[])).unwrap().0, Header::Peer);
    assert_eq!(read(&v2(0, 0x11, &v4_body())).unwrap().0, Header::Peer);
    assert_eq!(read(&v2(1, 0x00, &[])).unwrap().0, Header::Peer);
    assert_eq!(read(&v2(1, 0x31, &[0; 216])).unwrap().0, Header::Peer);
    // LOCAL and UNSPEC blocks are discarded unread, whatever they hold.
    assert_eq!(read(&v2(0, 0x21, &[0xff; 5])).unwrap().0, Header::Peer);
    assert_eq!(read(&v2(1, 0x00, &[0xff; 5])).unwrap().0, Header::Peer);
}

#[test]
fn v2_malformed_forms() {
    let mut bad_version = v2(1, 0x11, &v4_body());
    bad_version[12] = 0x11;
    let mut bad_tlv = v4_body();
    bad_tlv.extend([0xea, 0, 9, 1]); // claims 9 bytes, has 1
    let mut short_tlv = v4_body();
    short_tlv.extend([0xea, 0]);
    for bad in [
        bad_version,
        v2(2, 0x11, &v4_body()),      // command 2
        v2(1, 0x41, &v4_body()),      // family 4
        v2(1, 0x13, &v4_body()),      // transport 3
        v2(1, 0x11, &v4_body()[..8]), // address block short
        v2(1, 0x21, &v4_body()),      // IPv6 needs 36 bytes
        v2(1, 0x11, &bad_tlv),
        v2(1, 0x11, &short_tlv),
    ] {
        assert_eq!(read(&bad), Err(Error::Malformed), "{bad:?}");
    }
}

#[test]
fn v2_truncated_and_oversized() {
    let header = v2(1, 0x11, &v4_body());
    assert_eq!(read(&header[..20]), Err(Error::Truncated));
    assert_eq!(read(&header[..10]), Err(Error::Truncated));
    let big = v2(1, 0x11, &[0; 2000]);
    assert_eq!(read(&big), Err(Error::Oversized));
}
