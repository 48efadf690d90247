//! HAProxy's two-letter termination state for the access log: who ended the request (`C`
//! client, `S` server, `P`/`L` the gateway itself, `c`/`s` a client/server timeout, `-` nobody)
//! and in which phase (`R` request, `C` connect, `H` response headers, `D` data, `-` done).

use super::Role;
use pingora_error::{Error, ErrorSource, ErrorType};

/// The state for a request that ended with `error` (or none); `answered` tells whether the
/// origin's response header had arrived.
pub fn state(error: Option<&Error>, role: &Role, answered: bool) -> &'static str {
    use ErrorType::*;
    let Some(e) = error else {
        return match role {
            Role::Redirect(_) => "LR",
            Role::Proxy(_) => "--",
        };
    };
    let phase_server = if answered { "SD" } else { "SH" };
    match (e.etype(), e.esource()) {
        (HTTPStatus(503), _) => "SC",
        (HTTPStatus(_), _) => "PR",
        (ConnectTimedout | ConnectRefused | ConnectNoRoute | ConnectError, _) => "SC",
        (ReadTimedout | WriteTimedout, ErrorSource::Upstream) => {
            if answered {
                "sD"
            } else {
                "sH"
            }
        }
        (ReadTimedout, ErrorSource::Downstream) => "cD",
        (_, ErrorSource::Upstream) => phase_server,
        (_, ErrorSource::Downstream) => {
            if answered {
                "CD"
            } else {
                "CR"
            }
        }
        _ => "PR",
    }
}
