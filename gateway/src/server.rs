//! `RuntimeConfig -> pingora::Server`: one proxy service per listener, the stats listener, the
//! control service (health checks, admin socket, privilege drop) and the access-log writer.

use crate::access_log::AccessLog;
use crate::control::Control;
use crate::hooks::Registry;
use crate::listener::{h2_options, ConnectionLimit, ListenerApp};
use crate::live::Live;
use crate::proxy::GatewayProxy;
use crate::runtime_config::RuntimeConfig;
use crate::stats::StatsApp;
use bind::WithSockets;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::ListenerConfig;
use pingora::modules::http::compression::ResponseCompressionBuilder;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::http_proxy;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::GenBackgroundService;
use pingora::services::listening::Service;
use std::sync::Arc;

mod bind;

/// Client sockets get no read buffer of Pingora's (its default is 64 KiB per connection, held
/// for the connection's life): request heads are read into their own buffer, and OpenSSL
/// reads ahead into its record buffer, which it frees while the connection is idle
/// (`tls.rs`). An idle TLS connection cost ~95 KiB with the default (docs/BENCHMARKS.md).
const CLIENT_SOCKET_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(0),
    write: None,
};

/// Build the Pingora server for `runtime`; `opt` carries Pingora's own flags (`-d`, `-u`),
/// `registry` the hook kinds reloads build with. Also returns the running state, which the
/// signal handler reloads and saves.
pub fn build(
    runtime: &RuntimeConfig,
    opt: Opt,
    registry: Registry,
) -> Result<(Server, Arc<Live>, Arc<Control>), String> {
    let config = &runtime.config;
    let mut sockets = bind::all(config, !opt.upgrade)?;
    let mut conf = config.server.to_server_conf();
    conf.daemon = opt.daemon;
    // Pingora's I/O timeouts of a second or more (origin reads and writes: `timeouts.server`;
    // client reads) on Tokio's timer instead of Pingora's shared 10 ms ticks: the same
    // deadlines, and an I/O ready at once reads no clock. Shorter ones stay on Pingora's timer.
    conf.fast_timeout_to_tokio_threshold_seconds = Some(0);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    let conf = server.configuration.clone();
    crate::metrics::init();
    let live = Live::new(runtime, registry)?;
    live.discover_now();

    let access_log = config.access_log.as_ref().map(|settings| {
        let (logger, writer) = AccessLog::new(settings);
        server.add_service(GenBackgroundService::new(
            "access log".to_string(),
            Arc::new(writer),
        ));
        Arc::new(logger)
    });

    let connections = ConnectionLimit::new(config.server.max_connections);
    for slot in &live.listeners {
        // Without a stats listener nobody can read the figures: do not record them.
        let recorded = config.stats.map(|_| slot.metrics.clone());
        let logic = GatewayProxy::new(slot.clone(), recorded.clone(), access_log.clone());
        let mut proxy = http_proxy(&conf, logic);
        proxy.h2_options = Some(h2_options(&config.limits));
        let app = ListenerApp::new(
            proxy,
            slot.clone(),
            connections.clone(),
            recorded,
            access_log.clone(),
            config.log_null_connections,
        );
        let mut service = Service::new(format!("listener {}", slot.name), app);
        service.add_listener(
            ListenerConfig::tcp(slot.address.to_string()).l4_buffer(CLIENT_SOCKET_BUFFERS),
        );
        server.add_service(WithSockets::new(
            service,
            bind::take(&mut sockets, slot.address),
        ));
    }

    let mut ports: Vec<u16> = live.listeners.iter().map(|l| l.address.port()).collect();
    if let Some(stats) = config.stats {
        let app = StatsApp::new(live.clone(), stats.refresh)
            .with_names(stats.gateway_names, stats.haproxy_names);
        let mut app = HttpServer::new_app(app);
        app.add_module(ResponseCompressionBuilder::enable(7));
        let mut service = Service::new("stats".to_string(), app);
        service.add_tcp(&stats.address.to_string());
        server.add_service(WithSockets::new(
            service,
            bind::take(&mut sockets, stats.address),
        ));
        ports.push(stats.address.port());
    }

    let identity = runtime.identity.map(|identity| (identity, ports));
    let control = Arc::new(Control::new(
        live.clone(),
        config
            .admin_socket
            .clone()
            .map(|path| (path, config.admin_timeout)),
        identity,
    ));
    server.add_service(GenBackgroundService::new(
        "control".to_string(),
        control.clone(),
    ));
    server.add_service(GenBackgroundService::new(
        "acme".to_string(),
        Arc::new(crate::acme::AcmeService),
    ));
    Ok((server, live, control))
}
