//! `timeouts.keep_alive` (HAProxy `timeout http-keep-alive`): how long a connection that has
//! been answered waits for its next request. The wait starts again after every response, so a
//! connection whose requests keep coming stays open however long it lives, and one left idle
//! is closed once the keep-alive time has passed.

use gateway_tests::client::{get_keep_alive, tcp_stream};
use gateway_tests::config::{yaml, Config};
use gateway_tests::free_addr;
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use std::io::Read;
use std::time::{Duration, Instant};

const KEEP_ALIVE: Duration = Duration::from_secs(1);

#[test]
fn requests_keep_a_connection_open_and_it_closes_once_idle_for_the_keep_alive_time() {
    let dir = workdir();
    let origin = Origin::start("a");
    let addr = free_addr();
    let config = Config::plain(dir.path(), addr, &[&origin])
        .set("timeouts", yaml("{ keep_alive: 1s, client: 10s }"))
        .yaml();
    let _gateway = Gateway::start(dir.path(), &config, &[addr]);
    let mut stream = tcp_stream(addr);
    // Five requests half the keep-alive time apart: 2.5 s in all, on one connection.
    let started = Instant::now();
    for i in 0..5 {
        if i > 0 {
            // The client's pause between two requests is what is under test.
            std::thread::sleep(KEEP_ALIVE / 2);
        }
        let (status, _) = get_keep_alive(&mut stream, &format!("/request-{i}"));
        assert_eq!(status, 200, "request {i}");
    }
    assert!(started.elapsed() > KEEP_ALIVE * 2);
    assert_eq!(origin.hits(), 5);
    // Then nothing: the gateway closes the connection after the keep-alive time.
    let idle = Instant::now();
    let mut byte = [0u8; 1];
    let read = stream.read(&mut byte);
    let waited = idle.elapsed();
    assert!(
        matches!(read, Ok(0)),
        "expected the gateway to close the idle connection, got {read:?} after {waited:?}"
    );
    assert!(
        waited >= KEEP_ALIVE - Duration::from_millis(200) && waited < KEEP_ALIVE * 4,
        "closed after {waited:?}, keep-alive is {KEEP_ALIVE:?}"
    );
}
