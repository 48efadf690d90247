//! `server.state_file` (HAProxy's `server-state-file`): what a process hands to the one that
//! replaces it. The old process writes it when it is told to hand over (SIGQUIT, before the
//! listening sockets go) and again when it exits; the new process, started with `-u`, reads
//! it once it holds the sockets. So a server that was down stays down (no traffic for `rise`
//! checks after every upgrade), drained and maintenance servers stay so, runtime weights
//! stay, servers added or changed through the admin socket stay, and counters continue
//! instead of restarting from zero.

use crate::live::{Live, RuntimeServers};
use crate::metrics::{add_counter_values, counter_values, unix_now, CounterValue};
use crate::upstream::AdminState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    /// The process that wrote it.
    pub pid: u32,
    /// Written at exit: the counters are final.
    pub last: bool,
    /// When it was written (Unix seconds).
    pub written: f64,
    /// Every server's state.
    pub servers: Vec<SavedServer>,
    /// Every non-zero counter.
    pub counters: Vec<CounterValue>,
    /// Servers added or changed through the admin socket.
    #[serde(default)]
    pub runtime_servers: RuntimeServers,
}

/// One server's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedServer {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// Its address: a server that moved starts afresh.
    pub address: SocketAddr,
    /// Health.
    pub up: bool,
    /// Since when (Unix seconds).
    pub since: f64,
    /// `ready`, `drain` or `maint`.
    pub admin: String,
    /// Weight in effect.
    pub weight: usize,
}

/// The state of `live` now (one load of its backends).
pub fn capture(live: &Live, last: bool) -> SavedState {
    let mut servers = Vec::new();
    for upstream in live.upstreams().iter() {
        for s in &upstream.servers {
            servers.push(SavedServer {
                backend: upstream.name.clone(),
                server: s.config.name.clone(),
                address: s.config.address,
                up: s.health.is_up(),
                since: s.health.since(),
                admin: s.admin().word().to_string(),
                weight: s.weight(),
            });
        }
    }
    SavedState {
        pid: std::process::id(),
        last,
        written: unix_now(),
        servers,
        counters: counter_values(),
        runtime_servers: live.runtime_servers(),
    }
}

/// Write the state of `live` to its state file (atomically: a temporary file, renamed).
pub fn save(live: &Live, last: bool) {
    let state = capture(live, last);
    let path = &live.state_file;
    let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = serde_json::to_vec(&state)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&temporary, bytes))
        .and_then(|()| std::fs::rename(&temporary, path));
    match written {
        Ok(()) => log::info!("server state written to {}", path.display()),
        Err(e) => log::error!("cannot write server state to {}: {e}", path.display()),
    }
}

/// Read a state file.
pub fn read(path: &Path) -> Option<SavedState> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(state) => Some(state),
        Err(e) => {
            log::warn!("ignoring state file {}: {e}", path.display());
            None
        }
    }
}

/// Apply the servers' state and add the counters of `state` to `live` (one load of its
/// backends).
pub fn restore(live: &Live, state: &SavedState) {
    live.restore_runtime_servers(state.runtime_servers.clone());
    let mut restored = 0;
    let upstreams = live.upstreams();
    for saved in &state.servers {
        let Some(upstream) = upstreams.iter().find(|u| u.name == saved.backend) else {
            continue;
        };
        let Some(index) = upstream.server_named(&saved.server) else {
            continue;
        };
        let server = &upstream.servers[index];
        if server.config.address != saved.address {
            continue;
        }
        server.health.set_state(saved.up, saved.since);
        server.metrics.up.set(i64::from(saved.up));
        upstream.set_admin(
            index,
            AdminState::parse(&saved.admin).unwrap_or(AdminState::Ready),
        );
        if saved.weight != server.weight() {
            upstream.set_weight(index, saved.weight);
        }
        restored += 1;
    }
    add_counter_values(&state.counters);
    log::info!(
        "state of process {}: {restored} server(s) and {} counter(s) taken over",
        state.pid,
        state.counters.len()
    );
}

/// After taking over from process `first.pid`, wait (up to `limit`) for its last state and
/// add what it counted after `first` was written: requests it finished during its grace
/// period. Blocking; run it on its own thread.
pub fn follow_old_process(path: &Path, first: &SavedState, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let Some(last) = read(path) else { continue };
        if last.pid != first.pid || !last.last {
            continue;
        }
        let before: BTreeMap<_, _> = first
            .counters
            .iter()
            .map(|c| ((&c.name, &c.labels), c.value))
            .collect();
        let since: Vec<CounterValue> = last
            .counters
            .iter()
            .filter_map(|c| {
                let earlier = before.get(&(&c.name, &c.labels)).copied().unwrap_or(0);
                (c.value > earlier).then(|| CounterValue {
                    value: c.value - earlier,
                    ..c.clone()
                })
            })
            .collect();
        add_counter_values(&since);
        log::info!(
            "process {} exited; {} counter(s) it moved since the hand-over added",
            last.pid,
            since.len()
        );
        return;
    }
    log::warn!(
        "process {} did not write its last state within {limit:?}",
        first.pid
    );
}
