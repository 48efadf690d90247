//! `headers`: `request` and `response`, each with `set` (replace), `add` (append) and
//! `remove`. Request changes apply to what the origin receives; response changes to what the
//! client receives.

use crate::hooks::{Hook, HookState, Phases};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora_http::{RequestHeader, ResponseHeader};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Changes to one direction's headers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Replace (or create) these.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append these.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove these.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Settings of `headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Changes to the request sent upstream.
    #[serde(default)]
    pub request: Changes,
    /// Changes to the response sent to the client.
    #[serde(default)]
    pub response: Changes,
}

/// Parsed, validated changes. Names to write are kept as the operator spelled them (`Bytes`:
/// a cheap clone per request, and the case is preserved on HTTP/1).
#[derive(Default)]
struct Plan {
    set: Vec<(Bytes, HeaderValue)>,
    add: Vec<(Bytes, HeaderValue)>,
    remove: Vec<HeaderName>,
}

fn plan(changes: Changes, side: &str) -> Result<Plan, String> {
    let name = |n: &str, key: &str| {
        HeaderName::try_from(n).map_err(|_| format!("{side}.{key}: invalid header name {n:?}"))
    };
    let pair = |(n, v): (String, String), key: &str| -> Result<(Bytes, HeaderValue), String> {
        let value = HeaderValue::try_from(v.as_str())
            .map_err(|_| format!("{side}.{key}.{n}: invalid header value"))?;
        name(&n, key)?;
        Ok((Bytes::from(n), value))
    };
    Ok(Plan {
        set: changes
            .set
            .into_iter()
            .map(|p| pair(p, "set"))
            .collect::<Result<_, _>>()?,
        add: changes
            .add
            .into_iter()
            .map(|p| pair(p, "add"))
            .collect::<Result<_, _>>()?,
        remove: changes
            .remove
            .iter()
            .map(|n| name(n, "remove"))
            .collect::<Result<_, _>>()?,
    })
}

/// The `headers` hook.
pub struct Headers {
    request: Plan,
    response: Plan,
}

impl Headers {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<Headers, String> {
        Ok(Headers {
            request: plan(settings.request, "request")?,
            response: plan(settings.response, "response")?,
        })
    }
}

macro_rules! apply {
    ($plan:expr, $header:expr) => {{
        for name in &$plan.remove {
            $header.remove_header(name);
        }
        for (name, value) in &$plan.set {
            let _ = $header.insert_header(name.clone(), value.clone());
        }
        for (name, value) in &$plan.add {
            let _ = $header.append_header(name.clone(), value.clone());
        }
    }};
}

#[async_trait]
impl Hook for Headers {
    fn phases(&self) -> Phases {
        let edits = |p: &Plan| !(p.set.is_empty() && p.add.is_empty() && p.remove.is_empty());
        Phases {
            upstream_request: edits(&self.request),
            response: edits(&self.response),
            ..Phases::NONE
        }
    }

    async fn on_upstream_request(&self, req: &mut RequestHeader, _state: &mut HookState) {
        apply!(self.request, req);
    }

    async fn on_response(&self, resp: &mut ResponseHeader, _state: &mut HookState) {
        apply!(self.response, resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_add_and_remove_in_both_directions() {
        let hook = Headers::new(
            serde_yaml::from_str(
                "{ request: { set: { X-A: '1' }, remove: [cookie] }, response: { set: { Cache-Control: max-age=600 }, add: { Via: gw } } }",
            )
            .unwrap(),
        )
        .unwrap();
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("X-A", "0").unwrap();
        req.append_header("Cookie", "s=1").unwrap();
        futures::executor::block_on(hook.on_upstream_request(&mut req, &mut HookState::default()));
        assert_eq!(req.headers["x-a"], "1");
        assert!(req.headers.get("cookie").is_none());

        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.append_header("Via", "origin").unwrap();
        futures::executor::block_on(hook.on_response(&mut resp, &mut HookState::default()));
        assert_eq!(resp.headers["cache-control"], "max-age=600");
        assert_eq!(resp.headers.get_all("via").iter().count(), 2);
    }

    #[test]
    fn invalid_names_are_refused() {
        let bad = serde_yaml::from_str("{ response: { set: { 'Bad Name': x } } }").unwrap();
        assert!(Headers::new(bad).err().unwrap().contains("response.set"));
    }
}
