//! The benchmark's baseline: Pingora with nothing of the gateway on top. A `ProxyHttp` that
//! picks an origin round robin and forwards the request as it came, on Pingora's own TLS
//! listeners (its default buffers and settings), with mimalloc like the gateway.
//!
//! `make bench` runs it as `pingora-bare` beside the gateway, HAProxy and nginx, so the table
//! shows what the gateway adds to Pingora and what Pingora itself costs against the peers.
//!
//! Usage: `bare_pingora THREADS CERT KEY LISTEN [CERT KEY LISTEN]... -- ORIGIN...`, e.g.
//! `bare_pingora 1 rsa.crt rsa.key 127.0.0.1:7843 -- 127.0.0.1:9101 127.0.0.1:9102`.

use async_trait::async_trait;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_load_balancing::{selection::RoundRobin, LoadBalancer};
use pingora_proxy::{ProxyHttp, Session};
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Round robin over the origins; every other phase is Pingora's default.
struct BareProxy(Arc<LoadBalancer<RoundRobin>>);

#[async_trait]
impl ProxyHttp for BareProxy {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_core::Result<Box<HttpPeer>> {
        let origin = self.0.select(b"", 256).expect("at least one origin");
        Ok(Box::new(HttpPeer::new(origin, false, String::new())))
    }
}

/// Command line: thread count, (certificate, key, address) triples, `--`, origins.
struct Args {
    threads: usize,
    listeners: Vec<[String; 3]>,
    origins: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let usage = "usage: bare_pingora THREADS CERT KEY LISTEN [CERT KEY LISTEN]... -- ORIGIN...";
    let threads = args
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| usage.to_string())?;
    let mut listeners = Vec::new();
    loop {
        match args.next().as_deref() {
            Some("--") => break,
            Some(cert) => match (args.next(), args.next()) {
                (Some(key), Some(address)) => listeners.push([cert.to_string(), key, address]),
                _ => return Err(usage.to_string()),
            },
            None => return Err(usage.to_string()),
        }
    }
    let origins: Vec<String> = args.collect();
    if listeners.is_empty() || origins.is_empty() {
        return Err(usage.to_string());
    }
    Ok(Args {
        threads,
        listeners,
        origins,
    })
}

fn main() {
    let args = parse_args(std::env::args().skip(1)).unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2);
    });
    let conf = ServerConf {
        threads: args.threads,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let origins = LoadBalancer::try_from_iter(&args.origins).expect("origin addresses");
    let mut service =
        pingora_proxy::http_proxy_service(&server.configuration, BareProxy(Arc::new(origins)));
    for [cert, key, address] in &args.listeners {
        let mut tls = TlsSettings::intermediate(cert, key).expect("certificate and key");
        tls.enable_h2();
        service.add_tls_with_settings(address, None, tls);
    }
    server.add_service(service);
    server.run_forever();
}
