//! The observability tests' gateway: an HTTPS listener in front of backend `app` with a stats
//! listener ([`setup`]), and the value of a metric that must be there ([`value`]).

use crate::config::{yaml, Backend, Config};
use crate::gateway::{workdir, Gateway};
use crate::pki::Pki;
use crate::{accepting, free_addr, metric_value, wait_for};
use std::net::SocketAddr;
use std::time::Duration;

/// What [`setup`] started: the gateway, its listeners' addresses, the CA its certificate is
/// from.
pub struct Setup {
    _dir: tempfile::TempDir,
    pub pki: Pki,
    pub https: SocketAddr,
    pub stats: SocketAddr,
    pub gateway: Gateway,
}

/// An https listener in front of backend `app` with a stats listener, the configuration
/// changed by `change`.
pub fn setup(app: Backend, change: impl FnOnce(Config) -> Config) -> Setup {
    let dir = workdir();
    let pki = Pki::new();
    let (https, stats) = (free_addr(), free_addr());
    let gateway = Gateway::start_tls(dir.path(), &pki, https, app, |config| {
        change(config.set(
            "stats",
            yaml(&format!("{{ address: \"{stats}\", refresh: 3s }}")),
        ))
    });
    assert!(wait_for(Duration::from_secs(10), || accepting(stats)).is_some());
    Setup {
        _dir: dir,
        pki,
        https,
        stats,
        gateway,
    }
}

/// The value of the sample `name{labels}` in Prometheus text `text`; panics naming it when it
/// is missing.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_value(text, name, labels).unwrap_or_else(|| panic!("{name}{labels:?} missing"))
}
