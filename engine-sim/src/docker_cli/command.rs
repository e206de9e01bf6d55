//! A docker command line as the CLI has parsed it (the scenario language's
//! action lines parse into these), and what the CLI reports when it ends.

use std::collections::BTreeMap;

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
    /// `docker kill [-s SIGNAL] C…`.
    Kill {
        /// `-s/--signal`, as written (the daemon parses it).
        signal: Option<String>,
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker pause C…` (`pause: true`) and `docker unpause C…`.
    Pause {
        /// Pause, or unpause.
        pause: bool,
        /// Names or IDs, in order.
        containers: Vec<String>,
    },
    /// `docker rename CONTAINER NEW_NAME`.
    Rename {
        /// The container.
        container: String,
        /// Its new name.
        name: String,
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

/// How a step ended, as the CLI would report it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// `None` on success; on failure dockerd's message, without the CLI's
    /// `Error response from daemon: ` prefix.
    pub error: Option<String>,
    /// What the command printed on stdout.
    pub stdout: String,
}

impl Outcome {
    /// A success that printed `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Outcome {
            error: None,
            stdout: stdout.into(),
        }
    }

    /// A failure with dockerd's `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Outcome {
            error: Some(message.into()),
            stdout: String::new(),
        }
    }
}
