//! `backends:`: servers (names, addresses, weights) and health checks.

use super::values::{self, duration_or, socket_address, within};
use crate::config::defaults::{self, bounds};
use crate::config::file;
use crate::config::model::*;
use crate::config::problem::Problems;
use std::collections::HashSet;

pub(super) fn backend(
    problems: &mut Problems,
    name: &str,
    section: &file::BackendSection,
) -> Option<Backend> {
    let path = format!("backends.{name}");
    let before = problems.count();
    values::name(problems, &path, name);
    match section.balance.as_deref() {
        None | Some("round_robin") | Some("roundrobin") => {}
        Some(other) => problems.push(
            format!("{path}.balance"),
            format!("unsupported balance {other:?} (round_robin)"),
        ),
    }
    if section.servers.is_empty() {
        problems.push(format!("{path}.servers"), "at least one server is required");
    }
    let mut names = HashSet::new();
    let mut servers = Vec::new();
    for (i, entry) in section.servers.iter().enumerate() {
        let spath = format!("{path}.servers[{i}]");
        values::name(problems, format!("{spath}.name"), &entry.name);
        if !names.insert(entry.name.as_str()) {
            problems.push(
                format!("{spath}.name"),
                format!("duplicate server name {:?}", entry.name),
            );
        }
        let weight = within(
            problems,
            format!("{spath}.weight"),
            entry.weight,
            defaults::WEIGHT,
            bounds::WEIGHT,
        );
        if let Some(address) = socket_address(problems, &format!("{spath}.address"), &entry.address)
        {
            servers.push(Server {
                name: entry.name.clone(),
                address,
                weight,
            });
        }
    }
    let health_check = section
        .health_check
        .as_ref()
        .map(|hc| health_check(problems, &format!("{path}.health_check"), hc));
    (problems.count() == before).then(|| Backend {
        name: name.to_string(),
        servers,
        health_check,
    })
}

fn health_check(problems: &mut Problems, path: &str, hc: &file::HealthCheckSection) -> HealthCheck {
    let default = HealthCheck::default();
    let check_path = hc.path.clone().unwrap_or(default.path);
    if !check_path.starts_with('/') || check_path.parse::<http::Uri>().is_err() {
        problems.push(
            format!("{path}.path"),
            format!("invalid path {check_path:?} (must start with /)"),
        );
    }
    if let Some(host) = &hc.host {
        values::host(problems, format!("{path}.host"), host);
    }
    let mut count = |key: &str, value: Option<usize>, default: usize| {
        if value == Some(0) {
            problems.push(format!("{path}.{key}"), "must be at least 1");
            return default;
        }
        within(
            problems,
            format!("{path}.{key}"),
            value,
            default,
            bounds::RISE_FALL,
        )
    };
    let rise = count("rise", hc.rise, default.rise);
    let fall = count("fall", hc.fall, default.fall);
    HealthCheck {
        path: check_path,
        host: hc.host.clone(),
        interval: duration_or(
            problems,
            &format!("{path}.interval"),
            &hc.interval,
            default.interval,
        ),
        timeout: duration_or(
            problems,
            &format!("{path}.timeout"),
            &hc.timeout,
            default.timeout,
        ),
        rise,
        fall,
    }
}
