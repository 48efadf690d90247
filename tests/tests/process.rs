//! Pingora's own process flags keep working: `-d` daemonizes, `-u` takes the listening
//! sockets over from a running gateway without refusing a connection.

use gateway_tests::gateway::{plain_config, signal_pid, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{accepting, free_addr, http_client, wait_for};
use std::time::Duration;

#[test]
fn daemon_flag_detaches_and_writes_the_pid_file() {
    let dir = workdir();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let mut launcher = Gateway::start_with(
        dir.path(),
        &plain_config(dir.path(), addr, &[&origin], "", ""),
        &["-d"],
        &[],
    );
    assert_eq!(
        launcher.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        launcher.log()
    );
    assert!(wait_for(Duration::from_secs(10), || accepting(addr)).is_some());
    // The sockets listen from the start (bound before Pingora runs): the pid file may come later.
    let pid_file = dir.path().join("gateway.pid");
    let written = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.trim().parse::<u32>().is_ok())
    });
    assert!(written.is_some(), "no pid file");
    let pid_text = std::fs::read_to_string(&pid_file).unwrap();
    let pid: u32 = pid_text.trim().parse().unwrap();
    assert_ne!(pid, launcher.pid(), "the daemon is a different process");

    let resp = http_client().get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.text().unwrap(), "n1\n");
    signal_pid(pid, "TERM");
    assert!(wait_for(Duration::from_secs(10), || !accepting(addr)).is_some());
}

#[test]
fn upgrade_flag_takes_over_the_listening_socket() {
    let dir = workdir();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let yaml = plain_config(dir.path(), addr, &[&origin], "", "");
    let mut old = Gateway::start(dir.path(), &yaml, &[addr]);
    let client = http_client();
    assert_eq!(
        client
            .get(format!("http://{addr}/"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // The new process waits on the upgrade socket until the old one hands over on SIGQUIT.
    let mut new = Gateway::start_upgrade(dir.path(), &yaml);
    old.signal("QUIT");
    // Requests go on during the hand-over, until the old process is gone, then 10 more.
    let mut sent = 0;
    let mut after_exit = 0;
    while after_exit < 10 {
        assert!(sent < 5000, "old process did not exit; log:\n{}", old.log());
        if old.wait_exit(Duration::ZERO).is_some() {
            after_exit += 1;
        }
        let resp = client.get(format!("http://{addr}/{sent}")).send();
        assert_eq!(
            resp.map(|r| r.status().as_u16()).ok(),
            Some(200),
            "request {sent}"
        );
        sent += 1;
        // Paced like a client, so the hand-over happens between requests.
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        client
            .get(format!("http://{addr}/after"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert!(
        new.wait_exit(Duration::from_millis(10)).is_none(),
        "new process serves on"
    );
    assert_eq!(origin.hits(), sent + 2);
}
