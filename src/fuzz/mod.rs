//! `drydock fuzz`: property-based scenarios. Random but valid docker
//! workloads (generated as scenario text, [`gen`]) run against a plugin under
//! test, and the invariants of docs/invariants.md ([`check`]) are checked
//! after every step. A failing case is shrunk by proptest and written as a
//! scenario file that `drydock run` fails on in the same way.
//!
//! Every case runs on a fresh [`Engine`] with the same seed as `drydock run`
//! (1), so the IDs in a counterexample are the ones a replay sees.
//!
//! With [`FuzzOptions::concurrent`] (the default of `drydock fuzz`), some
//! steps are groups of commands on different containers that run at once
//! ([`gen::Group`]; the futures of [`Engine::docker`] polled together), where
//! concurrent duplicate calls reach the plugin. A scenario file cannot say
//! "at once", so a failing case is replayed one step at a time: if it still
//! fails, that sequential run is what the counterexample shows; if not, the
//! file says the failure is concurrent-only.
//!
//! The checks after each step are [`check::Checker`]'s, the same that
//! `#@ check PLUGIN INVARIANT` makes `drydock run` do, so the counterexample
//! file fails under `drydock run` with the same invariant and message.

pub mod check;
pub mod gen;

use crate::run::launch::{Dirs, Launcher, TransportKind};
use crate::run::{run_scenario, RunOptions};
use check::{Checker, Violation};
use drydock_engine::clock::VirtualClock;
use drydock_engine::discovery::PluginRoots;
use drydock_engine::engine::{Engine, EngineConfig};
use drydock_engine::scenario::{parse, Directive, Outcome, Step, StepKind};
use gen::{FuzzProtocol, GenConfig, Group};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
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
    /// Generate groups of commands on different containers run at once.
    pub concurrent: bool,
    /// Generate `#@ restart-plugin` (off for plugins that keep their state in
    /// memory, which forget every volume and pool at a restart).
    pub restart_plugin: bool,
    /// `#@ fault …` lines put before every case (`drydock fuzz --fault`), so
    /// the invariants are checked while the plugin path misbehaves
    /// (docs/faults.md).
    pub faults: Vec<String>,
    /// `--shard K/N`: run only the cases `i` (0-based, in generation order)
    /// with `i mod N = K - 1`; the other shards, with the same seed, run the rest.
    pub shard: Option<crate::shard::Shard>,
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
}

/// A shrunk failing case.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The generated lines (actions and directives), up to the violating one.
    pub lines: Vec<String>,
    /// Index of the violating line.
    pub step: usize,
    /// What broke.
    pub violation: Violation,
    /// The scenario file text.
    pub scenario: String,
    /// Whether the violation needs commands run at once: the file's steps,
    /// run one at a time, keep the invariant.
    pub concurrent_only: bool,
    /// Whether `drydock run` of the file fails with the same invariant and
    /// message (checked after writing it).
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
    out.extend(opts.faults.iter().cloned());
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

/// Polls `futs` together until all are done (a `join_all` without the
/// `futures` crate): the engine interleaves their plugin calls. `#@ at-once`
/// in `drydock run` uses it too, so a group interleaves the same way.
pub async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future is ready"))
        .collect()
}

/// Runs one step (an action or a directive) as `drydock run` does.
async fn run_step(
    step: &Step,
    engine: &Engine,
    launcher: &mut Launcher,
) -> anyhow::Result<Outcome> {
    Ok(match &step.kind {
        // Bounded like `drydock run`: a `hang` fault must not hang the fuzzer.
        StepKind::Action(a) => crate::run::faults::bounded(engine, engine.docker(&a.command)).await,
        StepKind::Directive(Directive::Plugin(p)) => {
            launcher.start(p, engine.registry()).await?;
            crate::run::faults::plugin_started(engine, launcher, &p.name);
            Outcome::ok("")
        }
        StepKind::Directive(Directive::RestartDaemon) => match engine.restart_daemon().await {
            Ok(()) => Outcome::ok(""),
            Err(e) => Outcome::failed(e.message),
        },
        StepKind::Directive(Directive::RestartPlugin(name)) => {
            launcher.restart(name, engine.registry()).await?;
            crate::run::faults::plugin_restarted(engine, name);
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
            crate::run::faults::apply(f, engine, launcher).await?;
            Outcome::ok("")
        }
        // The fuzzer checks every step itself, and makes its own groups.
        StepKind::Directive(Directive::Check(_) | Directive::AtOnce(_)) => Outcome::ok(""),
    })
}

/// Runs one case: the groups in order (a `together` group's commands at
/// once), the invariants checked after each group.
pub async fn run_case(opts: &FuzzOptions, case: &[Group]) -> anyhow::Result<CaseResult> {
    let lines = gen::flatten(case);
    let text = scenario_text(opts, &lines);
    let scenario = parse("fuzz.scenario", text.as_bytes())
        .map_err(|e| anyhow::anyhow!("generated case does not parse: {e}\n{text}"))?;
    let header = header_lines(opts).len();
    if scenario.steps.len() != header + lines.len() {
        anyhow::bail!("generated case is not one step per line:\n{text}");
    }
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
    let mut checker = Checker::new(&opts.plugin, &[]).expect("every invariant exists");
    let mut result = CaseResult::default();
    for step in &scenario.steps[..header] {
        run_step(step, &engine, &mut launcher).await?;
        result.calls += engine.trace().drain().len() as u64;
    }
    let mut at = 0; // index among the generated lines
    for group in case {
        let steps = &scenario.steps[header + at..header + at + group.lines.len()];
        let all_actions = steps.iter().all(|s| matches!(s.kind, StepKind::Action(_)));
        let groups: Vec<&[Step]> = if group.together && all_actions && steps.len() > 1 {
            vec![steps]
        } else {
            steps.chunks(1).collect()
        };
        for g in groups {
            if let [one] = g {
                let outcome = run_step(one, &engine, &mut launcher).await?;
                result.outcomes.push(outcome);
            } else {
                // Each bounded, so a `--fault … hang` cannot hang the fuzzer.
                let futs = g.iter().map(|s| match &s.kind {
                    StepKind::Action(a) => {
                        crate::run::faults::bounded(&engine, engine.docker(&a.command))
                    }
                    _ => unreachable!("a group runs actions only"),
                });
                result.outcomes.extend(join_all(futs.collect()).await);
            }
            at += g.len();
            let calls = engine.trace().drain();
            result.calls += calls.len() as u64;
            let (probes, bad) = checker.after_step(&engine, &calls).await;
            result.calls += probes;
            if let Some(bad) = bad {
                result.violation = Some((at - 1, bad));
                break;
            }
        }
        if result.violation.is_some() {
            break;
        }
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
    result.checks = checker.model.checks;
    Ok(result)
}

/// A JSON string as scenario text (JSON escapes plus `\$`).
fn quoted(s: &str) -> String {
    serde_json::to_string(s)
        .expect("a string")
        .replace('$', "\\$")
}

/// Writes the scenario of a failing case: the plugin lines, `#@ check` of
/// the broken invariant, and the lines up to the violating one, each step
/// that failed with its `#> error`. Under `drydock run` the violating step
/// fails with the same `invariant … broken: …` message.
pub fn counterexample_text(
    opts: &FuzzOptions,
    case: &[Group],
    result: &CaseResult,
    seed: u64,
    concurrent_only: bool,
) -> String {
    let (step, violation) = result.violation.clone().expect("a failing case");
    let mut out = String::new();
    out.push_str(&format!(
        "# drydock fuzz: invariant {} broken (docs/invariants.md):\n",
        violation.invariant
    ));
    for l in violation.message.lines() {
        out.push_str(&format!("#   {l}\n"));
    }
    out.push_str(&format!(
        "# Found with `drydock fuzz --seed {seed}` and shrunk. `#@ check` makes\n\
         # `drydock run` check the invariant after every step, as the fuzzer did,\n\
         # so the last step fails with the same message.\n"
    ));
    if concurrent_only {
        out.push_str(
            "# Concurrent-only: run one at a time the steps keep the invariant; the\n\
             # `#@ at-once N` lines run the next N commands concurrently, as the\n\
             # fuzzer did (in-process the interleaving is the same every run).\n",
        );
    }
    out.push_str("#@ replay skip: a shrunk fuzz counterexample (`#@ check` is drydock's)\n");
    for h in header_lines(opts) {
        out.push_str(&h);
        out.push('\n');
    }
    out.push_str(&format!(
        "#@ check {} {}\n\n",
        opts.plugin, violation.invariant
    ));
    let mut i = 0;
    for group in case {
        if i > step {
            break;
        }
        if group.together && group.lines.len() > 1 {
            out.push_str(&format!("#@ at-once {}\n", group.lines.len()));
        }
        for line in &group.lines {
            if i > step {
                break;
            }
            out.push_str(line);
            out.push('\n');
            if let Some(e) = result.outcomes.get(i).and_then(|o| o.error.clone()) {
                // Scratch paths differ between runs: then any error will do.
                if e.contains("drydock-") {
                    out.push_str("#> error ~ \"\"\n");
                } else {
                    out.push_str(&format!("#> error {}\n", quoted(&e)));
                }
            }
            i += 1;
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
    let strategy = gen::case(&gen_cfg, opts.steps, opts.concurrent);
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
    // Every shard generates every case, so case i is the same everywhere, and
    // runs its own; once a case has failed, the calls are proptest's
    // shrinking of it, all this shard's.
    let generated = AtomicU64::new(0);
    let shrinking = std::sync::atomic::AtomicBool::new(false);
    let outcome = runner.run(&strategy, |case| {
        let i = generated.fetch_add(1, Ordering::Relaxed);
        if !shrinking.load(Ordering::Relaxed) && opts.shard.is_some_and(|s| !s.owns_case(i)) {
            return Ok(());
        }
        let result = rt.block_on(run_case(opts, &case));
        let n = counters.cases.fetch_add(1, Ordering::Relaxed) + 1;
        tick(n);
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                *error.lock().unwrap() = Some(format!("{e:#}"));
                shrinking.store(true, Ordering::Relaxed);
                return Err(TestCaseError::fail("setup"));
            }
        };
        counters.calls.fetch_add(result.calls, Ordering::Relaxed);
        counters.checks.fetch_add(result.checks, Ordering::Relaxed);
        let Some((_, bad)) = &result.violation else {
            return Ok(());
        };
        let mut first = first.lock().unwrap();
        shrinking.store(true, Ordering::Relaxed);
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
    if let Err(TestError::Fail(_, case)) = outcome {
        // Run the shrunk case again to get its outcomes — one step at a time
        // if that still breaks the invariant, as `drydock run` will.
        let first = *first.lock().unwrap();
        let serial: Vec<Group> = case
            .iter()
            .map(|g| Group {
                together: false,
                ..g.clone()
            })
            .collect();
        let same = |r: &CaseResult| {
            r.violation
                .as_ref()
                .is_some_and(|(_, v)| Some(v.invariant) == first)
        };
        let seq = rt.block_on(run_case(opts, &serial)).ok();
        let (case, result, concurrent_only) = match seq {
            Some(r) if same(&r) => (serial, Some(r), false),
            _ => {
                let r = rt.block_on(run_case(opts, &case)).ok();
                (case, r, true)
            }
        };
        if let Some(result) = result {
            if let Some((step, violation)) = result.violation.clone() {
                let scenario =
                    counterexample_text(opts, &case, &result, opts.seed, concurrent_only);
                report.failure = Some(Counterexample {
                    lines: gen::flatten(&case)[..=step].to_vec(),
                    step,
                    violation,
                    scenario,
                    concurrent_only,
                    reproduced: None,
                });
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs a written counterexample with `drydock run`'s runner; returns the
/// message of its first failure (`None` if it passes).
pub async fn replay(path: &Path, opts: &FuzzOptions) -> anyhow::Result<Option<String>> {
    let scenario = drydock_engine::scenario::parse_file(path)?;
    let run = RunOptions {
        plugins_dir: opts.plugins_dir.clone(),
        spec_dirs: opts.spec_dirs.clone(),
        transport: opts.transport,
        ..RunOptions::default()
    };
    let report = run_scenario(&scenario, &run).await;
    Ok(report.failures.first().map(|f| f.message.clone()))
}

/// Whether `drydock run` of the counterexample at `path` fails with the
/// same invariant and message.
pub async fn replay_fails(
    path: &Path,
    opts: &FuzzOptions,
    violation: &Violation,
) -> anyhow::Result<bool> {
    Ok(replay(path, opts).await?.as_deref() == Some(violation.to_string().as_str()))
}

/// Shared handle for a progress callback.
pub type Tick = Arc<dyn Fn(u64) + Send + Sync>;
