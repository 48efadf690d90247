//! How the gateway talks to a backend's servers: `tls` (backend, per server), `protocol`,
//! server addresses written as names, and the health check's `kind` and `expect`.

use super::values;
use crate::config::defaults;
use crate::config::file;
use crate::config::model::*;
use crate::config::problem::Problems;
use crate::regular_file;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

/// The keys of one `tls:` section, each read and checked; merged per server by [`merged`].
#[derive(Default)]
pub(super) struct TlsKeys {
    verify: Option<bool>,
    ca: Option<PemFile>,
    sni: Option<String>,
    client_certificate: Option<PemFile>,
}

/// Read the keys of the `tls:` section at `path`.
pub(super) fn tls_keys(
    problems: &mut Problems,
    path: &str,
    base: &Path,
    section: &file::OriginTlsSection,
) -> TlsKeys {
    if let Some(sni) = &section.sni {
        values::host(problems, format!("{path}.sni"), sni);
    }
    let ca = section.ca.as_ref().and_then(|ca| {
        let key = format!("{path}.ca");
        let file = pem_file(problems, &key, base, ca)?;
        match openssl::x509::X509::stack_from_pem(&file.pem) {
            Ok(certs) if !certs.is_empty() => Some(file),
            _ => {
                problems.push(key, format!("{}: not a PEM certificate file", ca));
                None
            }
        }
    });
    let client_certificate = section.client_certificate.as_ref().and_then(|cc| {
        let key = format!("{path}.client_certificate");
        let file = pem_file(problems, &key, base, cc)?;
        let certs = openssl::x509::X509::stack_from_pem(&file.pem).unwrap_or_default();
        let pkey = openssl::pkey::PKey::private_key_from_pem(&file.pem);
        if certs.is_empty() || pkey.is_err() {
            problems.push(
                key,
                format!("{cc}: not a combined PEM (certificate chain, then its private key)"),
            );
            return None;
        }
        Some(file)
    });
    TlsKeys {
        verify: section.verify,
        ca,
        sni: section.sni.clone(),
        client_certificate,
    }
}

fn pem_file(problems: &mut Problems, key: &str, base: &Path, name: &str) -> Option<PemFile> {
    let path = values::resolve(base, name);
    match regular_file::read(&path, regular_file::PEM_CAP) {
        Ok(pem) => Some(PemFile { path, pem }),
        Err(e) => {
            problems.push(key, e);
            None
        }
    }
}

/// A server's TLS: its own keys over the backend's; the SNI defaults to `host` (the name the
/// address was written with). `None` when neither has `tls`.
pub(super) fn merged(
    server: Option<&TlsKeys>,
    backend: Option<&TlsKeys>,
    host: Option<&str>,
) -> Option<OriginTls> {
    if server.is_none() && backend.is_none() {
        return None;
    }
    let pick = |f: &dyn Fn(&TlsKeys) -> bool| server.filter(|s| f(s)).or(backend);
    Some(OriginTls {
        verify: pick(&|k| k.verify.is_some())
            .and_then(|k| k.verify)
            .unwrap_or(true),
        ca: pick(&|k| k.ca.is_some()).and_then(|k| k.ca.clone()),
        sni: pick(&|k| k.sni.is_some())
            .and_then(|k| k.sni.clone())
            .or(host.map(str::to_string)),
        client_certificate: pick(&|k| k.client_certificate.is_some())
            .and_then(|k| k.client_certificate.clone()),
    })
}

/// `protocol`: `h1` (the default) or `h2`.
pub(super) fn protocol(problems: &mut Problems, path: &str, text: Option<&str>) -> OriginProtocol {
    match text {
        None | Some("h1") => OriginProtocol::H1,
        Some("h2") => OriginProtocol::H2,
        Some(other) => {
            problems.push(
                format!("{path}.protocol"),
                format!("unsupported protocol {other:?} (h1, h2)"),
            );
            OriginProtocol::H1
        }
    }
}

/// A server address: `ip:port`, or `name:port` resolved now (IPv4 preferred); the name is
/// returned with it (the default SNI).
pub(super) fn address(
    problems: &mut Problems,
    path: &str,
    text: &str,
) -> Option<(SocketAddr, Option<String>)> {
    if let Ok(addr) = text.parse() {
        return Some((addr, None));
    }
    let named = text.rsplit_once(':').filter(|(host, port)| {
        !host.is_empty()
            && port.parse::<u16>().is_ok()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    });
    let Some((host, port)) = named else {
        problems.push(path, format!("invalid socket address {text:?}"));
        return None;
    };
    let port: u16 = port.parse().ok()?;
    match (host, port).to_socket_addrs() {
        Ok(found) => {
            let found: Vec<SocketAddr> = found.collect();
            let addr = found.iter().find(|a| a.is_ipv4()).or(found.first());
            match addr {
                Some(addr) => Some((*addr, Some(host.to_ascii_lowercase()))),
                None => {
                    problems.push(path, format!("{host} has no address"));
                    None
                }
            }
        }
        Err(e) => {
            problems.push(path, format!("cannot resolve {host}: {e}"));
            None
        }
    }
}

/// `kind` and `expect` of a health check.
pub(super) fn check_kind(
    problems: &mut Problems,
    path: &str,
    hc: &file::HealthCheckSection,
) -> (CheckKind, Vec<(u16, u16)>, Option<String>) {
    let kind = match hc.kind.as_deref() {
        None | Some("http") => CheckKind::Http,
        Some("tcp") => CheckKind::Tcp,
        Some(other) => {
            problems.push(
                format!("{path}.kind"),
                format!("unsupported kind {other:?} (http, tcp)"),
            );
            CheckKind::Http
        }
    };
    let default = crate::config::model::HealthCheck::default();
    let Some(expect) = &hc.expect else {
        return (kind, default.expect_status, None);
    };
    if kind == CheckKind::Tcp {
        problems.push(
            format!("{path}.expect"),
            "a tcp check only connects: expect needs kind: http",
        );
    }
    let status = match &expect.status {
        Some(text) => status_ranges(text).unwrap_or_else(|| {
            problems.push(
                format!("{path}.expect.status"),
                format!("invalid status list {text:?} (e.g. \"200-299,302\")"),
            );
            default.expect_status
        }),
        None => default.expect_status,
    };
    if let Some(body) = &expect.body {
        if body.is_empty() || body.len() > defaults::CHECK_BODY_BYTES {
            problems.push(
                format!("{path}.expect.body"),
                format!("must be 1 to {} bytes", defaults::CHECK_BODY_BYTES),
            );
        }
    }
    (kind, status, expect.body.clone())
}

/// `"200-299,302"` as inclusive ranges of statuses 100..=599.
fn status_ranges(text: &str) -> Option<Vec<(u16, u16)>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            ((100..=599).contains(&lo) && (lo..=599).contains(&hi)).then_some((lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_are_ranges() {
        assert_eq!(
            status_ranges("200-299, 302"),
            Some(vec![(200, 299), (302, 302)])
        );
        assert_eq!(status_ranges("299-200"), None);
        assert_eq!(status_ranges("200-"), None);
        assert_eq!(status_ranges("600"), None);
        assert_eq!(status_ranges(""), None);
    }

    #[test]
    fn a_server_key_replaces_the_backends() {
        let backend = TlsKeys {
            verify: Some(false),
            sni: Some("b.example".into()),
            ..TlsKeys::default()
        };
        let server = TlsKeys {
            sni: Some("s.example".into()),
            ..TlsKeys::default()
        };
        let tls = merged(Some(&server), Some(&backend), Some("host")).unwrap();
        assert!(!tls.verify, "verify comes from the backend");
        assert_eq!(tls.sni.as_deref(), Some("s.example"));
        let tls = merged(None, Some(&TlsKeys::default()), Some("host")).unwrap();
        assert!(tls.verify, "verification is on by default");
        assert_eq!(tls.sni.as_deref(), Some("host"), "the address's name");
        assert_eq!(merged(None, None, Some("host")), None);
    }
}
