//! `drydock replay`: a recording's docker commands run again through the
//! simulated engine, and its plugin calls compared with the recorded ones.
//!
//! A recording is read in any of the formats drydock meets: `drydock record`'s
//! (step lines, call lines, outcome lines), `drydock run --trace`'s (the same
//! call and action lines) and the golden format of `tests/golden/` (`mark`,
//! `result` and request lines). Its commands become a scenario — the
//! plugin's `#@ plugin` line first — which the runner of `drydock run`
//! executes; [`drydock_engine::compare`] then compares the two call
//! sequences with dockerd's own nondeterminism allowed (random IDs paired
//! consistently, free order between volumes).

use crate::run::launch::TransportKind;
use crate::run::{run_scenario, RunOptions, ScenarioReport};
use anyhow::{bail, Context};
use drydock_engine::compare::{
    compare, load_golden, replay_plan, Difference, TraceCall, TraceStep,
};
use serde_json::Value;
use std::path::PathBuf;

/// How the plugin under replay is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// A built-in kind with its `KEY=VALUE` settings, started by the replay.
    Kind(String, Vec<String>),
    /// A program started by the replay (placeholders as in `#@ plugin … exec`).
    Exec(Vec<String>),
    /// Already running where discovery finds it (`--plugins-dir`, `--spec-dir`).
    Discovered,
}

/// What `drydock replay` needs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The plugin whose calls are compared (its name in the recording).
    pub plugin: String,
    /// How it is reached.
    pub launch: Launch,
    /// Transport of a plugin the replay starts.
    pub transport: TransportKind,
    /// Discovery roots for [`Launch::Discovered`].
    pub plugins_dir: Option<PathBuf>,
    /// Extra spec directories.
    pub spec_dirs: Vec<PathBuf>,
    /// `FROM=TO` text replacements applied to the recording before comparing
    /// (a volume root that differs between the recording and the replay).
    pub rewrites: Vec<(String, String)>,
}

/// A recording read back: its steps in order.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Calls before the first command (`#start`), then one step per command.
    pub steps: Vec<TraceStep>,
}

/// The result of one replay.
#[derive(Debug)]
pub struct ReplayReport {
    /// The steps compared (from the recording), in order.
    pub expected: Vec<TraceStep>,
    /// The same steps as the replay made them.
    pub actual: Vec<TraceStep>,
    /// The runner's report (transcript of the replay).
    pub report: ScenarioReport,
    /// The scenario the recording became.
    pub scenario: String,
    /// The first difference, if any.
    pub difference: Option<Difference>,
    /// What the replay allowed for or left out, for the reader.
    pub notes: Vec<String>,
}

impl ReplayReport {
    /// Whether the replay made the recorded calls.
    pub fn identical(&self) -> bool {
        self.difference.is_none()
    }

    /// Recorded calls to the plugin under replay.
    pub fn calls(&self, plugin: &str) -> usize {
        self.expected
            .iter()
            .flat_map(|s| &s.calls)
            .filter(|c| c.plugin == plugin)
            .count()
    }
}

/// Reads a recording in any of the three formats.
pub fn load(text: &str) -> anyhow::Result<Recording> {
    let golden = text.lines().any(|l| {
        serde_json::from_str::<Value>(l)
            .map(|v| v.get("mark").is_some() || v.get("path").is_some())
            .unwrap_or(false)
    });
    if golden {
        return load_golden_format(text);
    }
    /// A step being read, with what identifies its lines.
    struct Open {
        index: Option<u64>,
        closed: bool,
        step: TraceStep,
    }
    let mut steps: Vec<Open> = Vec::new();
    let find = |steps: &mut Vec<Open>, index: Option<u64>, command: Option<&str>| -> usize {
        let command = command.unwrap_or("#start");
        let found = match index {
            // A numbered step: its lines may come late (a call ending after
            // the next command began), so look back for it.
            Some(_) => steps
                .iter()
                .rposition(|s| s.index == index && s.step.command == command),
            None => steps
                .last()
                .filter(|s| s.index.is_none() && !s.closed && s.step.command == command)
                .map(|_| steps.len() - 1),
        };
        found.unwrap_or_else(|| {
            steps.push(Open {
                index,
                closed: false,
                step: TraceStep {
                    command: command.to_owned(),
                    calls: Vec::new(),
                    ok: None,
                    output: String::new(),
                },
            });
            steps.len() - 1
        })
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", n + 1))?;
        let index = v.get("step").and_then(Value::as_u64);
        let command = v.get("command").and_then(Value::as_str);
        if let Some(method) = v.get("method").and_then(Value::as_str) {
            let i = find(&mut steps, index, command);
            steps[i].step.calls.push(TraceCall {
                plugin: v
                    .get("plugin")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                method: method.to_owned(),
                request: v.get("request").cloned().unwrap_or(Value::Null),
                response: v.get("response").cloned().filter(|r| !r.is_null()),
            });
        } else if let Some(outcome) = v.get("outcome") {
            let i = find(&mut steps, index, command);
            let s = &mut steps[i];
            s.closed = true;
            let ok = outcome.get("ok").and_then(Value::as_bool);
            s.step.ok = ok;
            let text = |k: &str| outcome.get(k).and_then(Value::as_str).map(str::to_owned);
            s.step.output = text("error")
                .filter(|_| ok == Some(false))
                .or_else(|| text("output"))
                .unwrap_or_default();
        } else if let Some(command) = command {
            steps.push(Open {
                index,
                closed: false,
                step: TraceStep {
                    command: command.to_owned(),
                    calls: Vec::new(),
                    ok: None,
                    output: String::new(),
                },
            });
        }
    }
    // `drydock run --trace` closes directive steps with an outcome too; they
    // have no success of their own, as in a recording.
    for s in &mut steps {
        if s.step.command.starts_with("#@") {
            s.step.ok = None;
        }
    }
    Ok(Recording {
        steps: steps.into_iter().map(|s| s.step).collect(),
    })
}

/// The golden format: `#boot`…`#start` is the daemon's start-up, `#restart`
/// a daemon restart whose start-up calls (up to `#restarted`) belong to it.
fn load_golden_format(text: &str) -> anyhow::Result<Recording> {
    let golden = load_golden(text).map_err(|e| anyhow::anyhow!(e))?;
    let mut steps: Vec<TraceStep> = Vec::new();
    for mut s in golden {
        match s.command.as_str() {
            "#boot" | "#start" => {
                s.command = "#start".into();
                match steps.last_mut() {
                    Some(last) if last.command == "#start" => last.calls.extend(s.calls),
                    _ => steps.push(s),
                }
            }
            "#restart" => {
                s.command = "#@ restart-daemon".into();
                steps.push(s);
            }
            "#restarted" => {
                if let Some(last) = steps.last_mut() {
                    last.calls.extend(s.calls);
                }
            }
            "#start-failed" => bail!("the recording's daemon did not start: {}", s.output),
            "#stop" | "#stopped" => {}
            _ => steps.push(s),
        }
    }
    Ok(Recording { steps })
}

/// The calls dockerd makes once per plugin per daemon run, right after
/// discovering it.
const HANDSHAKE: &[&str] = &[
    "Plugin.Activate",
    "VolumeDriver.Capabilities",
    "IpamDriver.GetCapabilities",
    "IpamDriver.GetDefaultAddressSpaces",
    "NetworkDriver.GetCapabilities",
];

/// Makes an authz call's request comparable between a real host and the
/// simulation: the Engine API bodies it carries (base64) lose what depends
/// on the host and not on the plugin — build details of `/version`, the
/// data-root paths of `local` volumes, creation times, the details of
/// network listings (names kept, sorted) — and are stored back in one JSON
/// encoding.
fn normalise_authz(call: &mut TraceCall) {
    use drydock_sdk::wire::authz::AuthzRequest;
    if !call.method.starts_with("AuthZPlugin.") {
        return;
    }
    let Ok(mut req) = serde_json::from_value::<AuthzRequest>(call.request.clone()) else {
        return;
    };
    let uri = req.request_uri.clone();
    let canonical = |body: &mut Option<Vec<u8>>| {
        let Some(bytes) = body.as_ref() else {
            return;
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
            return;
        };
        if uri.ends_with("/version") {
            v = Value::String("<version details>".into());
        }
        without_host_details(&mut v);
        if uri.contains("/networks") {
            v = names_only(&v);
        }
        *body = Some(v.to_string().into_bytes());
    };
    canonical(&mut req.request_body);
    canonical(&mut req.response_body);
    if let Ok(v) = serde_json::to_value(&req) {
        call.request = v;
    }
}

/// Local volumes live under the daemon's data root, which differs by host,
/// and creation times are the host's clock (compare ignores `CreatedAt` in
/// plain JSON; inside a base64 body it cannot see it).
fn without_host_details(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("Driver").and_then(Value::as_str) == Some("local") {
                m.remove("Mountpoint");
            }
            m.remove("CreatedAt");
            m.values_mut().for_each(without_host_details);
        }
        Value::Array(a) => a.iter_mut().for_each(without_host_details),
        _ => {}
    }
}

/// Network listings carry the host's bridges, subnets and creation times,
/// in Go map order: keep which networks, sorted by name.
fn names_only(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut names: Vec<Value> = items.iter().map(names_only).collect();
            names.sort_by_key(|n| n.to_string());
            Value::Array(names)
        }
        Value::Object(m) => m.get("Name").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn rewrite(v: &mut Value, rewrites: &[(String, String)]) {
    match v {
        Value::String(s) => {
            for (from, to) in rewrites {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, rewrites)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite(x, rewrites)),
        _ => {}
    }
}

/// The header of the replay scenario: how the plugin is started, and the
/// authorization chain when the plugin is an authz plugin.
fn header(opts: &ReplayOptions, recording: &Recording) -> Vec<String> {
    let word = |a: &str| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:{},+@%".contains(c));
        if plain {
            a.to_owned()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    let mut lines = Vec::new();
    match &opts.launch {
        Launch::Kind(kind, settings) => lines.push(
            std::iter::once(format!("#@ plugin {} {kind}", opts.plugin))
                .chain(settings.iter().map(|s| word(s)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Launch::Exec(argv) => lines.push(format!(
            "#@ plugin {} exec -- {}",
            opts.plugin,
            argv.iter().map(|a| word(a)).collect::<Vec<_>>().join(" ")
        )),
        Launch::Discovered => {}
    }
    let authz = recording
        .steps
        .iter()
        .flat_map(|s| &s.calls)
        .any(|c| c.plugin == opts.plugin && c.method.starts_with("AuthZPlugin."));
    let chain_given = recording
        .steps
        .iter()
        .any(|s| s.command.starts_with("#@ authorization-plugin"));
    if authz && !chain_given {
        lines.push(format!("#@ authorization-plugin {}", opts.plugin));
    }
    lines
}

/// Replays `recording` against the plugin `opts` describe.
pub async fn replay(recording: &Recording, opts: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let mut notes = Vec::new();
    let mut steps: Vec<TraceStep> = Vec::new();
    for s in &recording.steps {
        if s.command == "#start" {
            // Calls before the first command: dockerd's own (a restart's
            // plugins, say); no replayed command causes them.
            let n = s.calls.iter().filter(|c| c.plugin == opts.plugin).count();
            if n > 0 {
                notes.push(format!(
                    "{n} call(s) before the first command are not replayed (no command caused them)"
                ));
            }
            continue;
        }
        let mut s = s.clone();
        for c in &mut s.calls {
            rewrite(&mut c.request, &opts.rewrites);
            if let Some(r) = c.response.as_mut() {
                rewrite(r, &opts.rewrites);
            }
        }
        steps.push(s);
    }
    let header = header(opts, recording);
    let mut lines = vec!["# replay of a recording".to_owned()];
    lines.extend(header.iter().cloned());
    let plan = replay_plan(&steps, &lines, |c| c.plugin == opts.plugin)
        .map_err(|e| anyhow::anyhow!("{e}; replay cannot run it"))?;
    for skipped in &plan.skipped {
        notes.push(format!(
            "`{skipped}` is not a docker command; it caused no calls to {}, so it is skipped",
            opts.plugin
        ));
    }
    let mut expected = plan.expected;
    if expected.is_empty() {
        bail!("the recording has no docker commands to replay (was it made with --commands?)");
    }
    let scenario = plan.text;
    let parsed = drydock_engine::scenario::parse("replay.scenario", scenario.as_bytes())
        .map_err(|e| anyhow::anyhow!("the recording's commands are not a valid scenario: {e}"))?;
    let run_opts = RunOptions {
        plugins_dir: opts.plugins_dir.clone(),
        spec_dirs: opts.spec_dirs.clone(),
        transport: opts.transport,
        keep_going: true,
        ..RunOptions::default()
    };
    let report = run_scenario(&parsed, &run_opts).await;
    if report.steps.len() < header.len() + expected.len() {
        let why = report
            .failures
            .first()
            .map(|f| format!("{}: {}", f.command, f.message))
            .unwrap_or_default();
        bail!("the replay stopped early: {why}");
    }
    let mut actual: Vec<TraceStep> = report.steps[header.len()..]
        .iter()
        .map(|s| TraceStep {
            command: s.text.clone(),
            calls: s.calls.iter().map(TraceCall::from).collect(),
            ok: s.index.map(|_| s.outcome.error.is_none()),
            output: s
                .outcome
                .error
                .clone()
                .unwrap_or_else(|| s.outcome.stdout.clone()),
        })
        .collect();
    // dockerd activates a plugin once per run. A recording started while
    // dockerd had already activated it has no handshake; the replay's fresh
    // engine makes one, so leave it out until the first daemon restart.
    let first = expected
        .iter()
        .flat_map(|s| &s.calls)
        .find(|c| c.plugin == opts.plugin);
    if first.is_some_and(|c| c.method != "Plugin.Activate") {
        let mut dropped = 0;
        for s in actual.iter_mut() {
            if s.command.starts_with("#@ restart-daemon") {
                break;
            }
            let before = s.calls.len();
            s.calls
                .retain(|c| !(c.plugin == opts.plugin && HANDSHAKE.contains(&c.method.as_str())));
            dropped += before - s.calls.len();
        }
        if dropped > 0 {
            notes.push(format!(
                "the recorded commands found {} activated already (dockerd activated it before the first command): the replay's {dropped} handshake call(s) before the first restart are not compared",
                opts.plugin
            ));
        }
    }
    for s in expected.iter_mut().chain(actual.iter_mut()) {
        s.calls.iter_mut().for_each(normalise_authz);
    }
    let plugin = opts.plugin.clone();
    let difference = compare(&expected, &actual, |p| p == plugin).err();
    Ok(ReplayReport {
        expected,
        actual,
        report,
        scenario,
        difference,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_group_by_step_even_when_a_call_ends_late() {
        let text = r#"{"step":null,"command":null,"plugin":"p","method":"Plugin.Activate","request":null,"response":{"Implements":["VolumeDriver"]},"status":200}
{"step":1,"command":"docker volume create -d p v","start":"x"}
{"step":1,"command":"docker volume create -d p v","plugin":"p","method":"VolumeDriver.Get","request":{"Name":"v"},"response":{"Err":"no"},"status":200}
{"step":1,"command":"docker volume create -d p v","outcome":{"ok":true,"error":null,"output":""},"exit":0}
{"step":2,"command":"docker volume rm v","start":"x"}
{"step":1,"command":"docker volume create -d p v","plugin":"p","method":"VolumeDriver.Create","request":{"Name":"v"},"response":{"Err":""},"status":200}
{"step":2,"command":"docker volume rm v","outcome":{"ok":false,"error":"Error response from daemon: in use","output":"Error response from daemon: in use"},"exit":1}
"#;
        let r = load(text).unwrap();
        let commands: Vec<&str> = r.steps.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "#start",
                "docker volume create -d p v",
                "docker volume rm v"
            ]
        );
        let methods: Vec<&str> = r.steps[1].calls.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(methods, ["VolumeDriver.Get", "VolumeDriver.Create"]);
        assert_eq!(r.steps[2].ok, Some(false));
        assert_eq!(r.steps[2].output, "Error response from daemon: in use");
    }

    #[test]
    fn run_trace_lines_close_each_action_with_its_outcome() {
        let text = r##"{"step":null,"command":"#@ plugin p golden-volume","outcome":{"ok":true,"error":null,"output":""}}
{"step":1,"command":"docker volume ls","plugin":"p","method":"VolumeDriver.List","request":null,"response":{"Volumes":[]},"status":200}
{"step":1,"command":"docker volume ls","outcome":{"ok":true,"error":null,"output":"DRIVER VOLUME NAME"}}
{"step":2,"command":"docker volume ls","outcome":{"ok":true,"error":null,"output":"DRIVER VOLUME NAME"}}
"##;
        let r = load(text).unwrap();
        assert_eq!(r.steps.len(), 3);
        assert_eq!(r.steps[0].ok, None);
        assert_eq!(r.steps[1].calls.len(), 1);
        assert!(r.steps[2].calls.is_empty());
    }
}
