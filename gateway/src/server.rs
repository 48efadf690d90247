//! `model::Config -> pingora::Server`: one proxy service per listener, the stats listener, and
//! one health-check background service per checked backend.

use crate::config::model::{Config, ListenerRole};
use crate::listener::ListenerApp;
use crate::proxy::forwarded::Forwarded;
use crate::proxy::{GatewayProxy, Role};
use crate::stats::StatsApp;
use crate::upstream::Upstream;
use pingora::apps::http_app::HttpServer;
use pingora::modules::http::compression::ResponseCompressionBuilder;
use pingora::proxy::http_proxy;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::GenBackgroundService;
use pingora::services::listening::Service;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Build the Pingora server for `config`; `opt` carries Pingora's own flags (`-d`, `-u`).
pub fn build(config: &Config, opt: Opt) -> Result<Server, String> {
    let mut conf = config.server.to_server_conf();
    conf.daemon = opt.daemon;
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    let conf = server.configuration.clone();
    crate::metrics::init();

    let mut upstreams = BTreeMap::new();
    for (name, backend) in &config.backends {
        let upstream = Arc::new(Upstream::new(backend));
        if backend.health_check.is_some() {
            server.add_service(GenBackgroundService::new(
                format!("health check {name}"),
                upstream.balancer.clone(),
            ));
        }
        upstreams.insert(name.clone(), upstream);
    }

    let connections = Arc::new(Semaphore::new(config.server.max_connections));
    for listener in &config.listeners {
        let (role, tls) = match &listener.role {
            ListenerRole::RedirectHttps(redirect) => (Role::Redirect(*redirect), None),
            ListenerRole::Proxy { tls, backend } => {
                (Role::Proxy(upstreams[backend].clone()), tls.as_ref())
            }
        };
        let forwarded = Forwarded::new(
            tls.is_some(),
            listener.address.port(),
            config.trusted_proxies.clone(),
        );
        let logic = GatewayProxy::new(&listener.name, role, forwarded, config.timeouts);
        let app = ListenerApp::new(
            http_proxy(&conf, logic),
            connections.clone(),
            config.timeouts.client,
            config.timeouts.keep_alive,
        );
        let mut service = Service::new(format!("listener {}", listener.name), app);
        let address = listener.address.to_string();
        match tls {
            None => service.add_tcp(&address),
            Some(tls) => {
                let settings = crate::tls::build_tls_settings(tls)
                    .map_err(|e| format!("listener {}: {e}", listener.name))?;
                service.add_tls_with_settings(&address, None, settings);
            }
        }
        server.add_service(service);
    }

    if let Some(address) = config.stats {
        let mut app = HttpServer::new_app(StatsApp::new(upstreams.values().cloned().collect()));
        app.add_module(ResponseCompressionBuilder::enable(7));
        let mut stats = Service::new("stats".to_string(), app);
        stats.add_tcp(&address.to_string());
        server.add_service(stats);
    }
    Ok(server)
}
