//! `drydock`: teach, test and benchmark Docker plugins without Docker.

use clap::Parser;

// The engine and the SDK allocate many small, short-lived values per plugin
// call (bodies, names, IDs); mimalloc serves those with about a fifth fewer
// instructions per lifecycle than glibc's malloc (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = drydock::cli::Cli::parse();
    drydock::cli::init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drydock: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(drydock::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("drydock: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
