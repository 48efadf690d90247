//! `security_headers`: HSTS, `X-Frame-Options`, `X-Content-Type-Options` and
//! `Referrer-Policy` on every response, each only where the origin did not set it. Every
//! setting has a default (the preset); `null` leaves that header out.
//!
//! ```yaml
//! - { kind: security_headers, hsts: { max_age: 1y, include_subdomains: true }, frame_options: SAMEORIGIN }
//! ```

use crate::hooks::{Hook, HookState, Phases};
use async_trait::async_trait;
use http::{header, HeaderName, HeaderValue};
use pingora_http::ResponseHeader;
use serde::Deserialize;

/// `Strict-Transport-Security` settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// `max-age`: seconds, or a number with a unit `s`, `m`, `h`, `d`, `w`, `y` (default `1y`).
    #[serde(default = "one_year")]
    pub max_age: MaxAge,
    /// `includeSubDomains` (default true).
    #[serde(default = "yes")]
    pub include_subdomains: bool,
    /// `preload` (default false).
    #[serde(default)]
    pub preload: bool,
}

/// A `max-age` as written: a number of seconds or a text with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MaxAge {
    /// Seconds.
    Seconds(u64),
    /// With a unit, e.g. `1y`, `180d`.
    Text(String),
}

fn one_year() -> MaxAge {
    MaxAge::Text("1y".into())
}

fn yes() -> bool {
    true
}

impl Default for Hsts {
    fn default() -> Self {
        Hsts {
            max_age: one_year(),
            include_subdomains: true,
            preload: false,
        }
    }
}

/// Settings of `security_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `Strict-Transport-Security`.
    #[serde(default = "default_hsts")]
    pub hsts: Option<Hsts>,
    /// `X-Frame-Options` (default `DENY`).
    #[serde(default = "default_frame_options")]
    pub frame_options: Option<String>,
    /// `X-Content-Type-Options` (default `nosniff`).
    #[serde(default = "default_content_type_options")]
    pub content_type_options: Option<String>,
    /// `Referrer-Policy` (default `strict-origin-when-cross-origin`).
    #[serde(default = "default_referrer_policy")]
    pub referrer_policy: Option<String>,
}

fn default_hsts() -> Option<Hsts> {
    Some(Hsts::default())
}
fn default_frame_options() -> Option<String> {
    Some("DENY".into())
}
fn default_content_type_options() -> Option<String> {
    Some("nosniff".into())
}
fn default_referrer_policy() -> Option<String> {
    Some("strict-origin-when-cross-origin".into())
}

/// Seconds in `max_age`.
fn seconds(max_age: &MaxAge) -> Result<u64, String> {
    let text = match max_age {
        MaxAge::Seconds(seconds) => return Ok(*seconds),
        MaxAge::Text(text) => text.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let per_unit: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| per_unit > 0)
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(|| format!("hsts.max_age: invalid duration {text:?} (e.g. 31536000, 180d, 1y)"))
}

/// The `security_headers` hook: the headers to add, built once.
pub struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<SecurityHeaders, String> {
        let mut headers = Vec::new();
        if let Some(hsts) = &settings.hsts {
            let mut value = format!("max-age={}", seconds(&hsts.max_age)?);
            if hsts.include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if hsts.preload {
                value.push_str("; preload");
            }
            let value = HeaderValue::try_from(value).expect("digits and letters");
            headers.push((header::STRICT_TRANSPORT_SECURITY, value));
        }
        for (key, name, value) in [
            (
                "frame_options",
                header::X_FRAME_OPTIONS,
                settings.frame_options,
            ),
            (
                "content_type_options",
                header::X_CONTENT_TYPE_OPTIONS,
                settings.content_type_options,
            ),
            (
                "referrer_policy",
                header::REFERRER_POLICY,
                settings.referrer_policy,
            ),
        ] {
            if let Some(value) = value {
                let value = HeaderValue::try_from(value.as_str())
                    .ok()
                    .filter(|_| !value.trim().is_empty())
                    .ok_or_else(|| format!("{key}: invalid header value {value:?}"))?;
                headers.push((name, value));
            }
        }
        Ok(SecurityHeaders { headers })
    }
}

#[async_trait]
impl Hook for SecurityHeaders {
    fn phases(&self) -> Phases {
        Phases {
            response: !self.headers.is_empty(),
            ..Phases::NONE
        }
    }

    async fn on_response(&self, resp: &mut ResponseHeader, _state: &mut HookState) {
        for (name, value) in &self.headers {
            if !resp.headers.contains_key(name) {
                let _ = resp.insert_header(name.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(yaml: &str, origin: &[(&str, &str)]) -> ResponseHeader {
        let hook = SecurityHeaders::new(serde_yaml::from_str(yaml).unwrap()).unwrap();
        let mut resp = ResponseHeader::build(200, None).unwrap();
        for (name, value) in origin {
            resp.append_header(name.to_string(), *value).unwrap();
        }
        futures::executor::block_on(hook.on_response(&mut resp, &mut HookState::default()));
        resp
    }

    #[test]
    fn the_preset_adds_four_headers() {
        let resp = respond("{}", &[]);
        assert_eq!(
            resp.headers["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(resp.headers["x-frame-options"], "DENY");
        assert_eq!(resp.headers["x-content-type-options"], "nosniff");
        assert_eq!(
            resp.headers["referrer-policy"],
            "strict-origin-when-cross-origin"
        );
    }

    #[test]
    fn the_origin_s_headers_win() {
        let resp = respond(
            "{}",
            &[
                ("X-Frame-Options", "SAMEORIGIN"),
                ("Strict-Transport-Security", "max-age=60"),
            ],
        );
        assert_eq!(resp.headers["x-frame-options"], "SAMEORIGIN");
        assert_eq!(
            resp.headers
                .get_all("strict-transport-security")
                .iter()
                .count(),
            1
        );
        assert_eq!(resp.headers["strict-transport-security"], "max-age=60");
        assert_eq!(resp.headers["x-content-type-options"], "nosniff");
    }

    #[test]
    fn each_is_overridable_or_left_out() {
        let resp = respond(
            "{ hsts: { max_age: 180d, include_subdomains: false, preload: true }, frame_options: SAMEORIGIN, referrer_policy: null }",
            &[],
        );
        assert_eq!(
            resp.headers["strict-transport-security"],
            "max-age=15552000; preload"
        );
        assert_eq!(resp.headers["x-frame-options"], "SAMEORIGIN");
        assert!(resp.headers.get("referrer-policy").is_none());
        let resp = respond("{ hsts: null, frame_options: null }", &[]);
        assert!(resp.headers.get("strict-transport-security").is_none());
        assert!(resp.headers.get("x-frame-options").is_none());
        assert_eq!(
            respond("{ hsts: { max_age: 600 } }", &[]).headers["strict-transport-security"],
            "max-age=600; includeSubDomains"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let build = |yaml: &str| SecurityHeaders::new(serde_yaml::from_str(yaml).unwrap());
        assert!(build("{ hsts: { max_age: 1 year } }")
            .err()
            .unwrap()
            .starts_with("hsts.max_age"));
        assert!(build("{ frame_options: \"\" }")
            .err()
            .unwrap()
            .starts_with("frame_options"));
        assert!(serde_yaml::from_str::<Settings>("{ csp: x }").is_err());
    }
}
