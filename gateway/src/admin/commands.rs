//! The admin socket's commands: a line split into commands, each parsed and run against the
//! running state; the answer text. Output formats are in the sibling modules.

use super::{info, servers, servers_state, ssl_cert, stat_csv};
use crate::live::Live;
use crate::upstream::{AdminState, Upstream};
use std::time::Duration;

const HELP: &str = "\
The following commands are valid at this level:
  help                                    : this message
  show info                               : process information
  show stat [<iid> <type> <sid>]          : listener, backend and server figures (CSV)
  show backend                            : list the backends
  show servers conn [<backend>]           : servers' connections
  show servers state [<backend>]          : servers' state (HAProxy server-state format)
  disable server <backend>/<server>       : put a server in maintenance
  enable server <backend>/<server>        : take a server out of maintenance or drain
  set server <backend>/<server> state ready|drain|maint
  set server <backend>/<server> weight <0-256>
  set server <backend>/<server> addr <ip> [port <port>]
  add server <backend>/<server> <ip:port> [weight <n>] [backup] : new server (in maintenance)
  del server <backend>/<server>           : remove a server in maintenance
  set maxconn server <backend>/<server> <n> : a server's connection limit (0: none)
  reopen logs                             : reopen the access log file (after logrotate)
  prompt                                  : toggle interactive mode with prompt
  set timeout cli <delay>                 : change this session's idle timeout (seconds)
  show ssl cert [<file-or-name>]          : certificates served; one's subject, SANs, expiry, issuer
  cache purge <path>                      : drop <path> (any query, unless given) from every cache
  quit                                    : close this session
";

/// What a session's own commands set: `prompt` (interactive mode) and `set timeout cli`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Interactive: a `> ` prompt after every answer.
    pub interactive: bool,
    /// How long the session may stay idle.
    pub timeout: Duration,
}

/// HAProxy's interactive prompt.
pub const PROMPT: &str = "> ";

/// Run the `;`-separated commands of one line; the answer ending with its empty line (and
/// the prompt in interactive mode), or `None` when the line says `quit`.
pub fn run_line(live: &Live, line: &str, mode: &mut Mode) -> Option<String> {
    let mut answer = String::new();
    for command in line.trim().split(';').map(str::trim) {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit"] => return None,
            ["prompt"] => mode.interactive = !mode.interactive,
            ["set", "timeout", rest @ ..] => answer.push_str(&set_timeout(rest, mode)),
            _ => answer.push_str(&execute(live, command)),
        }
    }
    answer.push('\n');
    if mode.interactive {
        answer.push_str(PROMPT);
    }
    Some(answer)
}

/// `set timeout cli <seconds>`, with HAProxy's error lines.
fn set_timeout(words: &[&str], mode: &mut Mode) -> String {
    match words {
        ["cli", seconds] => match seconds.parse::<u64>() {
            Ok(s) if (1..=MAX_TIMEOUT_SECONDS).contains(&s) => {
                mode.timeout = Duration::from_secs(s);
                String::new()
            }
            _ => "Invalid timeout value.\n".into(),
        },
        ["cli"] => "Expects an integer value.\n".into(),
        _ => "'set timeout' only supports 'cli'.\n".into(),
    }
}

/// The longest `set timeout cli` (HAProxy's bound on timeouts, 2^31-1 ms).
const MAX_TIMEOUT_SECONDS: u64 = (i32::MAX as u64) / 1000;

/// Run one command; the answer, each line ending in `\n` (empty for a silent success).
pub fn execute(live: &Live, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["help"] => HELP.to_string(),
        ["show", "info"] => info::show_info(live),
        ["show", "stat", filter @ ..] => stat_csv::show_stat(live, filter),
        ["show", "backend"] => stat_csv::show_backend(live),
        ["show", "servers", "conn"] => servers_state::show_servers_conn(live, None, live.threads()),
        ["show", "servers", "conn", backend] => {
            servers_state::show_servers_conn(live, Some(backend), live.threads())
        }
        ["show", "servers", "state"] => servers_state::show_servers_state(live, None),
        ["show", "servers", "state", backend] => {
            servers_state::show_servers_state(live, Some(backend))
        }
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
        ["set", "server", target, "addr", rest @ ..] => servers::set_addr(live, target, rest),
        ["add", "server", target, rest @ ..] => servers::add(live, target, rest),
        ["add", "server"] => "Require 'backend/server'.\n".into(),
        ["del", "server", target] => servers::delete(live, target),
        ["del", "server"] => "Require 'backend/server'.\n".into(),
        ["set", "maxconn", "server", target, rest @ ..] => {
            servers::set_maxconn(live, target, rest.first().copied())
        }
        ["show", "ssl", "cert"] => ssl_cert::show_ssl_cert(None),
        ["show", "ssl", "cert", name] => ssl_cert::show_ssl_cert(Some(name)),
        ["reopen", "logs"] => {
            log::warn!("admin: reopening the access log");
            crate::access_log::writer::request_reopen();
            String::new()
        }
        ["cache", "purge", path] => format!("{}\n", crate::cache::purge_everywhere(path)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Registry;
    use std::path::Path;
    use std::sync::Arc;

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
        let runtime = crate::runtime_config::parse(Path::new("/t.yaml"), yaml, &registry).unwrap();
        Live::new(&runtime, registry).unwrap()
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
    fn prompt_and_timeout_are_the_sessions_own() {
        let live = live();
        let mut mode = Mode {
            interactive: false,
            timeout: Duration::from_secs(10),
        };
        assert!(run_line(&live, "help", &mut mode).unwrap().ends_with(
            "

"
        ));
        assert_eq!(
            run_line(&live, "prompt", &mut mode).as_deref(),
            Some("\n> ")
        );
        assert_eq!(
            run_line(&live, "set timeout cli 30", &mut mode).as_deref(),
            Some("\n> ")
        );
        assert_eq!(mode.timeout, Duration::from_secs(30));
        for (bad, line) in [
            ("set timeout cli 0", "Invalid timeout value.\n\n> "),
            ("set timeout cli", "Expects an integer value.\n\n> "),
            (
                "set timeout foo 3",
                "'set timeout' only supports 'cli'.\n\n> ",
            ),
        ] {
            assert_eq!(run_line(&live, bad, &mut mode).as_deref(), Some(line));
        }
        assert_eq!(mode.timeout, Duration::from_secs(30));
        assert!(run_line(&live, "show info", &mut mode)
            .unwrap()
            .ends_with("Tainted: 0\n\n> "));
        assert_eq!(run_line(&live, "prompt", &mut mode).as_deref(), Some("\n"));
        assert_eq!(run_line(&live, "quit", &mut mode), None);
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
            ["2", "app", "2", "b", "127.0.0.1", "2", "0", "7", "3"],
            "be_id is the backend's show stat iid (after the one listener)"
        );
        let stat = execute(&live, "show stat");
        let header: Vec<&str> = stat.lines().next().unwrap()[2..].split(',').collect();
        let row = stat.lines().find(|l| l.starts_with("app,b,")).unwrap();
        let cell = |name: &str| {
            row.split(',')
                .nth(header.iter().position(|h| *h == name).unwrap())
        };
        assert_eq!(
            cell("status"),
            Some("no check"),
            "HAProxy's word without checks"
        );
        assert_eq!(cell("weight"), Some("7"));
        assert_eq!(cell("type"), Some("2"));
        assert_eq!(row.split(',').count(), header.len(), "one cell per column");
        assert!(execute(&live, "show info").contains("\nMaxconn: 2048\n"));
    }
}
