//! `drydock demo`: a narrated tour of what dockerd asks of plugins.
//!
//! The tour is a scenario (`scenarios/demo.scenario`, embedded in the binary)
//! whose `## ` comment lines narrate the next step. The scenario runs against
//! the reference plugins over unix sockets in temporary directories; then each
//! step is shown with its narration, the docker command, and the plugin calls
//! it caused with their latency.

use crate::run::launch::TransportKind;
use crate::run::{report, run_scenario, RunOptions, ScenarioReport};
use anyhow::Context;
use clap::Args;
use drydock_engine::scenario::parse;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The built-in tour.
pub const DEMO: &str = include_str!("../../scenarios/demo.scenario");
/// The authz policy the tour's `guard` plugin reads (`policy=demo.policy`).
pub const DEMO_POLICY: &str = include_str!("../../scenarios/demo.policy");

/// Options of `drydock demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pause between steps (press Enter to go on), for a live talk.
    #[arg(long)]
    step: bool,
    /// Tour this scenario instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// How the tour's plugins are reached.
    #[arg(long, value_enum, default_value = "unix")]
    transport: TransportKind,
    /// Also draw the tour as a sequence diagram into FILE: .svg, .html (with
    /// the narration) or .mmd (Mermaid text).
    #[arg(long, value_name = "FILE")]
    diagram: Option<PathBuf>,
    #[command(flatten)]
    roots: super::RootsArgs,
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The `## ` narration of each docker line (directives in between are skipped),
/// by the line of that docker command.
pub fn narration(source: &str) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    let mut pending: Vec<&str> = Vec::new();
    for (i, line) in source.lines().enumerate() {
        if let Some(text) = line.strip_prefix("## ") {
            pending.push(text);
        } else if line.starts_with("docker ") && !pending.is_empty() {
            out.insert(i as u32 + 1, pending.join(" "));
            pending.clear();
        }
    }
    out
}

/// Renders a finished tour.
pub fn transcript(source: &str, report: &ScenarioReport, color: bool) -> String {
    let style = Style { color };
    let notes = narration(source);
    let mut out = String::new();
    out.push_str(&style.paint(
        "1",
        "drydock demo — a simulated dockerd 20.10 and real plugin processes\n",
    ));
    for step in &report.steps {
        if step.index.is_none() {
            if let Some(p) = step.text.strip_prefix("#@ plugin ") {
                out.push_str(&style.paint(
                    "2",
                    &format!("\n(started plugin {p} in a private /run/docker/plugins)\n"),
                ));
            }
            continue;
        }
        out.push('\n');
        if let Some(note) = notes.get(&step.line) {
            out.push_str(&style.paint("36", &format!("# {note}\n")));
        }
        out.push_str(&style.paint("1", &format!("$ {}\n", step.text)));
        if step.calls.is_empty() {
            out.push_str(&style.paint("2", "    (no plugin calls)\n"));
        }
        for c in &step.calls {
            out.push_str(&format!("    → {}\n", report::call_line(c)));
        }
        match &step.outcome.error {
            None => {
                for line in step.outcome.stdout.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            Some(e) => {
                out.push_str(&style.paint("31", &format!("    Error response from daemon: {e}\n")))
            }
        }
    }
    out.push('\n');
    if report.passed() {
        out.push_str(&format!(
            "Every call above matched the scenario's expectations ({} steps, {} plugin calls).\n",
            report.steps.iter().filter(|s| s.index.is_some()).count(),
            report.calls()
        ));
    } else {
        for f in &report.failures {
            out.push_str(&style.paint("31", &format!("line {}: {}\n", f.line, f.message)));
        }
    }
    out
}

/// Runs `drydock demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (name, source) = match &args.scenario {
        Some(p) => (
            p.clone(),
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => (PathBuf::from("scenarios/demo.scenario"), DEMO.to_owned()),
    };
    // The built-in tour's files beside each other in a temporary directory,
    // so that `policy=demo.policy` is found wherever drydock runs from.
    let embedded = match &args.scenario {
        Some(_) => None,
        None => {
            let dir = tempfile::Builder::new().prefix("drydock-demo-").tempdir()?;
            std::fs::write(dir.path().join("demo.policy"), DEMO_POLICY)
                .context("cannot write the demo's policy file")?;
            Some(dir)
        }
    };
    let name = match &embedded {
        Some(dir) => dir.path().join("demo.scenario"),
        None => name,
    };
    let scenario = parse(name, source.as_bytes())?;
    if let Some(d) = &args.diagram {
        crate::diagram::Format::of(d)?;
    }
    let opts = RunOptions {
        transport: args.transport,
        plugins_dir: args
            .roots
            .plugins_dir
            .as_ref()
            .map(|_| args.roots.roots().sockets_dir),
        spec_dirs: if args.roots.spec_dirs.is_empty() {
            Vec::new()
        } else {
            args.roots.roots().spec_dirs
        },
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    if let Some(path) = &args.diagram {
        let diagram = crate::diagram::from_report(&report, &narration(&source));
        crate::diagram::write(path, &[diagram])?;
    }
    let color = std::io::stdout().is_terminal();
    let text = transcript(&source, &report, color);
    let mut stdout = std::io::stdout();
    if args.step {
        let stdin = std::io::stdin();
        for chunk in text.split("\n\n") {
            writeln!(stdout, "{chunk}\n")?;
            stdout.flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
        }
    } else {
        write!(stdout, "{text}")?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
