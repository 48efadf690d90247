//! An HTTPS gateway on Pingora for people who run HAProxy today: TLS offload, weighted round
//! robin with active health checks, `X-Forwarded-*`, an https redirect listener and a
//! Prometheus stats listener, configured by one YAML file.
//!
//! The pipeline: [`config::load`] turns `gateway.yaml` into a validated [`config::Config`]
//! (data only); [`runtime_config::load`] adds the objects built from it (hooks, TLS, errorfiles);
//! [`server::build`] turns that into Pingora services (one per listener, the stats listener
//! and one health-check service per backend); [`cli::run`] is the whole `gateway` command.

pub mod access_log;
pub mod acme;
pub mod admin;
pub mod body_limit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod control;
pub mod error_pages;
pub mod head_limits;
pub mod hooks;
pub mod import_haproxy;
pub mod ip_text;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod privileges;
pub mod proxy;
pub mod proxy_protocol;
pub mod regular_file;
pub mod runtime_config;
pub mod server;
pub mod state_file;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod upstream;

pub use hooks::{Flow, Hook, HookState, Phases, Registry, Reply, RequestInfo};

/// Run the `gateway` command (arguments from the process) with the hook kinds of
/// `registry`: what a custom binary's `main` calls after registering its own hooks.
pub fn run(registry: Registry) -> i32 {
    cli::run_with(std::env::args_os(), registry)
}
