//! Every certificate the listeners serve, by listener and name (the file path, or
//! `acme:<first domain>:<key type>`): the expiry gauge, `/stats` and `show ssl cert` read it.

use super::{CertifiedKey, Swappable};
use once_cell::sync::Lazy;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};
use prometheus::{register_int_gauge_vec, IntGaugeVec};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

static EXPIRY: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "gateway_tls_certificate_expiry_timestamp_seconds",
        "When each served certificate expires (notAfter), since the Unix epoch.",
        &["listener", "certificate"]
    )
    .expect("metric registered once")
});

/// Where a served certificate comes from.
#[derive(Clone)]
pub enum Source {
    /// Read from a file at load.
    Static(Arc<CertifiedKey>),
    /// Replaced while running (ACME).
    Live(Swappable),
}

impl Source {
    /// The certificate served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self {
            Source::Static(cert) => cert.clone(),
            Source::Live(live) => live.load_full(),
        }
    }
}

/// Served certificates: name → (listeners, source).
static SERVED: Lazy<Mutex<Served>> = Lazy::new(Default::default);

/// Name → (listeners, source).
type Served = BTreeMap<String, (Vec<String>, Source)>;

/// Record what `listener` serves now (replacing what it served before), and the gauges.
pub fn set_listener(listener: &str, certificates: Vec<(String, Source)>) {
    let mut served = SERVED.lock().unwrap_or_else(|e| e.into_inner());
    for (name, (listeners, _)) in served.iter_mut() {
        if listeners.iter().any(|l| l == listener) {
            let _ = EXPIRY.remove_label_values(&[listener, name]);
            listeners.retain(|l| l != listener);
        }
    }
    served.retain(|_, (listeners, _)| !listeners.is_empty());
    for (name, source) in certificates {
        let entry = served
            .entry(name)
            .or_insert_with(|| (Vec::new(), source.clone()));
        entry.1 = source;
        entry.0.push(listener.to_string());
    }
    drop(served);
    refresh();
}

/// Set every expiry gauge from the certificates served now (after a live one changed).
pub fn refresh() {
    for (name, listeners, cert) in list() {
        let expiry = not_after(&cert.chain[0]);
        for listener in listeners {
            EXPIRY.with_label_values(&[&listener, &name]).set(expiry);
        }
    }
}

/// Every served certificate: name, listeners, the certificate now.
pub fn list() -> Vec<(String, Vec<String>, Arc<CertifiedKey>)> {
    let served = SERVED.lock().unwrap_or_else(|e| e.into_inner());
    served
        .iter()
        .map(|(name, (listeners, source))| (name.clone(), listeners.clone(), source.current()))
        .collect()
}

/// `notAfter` in seconds since the Unix epoch.
pub fn not_after(cert: &X509Ref) -> i64 {
    seconds_since_epoch(cert.not_after())
}

/// `notBefore` in seconds since the Unix epoch.
pub fn not_before(cert: &X509Ref) -> i64 {
    seconds_since_epoch(cert.not_before())
}

fn seconds_since_epoch(time: &openssl::asn1::Asn1TimeRef) -> i64 {
    let epoch = Asn1Time::from_unix(0).expect("the epoch is a time");
    epoch
        .diff(time)
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

/// A name as one line (`CN=example.com, O=...`), HAProxy's `show ssl cert` style.
pub fn one_line(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The common name of `name`, if any.
pub fn common_name(name: &X509NameRef) -> Option<String> {
    name.entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}
