//! The stats listener (HAProxy's `frontend stats` on :8404): `GET /metrics` answers the
//! Prometheus text format (gathered by `pingora-prometheus`, gzip when the scraper accepts
//! it); any other path is 404.

use crate::metrics::SERVER_UP;
use crate::upstream::Upstream;
use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::PrometheusHttpApp;
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
        PrometheusHttpApp.response(session).await
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
