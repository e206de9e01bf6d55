//! `drydock bench`: latency and throughput of a plugin's RPCs, measured with
//! the simulated engine's client so each request carries dockerd's exact bytes.
//!
//! The plugin is found and activated as dockerd finds it (`--plugin NAME` in
//! the discovery roots), or started first: a reference plugin by kind
//! (`--builtin volume|ipam|authz`) served on a private unix socket, or any
//! program (`--exec -- CMD ARGS…`, with the scenario runner's `{socket}`,
//! `{state_dir}`, `{spec_dir}` and `{name}` placeholders).

use super::{Format, RootsArgs};
use crate::bench::report::{MethodReport, Report, RunInfo};
use crate::bench::{self, Fixture, Options, Stop};
use crate::run::launch::{Dirs, Launcher, TransportKind};
use anyhow::{bail, Context};
use clap::Args;
use drydock_engine::clock::{Clock, TokioClock};
use drydock_engine::plugins::client::PluginClient;
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::plugins::registry::{Origin, Registry};
use drydock_engine::plugins::transport::Http;
use drydock_engine::scenario::{KeyValue, PluginDirective, PluginLaunch};
use drydock_engine::trace::Trace;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `drydock bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The plugin to benchmark, found as dockerd finds it; with --builtin or
    /// --exec, the name the started plugin gets [default: drydock-bench].
    #[arg(long, value_name = "NAME", required_unless_present_any = ["builtin", "exec"])]
    plugin: Option<String>,
    /// Start a reference plugin of this kind on a private unix socket first.
    #[arg(long, value_name = "KIND", value_parser = ["volume", "ipam", "authz"], conflicts_with = "exec")]
    builtin: Option<String>,
    /// With --builtin: call the plugin's handlers directly, without a socket.
    #[arg(long, requires = "builtin")]
    in_process: bool,
    /// Start the program given after `--` first: it must create `{socket}` or a
    /// spec file in `{spec_dir}` (placeholders as in scenario `exec` plugins).
    #[arg(long, requires = "argv")]
    exec: bool,
    /// The program and its arguments, after `--exec --`.
    #[arg(last = true, value_name = "CMD")]
    argv: Vec<String>,
    /// A method to benchmark (repeatable): an RPC such as VolumeDriver.Get, or
    /// VolumeDriver.Mount+Unmount / IpamDriver.RequestAddress+ReleaseAddress
    /// [default: the repeatable methods the plugin implements].
    #[arg(long = "method", value_name = "M")]
    methods: Vec<String>,
    /// Measure Get, Path and Mount+Unmount on this existing volume instead of
    /// creating one: nothing is created or removed (for plugins whose Create
    /// needs something prepared outside the plugin first).
    #[arg(long, value_name = "NAME", conflicts_with = "create_opts")]
    volume: Option<String>,
    /// An option of the benchmark volume's Create, as `docker volume create
    /// -o K=V` sends it (repeatable).
    #[arg(long = "create-opt", value_name = "K=V", value_parser = key_value)]
    create_opts: Vec<(String, String)>,
    /// Seconds to measure each method.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 5.0,
        conflicts_with = "requests"
    )]
    duration: f64,
    /// Requests to measure per method, instead of a duration.
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, value_name = "C", default_value_t = 1)]
    concurrency: usize,
    /// Independent engine clients the requests are spread over; each keeps at
    /// most two idle connections, as dockerd's one client per plugin does.
    #[arg(long, value_name = "K", default_value_t = 1)]
    connections: usize,
    /// Seconds of unmeasured load before each method.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    warmup: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the latency distribution of every method to FILE as an SVG plot.
    #[arg(long, value_name = "FILE")]
    histogram: Option<PathBuf>,
    #[command(flatten)]
    roots: RootsArgs,
}

/// `K=V` → (K, V); the value may hold `=`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not K=V (e.g. --create-opt size=1G)")),
    }
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("{what} must be a number of seconds ≥ 0"))
}

/// Runs `drydock bench`, writing the report to `out`.
pub async fn run(args: BenchArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if args.concurrency == 0 || args.connections == 0 {
        bail!("--concurrency and --connections must be at least 1");
    }
    let opts = Options {
        stop: match args.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::Duration(seconds(args.duration, "--duration")?),
        },
        concurrency: args.concurrency,
        warmup: seconds(args.warmup, "--warmup")?,
    };
    let name = args
        .plugin
        .clone()
        .unwrap_or_else(|| "drydock-bench".to_owned());
    // Plugins we start live in a private directory, like a scenario's.
    let private = tempfile::tempdir().context("cannot create a temporary directory")?;
    let clock: Arc<dyn Clock> = TokioClock::new();
    let mut launcher = None;
    let roots = if args.builtin.is_some() || args.exec {
        let dirs = Dirs {
            sockets: private.path().join("run"),
            specs: private.path().join("spec"),
            state: private.path().join("state"),
        };
        for d in [&dirs.sockets, &dirs.specs, &dirs.state] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let roots = PluginRoots {
            sockets_dir: dirs.sockets.clone(),
            spec_dirs: vec![dirs.specs.clone()],
        };
        let launch = match &args.builtin {
            Some(kind) => PluginLaunch::Builtin {
                kind: kind.clone(),
                settings: builtin_settings(kind, private.path())?,
            },
            None => PluginLaunch::Exec {
                argv: args.argv.clone(),
            },
        };
        let transport = if args.in_process {
            TransportKind::InProcess
        } else {
            TransportKind::Unix
        };
        let registry = Registry::new(roots.clone(), clock.clone(), Trace::new());
        let mut l = Launcher::new(transport, dirs);
        l.start(
            &PluginDirective {
                name: name.clone(),
                launch,
            },
            &registry,
        )
        .await?;
        launcher = Some((l, registry));
        roots
    } else {
        args.roots.roots()
    };
    let result = bench_plugin(
        &args,
        &name,
        &roots,
        launcher.as_ref().map(|l| &l.1),
        clock,
        &opts,
        out,
    )
    .await;
    if let Some((mut l, _)) = launcher {
        l.stop_all().await;
    }
    result
}

/// Settings for a reference plugin started by `--builtin`.
fn builtin_settings(kind: &str, dir: &std::path::Path) -> anyhow::Result<Vec<KeyValue>> {
    if kind != "authz" {
        return Ok(Vec::new());
    }
    // Allow everything: the benchmark measures the policy engine's walk of a
    // rule list, not a decision.
    let policy = dir.join("bench.policy");
    std::fs::write(
        &policy,
        "default allow\ndeny path=/containers/create body.HostConfig.Privileged=true \"no privileged containers\"\n",
    )
    .with_context(|| format!("cannot write {}", policy.display()))?;
    Ok(vec![KeyValue {
        key: "policy".into(),
        value: policy.display().to_string(),
    }])
}

async fn bench_plugin(
    args: &BenchArgs,
    name: &str,
    roots: &PluginRoots,
    started: Option<&Registry>,
    clock: Arc<dyn Clock>,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    // Activation goes through the registry, as dockerd's does; measured calls
    // then use fresh clients that record nothing.
    let own;
    let registry = match started {
        Some(r) => r,
        None => {
            own = Registry::new(roots.clone(), clock.clone(), Trace::new());
            &own
        }
    };
    let handle = registry
        .activate_any(name)
        .await
        .with_context(|| format!("cannot activate plugin {name}"))?;
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let transport: Arc<dyn drydock_engine::plugins::transport::Transport> = match &handle.origin
        {
            Origin::Disk(found) => Arc::new(Http::for_plugin(found)?),
            Origin::InProcess => handle.client.transport().clone(),
        };
        clients.push(PluginClient::new(name, transport, clock.clone(), None));
    }
    let methods = if args.methods.is_empty() {
        bench::default_methods(&handle.manifest)
    } else {
        args.methods.clone()
    };
    if methods.is_empty() {
        bail!(
            "plugin {name} implements {:?}: drydock knows no repeatable method of those; name one with --method",
            handle.manifest.implements.clone().unwrap_or_default()
        );
    }
    let info = RunInfo {
        plugin: name.to_owned(),
        address: handle.origin.addr(),
        concurrency: args.concurrency,
        connections: args.connections,
    };
    let mut fixture = Fixture::default()
        .existing_volume(args.volume.clone())
        .create_opts(
            (!args.create_opts.is_empty()).then(|| args.create_opts.iter().cloned().collect()),
        );
    let mut results = Vec::new();
    for method in &methods {
        let workload = match fixture.prepare(&clients[0], method).await {
            Ok(w) => Arc::new(w),
            Err(f) => {
                results.push(bench::setup_failed(method, f));
                continue;
            }
        };
        let progress = Arc::new(AtomicU64::new(0));
        let bar = progress_bar(method, opts);
        let ticker = {
            let bar = bar.clone();
            let progress = progress.clone();
            let stop = opts.stop;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                let start = tokio::time::Instant::now();
                loop {
                    tick.tick().await;
                    match stop {
                        Stop::Requests(_) => bar.set_position(progress.load(Ordering::Relaxed)),
                        Stop::Duration(_) => {
                            bar.set_position(start.elapsed().as_millis() as u64);
                            bar.set_message(format!(
                                "{} requests",
                                progress.load(Ordering::Relaxed)
                            ));
                        }
                    }
                }
            })
        };
        let r = bench::run_method(method, workload, &clients, opts, progress).await;
        ticker.abort();
        bar.finish_and_clear();
        results.push(r);
    }
    let warnings = fixture.teardown(&clients[0]).await;
    let report = Report {
        info,
        methods: results.iter().map(MethodReport::from).collect(),
        warnings,
    };
    match args.format {
        Format::Text => out.write_all(report.text().as_bytes())?,
        Format::Json => writeln!(out, "{}", report.json())?,
    }
    if let Some(path) = &args.histogram {
        let title = format!(
            "{} ({}) — concurrency {}, connections {}",
            name, report.info.address, args.concurrency, args.connections
        );
        bench::svg::write(path, &title, &results).map_err(anyhow::Error::msg)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar on stderr, hidden when stderr is not a terminal (CI logs, pipes).
fn progress_bar(method: &str, opts: &Options) -> ProgressBar {
    let (len, template) = match opts.stop {
        Stop::Requests(n) => (n, "{prefix} [{bar:30}] {pos}/{len} requests"),
        Stop::Duration(d) => (d.as_millis() as u64, "{prefix} [{bar:30}] {msg}"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(method.to_owned());
    bar
}
