//! `drydock run SCENARIO|DIR...`.

use crate::run::launch::TransportKind;
use crate::run::{report, Failure, RunOptions};
use crate::shard::Shard;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Report formats of `drydock run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Each action and the calls it caused, for people.
    Text,
    /// One JSON document with every scenario, step and call.
    Json,
    /// JUnit XML for CI systems (one testcase per scenario).
    Junit,
}

/// Options of `drydock run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, or directories searched recursively for `*.scenario`.
    #[arg(required = true, value_name = "SCENARIO|DIR")]
    paths: Vec<PathBuf>,
    /// Use this directory as /run/docker/plugins instead of the scenario's
    /// private one (to test plugins that are already running).
    #[arg(long, value_name = "DIR")]
    plugins_dir: Option<PathBuf>,
    /// Extra spec directories, searched after the scenario's private one.
    #[arg(long = "spec-dir", value_name = "DIR")]
    spec_dirs: Vec<PathBuf>,
    /// Write every plugin RPC and every action as JSON Lines to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: RunFormat,
    /// Run every step even after a failure, and report all failures.
    #[arg(long)]
    keep_going: bool,
    /// How plugins started by the scenario are reached.
    #[arg(long, value_enum, default_value = "unix")]
    transport: TransportKind,
    /// Enable an authorization plugin, as dockerd's flag does (repeatable, in order).
    #[arg(long = "authorization-plugin", value_name = "NAME")]
    authorization_plugins: Vec<String>,
    /// Seed for generated IDs (container, mount and anonymous volume IDs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Draw the run as a sequence diagram (docker CLI, dockerd, each plugin;
    /// one arrow per API request and plugin call) into FILE: .svg, .html
    /// (a page embedding the SVG) or .mmd (Mermaid text, one scenario only).
    #[arg(long, value_name = "FILE")]
    diagram: Option<PathBuf>,
    /// Run only shard K of N (1-based) of the scenario files, for a CI matrix:
    /// give every shard the same paths; together they run each file once.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
}

/// A scenario file to run, and the key `--shard` places it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFile {
    /// The file, as found.
    pub path: PathBuf,
    /// Its path relative to the directory argument it was found under (the
    /// path as given for a file argument), with `/` separators: the same on
    /// every machine and checkout, whatever order the directory lists in.
    pub key: String,
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Expands directories into their `*.scenario` files, sorted.
pub fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<ScenarioFile>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "scenario") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            out.extend(found.into_iter().map(|f| ScenarioFile {
                key: slash_path(f.strip_prefix(p).unwrap_or(&f)),
                path: f,
            }));
        } else if p.exists() {
            out.push(ScenarioFile {
                path: p.clone(),
                key: slash_path(p),
            });
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    if out.is_empty() {
        bail!(
            "no *.scenario files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

/// Runs `drydock run`; exit code 0 only if every expectation of every scenario held.
pub async fn run(args: RunArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<ExitCode> {
    let all = scenario_files(&args.paths)?;
    let total = all.len();
    let files: Vec<PathBuf> = all
        .into_iter()
        .filter(|f| match args.shard {
            Some(s) => s.owns_key(&f.key),
            None => true,
        })
        .map(|f| f.path)
        .collect();
    if let Some(s) = args.shard {
        // On stderr, so JSON and JUnit on stdout stay one document.
        if files.is_empty() {
            eprintln!(
                "drydock run: shard {s} has none of the {total} scenario files; nothing to run"
            );
        } else {
            eprintln!(
                "drydock run: shard {s} runs {} of the {total} scenario files",
                files.len()
            );
        }
    }
    if let Some(d) = &args.diagram {
        // Refuse a bad name before running anything.
        let format = crate::diagram::Format::of(d)?;
        if format == crate::diagram::Format::Mermaid && files.len() > 1 {
            bail!(
                "{}: a .mmd file holds one diagram but {} scenarios would run: give one scenario, or write .svg or .html",
                d.display(),
                files.len()
            );
        }
    }
    let opts = RunOptions {
        plugins_dir: args
            .plugins_dir
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone())),
        spec_dirs: args
            .spec_dirs
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone()))
            .collect(),
        transport: args.transport,
        keep_going: args.keep_going,
        authorization_plugins: args.authorization_plugins.clone(),
        seed: args.seed,
        interrupt: Default::default(),
    };
    // SIGINT/SIGTERM stop the run at once; the plugins are stopped and the
    // summary so far printed (a second signal exits straight away).
    let interrupt = opts.interrupt.clone();
    let watcher = tokio::spawn(watch_signals(interrupt.clone(), signals()?));
    // The runner and the plugins it serves share one thread: over unix
    // sockets each RPC is then a task switch, not a wake-up of another
    // thread (which cost more than the RPC itself on a busy machine).
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the runner's runtime")?
                .block_on(run_files(&args, &files, total, &opts, out))
        });
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    watcher.abort();
    let failed = result?;
    Ok(match interrupt.signal() {
        Some(13) => ExitCode::from(141),
        Some(s) => ExitCode::from(128 + s),
        None if failed == 0 => ExitCode::SUCCESS,
        None => ExitCode::from(1),
    })
}

/// SIGINT and SIGTERM, caught from now on (before the first step runs).
fn signals() -> anyhow::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok((
        signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
        signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
    ))
}

/// Turns the first SIGINT or SIGTERM into an interrupt of the run; exits on
/// the second.
async fn watch_signals(
    interrupt: crate::run::Interrupt,
    (mut int, mut term): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) {
    for _ in 0..2 {
        let n = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        };
        if interrupt.signal().is_some() {
            eprintln!("drydock run: interrupted again, exiting without cleaning up");
            std::process::exit(128 + i32::from(n));
        }
        interrupt.trigger(n);
    }
}

/// A bar on stderr while scenario files run: steps done, rate, file.
struct Progress {
    bar: indicatif::ProgressBar,
    pending: u64,
    shown: std::time::Instant,
}

impl Progress {
    /// Shown only when stderr is a terminal and stdout is not (on one
    /// screen, the transcript itself shows each step as it ends).
    fn new() -> Option<Progress> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() || std::io::stdout().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps {per_sec} {elapsed} {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(Progress {
            bar,
            pending: 0,
            shown: std::time::Instant::now(),
        })
    }

    fn file(&mut self, path: &Path, steps: usize) {
        self.bar.set_length(steps as u64);
        self.bar.set_position(0);
        self.bar.reset_eta();
        self.bar.set_message(path.display().to_string());
    }
}

impl crate::run::Observer for Progress {
    fn step(&mut self, _: &crate::run::StepReport, _: Option<&Failure>) {
        // The bar takes a lock per update: batch them.
        self.pending += 1;
        if self.pending >= 256 || self.shown.elapsed() >= std::time::Duration::from_millis(50) {
            self.bar.inc(self.pending);
            self.pending = 0;
            self.shown = std::time::Instant::now();
        }
    }
    fn end(&mut self, _: &crate::run::Summary) {
        self.bar.inc(self.pending);
        self.pending = 0;
    }
}

/// Keeps what `--diagram` draws: every step of every file (the only output
/// that holds a whole run in memory).
struct Diagrams {
    collector: crate::run::Collector,
    diagrams: Vec<crate::diagram::Diagram>,
}

impl crate::run::Observer for Diagrams {
    fn start(&mut self, path: &Path, description: &str) {
        self.collector.start(path, description);
    }
    fn step(&mut self, s: &crate::run::StepReport, f: Option<&Failure>) {
        self.collector.step(s, f);
    }
    fn end(&mut self, summary: &crate::run::Summary) {
        self.collector.end(summary);
        if let Some(r) = std::mem::take(&mut self.collector).into_report() {
            let source = std::fs::read_to_string(&r.path).unwrap_or_default();
            self.diagrams.push(crate::diagram::from_report(
                &r,
                &super::demo::narration(&source),
            ));
        }
    }
    fn wants_requests(&self) -> bool {
        true
    }
}

/// Runs the files, writing every report as it goes; returns how many failed.
async fn run_files(
    args: &RunArgs,
    files: &[PathBuf],
    total: usize,
    opts: &RunOptions,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<usize> {
    use crate::run::Observer as _;
    let mut trace = match &args.trace {
        Some(p) => Some(report::TraceWriter::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create trace file {}", p.display()))?,
        ))),
        None => None,
    };
    // Buffered, and flushed after every step by the writers: one write per
    // step, not one per line.
    let mut buf = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut report = match args.format {
        RunFormat::Text => Report::Text(
            report::TextWriter::new(&mut buf as &mut dyn Write)
                .stop_on_error(opts.interrupt.clone()),
        ),
        RunFormat::Json => Report::Json(
            report::JsonWriter::new(&mut buf as &mut dyn Write)
                .stop_on_error(opts.interrupt.clone()),
        ),
        RunFormat::Junit => Report::Junit(report::JunitWriter::new()?),
    };
    let mut progress = Progress::new();
    let mut diagrams = args.diagram.as_ref().map(|_| Diagrams {
        collector: Default::default(),
        diagrams: Vec::new(),
    });
    let (mut ran, mut failed) = (0, 0);
    for file in files {
        if opts.interrupt.signal().is_some() {
            break;
        }
        let loaded = crate::run::ScenarioText::load(file);
        if let (Some(p), Ok(t)) = (progress.as_mut(), &loaded) {
            p.file(t.path(), t.steps());
        }
        let mut observers: Vec<&mut dyn crate::run::Observer> = Vec::new();
        observers.push(match &mut report {
            Report::Text(o) => o,
            Report::Json(o) => o,
            Report::Junit(o) => o,
        });
        if let Some(o) = trace.as_mut() {
            observers.push(o);
        }
        if let Some(o) = progress.as_mut() {
            observers.push(o);
        }
        if let Some(o) = diagrams.as_mut() {
            observers.push(o);
        }
        let mut all = crate::run::Observers(observers);
        let summary = match loaded {
            Ok(t) => crate::run::run_observed(&t, opts, &mut all).await,
            Err(e) => {
                // Not run: a report with the error alone.
                let summary = crate::run::Summary {
                    path: file.clone(),
                    description: String::new(),
                    steps: 0,
                    calls: 0,
                    failures: vec![Failure {
                        line: match &e {
                            drydock_engine::scenario::LoadError::Parse(p) => p.pos.line,
                            _ => 0,
                        },
                        step: None,
                        command: String::new(),
                        message: e.to_string(),
                    }],
                    micros: 0,
                    interrupted: false,
                };
                all.start(file, "");
                all.end(&summary);
                summary
            }
        };
        ran += 1;
        if !summary.passed() {
            failed += 1;
        }
        if let Some(e) = trace.as_mut().and_then(|t| t.take_error()) {
            return Err(e).context("cannot write the trace file");
        }
    }
    if let Some(p) = progress {
        p.bar.finish_and_clear();
    }
    drop(trace);
    if let (Some(path), Some(d)) = (&args.diagram, diagrams) {
        crate::diagram::write(path, &d.diagrams)?;
    }
    let not_run = files.len() - ran;
    let interrupted = opts.interrupt.signal().map(|_| opts.interrupt.describe());
    let written = match report {
        Report::Text(mut w) => match w.take_error() {
            Some(e) => Err(e),
            None => {
                drop(w);
                (|| -> std::io::Result<()> {
                    writeln!(buf, "\n{} passed, {} failed", ran - failed, failed)?;
                    if let Some(s) = args.shard {
                        writeln!(buf, "shard {s}: {ran} of {total} scenario files")?;
                    }
                    if let Some(why) = &interrupted {
                        writeln!(
                            buf,
                            "interrupted by {why}: {not_run} of {} scenario files not run",
                            files.len()
                        )?;
                    }
                    buf.flush()
                })()
            }
        },
        Report::Json(w) => {
            let mut extra = serde_json::Map::new();
            if let Some(s) = args.shard {
                extra.insert(
                    "shard".into(),
                    serde_json::json!({
                        "index": s.index(), "count": s.count(), "files": ran, "of": total,
                    }),
                );
            }
            if let Some(why) = &interrupted {
                extra.insert(
                    "interrupted".into(),
                    serde_json::json!({"by": why, "not_run": not_run}),
                );
            }
            w.finish(ran - failed, failed, extra).map(|_| ())
        }
        Report::Junit(w) => w.finish(&mut buf, args.shard),
    };
    match written {
        // `drydock run … | head`: the reader has seen enough.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            opts.interrupt.trigger(13);
            Ok(failed)
        }
        Err(e) => Err(e.into()),
        Ok(()) => Ok(failed),
    }
}

/// The report written on stdout.
enum Report<'w> {
    Text(report::TextWriter<&'w mut dyn Write>),
    Json(report::JsonWriter<&'w mut dyn Write>),
    Junit(report::JunitWriter),
}
