//! `drydock fuzz`: property-based scenarios. Random but valid docker
//! workloads (generated as scenario text, [`gen`]) run against a plugin under
//! test, and the invariants of docs/invariants.md ([`check`]) are checked
//! after every step. A failing case is shrunk by proptest and written as a
//! scenario file that `drydock run` fails on in the same way.
//!
//! Every case runs on a fresh [`Engine`] with the same seed as `drydock run`
//! (1), so the IDs in a counterexample are the ones a replay sees.
//!
//! Case `i` of a run is generated from its own generator, derived from the
//! seed and `i` alone ([`case_rng`]): the stream of cases never depends on
//! what the plugin answered, on earlier cases or on which cases run, so
//! `--seed` names the same cases in every run (and a shard can pick cases by
//! index). A plugin the scenario starts (`--kind`, `--exec`) is started
//! afresh for every case, in a fresh state directory. A plugin that is
//! already running cannot be: each case then gets volume names of its own
//! ([`FuzzOptions::launch`] is [`Launch::Discovered`]), what it made is
//! removed after it, and the report warns that state is shared.
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
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{parse, Directive, Outcome, Step, StepKind};
use gen::{FuzzProtocol, GenConfig, Group};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
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
    /// The generated lines as they ran: for an already-running plugin, with
    /// the case's own volume names ([`unique_names`]).
    pub lines: Vec<String>,
    /// The suffix of those names (empty when the plugin is started per case).
    pub tag: String,
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
    /// The index of the generated case that failed first (before
    /// shrinking): `case_at(opts, index)` is that case.
    pub case_index: u64,
    /// The re-runs of the written file with `drydock run` ([`confirm`]);
    /// empty until it has been written and re-run.
    pub reruns: Vec<Rerun>,
    /// The suffix of the file's volume names, on an already-running plugin
    /// (names no case used, so the file does not meet a case's leftovers).
    pub tag: Option<String>,
}

impl Counterexample {
    /// Whether the file was re-run and every re-run failed the same way.
    pub fn reproduced(&self) -> Option<bool> {
        (!self.reruns.is_empty()).then(|| self.reruns.iter().all(|r| r.same))
    }
}

/// Which plugin a re-run of a counterexample met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The already-running plugin, in the state the fuzzer left it.
    LeftByFuzzer,
    /// A plugin started afresh (the file's own `#@ plugin` line).
    Fresh,
}

impl Against {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Against::LeftByFuzzer => "against the running plugin as the fuzzer left it",
            Against::Fresh => "against a fresh plugin (the file starts its own)",
        }
    }
}

/// One `drydock run` of a written counterexample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerun {
    /// Which plugin it met.
    pub against: Against,
    /// The `drydock run` command line it was (what a user types).
    pub command: String,
    /// How many times it ran: more than once for a concurrent-only file
    /// over a socket, whose interleaving varies from run to run.
    pub runs: u32,
    /// How many of those failed with the fuzzer's `invariant … broken: …`.
    pub same_runs: u32,
    /// The first failure's message of the first run that did not fail the
    /// same way (`None`: it passed), or else of the last run.
    pub failure: Option<String>,
    /// Whether every run failed the same way.
    pub same: bool,
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
    /// What the user should know about how far the cases were isolated
    /// ([`warnings`]).
    pub warnings: Vec<String>,
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

/// What a run against `opts` cannot promise: for an already-running plugin,
/// that every case shares its state.
pub fn warnings(opts: &FuzzOptions) -> Vec<String> {
    if opts.launch != Launch::Discovered {
        return Vec::new();
    }
    vec![format!(
        "warning: plugin {} is already running, so every case shares its state: each case \
         gets volume names of its own and what it made is removed after it, but whatever \
         a case leaves behind (a volume the plugin refuses to remove, an IPAM pool, a \
         subnet) can change later cases and the counterexample; for a fresh plugin per \
         case, let drydock start it (--kind or --exec)",
        opts.plugin
    )]
}

/// The generator of case `index` of a run with `seed`: derived from the two
/// alone, with a named algorithm (ChaCha8 for the derivation, proptest's
/// ChaCha for the case), so `--seed` names the same cases across runs,
/// plugins, shards and dependency updates.
pub fn case_rng(seed: u64, index: u64) -> TestRng {
    let mut chacha = ChaCha8Rng::seed_from_u64(seed);
    chacha.set_stream(index);
    let mut bytes = [0u8; 32];
    chacha.fill_bytes(&mut bytes);
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn gen_config(opts: &FuzzOptions) -> GenConfig {
    GenConfig {
        plugin: opts.plugin.clone(),
        restartable: opts.restart_plugin && opts.launch != Launch::Discovered,
        protocol: opts.protocol,
    }
}

/// Case `index` of a run with `seed`: the runner that shrinks it, and its
/// value tree, drawn from [`case_rng`] first thing.
fn new_case<S: Strategy>(
    strategy: &S,
    config: &Config,
    seed: u64,
    index: u64,
) -> (TestRunner, S::Tree) {
    let mut runner = TestRunner::new_with_rng(config.clone(), case_rng(seed, index));
    let tree = strategy
        .new_tree(&mut runner)
        .expect("the case strategy never rejects");
    (runner, tree)
}

/// Case `index` of a run with `opts` as generated, before any shrinking.
pub fn case_at(opts: &FuzzOptions, index: u64) -> Vec<Group> {
    let strategy = gen::case(&gen_config(opts), opts.steps, opts.concurrent);
    new_case(&strategy, &Config::default(), opts.seed, index)
        .1
        .current()
}

/// A tag no earlier case of this process used, and unlikely in any other
/// process: the suffix of a case's volume names on an already-running plugin.
fn fresh_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = (nanos ^ (u64::from(std::process::id()) << 40)) % 36u64.pow(5);
        let mut s = String::new();
        for _ in 0..5 {
            s.push(char::from_digit((x % 36) as u32, 36).expect("a base-36 digit"));
            x /= 36;
        }
        s
    });
    format!("{run}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The volumes the generator names (`v1`…`v3`).
const VOLUMES: [&str; 3] = ["v1", "v2", "v3"];

/// `line` with each generated volume name `vN` made `vN-TAG`, so a case on
/// an already-running plugin never meets a volume an earlier case left.
pub fn unique_names(line: &str, tag: &str) -> String {
    line.split(' ')
        .map(|w| {
            for v in VOLUMES {
                if w == v {
                    return format!("{v}-{tag}");
                }
                if let Some(rest) = w.strip_prefix(v).and_then(|r| r.strip_prefix(':')) {
                    return format!("{v}-{tag}:{rest}");
                }
            }
            w.to_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes what a case made on an already-running plugin: containers (their
/// mounts), the case's volumes and networks (their pools). Best effort.
/// `fresh`: `engine` is not the one that ran the case, so it must first be
/// told about the volumes (a Create of an existing volume changes nothing).
async fn clean_up(engine: &Engine, opts: &FuzzOptions, tag: &str, fresh: bool) -> u64 {
    let volumes: Vec<String> = VOLUMES.iter().map(|v| format!("{v}-{tag}")).collect();
    let mut lines = vec!["docker rm -f c1 c2 c3".to_owned()];
    if fresh && matches!(opts.protocol, FuzzProtocol::Volume | FuzzProtocol::All) {
        for v in &volumes {
            lines.push(format!("docker volume create -d {} {v}", opts.plugin));
        }
    }
    lines.push(format!("docker volume rm -f {}", volumes.join(" ")));
    lines.push("docker network rm n1 n2".to_owned());
    let text = lines.join("\n") + "\n";
    let cleanup = parse("cleanup.scenario", text.as_bytes()).expect("valid cleanup");
    for step in &cleanup.steps {
        if let StepKind::Action(a) = &step.kind {
            let _ = drydock_engine::docker_cli::docker(engine, &a.command).await;
        }
    }
    engine.trace().drain().len() as u64
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

/// Polls `futs` together until all are done, on the current task: the
/// engine interleaves their plugin calls. `#@ at-once` in `drydock run` uses
/// it too, so a group interleaves the same way. (futures-util's `join_all`
/// polls every unfinished future, in order, on each wake-up for groups of
/// this size.)
pub async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    futures_util::future::join_all(futs).await
}

/// Runs one step (an action or a directive) as `drydock run` does.
async fn run_step(
    step: &Step,
    engine: &Engine,
    launcher: &mut Launcher,
) -> anyhow::Result<Outcome> {
    Ok(match &step.kind {
        // Bounded like `drydock run`: a `hang` fault must not hang the fuzzer.
        StepKind::Action(a) => {
            crate::run::faults::bounded(
                engine,
                drydock_engine::docker_cli::docker(engine, &a.command),
            )
            .await
        }
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
    let shared = opts.launch == Launch::Discovered;
    let tag = if shared { fresh_tag() } else { String::new() };
    let mut lines = gen::flatten(case);
    if shared {
        lines = lines.iter().map(|l| unique_names(l, &tag)).collect();
    }
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
    let mut result = CaseResult {
        lines,
        tag: tag.clone(),
        ..CaseResult::default()
    };
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
                    StepKind::Action(a) => crate::run::faults::bounded(
                        &engine,
                        drydock_engine::docker_cli::docker(&engine, &a.command),
                    ),
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
    if shared {
        // The plugin outlives the case: leave it as the case found it.
        result.calls += clean_up(&engine, opts, &tag, false).await;
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
        for line in &result.lines[i..i + group.lines.len()] {
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

/// `case` without its flat line `index` (a group left empty goes too).
fn without_line(case: &[Group], index: usize) -> Vec<Group> {
    let mut at = 0;
    let mut out = Vec::new();
    for g in case {
        let len = g.lines.len();
        let mut g = g.clone();
        if (at..at + len).contains(&index) {
            g.lines.remove(index - at);
        }
        at += len;
        if !g.lines.is_empty() {
            out.push(g);
        }
    }
    out
}

/// Drops, last first, each line before the violating one if the case
/// breaks the same invariant without it. Shrinking tries each line once,
/// early on, before it simplifies the others; what remains can still hold
/// lines that the failure no longer needs, such as commands on containers
/// or volumes the file never makes, which only fail and read as if they
/// mattered. One run per line. Returns the case and its result.
async fn drop_unneeded_lines(
    opts: &FuzzOptions,
    mut case: Vec<Group>,
    mut result: CaseResult,
    same: &dyn Fn(&CaseResult) -> bool,
) -> (Vec<Group>, CaseResult) {
    let Some((step, _)) = result.violation.clone() else {
        return (case, result);
    };
    for index in (0..step).rev() {
        let smaller = without_line(&case, index);
        if let Ok(r) = run_case(opts, &smaller).await {
            if same(&r) {
                (case, result) = (smaller, r);
            }
        }
    }
    (case, result)
}

/// `result` as if its case had run with volume-name suffix `tag`.
fn retag(case: &[Group], result: &CaseResult, tag: &str) -> CaseResult {
    let (old, new) = (format!("-{}", result.tag), format!("-{tag}"));
    CaseResult {
        lines: gen::flatten(case)
            .iter()
            .map(|l| unique_names(l, tag))
            .collect(),
        outcomes: result
            .outcomes
            .iter()
            .map(|o| Outcome {
                error: o.error.as_ref().map(|e| e.replace(&old, &new)),
                ..o.clone()
            })
            .collect(),
        violation: result.violation.as_ref().map(|(i, v)| {
            (
                *i,
                Violation {
                    invariant: v.invariant,
                    message: v.message.replace(&old, &new),
                },
            )
        }),
        tag: tag.to_owned(),
        ..result.clone()
    }
}

/// Runs `opts.cases` cases (and the shrinking after a failure). Blocking: it
/// drives its own single-threaded runtime, so call it off the async runtime
/// (`spawn_blocking`) or from a plain thread. `tick` is called after each case.
pub fn fuzz(opts: &FuzzOptions, tick: &(dyn Fn(u64) + Sync)) -> FuzzReport {
    fuzz_observed(opts, tick, &|_, _| {})
}

/// [`fuzz`], calling `seen(index, case)` with each generated case before it
/// runs (not with the shrunk ones).
pub fn fuzz_observed(
    opts: &FuzzOptions,
    tick: &(dyn Fn(u64) + Sync),
    seen: &(dyn Fn(u64, &[Group]) + Sync),
) -> FuzzReport {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let strategy = gen::case(&gen_config(opts), opts.steps, opts.concurrent);
    // One case per runner, each with its own generator: proptest shrinks a
    // failing one, and nothing carries over from case to case.
    let config = Config {
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let counters = Counters::default();
    // The first failure's invariant: shrinking keeps only cases that break it
    // too, so the counterexample shows the bug that was found.
    let first: Mutex<Option<&'static str>> = Mutex::new(None);
    let error: Mutex<Option<String>> = Mutex::new(None);
    let mut failed = None;
    for index in 0..u64::from(opts.cases) {
        // Case i is built from (seed, i) alone, so a shard runs just its own.
        if opts.shard.is_some_and(|s| !s.owns_case(index)) {
            continue;
        }
        let (mut runner, tree) = new_case(&strategy, &config, opts.seed, index);
        let generated = std::sync::atomic::AtomicBool::new(true);
        let outcome = runner.run_one(tree, |case| {
            if generated.swap(false, Ordering::Relaxed) {
                seen(index, &case);
            }
            let result = rt.block_on(run_case(opts, &case));
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
        if let Err(TestError::Fail(_, case)) = outcome {
            failed = Some((index, case));
            break;
        }
        if error.lock().unwrap().is_some() {
            break;
        }
    }
    let mut report = FuzzReport {
        seed: opts.seed,
        cases: counters.cases.load(Ordering::Relaxed),
        calls: counters.calls.load(Ordering::Relaxed),
        checks: counters.checks.load(Ordering::Relaxed),
        seconds: 0.0,
        failure: None,
        error: error.lock().unwrap().clone(),
        warnings: warnings(opts),
    };
    if let Some((case_index, case)) = failed.filter(|_| report.error.is_none()) {
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
        let (case, result) = match result {
            Some(r) => {
                let (c, r) = rt.block_on(drop_unneeded_lines(opts, case, r, &same));
                (c, Some(r))
            }
            None => (case, None),
        };
        // On a running plugin the file gets names no case used.
        let result = result.map(|r| {
            if r.tag.is_empty() {
                r
            } else {
                retag(&case, &r, &fresh_tag())
            }
        });
        if let Some(result) = result {
            if let Some((step, violation)) = result.violation.clone() {
                let scenario =
                    counterexample_text(opts, &case, &result, opts.seed, concurrent_only);
                report.failure = Some(Counterexample {
                    lines: result.lines[..=step].to_vec(),
                    step,
                    violation,
                    scenario,
                    concurrent_only,
                    case_index,
                    reruns: Vec::new(),
                    tag: (!result.tag.is_empty()).then(|| result.tag.clone()),
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

/// Re-runs the counterexample written to `path` as a user will, with
/// `drydock run`: against the running plugin as the fuzzer left it (then
/// removes the file's volumes, as far as the plugin lets it, so that the
/// user's own run meets much the same state), or, when the file starts its
/// plugin, against a fresh one. The claim "fails the same way" is made only
/// from these runs.
pub async fn confirm(
    path: &Path,
    opts: &FuzzOptions,
    failure: &Counterexample,
) -> anyhow::Result<Vec<Rerun>> {
    let against = if opts.launch == Launch::Discovered {
        Against::LeftByFuzzer
    } else {
        Against::Fresh
    };
    // In-process the interleaving of `#@ at-once` commands is the same every
    // run; over a socket it is not, so such a file is run several times.
    let over_socket = opts.launch == Launch::Discovered || opts.transport == TransportKind::Unix;
    let runs = if failure.concurrent_only && over_socket {
        5
    } else {
        1
    };
    let wanted = failure.violation.to_string();
    let (mut same_runs, mut other, mut last) = (0, None, None);
    for _ in 0..runs {
        let got = replay(path, opts).await?;
        if let Some(tag) = &failure.tag {
            let engine = Engine::new(EngineConfig {
                roots: PluginRoots {
                    sockets_dir: opts.plugins_dir.clone().unwrap_or_default(),
                    spec_dirs: opts.spec_dirs.clone(),
                },
                clock: VirtualClock::new(),
                seed: RunOptions::default().seed,
            });
            clean_up(&engine, opts, tag, true).await;
        }
        if got.as_deref() == Some(wanted.as_str()) {
            same_runs += 1;
        } else if other.is_none() {
            other = Some(got.clone());
        }
        last = got;
    }
    Ok(vec![Rerun {
        against,
        command: run_command(opts, path),
        runs,
        same_runs,
        same: same_runs == runs,
        failure: other.unwrap_or(last),
    }])
}

/// The `drydock run` command that runs the counterexample at `file` as the
/// fuzzer ran its cases: the same plugin directories, and the same
/// transport for a plugin the file starts (`drydock run` defaults to unix).
pub fn run_command(opts: &FuzzOptions, file: &Path) -> String {
    let word = |p: &Path| shell_word(&p.display().to_string());
    let mut cmd = "drydock run".to_owned();
    if let Some(d) = &opts.plugins_dir {
        cmd += &format!(" --plugins-dir {}", word(d));
    }
    for d in &opts.spec_dirs {
        cmd += &format!(" --spec-dir {}", word(d));
    }
    if plugin_line(opts).is_some() && opts.transport != TransportKind::Unix {
        use clap::ValueEnum;
        if let Some(v) = opts.transport.to_possible_value() {
            cmd += &format!(" --transport {}", v.get_name());
        }
    }
    format!("{cmd} {}", word(file))
}

/// What the report says about the re-runs of a written counterexample: one
/// line per re-run, "fails the same way" only for those that did.
pub fn rerun_lines(failure: &Counterexample) -> Vec<String> {
    let mut out = Vec::new();
    for r in &failure.reruns {
        let (against, cmd) = (r.against.describe(), &r.command);
        let got = match &r.failure {
            None => "it passed".to_owned(),
            Some(m) => format!("it failed with: {m}"),
        };
        if r.same {
            let at_once = if failure.concurrent_only {
                " (only with its `#@ at-once` groups: the bug needs commands run concurrently)"
            } else {
                ""
            };
            let each = if r.runs > 1 {
                format!(", in each of {} runs", r.runs)
            } else {
                String::new()
            };
            out.push(format!(
                "`{cmd}` fails the same way {against}{each}{at_once}"
            ));
        } else if r.same_runs == 0 {
            let any = if r.runs > 1 {
                format!(" in any of {} runs", r.runs)
            } else {
                String::new()
            };
            out.push(format!(
                "warning: `{cmd}` did NOT fail the same way {against}{any}: {got}"
            ));
        } else {
            out.push(format!(
                "warning: `{cmd}` did NOT always fail the same way {against}: {} of {} runs did, \
                 another: {got} (its `#@ at-once` commands interleave differently over a socket \
                 from run to run)",
                r.same_runs, r.runs
            ));
        }
        if r.against == Against::LeftByFuzzer {
            out.push(
                "(drydock cannot start a fresh copy of an already-running plugin, so the file \
                 was not re-run against one)"
                    .to_owned(),
            );
        }
    }
    out
}

/// Shared handle for a progress callback.
pub type Tick = Arc<dyn Fn(u64) + Send + Sync>;
