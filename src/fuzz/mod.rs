//! `drydock fuzz`: property-based scenarios. Random but valid docker
//! workloads (generated as scenario text, [`gen`]) run against a plugin under
//! test, and the invariants of docs/invariants.md ([`check`]) are checked
//! after every step. A failing case is shrunk by proptest and written as a
//! scenario file that `drydock run` fails on in the same way.
//!
//! Every case runs on a fresh [`Engine`] with the same seed as `drydock run`
//! (1), so the IDs in a counterexample are the ones a replay sees.
//!
//! With [`FuzzOptions::concurrent`], two adjacent lines that act on two
//! different containers (`docker start c1` then `docker stop c2`…) run at once
//! (`tokio::join!` on [`Engine::docker`]), where concurrent duplicate calls
//! reach the plugin. A scenario file cannot say "at once", so a failing case
//! is replayed one step at a time: if it still fails, that sequential run is
//! what the counterexample shows; if not, the file says the failure is
//! concurrent-only.

pub mod check;
pub mod gen;

use crate::run::launch::{Dirs, Launcher, TransportKind};
use crate::run::{run_scenario, RunOptions};
use bytes::Bytes;
use check::{Model, Repro, Violation};
use drydock_engine::client::CallOptions;
use drydock_engine::clock::VirtualClock;
use drydock_engine::discovery::PluginRoots;
use drydock_engine::engine::{Engine, EngineConfig};
use drydock_engine::scenario::{parse, Directive, Outcome, StepKind};
use drydock_engine::trace::RpcRecord;
use drydock_sdk::wire::plugin::Protocol;
use gen::{FuzzProtocol, GenConfig};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How the plugin under test is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// A built-in kind (`#@ plugin NAME KIND`).
    Kind(String),
    /// A program (`#@ plugin NAME exec -- CMD…`).
    Exec(Vec<String>),
    /// Already running, found by discovery (`--plugins-dir`/`--spec-dir`).
    Discovered,
}

/// What to fuzz and how.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The plugin's name.
    pub plugin: String,
    /// How it is started.
    pub launch: Launch,
    /// Which commands to generate.
    pub protocol: FuzzProtocol,
    /// Number of cases.
    pub cases: u32,
    /// Most lines per case.
    pub steps: usize,
    /// Seed of the case generator.
    pub seed: u64,
    /// How runner-started plugins are reached.
    pub transport: TransportKind,
    /// Discovery roots for [`Launch::Discovered`].
    pub plugins_dir: Option<PathBuf>,
    /// Extra spec directories.
    pub spec_dirs: Vec<PathBuf>,
    /// Settings of a built-in kind (`key=value` on the `#@ plugin` line).
    pub settings: Vec<String>,
    /// Run adjacent commands on different containers at once.
    pub concurrent: bool,
    /// Generate `#@ restart-plugin` (off for plugins that keep their state in
    /// memory, which forget every volume and pool at a restart).
    pub restart_plugin: bool,
}

/// The outcome of one case.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    /// Plugin calls made (steps and probes).
    pub calls: u64,
    /// Invariant checks made.
    pub checks: u64,
    /// The first violation, with the index of the line that caused it.
    pub violation: Option<(usize, Violation)>,
    /// Each line's outcome, in order, up to the violation.
    pub outcomes: Vec<Outcome>,
    /// The violating step's calls (to write a `#> calls:` block).
    pub violating_calls: Vec<RpcRecord>,
}

/// A shrunk failing case.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The generated lines (actions and directives).
    pub lines: Vec<String>,
    /// Index of the violating line.
    pub step: usize,
    /// What broke.
    pub violation: Violation,
    /// The scenario file text.
    pub scenario: String,
    /// Whether `drydock run` of the file fails (checked after writing it).
    pub reproduced: Option<bool>,
}

/// What a fuzz run found.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    /// The generator's seed.
    pub seed: u64,
    /// Cases run (including shrinking runs).
    pub cases: u64,
    /// Plugin calls made.
    pub calls: u64,
    /// Invariant checks made.
    pub checks: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The counterexample, if an invariant broke.
    pub failure: Option<Counterexample>,
    /// A problem that is not an invariant (the plugin could not start…).
    pub error: Option<String>,
}

impl FuzzReport {
    /// Cases per second.
    pub fn cases_per_sec(&self) -> f64 {
        self.cases as f64 / self.seconds.max(1e-9)
    }

    /// Plugin calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.seconds.max(1e-9)
    }
}

/// The `#@ plugin` line of the plugin under test, if the scenario starts it.
pub fn plugin_line(opts: &FuzzOptions) -> Option<String> {
    match &opts.launch {
        Launch::Kind(kind) => Some(
            std::iter::once(format!("#@ plugin {} {kind}", opts.plugin))
                .chain(opts.settings.iter().map(|s| shell_word(s)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Launch::Exec(argv) => Some(format!(
            "#@ plugin {} exec -- {}",
            opts.plugin,
            argv.iter()
                .map(|a| shell_word(a))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        Launch::Discovered => None,
    }
}

/// Quotes a word for a scenario line (sh rules) when it needs it.
fn shell_word(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:{},+@%".contains(c));
    if plain {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The lines before the generated ones: the `#@ plugin` line, and for authz
/// the `#@ authorization-plugin` line.
pub fn header_lines(opts: &FuzzOptions) -> Vec<String> {
    let mut out: Vec<String> = plugin_line(opts).into_iter().collect();
    if opts.protocol == FuzzProtocol::Authz {
        out.push(format!("#@ authorization-plugin {}", opts.plugin));
    }
    out
}

fn scenario_text(opts: &FuzzOptions, lines: &[String]) -> String {
    let mut text = String::new();
    for h in header_lines(opts) {
        text.push_str(&h);
        text.push('\n');
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

/// A temporary directory on tmpfs when there is one: the reference plugins
/// fsync their state, and a fuzz run makes thousands of them.
fn scratch() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new()
        .prefix("drydock-fuzz-")
        .tempdir_in(shm);
    match b {
        Ok(t) => Ok(t),
        Err(_) => tempfile::Builder::new().prefix("drydock-fuzz-").tempdir(),
    }
}

async fn probe_volumes(engine: &Engine, name: &str, model: &mut Model) -> Option<Violation> {
    let handle = engine
        .registry()
        .get(name, Protocol::VolumeDriver)
        .await
        .ok()?;
    let call = |method: &'static str, body: Value| {
        let client = handle.client.clone();
        async move {
            let raw = client
                .call_raw(
                    method,
                    Bytes::from(body.to_string()),
                    CallOptions::default(),
                )
                .await;
            raw.ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .unwrap_or(Value::Null)
        }
    };
    let list = call("VolumeDriver.List", serde_json::json!({})).await;
    let mut gets = Vec::new();
    for v in model.acked.clone() {
        let get = call("VolumeDriver.Get", serde_json::json!({ "Name": v })).await;
        gets.push((v, get));
    }
    model.check_volumes(&list, &gets)
}

/// The container a lifecycle line acts on, if it may run alongside another:
/// `docker start|stop|kill|restart|wait C`, `docker run -d --name C …`.
fn container_of(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["docker", "start" | "stop" | "kill" | "restart" | "wait", c] => Some(c),
        ["docker", "run", "-d", "--name", c, ..] => Some(c),
        _ => None,
    }
}

/// Whether lines `a` and `b` may run at once in a concurrent case.
pub fn pairable(a: &str, b: &str) -> bool {
    matches!((container_of(a), container_of(b)), (Some(x), Some(y)) if x != y)
}

/// Sends the authz plugin requests it must not allow: an undecodable URI and
/// a body that is not the base64 it claims to be.
async fn probe_authz(engine: &Engine, name: &str, model: &mut Model) -> Option<Violation> {
    let handle = engine.registry().get(name, Protocol::Authz).await.ok()?;
    let malformed = [
        serde_json::json!({"RequestMethod": "GET", "RequestUri": "/v1.41/%zz", "RequestHeaders": {}}),
        serde_json::json!({"RequestMethod": "POST", "RequestUri": "/v1.41/volumes/create",
            "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": "%%% not base64"}),
    ];
    for req in malformed {
        let raw = handle
            .client
            .call_raw(
                "AuthZPlugin.AuthZReq",
                Bytes::from(req.to_string()),
                CallOptions::default(),
            )
            .await;
        if let Some(bad) = model.check_malformed(&req, raw.ok().as_deref()) {
            return Some(bad);
        }
    }
    None
}

/// Runs one case: the lines in order, invariants after each.
pub async fn run_case(opts: &FuzzOptions, lines: &[String]) -> anyhow::Result<CaseResult> {
    let text = scenario_text(opts, lines);
    let scenario = parse("fuzz.scenario", text.as_bytes())
        .map_err(|e| anyhow::anyhow!("generated case does not parse: {e}\n{text}"))?;
    let tmp = scratch()?;
    let dirs = Dirs {
        sockets: tmp.path().join("run"),
        specs: tmp.path().join("etc"),
        state: tmp.path().join("state"),
    };
    for d in [&dirs.sockets, &dirs.specs, &dirs.state] {
        std::fs::create_dir_all(d)?;
    }
    let mut spec_dirs = vec![dirs.specs.clone()];
    spec_dirs.extend(opts.spec_dirs.iter().cloned());
    let engine = Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: opts
                .plugins_dir
                .clone()
                .unwrap_or_else(|| dirs.sockets.clone()),
            spec_dirs,
        },
        clock: VirtualClock::new(),
        seed: RunOptions::default().seed,
    });
    // A `docker cp` reads its host file relative to the scenario's directory.
    let _ = std::fs::write(tmp.path().join("notes.txt"), "fuzz\n");
    let mut launcher = Launcher::new(opts.transport, dirs).base_dir(Some(tmp.path().to_path_buf()));
    let mut model = Model::new(&opts.plugin);
    let mut result = CaseResult::default();
    let header = header_lines(opts).len();
    let volumes = matches!(opts.protocol, FuzzProtocol::Volume | FuzzProtocol::All);
    let mut i = 0;
    while i < scenario.steps.len() {
        let step = &scenario.steps[i];
        let next = scenario.steps.get(i + 1);
        if let (true, StepKind::Action(a), Some(StepKind::Action(b))) = (
            opts.concurrent && i >= header,
            &step.kind,
            next.map(|n| &n.kind),
        ) {
            if pairable(&step.text, &next.expect("next").text) {
                let (oa, ob) = tokio::join!(engine.docker(&a.command), engine.docker(&b.command));
                result.outcomes.push(oa);
                i += 1;
                let (calls, bad) =
                    after_step(&engine, opts, &mut model, &mut result, volumes).await;
                if let Some(bad) = bad {
                    result.outcomes.push(ob);
                    result.violation = Some((i - header, bad));
                    result.violating_calls = calls;
                    break;
                }
                result.outcomes.push(ob);
                i += 1;
                continue;
            }
        }
        let outcome = match &step.kind {
            StepKind::Action(a) => engine.docker(&a.command).await,
            StepKind::Directive(Directive::Plugin(p)) => {
                launcher.start(p, engine.registry()).await?;
                Outcome::ok("")
            }
            StepKind::Directive(Directive::RestartDaemon) => match engine.restart_daemon().await {
                Ok(()) => Outcome::ok(""),
                Err(e) => Outcome::failed(e.message),
            },
            StepKind::Directive(Directive::RestartPlugin(name)) => {
                launcher.restart(name, engine.registry()).await?;
                Outcome::ok("")
            }
            StepKind::Directive(Directive::AuthorizationPlugins(names)) => {
                engine.set_authorization_plugins(names.clone());
                Outcome::ok("")
            }
            StepKind::Directive(Directive::User(cn)) => {
                engine.set_user(cn.clone());
                Outcome::ok("")
            }
            StepKind::Directive(Directive::Fault(f)) => {
                crate::run::faults::apply(f, &engine, &mut launcher).await?;
                Outcome::ok("")
            }
        };
        if i < header {
            result.calls += engine.trace().drain().len() as u64;
            i += 1;
            continue;
        }
        result.outcomes.push(outcome);
        let (calls, bad) = after_step(&engine, opts, &mut model, &mut result, volumes).await;
        if let Some(bad) = bad {
            result.violation = Some((i - header, bad));
            result.violating_calls = calls;
            break;
        }
        i += 1;
    }
    if opts.launch == Launch::Discovered {
        // The plugin outlives the case: leave it as the case found it.
        const CLEANUP: &str = "docker rm -f c1 c2 c3\n\
            docker volume rm -f v1 v2 v3\n\
            docker network rm n1 n2\n";
        let cleanup = parse("cleanup.scenario", CLEANUP.as_bytes()).expect("valid cleanup");
        for step in &cleanup.steps {
            if let StepKind::Action(a) = &step.kind {
                let _ = engine.docker(&a.command).await;
            }
        }
        result.calls += engine.trace().drain().len() as u64;
    }
    launcher.stop_all().await;
    result.checks = model.checks;
    Ok(result)
}

/// Checks the calls of the step that just ran, then probes the plugin.
async fn after_step(
    engine: &Engine,
    opts: &FuzzOptions,
    model: &mut Model,
    result: &mut CaseResult,
    volumes: bool,
) -> (Vec<RpcRecord>, Option<Violation>) {
    let calls = engine.trace().drain();
    result.calls += calls.len() as u64;
    let mut bad = model.observe(&calls);
    if bad.is_none() && opts.protocol == FuzzProtocol::Authz {
        bad = probe_authz(engine, &opts.plugin, model).await;
        let probes = engine.trace().drain();
        result.calls += probes.len() as u64;
    }
    if bad.is_none() && volumes {
        bad = probe_volumes(engine, &opts.plugin, model).await;
        let probes = engine.trace().drain();
        result.calls += probes.len() as u64;
        if bad.is_none() {
            bad = model.observe(&probes);
        }
    }
    (calls, bad)
}

/// A JSON string as scenario text (JSON escapes plus `\$`).
fn quoted(s: &str) -> String {
    serde_json::to_string(s)
        .expect("a string")
        .replace('$', "\\$")
}

/// Writes the scenario of a failing case.
pub fn counterexample_text(
    opts: &FuzzOptions,
    lines: &[String],
    result: &CaseResult,
    seed: u64,
) -> String {
    let (step, violation) = result.violation.clone().expect("a failing case");
    let mut out = String::new();
    out.push_str(&format!(
        "# drydock fuzz: invariant {} broken (docs/invariants.md).\n",
        violation.invariant
    ));
    for l in violation.message.lines() {
        out.push_str(&format!("# {l}\n"));
    }
    out.push_str(&format!(
        "# Found with `drydock fuzz --seed {seed}` and shrunk; the steps run one at a time.\n"
    ));
    if matches!(violation.repro, Repro::None) {
        out.push_str(
            "# This invariant has no expectation in the scenario language: the last step\n\
             # is where drydock fuzz saw it break, and `drydock run` of this file passes.\n",
        );
    }
    out.push_str("#@ replay skip: a shrunk fuzz counterexample\n");
    for h in header_lines(opts) {
        out.push_str(&h);
        out.push('\n');
    }
    out.push('\n');
    for (i, line) in lines.iter().enumerate().take(step + 1) {
        out.push_str(line);
        out.push('\n');
        let outcome = result.outcomes.get(i);
        let failed = outcome.and_then(|o| o.error.clone());
        if i < step {
            if let Some(e) = failed {
                out.push_str(&format!("#> error {}\n", quoted(&e)));
            }
            continue;
        }
        match &violation.repro {
            Repro::StepFails(text) => {
                out.push_str(&format!("#> error ~ {}\n", quoted(text)));
            }
            Repro::CallSucceeds { index } => {
                if let Some(e) = failed {
                    out.push_str(&format!("#> error {}\n", quoted(&e)));
                }
                out.push_str("#> calls:\n");
                let mine = result
                    .violating_calls
                    .iter()
                    .filter(|r| r.plugin == opts.plugin);
                for (k, r) in mine.enumerate() {
                    let resp = if k == *index {
                        " -> {\"Err\": \"\"}"
                    } else {
                        ""
                    };
                    out.push_str(&format!("#>   {} {}{resp}\n", r.plugin, r.method));
                }
            }
            Repro::Probe { line, expect } => {
                if let Some(e) = failed {
                    out.push_str(&format!("#> error {}\n", quoted(&e)));
                }
                out.push_str(line);
                out.push('\n');
                for e in expect {
                    out.push_str(e);
                    out.push('\n');
                }
            }
            Repro::None => {
                if let Some(e) = failed {
                    out.push_str(&format!("#> error {}\n", quoted(&e)));
                }
            }
        }
    }
    out
}

/// Counts cases and calls across proptest's calls of the test closure.
#[derive(Debug, Default)]
struct Counters {
    cases: AtomicU64,
    calls: AtomicU64,
    checks: AtomicU64,
}

/// Runs `opts.cases` cases (and the shrinking after a failure). Blocking: it
/// drives its own single-threaded runtime, so call it off the async runtime
/// (`spawn_blocking`) or from a plain thread. `tick` is called after each case.
pub fn fuzz(opts: &FuzzOptions, tick: &(dyn Fn(u64) + Sync)) -> FuzzReport {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let gen_cfg = GenConfig {
        plugin: opts.plugin.clone(),
        restartable: opts.restart_plugin && opts.launch != Launch::Discovered,
        protocol: opts.protocol,
    };
    let strategy = gen::case(&gen_cfg, opts.steps);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&opts.seed.to_le_bytes());
    let config = Config {
        cases: opts.cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let counters = Counters::default();
    // The first failure's invariant: shrinking keeps only cases that break it
    // too, so the counterexample shows the bug that was found.
    let first: Mutex<Option<&'static str>> = Mutex::new(None);
    let error: Mutex<Option<String>> = Mutex::new(None);
    let outcome = runner.run(&strategy, |lines| {
        let result = rt.block_on(run_case(opts, &lines));
        let n = counters.cases.fetch_add(1, Ordering::Relaxed) + 1;
        tick(n);
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                *error.lock().unwrap() = Some(format!("{e:#}"));
                return Err(TestCaseError::fail("setup"));
            }
        };
        counters.calls.fetch_add(result.calls, Ordering::Relaxed);
        counters.checks.fetch_add(result.checks, Ordering::Relaxed);
        let Some((_, bad)) = &result.violation else {
            return Ok(());
        };
        let mut first = first.lock().unwrap();
        match *first {
            None => {
                *first = Some(bad.invariant);
                Err(TestCaseError::fail(bad.invariant))
            }
            Some(name) if name == bad.invariant => Err(TestCaseError::fail(name)),
            Some(_) => Ok(()),
        }
    });
    let mut report = FuzzReport {
        seed: opts.seed,
        cases: counters.cases.load(Ordering::Relaxed),
        calls: counters.calls.load(Ordering::Relaxed),
        checks: counters.checks.load(Ordering::Relaxed),
        seconds: 0.0,
        failure: None,
        error: error.lock().unwrap().clone(),
    };
    if let Err(TestError::Fail(_, lines)) = outcome {
        // Run the shrunk case again to get its outcomes and calls — one step
        // at a time if that still breaks the invariant, as `drydock run` will.
        let sequential = FuzzOptions {
            concurrent: false,
            ..opts.clone()
        };
        let first = *first.lock().unwrap();
        let seq = rt.block_on(run_case(&sequential, &lines)).ok();
        let same = |r: &CaseResult| {
            r.violation
                .as_ref()
                .is_some_and(|(_, v)| Some(v.invariant) == first)
        };
        let (result, concurrent_only) = match seq {
            Some(r) if same(&r) => (Some(r), false),
            _ => (rt.block_on(run_case(opts, &lines)).ok(), true),
        };
        if let Some(result) = result {
            if let Some((step, violation)) = result.violation.clone() {
                let mut scenario = counterexample_text(opts, &lines, &result, opts.seed);
                if concurrent_only {
                    scenario = scenario.replacen(
                        "#@ replay skip",
                        "# Concurrent-only: drydock fuzz ran adjacent commands on different\n\
                         # containers at once (--concurrent); one at a time, as `drydock run`\n\
                         # runs them, the invariant holds.\n#@ replay skip",
                        1,
                    );
                }
                report.failure = Some(Counterexample {
                    lines: lines[..=step].to_vec(),
                    step,
                    violation,
                    scenario,
                    reproduced: None,
                });
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs a written counterexample with `drydock run`'s runner; `true` if it
/// fails (as it should).
pub async fn replay_fails(path: &Path, opts: &FuzzOptions) -> anyhow::Result<bool> {
    let scenario = drydock_engine::scenario::parse_file(path)?;
    let run = RunOptions {
        plugins_dir: opts.plugins_dir.clone(),
        spec_dirs: opts.spec_dirs.clone(),
        transport: opts.transport,
        ..RunOptions::default()
    };
    Ok(!run_scenario(&scenario, &run).await.passed())
}

/// Shared handle for a progress callback.
pub type Tick = Arc<dyn Fn(u64) + Send + Sync>;
