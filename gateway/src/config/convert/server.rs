//! The process-wide sections: `server:`, `timeouts:`, `limits:`, `access_log:`, `admin:`.

use super::values::{duration_or, resolve, within};
use crate::config::defaults::bounds;
use crate::config::file;
use crate::config::model::*;
use crate::config::problem::Problems;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

pub(super) fn server(problems: &mut Problems, s: &file::ServerSection) -> ServerSettings {
    let default = ServerSettings::default();
    let settings = ServerSettings {
        threads: within(
            problems,
            "server.threads",
            s.threads,
            default.threads,
            bounds::THREADS,
        ),
        pid_file: s.pid_file.clone().unwrap_or(default.pid_file),
        upgrade_sock: s.upgrade_sock.clone().unwrap_or(default.upgrade_sock),
        grace_period: duration_or(
            problems,
            "server.grace_period",
            &s.grace_period,
            default.grace_period,
        ),
        graceful_shutdown_timeout: duration_or(
            problems,
            "server.graceful_shutdown_timeout",
            &s.graceful_shutdown_timeout,
            default.graceful_shutdown_timeout,
        ),
        max_connections: within(
            problems,
            "server.max_connections",
            s.max_connections,
            default.max_connections,
            bounds::MAX_CONNECTIONS,
        ),
        error_log: s.error_log.clone(),
        user: s.user.clone(),
        group: s.group.clone(),
        upstream_keepalive_pool_size: within(
            problems,
            "server.upstream_keepalive_pool_size",
            s.upstream_keepalive_pool_size,
            default.upstream_keepalive_pool_size,
            bounds::UPSTREAM_KEEPALIVE_POOL_SIZE,
        ),
        state_file: s
            .state_file
            .as_deref()
            .map(PathBuf::from)
            .unwrap_or(default.state_file),
    };
    unix_socket_path(
        problems,
        "server.upgrade_sock",
        Path::new(&settings.upgrade_sock),
    );
    if let Some(error_log) = &settings.error_log {
        if crate::regular_file::exists_but_not_regular(Path::new(error_log)) {
            problems.push(
                "server.error_log",
                format!("{error_log} is not a regular file"),
            );
        }
    }
    if settings.state_file.is_dir() {
        problems.push(
            "server.state_file",
            format!("{} is a directory", settings.state_file.display()),
        );
    }
    settings
}

pub(super) fn timeouts(problems: &mut Problems, t: &file::TimeoutsSection) -> Timeouts {
    let default = Timeouts::default();
    let client = duration_or(problems, "timeouts.client", &t.client, default.client);
    let connect = duration_or(problems, "timeouts.connect", &t.connect, default.connect);
    Timeouts {
        connect,
        queue: duration_or(problems, "timeouts.queue", &t.queue, connect),
        client,
        server: duration_or(problems, "timeouts.server", &t.server, default.server),
        keep_alive: duration_or(problems, "timeouts.keep_alive", &t.keep_alive, client),
        drain: duration_or(problems, "timeouts.drain", &t.drain, default.drain),
    }
}

pub(super) fn limits(problems: &mut Problems, l: &file::LimitsSection) -> Limits {
    let default = Limits::default();
    let header_bytes = within(
        problems,
        "limits.header_bytes",
        l.header_bytes,
        default.header_bytes,
        bounds::HEADER_BYTES,
    );
    let headers = within(
        problems,
        "limits.headers",
        l.headers,
        default.headers,
        bounds::HEADERS,
    );
    let uri_bytes = within(
        problems,
        "limits.uri_bytes",
        l.uri_bytes,
        default.uri_bytes,
        bounds::URI_BYTES_MIN..=header_bytes,
    );
    let h2_streams = within(
        problems,
        "limits.h2_streams",
        l.h2_streams.map(|n| n as usize),
        default.h2_streams as usize,
        bounds::H2_STREAMS,
    );
    Limits {
        header_bytes,
        headers,
        uri_bytes,
        body_bytes: match l.body_bytes {
            None => default.body_bytes,
            Some(0) => u64::MAX,
            Some(n) => n,
        },
        // Within H2_STREAMS, which fits.
        h2_streams: u32::try_from(h2_streams).unwrap_or(u32::MAX),
        response_header_bytes: within(
            problems,
            "limits.response_header_bytes",
            l.response_header_bytes,
            default.response_header_bytes,
            bounds::HEADER_BYTES,
        ),
        drain_bytes: within(
            problems,
            "limits.drain_bytes",
            l.drain_bytes,
            default.drain_bytes,
            bounds::DRAIN_BYTES,
        ),
    }
}

pub(super) fn access_log(
    problems: &mut Problems,
    base: &Path,
    log: &file::AccessLogSection,
) -> Option<AccessLog> {
    let format = match log.format.as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("haproxy") => LogFormat::Haproxy,
        Some(other) => {
            problems.push(
                "access_log.format",
                format!("unknown format {other:?} (json or haproxy)"),
            );
            return None;
        }
    };
    let target = match (log.path.as_deref(), &log.syslog) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push("access_log", "set either path or syslog".to_string());
            return None;
        }
        (None, Some(address)) => LogTarget::Syslog(super::syslog::syslog(problems, address, log)?),
        (Some("stderr"), None) => LogTarget::Stderr,
        (Some(path), None) => {
            let path = resolve(base, path);
            if crate::regular_file::exists_but_not_regular(&path) {
                problems.push(
                    "access_log.path",
                    format!(
                        "{} is not a regular file (a file path, or stderr)",
                        path.display()
                    ),
                );
                return None;
            }
            LogTarget::File(path)
        }
    };
    if log.syslog.is_none() {
        for (key, set) in [
            ("facility", log.facility.is_some()),
            ("tag", log.tag.is_some()),
            ("framing", log.framing.is_some()),
        ] {
            if set {
                problems.push(format!("access_log.{key}"), "only with syslog".to_string());
            }
        }
    }
    Some(AccessLog { target, format })
}

pub(super) fn admin(problems: &mut Problems, base: &Path, admin: &file::AdminSection) -> PathBuf {
    let path = resolve(base, &admin.socket);
    unix_socket_path(problems, "admin.socket", &path);
    path
}

/// A path the gateway binds a Unix socket on: short enough, in an existing directory, and
/// not an existing file of another kind (which binding would fail on, or remove).
fn unix_socket_path(problems: &mut Problems, key: &str, path: &Path) {
    let length = path.as_os_str().len();
    if length > bounds::UNIX_SOCKET_PATH_MAX {
        problems.push(
            key,
            format!(
                "{length} bytes, longer than a Unix socket path allows ({})",
                bounds::UNIX_SOCKET_PATH_MAX
            ),
        );
        return;
    }
    let directory = match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
        Some(dir) => dir,
        None => {
            problems.push(key, format!("{} is not a file path", path.display()));
            return;
        }
    };
    if !directory.is_dir() {
        problems.push(
            key,
            format!("directory {} does not exist", directory.display()),
        );
        return;
    }
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            problems.push(
                key,
                format!("{} exists and is not a socket", path.display()),
            );
        }
    }
}
