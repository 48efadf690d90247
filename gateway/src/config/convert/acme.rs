//! `acme:` and `tls.acme:`: the ACME server, the store, and the names and key types each
//! listener orders. Whether the store can be written is checked with the files, in
//! `runtime_config`.

use super::values::{parse_duration, resolve};
use crate::config::defaults::bounds;
use crate::config::file::{self, AcmeSection, TlsAcmeSection};
use crate::config::model::{Acme, AcmeCertificate, AcmeKey, Listener, ListenerRole};
use crate::config::problem::Problems;
use std::path::Path;
use std::time::Duration;

/// The `acme:` section, checked against the listeners that use it.
pub fn settings(
    problems: &mut Problems,
    base: &Path,
    section: Option<&AcmeSection>,
    listeners: &[Listener],
) -> Option<Acme> {
    let ordering = listeners.iter().enumerate().find(|(_, l)| {
        matches!(&l.role, ListenerRole::Proxy { tls: Some(tls), .. } if tls.acme.is_some())
    });
    let Some(section) = section else {
        if let Some((i, _)) = ordering {
            problems.push(
                format!("listeners[{i}].tls.acme"),
                "needs an `acme:` section (directory, store)",
            );
        }
        return None;
    };
    if let Some((i, _)) = ordering {
        let answers = (listeners.iter()).any(|l| matches!(l.role, ListenerRole::RedirectHttps(_)));
        if !answers {
            problems.push(
                format!("listeners[{i}].tls.acme"),
                "HTTP-01 needs a listener with `redirect_https` (port 80 in production)",
            );
        }
    }
    directory_url(problems, &section.directory);
    if let Some(email) = &section.email {
        let valid = email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain_problem(domain).is_none() && !email.contains([' ', ','])
        });
        if !valid {
            problems.push("acme.email", format!("invalid address {email:?}"));
        }
    }
    let renew_before = section.renew_before.as_deref().and_then(|text| {
        renew_before(text)
            .map_err(|e| problems.push("acme.renew_before", e))
            .ok()
    });
    Some(Acme {
        directory: section.directory.clone(),
        email: section.email.clone(),
        store: resolve(base, &section.store),
        renew_before,
        ca: section.ca.as_deref().map(|ca| resolve(base, ca)),
    })
}

/// A listener's `tls.acme:`.
pub fn certificate(
    problems: &mut Problems,
    path: &str,
    section: &TlsAcmeSection,
) -> Option<Box<AcmeCertificate>> {
    let before = problems.count();
    if section.domains.is_empty() {
        problems.push(format!("{path}.domains"), "list at least one name");
    }
    let mut domains: Vec<String> = Vec::new();
    for (i, domain) in section.domains.iter().enumerate() {
        let lower = domain.to_ascii_lowercase();
        if let Some(reason) = domain_problem(&lower) {
            problems.push(format!("{path}.domains[{i}]"), reason);
        } else if domains.contains(&lower) {
            problems.push(format!("{path}.domains[{i}]"), format!("{domain:?} twice"));
        } else {
            domains.push(lower);
        }
    }
    let keys = match section.key.as_deref() {
        None | Some("ecdsa-p256") => vec![AcmeKey::EcdsaP256],
        Some("rsa-2048") => vec![AcmeKey::Rsa2048],
        Some("both") => vec![AcmeKey::EcdsaP256, AcmeKey::Rsa2048],
        Some(other) => {
            problems.push(
                format!("{path}.key"),
                format!("unknown key type {other:?} (ecdsa-p256, rsa-2048 or both)"),
            );
            Vec::new()
        }
    };
    (problems.count() == before).then(|| Box::new(AcmeCertificate { domains, keys }))
}

/// Why `name` cannot be ordered over HTTP-01 (no wildcards, no addresses), if it cannot.
fn domain_problem(name: &str) -> Option<String> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.starts_with("*.") {
        return Some(format!(
            "{name:?}: wildcards need DNS-01, HTTP-01 cannot prove them"
        ));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Some(format!("{name:?}: an address, not a name"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    let valid = name.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| label_ok(l));
    (!valid).then(|| format!("{name:?} is not a fully qualified DNS name"))
}

/// An `https://` URL with a host.
fn directory_url(problems: &mut Problems, url: &str) {
    let problem = match url.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_none_or(str::is_empty) => Some("has no host"),
        Ok(uri) if uri.scheme_str() != Some("https") => Some("must be an https:// URL"),
        Ok(_) => None,
        Err(_) => Some("not a URL"),
    };
    if let Some(problem) = problem {
        problems.push("acme.directory", format!("{url:?} {problem}"));
    }
}

/// `renew_before`: a duration in days (`30d`) or any shorter unit, within bounds.
fn renew_before(text: &str) -> Result<Duration, String> {
    let value = match text.strip_suffix('d') {
        Some(days) if days.bytes().all(|b| b.is_ascii_digit()) && !days.is_empty() => days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("invalid duration {text:?}"))?,
        _ => parse_duration(&file::Duration::Text(text.to_string()))?,
    };
    let range = bounds::ACME_RENEW_BEFORE;
    if !range.contains(&value) {
        return Err(format!("{text:?} must be between 1s and 365d"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_must_be_names_http01_can_prove() {
        assert_eq!(domain_problem("example.com"), None);
        assert_eq!(domain_problem("a-b.example.co.uk"), None);
        assert!(domain_problem("*.example.com").is_some());
        assert!(domain_problem("localhost").is_some());
        assert!(domain_problem("127.0.0.1").is_some());
        assert!(domain_problem("-a.example.com").is_some());
        assert!(domain_problem("a..example.com").is_some());
    }

    #[test]
    fn renew_before_takes_days() {
        assert_eq!(renew_before("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(renew_before("2h"), Ok(Duration::from_secs(7200)));
        assert!(renew_before("400d").is_err());
        assert!(renew_before("0s").is_err());
        assert!(renew_before("x").is_err());
    }

    #[test]
    fn directory_must_be_https() {
        let mut problems = Problems::default();
        directory_url(&mut problems, "https://acme.test/dir");
        assert_eq!(problems.count(), 0);
        directory_url(&mut problems, "http://acme.test/dir");
        directory_url(&mut problems, "not a url");
        directory_url(&mut problems, "https:///dir");
        assert_eq!(problems.count(), 3);
    }
}
