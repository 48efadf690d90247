//! `redirect`: rules `{ path_prefix | path_regex, to, status }`, first match wins.
//! With `path_prefix`, the prefix is replaced by `to` and the rest of the path and the query
//! kept; with `path_regex` (matched against path and query), `to` may use `$1`, `${name}`.

use crate::hooks::{Flow, Hook, HookState, Phases, Reply, RequestInfo};
use async_trait::async_trait;
use http::{header, HeaderValue};
use regex::Regex;
use serde::Deserialize;

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Match paths starting with this.
    pub path_prefix: Option<String>,
    /// Match path and query against this.
    pub path_regex: Option<String>,
    /// The Location (with captures for `path_regex`).
    pub to: String,
    /// 301, 302 (default), 303, 307 or 308.
    pub status: Option<u16>,
}

/// Settings of `redirect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

enum Matcher {
    Prefix(String),
    Regex(Regex),
}

/// The `redirect` hook.
pub struct Redirect {
    rules: Vec<(Matcher, String, u16)>,
}

impl Redirect {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<Redirect, String> {
        if settings.rules.is_empty() {
            return Err("rules: at least one rule is required".into());
        }
        let rules = settings
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let matcher = match (rule.path_prefix, rule.path_regex) {
                    (Some(prefix), None) => Matcher::Prefix(prefix),
                    (None, Some(re)) => Matcher::Regex(
                        Regex::new(&re).map_err(|e| format!("rules[{i}].path_regex: {e}"))?,
                    ),
                    _ => return Err(format!("rules[{i}]: set path_prefix or path_regex")),
                };
                let status = rule.status.unwrap_or(302);
                if ![301, 302, 303, 307, 308].contains(&status) {
                    return Err(format!("rules[{i}].status: {status} is not a redirect"));
                }
                if HeaderValue::try_from(rule.to.as_str()).is_err() {
                    return Err(format!(
                        "rules[{i}].to: {:?} is not a valid Location (no control characters such as CR or LF)",
                        rule.to
                    ));
                }
                Ok((matcher, rule.to, status))
            })
            .collect::<Result<_, String>>()?;
        Ok(Redirect { rules })
    }

    /// The Location and status for a request target, if a rule matches.
    fn location(&self, path: &str, path_and_query: &str) -> Option<(String, u16)> {
        self.rules
            .iter()
            .find_map(|(matcher, to, status)| match matcher {
                Matcher::Prefix(prefix) => path_and_query
                    .strip_prefix(prefix.as_str())
                    .filter(|_| path.starts_with(prefix.as_str()))
                    .map(|rest| (format!("{to}{rest}"), *status)),
                Matcher::Regex(re) => re.captures(path_and_query).map(|caps| {
                    let mut out = String::new();
                    caps.expand(to, &mut out);
                    (out, *status)
                }),
            })
    }
}

#[async_trait]
impl Hook for Redirect {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        let uri = &req.header.uri;
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let Some((location, status)) = self.location(uri.path(), path_and_query) else {
            return Flow::Continue;
        };
        match HeaderValue::try_from(location) {
            Ok(value) => Flow::Respond(Reply::status(status).with_header(header::LOCATION, value)),
            Err(_) => Flow::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(yaml: &str) -> Redirect {
        Redirect::new(serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn a_location_with_control_characters_is_refused() {
        let settings =
            serde_yaml::from_str("{ rules: [ { path_prefix: /a, to: \"/b\\r\\nX-Evil: 1\" } ] }")
                .unwrap();
        let error = Redirect::new(settings).err().unwrap();
        assert!(error.starts_with("rules[0].to:"), "{error}");
    }

    #[test]
    fn prefix_keeps_the_rest_and_regex_expands_captures() {
        let r = hook(
            r#"{ rules: [ { path_prefix: /old/, to: /new/, status: 301 },
                         { path_regex: '^/user/(?P<id>\d+)$', to: 'https://users.example.com/${id}/profile' } ] }"#,
        );
        assert_eq!(
            r.location("/old/a/b", "/old/a/b?x=1"),
            Some(("/new/a/b?x=1".into(), 301))
        );
        assert_eq!(
            r.location("/user/42", "/user/42"),
            Some(("https://users.example.com/42/profile".into(), 302))
        );
        assert_eq!(r.location("/user/x", "/user/x"), None);
    }

    #[test]
    fn rules_are_checked() {
        let both = "{ rules: [ { path_prefix: /a, path_regex: b, to: /c } ] }";
        assert!(Redirect::new(serde_yaml::from_str(both).unwrap()).is_err());
        let status = "{ rules: [ { path_prefix: /a, to: /c, status: 200 } ] }";
        assert!(Redirect::new(serde_yaml::from_str(status).unwrap()).is_err());
    }
}
