//! `drydock discover`: what dockerd would find in the plugin directories.

use super::{Format, RootsArgs};
use clap::Args;
use drydock_engine::clock::TokioClock;
use drydock_engine::plugins::registry::Registry;
use drydock_engine::trace::Trace;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

/// Options of `drydock discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    roots: RootsArgs,
    /// Also activate each plugin (POST /Plugin.Activate) and show what it implements.
    #[arg(long)]
    activate: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// One row of the listing.
struct Row {
    name: String,
    found_at: String,
    form: String,
    addr: String,
    transport: String,
    /// `Ok(implements)` after a successful activation, `Err(reason)` otherwise;
    /// `None` without `--activate`.
    activation: Option<Result<Vec<String>, String>>,
}

/// Runs `drydock discover`, writing to `out`. Exit code 1 when a plugin could not
/// be resolved or (with `--activate`) activated, so CI can gate on it.
pub async fn run(args: DiscoverArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let roots = args.roots.roots();
    let registry = std::sync::Arc::new(Registry::new(
        roots.clone(),
        TokioClock::new(),
        Trace::new(),
    ));
    let listing = registry
        .list()
        .map_err(|e| anyhow::anyhow!("cannot scan the plugin directories: {e}"))?;
    let mut rows = Vec::new();
    let mut failed = false;
    for item in listing {
        let row = match item {
            Ok(l) => Row {
                found_at: l.path.map(|p| p.display().to_string()).unwrap_or_default(),
                form: l.kind.map(|k| k.label().to_owned()).unwrap_or_default(),
                transport: match l.transport {
                    Ok(t) => t.to_owned(),
                    Err(e) => {
                        failed = true;
                        format!("error: {e}")
                    }
                },
                addr: l.addr,
                name: l.name,
                activation: None,
            },
            Err((name, err)) => {
                failed = true;
                Row {
                    name,
                    found_at: String::new(),
                    form: String::new(),
                    addr: String::new(),
                    transport: format!("error: {err}"),
                    activation: None,
                }
            }
        };
        rows.push(row);
    }
    if args.activate {
        // Activate every plugin at once, as dockerd's GetAll does: a dead socket
        // costs its ~15 s of connection retries once, not once per plugin.
        let tasks: Vec<_> = rows
            .iter()
            .map(|row| {
                let registry = registry.clone();
                let name = row.name.clone();
                let resolvable = !row.transport.starts_with("error");
                tokio::spawn(async move {
                    if !resolvable {
                        return None;
                    }
                    Some(match registry.activate_any(&name).await {
                        Ok(h) => Ok(h.manifest.implements.clone().unwrap_or_default()),
                        Err(e) => Err(e.to_string()),
                    })
                })
            })
            .collect();
        for (row, task) in rows.iter_mut().zip(tasks) {
            row.activation = task.await?;
            failed |= matches!(row.activation, Some(Err(_)));
        }
    }
    match args.format {
        Format::Json => {
            let items: Vec<_> = rows
                .iter()
                .map(|r| {
                    let mut v = json!({
                        "name": r.name, "found_at": r.found_at, "form": r.form,
                        "address": r.addr, "transport": r.transport,
                    });
                    match &r.activation {
                        Some(Ok(imp)) => v["implements"] = json!(imp),
                        Some(Err(e)) => v["activation_error"] = json!(e),
                        None => {}
                    }
                    v
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        }
        Format::Text => {
            if rows.is_empty() {
                writeln!(
                    out,
                    "no plugins found in {} or {}",
                    roots.sockets_dir.display(),
                    roots
                        .spec_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            let mut table = vec![vec![
                "NAME".to_owned(),
                "FOUND AT".to_owned(),
                "FORM".to_owned(),
                "ADDRESS".to_owned(),
                "TRANSPORT".to_owned(),
            ]];
            if args.activate {
                table[0].push("IMPLEMENTS".to_owned());
            }
            for r in &rows {
                let mut line = vec![
                    r.name.clone(),
                    r.found_at.clone(),
                    r.form.clone(),
                    r.addr.clone(),
                    r.transport.clone(),
                ];
                match &r.activation {
                    Some(Ok(imp)) if imp.is_empty() => line.push("(nothing)".into()),
                    Some(Ok(imp)) => line.push(imp.join(", ")),
                    Some(Err(e)) => line.push(format!("activation failed: {e}")),
                    None => {}
                }
                table.push(line);
            }
            if !rows.is_empty() {
                write_table(out, &table)?;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes rows as left-aligned columns separated by three spaces (docker's style).
pub fn write_table(out: &mut dyn Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
