//! `show servers state [<backend>]`: HAProxy's server-state format (version 1), the one its
//! `server-state-file` and operators' scripts read.

use crate::live::Live;
use crate::upstream::CheckOutcome;
use std::fmt::Write as _;

/// HAProxy's numeric check status (`HCHK_STATUS_*`) for an outcome.
fn check_status_code(outcome: CheckOutcome) -> u8 {
    match outcome {
        CheckOutcome::None => 0,
        CheckOutcome::L4Tout => 6,
        CheckOutcome::L4Con => 7,
        CheckOutcome::L6Rsp => 9,
        CheckOutcome::L7Rsp => 12,
        CheckOutcome::L7Ok => 13,
        CheckOutcome::L7Sts => 15,
    }
}

/// The `show servers state` answer (a backend's id is its `show stat` `iid`), for every backend or only `only`.
pub(super) fn show_servers_state(live: &Live, only: Option<&str>) -> String {
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
         srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
         srv_agent_addr srv_agent_port\n",
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
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {} - 0 0 - - 0",
                live.listeners.len() + b + 1,
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

/// The `show servers conn [<backend>]` answer: HAProxy's columns; what the gateway does not
/// track (Pingora's idle pool is not inspectable per server) is `-`.
pub(super) fn show_servers_conn(live: &Live, only: Option<&str>, threads: usize) -> String {
    let upstreams = live.upstreams();
    if let Some(name) = only {
        if !upstreams.iter().any(|u| u.name == name) {
            return "Can't find backend.\n".into();
        }
    }
    let mut out = format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
         unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{threads}]\n"
    );
    let iid_base = live.listeners.len();
    for (b, upstream) in upstreams.iter().enumerate() {
        if only.is_some_and(|name| name != upstream.name) {
            continue;
        }
        for (s, server) in upstream.servers.iter().enumerate() {
            let _ = write!(
                out,
                "{}/{} {}/{} {} {} - - {} - - - - - -",
                upstream.name,
                server.config.name,
                iid_base + b + 1,
                s + 1,
                server.config.address.ip(),
                server.config.address.port(),
                server.in_flight(),
            );
            out.push_str(&" -".repeat(threads));
            out.push('\n');
        }
    }
    out
}
