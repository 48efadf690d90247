//! A gateway binary with a hook of your own: kind `api_key` answers 401 unless the request
//! carries one of the configured keys in the configured header.
//!
//! ```yaml
//! listeners:
//!   - name: api
//!     address: "0.0.0.0:8443"
//!     hooks: [ { kind: api_key, header: X-Api-Key, keys: [s3cret, other] } ]
//!     backend: app
//! ```
//!
//! Build and run: `cargo run --release --example custom_hook -- -c gateway.yaml`; it takes
//! every flag the stock `gateway` takes.

use async_trait::async_trait;
use gateway::{Flow, Hook, HookState, Registry, Reply, RequestInfo};
use http::{header, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::HashSet;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The hook's YAML settings; unknown keys are errors `gateway -t` reports.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeySettings {
    /// Header carrying the key.
    header: String,
    /// Accepted keys.
    keys: Vec<String>,
}

/// Built once from its settings, shared by every request.
struct ApiKey {
    header: HeaderName,
    keys: HashSet<Vec<u8>>,
}

impl ApiKey {
    fn new(settings: ApiKeySettings) -> Result<ApiKey, String> {
        if settings.keys.is_empty() {
            return Err("keys: at least one key is required".into());
        }
        Ok(ApiKey {
            header: HeaderName::try_from(settings.header.as_str())
                .map_err(|_| format!("header: invalid header name {:?}", settings.header))?,
            keys: settings.keys.into_iter().map(String::into_bytes).collect(),
        })
    }
}

#[async_trait]
impl Hook for ApiKey {
    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        let presented = req.header.headers.get(&self.header);
        if presented.is_some_and(|key| self.keys.contains(key.as_bytes())) {
            return Flow::Continue;
        }
        Flow::Respond(
            Reply::status(401)
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey")),
        )
    }
}

fn main() {
    let mut registry = Registry::with_builtins();
    registry.register("api_key", ApiKey::new);
    std::process::exit(gateway::run(registry));
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_http::RequestHeader;

    fn answer(hook: &ApiKey, key: Option<&str>) -> Option<u16> {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        if let Some(key) = key {
            req.append_header("X-Api-Key", key).unwrap();
        }
        let info = RequestInfo {
            header: &req,
            client: None,
            trusted_proxies: &[],
        };
        match futures::executor::block_on(hook.on_request(&info, &mut HookState::default())) {
            Flow::Continue => None,
            Flow::Respond(reply) => Some(reply.status),
        }
    }

    #[test]
    fn only_listed_keys_pass() {
        let hook = ApiKey::new(ApiKeySettings {
            header: "X-Api-Key".into(),
            keys: vec!["s3cret".into()],
        })
        .unwrap();
        assert_eq!(answer(&hook, Some("s3cret")), None);
        assert_eq!(answer(&hook, Some("guess")), Some(401));
        assert_eq!(answer(&hook, None), Some(401));
    }
}
