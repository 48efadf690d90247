//! A listener's TLS acceptor, built from its `tls:` settings: certificate files (checked for
//! expiry: refused when expired, a warning within [`EXPIRY_WARNING`]) and ACME certificates.

use crate::config::model::{Acme, CertificateFiles, TlsSettings};
use crate::config::problem::Problems;
use crate::config::Problem;
use crate::tls::{self, inventory, CertifiedKey};
use openssl::ssl::SslAcceptor;
use std::path::Path;
use std::sync::Arc;

/// A static certificate expiring sooner than this is a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// What building one listener's acceptor needs and reports.
pub struct TlsBuild<'a> {
    /// Problems found.
    pub problems: &'a mut Problems,
    /// Warnings found.
    pub warnings: &'a mut Vec<Problem>,
    /// The key path of the listener's `tls`.
    pub path: &'a str,
    /// The `acme:` settings.
    pub acme: Option<&'a Acme>,
    /// The certificates served, by name.
    pub certificates: Vec<(String, inventory::Source)>,
}

impl TlsBuild<'_> {
    /// Load the certificates of `tls` and build the listener's acceptor.
    pub fn acceptor(&mut self, tls: &TlsSettings) -> Option<SslAcceptor> {
        let path = self.path;
        let before = self.problems.count();
        let mut certificates: Vec<CertifiedKey> = Vec::new();
        let mut load =
            |key: String, cert: &Path, private_key: Option<&Path>| match tls::load_certified_key(
                cert,
                private_key,
            ) {
                Ok(loaded) => {
                    self.check_expiry(&key, &loaded);
                    certificates.push(loaded)
                }
                Err(e) => self.problems.push(key, e),
            };
        match &tls.certificates {
            CertificateFiles::Combined(pem) => load(format!("{path}.certificate"), pem, None),
            CertificateFiles::Pair { cert, key } => load(format!("{path}.cert"), cert, Some(key)),
            CertificateFiles::BySni(list) => {
                for (i, pem) in list.iter().enumerate() {
                    load(format!("{path}.certificates[{i}]"), pem, None);
                }
            }
        }
        let mut live = Vec::new();
        if let (Some(wanted), Some(acme)) = (&tls.acme, self.acme) {
            for key in &wanted.keys {
                match crate::acme::managed(&acme.store, &wanted.domains, *key) {
                    Ok(managed) => {
                        let source = inventory::Source::Live(managed.cert.clone());
                        self.certificates.push((managed.name.clone(), source));
                        live.push(managed.cert.clone());
                    }
                    Err(e) => self.problems.push(format!("{path}.acme"), e),
                }
            }
        }
        if let Err(e) = tls::check_cipher_settings(tls) {
            self.problems.push(path, e);
        }
        let ticket_keys = (tls.ticket_keys.as_ref()).and_then(|file| {
            tls::ticket_keys::load(file)
                .map_err(|e| self.problems.push(format!("{path}.ticket_keys"), e))
                .ok()
        });
        if self.problems.count() != before {
            return None;
        }
        let statics = certificates.iter().map(|c| {
            let name = c.path.display().to_string();
            (name, inventory::Source::Static(Arc::new(c.clone())))
        });
        self.certificates.splice(0..0, statics.collect::<Vec<_>>());
        tls::build_acceptor(tls, certificates, live, ticket_keys.as_ref())
            .map_err(|e| self.problems.push(path, e))
            .ok()
    }

    /// An expired certificate is refused; one that expires soon is a warning.
    fn check_expiry(&mut self, key: &str, cert: &CertifiedKey) {
        let left = inventory::not_after(&cert.chain[0]) - crate::metrics::unix_now() as i64;
        let file = cert.path.display();
        if left <= 0 {
            let when = cert.chain[0].not_after();
            self.problems.push(key, format!("{file}: expired ({when})"));
        } else if left < EXPIRY_WARNING_DAYS * 86_400 {
            let when = cert.chain[0].not_after();
            let days = left / 86_400;
            let message = format!("{file}: expires in {days} day(s) ({when})");
            self.warnings.push(Problem::new(key, message));
        }
    }
}
