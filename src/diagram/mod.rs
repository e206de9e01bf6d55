//! Sequence diagrams of scenario runs (`drydock run --diagram FILE`,
//! `drydock demo --diagram FILE`).
//!
//! A run becomes a [`Diagram`]: lifelines for the docker CLI, the engine and
//! each plugin, and per docker command a [`Group`] of arrows — the CLI's API
//! requests to the engine, the plugin RPCs they caused (request and reply),
//! and the engine's answers. Where the data comes from: the runner's
//! [`StepReport`]s, whose `calls` are the engine's trace and whose `requests`
//! are the engine's API log ([`drydock_engine::daemon::api_log`]).
//!
//! * [`labels`] — the text of each arrow: method names and key fields,
//!   decoded with the SDK's wire types.
//! * [`svg`] — the drawing: layout and a self-contained SVG; also the HTML page.
//! * [`mermaid`] — the same diagram as Mermaid text.

pub mod labels;
pub mod mermaid;
pub mod svg;

use crate::run::{ScenarioReport, StepReport};
use anyhow::Context;
use drydock_engine::daemon::api_log::ApiEvent;
use std::collections::BTreeMap;
use std::path::Path;

/// Index of the docker CLI's lifeline.
pub const CLI: usize = 0;
/// Index of the engine's (dockerd's) lifeline.
pub const ENGINE: usize = 1;

/// A whole run as a sequence diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// Shown above the lifelines (the scenario file).
    pub title: String,
    /// Lifelines, left to right: [`CLI`], [`ENGINE`], then plugins in the
    /// order they were first called.
    pub participants: Vec<Participant>,
    /// One group per step, in order.
    pub groups: Vec<Group>,
}

/// One lifeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Its name: `docker CLI`, `dockerd`, or the plugin's name.
    pub name: String,
    /// What it is, shown under the name (`volume plugin`, …).
    pub role: String,
}

/// What a group stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A docker command.
    Command,
    /// A scenario directive (`#@ plugin`, `#@ restart-daemon`, …).
    Directive,
}

/// The arrows one step caused, under the step's label.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Command or directive.
    pub kind: GroupKind,
    /// The label: `docker volume create -d dryvol data` or the directive line.
    pub label: String,
    /// Narration (the scenario's `## ` lines before the command), if any.
    pub note: Option<String>,
    /// Arrows in order.
    pub messages: Vec<Message>,
    /// The error the CLI printed, if the command failed.
    pub error: Option<String>,
    /// Expectations of this step that did not hold.
    pub failures: Vec<String>,
}

/// One arrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Lifeline it starts at.
    pub from: usize,
    /// Lifeline it ends at.
    pub to: usize,
    /// Its label.
    pub text: String,
    /// A reply (drawn dashed) rather than a request.
    pub reply: bool,
    /// Something failed here (drawn in red).
    pub error: bool,
}

/// Builds the diagram of one finished scenario. `notes` maps a step's line
/// to its narration.
pub fn from_report(report: &ScenarioReport, notes: &BTreeMap<u32, String>) -> Diagram {
    let mut participants = vec![
        Participant {
            name: "docker CLI".into(),
            role: "client".into(),
        },
        Participant {
            name: "dockerd".into(),
            role: "simulated engine".into(),
        },
    ];
    let mut plugin_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups = Vec::new();
    for step in &report.steps {
        for call in &step.calls {
            if !plugin_index.contains_key(&call.plugin) {
                plugin_index.insert(call.plugin.clone(), participants.len());
                participants.push(Participant {
                    name: call.plugin.clone(),
                    role: String::new(),
                });
            }
        }
        let failures = report
            .failures
            .iter()
            .filter(|f| f.line == step.line || (f.command == step.text && f.step == step.index))
            .map(|f| f.message.clone())
            .collect();
        groups.push(Group {
            kind: if step.index.is_some() {
                GroupKind::Command
            } else {
                GroupKind::Directive
            },
            label: step.text.clone(),
            note: notes.get(&step.line).cloned(),
            messages: messages(step, &plugin_index),
            error: step.outcome.error.as_deref().map(labels::shorten_ids),
            failures,
        });
    }
    for p in participants.iter_mut().skip(ENGINE + 1) {
        let methods = report
            .steps
            .iter()
            .flat_map(|s| &s.calls)
            .filter(|c| c.plugin == p.name)
            .map(|c| c.method.as_str());
        p.role = labels::plugin_role(methods).into();
    }
    Diagram {
        title: report.path.display().to_string(),
        participants,
        groups,
    }
}

/// The arrows of one step: API requests and answers interleaved with the
/// plugin RPCs at the positions the engine's log recorded.
fn messages(step: &StepReport, plugins: &BTreeMap<String, usize>) -> Vec<Message> {
    // Requests that caused no plugin call and merely precede every command
    // (`HEAD /_ping`) are left out: they would repeat in every group.
    let quiet: Vec<u64> = step
        .requests
        .iter()
        .filter_map(|e| match e {
            ApiEvent::Request {
                id,
                uri,
                rpcs_before,
                ..
            } if uri == "/_ping" => {
                let answered_at = step.requests.iter().find_map(|r| match r {
                    ApiEvent::Response {
                        id: i, rpcs_before, ..
                    } if i == id => Some(*rpcs_before),
                    _ => None,
                });
                (answered_at == Some(*rpcs_before)).then_some(*id)
            }
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let mut next_call = 0;
    let mut push_calls = |upto: usize, out: &mut Vec<Message>| {
        while next_call < upto.min(step.calls.len()) {
            let c = &step.calls[next_call];
            let p = plugins[&c.plugin];
            let (request, reply, failed) = labels::rpc(c);
            out.push(Message {
                from: ENGINE,
                to: p,
                text: request,
                reply: false,
                error: false,
            });
            out.push(Message {
                from: p,
                to: ENGINE,
                text: reply,
                reply: true,
                error: failed,
            });
            next_call += 1;
        }
    };
    // Requests still waiting for their answer: when several are (docker run
    // opens attach and wait before start), or another request went out after
    // it, an answer names its request.
    let mut open: Vec<u64> = Vec::new();
    let mut last_sent = None;
    for event in &step.requests {
        match event {
            ApiEvent::Request {
                id,
                method,
                uri,
                rpcs_before,
                ..
            } => {
                push_calls(*rpcs_before, &mut out);
                if quiet.contains(id) {
                    continue;
                }
                open.push(*id);
                last_sent = Some(*id);
                out.push(Message {
                    from: CLI,
                    to: ENGINE,
                    text: labels::shorten_ids(&format!("{method} {uri}")),
                    reply: false,
                    error: false,
                });
            }
            ApiEvent::Response {
                id,
                status,
                error,
                rpcs_before,
            } => {
                push_calls(*rpcs_before, &mut out);
                if quiet.contains(id) {
                    continue;
                }
                let uri = step
                    .requests
                    .iter()
                    .find_map(|e| match e {
                        ApiEvent::Request { id: i, uri, .. } if i == id => Some(uri.as_str()),
                        _ => None,
                    })
                    .unwrap_or("");
                let mut text = labels::api_answer(uri, *status, error.as_deref());
                if open.len() > 1 || open.last() != Some(id) || last_sent != Some(*id) {
                    text = format!("{text} ({})", labels::endpoint(uri));
                }
                open.retain(|o| o != id);
                out.push(Message {
                    from: ENGINE,
                    to: CLI,
                    text,
                    reply: true,
                    error: error.is_some() || status.is_some_and(|s| s >= 400),
                });
            }
        }
    }
    push_calls(usize::MAX, &mut out);
    out
}

/// The output formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.svg`: the drawing alone.
    Svg,
    /// `.html`: a page embedding the drawing.
    Html,
    /// `.mmd`: Mermaid text.
    Mermaid,
}

impl Format {
    /// The format for `path`'s extension.
    pub fn of(path: &Path) -> anyhow::Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("svg") => Ok(Format::Svg),
            Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => {
                Ok(Format::Html)
            }
            Some(e) if e.eq_ignore_ascii_case("mmd") => Ok(Format::Mermaid),
            _ => anyhow::bail!(
                "{}: a diagram file must end in .svg, .html or .mmd",
                path.display()
            ),
        }
    }
}

/// Renders diagrams in `format`. SVG and HTML stack several runs one below
/// the other; Mermaid has one diagram per file, so it takes exactly one run.
pub fn render(diagrams: &[Diagram], format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Svg => svg::render_all(diagrams).0,
        Format::Html => svg::html(diagrams),
        Format::Mermaid => match diagrams {
            [one] => mermaid::render(one),
            _ => anyhow::bail!(
                "a .mmd file holds one diagram but {} scenarios ran: give one scenario, or write .svg or .html",
                diagrams.len()
            ),
        },
    })
}

/// Writes `diagrams` to `path`, in the format its extension names.
pub fn write(path: &Path, diagrams: &[Diagram]) -> anyhow::Result<()> {
    let format = Format::of(path)?;
    let text = render(diagrams, format)?;
    std::fs::write(path, text).with_context(|| format!("cannot write diagram {}", path.display()))
}
