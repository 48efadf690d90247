//! `demo-origin ADDR...`: the reference box's PHP page (`print_r($_SERVER['SERVER_ADDR'])`)
//! as a tiny built-in origin. Each address gets a listener answering every request with its
//! own address, so a client can see round robin at work.

use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct AddressPage;

#[async_trait]
impl ServeHttp for AddressPage {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let addr = session
            .server_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let body = format!("{addr}\n").into_bytes();
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::CONTENT_LENGTH, body.len())
            .body(body)
            .expect("valid response")
    }
}

fn main() {
    let addresses: Vec<String> = std::env::args().skip(1).collect();
    if addresses.is_empty() {
        eprintln!("usage: demo-origin ADDR [ADDR...]   e.g. demo-origin 127.0.0.1:9001");
        std::process::exit(2);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let conf = ServerConf {
        pid_file: "/tmp/gateway-demo-origin.pid".into(),
        upgrade_sock: "/tmp/gateway-demo-origin.sock".into(),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    for address in &addresses {
        let mut service = Service::new(
            format!("origin {address}"),
            HttpServer::new_app(AddressPage),
        );
        service.add_tcp(address);
        server.add_service(service);
    }
    server.bootstrap();
    eprintln!("demo-origin: serving on {}", addresses.join(", "));
    server.run_forever();
}
