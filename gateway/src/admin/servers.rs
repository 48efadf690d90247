//! The runtime verbs that change a backend's servers (HAProxy 2.4+): `add server`,
//! `del server`, `set server ... addr`, `set maxconn server`. Their answers and error lines
//! are HAProxy's; a refused command changes nothing. The changes are kept by
//! [`crate::live::RuntimeServers`], so they survive reloads and upgrades.

use crate::live::{Added, Live, ServerEdit};
use crate::upstream::{AdminState, Upstream};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// HAProxy's suffix for changes made through the socket.
const BY: &str = "by 'stats socket command'";

/// The largest `set maxconn server` (the configuration's bound).
const MAX_CONNECTIONS: usize = 1_000_000;

/// `backend/server`, split; HAProxy's error line otherwise.
fn split(target: &str) -> Result<(&str, &str), String> {
    target
        .split_once('/')
        .ok_or_else(|| "Require 'backend/server'.\n".to_string())
}

/// The backend and index of the server named by `target` among `upstreams`; a server from
/// DNS discovery is refused (DNS decides its address and presence).
fn find<'a>(
    live: &Live,
    upstreams: &'a [Arc<Upstream>],
    target: &str,
) -> Result<(&'a Upstream, usize), String> {
    let (backend, server) = split(target)?;
    let upstream = upstreams
        .iter()
        .find(|u| u.name == backend)
        .ok_or_else(|| "No such backend.\n".to_string())?;
    let index = upstream
        .server_named(server)
        .ok_or_else(|| "No such server.\n".to_string())?;
    if live.is_discovered(backend, server) {
        return Err(format!(
            "Server {target} comes from DNS discovery: change it through DNS.\n"
        ));
    }
    Ok((upstream, index))
}

/// The answer of an edit: `done` when it was applied, else its error line.
fn answer(outcome: Result<String, String>) -> String {
    outcome.unwrap_or_else(|refused| refused)
}

/// A server address as HAProxy reads one (`ip:port`, `[ipv6]:port`).
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        if address.port() != 0 {
            return Ok(address);
        }
    }
    match text.rsplit_once(':') {
        Some((_, port)) => match port.chars().find(|c| !c.is_ascii_digit()) {
            Some(c) => Err(format!(
                "invalid character '{c}' in port number '{port}' in '{text}'\n"
            )),
            None => Err(format!("invalid address: '{text}'\n")),
        },
        None => Err(format!("missing port in address '{text}'\n")),
    }
}

/// Whether `name` is a server name the configuration would accept.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// `add server <backend>/<server> <ip:port> [weight <n>] [backup]`: a new server, in
/// maintenance until `enable server`.
pub(super) fn add(live: &Live, target: &str, args: &[&str]) -> String {
    let (backend, name) = match split(target) {
        Ok(parts) => parts,
        Err(e) => return e,
    };
    let Some((address, options)) = args.split_first() else {
        return "'server' expects <name> and <addr>[:<port>] as arguments.\n".into();
    };
    if !valid_name(name) {
        return format!("invalid server name '{name}': 1 to 64 letters, digits, '-_.:'.\n");
    }
    let address = match parse_address(address) {
        Ok(address) => address,
        Err(e) => return e,
    };
    let mut added = Added {
        address,
        weight: 1,
        backup: false,
    };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match *option {
            "backup" => added.backup = true,
            "weight" => match options.next().map(|w| w.parse::<i64>()) {
                Some(Ok(w)) if (0..=256).contains(&w) => added.weight = w as usize,
                Some(Ok(w)) => {
                    return format!("weight of server {name} is not within 0 and 256 ({w})..\n")
                }
                _ => return "'weight' expects an integer argument.\n".into(),
            },
            other => return format!("unknown keyword '{other}'.\n"),
        }
    }
    let edited = live.edit_servers(|edits, upstreams| {
        let upstream = upstreams
            .iter()
            .find(|u| u.name == backend)
            .ok_or("No such backend.\n")?;
        if upstream.server_named(name).is_some() {
            return Err("Already exists a server with the same name in backend.\n".into());
        }
        let edit = ServerEdit {
            added: Some(added),
            ..ServerEdit::default()
        };
        let servers = edits.0.entry(backend.to_string()).or_default();
        servers.insert(name.to_string(), edit);
        Ok(())
    });
    answer(edited.map(|()| {
        log::warn!("admin: server {target} added at {address}, in maintenance");
        "New server registered.\n".to_string()
    }))
}

/// `del server <backend>/<server>`: only a server in maintenance with nothing in flight.
pub(super) fn delete(live: &Live, target: &str) -> String {
    answer(
        live.edit_servers(|edits, upstreams| {
            let (upstream, index) = find(live, upstreams, target)?;
            let server = &upstream.servers[index];
            if server.admin() != AdminState::Maint {
                return Err("Only servers in maintenance mode can be deleted.\n".into());
            }
            if server.in_flight() > 0 {
                return Err(
                    "Server still has connections attached to it, cannot remove it.\n".into(),
                );
            }
            let servers = edits.0.entry(upstream.name.clone()).or_default();
            let name = &server.config.name;
            match servers.get_mut(name) {
                Some(edit) if edit.added.is_some() => {
                    servers.remove(name);
                }
                Some(edit) => edit.deleted = true,
                None => {
                    let deleted = ServerEdit {
                        deleted: true,
                        ..ServerEdit::default()
                    };
                    servers.insert(name.clone(), deleted);
                }
            }
            Ok(())
        })
        .map(|()| {
            log::warn!("admin: server {target} deleted");
            "Server deleted.\n".to_string()
        }),
    )
}

/// `set server <backend>/<server> addr <ip> [port <port>]`.
pub(super) fn set_addr(live: &Live, target: &str, args: &[&str]) -> String {
    let (ip, port) = match args {
        [ip] => (*ip, None),
        [ip, "port", port] => (*ip, Some(*port)),
        [ip, "port"] => (*ip, Some("")),
        _ => return "set server <b>/<s> addr requires an address and optionally a port.\n".into(),
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return format!("Invalid addr '{ip}' {BY}\n");
    };
    let port = match port.map(|p| p.parse::<u16>()) {
        None => None,
        Some(Ok(p)) if p > 0 => Some(p),
        Some(_) => {
            let text = args.get(2).copied().unwrap_or_default();
            return format!("problem converting port '{text}' to an int {BY}\n");
        }
    };
    let mut message = String::new();
    let edited = live.edit_servers(|edits, upstreams| {
        let (upstream, index) = find(live, upstreams, target)?;
        let server = &upstream.servers[index];
        let old = server.config.address;
        let new = SocketAddr::new(ip, port.unwrap_or(old.port()));
        message = if old.ip() == ip {
            "no need to change the addr".to_string()
        } else {
            format!("IP changed from '{}' to '{ip}'", old.ip())
        };
        if port.is_some() {
            if old.port() == new.port() {
                message.push_str(", no need to change the port");
            } else {
                message.push_str(&format!(
                    ", port changed from '{}' to '{}'",
                    old.port(),
                    new.port()
                ));
            }
        }
        let servers = edits.0.entry(upstream.name.clone()).or_default();
        let edit = servers.entry(server.config.name.clone()).or_default();
        match &mut edit.added {
            Some(added) => added.address = new,
            None => {
                let configured = edit.moved.map_or(old, |(from, _)| from);
                edit.moved = (configured != new).then_some((configured, new));
            }
        }
        Ok(())
    });
    answer(edited.map(|()| {
        log::warn!("admin: server {target}: {message}");
        format!("{message} {BY}\n")
    }))
}

/// `set maxconn server <backend>/<server> <n>` (0: no limit).
pub(super) fn set_maxconn(live: &Live, target: &str, value: Option<&str>) -> String {
    if let Err(e) = split(target) {
        return e;
    }
    let Some(value) = value else {
        return "Require <maxconn>.\n".into();
    };
    let limit = match value.parse::<usize>() {
        Ok(n) if n <= MAX_CONNECTIONS => n,
        Ok(_) => return format!("maxconn must be between 0 and {MAX_CONNECTIONS}.\n"),
        Err(_) => return "maxconn string empty or preceded by garbage\n".into(),
    };
    let edited = live.edit_servers(|edits, upstreams| {
        let (upstream, index) = find(live, upstreams, target)?;
        let name = &upstream.servers[index].config.name;
        let servers = edits.0.entry(upstream.name.clone()).or_default();
        servers.entry(name.clone()).or_default().max_connections = Some(limit);
        Ok(())
    });
    answer(edited.map(|()| {
        log::warn!("admin: server {target}: maxconn {limit}");
        String::new()
    }))
}

#[cfg(test)]
#[path = "servers_tests.rs"]
mod tests;
