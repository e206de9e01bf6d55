//! Subcommands of `drydock`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use drydock_engine::plugins::discovery::PluginRoots;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
pub mod demo;
mod discover;
mod fuzz;
mod plugin;
mod record;
mod replay;
mod run;
mod serve;

/// Teach, test and benchmark Docker plugins without Docker.
#[derive(Debug, Parser)]
#[command(name = "drydock", version, about, long_about = None)]
pub struct Cli {
    /// More logging on stderr (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every plugin dockerd would find, and with --activate what each implements.
    Discover(discover::DiscoverArgs),
    /// A narrated tour of what dockerd asks of plugins (no setup needed).
    Demo(demo::DemoArgs),
    /// Run scenario files against the simulated engine and check their expectations.
    Run(run::RunArgs),
    /// Serve the simulated daemon's Engine API on a socket for the docker CLI and SDKs.
    Serve(serve::ServeArgs),
    /// Run one of drydock's reference plugins (a real plugin dockerd accepts).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Measure a plugin's RPC latency and throughput with dockerd's own requests.
    Bench(bench::BenchArgs),
    /// Run random docker workloads against a plugin and check invariants after each step.
    Fuzz(fuzz::FuzzArgs),
    /// Put a recording proxy in front of a real plugin: every call dockerd makes, as JSON Lines.
    Record(record::RecordArgs),
    /// Run a recording's docker commands again in the simulated engine and compare the calls.
    Replay(replay::ReplayArgs),
}

/// The discovery roots every subcommand accepts, defaulting to dockerd's.
#[derive(Debug, Clone, Args)]
pub struct RootsArgs {
    /// Replaces /run/docker/plugins (where plugin sockets live).
    #[arg(long, value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// Replaces the spec directories (/etc/docker/plugins, /usr/lib/docker/plugins);
    /// repeat it to give several, in priority order.
    #[arg(long = "spec-dir", value_name = "DIR")]
    pub spec_dirs: Vec<PathBuf>,
}

impl RootsArgs {
    /// The roots these options select.
    ///
    /// Relative directories are made absolute: dockerd stores socket addresses as
    /// `unix://<path>`, and a relative path there would be read as a host name.
    pub fn roots(&self) -> PluginRoots {
        let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        let mut roots = PluginRoots::default();
        if let Some(dir) = &self.plugins_dir {
            roots.sockets_dir = absolute(dir);
        }
        if !self.spec_dirs.is_empty() {
            roots.spec_dirs = self.spec_dirs.iter().map(absolute).collect();
        }
        roots
    }
}

/// Output formats shared by listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For tools.
    Json,
}

/// The plugin command given after `--exec` (`fuzz`, `replay`): the `--`
/// only ends drydock's own flags.
pub(crate) fn exec_command(argv: &[String]) -> anyhow::Result<Vec<String>> {
    let argv: Vec<String> = argv
        .iter()
        .skip_while(|a| a.as_str() == "--")
        .cloned()
        .collect();
    if argv.is_empty() {
        anyhow::bail!("--exec needs a command: --exec -- ./my-plugin --socket {{socket}}");
    }
    Ok(argv)
}

/// The error when neither `--kind`, `--exec` nor a plugin directory says
/// where `plugin` is.
pub(crate) fn no_way_to_plugin(plugin: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "say how to reach plugin {plugin}: --kind KIND, --exec -- CMD…, or --plugins-dir/--spec-dir where it runs"
    )
}

/// Sets up logging to stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal: CI logs and files get plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Discover(args) => discover::run(args, &mut std::io::stdout()).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Run(args) => run::run(args, &mut std::io::stdout()).await,
        Command::Serve(args) => serve::run(args, &mut std::io::stdout()).await,
        Command::Plugin(cmd) => plugin::run(cmd).await,
        Command::Bench(args) => bench::run(args, &mut std::io::stdout()).await,
        Command::Fuzz(args) => fuzz::run(args, &mut std::io::stdout()).await,
        Command::Record(args) => record::run(args, &mut std::io::stdout()).await,
        Command::Replay(args) => replay::run(args, &mut std::io::stdout()).await,
    }
}
