//! Reports of scenario runs: text for people, JSON for tools, JUnit XML for CI,
//! and the JSON Lines trace (`--trace`).

use super::{ScenarioReport, StepReport};
use drydock_engine::trace::RpcRecord;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write;

/// Longest JSON shown inline for a call in text output.
const INLINE: usize = 100;

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > INLINE {
        let cut: String = s.chars().take(INLINE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// One call as a line: `plugin Method {request} → status {response} (µs)`.
pub fn call_line(c: &RpcRecord) -> String {
    let req = c.request_json();
    let req = if req.is_null() {
        String::new()
    } else {
        format!(" {}", compact(&req))
    };
    let answer = match (c.status, c.response_json()) {
        (Some(s), Some(body)) => format!("{s} {}", compact(&body)),
        _ => format!("no response: {}", c.error.as_deref().unwrap_or("")),
    };
    // dockerd's own waiting (retry backoffs, timeouts, injected delays), in
    // engine time: virtual in scenario runs, so it is exact and stable.
    let waited = (c.clock_micros > 0)
        .then(|| super::faults::fmt_duration(std::time::Duration::from_micros(c.clock_micros)));
    let retry = match (c.attempts > 1, waited) {
        (true, waited) => format!(
            " [{} attempts{}{}]",
            c.attempts,
            waited.map(|w| format!(" over {w}")).unwrap_or_default(),
            if c.empty_body_retry {
                ", retried with an EMPTY body"
            } else {
                ""
            }
        ),
        (false, Some(w)) => format!(" [after {w}]"),
        (false, None) => String::new(),
    };
    format!(
        "{} {}{req} → {answer} ({}µs){retry}",
        c.plugin, c.method, c.micros
    )
}

fn step_header(s: &StepReport) -> String {
    let text = match s.index {
        Some(i) => format!("[{i}] {}", s.text),
        None => format!("    {}", s.text),
    };
    if s.clock_micros > 0 {
        let waited = super::faults::fmt_duration(std::time::Duration::from_micros(s.clock_micros));
        format!("{text}   ⏱ {waited} of dockerd time")
    } else {
        text
    }
}

/// The human transcript of one scenario.
pub fn text(r: &ScenarioReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "── {}", r.path.display());
    if let Some(first) = r.description.lines().next() {
        let _ = writeln!(out, "   {first}");
    }
    for s in &r.steps {
        let _ = writeln!(out, "{}", step_header(s));
        for c in &s.calls {
            let _ = writeln!(out, "      {}", call_line(c));
        }
        match &s.outcome.error {
            None if s.outcome.stdout.trim().is_empty() => {}
            None => {
                for line in s.outcome.stdout.trim().lines() {
                    let _ = writeln!(out, "      │ {line}");
                }
            }
            Some(e) if e.starts_with(super::faults::HANG_PREFIX) => {
                // Not an answer dockerd gives: the runner gave up waiting.
                let _ = writeln!(out, "      ⧗ {e}");
            }
            Some(e) => {
                for line in e.lines() {
                    let _ = writeln!(out, "      ✗ Error response from daemon: {line}");
                }
            }
        }
    }
    for f in &r.failures {
        let _ = writeln!(out, "FAILED {}:{}: {}", r.path.display(), f.line, f.command);
        for line in f.message.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(
        out,
        "{} {} ({} steps, {} plugin calls, {:.1} ms)",
        if r.passed() { "PASS" } else { "FAIL" },
        r.path.display(),
        r.steps.len(),
        r.calls(),
        r.micros as f64 / 1000.0
    );
    out
}

/// A machine-readable report of one scenario.
pub fn json_report(r: &ScenarioReport) -> Value {
    json!({
        "path": r.path.display().to_string(),
        "description": r.description,
        "passed": r.passed(),
        "micros": r.micros,
        "steps": r.steps.iter().map(|s| json!({
            "step": s.index,
            "line": s.line,
            "command": s.text,
            "outcome": outcome_json(s),
            "calls": s.calls.iter().map(|c| rpc_json(s, c)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "failures": r.failures.iter().map(|f| json!({
            "line": f.line, "step": f.step, "command": f.command, "message": f.message,
        })).collect::<Vec<_>>(),
    })
}

fn outcome_json(s: &StepReport) -> Value {
    json!({"ok": s.outcome.error.is_none(), "error": s.outcome.error, "output": s.outcome.stdout})
}

fn rpc_json(s: &StepReport, c: &RpcRecord) -> Value {
    json!({
        "step": s.index,
        "command": s.text,
        "plugin": c.plugin,
        "method": c.method,
        "request": c.request_json(),
        "response": c.response_json(),
        "status": c.status,
        "error": c.error,
        "micros": c.micros,
    })
}

/// Writes the `--trace` JSON Lines of one scenario: one record per plugin RPC
/// and one per action, in order.
pub fn write_trace(r: &ScenarioReport, out: &mut dyn Write) -> std::io::Result<()> {
    for s in &r.steps {
        for c in &s.calls {
            let mut rec = rpc_json(s, c);
            if c.empty_body_retry {
                rec["empty_body_retry"] = json!(true);
            }
            if c.attempts > 1 {
                rec["attempts"] = json!(c.attempts);
            }
            if c.clock_micros > 0 {
                // Engine time (virtual in runs): retries, timeouts, delays.
                rec["engine_micros"] = json!(c.clock_micros);
            }
            writeln!(out, "{rec}")?;
        }
        writeln!(
            out,
            "{}",
            json!({"step": s.index, "command": s.text, "outcome": outcome_json(s)})
        )?;
    }
    Ok(())
}

/// Escapes text for XML (and so for SVG and HTML).
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testcase per scenario, failures with the step and expectation.
/// With a shard (`drydock run --shard K/N`) the testsuite is named and
/// numbered after it, so the N files of a CI matrix merge without two suites
/// of the same name.
pub fn junit(reports: &[ScenarioReport], shard: Option<crate::shard::Shard>) -> String {
    let failures = reports.iter().filter(|r| !r.passed()).count();
    let total: u64 = reports.iter().map(|r| r.micros).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        reports.len(),
        total as f64 / 1e6
    );
    let (name, id) = match shard {
        Some(s) => (
            format!("drydock shard {s}"),
            format!(" id=\"{}\"", s.index()),
        ),
        None => ("drydock".to_owned(), String::new()),
    };
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\"{id} tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        reports.len(),
        total as f64 / 1e6
    );
    if let Some(s) = shard {
        let _ = writeln!(
            out,
            "    <properties><property name=\"shard\" value=\"{s}\"/></properties>"
        );
    }
    for r in reports {
        let path = r.path.display().to_string();
        let _ = write!(
            out,
            "    <testcase classname=\"scenarios\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&path),
            r.micros as f64 / 1e6
        );
        if r.passed() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for f in &r.failures {
            let step = f.step.map(|s| format!("step {s}, ")).unwrap_or_default();
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                xml_escape(&format!("{path}:{}: {step}{}", f.line, f.command)),
                xml_escape(&f.message)
            );
        }
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            xml_escape(&text(r))
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
