//! `drydock run SCENARIO|DIR...`.

use crate::run::launch::TransportKind;
use crate::run::{report, run_scenario, Failure, RunOptions, ScenarioReport};
use crate::shard::Shard;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use drydock_engine::scenario::parse_file;
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
pub async fn run(args: RunArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
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
    };
    let mut trace_file = match &args.trace {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create trace file {}", p.display()))?,
        )),
        None => None,
    };
    let mut reports = Vec::new();
    for file in &files {
        let report = match parse_file(file) {
            Ok(scenario) => run_scenario(&scenario, &opts).await,
            Err(e) => ScenarioReport {
                path: file.clone(),
                description: String::new(),
                steps: Vec::new(),
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
            },
        };
        if let Some(t) = trace_file.as_mut() {
            report::write_trace(&report, t)?;
        }
        if args.format == RunFormat::Text {
            write!(out, "{}", report::text(&report))?;
        }
        reports.push(report);
    }
    if let Some(mut t) = trace_file {
        t.flush()?;
    }
    if let Some(path) = &args.diagram {
        let diagrams: Vec<_> = reports
            .iter()
            .map(|r| {
                let source = std::fs::read_to_string(&r.path).unwrap_or_default();
                crate::diagram::from_report(r, &super::demo::narration(&source))
            })
            .collect();
        crate::diagram::write(path, &diagrams)?;
    }
    let failed = reports.iter().filter(|r| !r.passed()).count();
    match args.format {
        RunFormat::Text => {
            writeln!(
                out,
                "\n{} passed, {} failed",
                reports.len() - failed,
                failed
            )?;
            if let Some(s) = args.shard {
                writeln!(
                    out,
                    "shard {s}: {} of {total} scenario files",
                    reports.len()
                )?;
            }
        }
        RunFormat::Json => {
            let mut doc = serde_json::json!({
                "passed": reports.len() - failed,
                "failed": failed,
                "scenarios": reports.iter().map(report::json_report).collect::<Vec<_>>(),
            });
            if let Some(s) = args.shard {
                doc["shard"] = serde_json::json!({
                    "index": s.index(), "count": s.count(), "files": reports.len(), "of": total,
                });
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        RunFormat::Junit => write!(out, "{}", report::junit(&reports, args.shard))?,
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
