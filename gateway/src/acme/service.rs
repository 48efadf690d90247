//! The background service: for every ACME certificate, order when it is missing or due, with
//! one instance at a time per certificate (a lease file in the store); pick up what another
//! instance stored; retry failures with backoff, never removing the certificate served.

use super::{all_managed, order, renew_at, settings, store, Managed};
use crate::metrics::unix_now;
use async_trait::async_trait;
use once_cell::sync::Lazy;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::{register_int_counter_vec, IntCounterVec};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Orders by result (`success`, `failure`).
static ORDERS: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "gateway_acme_orders_total",
        "ACME orders finished, by result (success, failure).",
        &["result"]
    )
    .expect("metric registered once")
});

/// How often a certificate that is not due looks at the store (another instance may have
/// renewed it), and how often a waiting instance looks at the lease.
const STORE_CHECK: Duration = Duration::from_secs(60);
const LEASE_CHECK: Duration = Duration::from_millis(500);
/// An order takes at most this long; a lease older than this is taken over.
const LEASE: Duration = Duration::from_secs(300);
/// Backoff after a failed order: first, most.
const BACKOFF_FIRST: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// Runs the renewal loops of the process's ACME certificates.
pub struct AcmeService;

#[async_trait]
impl BackgroundService for AcmeService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        ORDERS.with_label_values(&["success"]);
        ORDERS.with_label_values(&["failure"]);
        let mut running: HashSet<String> = HashSet::new();
        loop {
            for managed in all_managed() {
                if running.insert(format!("{:?}{:?}", managed.domains, managed.key)) {
                    tokio::spawn(maintain(managed));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Keep `managed` issued and fresh, for the life of the process.
async fn maintain(managed: Arc<Managed>) {
    let mut backoff = BACKOFF_FIRST;
    let mut announced = false;
    loop {
        let Some(settings) = settings() else {
            tokio::time::sleep(STORE_CHECK).await;
            continue;
        };
        if managed.is_placeholder() && !announced {
            log::warn!(
                "{}: no certificate yet, serving a SELF-SIGNED PLACEHOLDER until the order completes",
                managed.name
            );
            announced = true;
        }
        pick_up(&managed, &settings.store);
        let now = unix_now() as i64;
        let due = match managed.is_placeholder() {
            true => now,
            false => renew_at(&managed.cert.load().chain[0], settings.renew_before),
        };
        if due > now {
            let wait = Duration::from_secs((due - now) as u64).min(STORE_CHECK);
            tokio::time::sleep(wait).await;
            continue;
        }
        let lease = match store::Lease::try_take(&settings.store, &managed.stem, LEASE) {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                // Another instance is ordering: its certificate will be in the store.
                tokio::time::sleep(LEASE_CHECK).await;
                continue;
            }
            Err(e) => {
                log::error!("{}: {}: {e}", managed.name, settings.store.display());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        // It may have been renewed while this instance waited for the lease.
        if pick_up(&managed, &settings.store) {
            drop(lease);
            continue;
        }
        log::info!("{}: ordering from {}", managed.name, settings.directory);
        let result = tokio::time::timeout(LEASE, order::order(&settings, &managed)).await;
        let result = result.unwrap_or_else(|_| Err("timed out".into()));
        let stored = result.and_then(|pem| {
            let path = store::certificate_path(&settings.store, &managed.stem);
            store::write_private(&path, &pem).map_err(|e| format!("{}: {e}", path.display()))?;
            crate::tls::load_certified_key(&path, None)
        });
        drop(lease);
        match stored {
            Ok(cert) => {
                ORDERS.with_label_values(&["success"]).inc();
                log::info!(
                    "{}: certificate issued, valid until {}",
                    managed.name,
                    cert.chain[0].not_after()
                );
                managed.replace(cert);
                backoff = BACKOFF_FIRST;
            }
            Err(e) => {
                ORDERS.with_label_values(&["failure"]).inc();
                log::error!(
                    "{}: order failed: {e}; the certificate served stays, next try in {}s",
                    managed.name,
                    backoff.as_secs()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Serve the store's certificate if it is newer than the one served; `true` if it was.
fn pick_up(managed: &Managed, store: &std::path::Path) -> bool {
    let Some(stored) = managed.stored(store) else {
        return false;
    };
    let served = managed.cert.load();
    let newer = crate::tls::inventory::not_after(&stored.chain[0])
        > crate::tls::inventory::not_after(&served.chain[0]);
    let different = stored.chain[0].to_der().ok() != served.chain[0].to_der().ok();
    if (managed.is_placeholder() || newer) && different {
        log::info!("{}: serving the certificate from the store", managed.name);
        drop(served);
        managed.replace(stored);
        return true;
    }
    false
}
