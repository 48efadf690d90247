//! `max_body_size`: a request whose declared (`Content-Length`) or streamed body exceeds
//! `bytes` gets 413; the chunk that crosses the limit is never forwarded.

use crate::body_limit::{self, BodyCount};
use crate::hooks::{Flow, Hook, HookState, Phases, Reply, RequestInfo};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;

/// Settings of `max_body_size`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Largest body accepted, in bytes.
    pub bytes: u64,
}

/// The `max_body_size` hook.
pub struct MaxBodySize {
    bytes: u64,
}

impl MaxBodySize {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<MaxBodySize, String> {
        Ok(MaxBodySize {
            bytes: settings.bytes,
        })
    }
}

#[async_trait]
impl Hook for MaxBodySize {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            request_body: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        let declared = body_limit::declared_length(&req.header.headers);
        if body_limit::declared_fits(declared, self.bytes) {
            Flow::Continue
        } else {
            Flow::Respond(Reply::status(413))
        }
    }

    async fn on_request_body(
        &self,
        chunk: Option<&Bytes>,
        _end: bool,
        state: &mut HookState,
    ) -> Flow {
        // Most requests have no body: their one empty call must not allocate the state map.
        let Some(chunk) = chunk.filter(|c| !c.is_empty()) else {
            return Flow::Continue;
        };
        let count = state.values.get_or_insert_default::<BodyCount>();
        if count.add(Some(chunk), self.bytes) {
            Flow::Continue
        } else {
            Flow::Respond(Reply::status(413))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::builtin::testing::{request, status_of};

    #[test]
    fn declared_and_streamed_sizes() {
        let hook = MaxBodySize::new(Settings { bytes: 10 }).unwrap();
        let big = request("POST", "/", &[("Content-Length", "11")]);
        let small = request("POST", "/", &[("Content-Length", "10")]);
        assert_eq!(status_of(&hook, &big, "::1"), Some(413));
        assert_eq!(status_of(&hook, &small, "::1"), None);

        let mut state = HookState::default();
        let chunk = Bytes::from_static(b"123456");
        let run = |state: &mut HookState| {
            futures::executor::block_on(hook.on_request_body(Some(&chunk), false, state))
        };
        assert!(matches!(run(&mut state), Flow::Continue));
        assert!(matches!(
            run(&mut state),
            Flow::Respond(Reply { status: 413, .. })
        ));
    }
}
