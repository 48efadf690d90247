//! `http-request`, `http-response` and `http-after-response` rules as the gateway's hooks
//! (`headers`, `deny`, `ip_filter`), the https redirect and the Prometheus exporter.

use super::acl::{Acls, Condition, Fetch, Test};
use super::notes::Notes;
use super::parse::Directive;
use super::values::literal;
use serde_json::{json, Map, Value};

/// What one rule becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A hook for the listener (frontend rules) or the routes to the backend (backend rules).
    Hook(Value),
    /// `http-request redirect scheme https` for plain connections.
    RedirectHttps {
        /// The `code`, default 302.
        status: u16,
    },
    /// `http-request use-service prometheus-exporter` at `/metrics`.
    PrometheusExporter,
}

/// The rules `d` stands for (none when it was noted instead).
pub fn http_rule(d: &Directive, acls: &Acls, notes: &mut Notes) -> Vec<Rule> {
    let args_at = 2.min(d.words.len());
    let cond_at = d.words[args_at..]
        .iter()
        .position(|w| w == "if" || w == "unless")
        .map_or(d.words.len(), |i| args_at + i);
    let condition = match acls.condition(&d.words[cond_at..]) {
        Ok(c) => c,
        Err(why) => {
            notes.lost_directive(d, why);
            return vec![];
        }
    };
    let args = &d.words[args_at..cond_at];
    let direction = match d.word(0) {
        "http-request" => "request",
        _ => "response",
    };
    match (d.word(0), d.word(1)) {
        (_, "set-header" | "add-header" | "del-header") => {
            header_rule(d, direction, args, &condition, notes)
        }
        ("http-request", "deny") => {
            let status = match args {
                [] => Some(403),
                [k, v] if k == "deny_status" => v.parse().ok(),
                _ => None,
            };
            refusal(d, status, &condition, notes)
        }
        ("http-request", "return") => {
            let status = match args {
                [] => Some(200),
                [k, v] if k == "status" => v.parse().ok(),
                _ => None,
            };
            match status {
                Some(s) if s >= 400 => refusal(d, Some(s), &condition, notes),
                _ => {
                    notes.lost_directive(d, "the gateway answers by itself only with refusals (status 400 and up, the errorfile as body)");
                    vec![]
                }
            }
        }
        ("http-request", "redirect") => redirect(d, args, &condition, notes),
        ("http-request", "use-service")
            if args.first().map(String::as_str) == Some("prometheus-exporter") =>
        {
            let at_metrics = condition.is_empty()
                || condition == vec![vec![]]
                || condition
                    == vec![vec![Test {
                        fetch: Fetch::Path,
                        value: "/metrics".into(),
                        negated: false,
                    }]];
            if !at_metrics {
                notes.lost_directive(d, "the gateway serves its metrics at /metrics");
            }
            vec![Rule::PrometheusExporter]
        }
        _ => {
            notes.lost_directive(d, "not supported by the gateway");
            vec![]
        }
    }
}

fn always(condition: &Condition) -> bool {
    condition == &vec![vec![]]
}

/// Whether the condition is exactly "the connection is (not) TLS".
fn only_tls(condition: &Condition, tls: bool) -> bool {
    matches!(condition.as_slice(), [c] if matches!(c.as_slice(), [t] if t.fetch == Fetch::Tls && t.negated != tls))
}

fn header_rule(
    d: &Directive,
    direction: &str,
    args: &[String],
    condition: &Condition,
    notes: &mut Notes,
) -> Vec<Rule> {
    let name = args.first().cloned().unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let value = args.get(1).map(String::as_str);
    if direction == "request" {
        let why = match (d.word(1), lower.as_str(), value) {
            ("del-header", "x-forwarded-for", _) => Some(
                "the gateway replaces a client's X-Forwarded-For unless it is in trusted_proxies",
            ),
            (_, "x-forwarded-port", Some("%[dst_port]")) => {
                Some("the gateway always sends X-Forwarded-Port: <listener port>")
            }
            (_, "x-forwarded-proto", Some("https")) if only_tls(condition, true) => {
                Some("the gateway always sends X-Forwarded-Proto: https on TLS listeners")
            }
            (_, "x-forwarded-proto", Some("http")) if only_tls(condition, false) => {
                Some("the gateway always sends X-Forwarded-Proto: http on plain listeners")
            }
            _ => None,
        };
        if let Some(why) = why {
            notes.unneeded_directive(d, why);
            return vec![];
        }
    }
    if !always(condition) {
        notes.lost_directive(d, "the gateway's header changes apply to every request of a listener or route; no condition");
        return vec![];
    }
    let expected = if d.word(1) == "del-header" { 1 } else { 2 };
    if name.is_empty() || args.len() != expected {
        notes.lost_directive(d, "expected a header name (and one value)");
        return vec![];
    }
    let change = match d.word(1) {
        "del-header" => json!({ "remove": [name] }),
        verb => match literal(value.unwrap_or_default()) {
            Ok(v) => {
                let key = if verb == "set-header" { "set" } else { "add" };
                json!({ key: { name: v } })
            }
            Err(why) => {
                notes.lost_directive(d, why);
                return vec![];
            }
        },
    };
    vec![Rule::Hook(json!({ "kind": "headers", direction: change }))]
}

/// `deny` or `return status N`: one hook per alternative of the condition.
fn refusal(
    d: &Directive,
    status: Option<u16>,
    condition: &Condition,
    notes: &mut Notes,
) -> Vec<Rule> {
    let Some(status) = status else {
        notes.lost_directive(d, "only `deny_status N` / `status N` are supported");
        return vec![];
    };
    let mut hooks = Vec::new();
    for conjunction in condition {
        match refusal_hook(conjunction, status) {
            Ok(hook) => hooks.push(Rule::Hook(hook)),
            Err(why) => {
                notes.lost_directive(d, why);
                return vec![];
            }
        }
    }
    hooks
}

fn refusal_hook(conjunction: &[Test], status: u16) -> Result<Value, String> {
    if !conjunction.is_empty() && conjunction.iter().all(|t| t.fetch == Fetch::Source) {
        let cidrs: Vec<&str> = conjunction.iter().map(|t| t.value.as_str()).collect();
        return match (conjunction.iter().all(|t| t.negated), conjunction.len()) {
            (true, _) => Ok(json!({ "kind": "ip_filter", "allow": cidrs, "status": status })),
            (false, 1) => Ok(json!({ "kind": "ip_filter", "deny": cidrs, "status": status })),
            _ => Err("the gateway cannot combine these address tests".into()),
        };
    }
    let mut hook = Map::new();
    hook.insert("kind".into(), json!("deny"));
    for test in conjunction {
        if test.negated {
            return Err(format!(
                "the gateway cannot refuse on a negated {:?} test",
                test.fetch
            ));
        }
        let (key, value) = match test.fetch {
            Fetch::PathPrefix => ("path_prefix", json!(test.value)),
            Fetch::Path => (
                "path_regex",
                json!(format!("^{}(\\?.*)?$", regex::escape(&test.value))),
            ),
            Fetch::PathRegex => ("path_regex", json!(test.value)),
            Fetch::Method => ("methods", json!([test.value])),
            Fetch::Host => (
                "header",
                json!({ "name": "host", "value": format!("^(?i){}(:[0-9]+)?$", regex::escape(&test.value)) }),
            ),
            Fetch::Source | Fetch::Tls => {
                return Err(format!(
                    "the gateway cannot refuse on {:?} combined with other tests",
                    test.fetch
                ))
            }
        };
        if hook.contains_key(key) {
            return Err(format!("the gateway's deny takes one {key}"));
        }
        hook.insert(key.into(), value);
    }
    hook.insert("status".into(), json!(status));
    Ok(Value::Object(hook))
}

fn redirect(d: &Directive, args: &[String], condition: &Condition, notes: &mut Notes) -> Vec<Rule> {
    let (scheme, rest) = match args {
        [kind, target, rest @ ..] if kind == "scheme" => (target.as_str(), rest),
        _ => {
            notes.lost_directive(
                d,
                "only `redirect scheme https` is supported; see the redirect hook",
            );
            return vec![];
        }
    };
    let status = match rest {
        [] => Some(302),
        [k, v] if k == "code" => v.parse().ok(),
        _ => None,
    };
    match status {
        Some(status) if scheme == "https" && (always(condition) || only_tls(condition, false)) => {
            vec![Rule::RedirectHttps { status }]
        }
        _ => {
            notes.lost_directive(
                d,
                "only `redirect scheme https [code N] unless { ssl_fc }` is supported",
            );
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(line: &str) -> (Vec<Rule>, Notes) {
        let mut acls = Acls::default();
        acls.define(
            &crate::import_haproxy::parse::split_words("admin path_beg /admin /private").unwrap(),
        )
        .unwrap();
        let d = Directive {
            line: 1,
            words: crate::import_haproxy::parse::split_words(line).unwrap(),
        };
        let mut notes = Notes::default();
        (http_rule(&d, &acls, &mut notes), notes)
    }

    #[test]
    fn forwarded_headers_are_not_needed() {
        for line in [
            "http-request set-header X-Forwarded-Port %[dst_port]",
            "http-request add-header X-Forwarded-Proto https if { ssl_fc }",
            "http-request del-header x-forwarded-for",
        ] {
            let (rules, notes) = rule(line);
            assert!(rules.is_empty(), "{line}");
            assert!(!notes.any_lost() && notes.0.len() == 1, "{line}: {notes:?}");
        }
    }

    #[test]
    fn header_changes_become_headers_hooks() {
        let (rules, _) = rule("http-response set-header Strict-Transport-Security \"max-age=600\"");
        assert_eq!(
            rules,
            [Rule::Hook(
                json!({"kind": "headers", "response": {"set": {"Strict-Transport-Security": "max-age=600"}}})
            )]
        );
        let (rules, _) = rule("http-request del-header X-Debug");
        assert_eq!(
            rules,
            [Rule::Hook(
                json!({"kind": "headers", "request": {"remove": ["X-Debug"]}})
            )]
        );
        let (rules, notes) = rule("http-request set-header X-Client %[src]");
        assert!(rules.is_empty() && notes.any_lost());
    }

    #[test]
    fn deny_becomes_one_hook_per_alternative() {
        let (rules, notes) = rule("http-request deny deny_status 404 if admin");
        assert!(!notes.any_lost());
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[1],
            Rule::Hook(json!({"kind": "deny", "path_prefix": "/private", "status": 404}))
        );
        let (rules, _) = rule("http-request deny if !{ src 10.0.0.0/8 }");
        assert_eq!(
            rules,
            [Rule::Hook(
                json!({"kind": "ip_filter", "allow": ["10.0.0.0/8"], "status": 403})
            )]
        );
        let (rules, notes) =
            rule("http-request return status 200 content-type text/plain string ok");
        assert!(rules.is_empty() && notes.any_lost());
    }

    #[test]
    fn redirects_and_the_exporter() {
        assert_eq!(
            rule("http-request redirect scheme https unless { ssl_fc }").0,
            [Rule::RedirectHttps { status: 302 }]
        );
        assert_eq!(
            rule("http-request redirect scheme https code 301 if !{ ssl_fc }").0,
            [Rule::RedirectHttps { status: 301 }]
        );
        let (rules, notes) = rule("http-request redirect location /x");
        assert!(rules.is_empty() && notes.any_lost());
        let (rules, notes) =
            rule("http-request use-service prometheus-exporter if { path /metrics }");
        assert_eq!(rules, [Rule::PrometheusExporter]);
        assert!(notes.0.is_empty());
    }
}
