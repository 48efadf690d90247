//! The configuration made ready to run: the model ([`Config`], data only) and the objects
//! built from it — hook chains, TLS acceptors, errorfile pages — with the checks that need
//! them (certificates load and match their keys, hook settings are valid, errorfiles parse,
//! the access log can be appended to, the user and group exist). `gateway -t`, the start and
//! every reload go through [`load`], so all three refuse the same things with the same
//! `key.path: reason`.

mod acceptor;

use crate::config::model::ListenerRole;
use crate::config::problem::Problems;
use crate::config::{self, Config, Problem};
use crate::error_pages::ErrorPages;
use crate::hooks::{Chain, Registry};
use crate::privileges::Identity;
use crate::tls::inventory;
use acceptor::TlsBuild;
use openssl::ssl::SslAcceptor;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A checked configuration and what was built from it.
pub struct RuntimeConfig {
    /// The model.
    pub config: Config,
    /// What each listener runs, in the order of `config.listeners`.
    pub listeners: Vec<ListenerObjects>,
    /// Errorfiles, read and parsed.
    pub error_pages: Arc<ErrorPages>,
    /// `server.user` / `server.group`, looked up (once: the start switches to it).
    pub identity: Option<Identity>,
    /// Things to fix soon that do not stop the configuration (a certificate near its end).
    pub warnings: Vec<Problem>,
}

/// What one listener runs, built from its part of the model.
#[derive(Clone, Default)]
pub struct ListenerObjects {
    /// The hooks of every request.
    pub hooks: Chain,
    /// The hooks of each route, in the order of the listener's routes.
    pub route_hooks: Vec<Chain>,
    /// The TLS acceptor, for a TLS listener.
    pub tls: Option<Arc<SslAcceptor>>,
    /// The certificates it serves, by name (file path, or `acme:<domain>:<key type>`).
    pub certificates: Vec<(String, inventory::Source)>,
}

/// Read, check and build the configuration at `path`, with the hook kinds of `registry`.
pub fn load(path: &Path, registry: &Registry) -> Result<RuntimeConfig, Vec<Problem>> {
    let (config, problems) = config::check(path)?;
    build_reporting(config, problems, registry)
}

/// Check and build configuration text (`path` names it and anchors relative paths).
pub fn parse(path: &Path, text: &str, registry: &Registry) -> Result<RuntimeConfig, Vec<Problem>> {
    let (config, problems) = config::check_text(path, text)?;
    build_reporting(config, problems, registry)
}

/// Build the running objects of a valid `config`, reporting every problem.
pub fn build(config: Config, registry: &Registry) -> Result<RuntimeConfig, Vec<Problem>> {
    build_reporting(config, Problems::default(), registry)
}

/// Build the running objects of `config`, adding their problems to those the model's checks
/// found (`problems`): the result only if there are none at all.
fn build_reporting(
    config: Config,
    mut problems: Problems,
    registry: &Registry,
) -> Result<RuntimeConfig, Vec<Problem>> {
    let mut warnings = Vec::new();
    if let Some(acme) = &config.acme {
        if let Err(e) = crate::acme::store::check_writable(&acme.store) {
            problems.push("acme.store", e);
        }
        if let Some(ca) = &acme.ca {
            if let Err(e) = crate::regular_file::read(ca, crate::regular_file::PEM_CAP)
                .and_then(|pem| openssl::x509::X509::from_pem(&pem).map_err(|e| e.to_string()))
            {
                problems.push("acme.ca", e);
            }
        }
    }
    let listeners = config
        .listeners
        .iter()
        .enumerate()
        .map(|(i, listener)| {
            let path = format!("listeners[{i}]");
            match &listener.role {
                ListenerRole::RedirectHttps(_) => ListenerObjects::default(),
                ListenerRole::Proxy {
                    tls, hooks, routes, ..
                } => {
                    let tls_key = format!("{path}.tls");
                    let mut built = TlsBuild {
                        problems: &mut problems,
                        warnings: &mut warnings,
                        path: &tls_key,
                        acme: config.acme.as_ref(),
                        certificates: Vec::new(),
                    };
                    let tls = tls
                        .as_ref()
                        .and_then(|tls| built.acceptor(tls))
                        .map(Arc::new);
                    let certificates = built.certificates;
                    ListenerObjects {
                        hooks: chain(&mut problems, &format!("{path}.hooks"), hooks, registry),
                        route_hooks: routes
                            .iter()
                            .enumerate()
                            .map(|(r, route)| {
                                let key = format!("{path}.routes[{r}].hooks");
                                chain(&mut problems, &key, &route.hooks, registry)
                            })
                            .collect(),
                        tls,
                        certificates,
                    }
                }
            }
        })
        .collect();

    let mut pages = HashMap::new();
    for (status, path) in &config.error_pages {
        match crate::error_pages::load(path) {
            Ok(page) => {
                pages.insert(*status, page);
            }
            Err(e) => problems.push(format!("error_pages.{status}"), e),
        }
    }
    if let Some(config::model::LogTarget::File(path)) =
        config.access_log.as_ref().map(|log| &log.target)
    {
        if let Err(e) = crate::access_log::check_writable(path) {
            problems.push("access_log.path", e);
        }
    }
    let server = &config.server;
    let mut identity = None;
    if server.user.is_some() || server.group.is_some() {
        match Identity::lookup(server.user.as_deref(), server.group.as_deref()) {
            Ok(found) => identity = Some(found),
            Err((key, reason)) => problems.push(format!("server.{key}"), reason),
        }
    }
    problems.into_result(RuntimeConfig {
        config,
        listeners,
        error_pages: Arc::new(ErrorPages::new(pages)),
        identity,
        warnings,
    })
}

/// Build the hooks of `entries` (at `path`), reporting each problem with its index.
fn chain(
    problems: &mut Problems,
    path: &str,
    entries: &[config::model::HookEntry],
    registry: &Registry,
) -> Chain {
    let mut hooks = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match registry.build(entry) {
            Ok(hook) => hooks.push(hook),
            Err(e) => problems.push(format!("{path}[{i}]"), e),
        }
    }
    Chain::new(hooks)
}
