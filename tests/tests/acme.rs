//! ACME (`acme:`, `tls.acme`) end to end against Let's Encrypt's test server `pebble`, all on
//! 127.0.0.1: pebble validates HTTP-01 on the gateway's redirect listener and is trusted
//! through `acme.ca`. Orders are counted with `gateway_acme_orders_total`.

use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pebble::Pebble;
use gateway_tests::{free_addr, metric_value, scrape, wait_for};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509StoreContext, X509};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

const NAME: &str = "shop.gateway.test";

/// Addresses of one gateway: redirect listener, TLS listener, stats.
struct Addrs {
    http: SocketAddr,
    https: SocketAddr,
    stats: SocketAddr,
}

impl Addrs {
    fn new() -> Addrs {
        Addrs {
            http: free_addr(),
            https: free_addr(),
            stats: free_addr(),
        }
    }
}

/// A gateway ordering `NAME` from `pebble` into `store`, answering HTTP-01 on `addrs.http`.
fn config(dir: &Path, addrs: &Addrs, pebble: &Pebble, store: &Path, origin: &Origin) -> Config {
    Config::new(dir)
        .listener(
            Listener::plain("http", addrs.http).set("redirect_https.port", addrs.https.port()),
        )
        .listener(
            Listener::plain("https", addrs.https)
                .set("tls.acme.domains", serde_json::json!([NAME]))
                .backend("app"),
        )
        .backend("app", Backend::of(&[origin]))
        .set("stats.address", addrs.stats.to_string())
        .set("acme.directory", pebble.directory.clone())
        .set("acme.email", "ops@gateway.test")
        .set("acme.store", store.display().to_string())
        .set("acme.ca", pebble.ca_file.display().to_string())
}

/// The chain `addr` presents for `NAME` (optionally limiting the client's signature
/// algorithms).
fn served_chain(addr: SocketAddr, sigalgs: Option<&str>) -> Vec<X509> {
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    if let Some(list) = sigalgs {
        connector.set_sigalgs_list(list).unwrap();
    }
    let tcp = TcpStream::connect(addr).unwrap();
    let stream = connector.build().connect(NAME, tcp).unwrap();
    let chain = stream.ssl().peer_cert_chain().unwrap();
    chain.iter().map(|c| c.to_owned()).collect()
}

/// Whether `chain` verifies against `root` (PEM).
fn verifies(chain: &[X509], root: &[u8]) -> bool {
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(X509::from_pem(root).unwrap()).unwrap();
    let store = store.build();
    let mut untrusted = Stack::new().unwrap();
    for cert in &chain[1..] {
        untrusted.push(cert.clone()).unwrap();
    }
    let mut context = X509StoreContext::new().unwrap();
    context
        .init(&store, &chain[0], &untrusted, |c| c.verify_cert())
        .unwrap()
}

fn orders(stats: SocketAddr, result: &str) -> f64 {
    let text = scrape(stats);
    metric_value(&text, "gateway_acme_orders_total", &[("result", result)]).unwrap_or(-1.0)
}

fn serial(chain: &[X509]) -> Vec<u8> {
    chain[0].serial_number().to_bn().unwrap().to_vec()
}

/// Wait until `addr` serves a certificate that verifies against pebble's root.
fn wait_issued(gateway: &Gateway, addr: SocketAddr, root: &[u8]) -> Vec<X509> {
    let mut chain = Vec::new();
    let issued = wait_for(Duration::from_secs(60), || {
        chain = served_chain(addr, None);
        verifies(&chain, root)
    });
    assert!(
        issued.is_some(),
        "no issued certificate; log:\n{}",
        gateway.log()
    );
    chain
}

#[test]
#[ignore = "needs pebble (make test installs it)"]
fn issues_at_start_serves_it_and_keeps_it_across_a_restart() {
    let dir = workdir();
    let (addrs, origin) = (Addrs::new(), Origin::start("app"));
    let pebble = Pebble::start(dir.path(), addrs.http.port(), None);
    let store = dir.path().join("store");
    let yaml = config(dir.path(), &addrs, &pebble, &store, &origin).yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    // Until the order completes: a self-signed placeholder, said loudly.
    gateway.wait_log("SELF-SIGNED PLACEHOLDER", 1, Duration::from_secs(10));
    let root = pebble.root_pem();
    let chain = wait_issued(&gateway, addrs.https, &root);
    assert_eq!(orders(addrs.stats, "success"), 1.0);
    assert_eq!(orders(addrs.stats, "failure"), 0.0);
    // The expiry gauge is the served certificate's notAfter.
    let not_after = chain[0].not_after();
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(not_after).unwrap();
    let expected = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let expiry = metric_value(
        &scrape(addrs.stats),
        "gateway_tls_certificate_expiry_timestamp_seconds",
        &[
            ("listener", "https"),
            ("certificate", "acme:shop.gateway.test:ecdsa-p256"),
        ],
    );
    assert_eq!(expiry, Some(expected as f64));
    // The store: account and certificate, private to the owner.
    use std::os::unix::fs::PermissionsExt;
    for file in ["account.json", "shop.gateway.test.ecdsa-p256.pem"] {
        let mode = std::fs::metadata(store.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // A restart serves the stored certificate at once and orders nothing.
    drop(gateway);
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    assert_eq!(serial(&served_chain(addrs.https, None)), serial(&chain));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        orders(addrs.stats, "success"),
        0.0,
        "log:\n{}",
        gateway.log()
    );
    assert!(!gateway.log().contains("PLACEHOLDER"));
}

#[test]
#[ignore = "needs pebble (make test installs it)"]
fn renews_when_renew_before_is_reached() {
    let dir = workdir();
    let (addrs, origin) = (Addrs::new(), Origin::start("app"));
    // Certificates of 20 s, renewed 15 s before they end: 5 s after each issue.
    let pebble = Pebble::start(dir.path(), addrs.http.port(), Some(Duration::from_secs(20)));
    let store = dir.path().join("store");
    let yaml = config(dir.path(), &addrs, &pebble, &store, &origin)
        .set("acme.renew_before", "15s")
        .yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    let root = pebble.root_pem();
    let first = serial(&wait_issued(&gateway, addrs.https, &root));
    let mut chain = Vec::new();
    let renewed = wait_for(Duration::from_secs(40), || {
        chain = served_chain(addrs.https, None);
        serial(&chain) != first && verifies(&chain, &root)
    });
    assert!(renewed.is_some(), "not renewed; log:\n{}", gateway.log());
    assert!(orders(addrs.stats, "success") >= 2.0);
    assert_eq!(orders(addrs.stats, "failure"), 0.0);
}

#[test]
#[ignore = "needs pebble (make test installs it)"]
fn a_failed_challenge_keeps_the_old_certificate_and_is_counted() {
    let dir = workdir();
    let (addrs, origin) = (Addrs::new(), Origin::start("app"));
    let store = dir.path().join("store");
    // A certificate of 40 s, due 10 s after it is issued.
    let pebble = Pebble::start(dir.path(), addrs.http.port(), Some(Duration::from_secs(40)));
    let yaml = config(dir.path(), &addrs, &pebble, &store, &origin)
        .set("acme.renew_before", "30s")
        .yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    let old = serial(&wait_issued(&gateway, addrs.https, &pebble.root_pem()));
    drop(gateway);
    drop(pebble);
    // Another ACME server, validating on a port where nothing answers.
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let pebble = Pebble::start(&second, free_addr().port(), None);
    let yaml = config(dir.path(), &addrs, &pebble, &store, &origin)
        .set("acme.renew_before", "30s")
        .yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    let failed = wait_for(Duration::from_secs(40), || {
        orders(addrs.stats, "failure") >= 1.0
    });
    assert!(failed.is_some(), "no failed order; log:\n{}", gateway.log());
    assert_eq!(orders(addrs.stats, "success"), 0.0);
    assert_eq!(serial(&served_chain(addrs.https, None)), old);
    assert!(gateway.log().contains("the certificate served stays"));
}

#[test]
#[ignore = "needs pebble (make test installs it)"]
fn two_instances_sharing_a_store_order_once() {
    let dir = workdir();
    let origin = Origin::start("app");
    let (a, b) = (Addrs::new(), Addrs::new());
    // Validations reach instance A only (B, if it orders, answers through the shared store).
    let pebble = Pebble::start(dir.path(), a.http.port(), None);
    let store = dir.path().join("store");
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&dir_a).unwrap();
    std::fs::create_dir(&dir_b).unwrap();
    let yaml_b = config(&dir_b, &b, &pebble, &store, &origin).yaml();
    let yaml_a = config(&dir_a, &a, &pebble, &store, &origin).yaml();
    // A listens before B starts: an order B places is validated through A, which must be up.
    let gateway_a = Gateway::start(&dir_a, &yaml_a, &[a.https, a.http, a.stats]);
    let gateway_b = Gateway::start(&dir_b, &yaml_b, &[b.https, b.stats]);
    let root = pebble.root_pem();
    let served_a = serial(&wait_issued(&gateway_a, a.https, &root));
    let served_b = serial(&wait_issued(&gateway_b, b.https, &root));
    assert_eq!(served_a, served_b);
    let total = orders(a.stats, "success") + orders(b.stats, "success");
    assert_eq!(
        total,
        1.0,
        "logs:\n{}\n{}",
        gateway_a.log(),
        gateway_b.log()
    );
    assert_eq!(
        orders(a.stats, "failure") + orders(b.stats, "failure"),
        0.0,
        "logs:\n{}\n{}",
        gateway_a.log(),
        gateway_b.log()
    );
}

#[test]
#[ignore = "needs pebble (make test installs it)"]
fn key_both_orders_rsa_and_ecdsa_and_serves_each_to_the_clients_that_verify_it() {
    let dir = workdir();
    let (addrs, origin) = (Addrs::new(), Origin::start("app"));
    let pebble = Pebble::start(dir.path(), addrs.http.port(), None);
    let store = dir.path().join("store");
    let yaml = config(dir.path(), &addrs, &pebble, &store, &origin)
        .set("listeners.1.tls.acme.key", "both")
        .yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[addrs.https, addrs.stats]);
    let root = pebble.root_pem();
    let both = wait_for(Duration::from_secs(60), || {
        orders(addrs.stats, "success") >= 2.0
    });
    assert!(both.is_some(), "log:\n{}", gateway.log());
    let key_of = |sigalgs: &str| {
        let chain = served_chain(addrs.https, Some(sigalgs));
        assert!(verifies(&chain, &root), "{sigalgs}");
        chain[0].public_key().unwrap().id()
    };
    use openssl::pkey::Id;
    assert_eq!(key_of("ECDSA+SHA256:RSA-PSS+SHA256:RSA+SHA256"), Id::EC);
    assert_eq!(key_of("RSA-PSS+SHA256:RSA+SHA256"), Id::RSA);
    assert_eq!(orders(addrs.stats, "failure"), 0.0);
}
