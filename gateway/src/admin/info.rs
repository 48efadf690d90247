//! `show info`: process figures, one `Name: value` per line, as HAProxy prints them.

use crate::live::Live;
use crate::stats::snapshot;
use std::fmt::Write as _;

/// The `show info` answer.
pub(super) fn show_info(live: &Live) -> String {
    let snapshot = snapshot::take(live);
    let uptime = snapshot.uptime_seconds as u64;
    let current: i64 = snapshot
        .listeners
        .iter()
        .map(|l| l.connections_current)
        .sum();
    let total: u64 = snapshot.listeners.iter().map(|l| l.connections_total).sum();
    let requests: u64 = snapshot.listeners.iter().map(|l| l.requests_total).sum();
    let mut out = String::new();
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{name}: {value}");
    };
    field("Name", &"gateway");
    field("Version", &snapshot.version);
    field("Pid", &std::process::id());
    field(
        "Uptime",
        &format!(
            "{}d {}h{:02}m{:02}s",
            uptime / 86400,
            uptime / 3600 % 24,
            uptime / 60 % 60,
            uptime % 60
        ),
    );
    field("Uptime_sec", &uptime);
    field("Maxconn", &live.max_connections);
    field("CurrConns", &current);
    field("CumConns", &total);
    field("CumReq", &requests);
    field("Listeners", &snapshot.listeners.len());
    field("Backends", &snapshot.backends.len());
    out
}
