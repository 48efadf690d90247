//! The `gateway` command: see `gateway --help`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(gateway::cli::run(std::env::args_os()));
}
