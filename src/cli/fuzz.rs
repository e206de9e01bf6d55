//! `drydock fuzz`: random docker workloads against one plugin, with the
//! invariants of docs/invariants.md checked after every step.

use crate::fuzz::gen::FuzzProtocol;
use crate::fuzz::{confirm, fuzz, rerun_lines, FuzzOptions, FuzzReport, Launch};
use crate::run::launch::TransportKind;
use crate::shard::Shard;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Report formats of `drydock fuzz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FuzzFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML (one testcase).
    Junit,
}

/// Options of `drydock fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// The plugin under test (its name in scenarios and discovery).
    #[arg(long, value_name = "NAME")]
    plugin: String,
    /// Start a built-in plugin of this kind (volume, ipam, or a test kind).
    #[arg(long, value_name = "KIND", conflicts_with = "exec")]
    kind: Option<String>,
    /// A setting of the built-in kind, `KEY=VALUE` (repeatable): `--setting policy=FILE`.
    #[arg(long = "setting", value_name = "KEY=VALUE", requires = "kind")]
    settings: Vec<String>,
    /// Which commands to generate and which invariants to check.
    #[arg(long, value_enum, default_value = "volume")]
    protocol: FuzzProtocol,
    /// Number of cases.
    #[arg(long, default_value_t = 256)]
    cases: u32,
    /// Seed of the case generator (printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Most steps per case.
    #[arg(long, default_value_t = 12)]
    steps: usize,
    /// Where to write the shrunk counterexample scenario.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "fuzz-counterexample.scenario"
    )]
    out: PathBuf,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: FuzzFormat,
    /// How a started plugin is reached.
    #[arg(long, value_enum, default_value = "in-process")]
    transport: TransportKind,
    /// Use this directory as /run/docker/plugins (a plugin already running).
    #[arg(long, value_name = "DIR")]
    plugins_dir: Option<PathBuf>,
    /// Extra spec directories.
    #[arg(long = "spec-dir", value_name = "DIR")]
    spec_dirs: Vec<PathBuf>,
    /// Never run commands at once. By default some steps are groups of
    /// commands on different containers run concurrently (a counterexample
    /// is written one step at a time whenever that still fails).
    #[arg(long)]
    sequential: bool,
    /// Never restart the plugin (`#@ restart-plugin`): for plugins that keep
    /// their state in memory only.
    #[arg(long)]
    no_restart_plugin: bool,
    /// Start the plugin as a program (placeholders as in `#@ plugin NAME exec`):
    /// `--exec -- ./my-plugin --socket {socket}`.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "CMD")]
    exec: Option<Vec<String>>,
    /// Make the plugin path misbehave in every case: the text of a `#@ fault`
    /// directive (docs/faults.md), e.g. `--fault 'p VolumeDriver.Create drop
    /// answer always'`. Repeatable; applied in order before each case.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Run only shard K of N (1-based) of the cases, for a CI matrix: case i
    /// (from 0) is shard (i mod N) + 1's. Needs --seed, the same on every shard.
    #[arg(long, value_name = "K/N", requires = "seed")]
    shard: Option<Shard>,
}

/// The line saying which cases a shard ran: its case numbers (elided in
/// the middle when many) and how many of the whole run they are.
pub fn shard_line(shard: Shard, cases: u32) -> String {
    let total = u64::from(cases);
    let n = u64::from(shard.count());
    let first = u64::from(shard.index() - 1);
    let mine = shard.cases_of(total);
    let numbers: Vec<String> = if mine <= 6 {
        (0..mine).map(|j| (first + j * n).to_string()).collect()
    } else {
        let mut v: Vec<String> = (0..3).map(|j| (first + j * n).to_string()).collect();
        v.push("…".into());
        v.push((first + (mine - 1) * n).to_string());
        v
    };
    format!(
        "shard {shard}: cases {} (case i with i mod {n} = {first}; {mine} of {total})",
        if numbers.is_empty() {
            "none".to_owned()
        } else {
            numbers.join(", ")
        }
    )
}

/// `--fault SPEC` → a checked `#@ fault SPEC` line (`#@ fault` may be
/// written too).
fn fault_line(spec: &str) -> anyhow::Result<String> {
    let s = spec.trim();
    let s = s.strip_prefix("#@").map_or(s, str::trim_start);
    let s = s.strip_prefix("fault ").map_or(s, str::trim_start);
    let line = format!("#@ fault {s}");
    drydock_engine::scenario::parse("--fault", line.as_bytes())
        .map_err(|e| anyhow::anyhow!("--fault {spec:?}: {e}"))?;
    Ok(line)
}

fn options(args: &FuzzArgs) -> anyhow::Result<FuzzOptions> {
    let launch = match (&args.kind, &args.exec) {
        (Some(k), None) => Launch::Kind(k.clone()),
        (None, Some(argv)) => Launch::Exec(super::exec_command(argv)?),
        (None, _) if args.plugins_dir.is_some() || !args.spec_dirs.is_empty() => Launch::Discovered,
        _ => return Err(super::no_way_to_plugin(&args.plugin)),
    };
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let transport = if matches!(launch, Launch::Exec(_)) {
        TransportKind::Unix
    } else {
        args.transport
    };
    Ok(FuzzOptions {
        plugin: args.plugin.clone(),
        launch,
        protocol: args.protocol,
        cases: args.cases,
        steps: args.steps,
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        }),
        transport,
        plugins_dir: args.plugins_dir.as_ref().map(absolute),
        spec_dirs: args.spec_dirs.iter().map(absolute).collect(),
        restart_plugin: !args.no_restart_plugin,
        faults: args
            .faults
            .iter()
            .map(|f| fault_line(f))
            .collect::<anyhow::Result<_>>()?,
        concurrent: !args.sequential,
        shard: args.shard,
        settings: args
            .settings
            .iter()
            .map(|s| match s.split_once('=') {
                // A relative policy file is found from the current directory.
                Some((k, v)) if matches!(k, "policy" | "audit") => {
                    format!("{k}={}", absolute(&PathBuf::from(v)).display())
                }
                _ => s.clone(),
            })
            .collect(),
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_report(args: &FuzzArgs, report: &FuzzReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let throughput = format!(
        "{} cases in {:.2} s: {:.0} cases/s, {} plugin calls ({:.0} calls/s), {} checks",
        report.cases,
        report.seconds,
        report.cases_per_sec(),
        report.calls,
        report.calls_per_sec(),
        report.checks
    );
    match args.format {
        FuzzFormat::Text => {
            writeln!(
                out,
                "seed {} (repeat with --seed {})",
                report.seed, report.seed
            )?;
            if let Some(s) = args.shard {
                writeln!(out, "{}", shard_line(s, args.cases))?;
            }
            for w in &report.warnings {
                writeln!(out, "{w}")?;
            }
            if let Some(e) = &report.error {
                writeln!(out, "error: {e}")?;
            }
            match &report.failure {
                None if report.error.is_some() => {}
                None => writeln!(out, "every invariant held")?,
                Some(f) => {
                    writeln!(
                        out,
                        "invariant {} broken after {} steps (shrunk from case {} of seed {}): {}",
                        f.violation.invariant,
                        f.step + 1,
                        f.case_index,
                        report.seed,
                        f.violation.message
                    )?;
                    writeln!(out, "counterexample written to {}:", args.out.display())?;
                    for l in f.scenario.lines() {
                        writeln!(out, "  {l}")?;
                    }
                    for l in rerun_lines(f) {
                        writeln!(out, "{l}")?;
                    }
                }
            }
            writeln!(out, "{throughput}")?;
        }
        FuzzFormat::Json => {
            let doc = serde_json::json!({
                "shard": args.shard.map(|s| serde_json::json!({
                    "index": s.index(),
                    "count": s.count(),
                    "cases": s.cases_of(u64::from(args.cases)),
                    "of": args.cases,
                    "line": shard_line(s, args.cases),
                })),
                "seed": report.seed,
                "cases": report.cases,
                "calls": report.calls,
                "checks": report.checks,
                "seconds": report.seconds,
                "cases_per_sec": report.cases_per_sec(),
                "calls_per_sec": report.calls_per_sec(),
                "error": report.error,
                "warnings": report.warnings,
                "failure": report.failure.as_ref().map(|f| serde_json::json!({
                    "invariant": f.violation.invariant,
                    "message": f.violation.message,
                    "steps": f.lines,
                    "scenario": f.scenario,
                    "out": args.out,
                    "case": f.case_index,
                    "reproduced": f.reproduced(),
                    "reruns": f.reruns.iter().map(|r| serde_json::json!({
                        "against": r.against.describe(),
                        "command": r.command,
                        "same": r.same,
                        "runs": r.runs,
                        "same_runs": r.same_runs,
                        "failure": r.failure,
                    })).collect::<Vec<_>>(),
                    "concurrent_only": f.concurrent_only,
                })),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        FuzzFormat::Junit => {
            let failed = usize::from(report.failure.is_some() || report.error.is_some());
            // Each shard's suite and case are named after it, so merged
            // reports of a CI matrix keep them apart.
            let (suite, id, case) = match args.shard {
                Some(s) => (
                    format!("drydock fuzz shard {s}"),
                    format!(" id=\"{}\"", s.index()),
                    format!(", shard {s}"),
                ),
                None => ("drydock fuzz".to_owned(), String::new(), String::new()),
            };
            writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
            writeln!(
                out,
                "<testsuite name=\"{suite}\"{id} tests=\"1\" failures=\"{failed}\" time=\"{:.3}\">",
                report.seconds
            )?;
            writeln!(
                out,
                "  <testcase name=\"{} invariants (seed {}{case})\" time=\"{:.3}\">",
                xml(&args.plugin),
                report.seed,
                report.seconds
            )?;
            if let Some(f) = &report.failure {
                writeln!(
                    out,
                    "    <failure message=\"{}\">{}</failure>",
                    xml(&format!(
                        "{}: {}",
                        f.violation.invariant, f.violation.message
                    )),
                    xml(&f.scenario)
                )?;
            } else if let Some(e) = &report.error {
                writeln!(out, "    <failure message=\"{}\"/>", xml(e))?;
            }
            let shard = args
                .shard
                .map(|s| format!("{}\n", shard_line(s, args.cases)))
                .unwrap_or_default();
            writeln!(
                out,
                "    <system-out>{}{}</system-out>",
                xml(&shard),
                xml(&throughput)
            )?;
            writeln!(out, "  </testcase>\n</testsuite>")?;
        }
    }
    Ok(())
}

/// Runs `drydock fuzz`; exit code 0 only if every invariant held.
pub async fn run(args: FuzzArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    eprintln!("drydock fuzz: seed {}", opts.seed);
    for w in crate::fuzz::warnings(&opts) {
        eprintln!("drydock fuzz: {w}");
    }
    let bar = indicatif::ProgressBar::new(match opts.shard {
        Some(s) => s.cases_of(u64::from(opts.cases)),
        None => u64::from(opts.cases),
    });
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let run_opts = opts.clone();
    let tick_bar = bar.clone();
    let mut report =
        tokio::task::spawn_blocking(move || fuzz(&run_opts, &move |n| tick_bar.set_position(n)))
            .await
            .context("the fuzz run panicked")?;
    bar.finish_and_clear();
    if let Some(f) = report.failure.as_mut() {
        std::fs::write(&args.out, &f.scenario)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        f.reruns = confirm(&args.out, &opts, f).await?;
    }
    write_report(&args, &report, out)?;
    Ok(if report.failure.is_none() && report.error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
