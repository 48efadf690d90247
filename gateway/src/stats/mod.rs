//! The stats listener (HAProxy's `frontend stats` on :8404):
//! - `GET /metrics`: Prometheus text format, gathered by `pingora-prometheus` (gzip when the
//!   scraper accepts it);
//! - `GET /stats`: an HTML page like HAProxy's, reloading itself every `stats.refresh`;
//!   `GET /stats?format=json` returns the same figures as JSON;
//! - anything else: 404.

mod html;
pub mod snapshot;

use crate::live::Live;
use async_trait::async_trait;
use http::{header, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::PrometheusHttpApp;
use std::sync::Arc;
use std::time::Duration;

/// The stats listener's request handler.
pub struct StatsApp {
    live: Arc<Live>,
    refresh: Duration,
}

impl StatsApp {
    /// A handler reporting on the running listeners and backends; the page reloads every
    /// `refresh`.
    pub fn new(live: Arc<Live>, refresh: Duration) -> Self {
        StatsApp { live, refresh }
    }
}

#[async_trait]
impl ServeHttp for StatsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let uri = &session.req_header().uri;
        match uri.path() {
            "/metrics" => PrometheusHttpApp.response(session).await,
            "/stats" | "/stats/" => {
                let snapshot = snapshot::take(&self.live);
                let json = uri
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p == "format=json"));
                if json {
                    let body = serde_json::to_vec_pretty(&snapshot).unwrap_or_default();
                    respond(StatusCode::OK, "application/json", body)
                } else {
                    let body = html::render(&snapshot, self.refresh).into_bytes();
                    respond(StatusCode::OK, "text/html; charset=utf-8", body)
                }
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                b"404 Not Found\n".to_vec(),
            ),
        }
    }
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static response parts are valid")
}
