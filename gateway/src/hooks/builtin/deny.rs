//! `deny`: HAProxy's `http-request deny`. Every condition given must match: `path_prefix`,
//! `path_regex`, `methods`, `header` (a name, and optionally a regex its value must match).

use crate::hooks::{Flow, Hook, HookState, Phases, Reply, RequestInfo};
use async_trait::async_trait;
use http::HeaderName;
use regex::Regex;
use serde::Deserialize;

/// A header condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name; present means matched when no `value` is given.
    pub name: String,
    /// Regex one of its values must match.
    pub value: Option<String>,
}

/// Settings of `deny`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The path starts with this.
    pub path_prefix: Option<String>,
    /// The path (with query) matches this regex.
    pub path_regex: Option<String>,
    /// The method is one of these.
    pub methods: Option<Vec<String>>,
    /// A header is present (and matches).
    pub header: Option<HeaderMatch>,
    /// Status of the refusal; default 403.
    pub status: Option<u16>,
}

/// The `deny` hook.
pub struct Deny {
    path_prefix: Option<String>,
    path_regex: Option<Regex>,
    methods: Option<Vec<String>>,
    header: Option<(HeaderName, Option<Regex>)>,
    status: u16,
}

fn regex(text: &str, key: &str) -> Result<Regex, String> {
    Regex::new(text).map_err(|e| format!("{key}: invalid regex: {e}"))
}

impl Deny {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<Deny, String> {
        let header = match settings.header {
            None => None,
            Some(h) => Some((
                HeaderName::try_from(h.name.as_str())
                    .map_err(|_| format!("header.name: invalid header name {:?}", h.name))?,
                h.value
                    .as_deref()
                    .map(|v| regex(v, "header.value"))
                    .transpose()?,
            )),
        };
        let deny = Deny {
            path_prefix: settings.path_prefix,
            path_regex: settings
                .path_regex
                .as_deref()
                .map(|r| regex(r, "path_regex"))
                .transpose()?,
            methods: settings
                .methods
                .map(|m| m.into_iter().map(|m| m.to_ascii_uppercase()).collect()),
            header,
            status: super::refusal_status(settings.status)?,
        };
        if deny.path_prefix.is_none()
            && deny.path_regex.is_none()
            && deny.methods.is_none()
            && deny.header.is_none()
        {
            return Err("set at least one of path_prefix, path_regex, methods, header".into());
        }
        Ok(deny)
    }

    fn matches(&self, req: &pingora_http::RequestHeader) -> bool {
        let path = req.uri.path();
        let path_and_query = req.uri.path_and_query().map_or(path, |p| p.as_str());
        self.path_prefix
            .as_ref()
            .is_none_or(|p| path.starts_with(p.as_str()))
            && self
                .path_regex
                .as_ref()
                .is_none_or(|r| r.is_match(path_and_query))
            && self
                .methods
                .as_ref()
                .is_none_or(|m| m.iter().any(|m| m == req.method.as_str()))
            && self.header.as_ref().is_none_or(|(name, value)| {
                let mut values = req.headers.get_all(name).iter();
                match value {
                    None => values.next().is_some(),
                    Some(re) => values.any(|v| v.to_str().is_ok_and(|v| re.is_match(v))),
                }
            })
    }
}

#[async_trait]
impl Hook for Deny {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        if self.matches(req.header) {
            Flow::Respond(Reply::status(self.status))
        } else {
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::builtin::testing::{request, status_of};

    fn deny(yaml: &str) -> Deny {
        Deny::new(serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn every_given_condition_must_match() {
        let hook = deny("{ path_prefix: /admin, methods: [post, DELETE], status: 405 }");
        assert_eq!(
            status_of(&hook, &request("POST", "/admin/x", &[]), "::1"),
            Some(405)
        );
        assert_eq!(
            status_of(&hook, &request("GET", "/admin/x", &[]), "::1"),
            None
        );
        assert_eq!(
            status_of(&hook, &request("POST", "/public", &[]), "::1"),
            None
        );
    }

    #[test]
    fn regex_and_header_conditions() {
        let hook = deny(
            r#"{ path_regex: '\.(git|env)', header: { name: user-agent, value: "(?i)curl" } }"#,
        );
        let curl = [("User-Agent", "curl/8.0")];
        assert_eq!(
            status_of(&hook, &request("GET", "/.env", &curl), "::1"),
            Some(403)
        );
        assert_eq!(status_of(&hook, &request("GET", "/.env", &[]), "::1"), None);
        assert_eq!(
            status_of(&hook, &request("GET", "/index", &curl), "::1"),
            None
        );
        let present = deny("{ header: { name: x-debug } }");
        assert_eq!(
            status_of(&present, &request("GET", "/", &[("X-Debug", "1")]), "::1"),
            Some(403)
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(Deny::new(serde_yaml::from_str("{ status: 403 }").unwrap()).is_err());
        assert!(Deny::new(serde_yaml::from_str("{ path_regex: '(' }").unwrap()).is_err());
        assert!(serde_yaml::from_str::<Settings>("{ path: /x }").is_err());
    }
}
