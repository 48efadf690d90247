//! Clients that hold connections, through the real binary: 200 clients trickling their request
//! heads never delay a normal request and get 408 once the head deadline passes, and
//! `server.max_connections` queues then refuses connections without running out of
//! descriptors, letting go of the queued clients that give up.

use gateway_tests::client::tcp_stream;
use gateway_tests::config::Config;
use gateway_tests::gateway::{plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// One plain listener in front of `origin` with `server.max_connections: max`.
fn max_connections_config(dir: &Path, addr: SocketAddr, origin: &Origin, max: usize) -> String {
    Config::plain(dir, addr, &[origin])
        .set("server.max_connections", max)
        .yaml()
}

/// Connections waiting in the kernel's accept queue of the TCP listener on `addr` (the
/// `rx_queue` of its LISTEN sockets in /proc/net/tcp).
fn accept_backlog(addr: SocketAddr) -> usize {
    let local = format!(":{:04X}", addr.port());
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 4 && f[1].ends_with(&local) && f[3] == "0A")
        .filter_map(|f| {
            let rx = f[4].split_once(':')?.1;
            usize::from_str_radix(rx, 16).ok()
        })
        .sum()
}

/// How many of the gateway's descriptors are open.
fn open_fds(gw: &Gateway) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
        .unwrap()
        .count()
}

#[test]
fn trickling_clients_do_not_delay_a_normal_request_and_get_408() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&origin],
        "",
        "timeouts: { client: 2s }\n",
    );
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let mut slow: Vec<TcpStream> = (0..200).map(|_| tcp_stream(addr)).collect();
    let unanswered = |slow: &[TcpStream]| {
        slow.iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let waiting = s
                    .peek(&mut [0u8; 1])
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock);
                s.set_nonblocking(false).unwrap();
                waiting
            })
            .count()
    };
    let client = http_client();
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    // Each normal request is answered while all 200 trickling clients still wait.
    for round in 0..6 {
        for stream in &mut slow {
            let _ = stream.write_all(&head[round..][..1]);
        }
        let resp = client
            .get(format!("http://{addr}/normal{round}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(unanswered(&slow), 200, "round {round}");
        std::thread::sleep(Duration::from_millis(250)); // the trickle's pace
    }
    // The head deadline (2 s) is total, not per read: clients that keep trickling a byte
    // every 250 ms are answered 408 all the same, within a few more bytes.
    let mut rounds = 6;
    while unanswered(&slow) > 0 {
        assert!(rounds < 40, "still waiting after {rounds} trickled bytes");
        for stream in &mut slow {
            let _ = stream.write_all(b"x");
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(250)); // the trickle's pace
    }
    for stream in &mut slow {
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    }
    assert_eq!(origin.hits(), 6);
}

#[test]
fn connection_limit_queues_then_refuses_without_exhausting_descriptors() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = max_connections_config(dir.path(), addr, &origin, 4);
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let open_fds = || open_fds(&gw);
    let request = |stream: &mut TcpStream| -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        s
    };
    let mut served: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    for s in &mut served {
        assert!(request(s).starts_with("HTTP/1.1 200"));
    }
    let baseline = open_fds();
    // The fifth waits for a slot...
    let mut fifth = connect();
    assert_eq!(request(&mut fifth), "", "answered beyond max_connections");
    // ...and gets it when a connection closes.
    drop(served.pop());
    fifth
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = fifth.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // A flood: 64 may wait (the queue is max_connections long, at least 64), the rest are
    // closed at once and cost no descriptor.
    let flood: Vec<TcpStream> = (0..200).map(|_| connect()).collect();
    // Refused ones are at end of stream; waiting ones have nothing to read yet.
    let closed = || {
        flood
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let at_end = s.peek(&mut [0u8; 1]).is_ok_and(|n| n == 0);
                s.set_nonblocking(false).unwrap();
                at_end
            })
            .count()
    };
    // Wait until the gateway has taken the whole flood off the kernel's accept queue and
    // refused what it does not queue.
    let settled = wait_for(Duration::from_secs(10), || {
        accept_backlog(addr) == 0 && closed() >= 130
    });
    assert!(
        settled.is_some(),
        "only {} of 200 flood connections were refused",
        closed()
    );
    let during = open_fds();
    assert!(
        during <= baseline + 64 + 4,
        "{during} descriptors open, {baseline} before the flood"
    );
    let closed = closed();
    assert!(
        closed >= 130,
        "only {closed} of 200 flood connections were refused"
    );
    assert_eq!(origin.hits(), 5);
}

#[test]
fn clients_that_give_up_while_queued_free_their_place() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = max_connections_config(dir.path(), addr, &origin, 1);
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut held = tcp_stream(addr);
    held.write_all(request).unwrap();
    let mut buf = [0u8; 512];
    assert!(held.read(&mut buf).unwrap() > 0);
    let baseline = open_fds(&gw);
    // More impatient clients than the queue holds (64) connect and leave without a word...
    for _ in 0..100 {
        drop(TcpStream::connect(addr).unwrap());
    }
    // ...and the gateway lets go of every one of them.
    let let_go = wait_for(Duration::from_secs(10), || {
        accept_backlog(addr) == 0 && open_fds(&gw) <= baseline
    });
    assert!(
        let_go.is_some(),
        "{} descriptors, {baseline} before",
        open_fds(&gw)
    );
    // A patient client queues behind the one being served...
    let mut patient = tcp_stream(addr);
    patient.write_all(request).unwrap();
    let queued = wait_for(Duration::from_secs(10), || open_fds(&gw) > baseline);
    assert!(queued.is_some(), "the patient client was never accepted");
    // ...and is served once it leaves.
    drop(held);
    let n = patient.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}
