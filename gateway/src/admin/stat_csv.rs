//! `show stat`: HAProxy's CSV of listener (`FRONTEND`), server and `BACKEND` rows. The rows
//! and the servers' states come from one load of the backends, so a reload during the
//! command cannot pair one backend's figures with another's servers.

use crate::live::Live;
use crate::stats::snapshot::{self, Classes};
use crate::upstream::CheckOutcome;
use std::fmt::Write as _;

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
    qcur: usize,
    qmax: usize,
    scur: i64,
    smax: usize,
    slim: Option<usize>,
    qlimit: Option<usize>,
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
            "{},{},{},{},{},{},{},{},{},{},0,0,,{},,{},0,{},{},{},0,{},,{},,{},1,{},{},,{},,{},,,,{},,{},{},{},{},{},{},{},",
            self.pxname,
            self.svname,
            self.qcur,
            self.qmax,
            self.scur,
            self.smax,
            self.slim.map(|l| l.to_string()).unwrap_or_default(),
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
            self.qlimit.map(|l| l.to_string()).unwrap_or_default(),
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

/// The `show stat` answer.
pub(super) fn show_stat(live: &Live) -> String {
    let upstreams = live.upstreams();
    let snapshot = snapshot::take_with(live, &upstreams);
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
    for (b, (backend, upstream)) in snapshot.backends.iter().zip(upstreams.iter()).enumerate() {
        let iid = snapshot.listeners.len() + b + 1;
        for (s, (server, state)) in backend.servers.iter().zip(&upstream.servers).enumerate() {
            let checked = upstream.checker().is_some();
            StatRow {
                pxname: &backend.name,
                svname: &server.name,
                scur: server.current_requests,
                smax: server.max_requests,
                slim: server.requests_limit,
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
            qcur: backend.queue_current,
            qmax: backend.queue_max,
            qlimit: backend.queue_limit,
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
