//! `acme:` and `tls.acme:`: where ACME certificates are ordered and kept, and which.

use std::path::PathBuf;
use std::time::Duration;

/// `acme:` — where certificates are ordered and kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    /// Directory URL.
    pub directory: String,
    /// Contact address.
    pub email: Option<String>,
    /// Store directory (account, certificates, lock).
    pub store: PathBuf,
    /// Renew this long before expiry; `None`: 30 days, or a third of the lifetime if shorter.
    pub renew_before: Option<Duration>,
    /// CA certificate (PEM) trusted for the directory's HTTPS.
    pub ca: Option<PathBuf>,
}

/// A key type of an ACME certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AcmeKey {
    /// ECDSA on P-256.
    EcdsaP256,
    /// RSA, 2048 bits.
    Rsa2048,
}

impl AcmeKey {
    /// The name used in configuration and certificate names.
    pub fn name(self) -> &'static str {
        match self {
            AcmeKey::EcdsaP256 => "ecdsa-p256",
            AcmeKey::Rsa2048 => "rsa-2048",
        }
    }
}

/// `tls.acme:` — a certificate ordered over ACME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertificate {
    /// DNS names, lower case; the first names it.
    pub domains: Vec<String>,
    /// One certificate per key type.
    pub keys: Vec<AcmeKey>,
}
