//! Comparing plugin call traces: a real dockerd recording against a simulated
//! run, step by step, allowing only dockerd's own nondeterminism.
//!
//! Allowed differences:
//! * random IDs (mount IDs, container IDs, anonymous volume names): any 64-hex
//!   string matches any other, as long as the pairing is consistent over the
//!   whole trace (the ID bound at Mount must come back at Unmount);
//! * the order among one step's calls for *different* volumes (dockerd walks a
//!   map of mount points): calls are compared per volume name, in order;
//! * `CreatedAt` values and empty in-band `Err` fields in responses.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One plugin call in a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCall {
    /// Plugin name.
    pub plugin: String,
    /// Method (`VolumeDriver.Get`).
    pub method: String,
    /// Request body as JSON (`null` for an empty body).
    pub request: Value,
    /// Response body as JSON, if one arrived.
    pub response: Option<Value>,
}

impl From<&crate::trace::RpcRecord> for TraceCall {
    /// A call as the engine traced it, in the comparable form.
    fn from(c: &crate::trace::RpcRecord) -> Self {
        TraceCall {
            plugin: c.plugin.clone(),
            method: c.method.clone(),
            request: c.request_json(),
            response: c.response_json(),
        }
    }
}

/// One docker command (or daemon event such as a restart) and its calls.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStep {
    /// The command line, or `#restart`, `#boot`….
    pub command: String,
    /// Calls in arrival order.
    pub calls: Vec<TraceCall>,
    /// Whether the command succeeded (`None` for daemon events).
    pub ok: Option<bool>,
    /// Its output or error text.
    pub output: String,
}

/// A recording turned into a scenario: the text to run and the recorded
/// steps the run must reproduce, one per replayed line.
#[derive(Debug, Clone, Default)]
pub struct ReplayPlan {
    /// The scenario: the header lines, then one line per replayed step.
    pub text: String,
    /// The recorded steps, in the order of the scenario's lines after the
    /// header (a daemon's start-up calls folded into its restart step).
    pub expected: Vec<TraceStep>,
    /// Steps that are not replayed (shell set-up lines, `#boot`, `#stop`…),
    /// none of which made a call `replayed` accepts.
    pub skipped: Vec<String>,
}

/// The one conversion of a recording into a scenario (used by `drydock
/// replay` and by every test that replays real dockerd recordings):
/// * `docker …` lines and `#@` directives are replayed as they are, except
///   `#@ plugin` lines: `header` says how the replay starts its plugins;
/// * `#restart` becomes `#@ restart-daemon`, and the calls recorded under
///   `#restarted` (the new daemon's start-up) belong to that step;
/// * any other step is skipped, unless it made a call `replayed` accepts:
///   a call the replay could not cause is an error naming the step.
pub fn replay_plan(
    recording: &[TraceStep],
    header: &[String],
    replayed: impl Fn(&TraceCall) -> bool,
) -> Result<ReplayPlan, String> {
    let mut plan = ReplayPlan::default();
    for line in header {
        plan.text.push_str(line);
        plan.text.push('\n');
    }
    for step in recording {
        let line = if step.command == "#restarted" {
            if let Some(last) = plan.expected.last_mut() {
                last.calls.extend(step.calls.iter().cloned());
            }
            continue;
        } else if step.command == "#restart" {
            "#@ restart-daemon"
        } else if step.command.starts_with("docker ")
            || (step.command.starts_with("#@") && !step.command.starts_with("#@ plugin "))
        {
            step.command.as_str()
        } else if step.command.starts_with("#@ plugin ") {
            continue;
        } else {
            if let Some(call) = step.calls.iter().find(|c| replayed(c)) {
                return Err(format!(
                    "the recorded step `{}` is not a docker command or a #@ directive, yet it caused {} {}: the replay cannot cause that call",
                    step.command, call.plugin, call.method
                ));
            }
            plan.skipped.push(step.command.clone());
            continue;
        };
        plan.text.push_str(line);
        plan.text.push('\n');
        plan.expected.push(step.clone());
    }
    Ok(plan)
}

/// Reads a golden JSON Lines recording (`tests/golden/*.jsonl`): `{"mark"}`
/// lines open a step, request lines add calls, `{"result"}` closes it.
pub fn load_golden(text: &str) -> Result<Vec<TraceStep>, String> {
    let mut steps: Vec<TraceStep> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if let Some(mark) = v.get("mark").and_then(Value::as_str) {
            steps.push(TraceStep {
                command: mark.to_owned(),
                calls: Vec::new(),
                ok: None,
                output: String::new(),
            });
        } else if let Some(result) = v.get("result") {
            let step = steps
                .last_mut()
                .ok_or(format!("line {}: result before any mark", n + 1))?;
            step.ok = Some(result.get("rc").and_then(Value::as_i64) == Some(0));
            step.output = result
                .get("out")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
        } else if let Some(path) = v.get("path").and_then(Value::as_str) {
            let call = TraceCall {
                plugin: v
                    .get("plugin")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                method: path.trim_start_matches('/').to_owned(),
                // Recorders store an empty body as {}: recognise empty bodies
                // by their Content-Length, or by the methods dockerd always
                // calls without a body (older recordings have no length).
                request: if v.get("clen").and_then(Value::as_u64) == Some(0)
                    || EMPTY_BODY_METHODS.contains(&path.trim_start_matches('/'))
                {
                    Value::Null
                } else {
                    v.get("req").cloned().unwrap_or(Value::Null)
                },
                response: v.get("resp").cloned(),
            };
            match steps.last_mut() {
                Some(s) => s.calls.push(call),
                None => steps.push(TraceStep {
                    command: "#start".into(),
                    calls: vec![call],
                    ok: None,
                    output: String::new(),
                }),
            }
        }
    }
    Ok(steps)
}

/// The first difference between two traces.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// 0-based index of the step (among compared steps).
    pub step: usize,
    /// The step's command.
    pub command: String,
    /// What differs.
    pub message: String,
    /// The recorded call and the one made instead, when the difference is
    /// inside one call's request or response.
    pub calls: Option<Box<(TraceCall, TraceCall)>>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} `{}`: {}",
            self.step + 1,
            self.command,
            self.message
        )
    }
}

/// The calls dockerd makes with an empty body (nil args).
pub const EMPTY_BODY_METHODS: &[&str] = &[
    "Plugin.Activate",
    "IpamDriver.GetCapabilities",
    "IpamDriver.GetDefaultAddressSpaces",
    "NetworkDriver.GetCapabilities",
];

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Consistent renaming of random IDs between the two traces.
#[derive(Default)]
struct IdMap {
    forward: HashMap<String, String>,
    backward: HashMap<String, String>,
}

impl IdMap {
    fn unify(&mut self, expected: &str, actual: &str) -> bool {
        match (self.forward.get(expected), self.backward.get(actual)) {
            (None, None) => {
                self.forward.insert(expected.to_owned(), actual.to_owned());
                self.backward.insert(actual.to_owned(), expected.to_owned());
                true
            }
            (Some(a), Some(e)) => a == actual && e == expected,
            _ => false,
        }
    }

    fn values_match(&mut self, expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
        match (expected, actual) {
            (Value::String(e), Value::String(a)) if is_id(e) && is_id(a) => {
                if self.unify(e, a) {
                    Ok(())
                } else {
                    Err(format!(
                        "{path}: ID {a} is not the one paired with {e} earlier"
                    ))
                }
            }
            (Value::String(e), Value::String(a))
                if e.contains(char::is_whitespace) || a.len() > 64 =>
            {
                // Texts embedding IDs ("volume is in use - [id]").
                if self.text_match(e, a) {
                    Ok(())
                } else {
                    Err(format!("{path}: expected {e:?}, got {a:?}"))
                }
            }
            (Value::Object(e), Value::Object(a)) => {
                for key in e.keys().chain(a.keys()) {
                    let ev = e.get(key).unwrap_or(&Value::Null);
                    let av = a.get(key).unwrap_or(&Value::Null);
                    if key == "CreatedAt" {
                        continue;
                    }
                    // An empty in-band error equals no error.
                    let empty = |v: &Value| v.is_null() || v.as_str() == Some("");
                    if (key == "Err" || key == "Error") && empty(ev) && empty(av) {
                        continue;
                    }
                    self.values_match(ev, av, &format!("{path}.{key}"))?;
                }
                Ok(())
            }
            (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    self.values_match(ev, av, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            (e, a) if e == a => Ok(()),
            (e, a) => Err(format!("{path}: expected {e}, got {a}")),
        }
    }

    /// Compares texts word by word, IDs unified.
    fn text_match(&mut self, expected: &str, actual: &str) -> bool {
        let split = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-' && c != '.')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let (e, a) = (split(expected), split(actual));
        e.len() == a.len()
            && e.iter().zip(&a).all(|(ew, aw)| {
                // A sentence may end right after an ID ("container <id>. Stop…").
                let (et, at) = (ew.trim_end_matches('.'), aw.trim_end_matches('.'));
                if is_id(et) && is_id(at) && ew.len() - et.len() == aw.len() - at.len() {
                    self.unify(et, at)
                } else {
                    ew == aw
                }
            })
    }
}

/// The volume (or other object) a call is about, for grouping.
fn subject(call: &TraceCall) -> String {
    call.request
        .get("Name")
        .or_else(|| call.request.get("PoolID"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Compares `actual` with `expected` step by step, considering only calls to
/// plugins accepted by `keep`. Both traces must have the same steps.
pub fn compare(
    expected: &[TraceStep],
    actual: &[TraceStep],
    keep: impl Fn(&str) -> bool,
) -> Result<(), Difference> {
    let mut ids = IdMap::default();
    if expected.len() != actual.len() {
        return Err(Difference {
            step: expected.len().min(actual.len()),
            command: String::new(),
            message: format!("expected {} steps, got {}", expected.len(), actual.len()),
            calls: None,
        });
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        let diff = |message: String| Difference {
            step: i,
            command: e.command.clone(),
            message,
            calls: None,
        };
        if e.command != a.command {
            return Err(diff(format!(
                "commands differ: `{}` vs `{}`",
                e.command, a.command
            )));
        }
        if let (Some(eo), Some(ao)) = (e.ok, a.ok) {
            if eo != ao {
                return Err(diff(format!(
                    "expected {}, got {} ({})",
                    if eo { "success" } else { "failure" },
                    if ao { "success" } else { "failure" },
                    a.output
                )));
            }
            if !eo {
                // The CLI decorates daemon errors ("docker: " for run, help
                // hints, "Error: failed to start containers"): compare the
                // daemon's message, i.e. the first line, undecorated.
                let strip = |s: &str| {
                    let lines: Vec<&str> = s.trim().lines().collect();
                    let first = lines
                        .iter()
                        .find(|l| l.contains("Error response from daemon: "))
                        .or(lines.first())
                        .copied()
                        .unwrap_or("");
                    first
                        .trim_start_matches("docker: ")
                        .trim_start_matches("Error response from daemon: ")
                        .to_owned()
                };
                let (et, at) = (strip(&e.output), strip(&a.output));
                if !ids.text_match(&et, &at) {
                    return Err(diff(format!("error text: expected {et:?}, got {at:?}")));
                }
            }
        }
        let group = |calls: &[TraceCall]| -> BTreeMap<String, Vec<TraceCall>> {
            // Random names (anonymous volumes) are keyed by order of appearance.
            let mut anon: Vec<String> = Vec::new();
            let mut g: BTreeMap<String, Vec<TraceCall>> = BTreeMap::new();
            for c in calls.iter().filter(|c| keep(&c.plugin)) {
                // Calls to different plugins are independent sequences (dockerd
                // probes plugins in map order).
                let mut key = subject(c);
                if is_id(&key) {
                    let n = anon.iter().position(|a| *a == key).unwrap_or_else(|| {
                        anon.push(key.clone());
                        anon.len() - 1
                    });
                    key = format!("<random name #{n}>");
                }
                g.entry(format!("{} {key}", c.plugin))
                    .or_default()
                    .push(c.clone());
            }
            g
        };
        let (eg, ag) = (group(&e.calls), group(&a.calls));
        let show = |g: &BTreeMap<String, Vec<TraceCall>>| -> String {
            g.values()
                .flatten()
                .map(|c| format!("{} {} {}", c.plugin, c.method, c.request))
                .collect::<Vec<_>>()
                .join("\n    ")
        };
        if eg.keys().ne(ag.keys())
            || eg
                .values()
                .zip(ag.values())
                .any(|(x, y)| x.len() != y.len())
        {
            return Err(diff(format!(
                "calls differ.\n  expected:\n    {}\n  got:\n    {}",
                show(&eg),
                show(&ag)
            )));
        }
        for (ecalls, acalls) in eg.values().zip(ag.values()) {
            for (ec, ac) in ecalls.iter().zip(acalls) {
                if ec.plugin != ac.plugin || ec.method != ac.method {
                    return Err(diff(format!(
                        "expected {} {}, got {} {}.\n  expected:\n    {}\n  got:\n    {}",
                        ec.plugin,
                        ec.method,
                        ac.plugin,
                        ac.method,
                        show(&eg),
                        show(&ag)
                    )));
                }
                let in_call = |message: String| Difference {
                    calls: Some(Box::new((ec.clone(), ac.clone()))),
                    ..diff(message)
                };
                ids.values_match(&ec.request, &ac.request, &format!("{} request", ec.method))
                    .map_err(in_call)?;
                if let (Some(er), Some(ar)) = (&ec.response, &ac.response) {
                    ids.values_match(er, ar, &format!("{} response", ec.method))
                        .map_err(in_call)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(method: &str, req: Value) -> TraceCall {
        TraceCall {
            plugin: "p".into(),
            method: method.into(),
            request: req,
            response: None,
        }
    }

    fn step(calls: Vec<TraceCall>) -> TraceStep {
        TraceStep {
            command: "docker start c".into(),
            calls,
            ok: Some(true),
            output: String::new(),
        }
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn ids_must_pair_consistently_and_volume_order_is_free() {
        let exp = vec![
            step(vec![
                call("Get", json!({"Name": "v1"})),
                call("Mount", json!({"Name": "v1", "ID": A})),
                call("Get", json!({"Name": "v2"})),
                call("Mount", json!({"Name": "v2", "ID": B})),
            ]),
            step(vec![call("Unmount", json!({"Name": "v1", "ID": A}))]),
        ];
        // Volumes in the other order, other IDs: fine.
        let act = vec![
            step(vec![
                call("Get", json!({"Name": "v2"})),
                call("Mount", json!({"Name": "v2", "ID": C})),
                call("Get", json!({"Name": "v1"})),
                call("Mount", json!({"Name": "v1", "ID": B})),
            ]),
            step(vec![call("Unmount", json!({"Name": "v1", "ID": B}))]),
        ];
        compare(&exp, &act, |_| true).unwrap();
        // Unmount with the other volume's ID: caught.
        let mut bad = act.clone();
        bad[1].calls[0].request = json!({"Name": "v1", "ID": C});
        let d = compare(&exp, &bad, |_| true).unwrap_err();
        assert_eq!(d.step, 1);
        // Mount before Get for one volume: caught.
        let mut swapped = act.clone();
        swapped[0].calls.swap(0, 1);
        assert!(compare(&exp, &swapped, |_| true).is_err());
    }

    fn named(command: &str, calls: Vec<TraceCall>) -> TraceStep {
        TraceStep {
            command: command.into(),
            ..step(calls)
        }
    }

    #[test]
    fn a_recording_becomes_one_scenario_with_restarts_folded_and_set_up_skipped() {
        let get = || call("VolumeDriver.Get", json!({"Name": "v"}));
        let recording = vec![
            named("#start", vec![call("Plugin.Activate", Value::Null)]),
            named("#@ plugin p volume", vec![]),
            named("docker volume create -d p v", vec![get()]),
            named("#restart", vec![]),
            named("#restarted", vec![get()]),
            named("#@ authorization-plugin", vec![]),
            named("docker volume rm v", vec![get()]),
        ];
        let plan = replay_plan(&recording, &["#@ plugin p kind".into()], |c| {
            c.method != "Plugin.Activate"
        })
        .unwrap();
        assert_eq!(
            plan.text,
            "#@ plugin p kind\ndocker volume create -d p v\n#@ restart-daemon\n#@ authorization-plugin\ndocker volume rm v\n"
        );
        let commands: Vec<&str> = plan.expected.iter().map(|s| s.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "docker volume create -d p v",
                "#restart",
                "#@ authorization-plugin",
                "docker volume rm v"
            ]
        );
        // The new daemon's start-up call is the restart step's.
        assert_eq!(plan.expected[1].calls.len(), 1);
        assert_eq!(plan.skipped, ["#start"]);
    }

    #[test]
    fn a_set_up_step_that_called_a_replayed_plugin_cannot_be_replayed() {
        let recording = vec![named(
            "mkdir /tmp/x && curl --unix-socket …",
            vec![call("VolumeDriver.Create", json!({"Name": "v"}))],
        )];
        let e = replay_plan(&recording, &[], |_| true).unwrap_err();
        assert!(
            e.contains("`mkdir /tmp/x && curl --unix-socket …`")
                && e.contains("p VolumeDriver.Create"),
            "{e}"
        );
        assert!(replay_plan(&recording, &[], |_| false).is_ok());
    }
}
