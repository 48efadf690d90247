//! TLS termination: loading certificates, building the OpenSSL acceptor, choosing a
//! certificate by SNI. The handshake itself runs in [`crate::listener`].
//!
//! Every certificate gets its own `SslContext` configured identically (protocol floor,
//! ciphers, ALPN, session id context); the servername callback switches the handshake to the
//! context whose names match, and the first certificate answers everything else.

pub mod inventory;
pub mod ticket_keys;

use crate::config::model::{TlsSettings, TlsVersion};
use crate::regular_file;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::ocsp::OcspResponse;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    select_next_proto, AlpnError, NameType, SniError, SslAcceptor, SslContext, SslContextBuilder,
    SslMethod, SslMode, SslOptions, SslVersion,
};
use openssl::x509::X509;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// ALPN protocols offered, in preference order (wire format).
const ALPN_H2_H1: &[u8] = b"\x02h2\x08http/1.1";

/// A certificate chain with its private key and the names it covers.
#[derive(Clone)]
pub struct CertifiedKey {
    /// Leaf first, then intermediates.
    pub chain: Vec<X509>,
    /// The leaf's private key.
    pub key: PKey<Private>,
    /// DNS names (SAN, or CN when there is no SAN), lower case; may start with `*.`.
    pub names: Vec<String>,
    /// The file it was read from, for messages.
    pub path: PathBuf,
    /// A DER OCSP response to staple (HAProxy's `<certificate>.ocsp` file), if there is one.
    pub ocsp: Option<Vec<u8>>,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("names", &self.names)
            .field("path", &self.path)
            .finish()
    }
}

/// Read a certificate chain and its private key. With `key == None`, `cert` is a combined PEM
/// holding both (certbot's `fullchain.pem` followed by `privkey.pem`).
pub fn load_certified_key(cert: &Path, key: Option<&Path>) -> Result<CertifiedKey, String> {
    let read = |p: &Path| regular_file::read(p, regular_file::PEM_CAP);
    let cert_pem = read(cert)?;
    let chain = X509::stack_from_pem(&cert_pem)
        .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.display()))?;
    let Some(leaf) = chain.first() else {
        return Err(format!("{}: no certificate found", cert.display()));
    };
    let key_pem = match key {
        Some(path) => read(path)?,
        None => cert_pem.clone(),
    };
    let key_file = key.unwrap_or(cert);
    let key = PKey::private_key_from_pem(&key_pem)
        .map_err(|_| format!("{}: no private key found", key_file.display()))?;
    let leaf_key = leaf
        .public_key()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if !leaf_key.public_eq(&key) {
        return Err(format!(
            "{}: the private key does not match the certificate",
            key_file.display()
        ));
    }
    Ok(CertifiedKey {
        names: certificate_names(leaf),
        chain,
        key,
        ocsp: load_ocsp(cert)?,
        path: cert.to_path_buf(),
    })
}

/// HAProxy's convention: `site.pem.ocsp` next to `site.pem` holds the DER OCSP response to
/// staple (refreshed by the operator's cron job, picked up by a reload).
fn load_ocsp(cert: &Path) -> Result<Option<Vec<u8>>, String> {
    let mut path = cert.as_os_str().to_owned();
    path.push(".ocsp");
    let path = Path::new(&path);
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let der = regular_file::read(path, regular_file::OCSP_CAP)?;
    OcspResponse::from_der(&der)
        .map_err(|e| format!("{}: not a DER OCSP response: {e}", path.display()))?;
    Ok(Some(der))
}

/// Staple the OCSP response of the certificate the handshake presents, when the client asks.
fn install_ocsp_stapling(
    builder: &mut SslContextBuilder,
    certs: &[CertifiedKey],
) -> Result<(), String> {
    if certs.iter().all(|c| c.ocsp.is_none()) {
        return Ok(());
    }
    let stapled: Vec<(Vec<u8>, Vec<u8>)> = certs
        .iter()
        .filter_map(|c| Some((c.chain[0].to_der().ok()?, c.ocsp.clone()?)))
        .collect();
    builder
        .set_status_callback(move |ssl| {
            let presented = ssl.certificate().and_then(|c| c.to_der().ok());
            let response = stapled
                .iter()
                .find(|(cert, _)| Some(cert) == presented.as_ref())
                .map(|(_, ocsp)| ocsp);
            match response {
                Some(der) => ssl.set_ocsp_status(der).map(|()| true),
                None => Ok(false),
            }
        })
        .map_err(|e| format!("OCSP stapling: {e}"))
}

/// DNS names of a certificate: its SAN entries, or its CN when it has none; lower case.
fn certificate_names(cert: &X509) -> Vec<String> {
    let sans: Vec<String> = cert
        .subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if !sans.is_empty() {
        return sans;
    }
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok().map(|s| s.to_ascii_lowercase()))
        .collect()
}

/// Whether a certificate name (possibly `*.example.com`) covers `host`.
fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn prefer_h2(alpn_in: &[u8]) -> Result<&[u8], AlpnError> {
    select_next_proto(ALPN_H2_H1, alpn_in).ok_or(AlpnError::NOACK)
}

/// Apply the listener's protocol settings (identical for every certificate's context).
fn configure(
    builder: &mut SslContextBuilder,
    config: &TlsSettings,
    certificates: &[CertifiedKey],
) -> Result<(), String> {
    let floor = match config.min_version {
        TlsVersion::Tls12 => SslVersion::TLS1_2,
        TlsVersion::Tls13 => SslVersion::TLS1_3,
    };
    builder
        .set_min_proto_version(Some(floor))
        .map_err(|e| format!("min_version: {e}"))?;
    if let Some(ciphers) = &config.ciphers {
        builder
            .set_cipher_list(ciphers)
            .map_err(|_| format!("ciphers: no usable cipher in {ciphers:?}"))?;
    }
    if let Some(suites) = &config.ciphersuites {
        builder
            .set_ciphersuites(suites)
            .map_err(|_| format!("ciphersuites: no usable suite in {suites:?}"))?;
    }
    builder
        .set_session_id_context(b"gateway")
        .map_err(|e| e.to_string())?;
    builder.set_alpn_select_callback(|_, alpn_in| prefer_h2(alpn_in));
    // No TLS compression (CRIME), no client-initiated renegotiation (a CPU-exhaustion lever),
    // and our cipher order (every suite is a forward-secret AEAD; testssl.sh grades a missing
    // server order HIGH, where Mozilla's profile leaves the choice to the client).
    builder.set_options(
        SslOptions::NO_COMPRESSION
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::CIPHER_SERVER_PREFERENCE,
    );
    install_ocsp_stapling(builder, certificates)?;
    // Read as much as the socket holds in one call (the socket has no read buffer of its own),
    // and free the 2 x 16 KiB record buffers of idle connections, as nginx and HAProxy do.
    builder.set_read_ahead(true);
    builder.set_mode(SslMode::RELEASE_BUFFERS);
    Ok(())
}

fn install_certificate(builder: &mut SslContextBuilder, cert: &CertifiedKey) -> Result<(), String> {
    let err = |e: openssl::error::ErrorStack| format!("{}: {e}", cert.path.display());
    builder.set_certificate(&cert.chain[0]).map_err(err)?;
    for intermediate in &cert.chain[1..] {
        builder
            .add_extra_chain_cert(intermediate.clone())
            .map_err(err)?;
    }
    builder.set_private_key(&cert.key).map_err(err)?;
    builder.check_private_key().map_err(err)
}

fn new_builder() -> Result<openssl::ssl::SslAcceptorBuilder, String> {
    SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(|e| e.to_string())
}

/// Check `ciphers`, `ciphersuites` and `min_version` are accepted by OpenSSL.
pub fn check_cipher_settings(config: &TlsSettings) -> Result<(), String> {
    let mut builder = new_builder()?;
    configure(&mut builder, config, &[])
}

/// A certificate replaced while the listener runs (ACME): new handshakes read the current one.
pub type Swappable = Arc<arc_swap::ArcSwap<CertifiedKey>>;

/// How one set of names is served.
enum Served {
    /// One certificate, in a context of its own.
    Context(SslContext),
    /// Several certificates for the same names (RSA and ECDSA; OpenSSL presents the one the
    /// client's signature algorithms allow), or live ones: set on each handshake.
    PerHandshake(Vec<inventory::Source>),
}

/// Certificates with the same names, together (an RSA and an ECDSA one), in first-seen order.
fn group_by_names(sources: Vec<inventory::Source>) -> Vec<(Vec<String>, Vec<inventory::Source>)> {
    let mut groups: Vec<(Vec<String>, Vec<inventory::Source>)> = Vec::new();
    for source in sources {
        let mut names = source.current().names.clone();
        names.sort();
        match groups.iter_mut().find(|(n, _)| *n == names) {
            Some((_, group)) => group.push(source),
            None => groups.push((names, vec![source])),
        }
    }
    groups
}

/// Set `cert` (leaf, key, its own chain) on one handshake.
fn install_on(ssl: &mut openssl::ssl::SslRef, cert: &CertifiedKey) -> Result<(), ErrorStack> {
    ssl.set_certificate(&cert.chain[0])?;
    ssl.set_private_key(&cert.key)?;
    for intermediate in &cert.chain[1..] {
        ssl.add_chain_cert(intermediate.clone())?;
    }
    Ok(())
}

/// Build the acceptor of a listener: ALPN h2 + http/1.1, SNI certificate choice, session
/// resumption (server-side cache and tickets, with `ticket_keys` when shared, else keys of the
/// process's own). `certificates` are loaded from `config.certificates`, `live` are ACME
/// certificates; the first is the default.
pub fn build_acceptor(
    config: &TlsSettings,
    certificates: Vec<CertifiedKey>,
    live: Vec<Swappable>,
    ticket_keys: Option<&ticket_keys::TicketKeys>,
) -> Result<SslAcceptor, String> {
    let context = |certs: &[&CertifiedKey], with: &[CertifiedKey]| {
        let mut ctx = new_builder()?;
        configure(&mut ctx, config, with)?;
        if let Some(keys) = ticket_keys {
            ticket_keys::install(&mut ctx, keys)?;
        }
        match certs {
            [one] => install_certificate(&mut ctx, one)?,
            // Several: leaves and keys only (the handshake sets each one's chain).
            many => {
                for cert in many {
                    let err = |e: ErrorStack| format!("{}: {e}", cert.path.display());
                    ctx.set_certificate(&cert.chain[0]).map_err(err)?;
                    ctx.set_private_key(&cert.key).map_err(err)?;
                }
            }
        }
        Ok::<_, String>(ctx)
    };
    // Files first: for the same names, a file is chosen before an ACME certificate.
    let statics = (certificates.iter().cloned())
        .map(|c| inventory::Source::Static(Arc::new(c)))
        .collect();
    let mut groups = group_by_names(statics);
    groups.extend(group_by_names(
        live.into_iter().map(inventory::Source::Live).collect(),
    ));
    let Some((_, default)) = groups.first() else {
        return Err("no certificate".into());
    };
    let defaults: Vec<Arc<CertifiedKey>> = default.iter().map(|s| s.current()).collect();
    let builder = context(
        &defaults.iter().map(|c| &**c).collect::<Vec<_>>(),
        &certificates,
    )?;
    let single = |group: &[inventory::Source]| matches!(group, [inventory::Source::Static(_)]);
    if groups.len() == 1 && single(&groups[0].1) {
        return Ok(builder.build());
    }
    let mut entries: Vec<(Vec<String>, Served)> = Vec::with_capacity(groups.len());
    for (names, group) in groups {
        let served = if single(&group) {
            let cert = group[0].current();
            Served::Context(context(&[&*cert], &certificates)?.build().into_context())
        } else {
            Served::PerHandshake(group)
        };
        entries.push((names, served));
    }
    let bare = context(&[], &certificates)?.build().into_context();
    let mut builder = builder;
    let by_name = Arc::new(entries);
    builder.set_servername_callback(move |ssl, _alert| {
        let host = ssl.servername(NameType::HOST_NAME).map(str::to_string);
        let chosen = host.and_then(|host| {
            let names: Vec<&[String]> = by_name.iter().map(|(n, _)| n.as_slice()).collect();
            select_by_names(&names, &host)
        });
        let served = match chosen {
            Some(i) => &by_name[i].1,
            None => match &by_name[0].1 {
                Served::Context(_) => return Ok(()),
                per_handshake => per_handshake,
            },
        };
        let fail = |_| SniError::ALERT_FATAL;
        match served {
            Served::Context(ctx) => ssl.set_ssl_context(ctx).map_err(fail)?,
            Served::PerHandshake(sources) => {
                ssl.set_ssl_context(&bare).map_err(fail)?;
                for source in sources {
                    install_on(ssl, &source.current()).map_err(fail)?;
                }
            }
        }
        Ok(())
    });
    Ok(builder.build())
}

/// Index of the name list that covers `host`: an exact name first, then a wildcard.
fn select_by_names(names: &[&[String]], host: &str) -> Option<usize> {
    let exact = names
        .iter()
        .position(|n| n.iter().any(|n| n.eq_ignore_ascii_case(host)));
    exact.or_else(|| {
        names
            .iter()
            .position(|n| n.iter().any(|n| name_matches(n, host)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_one_label_only() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(name_matches("*.example.com", "A.Example.COM"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("example.com", "EXAMPLE.com"));
    }
}
