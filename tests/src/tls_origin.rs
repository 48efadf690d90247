//! An HTTPS (HTTP/1.1) origin on 127.0.0.1 that records, per TLS connection, the SNI the
//! client sent and the common name of its certificate; it can require a client certificate.
//! Every request is answered `200` with the body `tls-origin` (health checks included).

use openssl::ssl::{NameType, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What one TLS connection presented.
#[derive(Debug, Clone, Default)]
pub struct SeenHandshake {
    /// The SNI sent, if any.
    pub sni: Option<String>,
    /// The client certificate's common name, if one was presented.
    pub client_cn: Option<String>,
    /// Requests answered on the connection.
    pub requests: usize,
}

/// A running HTTPS origin; stops when dropped.
pub struct TlsOrigin {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenHandshake>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsOrigin {
    /// Serve with `certificate` (combined PEM); with `client_ca`, require a client
    /// certificate signed by it (PEM).
    pub fn start(certificate: &Path, client_ca: Option<&[u8]>) -> TlsOrigin {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor.set_certificate_chain_file(certificate).unwrap();
        acceptor
            .set_private_key_file(certificate, SslFiletype::PEM)
            .unwrap();
        if let Some(ca) = client_ca {
            let mut store = X509StoreBuilder::new().unwrap();
            for cert in X509::stack_from_pem(ca).unwrap() {
                store.add_cert(cert).unwrap();
            }
            acceptor.set_verify_cert_store(store.build()).unwrap();
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        let acceptor = Arc::new(acceptor.build());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_seen, thread_stop) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (acceptor, seen) = (acceptor.clone(), thread_seen.clone());
                std::thread::spawn(move || serve(&acceptor, stream, &seen));
            }
        });
        TlsOrigin {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every completed handshake so far.
    pub fn handshakes(&self) -> Vec<SeenHandshake> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests answered, all connections.
    pub fn requests(&self) -> usize {
        self.handshakes().iter().map(|h| h.requests).sum()
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(acceptor: &SslAcceptor, stream: TcpStream, seen: &Mutex<Vec<SeenHandshake>>) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Ok(mut tls) = acceptor.accept(stream) else {
        return;
    };
    let handshake = SeenHandshake {
        sni: tls
            .ssl()
            .servername(NameType::HOST_NAME)
            .map(str::to_string),
        client_cn: tls
            .ssl()
            .peer_certificate()
            .map(|c| crate::pki::common_name(&c.to_der().unwrap())),
        requests: 0,
    };
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(handshake);
        seen.len() - 1
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        seen.lock().unwrap()[index].requests += 1;
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\ntls-origin";
        if tls.write_all(answer).is_err() {
            return;
        }
    }
}
