//! `show info`: process figures, one `Name: value` per line, HAProxy 2.6's fields in its
//! order; a field the gateway does not measure is printed with an empty value.

use crate::live::Live;
use crate::metrics::START_TIME;
use crate::stats::snapshot;
use std::fmt::Write as _;

/// HAProxy 2.6's `show info` fields, in its order.
const FIELDS: &[&str] = &[
    "Name",
    "Version",
    "Release_date",
    "Nbthread",
    "Nbproc",
    "Process_num",
    "Pid",
    "Uptime",
    "Uptime_sec",
    "Memmax_MB",
    "PoolAlloc_MB",
    "PoolUsed_MB",
    "PoolFailed",
    "Ulimit-n",
    "Maxsock",
    "Maxconn",
    "Hard_maxconn",
    "CurrConns",
    "CumConns",
    "CumReq",
    "MaxSslConns",
    "CurrSslConns",
    "CumSslConns",
    "Maxpipes",
    "PipesUsed",
    "PipesFree",
    "ConnRate",
    "ConnRateLimit",
    "MaxConnRate",
    "SessRate",
    "SessRateLimit",
    "MaxSessRate",
    "SslRate",
    "SslRateLimit",
    "MaxSslRate",
    "SslFrontendKeyRate",
    "SslFrontendMaxKeyRate",
    "SslFrontendSessionReuse_pct",
    "SslBackendKeyRate",
    "SslBackendMaxKeyRate",
    "SslCacheLookups",
    "SslCacheMisses",
    "CompressBpsIn",
    "CompressBpsOut",
    "CompressBpsRateLim",
    "Tasks",
    "Run_queue",
    "Idle_pct",
    "node",
    "Stopping",
    "Jobs",
    "Unstoppable Jobs",
    "Listeners",
    "ActivePeers",
    "ConnectedPeers",
    "DroppedLogs",
    "BusyPolling",
    "FailedResolutions",
    "TotalBytesOut",
    "TotalSplicdedBytesOut",
    "BytesOutRate",
    "DebugCommandsIssued",
    "CumRecvLogs",
    "Build info",
    "Memmax_bytes",
    "PoolAlloc_bytes",
    "PoolUsed_bytes",
    "Start_time_sec",
    "Tainted",
];

/// The open-files limit, as `Ulimit-n`.
fn open_files_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource};
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The `show info` answer.
pub(super) fn show_info(live: &Live) -> String {
    let snapshot = snapshot::take(live);
    let uptime = snapshot.uptime_seconds as u64;
    let listeners = &snapshot.listeners;
    let value = |field: &str| -> Option<String> {
        let sum = |f: &dyn Fn(&snapshot::ListenerStats) -> u64| {
            listeners.iter().map(f).sum::<u64>().to_string()
        };
        Some(match field {
            "Name" => "gateway".to_string(),
            "Version" | "Build info" => snapshot.version.to_string(),
            "Nbthread" => live.threads().to_string(),
            "Nbproc" | "Process_num" => "1".to_string(),
            "Pid" => std::process::id().to_string(),
            "Uptime" => format!(
                "{}d {}h{:02}m{:02}s",
                uptime / 86400,
                uptime / 3600 % 24,
                uptime / 60 % 60,
                uptime % 60
            ),
            "Uptime_sec" => uptime.to_string(),
            "Ulimit-n" => open_files_limit()?.to_string(),
            "Maxconn" | "Hard_maxconn" => live.max_connections.to_string(),
            "CurrConns" => listeners
                .iter()
                .map(|l| l.connections_current)
                .sum::<i64>()
                .to_string(),
            "CumConns" => sum(&|l| l.connections_total),
            "CumReq" => sum(&|l| l.requests_total),
            "CumSslConns" => sum(&|l| l.tls_handshakes),
            "node" => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()?
                .trim()
                .to_string(),
            "Stopping" | "DebugCommandsIssued" | "Tainted" => "0".to_string(),
            "Listeners" => listeners.len().to_string(),
            "TotalBytesOut" => sum(&|l| l.bytes_out),
            "Start_time_sec" => START_TIME.get().to_string(),
            _ => return None,
        })
    };
    let mut out = String::new();
    for field in FIELDS {
        let _ = writeln!(out, "{field}: {}", value(field).unwrap_or_default());
    }
    out
}
