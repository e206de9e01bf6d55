//! Random but valid docker workloads, generated as **scenario text**: every
//! case is a list of action and directive lines that the scenario parser
//! reads, so a counterexample is printed by joining its lines.
//!
//! Names come from small pools (`c1`…`c3`, `v1`…`v3`, `n1`, `n2`) so that
//! commands collide often: the same volume in two containers, a container
//! started twice, a network removed under a container — where plugins break.
//! The lines are syntactically valid; whether each succeeds is for the engine
//! to decide, as dockerd would.
//!
//! A case is a list of [`Group`]s. Most are one line; with concurrency on,
//! some are several commands on *different* containers (plus duplicate
//! `docker volume create`s) that the engine runs at once, so their Create,
//! Get, Mount, Unmount, RequestAddress… calls reach the plugin interleaved.
//! A group's `together` flag shrinks to `false` (the same lines one after
//! another), so shrinking can serialise a group as well as drop its lines.

use proptest::prelude::*;

/// Which protocol's commands a case exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FuzzProtocol {
    /// Volumes: create/rm, containers mounting them, `--volumes-from`, `docker cp`.
    Volume,
    /// Networks on an IPAM driver: create/rm, connect/disconnect, static `--ip`.
    Ipam,
    /// Any docker command, with the plugin as the authorization plugin.
    Authz,
    /// Volume and IPAM commands, against one plugin implementing both.
    All,
}

/// What the generator needs to know about the plugin under test.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// The plugin's name (`-d NAME`, `--ipam-driver NAME`).
    pub plugin: String,
    /// Whether `#@ restart-plugin NAME` may be generated (only for plugins the
    /// scenario starts itself).
    pub restartable: bool,
    /// The protocol.
    pub protocol: FuzzProtocol,
}

fn container() -> impl Strategy<Value = String> {
    (1..=3u8).prop_map(|i| format!("c{i}"))
}

fn volume() -> impl Strategy<Value = String> {
    (1..=3u8).prop_map(|i| format!("v{i}"))
}

/// `n1` three times as often as `n2`: commands meet on one network more often.
fn network() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(1u8), 1 => Just(2u8)]
}

/// Lifecycle commands on a container, shared by every protocol.
fn lifecycle(cfg: &GenConfig) -> BoxedStrategy<String> {
    let restart_plugin = format!("#@ restart-plugin {}", cfg.plugin);
    let restartable = cfg.restartable;
    let cmd = prop_oneof![
        Just("start"),
        Just("stop"),
        Just("kill"),
        Just("restart"),
        Just("wait"),
        Just("rm -f"),
        Just("rm"),
    ];
    let step = (cmd, container()).prop_map(|(cmd, c)| format!("docker {cmd} {c}"));
    if restartable {
        prop_oneof![
            10 => step,
            1 => Just("#@ restart-daemon".to_owned()),
            1 => Just(restart_plugin),
        ]
        .boxed()
    } else {
        prop_oneof![10 => step, 1 => Just("#@ restart-daemon".to_owned())].boxed()
    }
}

/// Volume commands against plugin `p`.
fn volume_steps(p: &str) -> BoxedStrategy<String> {
    let p = p.to_owned();
    let (p1, p2, p3, p4) = (p.clone(), p.clone(), p.clone(), p.clone());
    prop_oneof![
        3 => volume().prop_map(move |v| format!("docker volume create -d {p1} {v}")),
        1 => (volume(), any::<bool>()).prop_map(|(v, f)| {
            format!("docker volume rm {}{v}", if f { "-f " } else { "" })
        }),
        4 => (container(), volume(), proptest::option::of(volume())).prop_map(move |(c, v, w)| {
            let extra = w.map(|w| format!(" -v {w}:/extra")).unwrap_or_default();
            format!("docker run -d --name {c} --volume-driver {p2} -v {v}:/data{extra} busybox")
        }),
        2 => (container(), volume()).prop_map(move |(c, v)| {
            format!("docker create --name {c} --volume-driver {p3} -v {v}:/data busybox")
        }),
        1 => (container(), container()).prop_map(|(c, d)| {
            format!("docker run -d --name {c} --volumes-from {d} busybox")
        }),
        1 => volume().prop_map(move |v| {
            format!("docker run --rm --volume-driver {p4} -v {v}:/data busybox")
        }),
        1 => container().prop_map(|c| format!("docker cp ./notes.txt {c}:/data/notes.txt")),
    ]
    .boxed()
}

/// Network commands on IPAM driver `p`: subnet `10.90.N.0/24` for network `nN`.
fn ipam_steps(p: &str) -> BoxedStrategy<String> {
    let p = p.to_owned();
    let (p1, p2) = (p.clone(), p.clone());
    prop_oneof![
        5 => network().prop_map(move |n| {
            format!("docker network create --ipam-driver {p1} --subnet 10.90.{n}.0/24 n{n}")
        }),
        1 => network().prop_map(move |n| format!("docker network create --ipam-driver {p2} n{n}")),
        1 => network().prop_map(|n| format!("docker network rm n{n}")),
        3 => (container(), network()).prop_map(|(c, n)| {
            format!("docker run -d --name {c} --network n{n} busybox")
        }),
        4 => (container(), (network(), 10..=11u8)).prop_map(|(c, (n, h))| {
            format!("docker run -d --name {c} --network n{n} --ip 10.90.{n}.{h} busybox")
        }),
        1 => (container(), network()).prop_map(|(c, n)| format!("docker create --name {c} --network n{n} busybox")),
        2 => (container(), network(), proptest::option::of(10..=11u8)).prop_map(|(c, n, h)| {
            let ip = h.map(|h| format!("--ip 10.90.{n}.{h} ")).unwrap_or_default();
            format!("docker network connect {ip}n{n} {c}")
        }),
        1 => (container(), network()).prop_map(|(c, n)| format!("docker network disconnect n{n} {c}")),
    ]
    .boxed()
}

/// Commands on built-in drivers, each an API request the authz plugin judges,
/// as different users.
fn authz_steps() -> BoxedStrategy<String> {
    prop_oneof![
        Just("docker volume ls".to_owned()),
        Just("docker version".to_owned()),
        Just("docker ps -a".to_owned()),
        Just("docker network ls".to_owned()),
        volume().prop_map(|v| format!("docker volume create {v}")),
        volume().prop_map(|v| format!("docker volume rm {v}")),
        volume().prop_map(|v| format!("docker volume inspect {v}")),
        (container(), volume())
            .prop_map(|(c, v)| format!("docker run -d --name {c} -v {v}:/data busybox")),
        prop_oneof![Just("alice"), Just("bob"), Just("none")].prop_map(|u| format!("#@ user {u}")),
    ]
    .boxed()
}

/// One generated line.
pub fn step(cfg: &GenConfig) -> BoxedStrategy<String> {
    let life = lifecycle(cfg);
    match cfg.protocol {
        FuzzProtocol::Volume => prop_oneof![3 => volume_steps(&cfg.plugin), 2 => life].boxed(),
        FuzzProtocol::Ipam => prop_oneof![3 => ipam_steps(&cfg.plugin), 2 => life].boxed(),
        FuzzProtocol::Authz => prop_oneof![3 => authz_steps(), 1 => life].boxed(),
        FuzzProtocol::All => prop_oneof![
            2 => volume_steps(&cfg.plugin),
            2 => ipam_steps(&cfg.plugin),
            2 => life
        ]
        .boxed(),
    }
}

/// Lines of a case that run one after another or, when `together`, at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The scenario lines (only docker commands when `together`).
    pub lines: Vec<String>,
    /// Run at once (`false`: one after another, as `drydock run` does).
    pub together: bool,
}

impl Group {
    /// A single line.
    pub fn one(line: impl Into<String>) -> Self {
        Group {
            lines: vec![line.into()],
            together: false,
        }
    }
}

/// A command acting on container `c` that may run alongside commands on
/// other containers.
fn on_container(cfg: &GenConfig, c: &'static str) -> BoxedStrategy<String> {
    let p = cfg.plugin.clone();
    let life = prop_oneof![
        Just("start"),
        Just("stop"),
        Just("kill"),
        Just("restart"),
        Just("wait"),
        Just("rm -f"),
    ]
    .prop_map(move |cmd| format!("docker {cmd} {c}"));
    let (p1, p2) = (p.clone(), p.clone());
    let volume = prop_oneof![
        2 => volume().prop_map(move |v| {
            format!("docker run -d --name {c} --volume-driver {p1} -v {v}:/data busybox")
        }),
        1 => volume().prop_map(move |v| {
            format!("docker create --name {c} --volume-driver {p2} -v {v}:/data busybox")
        }),
        1 => Just(format!("docker cp ./notes.txt {c}:/data/notes.txt")),
        1 => Just(format!("docker cp {c}:/data/notes.txt ./copy-{c}.txt")),
    ];
    let ipam = prop_oneof![
        2 => network().prop_map(move |n| format!("docker run -d --name {c} --network n{n} busybox")),
        2 => (network(), 10..=11u8).prop_map(move |(n, h)| {
            format!("docker run -d --name {c} --network n{n} --ip 10.90.{n}.{h} busybox")
        }),
        1 => network().prop_map(move |n| format!("docker network connect n{n} {c}")),
        1 => (network(), 10..=11u8).prop_map(move |(n, h)| {
            format!("docker network connect --ip 10.90.{n}.{h} n{n} {c}")
        }),
        1 => network().prop_map(move |n| format!("docker network disconnect n{n} {c}")),
    ];
    match cfg.protocol {
        FuzzProtocol::Volume => prop_oneof![1 => life, 1 => volume].boxed(),
        FuzzProtocol::Ipam => prop_oneof![1 => life, 1 => ipam].boxed(),
        FuzzProtocol::Authz => life.boxed(),
        FuzzProtocol::All => prop_oneof![1 => life, 1 => volume, 1 => ipam].boxed(),
    }
}

/// Commands without a container that may run alongside others: duplicate
/// volume creates and `docker run --rm` of anonymous containers.
fn shared(cfg: &GenConfig) -> BoxedStrategy<String> {
    let (p1, p2) = (cfg.plugin.clone(), cfg.plugin.clone());
    match cfg.protocol {
        FuzzProtocol::Volume | FuzzProtocol::All => prop_oneof![
            volume().prop_map(move |v| format!("docker volume create -d {p1} {v}")),
            volume().prop_map(move |v| {
                format!("docker run --rm --volume-driver {p2} -v {v}:/data busybox")
            }),
        ]
        .boxed(),
        FuzzProtocol::Ipam => network()
            .prop_map(|n| format!("docker run --rm --network n{n} busybox"))
            .boxed(),
        FuzzProtocol::Authz => prop_oneof![
            Just("docker volume ls".to_owned()),
            volume().prop_map(|v| format!("docker volume create {v}")),
        ]
        .boxed(),
    }
}

/// A concurrent group: commands on 2–3 different containers, then 0–2
/// container-less ones, run at once. Each line can shrink away, and the
/// group can shrink to running its lines one after another.
fn together(cfg: &GenConfig) -> BoxedStrategy<Group> {
    let cfg = cfg.clone();
    let shared = shared(&cfg);
    (
        proptest::sample::subsequence(vec!["c1", "c2", "c3"], 2..=3).prop_shuffle(),
        proptest::collection::vec(shared, 0..=2),
    )
        .prop_flat_map(move |(cs, extra)| {
            let mut lines: Vec<BoxedStrategy<Option<String>>> = cs
                .into_iter()
                .map(|c| proptest::option::weighted(0.999, on_container(&cfg, c)).boxed())
                .collect();
            lines.extend(
                extra
                    .into_iter()
                    .map(|l| proptest::option::weighted(0.999, Just(l)).boxed()),
            );
            (lines, proptest::bool::weighted(1.0))
        })
        .prop_map(|(lines, together)| Group {
            lines: lines.into_iter().flatten().collect(),
            together,
        })
        .boxed()
}

/// A case: 1 to `max_steps` groups; with `concurrent`, about one in five is
/// a group of commands run at once.
pub fn case(cfg: &GenConfig, max_steps: usize, concurrent: bool) -> BoxedStrategy<Vec<Group>> {
    let one = step(cfg).prop_map(Group::one);
    let group = if concurrent {
        prop_oneof![4 => one, 1 => together(cfg)].boxed()
    } else {
        one.boxed()
    };
    proptest::collection::vec(group, 1..=max_steps.max(1)).boxed()
}

/// The lines of a case, in order.
pub fn flatten(case: &[Group]) -> Vec<String> {
    case.iter().flat_map(|g| g.lines.iter().cloned()).collect()
}
