//! The admin socket as the tests read it: `show servers state` rows and `show stat` cells, and
//! how requests spread over the servers its verbs (weights, drain, maintenance) change; a
//! gateway started with an admin socket, waited for until the socket accepts.

use crate::gateway::{admin, Gateway};
use crate::{http_client, wait_for};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Send `count` requests to `addr`; how many each origin answered, by body (any other
/// status than 200 by its code: `"503"`).
pub fn spread(addr: SocketAddr, count: usize) -> std::collections::BTreeMap<String, usize> {
    let client = http_client();
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..count {
        let resp = client
            .get(format!("http://{addr}/spread{i}"))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().unwrap().trim().to_string();
        let key = if status == 200 {
            body
        } else {
            status.to_string()
        };
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

/// What [`spread`] is compared with: `(origin name, requests)` pairs.
pub fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The row of server `name` in `show servers state`, split into columns.
pub fn server_state(socket: &Path, name: &str) -> Vec<String> {
    server_state_row(socket, name).unwrap_or_else(|| {
        let state = admin(socket, "show servers state");
        panic!("no row for {name}: {state}")
    })
}

/// The same, `None` when no server is called `name`.
pub fn server_state_row(socket: &Path, name: &str) -> Option<Vec<String>> {
    let state = admin(socket, "show servers state");
    let row = state.lines().find(|l| l.split(' ').nth(3) == Some(name))?;
    Some(row.split(' ').map(str::to_string).collect())
}

/// Cell `column` of the `show stat` row `proxy,server` (`web,FRONTEND`, `app,b`).
pub fn stat_cell(socket: &Path, row_name: &str, column: &str) -> String {
    let stat = admin(socket, "show stat");
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let index = header.iter().position(|h| *h == column).unwrap();
    let row = lines
        .find(|l| l.starts_with(&format!("{row_name},")))
        .unwrap_or_else(|| panic!("no row {row_name}: {stat}"));
    row.split(',').nth(index).unwrap().to_string()
}

/// Start `yaml` and wait for its admin socket; the socket's path.
pub fn start_with_admin(dir: &Path, yaml: &str, addr: SocketAddr) -> (Gateway, PathBuf) {
    let gateway = Gateway::start(dir, yaml, &[addr]);
    let socket = dir.join("admin.sock");
    assert!(
        wait_for(Duration::from_secs(5), || UnixStream::connect(&socket)
            .is_ok())
        .is_some(),
        "admin socket never accepted; log:\n{}",
        gateway.log()
    );
    (gateway, socket)
}
