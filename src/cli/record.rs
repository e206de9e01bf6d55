//! `drydock record`: a recording proxy between dockerd and a plugin.

use crate::record::commands::{shell_function, Commands};
use crate::record::{bind, serve, Recorder, Upstream};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `drydock record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The plugin's name: the proxy listens on NAME.sock in --plugins-dir,
    /// where dockerd looks for it.
    #[arg(long, value_name = "NAME", required_unless_present = "shell_function")]
    plugin: Option<String>,
    /// Where the real plugin listens: a socket path, unix://PATH,
    /// tcp://HOST:PORT or http://HOST:PORT.
    #[arg(long, value_name = "ADDR", required_unless_present = "shell_function")]
    upstream: Option<String>,
    /// dockerd's plugin socket directory.
    #[arg(long, value_name = "DIR", default_value = "/run/docker/plugins")]
    plugins_dir: PathBuf,
    /// The recording (JSON Lines; created or truncated).
    #[arg(long, value_name = "FILE", required_unless_present = "shell_function")]
    out: Option<PathBuf>,
    /// Interleave the docker commands appended to FILE (see --shell-function),
    /// so the recording can be replayed with `drydock replay`.
    #[arg(long, value_name = "FILE")]
    commands: Option<PathBuf>,
    /// Print the bash function that appends each docker command to the
    /// --commands FILE, and exit: `eval "$(drydock record --shell-function --commands FILE)"`.
    #[arg(long, requires = "commands")]
    shell_function: bool,
    /// Do not print each call on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `drydock record` until SIGINT or SIGTERM.
pub async fn run(args: RecordArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if args.shell_function {
        let path = args.commands.as_ref().expect("clap requires --commands");
        write!(out, "{}", shell_function(path))?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(plugin), Some(upstream), Some(file)) = (&args.plugin, &args.upstream, &args.out)
    else {
        unreachable!("clap requires --plugin, --upstream and --out");
    };
    let upstream = Upstream::parse(upstream)?;
    let socket = std::path::absolute(args.plugins_dir.join(format!("{plugin}.sock")))?;
    if upstream == Upstream::Unix(socket.clone()) {
        anyhow::bail!(
            "--upstream is the proxy's own socket {}: run the plugin on another socket (or name) and pass that",
            socket.display()
        );
    }
    let mut recorder = Recorder::create(plugin, file)?.echo(!args.quiet);
    if let Some(c) = &args.commands {
        let commands = Commands::open(c).with_context(|| format!("cannot open {}", c.display()))?;
        recorder = recorder.with_commands(commands);
    }
    let recorder = Arc::new(recorder);
    let shutdown = drydock_sdk::server::shutdown_signal()?;
    let listener = bind(&socket).await?;
    eprintln!(
        "drydock record: {} → {upstream}, recording to {} (Ctrl-C to stop)",
        socket.display(),
        file.display()
    );
    match probe(&upstream).await {
        Ok(()) => {}
        Err(e) => eprintln!(
            "drydock record: warning: the plugin at {upstream} does not answer yet ({e}); calls fail until it does"
        ),
    }
    if let Some(c) = &args.commands {
        let c = std::path::absolute(c).unwrap_or_else(|_| c.clone());
        eprintln!(
            "drydock record: in the shell you run docker from:\n    eval \"$(drydock record --shell-function --commands {})\"",
            c.display()
        );
    }
    serve(listener, upstream, recorder.clone(), shutdown).await;
    let _ = std::fs::remove_file(&socket);
    eprintln!(
        "drydock record: stopped; {} call(s) in {}",
        recorder.calls(),
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn probe(upstream: &Upstream) -> std::io::Result<()> {
    match upstream {
        Upstream::Unix(p) => tokio::net::UnixStream::connect(p).await.map(drop),
        Upstream::Tcp(a) => tokio::net::TcpStream::connect(a).await.map(drop),
    }
}
