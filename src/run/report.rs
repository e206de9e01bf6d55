//! Reports of scenario runs: text for people, JSON for tools, JUnit XML for CI,
//! and the JSON Lines trace (`--trace`).

use super::{Failure, Observer, ScenarioReport, StepReport, Summary};
use drydock_engine::trace::RpcRecord;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// Longest JSON shown inline for a call in text output.
const INLINE: usize = 100;

fn compact(v: &Value) -> String {
    shorten(v.to_string())
}

fn shorten(s: String) -> String {
    match s.char_indices().nth(INLINE) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

/// A body as the text transcript shows it: its compact JSON, cut at
/// [`INLINE`] characters; `None` for an empty body or `null`.
///
/// Most bodies are already what re-encoding them would print (Go's encoder
/// writes compact JSON; keys stay in body order): plain ASCII structure, no
/// escapes, no whitespace between tokens, small integers only. Those are
/// shown as they are, without building a JSON tree; any other body goes
/// through `serde_json::Value`, as before. Both give the same text.
fn shown(body: &[u8]) -> Option<String> {
    let trimmed = body.strip_suffix(b"\n").unwrap_or(body);
    if is_plain_json(trimmed) {
        if trimmed == b"null" {
            return None;
        }
        if let Ok(text) = std::str::from_utf8(trimmed) {
            return Some(shorten(text.to_owned()));
        }
    }
    let v = drydock_engine::trace::body_json(body);
    (!v.is_null()).then(|| compact(&v))
}

/// Whether `body` is one valid JSON value that `Value::to_string` would
/// print back byte for byte (see [`shown`]).
fn is_plain_json(body: &[u8]) -> bool {
    let mut in_string = false;
    let mut digits = 0;
    for &b in body {
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' => return false,
                c if c < 0x20 => return false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'0'..=b'9' => {
                // Large integers and anything with a fraction or exponent
                // may be printed differently.
                digits += 1;
                if digits > 15 {
                    return false;
                }
                continue;
            }
            b'{' | b'}' | b'[' | b']' | b':' | b',' => {}
            // `true`, `false`, `null`; an `e` right after digits is an
            // exponent.
            b't' | b'r' | b'u' | b'e' | b'f' | b'a' | b'l' | b's' | b'n' if digits == 0 => {}
            _ => return false,
        }
        digits = 0;
    }
    !in_string && !body.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// One call as a line: `plugin Method {request} → status {response} (µs)`.
pub fn call_line(c: &RpcRecord) -> String {
    let req = match shown(&c.request) {
        Some(r) => format!(" {r}"),
        None => String::new(),
    };
    let answer = match (c.status, c.response.as_deref()) {
        (Some(s), Some(body)) => format!("{s} {}", shown(body).unwrap_or_else(|| "null".into())),
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

/// The human transcript of one scenario (what `drydock run` prints for it).
pub fn text(r: &ScenarioReport) -> String {
    let mut w = TextWriter::new(Vec::new());
    replay_report(r, &mut w);
    String::from_utf8(w.into_inner()).expect("the transcript is UTF-8")
}

/// Tells `observer` about a finished report, as its run would have.
pub fn replay_report(r: &ScenarioReport, observer: &mut dyn Observer) {
    observer.start(&r.path, &r.description);
    for s in &r.steps {
        observer.step(s, None);
    }
    observer.end(&Summary {
        path: r.path.clone(),
        description: r.description.clone(),
        steps: r.steps.len(),
        calls: r.calls(),
        failures: r.failures.clone(),
        micros: r.micros,
        interrupted: false,
    });
}

/// A streaming report's output: every write is flushed at once, and the
/// first failure (a closed pipe) is kept, ends later writes, and stops the
/// run as SIGPIPE would.
struct Flushed<W: Write> {
    out: W,
    error: Option<std::io::Error>,
    /// Triggered when the output breaks, so the run stops.
    on_error: Option<super::Interrupt>,
}

impl<W: Write> Flushed<W> {
    fn new(out: W) -> Self {
        Flushed {
            out,
            error: None,
            on_error: None,
        }
    }

    fn put(&mut self, write: impl FnOnce(&mut W) -> std::io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = write(&mut self.out).and_then(|()| self.out.flush()) {
            self.error = Some(e);
            if let Some(i) = &self.on_error {
                i.trigger(13); // as SIGPIPE would
            }
        }
    }
}

/// Writes the text transcript as the run goes: each step when it ends
/// (flushed), the failures and the verdict when the scenario ends.
pub struct TextWriter<W: Write> {
    sink: Flushed<W>,
}

impl<W: Write> TextWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        TextWriter {
            sink: Flushed::new(out),
        }
    }

    /// Stops runs sharing `interrupt` once writing fails.
    pub fn stop_on_error(mut self, interrupt: super::Interrupt) -> Self {
        self.sink.on_error = Some(interrupt);
        self
    }

    /// The first write error, if any.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.sink.error.take()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.sink.out
    }

    /// The underlying writer, to write between scenarios.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.sink.out
    }

    fn put(&mut self, write: impl FnOnce(&mut W) -> std::io::Result<()>) {
        self.sink.put(write)
    }
}

fn write_step(out: &mut dyn Write, s: &StepReport) -> std::io::Result<()> {
    writeln!(out, "{}", step_header(s))?;
    for c in &s.calls {
        writeln!(out, "      {}", call_line(c))?;
    }
    match &s.outcome.error {
        None if s.outcome.stdout.trim().is_empty() => {}
        None => {
            for line in s.outcome.stdout.trim().lines() {
                writeln!(out, "      │ {line}")?;
            }
        }
        Some(e) if e.starts_with(super::faults::HANG_PREFIX) => {
            // Not an answer dockerd gives: the runner gave up waiting.
            writeln!(out, "      ⧗ {e}")?;
        }
        Some(e) => {
            for line in e.lines() {
                writeln!(out, "      ✗ Error response from daemon: {line}")?;
            }
        }
    }
    Ok(())
}

impl<W: Write> Observer for TextWriter<W> {
    fn start(&mut self, path: &Path, description: &str) {
        self.put(|out| {
            writeln!(out, "── {}", path.display())?;
            if let Some(first) = description.lines().next() {
                writeln!(out, "   {first}")?;
            }
            Ok(())
        });
    }

    fn step(&mut self, s: &StepReport, _failure: Option<&Failure>) {
        self.put(|out| write_step(out, s));
    }

    fn end(&mut self, r: &Summary) {
        self.put(|out| {
            for f in &r.failures {
                writeln!(out, "FAILED {}:{}: {}", r.path.display(), f.line, f.command)?;
                for line in f.message.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            writeln!(
                out,
                "{} {} ({} steps, {} plugin calls, {:.1} ms)",
                if r.passed() { "PASS" } else { "FAIL" },
                r.path.display(),
                r.steps,
                r.calls,
                r.micros as f64 / 1000.0
            )
        });
    }
}

/// Writes `drydock run --format json` as the run goes: one JSON document,
/// `{"scenarios": [...], "passed": N, "failed": M}`, each step on its own
/// line the moment it ends (a reader can follow it; a parser reads it whole).
pub struct JsonWriter<W: Write> {
    sink: Flushed<W>,
    scenarios: usize,
    steps: usize,
}

impl<W: Write> JsonWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        JsonWriter {
            sink: Flushed::new(out),
            scenarios: 0,
            steps: 0,
        }
    }

    /// Stops runs sharing `interrupt` once writing fails.
    pub fn stop_on_error(mut self, interrupt: super::Interrupt) -> Self {
        self.sink.on_error = Some(interrupt);
        self
    }

    fn put(&mut self, write: impl FnOnce(&mut W) -> std::io::Result<()>) {
        self.sink.put(write)
    }

    /// Closes the document with the totals (and `extra` fields, e.g. the
    /// shard); returns the first write error.
    pub fn finish(
        mut self,
        passed: usize,
        failed: usize,
        extra: serde_json::Map<String, Value>,
    ) -> std::io::Result<W> {
        let open = self.scenarios == 0;
        self.put(|out| {
            if open {
                writeln!(out, "{{\"scenarios\": [")?;
            }
            write!(out, "],\n\"passed\": {passed},\n\"failed\": {failed}")?;
            for (k, v) in extra {
                write!(out, ",\n{}: {v}", Value::String(k))?;
            }
            writeln!(out, "\n}}")
        });
        match self.sink.error {
            Some(e) => Err(e),
            None => Ok(self.sink.out),
        }
    }
}

impl<W: Write> Observer for JsonWriter<W> {
    fn start(&mut self, path: &Path, description: &str) {
        let first = self.scenarios == 0;
        self.scenarios += 1;
        self.steps = 0;
        self.put(|out| {
            // Each line is complete when written (a separating comma opens
            // the next one), so a reader following the output sees it whole.
            write!(out, "{}", if first { "{\"scenarios\": [\n" } else { ", " })?;
            writeln!(
                out,
                "{{\"path\": {}, \"description\": {}, \"steps\": [",
                json!(path.display().to_string()),
                json!(description)
            )
        });
    }

    fn step(&mut self, s: &StepReport, _failure: Option<&Failure>) {
        let first = self.steps == 0;
        self.steps += 1;
        self.put(|out| writeln!(out, "{} {}", if first { " " } else { "," }, step_json(s)));
    }

    fn end(&mut self, r: &Summary) {
        self.put(|out| {
            write!(
                out,
                "], \"failures\": {}, \"passed\": {}, \"micros\": {}",
                Value::Array(r.failures.iter().map(failure_json).collect()),
                r.passed(),
                r.micros
            )?;
            if r.interrupted {
                write!(out, ", \"interrupted\": true")?;
            }
            writeln!(out, "}}")
        });
    }
}

fn step_json(s: &StepReport) -> Value {
    json!({
        "step": s.index,
        "line": s.line,
        "command": s.text,
        "outcome": outcome_json(s),
        "calls": s.calls.iter().map(|c| rpc_json(s, c)).collect::<Vec<_>>(),
    })
}

fn failure_json(f: &super::Failure) -> Value {
    json!({"line": f.line, "step": f.step, "command": f.command, "message": f.message})
}

/// A machine-readable report of one scenario.
pub fn json_report(r: &ScenarioReport) -> Value {
    json!({
        "path": r.path.display().to_string(),
        "description": r.description,
        "passed": r.passed(),
        "micros": r.micros,
        "steps": r.steps.iter().map(step_json).collect::<Vec<_>>(),
        "failures": r.failures.iter().map(failure_json).collect::<Vec<_>>(),
    })
}

fn outcome_json(s: &StepReport) -> Value {
    json!({"ok": s.outcome.error.is_none(), "error": s.outcome.error, "output": s.outcome.stdout})
}

fn rpc_json(s: &StepReport, c: &RpcRecord) -> Value {
    let mut rec = json!({"step": s.index, "command": s.text});
    if let (Some(r), Value::Object(call)) = (rec.as_object_mut(), call_json(c)) {
        r.extend(call);
    }
    rec
}

/// One plugin call as `--trace` records show it (`drydock run` adds the
/// step it belongs to; `drydock serve` writes it as it is).
pub fn call_json(c: &RpcRecord) -> Value {
    json!({
        "plugin": c.plugin,
        "method": c.method,
        "request": c.request_json(),
        "response": c.response_json(),
        "status": c.status,
        "error": c.error,
        "micros": c.micros,
    })
}

/// One step's `--trace` JSON Lines: a record per plugin RPC, then one for
/// the action.
fn trace_step(s: &StepReport, out: &mut dyn Write) -> std::io::Result<()> {
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
    )
}

/// Writes the `--trace` JSON Lines as the run goes, flushed after each step.
pub struct TraceWriter<W: Write> {
    sink: Flushed<W>,
}

impl<W: Write> TraceWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        TraceWriter {
            sink: Flushed::new(out),
        }
    }

    /// The first write error, if any.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.sink.error.take()
    }
}

impl<W: Write> Observer for TraceWriter<W> {
    fn step(&mut self, s: &StepReport, _failure: Option<&Failure>) {
        self.sink.put(|out| trace_step(s, out));
    }
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
    let mut w = JunitWriter::new().expect("a temporary file for the JUnit report");
    for r in reports {
        replay_report(r, &mut w);
    }
    let mut out = Vec::new();
    w.finish(&mut out, shard).expect("writing to memory");
    String::from_utf8(out).expect("the report is UTF-8")
}

/// Builds the JUnit report as the run goes, on disk: each scenario's
/// transcript is spooled to a temporary file (kept for a failing one's
/// `<system-out>`), each testcase written when its scenario ends; the
/// document, whose header counts every case, comes out at the end.
pub struct JunitWriter {
    transcript: TextWriter<std::io::BufWriter<std::fs::File>>,
    cases: std::io::BufWriter<std::fs::File>,
    tests: usize,
    failures: usize,
    micros: u64,
    error: Option<std::io::Error>,
}

impl JunitWriter {
    /// A writer spooling to two temporary files.
    pub fn new() -> std::io::Result<Self> {
        Ok(JunitWriter {
            transcript: TextWriter::new(std::io::BufWriter::new(tempfile::tempfile()?)),
            cases: std::io::BufWriter::new(tempfile::tempfile()?),
            tests: 0,
            failures: 0,
            micros: 0,
            error: None,
        })
    }

    fn case(&mut self, r: &Summary) -> std::io::Result<()> {
        use std::io::{BufRead, Seek};
        let path = r.path.display().to_string();
        let out = &mut self.cases;
        write!(
            out,
            "    <testcase classname=\"scenarios\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&path),
            r.micros as f64 / 1e6
        )?;
        if r.passed() {
            return out.write_all(b"/>\n");
        }
        out.write_all(b">\n")?;
        for f in &r.failures {
            let step = f.step.map(|s| format!("step {s}, ")).unwrap_or_default();
            writeln!(
                out,
                "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                xml_escape(&format!("{path}:{}: {step}{}", f.line, f.command)),
                xml_escape(&f.message)
            )?;
        }
        out.write_all(b"      <system-out>")?;
        if let Some(e) = self.transcript.take_error() {
            return Err(e);
        }
        let spool = self.transcript.get_mut();
        spool.flush()?;
        let file = spool.get_mut();
        file.rewind()?;
        let mut lines = std::io::BufReader::new(&*file);
        let mut line = String::new();
        while lines.read_line(&mut line)? > 0 {
            out.write_all(xml_escape(&line).as_bytes())?;
            line.clear();
        }
        out.write_all(b"</system-out>\n    </testcase>\n")
    }

    /// Writes the whole document to `out`.
    pub fn finish(
        mut self,
        out: &mut dyn Write,
        shard: Option<crate::shard::Shard>,
    ) -> std::io::Result<()> {
        use std::io::Seek;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (tests, failures, total) = (self.tests, self.failures, self.micros);
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites tests=\"{tests}\" failures=\"{failures}\" time=\"{:.3}\">",
            total as f64 / 1e6
        )?;
        let (name, id) = match shard {
            Some(s) => (
                format!("drydock shard {s}"),
                format!(" id=\"{}\"", s.index()),
            ),
            None => ("drydock".to_owned(), String::new()),
        };
        writeln!(
            out,
            "  <testsuite name=\"{name}\"{id} tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
            total as f64 / 1e6
        )?;
        if let Some(s) = shard {
            writeln!(
                out,
                "    <properties><property name=\"shard\" value=\"{s}\"/></properties>"
            )?;
        }
        let mut cases = self.cases.into_inner().map_err(|e| e.into_error())?;
        cases.rewind()?;
        std::io::copy(&mut cases, out)?;
        out.write_all(b"  </testsuite>\n</testsuites>\n")?;
        out.flush()
    }
}

impl Observer for JunitWriter {
    fn start(&mut self, path: &Path, description: &str) {
        use std::io::Seek;
        let spool = self.transcript.get_mut();
        let reset = spool
            .flush()
            .and_then(|()| spool.get_mut().set_len(0))
            .and_then(|()| spool.get_mut().rewind());
        if let Err(e) = reset {
            self.error.get_or_insert(e);
        }
        self.transcript.start(path, description);
    }

    fn step(&mut self, step: &StepReport, failure: Option<&Failure>) {
        self.transcript.step(step, failure);
    }

    fn end(&mut self, r: &Summary) {
        self.transcript.end(r);
        self.tests += 1;
        self.micros += r.micros;
        if !r.passed() {
            self.failures += 1;
        }
        if let Err(e) = self.case(r) {
            self.error.get_or_insert(e);
        }
    }
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    /// The fast path must print what decoding and re-encoding prints.
    #[test]
    fn plain_bodies_are_shown_as_their_json_would_be_printed() {
        let bodies: &[&[u8]] = &[
            b"{}\n",
            b"null",
            b"",
            b"\n",
            b"{\"Name\":\"v\",\"Opts\":null}\n",
            b"{\"Volume\":{\"Name\":\"v1\",\"Mountpoint\":\"/tmp/x/volumes/v1\",\"CreatedAt\":\"2026-12-07T20:00:00Z\"}}\n",
            b"{\"Implements\":[\"VolumeDriver\",\"IpamDriver\"]}",
            b"{\"Err\":\"\"}",
            b"{\"n\":123456789012345,\"b\":true,\"f\":false}",
            b"{\"n\":1234567890123456789012}",
            b"{\"x\":1.50}",
            b"{\"x\":-0}",
            b"{\"x\":1e3}",
            b"{ \"spaced\" : 1 }",
            b"{\"esc\":\"\\u003cb\\u003e \\\"q\\\"\"}",
            b"{\"a\":1}{\"b\":2}",
            b"not json at all",
            b"{\"unicode\":\"caf\xc3\xa9 \xe2\x9c\x93\"}",
            b"{\"long\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\xc3\xa9\"}",
            b"[1,2,[3,{\"k\":null}]]",
        ];
        for body in bodies {
            let v = drydock_engine::trace::body_json(body);
            let slow = (!v.is_null()).then(|| compact(&v));
            assert_eq!(shown(body), slow, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn only_bodies_that_print_back_the_same_take_the_fast_path() {
        assert!(is_plain_json(b"{\"Name\":\"v\",\"Opts\":null}"));
        assert!(!is_plain_json(b"{\"x\":1.5}"));
        assert!(!is_plain_json(b"{ \"x\":1}"));
        assert!(!is_plain_json(b"{\"x\":\"\\n\"}"));
        assert!(!is_plain_json(b"{\"x\":1}{}"));
    }
}
