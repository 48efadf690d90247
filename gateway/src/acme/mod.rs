//! ACME (RFC 8555) certificates: ordered with `instant-acme`, HTTP-01 answered by the redirect
//! listener ([`challenge`]), kept in the store ([`store`]) and renewed in the background
//! ([`service`]). A certificate is a [`Managed`] one per names and key type, kept for the life
//! of the process (reloads find it again); listeners serve its current value through a
//! [`Swappable`], so new connections get a new certificate at once and open ones keep theirs.

pub mod challenge;
mod order;
mod service;
pub mod store;

pub use service::AcmeService;

use crate::config::defaults;
use crate::config::model::{Acme, AcmeKey};
use crate::tls::{self, inventory, CertifiedKey, Swappable};
use arc_swap::ArcSwap;
use once_cell::sync::Lazy;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One ACME certificate: names, key type, what is served now.
pub struct Managed {
    /// `acme:<first domain>:<key type>` (metrics, `show ssl cert`).
    pub name: String,
    /// `<first domain>.<key type>`: its files in the store.
    pub stem: String,
    /// The names, the first one first.
    pub domains: Vec<String>,
    /// Key type.
    pub key: AcmeKey,
    /// Served now: the issued certificate, or a self-signed placeholder.
    pub cert: Swappable,
    /// Whether `cert` is the placeholder.
    placeholder: AtomicBool,
}

impl Managed {
    /// Whether a placeholder is served (nothing issued yet).
    pub fn is_placeholder(&self) -> bool {
        self.placeholder.load(Ordering::Relaxed)
    }

    /// Serve `cert` from now on.
    fn replace(&self, cert: CertifiedKey) {
        self.cert.store(Arc::new(cert));
        self.placeholder.store(false, Ordering::Relaxed);
        inventory::refresh();
    }

    /// The store's certificate, if it is one for these names (and not the one served).
    fn stored(&self, store: &Path) -> Option<CertifiedKey> {
        let path = store::certificate_path(store, &self.stem);
        std::fs::symlink_metadata(&path).ok()?;
        let cert = tls::load_certified_key(&path, None)
            .map_err(|e| log::warn!("{}: {e}", self.name))
            .ok()?;
        let covers = self.domains.iter().all(|d| cert.names.contains(d));
        covers.then_some(cert)
    }
}

/// The certificates of the process, by names and key type.
static MANAGED: Lazy<Mutex<ByNames>> = Lazy::new(Default::default);

/// Certificates by names and key type.
type ByNames = BTreeMap<(Vec<String>, AcmeKey), Arc<Managed>>;

/// The `acme:` settings in force (replaced on reload).
static SETTINGS: Lazy<ArcSwap<Option<Acme>>> = Lazy::new(Default::default);

/// Apply the `acme:` settings of a configuration being started or reloaded.
pub fn configure(settings: Option<&Acme>) {
    challenge::set_store(settings.map(|s| s.store.clone()));
    SETTINGS.store(Arc::new(settings.cloned()));
}

fn settings() -> Option<Acme> {
    (**SETTINGS.load()).clone()
}

/// The certificate for `domains` and `key`: the one the process already has, else the
/// store's, else a self-signed placeholder (logged loudly) until the order completes.
pub fn managed(store: &Path, domains: &[String], key: AcmeKey) -> Result<Arc<Managed>, String> {
    let mut all = MANAGED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = all.get(&(domains.to_vec(), key)) {
        return Ok(found.clone());
    }
    let first = &domains[0];
    let mut managed = Managed {
        name: format!("acme:{first}:{}", key.name()),
        stem: format!("{first}.{}", key.name()),
        domains: domains.to_vec(),
        key,
        cert: Arc::new(ArcSwap::from_pointee(placeholder(domains, key)?)),
        placeholder: AtomicBool::new(true),
    };
    if let Some(stored) = managed.stored(store) {
        managed.cert = Arc::new(ArcSwap::from_pointee(stored));
        managed.placeholder = AtomicBool::new(false);
    }
    let managed = Arc::new(managed);
    all.insert((domains.to_vec(), key), managed.clone());
    Ok(managed)
}

/// Every ACME certificate of the process.
fn all_managed() -> Vec<Arc<Managed>> {
    let all = MANAGED.lock().unwrap_or_else(|e| e.into_inner());
    all.values().cloned().collect()
}

/// When `cert` should be renewed: `renew_before` its expiry (default 30 days, or a third of
/// its lifetime when that is shorter), as seconds since the Unix epoch.
pub fn renew_at(cert: &X509, renew_before: Option<Duration>) -> i64 {
    let (start, end) = (inventory::not_before(cert), inventory::not_after(cert));
    let before = match renew_before {
        Some(before) => before.as_secs() as i64,
        None => (defaults::ACME_RENEW_BEFORE.as_secs() as i64).min((end - start) / 3),
    };
    end - before
}

/// A private key of type `key`.
pub fn new_key(key: AcmeKey) -> Result<PKey<Private>, String> {
    let made = match key {
        AcmeKey::EcdsaP256 => EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
            .and_then(|group| EcKey::generate(&group))
            .and_then(PKey::from_ec_key),
        AcmeKey::Rsa2048 => Rsa::generate(2048).and_then(PKey::from_rsa),
    };
    made.map_err(|e| format!("key generation: {e}"))
}

/// A self-signed certificate for `domains`, served until the first one is issued.
fn placeholder(domains: &[String], key: AcmeKey) -> Result<CertifiedKey, String> {
    let build = || -> Result<CertifiedKey, openssl::error::ErrorStack> {
        let pkey = new_key(key).map_err(|_| openssl::error::ErrorStack::get())?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, &domains[0])?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "gateway ACME placeholder")?;
        let name = name.build();
        let mut x509 = X509::builder()?;
        x509.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        x509.set_serial_number(&serial)?;
        x509.set_subject_name(&name)?;
        x509.set_issuer_name(&name)?;
        x509.set_pubkey(&pkey)?;
        let (start, end) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(7)?);
        x509.set_not_before(&start)?;
        x509.set_not_after(&end)?;
        let mut san = SubjectAlternativeName::new();
        for domain in domains {
            san.dns(domain);
        }
        let san = san.build(&x509.x509v3_context(None, None))?;
        x509.append_extension(san)?;
        x509.sign(&pkey, MessageDigest::sha256())?;
        Ok(CertifiedKey {
            chain: vec![x509.build()],
            key: pkey,
            names: domains.to_vec(),
            path: PathBuf::from(format!("acme:{}:{} (placeholder)", domains[0], key.name())),
            ocsp: None,
        })
    };
    build().map_err(|e| format!("placeholder certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_renew_before_the_end_or_at_two_thirds_of_a_short_lifetime() {
        let names = vec!["a.gateway.test".to_string()];
        let cert = placeholder(&names, AcmeKey::EcdsaP256).unwrap();
        let leaf = &cert.chain[0];
        let (start, end) = (inventory::not_before(leaf), inventory::not_after(leaf));
        assert_eq!(end - start, 7 * 86_400);
        // Seven days is shorter than 90: a third of it, not 30 days.
        assert_eq!(renew_at(leaf, None), end - (end - start) / 3);
        assert_eq!(renew_at(leaf, Some(Duration::from_secs(3600))), end - 3600);
        assert_eq!(cert.names, names);
    }

    #[test]
    fn keys_are_of_the_type_asked() {
        assert_eq!(
            new_key(AcmeKey::EcdsaP256).unwrap().id(),
            openssl::pkey::Id::EC
        );
        let rsa = new_key(AcmeKey::Rsa2048).unwrap();
        assert_eq!((rsa.id(), rsa.bits()), (openssl::pkey::Id::RSA, 2048));
    }
}
