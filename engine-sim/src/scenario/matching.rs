//! Checking a step's expectations against what the engine observed.
//!
//! The runner runs a step, collects its [`Outcome`] and the [`ObservedCall`]s
//! plugins received meanwhile, and calls [`Step::check`] with the scenario's
//! [`Vars`]. A [`Mismatch`] explains what was expected and what happened.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde_json::Value;

use super::ast::{CallPattern, CallsMode, ExpectKind, Expectation, Outcome, Step};
use super::pattern::{match_text, match_value, show_value, truncate, ValueMismatch};

/// One plugin call the engine made during a step, in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCall {
    /// The plugin's name (as in `#@ plugin NAME`).
    pub plugin: String,
    /// The method, i.e. the request path without its `/`: `VolumeDriver.Mount`.
    pub method: String,
    /// The request body as JSON; `null` when the body was empty (activation).
    pub request: Value,
    /// The response body as JSON, a JSON string holding the raw text if it
    /// was not JSON, or `None` if no response arrived (connection failure).
    pub response: Option<Value>,
    /// The HTTP status, `None` if no response arrived.
    pub status: Option<u16>,
    /// HTTP requests it took: 1, or more when dockerd retried after a
    /// connection failure.
    pub attempts: u32,
    /// Whether a retry went out with an empty body (the first attempt's body
    /// was already sent when the connection dropped).
    pub empty_body_retry: bool,
    /// Engine time the call took, retries and timeouts included (virtual in
    /// scenario runs).
    pub engine_time: std::time::Duration,
}

/// The scenario's variables: bound at first use, anywhere in the file, and
/// compared at every later use. One `Vars` lives for one run of a scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vars {
    bindings: BTreeMap<String, Binding>,
    /// Names in binding order, so a failed or abandoned match can be undone.
    trail: Vec<String>,
}

/// A variable's value and where it was bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The value (text captures are JSON strings).
    pub value: Value,
    /// Line of the expectation that bound it, for messages.
    pub line: u32,
}

impl Vars {
    /// No variables bound.
    pub fn new() -> Self {
        Vars::default()
    }

    /// The value of `$name`, if bound.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.bindings.get(name).map(|b| &b.value)
    }

    /// The binding of `$name`, if bound.
    pub fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings.get(name)
    }

    /// All bindings, by name (for traces).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.bindings.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub(crate) fn bind(&mut self, name: &str, value: Value, line: u32) {
        self.bindings
            .insert(name.to_string(), Binding { value, line });
        self.trail.push(name.to_string());
    }

    fn mark(&self) -> usize {
        self.trail.len()
    }

    /// Forgets every binding made since `mark`.
    fn undo(&mut self, mark: usize) {
        for name in self.trail.drain(mark..) {
            self.bindings.remove(&name);
        }
    }
}

/// An expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Line of the expectation (or of the step, for the implicit success check).
    pub line: u32,
    /// What was expected and what was seen, possibly several lines.
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Mismatch {}

impl Step {
    /// Checks every expectation of this step, in file order (so a variable
    /// bound by one is known to the next), and stops at the first mismatch.
    ///
    /// A step without `#> ok` or `#> error` must succeed: an unexpected
    /// failure is a mismatch at the step's line. Variables bound by a
    /// mismatching expectation are not kept.
    pub fn check(
        &self,
        outcome: &Outcome,
        calls: &[ObservedCall],
        vars: &mut Vars,
    ) -> Result<(), Mismatch> {
        let states_result = self
            .expectations
            .iter()
            .any(|e| matches!(e.kind, ExpectKind::Ok | ExpectKind::Error(_)));
        if !states_result {
            if let Some(error) = &outcome.error {
                return Err(Mismatch {
                    line: self.line,
                    message: format!(
                        "expected success (the step has no `#> error`), got error {}",
                        show_text(error)
                    ),
                });
            }
        }
        for expectation in &self.expectations {
            expectation.check(outcome, calls, vars)?;
        }
        Ok(())
    }
}

impl Expectation {
    /// Checks this one expectation; on success its new bindings stay in
    /// `vars`, on mismatch none do.
    pub fn check(
        &self,
        outcome: &Outcome,
        calls: &[ObservedCall],
        vars: &mut Vars,
    ) -> Result<(), Mismatch> {
        let mark = vars.mark();
        let result = self.check_inner(outcome, calls, vars);
        if result.is_err() {
            vars.undo(mark);
        }
        result.map_err(|message| Mismatch {
            line: self.line,
            message,
        })
    }

    fn check_inner(
        &self,
        outcome: &Outcome,
        calls: &[ObservedCall],
        vars: &mut Vars,
    ) -> Result<(), String> {
        match &self.kind {
            ExpectKind::Ok => match &outcome.error {
                None => Ok(()),
                Some(error) => Err(format!("expected ok, got error {}", show_text(error))),
            },
            ExpectKind::Error(pattern) => match &outcome.error {
                None => Err(format!("expected error {pattern}, but the step succeeded")),
                Some(error) if match_text(pattern, error.trim(), vars, self.line) => Ok(()),
                Some(error) => Err(format!(
                    "expected error {pattern}{}\n     got error {}",
                    bound_vars_note(pattern.parts.iter(), vars),
                    show_text(error.trim())
                )),
            },
            ExpectKind::Output(pattern) => {
                let stdout = outcome.stdout.trim();
                if match_text(pattern, stdout, vars, self.line) {
                    Ok(())
                } else {
                    Err(format!(
                        "expected output {pattern}{}\n     got output {}",
                        bound_vars_note(pattern.parts.iter(), vars),
                        show_text(stdout)
                    ))
                }
            }
            ExpectKind::NoCalls => {
                if calls.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "expected no plugin calls, observed {}:\n{}",
                        calls.len(),
                        list_observed(calls.iter().collect::<Vec<_>>().as_slice(), None)
                    ))
                }
            }
            ExpectKind::Count {
                plugin,
                method,
                count,
            } => {
                let seen = calls
                    .iter()
                    .filter(|c| c.plugin == *plugin && c.method == *method)
                    .count();
                if seen == *count {
                    Ok(())
                } else {
                    let all: Vec<&ObservedCall> =
                        calls.iter().filter(|c| c.plugin == *plugin).collect();
                    Err(format!(
                        "expected {count} call{} of {plugin} {method}, observed {seen}; calls to {plugin}:\n{}",
                        if *count == 1 { "" } else { "s" },
                        list_observed(&all, None)
                    ))
                }
            }
            ExpectKind::Calls { mode, calls: items } => check_calls(*mode, items, calls, vars),
            ExpectKind::Attempts {
                plugin,
                method,
                attempts,
                empty_body,
                over,
            } => {
                let mine: Vec<&ObservedCall> = calls
                    .iter()
                    .filter(|c| c.plugin == *plugin && c.method == *method)
                    .collect();
                let describe = |c: &ObservedCall| {
                    format!(
                        "{} attempt{} over {:?}{}",
                        c.attempts,
                        if c.attempts == 1 { "" } else { "s" },
                        c.engine_time,
                        if c.empty_body_retry {
                            ", retried with an empty body"
                        } else {
                            ""
                        }
                    )
                };
                if mine.is_empty() {
                    return Err(format!(
                        "expected a call of {plugin} {method}, observed none; calls:\n{}",
                        list_observed(&calls.iter().collect::<Vec<_>>(), None)
                    ));
                }
                let fits = |c: &&ObservedCall| {
                    c.attempts == *attempts
                        && c.empty_body_retry == *empty_body
                        && over.is_none_or(|d| d == c.engine_time)
                };
                if mine.iter().any(fits) {
                    return Ok(());
                }
                Err(format!(
                    "expected a call of {plugin} {method} that took {attempts} attempt{}{}{}, observed: {}",
                    if *attempts == 1 { "" } else { "s" },
                    over.map(|d| format!(" over {d:?}")).unwrap_or_default(),
                    if *empty_body {
                        ", retried with an empty body"
                    } else {
                        ""
                    },
                    mine.iter()
                        .map(|c| describe(c))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            }
        }
    }
}

fn show_text(text: &str) -> String {
    truncate(Value::String(text.to_string()).to_string(), 400)
}

/// ` (where $c1 = "…")` for the bound variables a text pattern used.
fn bound_vars_note<'a>(
    parts: impl Iterator<Item = &'a super::pattern::TextPart>,
    vars: &Vars,
) -> String {
    let bound: Vec<String> = parts
        .filter_map(|part| match part {
            super::pattern::TextPart::Var(name) => vars
                .get(name)
                .map(|value| format!("${name} = {}", show_value(value, 80))),
            super::pattern::TextPart::Literal(_) => None,
        })
        .collect();
    if bound.is_empty() {
        String::new()
    } else {
        format!(" (where {})", bound.join(", "))
    }
}

/// Why one observed call does not match one item.
fn match_call(item: &CallPattern, call: &ObservedCall, vars: &mut Vars) -> Result<(), String> {
    if item.plugin != call.plugin {
        return Err(format!(
            "plugin is {}, expected {}",
            call.plugin, item.plugin
        ));
    }
    if item.method != call.method {
        return Err(format!(
            "method is {}, expected {}",
            call.method, item.method
        ));
    }
    if let Some(pattern) = &item.request {
        match_value(pattern, &call.request, vars, item.line)
            .map_err(|m: ValueMismatch| format!("request {m}"))?;
    }
    if let Some(pattern) = &item.response {
        match &call.response {
            None => return Err("there was no response, expected one".to_string()),
            Some(response) => match_value(pattern, response, vars, item.line)
                .map_err(|m: ValueMismatch| format!("response {m}"))?,
        }
    }
    Ok(())
}

/// Attempts allowed to the backtracking searches: plenty for real blocks,
/// and a clear message rather than a hang for a pathological one.
const SEARCH_BUDGET: usize = 200_000;

fn check_calls(
    mode: CallsMode,
    items: &[CallPattern],
    observed: &[ObservedCall],
    vars: &mut Vars,
) -> Result<(), String> {
    let mut plugins: Vec<&str> = items.iter().map(|i| i.plugin.as_str()).collect();
    plugins.sort_unstable();
    plugins.dedup();
    let scoped: Vec<&ObservedCall> = observed
        .iter()
        .filter(|c| plugins.contains(&c.plugin.as_str()))
        .collect();
    let scope = plugins.join(", ");
    match mode {
        CallsMode::Exact => {
            for (i, item) in items.iter().enumerate() {
                let Some(call) = scoped.get(i) else {
                    return Err(calls_report(
                        &format!(
                            "expected {} calls to {scope}, observed {}; first missing: item {}",
                            items.len(),
                            scoped.len(),
                            i + 1
                        ),
                        items,
                        Some(i),
                        &scoped,
                        None,
                    ));
                };
                if let Err(why) = match_call(item, call, vars) {
                    return Err(calls_report(
                        &format!("calls to {scope} differ at item {}: {why}", i + 1),
                        items,
                        Some(i),
                        &scoped,
                        Some(i),
                    ));
                }
            }
            if scoped.len() > items.len() {
                return Err(calls_report(
                    &format!(
                        "expected {} calls to {scope}, observed {}; first extra: observed {}",
                        items.len(),
                        scoped.len(),
                        items.len() + 1
                    ),
                    items,
                    None,
                    &scoped,
                    Some(items.len()),
                ));
            }
            Ok(())
        }
        CallsMode::Unordered => {
            if scoped.len() != items.len() {
                return Err(calls_report(
                    &format!(
                        "expected {} calls to {scope} (in any order), observed {}",
                        items.len(),
                        scoped.len()
                    ),
                    items,
                    None,
                    &scoped,
                    None,
                ));
            }
            let mut search = Search::new();
            let mut used = vec![false; scoped.len()];
            if search.assign(items, &scoped, &mut used, 0, vars) {
                return Ok(());
            }
            // Explain: the first item that matches no call on its own, else
            // the variables could not be made consistent.
            let lonely = items.iter().position(|item| {
                scoped.iter().all(|call| {
                    let mark = vars.mark();
                    let ok = match_call(item, call, vars).is_ok();
                    vars.undo(mark);
                    !ok
                })
            });
            let summary = match (lonely, search.exhausted()) {
                (_, true) => format!(
                    "gave up pairing {} calls to {scope} after {SEARCH_BUDGET} attempts; make the items more specific",
                    items.len()
                ),
                (Some(i), _) => format!(
                    "calls to {scope} (in any order): item {} matches no observed call{}",
                    i + 1,
                    nearest_miss(&items[i], &scoped, vars)
                ),
                (None, _) => format!(
                    "calls to {scope} (in any order): every item matches some call, but no pairing gives each variable one value"
                ),
            };
            Err(calls_report(&summary, items, lonely, &scoped, None))
        }
        CallsMode::Include => {
            let mut search = Search::new();
            if search.subsequence(items, &scoped, 0, 0, vars) {
                return Ok(());
            }
            let summary = if search.exhausted() {
                format!(
                    "gave up searching calls to {scope} after {SEARCH_BUDGET} attempts; make the items more specific"
                )
            } else if search.deepest == 0 {
                format!(
                    "calls to {scope} include no call matching item 1{}",
                    nearest_miss(&items[0], &scoped, vars)
                )
            } else {
                let found = match search.deepest {
                    1 => "item 1 appears".to_string(),
                    n => format!("items 1 to {n} appear in order"),
                };
                format!(
                    "calls to {scope}: {found}, but no later call matches item {}",
                    search.deepest + 1
                )
            };
            Err(calls_report(
                &summary,
                items,
                Some(search.deepest),
                &scoped,
                None,
            ))
        }
    }
}

/// ` (observed N: why)` for the first call with the item's plugin and
/// method, which is usually the one the author meant.
fn nearest_miss(item: &CallPattern, calls: &[&ObservedCall], vars: &mut Vars) -> String {
    let Some((i, call)) = calls
        .iter()
        .enumerate()
        .find(|(_, c)| c.plugin == item.plugin && c.method == item.method)
    else {
        return format!(" (no call of {} {} at all)", item.plugin, item.method);
    };
    let mark = vars.mark();
    let why = match_call(item, call, vars).err().unwrap_or_default();
    vars.undo(mark);
    format!(" (observed {}: {why})", i + 1)
}

/// Backtracking over call/item pairings, shared by `unordered` and `include`.
struct Search {
    budget: usize,
    /// Most items matched in order by any attempt (for `include` messages).
    deepest: usize,
}

impl Search {
    fn new() -> Self {
        Search {
            budget: SEARCH_BUDGET,
            deepest: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.budget == 0
    }

    fn try_pair(&mut self, item: &CallPattern, call: &ObservedCall, vars: &mut Vars) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        match_call(item, call, vars).is_ok()
    }

    /// Pairs items `i..` with unused calls, each call used once.
    fn assign(
        &mut self,
        items: &[CallPattern],
        calls: &[&ObservedCall],
        used: &mut [bool],
        i: usize,
        vars: &mut Vars,
    ) -> bool {
        let Some(item) = items.get(i) else {
            return true;
        };
        for j in 0..calls.len() {
            // Identical unused calls are interchangeable: trying one is enough.
            if used[j] || (0..j).any(|k| !used[k] && calls[k] == calls[j]) {
                continue;
            }
            let mark = vars.mark();
            if self.try_pair(item, calls[j], vars) {
                used[j] = true;
                if self.assign(items, calls, used, i + 1, vars) {
                    return true;
                }
                used[j] = false;
            }
            vars.undo(mark);
        }
        false
    }

    /// Matches items `i..` to calls `from..` in order.
    fn subsequence(
        &mut self,
        items: &[CallPattern],
        calls: &[&ObservedCall],
        i: usize,
        from: usize,
        vars: &mut Vars,
    ) -> bool {
        self.deepest = self.deepest.max(i);
        let Some(item) = items.get(i) else {
            return true;
        };
        for j in from..calls.len() {
            let mark = vars.mark();
            if self.try_pair(item, calls[j], vars)
                && self.subsequence(items, calls, i + 1, j + 1, vars)
            {
                return true;
            }
            vars.undo(mark);
        }
        false
    }
}

/// The summary, then both lists with `>` marking the items in question.
fn calls_report(
    summary: &str,
    items: &[CallPattern],
    item_mark: Option<usize>,
    calls: &[&ObservedCall],
    call_mark: Option<usize>,
) -> String {
    let mut out = format!("{summary}\n  expected:\n");
    for (i, item) in items.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {} {:>2}  {}",
            if item_mark == Some(i) { ">" } else { " " },
            i + 1,
            show_item(item)
        );
    }
    out.push_str("  observed:\n");
    out.push_str(&list_observed(calls, call_mark));
    out.truncate(out.trim_end().len());
    out
}

fn list_observed(calls: &[&ObservedCall], mark: Option<usize>) -> String {
    if calls.is_empty() {
        return "         (none)\n".to_string();
    }
    let mut out = String::new();
    for (i, call) in calls.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {} {:>2}  {}",
            if mark == Some(i) { ">" } else { " " },
            i + 1,
            show_call(call)
        );
    }
    out
}

fn show_item(item: &CallPattern) -> String {
    let mut out = format!("{} {}", item.plugin, item.method);
    if let Some(request) = &item.request {
        let _ = write!(out, " {request}");
    }
    if let Some(response) = &item.response {
        let _ = write!(out, " -> {response}");
    }
    out
}

/// One observed call in the same shape as an item line.
pub fn show_call(call: &ObservedCall) -> String {
    let mut out = format!("{} {}", call.plugin, call.method);
    if !call.request.is_null() {
        let _ = write!(out, " {}", show_value(&call.request, 120));
    }
    match (&call.response, call.status) {
        (Some(response), Some(200) | None) => {
            let _ = write!(out, " -> {}", show_value(response, 120));
        }
        (Some(response), Some(status)) => {
            let _ = write!(out, " -> {status} {}", show_value(response, 120));
        }
        (None, _) => out.push_str(" -> (no response)"),
    }
    out
}
