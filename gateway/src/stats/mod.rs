//! The stats listener (HAProxy's `frontend stats` on :8404): `GET /metrics` answers the
//! Prometheus text format; any other path is 404.

use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};

/// The stats listener's request handler.
pub struct StatsApp;

#[async_trait]
impl ServeHttp for StatsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path();
        if path != "/metrics" {
            return plain(StatusCode::NOT_FOUND, b"404 Not Found\n".to_vec());
        }
        let encoder = TextEncoder::new();
        let mut body = Vec::with_capacity(4096);
        if let Err(e) = encoder.encode(&prometheus::gather(), &mut body) {
            log::error!("encoding metrics: {e}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, b"500\n".to_vec());
        }
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, encoder.format_type())
            .header(header::CONTENT_LENGTH, body.len())
            .body(body)
            .expect("static response parts are valid")
    }
}

fn plain(status: StatusCode, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, body.len())
        .body(body)
        .expect("static response parts are valid")
}
