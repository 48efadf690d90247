//! The `gateway` command line: `gateway -c FILE` runs, `gateway -t -c FILE` validates;
//! Pingora's `-d` (daemon) and `-u` (upgrade) keep their meaning.

use crate::config;
use crate::hooks::Registry;
use clap::Parser;
use pingora::server::configuration::Opt;
use std::ffi::OsString;
use std::path::PathBuf;

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
    let config = match config::load(&path, &registry) {
        Ok(config) => config,
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
    if opt.test {
        println!("gateway: {}: configuration is valid", path.display());
        return 0;
    }
    let mut server = match crate::server::build(&config, opt) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("gateway: {e}");
            return 1;
        }
    };
    server.bootstrap();
    server.run_forever()
}
