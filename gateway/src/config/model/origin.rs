//! How the gateway talks to a backend's servers: TLS, HTTP version, health check kind.

/// TLS to an origin server (`tls:` of a backend, merged with a server's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTls {
    /// Verify the certificate (chain always; the name too when there is an SNI).
    pub verify: bool,
    /// The CAs trusted (checked to be PEM); `None`: the system's store.
    pub ca: Option<PemFile>,
    /// The name sent and checked; `None`: none sent, the chain alone is verified.
    pub sni: Option<String>,
    /// Combined PEM presented to the origin (checked: certificates and a key).
    pub client_certificate: Option<PemFile>,
}

/// A PEM file named in the configuration, read and checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// Its path, resolved.
    pub path: std::path::PathBuf,
    /// Its contents.
    pub pem: Vec<u8>,
}

/// The HTTP version spoken to origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginProtocol {
    /// HTTP/1.1.
    #[default]
    H1,
    /// HTTP/2: ALPN `h2` over TLS, h2c (prior knowledge) without.
    H2,
}

/// What a health check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckKind {
    /// A request; the answer is held to `expect`.
    #[default]
    Http,
    /// Connect only (and the TLS handshake, with `tls`).
    Tcp,
}
