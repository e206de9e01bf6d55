//! The typed syntax tree of a scenario file.
//!
//! Everything here is plain data: the parser builds it, the runner walks it.
//! The tree says *what the file asks for*; whether it makes sense against a
//! daemon (does the container exist? is the IP in the subnet?) is for the
//! engine to decide, exactly as dockerd decides it, so that scenarios can also
//! express failures.

use std::path::PathBuf;

use super::pattern::{Pattern, TextPattern};
pub use crate::docker_cli::command::*;

/// A parsed `*.scenario` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The path the file was read from, as given; used only in messages.
    pub path: PathBuf,
    /// The leading comment block (`# ` stripped, lines joined with `\n`):
    /// what the scenario demonstrates, for listings and reports.
    pub description: String,
    /// Actions and directives in file order, each with its expectations.
    pub steps: Vec<Step>,
    /// Whether a conformance runner may replay the file against a real dockerd.
    pub replay: Replay,
}

impl Scenario {
    /// The docker actions only, in order (what a replay against a real
    /// dockerd runs).
    pub fn actions(&self) -> impl Iterator<Item = (&Step, &Action)> {
        self.steps.iter().filter_map(|step| match &step.kind {
            StepKind::Action(action) => Some((step, action)),
            StepKind::Directive(_) => None,
        })
    }
}

/// Whether a file can be replayed against a real dockerd (`#@ replay skip: …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// The default: the `docker` lines run as they are against a real daemon.
    Replayable,
    /// The file says it cannot be replayed, and why (for example it restarts
    /// a plugin, which a replay script cannot do).
    Skip {
        /// The text after `skip:`.
        reason: String,
        /// Line of the directive.
        line: u32,
    },
}

/// One thing the runner does, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based line where the step starts.
    pub line: u32,
    /// The step's source text as written (an action spanning several lines
    /// keeps its `\`-newlines), without a trailing comment: for traces.
    pub text: String,
    /// What to do.
    pub kind: StepKind,
    /// The `#>` lines that follow the step, in file order. The runner checks
    /// them with [`Step::check`](crate::scenario::Step::check) once the step
    /// has run. Only actions and the `restart-*` directives can carry any.
    pub expectations: Vec<Expectation>,
}

/// What a [`Step`] is.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// A `docker …` command line.
    Action(Action),
    /// A `#@ …` instruction to the engine.
    Directive(Directive),
}

/// A docker CLI command from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// 1-based position among the file's actions ("step 3"), stable when
    /// comments or directives are added around it.
    pub index: usize,
    /// The command's words after shell unquoting, starting with `docker`:
    /// what a replay passes to `execve`.
    pub argv: Vec<String>,
    /// The typed command.
    pub command: DockerCommand,
}

/// A `#@` line: an instruction to the engine, invisible to a shell replay.
#[derive(Clone, Debug, PartialEq)]
pub enum Directive {
    /// `#@ plugin NAME …`: the runner starts a plugin before going on.
    Plugin(PluginDirective),
    /// `#@ authorization-plugin NAME…`: the daemon's authz chain, in order,
    /// like `dockerd --authorization-plugin`. It is daemon configuration, so
    /// it applies from the daemon's next start (the first action, or the next
    /// `#@ restart-daemon`). No names means an empty chain.
    AuthorizationPlugins(Vec<String>),
    /// `#@ restart-daemon`: stop the daemon as dockerd stops (running
    /// containers are stopped), keep its state, start it again.
    RestartDaemon,
    /// `#@ restart-plugin NAME`: kill a runner-started plugin and start it
    /// again (dockerd does not notice, protocol §11.10).
    RestartPlugin(String),
    /// `#@ user CN` / `#@ user none`: act as a TLS client whose certificate
    /// has this common name, or as a client without one.
    User(Option<String>),
    /// `#@ check PLUGIN [INVARIANT…]`: from here on, after every step, check
    /// the plugin against drydock's invariants (docs/invariants.md), all or
    /// the ones named; a broken one fails the step (counterexamples of
    /// `drydock fuzz` use it).
    Check(CheckDirective),
    /// `#@ at-once N`: the next N steps (docker commands) run concurrently,
    /// as concurrent docker clients would; their plugin calls interleave.
    AtOnce(usize),
    /// `#@ fault …`: make the engine↔plugin path misbehave (docs/faults.md).
    Fault(FaultDirective),
}

/// `#@ fault …`: what to break.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultDirective {
    /// `#@ fault PLUGIN METHOD[~TEXT]|* ACTION [once|times N|always]`: requests to
    /// the plugin misbehave.
    Call(crate::plugins::fault::CallFault),
    /// `#@ fault PLUGIN kill [for DURATION]`: kill a runner-started plugin
    /// the way SIGKILL does (its socket stays behind, refusing connections);
    /// with `for`, it is running again DURATION of engine time later.
    Kill {
        /// The plugin's name.
        plugin: String,
        /// When it comes back, if it does by itself.
        back_after: Option<std::time::Duration>,
    },
    /// `#@ fault PLUGIN stale-socket`: a socket file `PLUGIN.sock` with no
    /// listener, as a crashed plugin leaves behind.
    StaleSocket(String),
    /// `#@ fault PLUGIN late DURATION`: discovery does not see the plugin
    /// until DURATION of engine time from now (its socket appears late).
    Late {
        /// The plugin's name.
        plugin: String,
        /// How long it stays invisible.
        after: std::time::Duration,
    },
    /// `#@ fault clear [PLUGIN]`: remove the faults of one plugin or all.
    Clear(Option<String>),
    /// `#@ sleep DURATION`: let engine time pass, as a user waiting before
    /// the next command would (a late socket appears, a killed plugin comes
    /// back). It lives here because it only matters with faults.
    Sleep(std::time::Duration),
}

/// `#@ check PLUGIN [INVARIANT…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckDirective {
    /// The plugin checked.
    pub plugin: String,
    /// The invariants checked; empty for all of them. The runner knows the
    /// names and refuses unknown ones.
    pub invariants: Vec<String>,
}

/// `#@ plugin NAME …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDirective {
    /// The plugin's name as dockerd sees it (its socket or spec file name).
    pub name: String,
    /// How to start it.
    pub launch: PluginLaunch,
}

/// How the runner starts a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginLaunch {
    /// `#@ plugin NAME KIND [key=value…]`: a plugin drydock knows by kind
    /// (`volume`, `authz`, `ipam`, or a test kind). The runner validates the
    /// kind and its settings.
    Builtin {
        /// An identifier (`[a-z][a-z0-9_-]*`).
        kind: String,
        /// The `key=value` settings, in order.
        settings: Vec<KeyValue>,
    },
    /// `#@ plugin NAME exec -- CMD ARGS…`: any program. The runner replaces
    /// the placeholders in [`EXEC_PLACEHOLDERS`](crate::scenario::EXEC_PLACEHOLDERS)
    /// in each argument.
    Exec {
        /// The command and its arguments (at least the command).
        argv: Vec<String>,
    },
}

/// A `#>` line (or block) that checks the step before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// 1-based line of the `#>` line that starts it; mismatches point here.
    pub line: u32,
    /// What is checked.
    pub kind: ExpectKind,
}

/// What an [`Expectation`] checks.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectKind {
    /// `#> ok`: the step succeeded.
    Ok,
    /// `#> error "TEXT"` / `#> error ~ "SUB"`: the step failed with this
    /// message (dockerd's, without the CLI's `Error response from daemon: `).
    Error(TextPattern),
    /// `#> output "TEXT"` / `#> output ~ "SUB"` / `#> output $var`: the
    /// step's stdout, trimmed.
    Output(TextPattern),
    /// `#> calls[ unordered| include]:` and its indented item lines.
    Calls {
        /// How the items are compared with the observed calls.
        mode: CallsMode,
        /// At least one item.
        calls: Vec<CallPattern>,
    },
    /// `#> no calls`: the step caused no plugin call at all.
    NoCalls,
    /// `#> attempts PLUGIN METHOD N [empty-body] [over DURATION]`: a call
    /// of METHOD to PLUGIN in the step took N HTTP requests; with
    /// `empty-body`, its retries carried an empty body (without, they did
    /// not); with `over`, it took exactly DURATION of engine time.
    Attempts {
        /// Plugin name.
        plugin: String,
        /// Method, e.g. `VolumeDriver.Create`.
        method: String,
        /// HTTP requests per call, retries included.
        attempts: u32,
        /// Whether the retries carried an empty body.
        empty_body: bool,
        /// The call's engine time, if checked.
        over: Option<std::time::Duration>,
    },
    /// `#> count PLUGIN METHOD N`.
    Count {
        /// Plugin name.
        plugin: String,
        /// Method, e.g. `VolumeDriver.Mount`.
        method: String,
        /// Exact number of such calls in the step.
        count: usize,
    },
}

/// How a `calls` block compares. In every mode only calls to the plugins the
/// block names are considered, so a volume scenario stays readable when an
/// authz plugin also sees every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallsMode {
    /// `calls:` — exactly these calls, in this order.
    Exact,
    /// `calls unordered:` — exactly these calls, in any order.
    Unordered,
    /// `calls include:` — these calls appear in this order, others may come
    /// between and around them.
    Include,
}

/// One item line of a `calls` block: `PLUGIN METHOD [REQUEST] [-> RESPONSE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallPattern {
    /// Line of the item, for messages.
    pub line: u32,
    /// Plugin name, compared exactly.
    pub plugin: String,
    /// `Protocol.Method`, compared exactly.
    pub method: String,
    /// Pattern for the request body; `None` accepts any.
    pub request: Option<Pattern>,
    /// Pattern for the response body; `None` accepts any (even no response).
    pub response: Option<Pattern>,
}
