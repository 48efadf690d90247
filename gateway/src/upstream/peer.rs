//! How the gateway connects to a server: Pingora's `HttpPeer` with the backend's TLS
//! (verification, CA, SNI, client certificate) and HTTP version, prepared once per server.
//! Requests and health checks connect with the same peer.

use crate::config::defaults::ORIGIN_H2_STREAMS;
use crate::config::model;
use openssl::pkey::PKey;
use openssl::x509::X509;
use pingora::prelude::HttpPeer;
use pingora::protocols::tls::CaType;
use pingora::utils::tls::CertKey;
use pingora_error::{Error, ErrorType};
use std::net::SocketAddr;
use std::sync::Arc;

/// TLS settings ready for Pingora, shared by every peer of one server.
struct Tls {
    /// Sent and verified when a name; an IP address (no SNI sent, chain verified only).
    sni: String,
    verify: bool,
    verify_hostname: bool,
    ca: Option<Arc<CaType>>,
    client: Option<Arc<CertKey>>,
}

/// What every peer of one server has in common.
pub struct PeerTemplate {
    tls: Option<Tls>,
    h2: bool,
}

impl PeerTemplate {
    /// The template for a server at `address` with `tls` (already checked at load) speaking
    /// `protocol`.
    pub fn new(
        address: SocketAddr,
        tls: Option<&model::OriginTls>,
        protocol: model::OriginProtocol,
    ) -> PeerTemplate {
        let tls = tls.map(|t| Tls {
            verify_hostname: t.verify && t.sni.is_some(),
            sni: t.sni.clone().unwrap_or_else(|| address.ip().to_string()),
            verify: t.verify,
            ca: t.ca.as_ref().map(|ca| {
                let certs = X509::stack_from_pem(&ca.pem).expect("CA checked at load");
                Arc::new(certs.into_boxed_slice())
            }),
            client: t.client_certificate.as_ref().map(|cc| {
                let certs = X509::stack_from_pem(&cc.pem).expect("certificate checked at load");
                let key = PKey::private_key_from_pem(&cc.pem).expect("key checked at load");
                Arc::new(CertKey::new(certs, key))
            }),
        });
        PeerTemplate {
            tls,
            h2: protocol == model::OriginProtocol::H2,
        }
    }

    /// A peer for `address` (no timeouts set).
    pub fn peer(&self, address: SocketAddr) -> HttpPeer {
        let tls = self.tls.as_ref();
        let sni = tls.map(|t| t.sni.clone()).unwrap_or_default();
        let mut peer = HttpPeer::new(address, tls.is_some(), sni);
        if let Some(t) = tls {
            peer.options.verify_cert = t.verify;
            peer.options.verify_hostname = t.verify_hostname;
            peer.options.ca = t.ca.clone();
            peer.client_cert_key = t.client.clone();
        }
        if self.h2 {
            peer.options.set_http_version(2, 2);
            peer.options.max_h2_streams = ORIGIN_H2_STREAMS;
        }
        peer
    }
}

/// The `reason` label of `gateway_backend_connect_errors_total` for a failed connection.
pub fn connect_error_reason(e: &Error) -> &'static str {
    match e.etype() {
        ErrorType::ConnectRefused => "refused",
        ErrorType::ConnectTimedout => "timeout",
        ErrorType::ConnectNoRoute => "unreachable",
        ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::InvalidCert
        | ErrorType::HandshakeError
        | ErrorType::TLSWantX509Lookup => "tls",
        _ => "other",
    }
}

/// Log, once at load, a backend whose TLS does not verify its servers.
pub fn warn_unverified(backend: &model::Backend) {
    let unverified = |t: &Option<model::OriginTls>| t.as_ref().is_some_and(|t| !t.verify);
    for server in &backend.servers {
        if unverified(&server.tls) {
            log::warn!(
                "backends.{}: server {} is reached over TLS without verifying its certificate (verify: false)",
                backend.name,
                server.name
            );
        }
    }
    if unverified(&backend.tls) && backend.servers.is_empty() {
        log::warn!(
            "backends.{}: servers are reached over TLS without verifying their certificates (verify: false)",
            backend.name
        );
    }
}
