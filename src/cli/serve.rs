//! `drydock serve`: the simulated daemon on a socket, for the docker CLI,
//! docker-py, compose and any Engine API client.

use super::RootsArgs;
use clap::Args;
use drydock_engine::clock::TokioClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Options of `drydock serve` (dockerd's own flag names where it has them).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: `unix://PATH` (default: a private runtime directory,
    /// never /var/run/docker.sock).
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    host: Option<String>,
    #[command(flatten)]
    roots: RootsArgs,
    /// An authorization plugin every request goes through; repeat it for a chain.
    #[arg(long = "authorization-plugin", value_name = "NAME")]
    authorization_plugins: Vec<String>,
    /// Write every plugin call and API request as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Seed for generated IDs and names (the same seed, the same IDs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `drydock serve` until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let socket = match args.host.as_deref() {
        None => crate::serve::default_socket(),
        Some(h) => match h.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => std::path::absolute(p)?,
            _ => anyhow::bail!(
                "-H {h}: only unix://PATH is served so far (tcp:// is not yet supported)"
            ),
        },
    };
    let trace = match &args.trace {
        None => None,
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write the trace {}: {e}", path.display()))?;
            Some(Arc::new(
                Mutex::new(Box::new(file) as Box<dyn Write + Send>),
            ))
        }
    };
    let engine = Arc::new(Engine::new(EngineConfig {
        roots: args.roots.roots(),
        clock: TokioClock::new(),
        seed: args.seed,
    }));
    engine.set_authorization_plugins(args.authorization_plugins);
    // Several clients share this daemon: a wait on a created container
    // lasts until another request starts it, as on dockerd.
    engine.set_waits_block(true);
    let listener = crate::record::bind(&socket).await?;
    let shutdown = drydock_sdk::server::shutdown_signal()?;
    writeln!(out, "export DOCKER_HOST=unix://{}", socket.display())?;
    out.flush()?;
    crate::serve::serve(engine, listener, trace, shutdown).await;
    let _ = std::fs::remove_file(&socket);
    Ok(ExitCode::SUCCESS)
}
