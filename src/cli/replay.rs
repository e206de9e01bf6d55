//! `drydock replay FILE --plugin NAME`: a recording's docker commands run
//! again in the simulated engine, the calls compared with the recorded ones.

use crate::record::replay::{load, replay, Launch, ReplayOptions, ReplayReport};
use crate::run::launch::TransportKind;
use crate::run::report::call_line;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use drydock_engine::compare::TraceCall;
use serde_json::json;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Report formats of `drydock replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    /// The replay's transcript and the verdict, for people.
    Text,
    /// One JSON document.
    Json,
}

/// Options of `drydock replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A recording: `drydock record`'s, `drydock run --trace`'s, or the golden format.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The plugin whose calls are compared (its name in the recording).
    #[arg(long, value_name = "NAME")]
    plugin: String,
    /// Start a built-in plugin of this kind (volume, ipam, authz, golden-volume…).
    #[arg(long, value_name = "KIND", conflicts_with = "exec")]
    kind: Option<String>,
    /// A setting of the built-in kind, `KEY=VALUE` (repeatable): `--setting root=DIR`.
    #[arg(long = "setting", value_name = "KEY=VALUE", requires = "kind")]
    settings: Vec<String>,
    /// Use this directory as /run/docker/plugins (a plugin already running there).
    #[arg(long, value_name = "DIR")]
    plugins_dir: Option<PathBuf>,
    /// Extra spec directories.
    #[arg(long = "spec-dir", value_name = "DIR")]
    spec_dirs: Vec<PathBuf>,
    /// How a plugin started by the replay is reached.
    #[arg(long, value_enum, default_value = "unix")]
    transport: TransportKind,
    /// Replace FROM by TO in the recording's bodies before comparing
    /// (repeatable), e.g. a volume root: `--rewrite /var/lib/dryvol=/tmp/root`.
    #[arg(long = "rewrite", value_name = "FROM=TO")]
    rewrites: Vec<String>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: ReplayFormat,
    /// Start the plugin as a program (placeholders as in `#@ plugin NAME exec`):
    /// `--exec -- ./my-plugin --socket {socket}`.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "CMD")]
    exec: Option<Vec<String>>,
}

fn options(args: &ReplayArgs) -> anyhow::Result<ReplayOptions> {
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let launch = match (&args.kind, &args.exec) {
        (Some(k), None) => Launch::Kind(
            k.clone(),
            args.settings
                .iter()
                .map(|s| match s.split_once('=') {
                    // Relative files are found from the current directory.
                    Some((k, v)) if matches!(k, "policy" | "audit" | "root") => {
                        format!("{k}={}", absolute(&PathBuf::from(v)).display())
                    }
                    _ => s.clone(),
                })
                .collect(),
        ),
        (None, Some(argv)) => Launch::Exec(super::exec_command(argv)?),
        (None, _) if args.plugins_dir.is_some() || !args.spec_dirs.is_empty() => Launch::Discovered,
        _ => return Err(super::no_way_to_plugin(&args.plugin)),
    };
    let rewrites = args
        .rewrites
        .iter()
        .map(|r| match r.split_once('=') {
            Some((from, to)) if !from.is_empty() => Ok((from.to_owned(), to.to_owned())),
            _ => bail!("--rewrite {r:?}: expected FROM=TO"),
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ReplayOptions {
        plugin: args.plugin.clone(),
        transport: if matches!(launch, Launch::Exec(_)) {
            TransportKind::Unix
        } else {
            args.transport
        },
        launch,
        plugins_dir: args.plugins_dir.as_ref().map(absolute),
        spec_dirs: args.spec_dirs.iter().map(absolute).collect(),
        rewrites,
    })
}

/// Runs `drydock replay`: exit 0 if the calls are the recorded ones, 1 if not.
pub async fn run(args: ReplayArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let recording = load(&text).with_context(|| format!("{}", args.file.display()))?;
    let r = replay(&recording, &opts).await?;
    match args.format {
        ReplayFormat::Text => write!(out, "{}", text_report(&args.file, &opts, &r))?,
        ReplayFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json_report(&args.file, &opts, &r))?
        )?,
    }
    Ok(if r.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The transcript of the replay, the differing step marked, and the verdict.
pub fn text_report(file: &std::path::Path, opts: &ReplayOptions, r: &ReplayReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "── replay of {} against {}",
        file.display(),
        opts.plugin
    );
    let header = r.report.steps.len() - r.expected.len();
    let differing = r.difference.as_ref().map(|d| d.step);
    for (i, s) in r.report.steps.iter().enumerate().skip(header) {
        let i = i - header;
        let mark = if differing == Some(i) { "✗" } else { " " };
        let _ = writeln!(out, "{mark}[{}] {}", i + 1, s.text);
        for c in s.calls.iter().filter(|c| c.plugin == opts.plugin) {
            let _ = writeln!(out, "      {}", call_line(c));
        }
        if let Some(e) = &s.outcome.error {
            for line in e.lines() {
                let _ = writeln!(out, "      ✗ Error response from daemon: {line}");
            }
        }
        if differing == Some(i) {
            break;
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let calls = r.calls(&opts.plugin);
    match &r.difference {
        None => {
            let _ = writeln!(
                out,
                "IDENTICAL: {} command(s), {calls} recorded call(s) to {} made again",
                r.expected.len(),
                opts.plugin
            );
        }
        Some(d) => {
            let _ = writeln!(
                out,
                "DIFFERENT at command {} of {}: `{}`",
                d.step + 1,
                r.expected.len(),
                r.expected.get(d.step).map_or("", |s| s.command.as_str())
            );
            for line in d.message.lines() {
                let _ = writeln!(out, "    {line}");
            }
            if let Some(calls) = &d.calls {
                let (e, a) = &**calls;
                let _ = writeln!(out, "    recorded: {}", show_call(e));
                let _ = writeln!(out, "    replayed: {}", show_call(a));
            }
        }
    }
    out
}

/// `plugin Method {request} → {response}`, long bodies cut.
fn show_call(c: &TraceCall) -> String {
    let cut = |v: &serde_json::Value| {
        let s = v.to_string();
        if s.chars().count() > 300 {
            format!("{}…", s.chars().take(300).collect::<String>())
        } else {
            s
        }
    };
    let response = c.response.as_ref().map_or("no response".to_owned(), cut);
    format!("{} {} {} → {response}", c.plugin, c.method, cut(&c.request))
}

fn call_json(c: &TraceCall) -> serde_json::Value {
    json!({"plugin": c.plugin, "method": c.method, "request": c.request, "response": c.response})
}

/// The machine-readable report.
pub fn json_report(
    file: &std::path::Path,
    opts: &ReplayOptions,
    r: &ReplayReport,
) -> serde_json::Value {
    json!({
        "recording": file.display().to_string(),
        "plugin": opts.plugin,
        "identical": r.identical(),
        "commands": r.expected.len(),
        "calls": r.calls(&opts.plugin),
        "difference": r.difference.as_ref().map(|d| json!({
            "step": d.step + 1,
            "command": r.expected.get(d.step).map(|s| s.command.as_str()),
            "message": d.message,
            "recorded_call": d.calls.as_ref().map(|c| call_json(&c.0)),
            "replayed_call": d.calls.as_ref().map(|c| call_json(&c.1)),
        })),
        "notes": r.notes,
        "scenario": r.scenario,
        "replay": crate::run::report::json_report(&r.report),
    })
}
