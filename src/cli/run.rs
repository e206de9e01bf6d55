//! `drydock run SCENARIO|DIR...`.

use crate::run::launch::TransportKind;
use crate::run::{report, run_scenario, Failure, RunOptions, ScenarioReport};
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
}

/// Expands directories into their `*.scenario` files, sorted.
pub fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
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
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
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
    let files = scenario_files(&args.paths)?;
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
        }
        RunFormat::Json => {
            let doc = serde_json::json!({
                "passed": reports.len() - failed,
                "failed": failed,
                "scenarios": reports.iter().map(report::json_report).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        RunFormat::Junit => write!(out, "{}", report::junit(&reports))?,
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
