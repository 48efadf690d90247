//! `model::Config -> pingora::Server`: one proxy service per listener, the stats listener, one
//! health-check background service per checked backend, and the access-log writer.

use crate::access_log::AccessLog;
use crate::config::model::{Config, ListenerRole};
use crate::hooks::Chain;
use crate::listener::{ConnectionPolicy, ListenerApp};
use crate::metrics::ListenerMetrics;
use crate::proxy::forwarded::Forwarded;
use crate::proxy::routing::{Routes, Target};
use crate::proxy::{GatewayProxy, Role};
use crate::stats::snapshot::ListenerInfo;
use crate::stats::StatsApp;
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::ListenerConfig;
use pingora::modules::http::compression::ResponseCompressionBuilder;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::http_proxy;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::GenBackgroundService;
use pingora::services::listening::Service;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Client socket buffers: a 17 KiB read buffer holds one whole TLS record (16 KiB + overhead)
/// or a large request head. Pingora's default of 64 KiB per connection made an idle TLS
/// connection cost ~95 KiB against nginx's ~15 KiB (docs/BENCHMARKS.md).
const CLIENT_SOCKET_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(17 * 1024),
    write: None,
};

/// Build the Pingora server for `config`; `opt` carries Pingora's own flags (`-d`, `-u`).
pub fn build(config: &Config, opt: Opt) -> Result<Server, String> {
    let mut conf = config.server.to_server_conf();
    conf.daemon = opt.daemon;
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    let conf = server.configuration.clone();
    crate::metrics::init();

    let mut upstreams = BTreeMap::new();
    for (name, backend) in &config.backends {
        let upstream = Upstream::new(backend);
        if backend.health_check.is_some() {
            server.add_service(GenBackgroundService::new(
                format!("health check {name}"),
                upstream.balancer.clone(),
            ));
        }
        upstreams.insert(name.clone(), upstream);
    }

    let access_log = config.access_log.as_ref().map(|settings| {
        let (logger, writer) = AccessLog::new(settings);
        server.add_service(GenBackgroundService::new(
            "access log".to_string(),
            Arc::new(writer),
        ));
        Arc::new(logger)
    });

    let connections = Arc::new(Semaphore::new(config.server.max_connections));
    let mut infos = Vec::new();
    for listener in &config.listeners {
        let (role, tls, kind) = match &listener.role {
            ListenerRole::RedirectHttps(redirect) => (Role::Redirect(*redirect), None, "redirect"),
            ListenerRole::Proxy {
                tls,
                backend,
                hooks,
                routes,
            } => {
                let target = |host: Option<&String>,
                              prefix: Option<&String>,
                              backend: &str,
                              hooks: &Chain| {
                    Target {
                        host: host.cloned(),
                        path_prefix: prefix.cloned(),
                        upstream: upstreams[backend].clone(),
                        hooks: hooks.clone(),
                    }
                };
                let routes = routes
                    .iter()
                    .map(|r| {
                        target(
                            r.host.as_ref(),
                            r.path_prefix.as_ref(),
                            &r.backend,
                            &r.hooks,
                        )
                    })
                    .collect();
                let default = target(None, None, backend, &Chain::default());
                (
                    Role::Proxy(Routes::new(hooks.clone(), routes, default)),
                    tls.as_ref(),
                    if tls.is_some() { "https" } else { "http" },
                )
            }
        };
        let metrics = Arc::new(ListenerMetrics::new(&listener.name));
        // Without a stats listener nobody can read the figures: do not record them.
        let recorded = config.stats.map(|_| metrics.clone());
        let forwarded = Forwarded::new(
            tls.is_some(),
            listener.address.port(),
            config.trusted_proxies.clone(),
        );
        let logic = GatewayProxy::new(
            &listener.name,
            role,
            config.error_pages.clone(),
            forwarded,
            config.timeouts,
            recorded.clone(),
            access_log.clone(),
        );
        let acceptor = match tls {
            None => None,
            Some(tls) => {
                let acceptor = crate::tls::build_acceptor(tls)
                    .map_err(|e| format!("listener {}: {e}", listener.name))?;
                Some(Arc::new(ArcSwap::from_pointee(acceptor)))
            }
        };
        let policy = ConnectionPolicy {
            connections: connections.clone(),
            tls: acceptor,
            head_timeout: config.timeouts.client,
            keep_alive: config.timeouts.keep_alive,
            error_pages: config.error_pages.clone(),
            null_connection_log: access_log
                .clone()
                .filter(|_| config.log_null_connections)
                .map(|log| (listener.name.clone(), log)),
        };
        let app = ListenerApp::new(http_proxy(&conf, logic), policy, recorded);
        let mut service = Service::new(format!("listener {}", listener.name), app);
        service.add_listener(
            ListenerConfig::tcp(listener.address.to_string()).l4_buffer(CLIENT_SOCKET_BUFFERS),
        );
        server.add_service(service);
        infos.push(ListenerInfo {
            name: listener.name.clone(),
            address: listener.address,
            kind,
            metrics,
        });
    }

    if let Some(stats) = config.stats {
        let app = StatsApp::new(infos, upstreams.values().cloned().collect(), stats.refresh);
        let mut app = HttpServer::new_app(app);
        app.add_module(ResponseCompressionBuilder::enable(7));
        let mut service = Service::new("stats".to_string(), app);
        service.add_tcp(&stats.address.to_string());
        server.add_service(service);
    }
    Ok(server)
}
