//! `drydock run`: executes scenario files against the simulated engine.
//!
//! For each scenario: private plugin directories, a fresh [`Engine`] on a
//! virtual clock (dockerd's 15 s retries and 2 min timeouts cost nothing),
//! the plugins its `#@ plugin` lines ask for, then every step in order. After
//! each step the plugin calls it caused are taken from the engine's trace and
//! checked against the step's `#>` expectations.

pub mod faults;
pub mod launch;
pub mod report;

use crate::run::launch::{Dirs, Launcher, TransportKind};
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::api_log::ApiEvent;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{
    Directive, LoadError, ObservedCall, Outcome, Scenario, Step, StepKind, StepParser, Vars,
};
use drydock_engine::trace::RpcRecord;
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How scenarios are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replaces the scenario's private socket directory (to test plugins that
    /// are already running).
    pub plugins_dir: Option<PathBuf>,
    /// Extra spec directories, searched after the scenario's private one.
    pub spec_dirs: Vec<PathBuf>,
    /// How runner-started plugins are reached.
    pub transport: TransportKind,
    /// Run every step even after a failure, and report all failures.
    pub keep_going: bool,
    /// `--authorization-plugin` names (the authz chain).
    pub authorization_plugins: Vec<String>,
    /// Seed for generated IDs.
    pub seed: u64,
    /// Stops the run at the next step boundary or in the middle of a step
    /// (SIGINT/SIGTERM in `drydock run`); plugins are still stopped.
    pub interrupt: Interrupt,
}

/// A shared "stop now" flag with the reason, for runs cut short by a signal.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<InterruptInner>);

#[derive(Debug, Default)]
struct InterruptInner {
    /// 0: not interrupted, otherwise the signal number.
    signal: AtomicU8,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    /// Asks every run sharing this flag to stop, because of `signal` (its number).
    pub fn trigger(&self, signal: u8) {
        let _ =
            self.0
                .signal
                .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// The signal that interrupted the run, if any.
    pub fn signal(&self) -> Option<u8> {
        match self.0.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// Resolves once [`Interrupt::trigger`] was called.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.signal().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// How the interruption reads in reports: `SIGINT`, `SIGTERM`, or `signal N`.
    pub fn describe(&self) -> String {
        match self.signal() {
            Some(2) => "SIGINT".to_owned(),
            Some(15) => "SIGTERM".to_owned(),
            Some(n) => format!("signal {n}"),
            None => "nothing".to_owned(),
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            plugins_dir: None,
            spec_dirs: Vec::new(),
            transport: TransportKind::InProcess,
            keep_going: false,
            authorization_plugins: Vec::new(),
            seed: 1,
            interrupt: Interrupt::default(),
        }
    }
}

/// What happened in one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based action index (`None` for directives).
    pub index: Option<usize>,
    /// Line in the file.
    pub line: u32,
    /// The step's text.
    pub text: String,
    /// The outcome as the CLI would show it.
    pub outcome: Outcome,
    /// The plugin calls it caused.
    pub calls: Vec<RpcRecord>,
    /// The Engine API requests it made, placed among `calls` (for diagrams).
    pub requests: Vec<ApiEvent>,
    /// Wall time of the step.
    pub micros: u64,
    /// Engine time of the step (virtual): what dockerd would have spent
    /// waiting — retry backoffs, discovery retries, timeouts, delays.
    pub clock_micros: u64,
}

/// An expectation that did not hold (or a step that could not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Line of the expectation or step.
    pub line: u32,
    /// 1-based action index of the step, if it was an action.
    pub step: Option<usize>,
    /// The step's text.
    pub command: String,
    /// What was expected and what was seen.
    pub message: String,
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The file.
    pub path: PathBuf,
    /// Its description (leading comment).
    pub description: String,
    /// Steps that ran.
    pub steps: Vec<StepReport>,
    /// Failed expectations.
    pub failures: Vec<Failure>,
    /// Wall time.
    pub micros: u64,
}

impl ScenarioReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Number of plugin calls made.
    pub fn calls(&self) -> usize {
        self.steps.iter().map(|s| s.calls.len()).sum()
    }
}

/// Turns the engine's records into what expectations are matched against.
pub fn observed(records: &[RpcRecord]) -> Vec<ObservedCall> {
    records
        .iter()
        .map(|r| ObservedCall {
            plugin: r.plugin.clone(),
            method: r.method.clone(),
            request: r.request_json(),
            response: r.response_json(),
            status: r.status,
            attempts: r.attempts,
            empty_body_retry: r.empty_body_retry,
            engine_time: std::time::Duration::from_micros(r.clock_micros),
        })
        .collect()
}

/// What a run tells as it goes: a report writer, a progress bar, or the
/// collector behind [`run_scenario`]. Only the step at hand is lent out, so
/// a run keeps nothing per step unless its observer does.
pub trait Observer {
    /// The scenario starts (before its first step).
    fn start(&mut self, _path: &Path, _description: &str) {}
    /// A step ended (with its failure, if an expectation did not hold).
    fn step(&mut self, _step: &StepReport, _failure: Option<&Failure>) {}
    /// The scenario ended.
    fn end(&mut self, _summary: &Summary) {}
    /// Whether [`StepReport::requests`] should be filled (it costs time and
    /// memory per step; only diagrams use it).
    fn wants_requests(&self) -> bool {
        false
    }
}

/// Several observers, each told everything in turn.
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Observers<'_> {
    fn start(&mut self, path: &Path, description: &str) {
        self.0.iter_mut().for_each(|o| o.start(path, description));
    }
    fn step(&mut self, step: &StepReport, failure: Option<&Failure>) {
        self.0.iter_mut().for_each(|o| o.step(step, failure));
    }
    fn end(&mut self, summary: &Summary) {
        self.0.iter_mut().for_each(|o| o.end(summary));
    }
    fn wants_requests(&self) -> bool {
        self.0.iter().any(|o| o.wants_requests())
    }
}

/// What is left of a run once its steps were told: counters and failures.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The file.
    pub path: PathBuf,
    /// Its description (leading comment).
    pub description: String,
    /// Steps that ran.
    pub steps: usize,
    /// Plugin calls made.
    pub calls: usize,
    /// Failed expectations (and an interrupted step).
    pub failures: Vec<Failure>,
    /// Wall time.
    pub micros: u64,
    /// The run was cut short by SIGINT/SIGTERM ([`RunOptions::interrupt`]).
    pub interrupted: bool,
}

impl Summary {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The observer behind [`run_scenario`]: keeps every step, for tests,
/// `drydock demo` and diagrams.
#[derive(Default)]
pub struct Collector {
    steps: Vec<StepReport>,
    report: Option<ScenarioReport>,
}

impl Collector {
    /// The report of the scenario that ended.
    pub fn into_report(self) -> Option<ScenarioReport> {
        self.report
    }
}

impl Observer for Collector {
    fn step(&mut self, step: &StepReport, _failure: Option<&Failure>) {
        self.steps.push(step.clone());
    }
    fn end(&mut self, s: &Summary) {
        self.report = Some(ScenarioReport {
            path: s.path.clone(),
            description: s.description.clone(),
            steps: std::mem::take(&mut self.steps),
            failures: s.failures.clone(),
            micros: s.micros,
        });
    }
    fn wants_requests(&self) -> bool {
        true
    }
}

/// Runs one parsed scenario and keeps everything about it (see
/// [`run_observed`] for runs that keep nothing per step).
pub async fn run_scenario(scenario: &Scenario, opts: &RunOptions) -> ScenarioReport {
    let mut collector = Collector::default();
    let header = Header {
        path: &scenario.path,
        description: &scenario.description,
        exec_plugins: exec_plugins(scenario.steps.iter()),
    };
    let steps = scenario.steps.iter().map(|s| Ok(Cow::Borrowed(s)));
    run_steps(header, steps, opts, &mut collector).await;
    collector.into_report().expect("a run always ends")
}

/// A scenario file checked whole, whose steps are parsed again one at a
/// time as they run: a long file costs its bytes, not its syntax tree.
pub struct ScenarioText {
    path: PathBuf,
    bytes: Vec<u8>,
    description: String,
    steps: usize,
    exec_plugins: HashSet<String>,
}

impl ScenarioText {
    /// Reads and checks `path` (the same errors as `parse_file`).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut parser = StepParser::new(path, &bytes)?;
        let mut steps = 0;
        let mut exec = HashSet::new();
        for step in parser.by_ref() {
            let step = step?;
            steps += 1;
            exec.extend(exec_plugins(std::iter::once(&step)));
        }
        let description = parser
            .finished()
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        Ok(ScenarioText {
            path: path.to_path_buf(),
            bytes,
            description,
            steps,
            exec_plugins: exec,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many steps (actions and directives) it has.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// Runs a scenario file step by step, telling `observer` about each step as
/// it ends and keeping only counters and failures.
pub async fn run_observed<O: Observer + ?Sized>(
    text: &ScenarioText,
    opts: &RunOptions,
    observer: &mut O,
) -> Summary {
    let header = Header {
        path: &text.path,
        description: &text.description,
        exec_plugins: text.exec_plugins.clone(),
    };
    let steps: Box<dyn Iterator<Item = Result<Cow<'_, Step>, String>> + Send> =
        match StepParser::new(&text.path, &text.bytes) {
            Ok(p) => Box::new(p.map(|s| s.map(Cow::Owned).map_err(|e| e.to_string()))),
            Err(e) => Box::new(std::iter::once(Err(e.to_string()))),
        };
    run_steps(header, steps, opts, observer).await
}

/// What the runner needs to know of a scenario before its steps.
struct Header<'a> {
    path: &'a Path,
    description: &'a str,
    /// Plugins started by `#@ plugin … exec`, whose lookups wait in real time.
    exec_plugins: HashSet<String>,
}

fn exec_plugins<'a>(steps: impl Iterator<Item = &'a Step>) -> HashSet<String> {
    use drydock_engine::scenario::PluginLaunch;
    steps
        .filter_map(|step| match &step.kind {
            StepKind::Directive(Directive::Plugin(p)) => match p.launch {
                PluginLaunch::Exec { .. } => Some(p.name.clone()),
                PluginLaunch::Builtin { .. } => None,
            },
            _ => None,
        })
        .collect()
}

async fn run_steps<'a, O: Observer + ?Sized>(
    header: Header<'_>,
    mut steps: impl Iterator<Item = Result<Cow<'a, Step>, String>>,
    opts: &RunOptions,
    observer: &mut O,
) -> Summary {
    let started = Instant::now();
    observer.start(header.path, header.description);
    let mut summary = Summary {
        path: header.path.to_path_buf(),
        description: header.description.to_owned(),
        steps: 0,
        calls: 0,
        failures: Vec::new(),
        micros: 0,
        interrupted: false,
    };
    let tmp = match tempfile::Builder::new().prefix("drydock-run-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            summary.failures.push(Failure {
                line: 0,
                step: None,
                command: String::new(),
                message: format!("cannot create a temporary directory: {e}"),
            });
            observer.end(&summary);
            return summary;
        }
    };
    let dirs = Dirs {
        sockets: tmp.path().join("run"),
        specs: tmp.path().join("etc"),
        state: tmp.path().join("state"),
    };
    for d in [&dirs.sockets, &dirs.specs, &dirs.state] {
        let _ = std::fs::create_dir_all(d);
    }
    let mut spec_dirs = vec![dirs.specs.clone()];
    spec_dirs.extend(opts.spec_dirs.iter().cloned());
    let roots = PluginRoots {
        sockets_dir: opts
            .plugins_dir
            .clone()
            .unwrap_or_else(|| dirs.sockets.clone()),
        spec_dirs,
    };
    let own_sockets = opts.plugins_dir.is_none();
    let engine = Engine::new(EngineConfig {
        roots,
        clock: VirtualClock::new(),
        seed: opts.seed,
    });
    engine.set_authorization_plugins(opts.authorization_plugins.clone());
    engine
        .registry()
        .set_may_appear(may_appear(header.exec_plugins, opts));
    let want_requests = observer.wants_requests();
    if want_requests {
        engine.record_api();
    }
    let base = header
        .path
        .parent()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()));
    let mut launcher = Launcher::new(opts.transport, dirs).base_dir(base);
    let mut vars = Vars::new();
    let mut last_action = None;
    // `#@ check`: drydock fuzz's invariant checker, after every later step.
    let mut checker: Option<crate::fuzz::check::Checker> = None;
    // `#@ at-once N`: outcomes of the steps already run together (by index),
    // and the group's calls, reported on its last step.
    let mut ran: std::collections::HashMap<usize, Outcome> = Default::default();
    let mut group_calls: Option<(usize, Vec<RpcRecord>)> = None;
    // Steps read ahead (for `#@ at-once`), not yet run.
    let mut ahead: VecDeque<Cow<'a, Step>> = VecDeque::new();
    let interrupt = &opts.interrupt;
    for i in 0.. {
        let step = match ahead.pop_front().map(Ok).or_else(|| steps.next()) {
            None => break,
            Some(Ok(step)) => step,
            Some(Err(e)) => {
                summary.failures.push(Failure {
                    line: 0,
                    step: last_action,
                    command: String::new(),
                    message: e,
                });
                break;
            }
        };
        let step: &Step = &step;
        if interrupt.signal().is_some() {
            summary.interrupted = true;
            summary
                .failures
                .push(interrupted(step, &summary, interrupt));
            break;
        }
        if let StepKind::Directive(Directive::AtOnce(n)) = &step.kind {
            while ahead.len() < *n {
                match steps.next() {
                    Some(Ok(s)) => ahead.push_back(s),
                    _ => break,
                }
            }
        }
        let _ = engine.trace().drain();
        if want_requests {
            let _ = engine.api_log();
        }
        let t0 = Instant::now();
        let c0 = engine.registry().clock().elapsed();
        let body = async {
            let r = match &step.kind {
                StepKind::Action(action) => {
                    last_action = Some(action.index);
                    let outcome = match ran.remove(&i) {
                        Some(o) => o,
                        None => {
                            faults::bounded(
                                &engine,
                                drydock_engine::docker_cli::docker(&engine, &action.command),
                            )
                            .await
                        }
                    };
                    (Some(action.index), outcome)
                }
                StepKind::Directive(Directive::AtOnce(n)) => {
                    let group: Vec<_> = ahead
                        .iter()
                        .take(*n)
                        .map_while(|s| match &s.kind {
                            StepKind::Action(a) => Some(&a.command),
                            StepKind::Directive(_) => None,
                        })
                        .collect();
                    if group.len() != *n {
                        return Err(format!(
                            "`#@ at-once {n}` needs {n} docker commands right after it"
                        ));
                    }
                    let together = group.iter().map(|c| {
                        faults::bounded(&engine, drydock_engine::docker_cli::docker(&engine, c))
                    });
                    let outcomes = crate::fuzz::join_all(together.collect()).await;
                    for (k, o) in outcomes.into_iter().enumerate() {
                        ran.insert(i + 1 + k, o);
                    }
                    group_calls = Some((i + n, engine.trace().drain()));
                    (None, Outcome::ok(""))
                }
                StepKind::Directive(Directive::Check(c)) => {
                    checker = Some(crate::fuzz::check::Checker::new(&c.plugin, &c.invariants)?);
                    (None, Outcome::ok(""))
                }
                StepKind::Directive(d) => {
                    let result =
                        run_directive(d, &engine, &mut launcher, opts, own_sockets, tmp.path())
                            .await;
                    (None, result.map_err(|e| format!("{e:#}"))?)
                }
            };
            Ok(r)
        };
        let result = tokio::select! {
            biased;
            () = interrupt.wait() => None,
            r = body => Some(r),
        };
        let (index, outcome) = match result {
            None => {
                summary.interrupted = true;
                summary
                    .failures
                    .push(interrupted(step, &summary, interrupt));
                break;
            }
            Some(Err(message)) => {
                summary.failures.push(Failure {
                    line: step.line,
                    step: last_action,
                    command: step.text.clone(),
                    message,
                });
                break;
            }
            Some(Ok(r)) => r,
        };
        let mut calls = engine.trace().drain();
        // In a group, every call is reported on its last command, and the
        // invariants are checked once the whole group has run.
        let in_group = ran.contains_key(&(i + 1))
            || matches!(step.kind, StepKind::Directive(Directive::AtOnce(_)));
        if group_calls.as_ref().is_some_and(|(last, _)| *last == i) {
            calls = group_calls.take().map(|(_, c)| c).unwrap_or_default();
        }
        let requests = if want_requests {
            engine.api_log()
        } else {
            Vec::new()
        };
        let micros = t0.elapsed().as_micros() as u64;
        let clock_micros = engine
            .registry()
            .clock()
            .elapsed()
            .saturating_sub(c0)
            .as_micros() as u64;
        let mut failed = check(step, index, &outcome, &calls, &mut vars);
        let checking = !in_group && !matches!(step.kind, StepKind::Directive(Directive::Check(_)));
        if let Some(ch) = checker.as_mut().filter(|_| checking) {
            // Its probes' calls are not the step's: they are not matched
            // against expectations or traced.
            if let (_, Some(bad)) = ch.after_step(&engine, &calls).await {
                failed = failed.or(Some(Failure {
                    line: step.line,
                    step: index,
                    command: step.text.clone(),
                    message: bad.to_string(),
                }));
            }
        }
        let report = StepReport {
            index,
            line: step.line,
            text: step.text.clone(),
            outcome,
            calls,
            requests,
            micros,
            clock_micros,
        };
        summary.steps += 1;
        summary.calls += report.calls.len();
        observer.step(&report, failed.as_ref());
        if let Some(f) = failed {
            summary.failures.push(f);
            if !opts.keep_going {
                break;
            }
        }
    }
    launcher.stop_all().await;
    drop(tmp);
    summary.micros = started.elapsed().as_micros() as u64;
    observer.end(&summary);
    summary
}

fn interrupted(step: &Step, summary: &Summary, interrupt: &Interrupt) -> Failure {
    let index = match &step.kind {
        StepKind::Action(a) => Some(a.index),
        StepKind::Directive(_) => None,
    };
    Failure {
        line: step.line,
        step: index,
        command: step.text.clone(),
        message: format!(
            "interrupted by {} before this step ended ({} steps had ended)",
            interrupt.describe(),
            summary.steps
        ),
    }
}

fn check(
    step: &Step,
    index: Option<usize>,
    outcome: &Outcome,
    calls: &[RpcRecord],
    vars: &mut Vars,
) -> Option<Failure> {
    // Decoding every call's JSON is most of a check's cost: only steps with
    // expectations look at the calls.
    let observed = if step.expectations.is_empty() {
        Vec::new()
    } else {
        observed(calls)
    };
    step.check(outcome, &observed, vars).err().map(|m| Failure {
        line: m.line,
        step: index,
        command: step.text.clone(),
        message: m.message,
    })
}

async fn run_directive(
    d: &Directive,
    engine: &Engine,
    launcher: &mut Launcher,
    opts: &RunOptions,
    own_sockets: bool,
    tmp: &std::path::Path,
) -> anyhow::Result<Outcome> {
    match d {
        Directive::Plugin(p) => {
            launcher.start(p, engine.registry()).await?;
            faults::plugin_started(engine, launcher, &p.name);
            if !own_sockets && opts.transport == TransportKind::Unix {
                // The sockets directory is the user's: point a spec file at ours.
                let socket = tmp.join("run").join(format!("{}.sock", p.name));
                std::fs::write(
                    tmp.join("etc").join(format!("{}.spec", p.name)),
                    format!("unix://{}", socket.display()),
                )?;
            }
            Ok(Outcome::ok(""))
        }
        Directive::RestartDaemon => {
            let mut failed = None;
            let restart = async {
                if let Err(e) = engine.restart_daemon().await {
                    failed = Some(anyhow::anyhow!(e));
                }
                Outcome::ok("")
            };
            let outcome = faults::bounded(engine, restart).await;
            if let Some(e) = failed {
                return Err(e);
            }
            Ok(outcome)
        }
        Directive::RestartPlugin(name) => {
            launcher.restart(name, engine.registry()).await?;
            faults::plugin_restarted(engine, name);
            Ok(Outcome::ok(""))
        }
        Directive::Fault(f) => {
            faults::apply(f, engine, launcher).await?;
            Ok(Outcome::ok(""))
        }
        Directive::AuthorizationPlugins(names) => {
            // Daemon configuration: it applies from the daemon's (next) start.
            engine.set_authorization_plugins(names.clone());
            Ok(Outcome::ok(""))
        }
        Directive::User(cn) => {
            engine.set_user(cn.clone());
            Ok(Outcome::ok(""))
        }
        // Handled by the step loop, which keeps the checker and the groups.
        Directive::Check(_) | Directive::AtOnce(_) => Ok(Outcome::ok("")),
    }
}

/// Which plugins a lookup must give real time to appear (docs/faults.md,
/// "Plugins that start late"). Plugins drydock launched itself were waited
/// for before the run went on, so a name missing from drydock's own
/// directories stays missing, and dockerd's 1/2/4/8 s lookup retries pass in
/// virtual time. A directory the user gave (`--plugins-dir`, `--spec-dir`)
/// can gain a plugin at any moment, and an `exec` plugin's process creates
/// its own socket (again after a restart): those retries wait in real time,
/// as dockerd's do.
fn may_appear(
    exec: HashSet<String>,
    opts: &RunOptions,
) -> drydock_engine::plugins::registry::MayAppear {
    if opts.plugins_dir.is_some() || !opts.spec_dirs.is_empty() {
        return std::sync::Arc::new(|_: &str| true);
    }
    std::sync::Arc::new(move |name: &str| exec.contains(name))
}
