//! `drydock serve`: the simulated daemon on a socket, for the docker CLI,
//! docker-py, compose and any Engine API client.

use super::RootsArgs;
use crate::serve::Listener;
use clap::Args;
use drydock_engine::clock::TokioClock;
use drydock_engine::daemon::persist::DataRoot;
use drydock_engine::daemon::{Engine, EngineConfig};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Options of `drydock serve` (dockerd's own flag names where it has them).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: `unix://PATH` or `tcp://HOST:PORT`; repeat it for
    /// several (default: a socket in a private runtime directory, never
    /// /var/run/docker.sock).
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    hosts: Vec<String>,
    #[command(flatten)]
    roots: RootsArgs,
    /// An authorization plugin every request goes through; repeat it for a chain.
    #[arg(long = "authorization-plugin", value_name = "NAME")]
    authorization_plugins: Vec<String>,
    /// Keep the daemon's state (volumes, containers, networks) in DIR: a
    /// daemon started again on it restores them as dockerd does.
    #[arg(long = "data-root", value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// Write every plugin call and API request as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Seed for generated IDs and names (the same seed, the same IDs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `drydock serve` until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
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
    let data_root = match &args.data_root {
        None => None,
        Some(dir) => {
            let (root, saved) =
                DataRoot::open(dir).map_err(|e| anyhow::anyhow!("--data-root: {e}"))?;
            engine
                .boot(saved, root.boots())
                .await
                .map_err(|e| anyhow::anyhow!("the daemon did not start: {}", e.message))?;
            Some(Arc::new(root))
        }
    };
    // Several clients share this daemon: a wait on a created container
    // lasts until another request starts it, as on dockerd.
    engine.set_waits_block(true);
    let hosts = if args.hosts.is_empty() {
        vec![format!(
            "unix://{}",
            crate::serve::default_socket().display()
        )]
    } else {
        args.hosts
    };
    let mut listeners = Vec::new();
    let mut sockets = Vec::new();
    let mut first = None;
    for host in &hosts {
        if let Some(path) = host.strip_prefix("unix://").filter(|p| !p.is_empty()) {
            let path = std::path::absolute(path)?;
            listeners.push(Listener::Unix(crate::record::bind(&path).await?));
            first.get_or_insert_with(|| format!("unix://{}", path.display()));
            sockets.push(path);
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("-H {host}: cannot listen: {e}"))?;
            let bound = listener.local_addr()?;
            listeners.push(Listener::Tcp(listener));
            first.get_or_insert_with(|| format!("tcp://{bound}"));
        } else {
            anyhow::bail!("-H {host}: expected unix://PATH or tcp://HOST:PORT");
        }
    }
    let shutdown = drydock_sdk::server::shutdown_signal()?;
    if let Some(first) = first {
        writeln!(out, "export DOCKER_HOST={first}")?;
        out.flush()?;
    }
    let daemon = crate::serve::Daemon {
        engine,
        trace,
        data_root,
        attached: Default::default(),
    };
    crate::serve::serve(daemon, listeners, shutdown).await;
    for socket in sockets {
        let _ = std::fs::remove_file(socket);
    }
    Ok(ExitCode::SUCCESS)
}
