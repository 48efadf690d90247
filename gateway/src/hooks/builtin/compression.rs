//! `compression`: responses compressed on the way to the client (HAProxy `compression algo`),
//! with the coding the client's `Accept-Encoding` prefers among `algorithms`.
//!
//! Never for a response already encoded, one with `Cache-Control: no-transform`, a range
//! (a request with `Range`, a 206 or `Content-Range`), a status without a body (1xx, 204,
//! 304), a `HEAD`, a type not in `types`, or a `Content-Length` under `min_bytes`. A response
//! that could be compressed says `Vary: Accept-Encoding`, whichever coding this client got.
//! Streaming: each body chunk is compressed and flushed as it arrives, nothing is buffered
//! whole. Bytes in and out are counted in `gateway_compression_bytes_total{direction}`.
//!
//! Pingora's `ResponseCompression` module decides by its own rules (its type list, a 20-byte
//! minimum, `Accept-Encoding` order without q-values) and does not flush per chunk, so this
//! hook decides itself and encodes with the same crates ([`encoder`]).

pub mod encoder;
pub mod negotiate;

use crate::hooks::{Flow, Hook, HookState, Phases, RequestInfo};
use async_trait::async_trait;
use bytes::Bytes;
use encoder::{Algorithm, Encoder};
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, RANGE,
    TRANSFER_ENCODING, VARY,
};
use http::{HeaderValue, Method};
use negotiate::Types;
use once_cell::sync::Lazy;
use pingora_http::ResponseHeader;
use prometheus::{register_int_counter_vec, IntCounter};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// `gateway_compression_bytes_total{direction="in"}` (before) and `{direction="out"}` (after).
static BYTES: Lazy<[IntCounter; 2]> = Lazy::new(|| {
    let vec = register_int_counter_vec!(
        "gateway_compression_bytes_total",
        "Response body bytes compressed: direction=\"in\" before, direction=\"out\" after.",
        &["direction"]
    )
    .expect("metric registered once");
    [
        vec.with_label_values(&["in"]),
        vec.with_label_values(&["out"]),
    ]
});

/// A compression level: `default` (per algorithm) or 1 to 9 for all.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Level {
    /// 1 (fastest) to 9.
    Number(u32),
    /// `default`.
    Name(String),
}

/// Settings of `compression`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Codings offered, in order of preference (default `[zstd, br, gzip]`).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// `default` or 1..=9.
    #[serde(default = "default_level")]
    pub level: Level,
    /// Responses whose `Content-Length` is below this are sent as they are (default 256).
    #[serde(default = "default_min_bytes")]
    pub min_bytes: u64,
    /// Media types compressed: exact or `type/*`.
    #[serde(default = "default_types")]
    pub types: Vec<String>,
}

fn default_algorithms() -> Vec<String> {
    ["zstd", "br", "gzip"].map(String::from).to_vec()
}
fn default_level() -> Level {
    Level::Name("default".into())
}
fn default_min_bytes() -> u64 {
    256
}
fn default_types() -> Vec<String> {
    [
        "text/*",
        "application/json",
        "application/javascript",
        "image/svg+xml",
    ]
    .map(String::from)
    .to_vec()
}

/// What the request phase found: the coding the client prefers, unless the request rules
/// compression out.
#[derive(Clone, Copy)]
struct Wanted(Option<Algorithm>);

/// The response being compressed.
#[derive(Clone)]
struct Active(Arc<Mutex<Encoder>>);

/// The `compression` hook.
pub struct Compression {
    algorithms: Vec<Algorithm>,
    level: Option<u32>,
    min_bytes: u64,
    types: Types,
}

impl Compression {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<Compression, String> {
        let mut algorithms = Vec::new();
        for (i, name) in settings.algorithms.iter().enumerate() {
            let algorithm = Algorithm::from_name(name)
                .ok_or_else(|| format!("algorithms[{i}]: unknown {name:?} (zstd, br, gzip)"))?;
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            return Err("algorithms: at least one of zstd, br, gzip".into());
        }
        let level = match settings.level {
            Level::Number(n @ 1..=9) => Some(n),
            Level::Name(name) if name == "default" => None,
            Level::Number(n) => return Err(format!("level: {n} is not 1..9 or default")),
            Level::Name(name) => return Err(format!("level: {name:?} is not 1..9 or default")),
        };
        Lazy::force(&BYTES);
        Ok(Compression {
            algorithms,
            level,
            min_bytes: settings.min_bytes,
            types: Types::new(&settings.types)?,
        })
    }
}

/// Turn `resp` into the head of a `algorithm`-encoded, streamed response.
fn encoded_head(resp: &mut ResponseHeader, algorithm: Algorithm) {
    resp.remove_header(&CONTENT_LENGTH);
    resp.remove_header(&ACCEPT_RANGES);
    let _ = resp.insert_header(CONTENT_ENCODING, HeaderValue::from_static(algorithm.name()));
    // HTTP/1 needs chunked framing for a length not known ahead; HTTP/2 drops the header.
    let _ = resp.insert_header(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    // Another byte representation: a strong validator becomes weak (RFC 9110 §8.8.1).
    if let Some(etag) = resp.headers.get(ETAG) {
        let bytes = etag.as_bytes();
        if bytes.starts_with(b"\"") {
            if let Ok(weak) = HeaderValue::from_bytes(&[b"W/", bytes].concat()) {
                let _ = resp.insert_header(ETAG, weak);
            }
        } else if !bytes.starts_with(b"W/") {
            resp.remove_header(&ETAG);
        }
    }
}

/// Whether the response's `Vary` already covers `Accept-Encoding`.
fn varies_by_encoding(resp: &ResponseHeader) -> bool {
    resp.headers.get_all(VARY).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|name| {
            let name = name.trim_ascii();
            name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding")
        })
    })
}

#[async_trait]
impl Hook for Compression {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            response: true,
            response_body: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, state: &mut HookState) -> Flow {
        let header = req.header;
        let ruled_out = header.method == Method::HEAD || header.headers.contains_key(RANGE);
        let algorithm = if ruled_out {
            None
        } else {
            let lines = header.headers.get_all(ACCEPT_ENCODING).into_iter();
            negotiate::choose(lines.map(HeaderValue::as_bytes), &self.algorithms)
        };
        state.values.insert(Wanted(algorithm));
        Flow::Continue
    }

    async fn on_response(&self, resp: &mut ResponseHeader, state: &mut HookState) {
        let status = resp.status.as_u16();
        if !negotiate::compressible(status, &resp.headers, &self.types, self.min_bytes) {
            return;
        }
        if !varies_by_encoding(resp) {
            let _ = resp.append_header(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let Some(Wanted(Some(algorithm))) = state.values.get::<Wanted>().copied() else {
            return;
        };
        let level = self.level.unwrap_or(algorithm.default_level());
        match Encoder::new(algorithm, level) {
            Ok(encoder) => {
                encoded_head(resp, algorithm);
                state.values.insert(Active(Arc::new(Mutex::new(encoder))));
            }
            Err(e) => log::warn!("compression: cannot start {}: {e}", algorithm.name()),
        }
    }

    fn on_response_body(&self, body: &mut Option<Bytes>, end: bool, state: &mut HookState) {
        let Some(Active(encoder)) = state.values.get::<Active>() else {
            return;
        };
        let input = body.as_deref().unwrap_or_default();
        if input.is_empty() && !end {
            return;
        }
        let Ok(mut encoder) = encoder.lock() else {
            return;
        };
        match encoder.encode(input, end) {
            Ok(out) => {
                BYTES[0].inc_by(input.len() as u64);
                BYTES[1].inc_by(out.len() as u64);
                // An empty chunk would end an HTTP/1 chunked body early.
                *body = (!out.is_empty()).then_some(out);
            }
            Err(e) => {
                // Encoding into memory does not fail; should it, send nothing rather than
                // plain bytes inside an encoded stream.
                log::warn!("compression failed: {e}");
                *body = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
