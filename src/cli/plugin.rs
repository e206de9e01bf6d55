//! `drydock plugin KIND`: run a reference plugin as a real plugin process.

use anyhow::Context;
use clap::{Args, Subcommand};
use drydock_sdk::server::{serve_tcp, serve_unix, shutdown_signal};
use drydock_sdk::Plugin;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The reference plugins.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// The reference volume plugin: volumes are directories under --root.
    Volume(VolumeArgs),
    /// The reference authorization plugin: judges API requests by a policy file
    /// (see docs/authz.md); SIGHUP reloads it.
    Authz(AuthzArgs),
    /// The reference IPAM plugin: non-overlapping pools, persistent addresses
    /// (see docs/ipam.md).
    Ipam(IpamArgs),
}

/// Where a plugin listens (shared by every reference plugin).
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Plugin name: dockerd finds it as NAME (socket NAME.sock or NAME.spec).
    #[arg(long)]
    name: String,
    /// Unix socket path [default: /run/docker/plugins/NAME.sock].
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    socket: Option<PathBuf>,
    /// Listen on TCP instead, e.g. 127.0.0.1:0 (requires --spec-dir).
    #[arg(long, value_name = "ADDR", requires = "spec_dir")]
    tcp: Option<SocketAddr>,
    /// Where to write NAME.spec for dockerd when listening on TCP
    /// (dockerd reads /etc/docker/plugins).
    #[arg(long, value_name = "DIR")]
    spec_dir: Option<PathBuf>,
}

/// Options of `drydock plugin volume`.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Where the plugin keeps its state (volumes, options, outstanding mounts).
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// Where volume directories live [default: STATE_DIR/volumes].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// How far a change goes before the plugin answers: `fsync` (the journal
    /// is fdatasynced: survives a power loss) or `buffered` (written to the
    /// kernel only: survives a crash or SIGKILL of the plugin, not of the
    /// machine; for throw-away state).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Fsync)]
    durability: DurabilityArg,
}

/// `--durability` (the plugin crate's [`drydock_volume::Durability`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// fsync before answering (the default: a real plugin's promise).
    Fsync,
    /// No fsync: writes reach the kernel before the answer.
    Buffered,
}

impl From<DurabilityArg> for drydock_volume::Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::Fsync => drydock_volume::Durability::Fsync,
            DurabilityArg::Buffered => drydock_volume::Durability::Buffered,
        }
    }
}

/// Options of `drydock plugin authz`.
#[derive(Debug, Args)]
pub struct AuthzArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// The policy file (rules, first match wins, default deny).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Append one JSON line per decision to FILE.
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
}

/// Options of `drydock plugin ipam`.
#[derive(Debug, Args)]
pub struct IpamArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Where the plugin keeps its pools and held addresses.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// A range default pools are carved from (/24 for IPv4, /64 for IPv6);
    /// repeatable [default: 10.200.0.0/16 and fd00:d0c::/48].
    #[arg(long = "pool", value_name = "CIDR")]
    pools: Vec<String>,
}

/// Runs a reference plugin until SIGTERM or SIGINT.
pub async fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Volume(args) => {
            let mut config = drydock_volume::Config::new(&args.state_dir);
            if let Some(root) = args.root {
                config.root = root;
            }
            config.durability = args.durability.into();
            let plugin = drydock_volume::VolumePlugin::open(config)
                .with_context(|| {
                    format!(
                        "cannot open the volume plugin state in {}",
                        args.state_dir.display()
                    )
                })?
                .plugin();
            serve(plugin, &args.listen).await
        }
        PluginCommand::Authz(args) => {
            // An invalid policy is refused here, with its line and problem.
            let mut authz = drydock_authz::PolicyPlugin::load(&args.policy)?;
            if let Some(audit) = &args.audit {
                authz = authz
                    .with_audit(audit)
                    .with_context(|| format!("cannot open audit log {}", audit.display()))?;
            }
            reload_on_sighup(authz.clone())?;
            serve(Plugin::new().authz(authz), &args.listen).await
        }
        PluginCommand::Ipam(args) => {
            let mut config = drydock_ipam::Config::new(&args.state_dir);
            if !args.pools.is_empty() {
                config.ranges = crate::run::launch::parse_ranges(&args.pools)?;
            }
            let plugin = drydock_ipam::IpamPlugin::open(config)
                .with_context(|| {
                    format!(
                        "cannot open the IPAM plugin state in {}",
                        args.state_dir.display()
                    )
                })?
                .plugin();
            serve(plugin, &args.listen).await
        }
    }
}

/// SIGHUP re-reads the policy; an invalid new file keeps the old policy.
fn reload_on_sighup(authz: drydock_authz::PolicyPlugin) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match authz.reload() {
                Ok(()) => eprintln!("drydock plugin authz: policy reloaded"),
                Err(e) => eprintln!("drydock plugin authz: {e}; keeping the previous policy"),
            }
        }
    });
    Ok(())
}

async fn serve(plugin: Plugin, listen: &ListenArgs) -> anyhow::Result<ExitCode> {
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    match (&listen.tcp, &listen.spec_dir) {
        (Some(addr), Some(dir)) => {
            eprintln!(
                "drydock plugin {}: serving on tcp {addr}, spec file in {}",
                listen.name,
                dir.display()
            );
            serve_tcp(
                plugin,
                *addr,
                Some((dir.as_path(), listen.name.as_str())),
                shutdown,
            )
            .await
            .with_context(|| format!("plugin {} on {addr}", listen.name))?;
        }
        _ => {
            let path = listen.socket.clone().unwrap_or_else(|| {
                PathBuf::from(format!("/run/docker/plugins/{}.sock", listen.name))
            });
            eprintln!(
                "drydock plugin {}: serving on {}",
                listen.name,
                path.display()
            );
            serve_unix(plugin, &path, shutdown)
                .await
                .with_context(|| format!("plugin {} on {}", listen.name, path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
