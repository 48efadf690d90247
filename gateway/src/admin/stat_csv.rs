//! `show stat [<iid> <type> <sid>]`: HAProxy's CSV of listener (`FRONTEND`), server and
//! `BACKEND` rows, in HAProxy 2.6's columns (see [`stat_columns`]). The rows and the
//! servers' states come from one load of the backends, so a reload during the command
//! cannot pair one backend's figures with another's servers. Also `show backend`.

use super::stat_columns::{header, Row};
use crate::config::model::{Balance, HashKey};
use crate::live::Live;
use crate::stats::snapshot::{self, Classes};
use crate::upstream::CheckOutcome;

/// HAProxy's `type` bits for the filter: frontends, backends, servers.
const FRONTEND: i64 = 1;
const BACKEND: i64 = 2;
const SERVER: i64 = 4;

/// `show stat`'s optional filter: proxy (by id or name), type mask, server id.
struct Filter {
    proxy: Option<Proxy>,
    types: i64,
    server: Option<usize>,
}

enum Proxy {
    Id(usize),
    Name(String),
}

impl Filter {
    /// The filter of `show stat <iid> <type> <sid>` (all three, as HAProxy reads them;
    /// anything else shows everything). Numbers are read as C's `atoi` would.
    fn parse(words: &[&str]) -> Filter {
        let all = Filter {
            proxy: None,
            types: -1,
            server: None,
        };
        let [proxy, types, server, ..] = words else {
            return all;
        };
        let proxy = match proxy.parse::<i64>() {
            Ok(-1) => None,
            Ok(id) => Some(Proxy::Id(usize::try_from(id).unwrap_or(0))),
            Err(_) => Some(Proxy::Name(proxy.to_string())),
        };
        Filter {
            proxy,
            types: types.parse().unwrap_or(0),
            server: match server.parse::<i64>().unwrap_or(0) {
                -1 => None,
                id => Some(usize::try_from(id).unwrap_or(0)),
            },
        }
    }

    fn shows_proxy(&self, iid: usize, name: &str) -> bool {
        match &self.proxy {
            None => true,
            Some(Proxy::Id(id)) => *id == iid,
            Some(Proxy::Name(wanted)) => wanted == name,
        }
    }

    fn shows(&self, kind: i64) -> bool {
        self.types & kind != 0
    }
}

fn set_responses(row: &mut Row, r: &Classes) {
    row.set("hrsp_1xx", r.informational)
        .set("hrsp_2xx", r.success)
        .set("hrsp_3xx", r.redirection)
        .set("hrsp_4xx", r.client_error)
        .set("hrsp_5xx", r.server_error)
        .set("hrsp_other", r.none)
        .set("req_tot", r.total());
}

/// HAProxy's name for a balancing algorithm (`algo`).
fn algo(balance: &Balance) -> &'static str {
    match balance {
        Balance::RoundRobin => "roundrobin",
        Balance::LeastConn => "leastconn",
        Balance::Random => "random",
        Balance::Hash(HashKey::SourceIp) => "source",
        Balance::Hash(HashKey::Path) => "uri",
        Balance::Hash(HashKey::Header(_)) => "hdr",
        Balance::Hash(HashKey::Cookie(_)) => "hash",
    }
}

/// The `show stat` answer for the words after `show stat`.
pub(super) fn show_stat(live: &Live, words: &[&str]) -> String {
    let filter = Filter::parse(words);
    let upstreams = live.upstreams();
    let snapshot = snapshot::take_with(live, &upstreams);
    if let Some(Proxy::Name(name)) = &filter.proxy {
        let known = snapshot.listeners.iter().any(|l| &l.name == name)
            || snapshot.backends.iter().any(|b| &b.name == name);
        if !known {
            return "No such proxy.\n".into();
        }
    }
    let mut out = header();
    for (i, l) in snapshot.listeners.iter().enumerate() {
        if !filter.shows(FRONTEND) || !filter.shows_proxy(i + 1, &l.name) {
            continue;
        }
        let mut row = Row::new();
        row.set("pxname", &l.name)
            .set("svname", "FRONTEND")
            .set("scur", l.connections_current)
            .set("slim", live.max_connections)
            .set("stot", l.connections_total)
            .set("bin", l.bytes_in)
            .set("bout", l.bytes_out)
            .set("status", "OPEN")
            .set("pid", 1)
            .set("iid", i + 1)
            .set("sid", 0)
            .set("type", 0)
            .set("mode", "http")
            .set("conn_tot", l.connections_total);
        set_responses(&mut row, &l.responses);
        out.push_str(&row.line());
    }
    for (b, (backend, upstream)) in snapshot.backends.iter().zip(upstreams.iter()).enumerate() {
        let iid = snapshot.listeners.len() + b + 1;
        if !filter.shows_proxy(iid, &backend.name) {
            continue;
        }
        let checker = upstream.checker().map(|c| c.settings());
        for (s, (server, state)) in backend.servers.iter().zip(&upstream.servers).enumerate() {
            if !filter.shows(SERVER) || filter.server.is_some_and(|sid| sid != s + 1) {
                continue;
            }
            let backup = state.config.backup;
            let mut row = Row::new();
            row.set("pxname", &backend.name)
                .set("svname", &server.name)
                .set_all(&["qcur", "qmax"], 0)
                .set("scur", server.current_requests)
                .set("smax", server.max_requests)
                .set("stot", server.requests_total)
                .set("bout", server.bytes_out)
                .set("econ", server.connect_errors)
                .set("wretr", server.retries)
                .set("status", server.status)
                .set("weight", server.weight)
                .set("uweight", state.weight())
                .set("act", u8::from(!backup))
                .set("bck", u8::from(backup))
                .set("lastchg", server.status_for_seconds as u64)
                .set("pid", 1)
                .set("iid", iid)
                .set("sid", s + 1)
                .set("lbtot", server.requests_total)
                .set("type", 2)
                .set("addr", &server.address)
                .set("mode", "http");
            if let Some(limit) = server.requests_limit {
                row.set("slim", limit);
            }
            match checker {
                Some(check) => {
                    row.set("chkfail", state.metrics.checks_failed.get())
                        .set("check_status", server.last_check)
                        .set("check_rise", check.rise)
                        .set("check_fall", check.fall);
                    if server.last_check != CheckOutcome::None.code() {
                        row.set("check_duration", server.last_check_ms as u64);
                    }
                }
                // HAProxy's status of a server without checks that takes requests.
                None if server.status == "UP" => {
                    row.set("status", "no check");
                }
                None => {}
            }
            set_responses(&mut row, &server.responses);
            out.push_str(&row.line());
        }
        if !filter.shows(BACKEND) {
            continue;
        }
        let taking = |backup: bool| {
            upstream
                .servers
                .iter()
                .filter(move |s| s.takes_requests() && s.config.backup == backup)
        };
        let status = if upstream.servers.iter().any(|s| s.takes_requests()) {
            "UP"
        } else {
            "DOWN"
        };
        let mut row = Row::new();
        row.set("pxname", &backend.name)
            .set("svname", "BACKEND")
            .set("qcur", backend.queue_current)
            .set("qmax", backend.queue_max)
            .set("qtime", backend.queue_time_ms)
            .set(
                "scur",
                backend
                    .servers
                    .iter()
                    .map(|s| s.current_requests)
                    .sum::<i64>(),
            )
            .set("stot", backend.responses.total())
            .set(
                "bout",
                backend.servers.iter().map(|s| s.bytes_out).sum::<u64>(),
            )
            .set(
                "econ",
                backend
                    .servers
                    .iter()
                    .map(|s| s.connect_errors)
                    .sum::<u64>(),
            )
            .set(
                "wretr",
                backend.servers.iter().map(|s| s.retries).sum::<u64>(),
            )
            .set("status", status)
            .set("weight", taking(false).map(|s| s.weight()).sum::<usize>())
            .set("uweight", taking(false).map(|s| s.weight()).sum::<usize>())
            .set("act", taking(false).count())
            .set("bck", taking(true).count())
            .set("pid", 1)
            .set("iid", iid)
            .set("sid", 0)
            .set("lbtot", backend.responses.total())
            .set("type", 1)
            .set("mode", "http")
            .set("algo", algo(&upstream.balance));
        set_responses(&mut row, &backend.responses);
        out.push_str(&row.line());
    }
    out
}

/// `show backend`: the backends' names.
pub(super) fn show_backend(live: &Live) -> String {
    let mut out = String::from("# name\n");
    for upstream in live.upstreams().iter() {
        out.push_str(&upstream.name);
        out.push('\n');
    }
    out
}
