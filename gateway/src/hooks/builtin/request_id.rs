//! `request_id`: a unique id per request (HAProxy `unique-id-format` + `unique-id-header`),
//! sent to the origin and to the client in `header` and written in the access log (`%ID`).
//! A client's own id is kept only with `trust_incoming`, or when the client is one of
//! `trusted_proxies`; otherwise it is replaced.
//!
//! Ids are UUID v7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits from the
//! thread's generator, so they sort by time and never need a lock.

use crate::hooks::{Flow, Hook, HookState, Phases, RequestInfo};
use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use pingora_http::{RequestHeader, ResponseHeader};
use serde::Deserialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest incoming id kept; a longer one is replaced.
pub const MAX_INCOMING_BYTES: usize = 128;

/// Settings of `request_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The header carrying the id (default `X-Request-ID`).
    #[serde(default = "default_header")]
    pub header: String,
    /// Keep an id the client sent, from any client (default false: only from
    /// `trusted_proxies`).
    #[serde(default)]
    pub trust_incoming: bool,
}

fn default_header() -> String {
    "X-Request-ID".into()
}

/// The `request_id` hook.
pub struct RequestId {
    header: HeaderName,
    trust_incoming: bool,
}

impl RequestId {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<RequestId, String> {
        let header = HeaderName::try_from(settings.header.as_str())
            .map_err(|_| format!("header: invalid header name {:?}", settings.header))?;
        Ok(RequestId {
            header,
            trust_incoming: settings.trust_incoming,
        })
    }

    /// The client's id, if it may be kept and is a sensible one (visible ASCII, not too long).
    fn incoming(&self, req: &RequestInfo<'_>) -> Option<HeaderValue> {
        let value = req.header.headers.get(&self.header)?;
        let bytes = value.as_bytes();
        let sensible = !bytes.is_empty()
            && bytes.len() <= MAX_INCOMING_BYTES
            && bytes.iter().all(|b| b.is_ascii_graphic());
        (sensible && (self.trust_incoming || req.from_trusted_proxy())).then(|| value.clone())
    }
}

/// A new UUID v7, as its 36-character text.
pub fn uuid_v7() -> HeaderValue {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let random = fastrand::u128(..);
    let value = (u128::from(millis & 0xFFFF_FFFF_FFFF) << 80)
        | (0x7 << 76)
        | (random & (0xFFF << 64))
        | (0b10 << 62)
        | (random & 0x3FFF_FFFF_FFFF_FFFF);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 36];
    let mut nibble = 32;
    for (i, slot) in text.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
        } else {
            nibble -= 1;
            *slot = HEX[((value >> (nibble * 4)) & 0xF) as usize];
        }
    }
    HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
}

#[async_trait]
impl Hook for RequestId {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            upstream_request: true,
            response: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, state: &mut HookState) -> Flow {
        state.unique_id = Some(self.incoming(req).unwrap_or_else(uuid_v7));
        Flow::Continue
    }

    async fn on_upstream_request(&self, req: &mut RequestHeader, state: &mut HookState) {
        if let Some(id) = &state.unique_id {
            let _ = req.insert_header(self.header.clone(), id.clone());
        }
    }

    async fn on_response(&self, resp: &mut ResponseHeader, state: &mut HookState) {
        if let Some(id) = &state.unique_id {
            let _ = resp.insert_header(self.header.clone(), id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::builtin::testing::request;
    use std::collections::HashSet;

    fn hook(yaml: &str) -> RequestId {
        RequestId::new(serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    /// The id `hook` gives a request with `headers` from `client`, with `10.0.0.0/8` trusted.
    fn id_for(hook: &RequestId, headers: &[(&str, &str)], client: &str) -> String {
        let req = request("GET", "/", headers);
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let info = RequestInfo {
            header: &req,
            client: client.parse().ok(),
            trusted_proxies: &trusted,
        };
        let mut state = HookState::default();
        futures::executor::block_on(hook.on_request(&info, &mut state));
        let mut upstream = request("GET", "/", headers);
        futures::executor::block_on(hook.on_upstream_request(&mut upstream, &mut state));
        let mut resp = ResponseHeader::build(200, None).unwrap();
        futures::executor::block_on(hook.on_response(&mut resp, &mut state));
        let id = state.unique_id.unwrap();
        assert_eq!(upstream.headers.get_all(&hook.header).iter().count(), 1);
        assert_eq!(upstream.headers[&hook.header], id);
        assert_eq!(resp.headers[&hook.header], id);
        id.to_str().unwrap().to_string()
    }

    #[test]
    fn ids_are_uuid_v7_and_unique() {
        let ids: HashSet<String> = (0..100_000)
            .map(|_| uuid_v7().to_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 100_000);
        let id = ids.iter().next().unwrap();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('7'), "{id}");
        assert!(matches!(parts[3].as_bytes()[0], b'8'..=b'b'), "{id}");
        let millis = u64::from_str_radix(&id.replace('-', "")[..12], 16).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(now.as_millis() as u64 - millis < 60_000);
    }

    #[test]
    fn a_client_id_is_replaced_unless_trusted() {
        let default = hook("{}");
        let sent = [("X-Request-ID", "client-chosen")];
        assert_ne!(id_for(&default, &sent, "192.0.2.1"), "client-chosen");
        assert_eq!(id_for(&default, &sent, "10.1.2.3"), "client-chosen");
        assert_eq!(id_for(&default, &[], "10.1.2.3").len(), 36);
        let trusting = hook("{ header: X-Trace, trust_incoming: true }");
        assert_eq!(id_for(&trusting, &[("X-Trace", "abc")], "192.0.2.1"), "abc");
        let long = "x".repeat(MAX_INCOMING_BYTES + 1);
        assert_ne!(id_for(&trusting, &[("X-Trace", &long)], "192.0.2.1"), long);
        assert_ne!(id_for(&trusting, &[("X-Trace", "a b")], "192.0.2.1"), "a b");
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = serde_yaml::from_str("{ header: 'bad name' }").unwrap();
        assert!(RequestId::new(bad).err().unwrap().starts_with("header:"));
        assert!(serde_yaml::from_str::<Settings>("{ trust: true }").is_err());
    }
}
