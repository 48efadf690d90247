//! The `gateway` command line: `gateway -c FILE` runs, `gateway -t -c FILE` validates;
//! Pingora's `-d` (daemon) and `-u` (upgrade: take the sockets of the running process, which
//! is then sent SIGQUIT) keep their meaning.

use crate::control::Signals;
use crate::hooks::Registry;
use crate::state_file;
use clap::Parser;
use pingora::server::configuration::Opt;
use pingora::server::RunArgs;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// A state file older than this at an upgrade is not the old process's hand-over.
const HAND_OVER_FRESHNESS: f64 = 60.0;

/// An HTTPS gateway on Pingora, configured by one YAML file.
#[derive(Parser, Debug)]
#[command(name = "gateway", version, about)]
struct Cli {
    #[command(flatten)]
    pingora: Opt,
}

/// Run the command with `args` (the program name first) and the built-in hooks; returns the
/// exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    run_with(args, Registry::with_builtins())
}

/// Run the command with `args` and the hook kinds of `registry`; returns the exit code.
pub fn run_with(args: impl IntoIterator<Item = OsString>, registry: Registry) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // `gateway import-haproxy ...` is a converter, not a run: no logger, no Pingora options.
    if args.get(1).is_some_and(|a| a == "import-haproxy") {
        return crate::import_haproxy::run(&args[2..]);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut opt = cli.pingora;
    let Some(path) = opt.conf.take().map(PathBuf::from) else {
        eprintln!("gateway: no configuration file: use -c FILE");
        return 2;
    };
    let runtime = match crate::runtime_config::load(&path, &registry) {
        Ok(runtime) => runtime,
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!(
                "gateway: {}: {} problem(s), configuration refused",
                path.display(),
                problems.len()
            );
            return 1;
        }
    };
    for warning in &runtime.warnings {
        log::warn!("{warning}");
        if opt.test {
            eprintln!("warning: {warning}");
        }
    }
    if opt.test {
        println!("gateway: {}: configuration is valid", path.display());
        return 0;
    }
    crate::control::ignore_hangup_until_ready();
    crate::control::raise_open_file_limit(runtime.config.server.max_connections);
    let upgrade = opt.upgrade;
    let built = match crate::server::build(&runtime, opt, registry) {
        Ok(built) => built,
        Err(e) => {
            eprintln!("gateway: {e}");
            return 1;
        }
    };
    let (mut server, live, control) = built;
    // Only the listener states hold the hooks now, so a reload frees them (a cache's objects).
    drop(runtime.listeners);
    let config = runtime.config;
    // With -u this waits for the old process's sockets; it writes its state just before.
    server.bootstrap();
    if upgrade {
        let fresh = state_file::read(&live.state_file)
            .filter(|s| crate::metrics::unix_now() - s.written < HAND_OVER_FRESHNESS);
        if let Some(state) = fresh {
            state_file::restore(&live, &state);
            let settings = &config.server;
            let old_lifetime = settings.grace_period
                + settings.graceful_shutdown_timeout
                + Duration::from_secs(15);
            control.follow(state, old_lifetime);
        }
    }
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals::new(live.clone())),
    });
    state_file::save(&live, true);
    0
}
