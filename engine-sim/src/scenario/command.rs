//! `docker …` words → [`DockerCommand`].
//!
//! Flags are parsed the way docker's CLI library (cobra/pflag) parses them:
//! `--flag value`, `--flag=value`, `-f value`, `-fvalue`, `-f=value`,
//! combined short booleans (`-aq`, a value flag last: `-qf x`), `--bool=false`,
//! and `--` to end the flags. `create`/`run` stop at the image, as docker does,
//! so the container's command keeps its own flags; other commands accept flags
//! after their arguments. Every command lists its flags in one table, which is
//! also what error messages quote.

use std::collections::BTreeMap;

use super::ast::{
    ContainerSpec, CpCommand, CpDirection, DockerCommand, KeyValue, NetworkCommand, NetworkCreate,
    RestartPolicy, VolumeCommand, VolumeMount, VolumeSource, VolumesFrom,
};
use super::source::{Diag, Pos, Result, Word};

/// One flag a command accepts.
struct Flag {
    short: Option<char>,
    long: &'static str,
    /// Other long spellings (`--net` for `--network`).
    aliases: &'static [&'static str],
    takes_value: bool,
}

const fn flag(short: Option<char>, long: &'static str, takes_value: bool) -> Flag {
    Flag {
        short,
        long,
        aliases: &[],
        takes_value,
    }
}

const fn boolean(short: char, long: &'static str) -> Flag {
    flag(Some(short), long, false)
}

const fn valued(short: char, long: &'static str) -> Flag {
    flag(Some(short), long, true)
}

const fn long_valued(long: &'static str) -> Flag {
    flag(None, long, true)
}

const fn long_bool(long: &'static str) -> Flag {
    flag(None, long, false)
}

const CONTAINER_FLAGS: &[Flag] = &[
    long_valued("name"),
    valued('v', "volume"),
    long_valued("volume-driver"),
    long_valued("volumes-from"),
    Flag {
        short: None,
        long: "network",
        aliases: &["net"],
        takes_value: true,
    },
    long_valued("ip"),
    long_bool("rm"),
    long_valued("restart"),
    valued('w', "workdir"),
];
const RUN_EXTRA: &[Flag] = &[boolean('d', "detach")];
const STOP_FLAGS: &[Flag] = &[valued('t', "time")];
const KILL_FLAGS: &[Flag] = &[valued('s', "signal")];
const RM_FLAGS: &[Flag] = &[boolean('f', "force"), boolean('v', "volumes")];
const PS_FLAGS: &[Flag] = &[boolean('a', "all"), boolean('q', "quiet")];
const FORMAT_FLAGS: &[Flag] = &[valued('f', "format")];
const LS_FLAGS: &[Flag] = &[boolean('q', "quiet"), valued('f', "filter")];
const VOLUME_CREATE_FLAGS: &[Flag] = &[
    valued('d', "driver"),
    valued('o', "opt"),
    long_valued("label"),
];
const FORCE_FLAGS: &[Flag] = &[boolean('f', "force")];
const PRUNE_FLAGS: &[Flag] = &[
    boolean('a', "all"),
    boolean('f', "force"),
    long_valued("filter"),
];
const NETWORK_CREATE_FLAGS: &[Flag] = &[
    valued('d', "driver"),
    long_valued("ipam-driver"),
    long_valued("ipam-opt"),
    long_valued("subnet"),
    long_valued("gateway"),
    long_valued("ip-range"),
    long_valued("aux-address"),
    long_bool("ipv6"),
    valued('o', "opt"),
];
const CONNECT_FLAGS: &[Flag] = &[long_valued("ip")];
const NO_FLAGS: &[Flag] = &[];

const TOP_LEVEL: &str = "create, run, start, stop, kill, restart, wait, rm, cp, ps, pause, unpause, rename, version, volume, network, container";
const VOLUME_SUBCOMMANDS: &str = "create, ls, inspect, rm, prune";
const NETWORK_SUBCOMMANDS: &str = "create, rm, ls, inspect, connect, disconnect";
const CONTAINER_SUBCOMMANDS: &str =
    "create, run, start, stop, kill, restart, wait, rm, cp, pause, unpause, rename, ls, ps";

/// Parses the words of a `docker` line (`words[0]` is `docker`).
pub(crate) fn parse_command(words: &[Word]) -> Result<DockerCommand> {
    let Some(docker) = words.first() else {
        // The caller only hands over lines starting with `docker`.
        return Err(Diag::new(
            Pos { line: 1, column: 1 },
            "expected a `docker` command",
        ));
    };
    let Some(sub) = words.get(1) else {
        return Err(Diag::new(
            docker.pos,
            format!("`docker` needs a command (supported: {TOP_LEVEL})"),
        ));
    };
    if sub.text.starts_with('-') {
        return Err(Diag::new(
            sub.pos,
            format!(
                "docker option `{}` is not supported; write `docker COMMAND …` (the engine is the only daemon)",
                sub.text
            ),
        ));
    }
    let rest = &words[2..];
    match sub.text.as_str() {
        "volume" => parse_volume(sub, rest),
        "network" => parse_network(sub, rest),
        "container" => {
            let Some(inner) = rest.first() else {
                return Err(missing_subcommand(sub, "container", CONTAINER_SUBCOMMANDS));
            };
            match inner.text.as_str() {
                "ls" | "list" | "ps" => parse_container(inner, "container ls", &rest[1..]),
                "create" | "run" | "start" | "stop" | "kill" | "restart" | "wait" | "rm" | "cp"
                | "pause" | "unpause" | "rename" => {
                    parse_container(inner, &format!("container {}", inner.text), &rest[1..])
                }
                other => Err(Diag::new(
                    inner.pos,
                    format!(
                        "unknown command `docker container {other}` (supported: {CONTAINER_SUBCOMMANDS})"
                    ),
                )),
            }
        }
        _ => parse_container(sub, &sub.text, rest),
    }
}

fn missing_subcommand(at: &Word, group: &str, supported: &str) -> Diag {
    Diag::new(
        at.pos,
        format!("`docker {group}` needs a subcommand (supported: {supported})"),
    )
}

/// The container-level commands; `name` is how messages spell the command.
fn parse_container(sub: &Word, name: &str, rest: &[Word]) -> Result<DockerCommand> {
    let verb = match sub.text.as_str() {
        "ls" | "list" => "ps",
        verb => verb,
    };
    let cmd = Cmd {
        name: format!("docker {name}"),
        at: sub.pos,
    };
    match verb {
        "create" => {
            let p = cmd.flags(rest, CONTAINER_FLAGS, Stop::AtFirstArg)?;
            Ok(DockerCommand::Create(container_spec(&cmd, &p)?))
        }
        "run" => {
            let specs: Vec<&Flag> = CONTAINER_FLAGS.iter().chain(RUN_EXTRA).collect();
            let p = cmd.flags_from(rest, &specs, Stop::AtFirstArg)?;
            Ok(DockerCommand::Run {
                spec: container_spec(&cmd, &p)?,
                detach: p.bool("detach"),
            })
        }
        "start" | "wait" | "pause" | "unpause" => {
            let p = cmd.flags(rest, NO_FLAGS, Stop::Never)?;
            let containers = cmd.at_least_one(&p, "CONTAINER")?;
            Ok(match verb {
                "start" => DockerCommand::Start { containers },
                "wait" => DockerCommand::Wait { containers },
                pause => DockerCommand::Pause {
                    pause: pause == "pause",
                    containers,
                },
            })
        }
        "kill" => {
            let p = cmd.flags(rest, KILL_FLAGS, Stop::Never)?;
            Ok(DockerCommand::Kill {
                signal: p.last_text("signal"),
                containers: cmd.at_least_one(&p, "CONTAINER")?,
            })
        }
        "rename" => {
            let p = cmd.flags(rest, NO_FLAGS, Stop::Never)?;
            let [container, name] = cmd.exactly(&p, ["CONTAINER", "NEW_NAME"])?;
            Ok(DockerCommand::Rename {
                container: container.text.clone(),
                name: name.text.clone(),
            })
        }
        "stop" | "restart" => {
            let p = cmd.flags(rest, STOP_FLAGS, Stop::Never)?;
            let time = match p.last("time") {
                None => None,
                Some((text, pos)) => Some(text.parse::<u32>().map_err(|_| {
                    Diag::new(
                        pos,
                        format!("invalid value `{text}` for -t/--time: expected a whole number of seconds"),
                    )
                })?),
            };
            let containers = cmd.at_least_one(&p, "CONTAINER")?;
            Ok(if verb == "stop" {
                DockerCommand::Stop { time, containers }
            } else {
                DockerCommand::Restart { time, containers }
            })
        }
        "rm" => {
            let p = cmd.flags(rest, RM_FLAGS, Stop::Never)?;
            Ok(DockerCommand::Rm {
                force: p.bool("force"),
                volumes: p.bool("volumes"),
                containers: cmd.at_least_one(&p, "CONTAINER")?,
            })
        }
        "cp" => {
            let p = cmd.flags(rest, NO_FLAGS, Stop::Never)?;
            let [src, dst] = cmd.exactly(&p, ["SRC", "DST"])?;
            Ok(DockerCommand::Cp(cp_command(&cmd, src, dst)?))
        }
        "ps" => {
            let p = cmd.flags(rest, PS_FLAGS, Stop::Never)?;
            cmd.no_args(&p)?;
            Ok(DockerCommand::Ps {
                all: p.bool("all"),
                quiet: p.bool("quiet"),
            })
        }
        "version" => {
            let p = cmd.flags(rest, FORMAT_FLAGS, Stop::Never)?;
            cmd.no_args(&p)?;
            Ok(DockerCommand::Version {
                format: p.last_text("format"),
            })
        }
        other => Err(Diag::new(
            sub.pos,
            format!("unknown command `docker {other}` (supported: {TOP_LEVEL})"),
        )),
    }
}

fn container_spec(cmd: &Cmd, p: &Parsed<'_>) -> Result<ContainerSpec> {
    let Some((image, args)) = p.args.split_first() else {
        return Err(Diag::new(
            cmd.at,
            format!("`{}` needs an IMAGE (and optionally a COMMAND)", cmd.name),
        ));
    };
    let volumes = p
        .values("volume")
        .map(|(text, pos)| volume_mount(text, pos))
        .collect::<Result<Vec<_>>>()?;
    let volumes_from = p
        .values("volumes-from")
        .map(|(text, pos)| volumes_from(text, pos))
        .collect::<Result<Vec<_>>>()?;
    let restart = match p.last("restart") {
        None => None,
        Some((text, pos)) => Some(restart_policy(text, pos)?),
    };
    if p.bool("rm") && restart.is_some_and(|r| r != RestartPolicy::No) {
        // The docker CLI refuses this pair before talking to the daemon.
        let (_, pos) = p.last("restart").unwrap_or(("", cmd.at));
        return Err(Diag::new(
            pos,
            "conflicting options: --restart and --rm (docker refuses a restart policy on a container it removes)",
        ));
    }
    Ok(ContainerSpec {
        name: p.last_text("name"),
        restart,
        workdir: p.last_text("workdir"),
        volumes,
        volume_driver: p.last_text("volume-driver"),
        volumes_from,
        network: p.last_text("network"),
        ip: p.last_text("ip"),
        rm: p.bool("rm"),
        image: image.text.clone(),
        command: args.iter().map(|w| w.text.clone()).collect(),
    })
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
fn restart_policy(text: &str, pos: Pos) -> Result<RestartPolicy> {
    let policy = match text.split_once(':') {
        None => match text {
            "no" => Some(RestartPolicy::No),
            "always" => Some(RestartPolicy::Always),
            "unless-stopped" => Some(RestartPolicy::UnlessStopped),
            "on-failure" => Some(RestartPolicy::OnFailure { max_retries: None }),
            _ => None,
        },
        Some(("on-failure", n)) => n.parse::<u32>().ok().map(|n| RestartPolicy::OnFailure {
            max_retries: Some(n),
        }),
        Some(_) => None,
    };
    policy.ok_or_else(|| {
        Diag::new(
            pos,
            format!("invalid --restart `{text}` (supported: no, always, unless-stopped, on-failure[:N])"),
        )
    })
}

/// `-v NAME:/path[:ro|:rw]` or `-v /path`.
fn volume_mount(text: &str, pos: Pos) -> Result<VolumeMount> {
    let fields: Vec<&str> = text.split(':').collect();
    let bad = |why: &str| {
        Diag::new(
            pos,
            format!("invalid -v/--volume `{text}`: {why} (expected NAME:/PATH[:ro|:rw] or /PATH)"),
        )
    };
    let (source, target, mode) = match fields.as_slice() {
        [target] => (None, *target, None),
        [first, second] if first.starts_with('/') && !second.starts_with('/') => {
            (None, *first, Some(*second))
        }
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(bad("too many `:`")),
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => return Err(bad(&format!("unsupported mode `{other}`"))),
    };
    if !target.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    let source = match source {
        None => VolumeSource::Anonymous,
        Some("") => return Err(bad("empty volume name")),
        Some(s) if s.starts_with('/') || s.starts_with('.') => {
            return Err(bad(
                "bind mounts are not supported; the engine simulates volumes only",
            ))
        }
        Some(name) => VolumeSource::Named(name.to_string()),
    };
    Ok(VolumeMount {
        source,
        target: target.to_string(),
        read_only,
    })
}

fn volumes_from(text: &str, pos: Pos) -> Result<VolumesFrom> {
    let (container, read_only) = match text.split_once(':') {
        None => (text, None),
        Some((c, "ro")) => (c, Some(true)),
        Some((c, "rw")) => (c, Some(false)),
        Some((_, mode)) => {
            return Err(Diag::new(
                pos,
                format!("invalid --volumes-from `{text}`: unsupported mode `{mode}` (expected CONTAINER[:ro|:rw])"),
            ))
        }
    };
    if container.is_empty() {
        return Err(Diag::new(pos, "--volumes-from needs a container name"));
    }
    Ok(VolumesFrom {
        container: container.to_string(),
        read_only,
    })
}

/// Docker's rule: an argument is on the container side if it has a `:`
/// before any `/` and does not start with `/` or `.`.
fn cp_command(cmd: &Cmd, src: &Word, dst: &Word) -> Result<CpCommand> {
    fn split(arg: &str) -> Option<(&str, &str)> {
        if arg.starts_with('/') || arg.starts_with('.') {
            return None;
        }
        let (container, path) = arg.split_once(':')?;
        (!container.contains('/')).then_some((container, path))
    }
    for word in [src, dst] {
        if word.text == "-" {
            return Err(Diag::new(
                word.pos,
                format!("`{}` cannot copy from stdin or to stdout (`-`)", cmd.name),
            ));
        }
        if let Some(("", _)) | Some((_, "")) = split(&word.text) {
            return Err(Diag::new(
                word.pos,
                format!("invalid `{}`: expected CONTAINER:PATH", word.text),
            ));
        }
    }
    match (split(&src.text), split(&dst.text)) {
        (Some((container, path)), None) => Ok(CpCommand {
            direction: CpDirection::FromContainer,
            container: container.to_string(),
            container_path: path.to_string(),
            host_path: dst.text.clone(),
        }),
        (None, Some((container, path))) => Ok(CpCommand {
            direction: CpDirection::ToContainer,
            container: container.to_string(),
            container_path: path.to_string(),
            host_path: src.text.clone(),
        }),
        (Some(_), Some(_)) => Err(Diag::new(
            src.pos,
            "`docker cp` copies between a container and the host; both sides name a container",
        )),
        (None, None) => Err(Diag::new(
            src.pos,
            "`docker cp` needs one side written CONTAINER:PATH",
        )),
    }
}

fn parse_volume(group: &Word, rest: &[Word]) -> Result<DockerCommand> {
    let Some(sub) = rest.first() else {
        return Err(missing_subcommand(group, "volume", VOLUME_SUBCOMMANDS));
    };
    let verb = match sub.text.as_str() {
        "list" => "ls",
        "remove" => "rm",
        verb => verb,
    };
    let cmd = Cmd {
        name: format!("docker volume {verb}"),
        at: sub.pos,
    };
    let rest = &rest[1..];
    let command = match verb {
        "create" => {
            let p = cmd.flags(rest, VOLUME_CREATE_FLAGS, Stop::Never)?;
            let name = cmd.at_most_one(&p, "NAME")?;
            VolumeCommand::Create {
                name,
                driver: p.last_text("driver"),
                opts: key_values_map(&p, "opt"),
                labels: key_values_map(&p, "label"),
            }
        }
        "ls" => {
            let p = cmd.flags(rest, LS_FLAGS, Stop::Never)?;
            cmd.no_args(&p)?;
            VolumeCommand::Ls {
                quiet: p.bool("quiet"),
                filters: filters(&p, "filter")?,
            }
        }
        "inspect" => {
            let p = cmd.flags(rest, FORMAT_FLAGS, Stop::Never)?;
            VolumeCommand::Inspect {
                format: p.last_text("format"),
                names: cmd.at_least_one(&p, "VOLUME")?,
            }
        }
        "rm" => {
            let p = cmd.flags(rest, FORCE_FLAGS, Stop::Never)?;
            VolumeCommand::Rm {
                force: p.bool("force"),
                names: cmd.at_least_one(&p, "VOLUME")?,
            }
        }
        "prune" => {
            let p = cmd.flags(rest, PRUNE_FLAGS, Stop::Never)?;
            cmd.no_args(&p)?;
            if !p.bool("force") {
                return Err(Diag::new(
                    sub.pos,
                    "`docker volume prune` asks for confirmation; add -f/--force so the scenario replays unattended",
                ));
            }
            VolumeCommand::Prune {
                all: p.bool("all"),
                filters: filters(&p, "filter")?,
            }
        }
        other => {
            return Err(Diag::new(
                sub.pos,
                format!(
                    "unknown command `docker volume {other}` (supported: {VOLUME_SUBCOMMANDS})"
                ),
            ))
        }
    };
    Ok(DockerCommand::Volume(command))
}

fn parse_network(group: &Word, rest: &[Word]) -> Result<DockerCommand> {
    let Some(sub) = rest.first() else {
        return Err(missing_subcommand(group, "network", NETWORK_SUBCOMMANDS));
    };
    let verb = match sub.text.as_str() {
        "list" => "ls",
        "remove" => "rm",
        verb => verb,
    };
    let cmd = Cmd {
        name: format!("docker network {verb}"),
        at: sub.pos,
    };
    let rest = &rest[1..];
    let command = match verb {
        "create" => {
            let p = cmd.flags(rest, NETWORK_CREATE_FLAGS, Stop::Never)?;
            let [name] = cmd.exactly(&p, ["NAME"])?;
            let texts = |key| p.values(key).map(|(t, _)| t.to_string()).collect();
            NetworkCommand::Create(NetworkCreate {
                name: name.text.clone(),
                driver: p.last_text("driver"),
                ipam_driver: p.last_text("ipam-driver"),
                ipam_opts: key_values_map(&p, "ipam-opt"),
                subnets: texts("subnet"),
                gateways: texts("gateway"),
                ip_ranges: texts("ip-range"),
                aux_addresses: strict_key_values(&p, "aux-address", "NAME=IP")?
                    .into_iter()
                    .map(|kv| (kv.key, kv.value))
                    .collect(),
                ipv6: p.bool("ipv6"),
                opts: key_values_map(&p, "opt"),
            })
        }
        "rm" => {
            let p = cmd.flags(rest, NO_FLAGS, Stop::Never)?;
            NetworkCommand::Rm {
                names: cmd.at_least_one(&p, "NETWORK")?,
            }
        }
        "ls" => {
            let p = cmd.flags(rest, LS_FLAGS, Stop::Never)?;
            cmd.no_args(&p)?;
            NetworkCommand::Ls {
                quiet: p.bool("quiet"),
                filters: filters(&p, "filter")?,
            }
        }
        "inspect" => {
            let p = cmd.flags(rest, FORMAT_FLAGS, Stop::Never)?;
            NetworkCommand::Inspect {
                format: p.last_text("format"),
                names: cmd.at_least_one(&p, "NETWORK")?,
            }
        }
        "connect" => {
            let p = cmd.flags(rest, CONNECT_FLAGS, Stop::Never)?;
            let [network, container] = cmd.exactly(&p, ["NETWORK", "CONTAINER"])?;
            NetworkCommand::Connect {
                ip: p.last_text("ip"),
                network: network.text.clone(),
                container: container.text.clone(),
            }
        }
        "disconnect" => {
            let p = cmd.flags(rest, FORCE_FLAGS, Stop::Never)?;
            let [network, container] = cmd.exactly(&p, ["NETWORK", "CONTAINER"])?;
            NetworkCommand::Disconnect {
                force: p.bool("force"),
                network: network.text.clone(),
                container: container.text.clone(),
            }
        }
        other => {
            return Err(Diag::new(
                sub.pos,
                format!(
                    "unknown command `docker network {other}` (supported: {NETWORK_SUBCOMMANDS})"
                ),
            ))
        }
    };
    Ok(DockerCommand::Network(command))
}

/// Map-valued flags (`-o`, `--label`): docker splits at the first `=`; a
/// value without `=` is a key with an empty value; later duplicates win.
fn key_values_map(p: &Parsed<'_>, long: &str) -> BTreeMap<String, String> {
    p.values(long)
        .map(|(text, _)| {
            let (k, v) = text.split_once('=').unwrap_or((text, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--filter K=V`: docker refuses a filter without `=`.
fn filters(p: &Parsed<'_>, long: &str) -> Result<Vec<KeyValue>> {
    strict_key_values(p, long, "KEY=VALUE")
}

fn strict_key_values(p: &Parsed<'_>, long: &str, shape: &str) -> Result<Vec<KeyValue>> {
    p.values(long)
        .map(|(text, pos)| match text.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
            _ => Err(Diag::new(
                pos,
                format!("invalid --{long} `{text}`: expected {shape}"),
            )),
        })
        .collect()
}

/// Whether flag parsing ends at the first positional argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `create`/`run`: the image ends the flags; what follows is the command.
    AtFirstArg,
    /// Flags may follow arguments (cobra's default).
    Never,
}

/// A command being parsed: its display name and where it was named.
struct Cmd {
    name: String,
    at: Pos,
}

/// Flags and arguments of one command.
struct Parsed<'w> {
    /// (long name, value, position of the flag) in order; booleans hold
    /// "true"/"false".
    flags: Vec<(&'static str, String, Pos)>,
    args: Vec<&'w Word>,
}

impl<'w> Parsed<'w> {
    fn bool(&self, long: &str) -> bool {
        self.last(long).is_some_and(|(v, _)| v == "true")
    }

    fn last<'s>(&'s self, long: &'s str) -> Option<(&'s str, Pos)> {
        self.values(long).last()
    }

    fn last_text(&self, long: &str) -> Option<String> {
        self.last(long).map(|(v, _)| v.to_string())
    }

    fn values<'s>(&'s self, long: &'s str) -> impl Iterator<Item = (&'s str, Pos)> + 's {
        self.flags
            .iter()
            .filter(move |(name, _, _)| *name == long)
            .map(|(_, value, pos)| (value.as_str(), *pos))
    }
}

impl Cmd {
    fn flags<'w>(&self, words: &'w [Word], specs: &[Flag], stop: Stop) -> Result<Parsed<'w>> {
        let specs: Vec<&Flag> = specs.iter().collect();
        self.flags_from(words, &specs, stop)
    }

    fn flags_from<'w>(&self, words: &'w [Word], specs: &[&Flag], stop: Stop) -> Result<Parsed<'w>> {
        let mut parsed = Parsed {
            flags: Vec::new(),
            args: Vec::new(),
        };
        let mut i = 0;
        while let Some(word) = words.get(i) {
            i += 1;
            let text = word.text.as_str();
            if text == "--" {
                parsed.args.extend(&words[i..]);
                break;
            }
            if !text.starts_with('-') || text == "-" {
                parsed.args.push(word);
                if stop == Stop::AtFirstArg {
                    parsed.args.extend(&words[i..]);
                    break;
                }
                continue;
            }
            if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some((v, word.pos.shift(3 + n.chars().count())))),
                    None => (long, None),
                };
                let Some(spec) = specs
                    .iter()
                    .find(|f| f.long == name || f.aliases.contains(&name))
                else {
                    return Err(self.unknown_flag(&format!("--{name}"), None, word.pos, specs));
                };
                let (value, pos) = self.flag_value(spec, inline, word, words, &mut i)?;
                parsed.flags.push((spec.long, value, pos));
                continue;
            }
            // A group of short flags: booleans, then at most one taking a value
            // (the rest of the group, after an optional `=`, or the next word).
            let group: Vec<char> = text[1..].chars().collect();
            let mut k = 0;
            while k < group.len() {
                let c = group[k];
                // Point at the flag's letter inside a group, else at the word.
                let pos = if k == 0 {
                    word.pos
                } else {
                    word.pos.shift(1 + k)
                };
                let Some(spec) = specs.iter().find(|f| f.short == Some(c)) else {
                    let group = (group.len() > 1).then_some(text);
                    return Err(self.unknown_flag(&format!("-{c}"), group, pos, specs));
                };
                k += 1;
                if spec.takes_value {
                    let rest: String = group[k..].iter().collect();
                    let (rest, skip) = match rest.strip_prefix('=') {
                        Some(after) => (after.to_string(), 1),
                        None => (rest, 0),
                    };
                    let inline = (!rest.is_empty() || skip == 1)
                        .then(|| (rest.as_str(), word.pos.shift(1 + k + skip)));
                    let (value, pos) = self.flag_value(spec, inline, word, words, &mut i)?;
                    parsed.flags.push((spec.long, value, pos));
                    break;
                }
                parsed.flags.push((spec.long, "true".to_string(), pos));
            }
        }
        Ok(parsed)
    }

    /// The value of `spec` and where it starts: inline (`--f=v`, `-fv`), or
    /// the next word for value flags. Columns inside a word assume it has no
    /// quotes (good enough to point at the right place).
    fn flag_value(
        &self,
        spec: &Flag,
        inline: Option<(&str, Pos)>,
        word: &Word,
        words: &[Word],
        i: &mut usize,
    ) -> Result<(String, Pos)> {
        if !spec.takes_value {
            return match inline {
                None | Some(("true", _)) => Ok(("true".to_string(), word.pos)),
                Some(("false", _)) => Ok(("false".to_string(), word.pos)),
                Some((other, pos)) => Err(Diag::new(
                    pos,
                    format!(
                        "invalid value `{other}` for {} of `{}`: it is a switch (true or false)",
                        spelling(spec),
                        self.name
                    ),
                )),
            };
        }
        if let Some((value, pos)) = inline {
            return Ok((value.to_string(), pos));
        }
        match words.get(*i) {
            Some(next) => {
                *i += 1;
                Ok((next.text.clone(), next.pos))
            }
            None => Err(Diag::new(
                word.pos,
                format!("flag {} of `{}` needs a value", spelling(spec), self.name),
            )),
        }
    }

    /// `group` is the whole word when the flag sits in a group like `-ax`.
    fn unknown_flag(&self, shown: &str, group: Option<&str>, pos: Pos, specs: &[&Flag]) -> Diag {
        let supported = if specs.is_empty() {
            "it takes no flags".to_string()
        } else {
            let list: Vec<String> = specs.iter().map(|f| spelling(f)).collect();
            format!("supported: {}", list.join(", "))
        };
        Diag::new(
            pos,
            format!(
                "unknown flag `{shown}`{} for `{}` ({supported})",
                group.map(|g| format!(" in `{g}`")).unwrap_or_default(),
                self.name
            ),
        )
    }

    fn no_args(&self, p: &Parsed<'_>) -> Result<()> {
        match p.args.first() {
            None => Ok(()),
            Some(extra) => Err(Diag::new(
                extra.pos,
                format!("`{}` takes no arguments, got `{}`", self.name, extra.text),
            )),
        }
    }

    fn at_most_one(&self, p: &Parsed<'_>, what: &str) -> Result<Option<String>> {
        match p.args.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.text.clone())),
            [_, extra, ..] => Err(Diag::new(
                extra.pos,
                format!(
                    "`{}` takes at most one {what}, got another: `{}`",
                    self.name, extra.text
                ),
            )),
        }
    }

    fn at_least_one(&self, p: &Parsed<'_>, what: &str) -> Result<Vec<String>> {
        if p.args.is_empty() {
            return Err(Diag::new(
                self.at,
                format!("`{}` needs at least one {what}", self.name),
            ));
        }
        Ok(p.args.iter().map(|w| w.text.clone()).collect())
    }

    fn exactly<'w, const N: usize>(
        &self,
        p: &Parsed<'w>,
        what: [&str; N],
    ) -> Result<[&'w Word; N]> {
        let usage = what.join(" ");
        if let Some(extra) = p.args.get(N) {
            return Err(Diag::new(
                extra.pos,
                format!(
                    "`{}` takes {usage}; unexpected extra argument `{}`",
                    self.name, extra.text
                ),
            ));
        }
        p.args
            .clone()
            .try_into()
            .map_err(|_| Diag::new(self.at, format!("`{}` needs {usage}", self.name)))
    }
}

/// `-d/--driver` or `--label`.
fn spelling(flag: &Flag) -> String {
    match flag.short {
        Some(c) => format!("-{c}/--{}", flag.long),
        None => format!("--{}", flag.long),
    }
}
