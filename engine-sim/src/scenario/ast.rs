//! The typed syntax tree of a scenario file.
//!
//! Everything here is plain data: the parser builds it, the runner walks it.
//! The tree says *what the file asks for*; whether it makes sense against a
//! daemon (does the container exist? is the IP in the subnet?) is for the
//! engine to decide, exactly as dockerd decides it, so that scenarios can also
//! express failures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::pattern::{Pattern, TextPattern};

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

/// A `key=value` pair from a repeatable flag that docker keeps as a list,
/// such as `--filter`. (Flags docker keeps as a map use a [`BTreeMap`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// Text before the first `=`.
    pub key: String,
    /// Text after the first `=`.
    pub value: String,
}

/// Every supported docker command.
#[derive(Clone, Debug, PartialEq)]
pub enum DockerCommand {
    /// `docker volume …`.
    Volume(VolumeCommand),
    /// `docker network …`.
    Network(NetworkCommand),
    /// `docker create …` (also `docker container create`).
    Create(ContainerSpec),
    /// `docker run …`.
    Run {
        /// What to create.
        spec: ContainerSpec,
        /// `-d/--detach`: leave the container running and return at once.
        /// Without it the container's (empty) command runs to completion.
        detach: bool,
    },
    /// `docker start C…`.
    Start {
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker stop [-t N] C…`.
    Stop {
        /// `-t/--time`: seconds to wait before killing.
        time: Option<u32>,
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker kill C…`.
    Kill {
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker restart [-t N] C…`.
    Restart {
        /// `-t/--time`: seconds to wait before killing.
        time: Option<u32>,
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker wait C…`: lets each container's command finish.
    Wait {
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker rm [-f] [-v] C…`.
    Rm {
        /// `-f/--force`: stop a running container first.
        force: bool,
        /// `-v/--volumes`: also remove the container's anonymous volumes.
        volumes: bool,
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker cp SRC DST`, one side `CONTAINER:PATH`.
    Cp(CpCommand),
    /// `docker ps [-a] [-q]` (also `docker container ls`).
    Ps {
        /// `-a/--all`: include stopped containers.
        all: bool,
        /// `-q/--quiet`: print IDs only.
        quiet: bool,
    },
    /// `docker version [-f FORMAT]`.
    Version {
        /// `-f/--format`: a Go template, e.g. `{{.Server.Version}}`.
        format: Option<String>,
    },
}

/// `docker volume …` subcommands.
#[derive(Clone, Debug, PartialEq)]
pub enum VolumeCommand {
    /// `docker volume create [-d DRIVER] [-o K=V]… [--label K=V]… [NAME]`.
    Create {
        /// The volume name; docker generates one when absent.
        name: Option<String>,
        /// `-d/--driver`; dockerd defaults to `local`.
        driver: Option<String>,
        /// `-o/--opt`, sent to the driver as `Opts` (later duplicates win, as
        /// in docker's map).
        opts: BTreeMap<String, String>,
        /// `--label`, kept by the daemon only.
        labels: BTreeMap<String, String>,
    },
    /// `docker volume ls [-q] [-f K=V]…`.
    Ls {
        /// `-q/--quiet`: names only.
        quiet: bool,
        /// `-f/--filter`, in order (a key may repeat).
        filters: Vec<KeyValue>,
    },
    /// `docker volume inspect [-f FORMAT] NAME…`.
    Inspect {
        /// `-f/--format`: a Go template.
        format: Option<String>,
        /// At least one name.
        names: Vec<String>,
    },
    /// `docker volume rm [-f] NAME…`.
    Rm {
        /// `-f/--force` (does not override "in use", see protocol §11.16).
        force: bool,
        /// At least one name.
        names: Vec<String>,
    },
    /// `docker volume prune -f [-a] [--filter K=V]…`. The parser insists on
    /// `-f`: without it the CLI asks for confirmation and a replay would hang
    /// or answer "no".
    Prune {
        /// `-a/--all`: also named volumes (a newer CLI sends it as the
        /// `all=true` filter, which dockerd 20.10 does not know).
        all: bool,
        /// `--filter`, in order.
        filters: Vec<KeyValue>,
    },
}

/// `docker network …` subcommands.
#[derive(Clone, Debug, PartialEq)]
pub enum NetworkCommand {
    /// `docker network create … NAME`.
    Create(NetworkCreate),
    /// `docker network rm NAME…`.
    Rm {
        /// At least one name.
        names: Vec<String>,
    },
    /// `docker network ls [-q] [-f K=V]…`.
    Ls {
        /// `-q/--quiet`: IDs only.
        quiet: bool,
        /// `-f/--filter`, in order.
        filters: Vec<KeyValue>,
    },
    /// `docker network inspect [-f FORMAT] NAME…`.
    Inspect {
        /// `-f/--format`: a Go template.
        format: Option<String>,
        /// At least one name.
        names: Vec<String>,
    },
    /// `docker network connect [--ip IP] NETWORK CONTAINER`.
    Connect {
        /// `--ip`: the IPv4 address to request.
        ip: Option<String>,
        /// Network name or ID.
        network: String,
        /// Container name or ID.
        container: String,
    },
    /// `docker network disconnect [-f] NETWORK CONTAINER`.
    Disconnect {
        /// `-f/--force`.
        force: bool,
        /// Network name or ID.
        network: String,
        /// Container name or ID.
        container: String,
    },
}

/// `docker network create` flags. Addresses stay text: dockerd validates them
/// and a scenario may want to see it refuse a bad one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NetworkCreate {
    /// The network name.
    pub name: String,
    /// `-d/--driver`; dockerd defaults to `bridge`.
    pub driver: Option<String>,
    /// `--ipam-driver`: the IPAM plugin to use.
    pub ipam_driver: Option<String>,
    /// `--ipam-opt K=V`, sent as RequestPool `Options`.
    pub ipam_opts: BTreeMap<String, String>,
    /// `--subnet`, repeatable, in order.
    pub subnets: Vec<String>,
    /// `--gateway`, repeatable, paired with subnets in order.
    pub gateways: Vec<String>,
    /// `--ip-range`, repeatable, paired with subnets in order (RequestPool `SubPool`).
    pub ip_ranges: Vec<String>,
    /// `--aux-address NAME=IP`, repeatable.
    pub aux_addresses: BTreeMap<String, String>,
    /// `--ipv6`: also request an IPv6 pool.
    pub ipv6: bool,
    /// `-o/--opt K=V`: driver options.
    pub opts: BTreeMap<String, String>,
}

/// What `docker create` and `docker run` share.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContainerSpec {
    /// `--name`; docker generates one when absent.
    pub name: Option<String>,
    /// `-v/--volume`, in order.
    pub volumes: Vec<VolumeMount>,
    /// `--volume-driver`: driver for the volumes named here that don't exist yet.
    pub volume_driver: Option<String>,
    /// `--volumes-from`, in order.
    pub volumes_from: Vec<VolumesFrom>,
    /// `--network`/`--net`.
    pub network: Option<String>,
    /// `--ip`: IPv4 address on that network.
    pub ip: Option<String>,
    /// `--rm`: remove the container (and its anonymous volumes) when it exits.
    pub rm: bool,
    /// `--restart`: what the daemon does when the container exits or the
    /// daemon restarts; `None` when not given (dockerd's default, `no`).
    pub restart: Option<RestartPolicy>,
    /// `-w/--workdir`: the working directory, which a volume may be mounted
    /// over (dockerd creates it inside the mounted volume at start).
    pub workdir: Option<String>,
    /// The image reference (never pulled: the simulated engine has every image).
    pub image: String,
    /// COMMAND and ARGS after the image (recorded; containers run no process).
    pub command: Vec<String>,
}

/// `--restart POLICY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// `no`: never restart.
    No,
    /// `always`: restart whenever it stops, and when the daemon starts.
    Always,
    /// `unless-stopped`: like `always`, except after a `docker stop`.
    UnlessStopped,
    /// `on-failure[:N]`: restart after a non-zero exit, at most N times.
    OnFailure {
        /// The `:N` limit, if given.
        max_retries: Option<u32>,
    },
}

/// One `-v` flag of `docker create`/`run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeMount {
    /// Named (`-v NAME:/path`) or anonymous (`-v /path`).
    pub source: VolumeSource,
    /// Absolute path inside the container.
    pub target: String,
    /// `:ro` (true) or `:rw`/nothing (false).
    pub read_only: bool,
}

/// Where a [`VolumeMount`]'s volume comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// A volume by name, created on first use.
    Named(String),
    /// A fresh volume with a random 64-hex name.
    Anonymous,
}

/// One `--volumes-from CONTAINER[:ro|:rw]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumesFrom {
    /// The container whose mounts are copied.
    pub container: String,
    /// `Some(true)` for `:ro`, `Some(false)` for `:rw`, `None` to inherit each
    /// mount's own mode.
    pub read_only: Option<bool>,
}

/// `docker cp`, direction made explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpCommand {
    /// Which way the copy goes.
    pub direction: CpDirection,
    /// The container side's container name or ID.
    pub container: String,
    /// The path inside the container.
    pub container_path: String,
    /// The path on the host (the engine's own scratch space).
    pub host_path: String,
}

/// Which way a `docker cp` copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpDirection {
    /// `docker cp HOST CONTAINER:PATH`.
    ToContainer,
    /// `docker cp CONTAINER:PATH HOST`.
    FromContainer,
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
    Call(crate::fault::CallFault),
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
