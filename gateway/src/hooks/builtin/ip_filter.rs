//! `ip_filter`: `allow` / `deny` CIDR lists on the client address (IPv4 and IPv6) → 403.
//! A denied address is refused; with a non-empty `allow`, so is every address not in it.

use crate::hooks::{Flow, Hook, HookState, Phases, Reply, RequestInfo};
use crate::ip_text::{contains, parse_net};
use async_trait::async_trait;
use ipnet::IpNet;
use serde::Deserialize;

/// Settings of `ip_filter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Only these may pass (when non-empty).
    #[serde(default)]
    pub allow: Vec<String>,
    /// These never pass.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Status for refused clients; default 403.
    pub status: Option<u16>,
}

/// The `ip_filter` hook.
pub struct IpFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    status: u16,
}

fn cidrs(list: &[String], key: &str) -> Result<Vec<IpNet>, String> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            parse_net(text).ok_or_else(|| format!("{key}[{i}]: invalid CIDR {text:?}"))
        })
        .collect()
}

impl IpFilter {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<IpFilter, String> {
        if settings.allow.is_empty() && settings.deny.is_empty() {
            return Err("set `allow`, `deny` or both".into());
        }
        Ok(IpFilter {
            allow: cidrs(&settings.allow, "allow")?,
            deny: cidrs(&settings.deny, "deny")?,
            status: super::refusal_status(settings.status)?,
        })
    }
}

#[async_trait]
impl Hook for IpFilter {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        let allowed = req.client.is_some_and(|ip| {
            !contains(&self.deny, ip) && (self.allow.is_empty() || contains(&self.allow, ip))
        });
        if allowed {
            Flow::Continue
        } else {
            Flow::Respond(Reply::status(self.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::builtin::testing::{request, status_of};

    #[test]
    fn deny_wins_over_allow_for_v4_and_v6() {
        let hook = IpFilter::new(Settings {
            allow: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
            deny: vec!["10.6.6.0/24".into()],
            status: None,
        })
        .unwrap();
        let req = request("GET", "/", &[]);
        assert_eq!(status_of(&hook, &req, "10.1.2.3"), None);
        assert_eq!(status_of(&hook, &req, "10.6.6.6"), Some(403));
        assert_eq!(status_of(&hook, &req, "192.0.2.1"), Some(403));
        assert_eq!(status_of(&hook, &req, "2001:db8::1"), None);
        assert_eq!(status_of(&hook, &req, "::ffff:10.1.2.3"), None);
    }

    #[test]
    fn bad_cidr_is_refused_with_its_index() {
        let err = IpFilter::new(Settings {
            allow: vec!["10.0.0.0/8".into(), "nope".into()],
            deny: vec![],
            status: None,
        })
        .err()
        .unwrap();
        assert!(err.contains("allow[1]"), "{err}");
    }
}
