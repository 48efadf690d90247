//! The admin socket (`admin.socket`): HAProxy's runtime API, the verbs operators' scripts
//! already send with `socat` to `stats socket`. One command per line (several per line
//! separated by `;`); each answer ends with an empty line; the connection closes at end of
//! input. Unknown commands get an error line.

use crate::live::Live;
use crate::stats::snapshot::{self, Classes};
use crate::upstream::{AdminState, CheckOutcome, Upstream};
use pingora::server::ShutdownWatch;
use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Longest command line accepted.
const MAX_LINE: usize = 4096;

const HELP: &str = "\
The following commands are valid at this level:
  help                                    : this message
  show info                               : process information
  show stat                               : listener, backend and server figures (CSV)
  show servers state [<backend>]          : servers' state (HAProxy server-state format)
  disable server <backend>/<server>       : put a server in maintenance
  enable server <backend>/<server>        : take a server out of maintenance or drain
  set server <backend>/<server> state ready|drain|maint
  set server <backend>/<server> weight <0-256>
";

/// Listen on `path` (mode 0660) until `shutdown`, answering commands about `live`.
pub async fn serve(path: &Path, live: Arc<Live>, mut shutdown: ShutdownWatch) {
    // A socket left by an earlier process (or the process being upgraded) is replaced; its
    // open connections keep their process.
    if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!("admin socket {}: {e}", path.display());
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)) {
        log::error!("admin socket {}: cannot set mode 0660: {e}", path.display());
    }
    log::info!("admin socket listening on {}", path.display());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(session(stream, live.clone()));
                }
                Err(e) => {
                    log::warn!("admin socket accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn session(stream: tokio::net::UnixStream, live: Arc<Live>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut lines)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut answer = String::new();
        for command in line.trim().split(';').map(str::trim) {
            if command == "quit" {
                return;
            }
            if !command.is_empty() {
                answer.push_str(&execute(&live, command));
            }
        }
        answer.push('\n');
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Run one command; the answer, each line ending in `\n` (empty for a silent success).
pub fn execute(live: &Live, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["help"] => HELP.to_string(),
        ["show", "info"] => show_info(live),
        ["show", "stat"] => show_stat(live),
        ["show", "servers", "state"] => show_servers_state(live, None),
        ["show", "servers", "state", backend] => show_servers_state(live, Some(backend)),
        ["disable", "server", target] => {
            with_server(live, target, |u, i| u.set_admin(i, AdminState::Maint))
        }
        ["enable", "server", target] => {
            with_server(live, target, |u, i| u.set_admin(i, AdminState::Ready))
        }
        ["set", "server", target, "state", state] => match AdminState::parse(state) {
            Some(state) => with_server(live, target, |u, i| u.set_admin(i, state)),
            None => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
        },
        ["set", "server", target, "weight", weight] => match weight.parse::<usize>() {
            Ok(weight) if weight <= 256 => {
                with_server(live, target, |u, i| u.set_weight(i, weight))
            }
            _ => "Weight must be an integer between 0 and 256.\n".into(),
        },
        _ => format!("Unknown command: '{command}'\n{HELP}"),
    }
}

/// Apply `change` to the server named `target` (`backend/server`).
fn with_server(live: &Live, target: &str, change: impl FnOnce(&Upstream, usize)) -> String {
    let Some((backend, server)) = target.split_once('/') else {
        return "Require 'backend/server'.\n".into();
    };
    let Some(upstream) = live.upstream(backend) else {
        return "No such backend.\n".into();
    };
    let Some(index) = upstream.server_named(server) else {
        return "No such server.\n".into();
    };
    change(&upstream, index);
    log::warn!(
        "admin: server {backend}/{server} is now {} (weight {})",
        upstream.servers[index].status(),
        upstream.servers[index].weight()
    );
    String::new()
}

fn show_info(live: &Live) -> String {
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

/// HAProxy's `show stat` columns, in its order (the first 44).
const STAT_COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,\
ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,\
iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,\
check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,";

/// One `show stat` row; unset columns stay empty, as HAProxy leaves them.
#[derive(Default)]
struct StatRow<'a> {
    pxname: &'a str,
    svname: &'a str,
    scur: i64,
    stot: u64,
    bin: Option<u64>,
    bout: u64,
    econ: Option<u64>,
    wretr: Option<u64>,
    status: &'a str,
    weight: Option<usize>,
    act: Option<usize>,
    chkfail: Option<u64>,
    lastchg: Option<u64>,
    iid: usize,
    sid: usize,
    kind: u8,
    check_status: &'a str,
    check_duration_ms: Option<u64>,
    responses: Classes,
}

impl StatRow<'_> {
    fn write(&self, out: &mut String) {
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let r = &self.responses;
        let _ = writeln!(
            out,
            "{},{},0,0,{},,,{},{},{},0,0,,{},,{},0,{},{},{},0,{},,{},,,1,{},{},,{},,{},,,,{},,{},{},{},{},{},{},{},",
            self.pxname,
            self.svname,
            self.scur,
            self.stot,
            opt(self.bin),
            self.bout,
            opt(self.econ),
            opt(self.wretr),
            self.status,
            self.weight.map(|w| w.to_string()).unwrap_or_default(),
            self.act.map(|a| a.to_string()).unwrap_or_default(),
            opt(self.chkfail),
            opt(self.lastchg),
            self.iid,
            self.sid,
            if self.kind == 2 { self.stot.to_string() } else { String::new() },
            self.kind,
            self.check_status,
            opt(self.check_duration_ms),
            r.informational,
            r.success,
            r.redirection,
            r.client_error,
            r.server_error,
            r.none,
        );
    }
}

fn show_stat(live: &Live) -> String {
    let snapshot = snapshot::take(live);
    let mut out = format!("# {STAT_COLUMNS}\n");
    for (i, l) in snapshot.listeners.iter().enumerate() {
        StatRow {
            pxname: &l.name,
            svname: "FRONTEND",
            scur: l.connections_current,
            stot: l.connections_total,
            bin: Some(l.bytes_in),
            bout: l.bytes_out,
            status: "OPEN",
            iid: i + 1,
            kind: 0,
            responses: l.responses,
            ..StatRow::default()
        }
        .write(&mut out);
    }
    let upstreams = live.upstreams();
    for (b, (backend, upstream)) in snapshot.backends.iter().zip(upstreams.iter()).enumerate() {
        let iid = snapshot.listeners.len() + b + 1;
        for (s, (server, state)) in backend.servers.iter().zip(&upstream.servers).enumerate() {
            let checked = upstream.checker().is_some();
            StatRow {
                pxname: &backend.name,
                svname: &server.name,
                scur: server.current_requests,
                stot: server.requests_total,
                bout: server.bytes_out,
                econ: Some(server.connect_errors),
                wretr: Some(server.retries),
                status: server.status,
                weight: Some(server.weight),
                act: Some(1),
                chkfail: checked.then(|| state.metrics.checks_failed.get()),
                lastchg: Some(server.status_for_seconds as u64),
                iid,
                sid: s + 1,
                kind: 2,
                check_status: if checked { server.last_check } else { "" },
                check_duration_ms: (checked && server.last_check != CheckOutcome::None.code())
                    .then_some(server.last_check_ms as u64),
                responses: server.responses,
                ..StatRow::default()
            }
            .write(&mut out);
        }
        let taking: Vec<_> = upstream
            .servers
            .iter()
            .filter(|s| s.takes_requests())
            .collect();
        StatRow {
            pxname: &backend.name,
            svname: "BACKEND",
            scur: backend.servers.iter().map(|s| s.current_requests).sum(),
            stot: backend.responses.total(),
            bout: backend.servers.iter().map(|s| s.bytes_out).sum(),
            econ: Some(backend.servers.iter().map(|s| s.connect_errors).sum()),
            wretr: Some(backend.servers.iter().map(|s| s.retries).sum()),
            status: if taking.is_empty() { "DOWN" } else { "UP" },
            weight: Some(taking.iter().map(|s| s.weight()).sum()),
            act: Some(taking.len()),
            iid,
            kind: 1,
            responses: backend.responses,
            ..StatRow::default()
        }
        .write(&mut out);
    }
    out
}

/// HAProxy's numeric check status (`HCHK_STATUS_*`) for an outcome.
fn check_status_code(outcome: CheckOutcome) -> u8 {
    match outcome {
        CheckOutcome::None => 0,
        CheckOutcome::L4Tout => 6,
        CheckOutcome::L4Con => 7,
        CheckOutcome::L7Rsp => 12,
        CheckOutcome::L7Ok => 13,
        CheckOutcome::L7Sts => 15,
    }
}

fn show_servers_state(live: &Live, only: Option<&str>) -> String {
    let upstreams = live.upstreams();
    if let Some(name) = only {
        if !upstreams.iter().any(|u| u.name == name) {
            return "Can't find backend.\n".into();
        }
    }
    let mut out = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight \
         srv_iweight srv_time_since_last_change srv_check_status srv_check_result \
         srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id \
         srv_fqdn srv_port\n",
    );
    let now = crate::metrics::unix_now();
    for (b, upstream) in upstreams.iter().enumerate() {
        if only.is_some_and(|name| name != upstream.name) {
            continue;
        }
        for (s, server) in upstream.servers.iter().enumerate() {
            let (outcome, _, _) = server.health.last_check();
            let checked = upstream.checker().is_some();
            let result = match (checked, outcome) {
                (false, _) | (_, CheckOutcome::None) => 0,
                (true, CheckOutcome::L7Ok) => 3,
                (true, _) => 2,
            };
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {}",
                b + 1,
                upstream.name,
                s + 1,
                server.config.name,
                server.config.address.ip(),
                if server.health.is_up() { 2 } else { 0 },
                server.admin().haproxy_bits(),
                server.weight(),
                server.config.weight,
                (now - server.health.since()).max(0.0) as u64,
                check_status_code(outcome),
                result,
                u8::from(server.health.is_up()),
                if checked { 6 } else { 0 },
                server.config.address.port(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Registry;

    fn live() -> Arc<Live> {
        let yaml = "
listeners:
  - { name: web, address: 127.0.0.1:1, backend: app }
backends:
  app:
    servers:
      - { name: a, address: 127.0.0.1:2 }
      - { name: b, address: 127.0.0.1:3, weight: 3 }
";
        let registry = Registry::with_builtins();
        let config = crate::runtime_config::parse(Path::new("/t.yaml"), yaml, &registry).unwrap();
        Live::new(&config, registry).unwrap()
    }

    #[test]
    fn admin_states_and_weights_change_selection() {
        let live = live();
        let app = live.upstream("app").unwrap();
        assert_eq!(execute(&live, "set server app/b state drain"), "");
        assert_eq!(app.servers[1].status(), "DRAIN");
        assert!((0..8).all(|_| app.select(None) == Some(0)));
        assert_eq!(execute(&live, "disable server app/a"), "");
        assert_eq!(app.select(None), None, "no server takes requests");
        assert_eq!(execute(&live, "enable server app/a"), "");
        assert_eq!(execute(&live, "set server app/b state ready"), "");
        assert_eq!(execute(&live, "set server app/a weight 0"), "");
        assert!((0..8).all(|_| app.select(None) == Some(1)));
        assert_eq!(app.servers[0].weight(), 0);
    }

    #[test]
    fn mistakes_get_haproxy_error_lines() {
        let live = live();
        assert_eq!(
            execute(&live, "disable server app"),
            "Require 'backend/server'.\n"
        );
        assert_eq!(
            execute(&live, "disable server nope/a"),
            "No such backend.\n"
        );
        assert_eq!(execute(&live, "enable server app/z"), "No such server.\n");
        assert!(execute(&live, "set server app/a state up").contains("expects"));
        assert!(execute(&live, "set server app/a weight 999").starts_with("Weight"));
        assert!(execute(&live, "rm -rf /").starts_with("Unknown command: 'rm -rf /'"));
    }

    #[test]
    fn show_commands_use_haproxy_layouts() {
        let live = live();
        execute(&live, "set server app/b weight 7");
        let state = execute(&live, "show servers state");
        let lines: Vec<&str> = state.lines().collect();
        assert_eq!(lines[0], "1");
        assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr"));
        assert_eq!(
            lines[3].split(' ').take(9).collect::<Vec<_>>(),
            ["1", "app", "2", "b", "127.0.0.1", "2", "0", "7", "3"]
        );
        let stat = execute(&live, "show stat");
        let header: Vec<&str> = stat.lines().next().unwrap()[2..].split(',').collect();
        let row = stat.lines().find(|l| l.starts_with("app,b,")).unwrap();
        let cell = |name: &str| {
            row.split(',')
                .nth(header.iter().position(|h| *h == name).unwrap())
        };
        assert_eq!(cell("status"), Some("UP"));
        assert_eq!(cell("weight"), Some("7"));
        assert_eq!(cell("type"), Some("2"));
        assert_eq!(row.split(',').count(), header.len(), "one cell per column");
        assert!(execute(&live, "show info").contains("\nMaxconn: 2048\n"));
    }
}
