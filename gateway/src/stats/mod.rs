//! The stats listener (HAProxy's `frontend stats` on :8404): `GET /metrics` answers the
//! Prometheus text format; any other path is 404.

use crate::metrics::SERVER_UP;
use crate::upstream::Upstream;
use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};
use std::sync::Arc;

/// The stats listener's request handler.
pub struct StatsApp {
    upstreams: Vec<Arc<Upstream>>,
}

impl StatsApp {
    /// A handler reporting on `upstreams` besides the registered metrics.
    pub fn new(upstreams: Vec<Arc<Upstream>>) -> Self {
        StatsApp { upstreams }
    }

    /// Refresh the gauges read from health-check state.
    fn refresh(&self) {
        for upstream in &self.upstreams {
            for server in &upstream.servers {
                SERVER_UP
                    .with_label_values(&[upstream.name.as_str(), server.name.as_str()])
                    .set(i64::from(upstream.is_up(server.address)));
            }
        }
    }
}

#[async_trait]
impl ServeHttp for StatsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path();
        if path != "/metrics" {
            return plain(StatusCode::NOT_FOUND, b"404 Not Found\n".to_vec());
        }
        self.refresh();
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
