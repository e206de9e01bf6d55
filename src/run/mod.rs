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
use drydock_engine::discovery::PluginRoots;
use drydock_engine::engine::api_log::ApiEvent;
use drydock_engine::engine::{Engine, EngineConfig};
use drydock_engine::scenario::{Directive, ObservedCall, Outcome, Scenario, Step, StepKind, Vars};
use drydock_engine::trace::RpcRecord;
use std::path::PathBuf;
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

/// Runs one parsed scenario.
pub async fn run_scenario(scenario: &Scenario, opts: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let mut report = ScenarioReport {
        path: scenario.path.clone(),
        description: scenario.description.clone(),
        steps: Vec::new(),
        failures: Vec::new(),
        micros: 0,
    };
    let tmp = match tempfile::Builder::new().prefix("drydock-run-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            report.failures.push(Failure {
                line: 0,
                step: None,
                command: String::new(),
                message: format!("cannot create a temporary directory: {e}"),
            });
            return report;
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
    engine.registry().set_may_appear(may_appear(scenario, opts));
    engine.record_api();
    let base = scenario
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
    for (i, step) in scenario.steps.iter().enumerate() {
        let _ = engine.trace().drain();
        let _ = engine.api_log();
        let t0 = Instant::now();
        let c0 = engine.registry().clock().elapsed();
        let (index, outcome) = match &step.kind {
            StepKind::Action(action) => {
                last_action = Some(action.index);
                let outcome = match ran.remove(&i) {
                    Some(o) => o,
                    None => faults::bounded(&engine, engine.docker(&action.command)).await,
                };
                (Some(action.index), outcome)
            }
            StepKind::Directive(Directive::AtOnce(n)) => {
                let group: Vec<_> = scenario.steps[i + 1..]
                    .iter()
                    .take(*n)
                    .map_while(|s| match &s.kind {
                        StepKind::Action(a) => Some(&a.command),
                        StepKind::Directive(_) => None,
                    })
                    .collect();
                if group.len() != *n {
                    report.failures.push(Failure {
                        line: step.line,
                        step: last_action,
                        command: step.text.clone(),
                        message: format!(
                            "`#@ at-once {n}` needs {n} docker commands right after it"
                        ),
                    });
                    break;
                }
                let together = group
                    .iter()
                    .map(|c| faults::bounded(&engine, engine.docker(c)));
                let outcomes = crate::fuzz::join_all(together.collect()).await;
                for (k, o) in outcomes.into_iter().enumerate() {
                    ran.insert(i + 1 + k, o);
                }
                group_calls = Some((i + n, engine.trace().drain()));
                (None, Outcome::ok(""))
            }
            StepKind::Directive(Directive::Check(c)) => {
                match crate::fuzz::check::Checker::new(&c.plugin, &c.invariants) {
                    Ok(ch) => {
                        checker = Some(ch);
                        (None, Outcome::ok(""))
                    }
                    Err(e) => {
                        report.failures.push(Failure {
                            line: step.line,
                            step: last_action,
                            command: step.text.clone(),
                            message: e,
                        });
                        break;
                    }
                }
            }
            StepKind::Directive(d) => {
                let result =
                    run_directive(d, &engine, &mut launcher, opts, own_sockets, tmp.path()).await;
                match result {
                    Ok(o) => (None, o),
                    Err(e) => {
                        report.failures.push(Failure {
                            line: step.line,
                            step: last_action,
                            command: step.text.clone(),
                            message: format!("{e:#}"),
                        });
                        break;
                    }
                }
            }
        };
        let mut calls = engine.trace().drain();
        // In a group, every call is reported on its last command, and the
        // invariants are checked once the whole group has run.
        let in_group = ran.contains_key(&(i + 1))
            || matches!(step.kind, StepKind::Directive(Directive::AtOnce(_)));
        if group_calls.as_ref().is_some_and(|(last, _)| *last == i) {
            calls = group_calls.take().map(|(_, c)| c).unwrap_or_default();
        }
        let requests = engine.api_log();
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
        report.steps.push(StepReport {
            index,
            line: step.line,
            text: step.text.clone(),
            outcome,
            calls,
            requests,
            micros,
            clock_micros,
        });
        if let Some(f) = failed {
            report.failures.push(f);
            if !opts.keep_going {
                break;
            }
        }
    }
    launcher.stop_all().await;
    report.micros = started.elapsed().as_micros() as u64;
    report
}

fn check(
    step: &Step,
    index: Option<usize>,
    outcome: &Outcome,
    calls: &[RpcRecord],
    vars: &mut Vars,
) -> Option<Failure> {
    let observed = observed(calls);
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
fn may_appear(scenario: &Scenario, opts: &RunOptions) -> drydock_engine::registry::MayAppear {
    use drydock_engine::scenario::PluginLaunch;
    if opts.plugins_dir.is_some() || !opts.spec_dirs.is_empty() {
        return std::sync::Arc::new(|_: &str| true);
    }
    let exec: std::collections::HashSet<String> = scenario
        .steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Directive(Directive::Plugin(p)) => match p.launch {
                PluginLaunch::Exec { .. } => Some(p.name.clone()),
                PluginLaunch::Builtin { .. } => None,
            },
            _ => None,
        })
        .collect();
    std::sync::Arc::new(move |name: &str| exec.contains(name))
}
