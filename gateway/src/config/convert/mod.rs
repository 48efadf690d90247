//! `file::ConfigFile -> model::Config`: parse every value and check every cross-reference,
//! collecting all problems (each with its key path) rather than stopping at the first. One
//! file per section; the checks of single values are in [`values`].

mod acme;
mod backends;
mod discovery;
mod listeners;
mod origin;
mod server;
mod syslog;
pub mod values;

use super::file;
use super::model::*;
use super::problem::{Problem, Problems};
use std::collections::BTreeMap;
use std::path::Path;

pub use values::parse_duration;

/// Convert a parsed file into the model; `source` is the file's path, whose directory
/// relative file paths are resolved against.
pub fn convert(source: &Path, file: file::ConfigFile) -> Result<Config, Vec<Problem>> {
    let (config, problems) = convert_all(source, file);
    problems.into_result(config)
}

/// Convert a parsed file, and every problem found. With problems, the model is a best effort
/// (a backend with a problem is left out; every listener is kept, with what could be read, so
/// key paths such as `listeners[2]` stay right) that the checks building on the model still
/// run on, reporting their problems at the same time. It must never be run.
pub fn convert_all(source: &Path, file: file::ConfigFile) -> (Config, Problems) {
    let mut problems = Problems::default();
    let base = source.parent().unwrap_or(Path::new("."));

    let server = server::server(&mut problems, &file.server);
    let timeouts = server::timeouts(&mut problems, &file.timeouts);
    let trusted_proxies = file
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, text)| values::cidr(&mut problems, &format!("trusted_proxies[{i}]"), text))
        .collect();

    let mut backends = BTreeMap::new();
    for (name, section) in &file.backends {
        if let Some(backend) = backends::backend(&mut problems, name, section, base) {
            backends.insert(name.clone(), backend);
        }
    }
    let listeners = listeners::listeners(&mut problems, base, &file.listeners, &file.backends);
    let stats = file
        .stats
        .as_ref()
        .and_then(|s| listeners::stats(&mut problems, s, &listeners));
    let access_log = file
        .access_log
        .as_ref()
        .and_then(|log| server::access_log(&mut problems, base, log));
    let mut error_pages = BTreeMap::new();
    for (status, path) in &file.error_pages {
        if !(400..600).contains(status) {
            problems.push(
                format!("error_pages.{status}"),
                "not an error status (400-599)",
            );
            continue;
        }
        error_pages.insert(*status, values::resolve(base, path));
    }
    let admin_socket = file
        .admin
        .as_ref()
        .map(|a| server::admin(&mut problems, base, a));
    let admin_timeout = values::duration_or(
        &mut problems,
        "admin.timeout",
        &file.admin.as_ref().and_then(|a| a.timeout.clone()),
        super::defaults::ADMIN_TIMEOUT,
    );
    let limits = server::limits(&mut problems, &file.limits);
    let acme = acme::settings(&mut problems, base, file.acme.as_ref(), &listeners);

    let config = Config {
        source: source.to_path_buf(),
        server,
        listeners,
        stats,
        backends,
        timeouts,
        trusted_proxies,
        access_log,
        log_null_connections: file.log_null_connections,
        error_pages,
        admin_socket,
        admin_timeout,
        limits,
        acme,
    };
    (config, problems)
}
