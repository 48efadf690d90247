//! A `listeners:` item from a frontend's plan once every backend is known: routes to
//! converted backends only, backend hooks on the routes that lead there.

use super::backend::Backend;
use super::frontend::{ListenerPlan, MAX_EXPANSION};
use super::notes::Notes;
use super::yaml::{Entry, Item, Node};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A `listeners:` item, once the backends are known; None when it has nowhere to send
/// requests.
/// `budget` is how many more hooks and routes may be written out; a listener that would
/// exceed it is left out.
pub fn listener(
    plan: &ListenerPlan,
    backends: &BTreeMap<String, Backend>,
    budget: &mut usize,
    notes: &mut Notes,
) -> Option<Item> {
    let hooks_of = |name: &str| backends.get(name).map_or(0, |b| b.hooks.len());
    let cost = 1
        + plan.hooks.len()
        + plan
            .routes
            .iter()
            .map(|r| 1 + hooks_of(&r.2))
            .sum::<usize>()
        + plan
            .default_backend
            .as_ref()
            .map_or(0, |(name, _)| hooks_of(name));
    if cost > *budget {
        notes.lost(
            plan.lines.last().copied().unwrap_or(0),
            "bind",
            format!(
                "listener {}: over {} routes and hooks in all; not written out",
                plan.name, MAX_EXPANSION
            ),
        );
        return None;
    }
    *budget -= cost;
    let mut entries = vec![
        Entry::leaf("name", &[], plan.name.clone()),
        Entry::leaf("address", &[], plan.address.clone()),
    ];
    if let Some(pp) = &plan.proxy_protocol {
        entries.push(
            Entry::leaf("proxy_protocol", &[], pp.clone())
                .remark("HAProxy accept-proxy trusts any peer: narrow to your fronts' addresses"),
        );
    }
    if let Some((port, status, line)) = plan.redirect {
        entries.push(Entry::leaf(
            "redirect_https",
            &[line],
            json!({ "port": port, "status": status }),
        ));
        return Some(Item {
            lines: plan.lines.clone(),
            value: Node::Map(entries),
        });
    }
    if let Some(tls) = &plan.tls {
        entries.push(Entry::leaf("tls", &[], tls.clone()));
    }
    let mut routes = Vec::new();
    for (host, prefix, backend, line) in &plan.routes {
        let Some(target) = backends.get(backend) else {
            notes.lost(
                *line,
                "use_backend",
                format!("backend {backend:?} was not converted"),
            );
            continue;
        };
        let mut route = Map::new();
        if let Some(host) = host {
            route.insert("host".into(), json!(host));
        }
        if let Some(prefix) = prefix {
            route.insert("path_prefix".into(), json!(prefix));
        }
        route.insert("backend".into(), json!(backend));
        let mut lines = vec![*line];
        if !target.hooks.is_empty() {
            route.insert("hooks".into(), hook_values(&target.hooks));
            lines.extend(target.hooks.iter().map(|(_, l)| *l));
        }
        routes.push(Item {
            lines,
            value: Node::Leaf(Value::Object(route)),
        });
    }
    let default = match &plan.default_backend {
        Some((name, _)) if backends.contains_key(name) => Some(name.clone()),
        Some((name, line)) => {
            notes.lost(
                *line,
                "default_backend",
                format!("backend {name:?} was not converted"),
            );
            None
        }
        None => None,
    };
    let default = match default {
        Some(name) => name,
        None => {
            let first = plan.routes.iter().find(|r| backends.contains_key(&r.2))?;
            notes.lost(
                first.3,
                "use_backend",
                format!(
                    "listener {}: requests matching no route go to {:?} (HAProxy answers 503)",
                    plan.name, first.2
                ),
            );
            first.2.clone()
        }
    };
    let lines: Vec<usize> = plan.default_backend.iter().map(|(_, l)| *l).collect();
    entries.push(Entry::leaf("backend", &lines, default.clone()));
    if let Some(target) = backends.get(&default).filter(|b| !b.hooks.is_empty()) {
        routes.push(Item {
            lines: target.hooks.iter().map(|(_, l)| *l).collect(),
            value: Node::Leaf(json!({ "path_prefix": "/", "backend": default, "hooks": hook_values(&target.hooks) })),
        });
    }
    if !routes.is_empty() {
        entries.push(Entry::node("routes", &[], Node::List(routes)));
    }
    if !plan.hooks.is_empty() {
        let hooks = plan
            .hooks
            .iter()
            .map(|(h, line)| Item {
                lines: vec![*line],
                value: Node::Leaf(h.clone()),
            })
            .collect();
        entries.push(Entry::node("hooks", &[], Node::List(hooks)));
    }
    Some(Item {
        lines: plan.lines.clone(),
        value: Node::Map(entries),
    })
}

fn hook_values(hooks: &[(Value, usize)]) -> Value {
    Value::Array(hooks.iter().map(|(h, _)| h.clone()).collect())
}
