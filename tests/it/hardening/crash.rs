//! Crash safety: each reference plugin runs as a real `drydock plugin`
//! process, is driven with random operations over its socket, and is killed
//! with SIGKILL at random points — while requests are in flight, mid-fsync,
//! between calls — then restarted on the same state directory. A model checks
//! after every restart that nothing acknowledged was lost and nothing released
//! is still held. A request that got no answer before the kill may or may not
//! have happened; the model accepts either, then adopts what the plugin holds.
//!
//! Operations in one round touch different volumes (pools), so they commute
//! and the model can predict every answer, even with several in flight.
//!
//! Sizes: `DRYDOCK_CRASH_OPS` operations per plugin, a kill every
//! `DRYDOCK_CRASH_KILL_EVERY` operations on average; `DRYDOCK_HARDEN_SEED`.

use super::client::{Conn, Reply};
use super::proc::PluginProc;
use super::{figures, knob, seed, Rng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connections, and so the most requests in flight at a kill.
const CONNS: usize = 3;

/// The knobs every crash run shares.
struct Sizes {
    ops: u64,
    kill_every: u64,
    seed: u64,
}

fn sizes(default_seed: u64) -> Sizes {
    Sizes {
        ops: knob("DRYDOCK_CRASH_OPS", 1500),
        kill_every: knob("DRYDOCK_CRASH_KILL_EVERY", 30).max(1),
        seed: seed(default_seed),
    }
}

/// When to pull the plug after a round's requests are sent: at once (the
/// requests are still in the socket), a little later (mid-handler, mid-fsync),
/// or late enough that the answers are probably out.
fn kill_delay(rng: &mut Rng) -> Duration {
    match rng.below(4) {
        0 => Duration::ZERO,
        1 => Duration::from_micros(rng.below(300)),
        2 => Duration::from_micros(rng.below(3_000)),
        _ => Duration::from_micros(rng.below(20_000)),
    }
}

fn connect_all(socket: &Path) -> Vec<Conn> {
    (0..CONNS)
        .map(|_| Conn::connect(socket).expect("connect"))
        .collect()
}

/// What the test found wrong; empty when the plugin is right.
#[derive(Default)]
struct Findings {
    lost: u64,
    leaked: u64,
    wrong_answers: Vec<String>,
    details: Vec<String>,
}

impl Findings {
    fn assert_clean(&self, what: &str, seed: u64) {
        assert!(
            self.lost == 0 && self.leaked == 0 && self.wrong_answers.is_empty(),
            "{what} (seed {seed}): {} lost, {} leaked, {} wrong answers\n{}\n{}",
            self.lost,
            self.leaked,
            self.wrong_answers.len(),
            self.details.join("\n"),
            self.wrong_answers.join("\n"),
        );
    }
}

// ---------------------------------------------------------------------------
// Volume plugin.

const VOLUMES: [&str; 8] = ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"];
const MOUNT_IDS: [&str; 3] = ["m0", "m1", "m2"];

/// One volume as the model knows it: its `mode` option and outstanding mounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Vol {
    mode: Option<String>,
    mounts: BTreeMap<String, u32>,
}

type Volumes = BTreeMap<String, Vol>;

#[derive(Debug, Clone)]
enum VolOp {
    Create(String, Option<&'static str>),
    Remove(String),
    Mount(String, String),
    Unmount(String, String),
    Get(String),
    List,
}

impl VolOp {
    fn request(&self) -> (&'static str, Vec<u8>) {
        let (rpc, body) = match self {
            VolOp::Create(n, None) => ("VolumeDriver.Create", json!({"Name": n, "Opts": null})),
            VolOp::Create(n, Some(m)) => (
                "VolumeDriver.Create",
                json!({"Name": n, "Opts": {"mode": m}}),
            ),
            VolOp::Remove(n) => ("VolumeDriver.Remove", json!({"Name": n})),
            VolOp::Mount(n, id) => ("VolumeDriver.Mount", json!({"Name": n, "ID": id})),
            VolOp::Unmount(n, id) => ("VolumeDriver.Unmount", json!({"Name": n, "ID": id})),
            VolOp::Get(n) => ("VolumeDriver.Get", json!({"Name": n})),
            VolOp::List => ("VolumeDriver.List", json!({})),
        };
        (rpc, serde_json::to_vec(&body).unwrap())
    }

    fn name(&self) -> Option<&str> {
        match self {
            VolOp::Create(n, _)
            | VolOp::Remove(n)
            | VolOp::Mount(n, _)
            | VolOp::Unmount(n, _)
            | VolOp::Get(n) => Some(n),
            VolOp::List => None,
        }
    }

    /// What the op does to `vol` (the volume it names): the volume after it,
    /// or `Err` if the plugin must refuse it.
    fn apply(&self, vol: Option<&Vol>) -> Result<Option<Vol>, ()> {
        match (self, vol) {
            (VolOp::Create(_, mode), None) => Ok(Some(Vol {
                mode: mode.map(str::to_owned),
                mounts: BTreeMap::new(),
            })),
            (VolOp::Create(_, None), Some(v)) => Ok(Some(v.clone())),
            (VolOp::Create(_, Some(m)), Some(v)) if v.mode.as_deref() == Some(*m) => {
                Ok(Some(v.clone()))
            }
            (VolOp::Create(..), Some(_)) => Err(()),
            (VolOp::Remove(_), Some(v)) if v.mounts.is_empty() => Ok(None),
            (VolOp::Mount(_, id), Some(v)) => {
                let mut v = v.clone();
                *v.mounts.entry(id.clone()).or_default() += 1;
                Ok(Some(v))
            }
            (VolOp::Unmount(_, id), Some(v)) if v.mounts.contains_key(id) => {
                let mut v = v.clone();
                let n = v.mounts.get_mut(id).unwrap();
                *n -= 1;
                if *n == 0 {
                    v.mounts.remove(id);
                }
                Ok(Some(v))
            }
            (VolOp::Get(_), Some(v)) => Ok(Some(v.clone())),
            _ => Err(()),
        }
    }
}

fn random_vol_op(rng: &mut Rng, name: &str) -> VolOp {
    let n = name.to_owned();
    match rng.below(20) {
        0..=4 => VolOp::Create(n, *rng.pick(&[None, None, Some("0700"), Some("0755")])),
        5..=7 => VolOp::Remove(n),
        8..=12 => VolOp::Mount(n, (*rng.pick(&MOUNT_IDS)).to_owned()),
        13..=17 => VolOp::Unmount(n, (*rng.pick(&MOUNT_IDS)).to_owned()),
        _ => VolOp::Get(n),
    }
}

/// The volumes a `List` reply describes, in the model's terms.
fn observe_volumes(reply: &Reply) -> Volumes {
    assert_eq!(reply.error(), None, "List failed");
    let v = reply.json();
    let mut out = Volumes::new();
    for vol in v["Volumes"].as_array().into_iter().flatten() {
        out.insert(vol["Name"].as_str().unwrap().to_owned(), describe(vol));
    }
    out
}

/// One wire `Volume` in the model's terms.
fn describe(vol: &Value) -> Vol {
    let status = &vol["Status"];
    let mut mounts = BTreeMap::new();
    for id in status["mounts"].as_array().into_iter().flatten() {
        *mounts.entry(id.as_str().unwrap().to_owned()).or_default() += 1;
    }
    Vol {
        mode: status["options"]["mode"].as_str().map(str::to_owned),
        mounts,
    }
}

/// Checks an acknowledged answer against the model and applies it.
fn settle_vol(model: &mut Volumes, op: &VolOp, reply: &Reply, f: &mut Findings) {
    let Some(name) = op.name() else {
        let seen = observe_volumes(reply);
        if seen != *model {
            f.wrong_answers
                .push(format!("List: {seen:?}, model {model:?}"));
        }
        return;
    };
    let before = model.get(name).cloned();
    let expected = op.apply(before.as_ref());
    match (&expected, reply.error()) {
        (Ok(after), None) => {
            if let (VolOp::Get(_), Some(v)) = (op, after) {
                let got = describe(&reply.json()["Volume"]);
                if got != *v {
                    f.wrong_answers
                        .push(format!("{op:?}: {got:?}, model {v:?}"));
                }
            }
            match after {
                Some(v) => model.insert(name.to_owned(), v.clone()),
                None => model.remove(name),
            };
        }
        (Err(()), Some(e)) if reply.status == 200 => {
            let _ = e; // a refusal, in band, as the model predicted
        }
        (expected, got) => f.wrong_answers.push(format!(
            "{op:?} on {before:?}: expected {}, got status {} {got:?}",
            if expected.is_ok() {
                "success"
            } else {
                "refusal"
            },
            reply.status
        )),
    }
}

struct VolumeRun {
    socket: PathBuf,
    state: PathBuf,
    root: PathBuf,
    log: PathBuf,
}

impl VolumeRun {
    fn start(&self) -> PluginProc {
        let state = self.state.to_str().unwrap();
        let root = self.root.to_str().unwrap();
        PluginProc::start(
            "volume",
            &self.socket,
            &["--state-dir", state, "--root", root],
            &self.log,
        )
    }
}

#[test]
fn volume_plugin_survives_sigkill_at_random_points() {
    let Sizes {
        ops: total,
        kill_every,
        seed,
    } = sizes(0x5eed_0001);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let run = VolumeRun {
        socket: dir.join("run/p.sock"),
        state: dir.join("state"),
        root: dir.join("volumes"),
        log: dir.join("plugin.log"),
    };
    let mut rng = Rng::new(seed);
    let mut plugin = run.start();
    let mut conns = connect_all(&run.socket);
    let mut model = Volumes::new();
    let mut f = Findings::default();
    let mut leftovers = Leftovers::default();
    let (mut ops, mut kills, mut in_doubt) = (0u64, 0u64, 0u64);
    let started = Instant::now();

    while ops < total {
        let round: Vec<VolOp> = if rng.chance(1, 25) {
            vec![VolOp::List]
        } else {
            let k = 1 + rng.below(CONNS as u64) as usize;
            let mut names: Vec<&str> = VOLUMES.to_vec();
            let mut chosen = Vec::new();
            for _ in 0..k {
                let i = rng.below(names.len() as u64) as usize;
                chosen.push(random_vol_op(&mut rng, names.swap_remove(i)));
            }
            chosen
        };
        for (conn, op) in conns.iter_mut().zip(&round) {
            let (rpc, body) = op.request();
            conn.send(rpc, &body).expect("send");
        }
        ops += round.len() as u64;

        if !rng.chance(round.len() as u64, kill_every) {
            for (conn, op) in conns.iter_mut().zip(&round) {
                let reply = conn
                    .recv()
                    .unwrap_or_else(|e| panic!("{op:?}: no answer ({e}):\n{}", plugin.log_text()));
                settle_vol(&mut model, op, &reply, &mut f);
            }
            continue;
        }

        // Pull the plug, then read whatever answers made it out.
        std::thread::sleep(kill_delay(&mut rng));
        plugin.kill();
        kills += 1;
        let mut doubtful = Vec::new();
        for (conn, op) in conns.iter_mut().zip(&round) {
            match conn.recv() {
                Ok(reply) => settle_vol(&mut model, op, &reply, &mut f),
                Err(_) => doubtful.push(op.clone()),
            }
        }
        in_doubt += doubtful.len() as u64;

        plugin = run.start();
        conns = connect_all(&run.socket);
        let seen = observe_volumes(&conns[0].call("VolumeDriver.List", b"{}").unwrap());
        check_volumes(&model, &seen, &doubtful, &mut f, kills);
        check_dirs(&run.root, &seen, &doubtful, &mut leftovers, &mut f, kills);
        model = seen;
    }

    // A last clean restart: everything acknowledged is still there.
    drop(conns);
    plugin.kill();
    let plugin = run.start();
    let mut conn = Conn::connect(&run.socket).unwrap();
    let seen = observe_volumes(&conn.call("VolumeDriver.List", b"{}").unwrap());
    check_volumes(&model, &seen, &[], &mut f, kills + 1);
    check_dirs(&run.root, &seen, &[], &mut leftovers, &mut f, kills + 1);
    drop(plugin);

    figures(&format!(
        "crash volume: {ops} ops, {kills} kills, {} lost, {} leaked \
         ({in_doubt} unanswered at a kill, {:.1} s, seed {seed:#x})",
        f.lost,
        f.leaked,
        started.elapsed().as_secs_f64()
    ));
    f.assert_clean("volume crash run", seed);
    assert!(kills > 0 || total < kill_every, "no kill happened");
}

/// Compares what the restarted plugin holds with the model: each volume must
/// match it, or — if an unanswered op named it — match the op's outcome.
fn check_volumes(model: &Volumes, seen: &Volumes, doubtful: &[VolOp], f: &mut Findings, kill: u64) {
    let names: BTreeSet<&String> = model.keys().chain(seen.keys()).collect();
    for name in names {
        let before = model.get(name);
        let actual = seen.get(name);
        if before == actual {
            continue;
        }
        let explained = doubtful
            .iter()
            .filter(|op| op.name() == Some(name.as_str()))
            .any(|op| op.apply(before).ok().flatten().as_ref() == actual);
        if explained {
            continue;
        }
        // Something acknowledged is missing (lost), or something released or
        // never granted is held (leaked).
        let lost = match (before, actual) {
            (Some(_), None) => true,
            (Some(b), Some(a)) => {
                b.mode != a.mode
                    || b.mounts
                        .iter()
                        .any(|(id, n)| a.mounts.get(id).copied().unwrap_or(0) < *n)
            }
            (None, _) => false,
        };
        if lost {
            f.lost += 1;
        } else {
            f.leaked += 1;
        }
        f.details.push(format!(
            "after kill {kill}: volume {name}: model {before:?}, plugin {actual:?}, unanswered {doubtful:?}"
        ));
    }
}

/// Directories the plugin may legitimately be without, or left with, after
/// an unanswered call (see `drydock_volume::WritePoint`).
#[derive(Default)]
struct Leftovers {
    /// An unanswered Create that did not happen may leave its directory,
    /// which a later Create adopts.
    lingering: BTreeSet<String>,
    /// An unanswered Remove that did not happen may have trashed the
    /// directory: the volume is still there, empty, until a Mount re-creates it.
    trashed: BTreeSet<String>,
}

/// Volume directories: one for every volume, none for a removed volume,
/// except for the [`Leftovers`] of unanswered calls.
fn check_dirs(
    root: &Path,
    seen: &Volumes,
    doubtful: &[VolOp],
    leftovers: &mut Leftovers,
    f: &mut Findings,
    kill: u64,
) {
    for op in doubtful {
        match op {
            VolOp::Create(n, _) if !seen.contains_key(n) => {
                leftovers.lingering.insert(n.clone());
            }
            VolOp::Remove(n) if seen.contains_key(n) => {
                leftovers.trashed.insert(n.clone());
            }
            _ => {}
        }
    }
    for name in VOLUMES {
        let exists = root.join(name).is_dir();
        if seen.contains_key(name) {
            leftovers.lingering.remove(name);
            if exists {
                leftovers.trashed.remove(name);
            } else if !leftovers.trashed.contains(name) {
                f.lost += 1;
                f.details
                    .push(format!("after kill {kill}: volume {name} has no directory"));
            }
        } else if exists && !leftovers.lingering.contains(name) {
            f.leaked += 1;
            f.details.push(format!(
                "after kill {kill}: removed volume {name} still has its directory"
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// IPAM plugin.

/// Explicit pools the test asks for by CIDR (outside the default range, so
/// they never collide with default pools).
const EXPLICIT_POOLS: [&str; 5] = [
    "10.201.0.0/24",
    "10.201.1.0/24",
    "10.201.2.0/24",
    "10.201.3.0/24",
    "10.201.4.0/24",
];
const SPACE: &str = "drydock-local";
/// At most this many default pools at once (so Release keeps pace).
const MAX_DEFAULT_POOLS: usize = 3;

/// Pool ID → addresses held (bare IPs).
type Pools = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone)]
enum IpamOp {
    /// `Pool` given: the ID is known up front.
    RequestPool(String),
    /// No `Pool`: the next free default pool.
    RequestDefaultPool,
    ReleasePool(String),
    RequestAddress(String, Option<String>),
    ReleaseAddress(String, String),
}

fn pool_id(cidr: &str) -> String {
    format!("{SPACE}/{cidr}")
}

fn cidr_of(id: &str) -> &str {
    id.strip_prefix(SPACE).unwrap().trim_start_matches('/')
}

/// The `n`-th address (as a bare IP) of a /24 pool `id`.
fn host(id: &str, n: u64) -> String {
    let net = cidr_of(id).trim_end_matches(".0/24");
    format!("{net}.{n}")
}

impl IpamOp {
    fn request(&self) -> (&'static str, Vec<u8>) {
        let (rpc, body) = match self {
            IpamOp::RequestPool(id) => (
                "IpamDriver.RequestPool",
                json!({"AddressSpace": SPACE, "Pool": cidr_of(id), "SubPool": "", "Options": {}, "V6": false}),
            ),
            IpamOp::RequestDefaultPool => (
                "IpamDriver.RequestPool",
                json!({"AddressSpace": SPACE, "Pool": "", "SubPool": "", "Options": {}, "V6": false}),
            ),
            IpamOp::ReleasePool(id) => ("IpamDriver.ReleasePool", json!({"PoolID": id})),
            IpamOp::RequestAddress(id, a) => (
                "IpamDriver.RequestAddress",
                json!({"PoolID": id, "Address": a.clone().unwrap_or_default(), "Options": null}),
            ),
            IpamOp::ReleaseAddress(id, a) => (
                "IpamDriver.ReleaseAddress",
                json!({"PoolID": id, "Address": a}),
            ),
        };
        (rpc, serde_json::to_vec(&body).unwrap())
    }

    /// The pool the op touches (`None`: a default pool not known yet).
    fn pool(&self) -> Option<&str> {
        match self {
            IpamOp::RequestDefaultPool => None,
            IpamOp::RequestPool(id)
            | IpamOp::ReleasePool(id)
            | IpamOp::RequestAddress(id, _)
            | IpamOp::ReleaseAddress(id, _) => Some(id),
        }
    }
}

fn random_ipam_op(rng: &mut Rng, model: &Pools, target: Option<&str>) -> IpamOp {
    let Some(id) = target else {
        return IpamOp::RequestDefaultPool;
    };
    let id = id.to_owned();
    let held = model.get(&id);
    match rng.below(20) {
        0..=2 => IpamOp::RequestPool(id),
        3..=4 => IpamOp::ReleasePool(id),
        5..=10 if held.is_none_or(|h| h.len() < 200) => IpamOp::RequestAddress(id, None),
        5..=13 => {
            let a = host(&id, 1 + rng.below(20));
            IpamOp::RequestAddress(id, Some(a))
        }
        _ => {
            let held: Vec<&String> = held.map(|h| h.iter().collect()).unwrap_or_default();
            let a = if !held.is_empty() && rng.chance(4, 5) {
                (*rng.pick(&held)).clone()
            } else {
                host(&id, 1 + rng.below(20))
            };
            IpamOp::ReleaseAddress(id, a)
        }
    }
}

/// Checks an acknowledged answer against the model and applies it.
fn settle_ipam(model: &mut Pools, op: &IpamOp, reply: &Reply, f: &mut Findings) {
    let err = reply.error();
    let mut wrong = |why: String| f.wrong_answers.push(format!("{op:?}: {why}"));
    if reply.status != 200 {
        wrong(format!("status {} {err:?}", reply.status));
        return;
    }
    let v = reply.json();
    match op {
        IpamOp::RequestPool(id) => match (model.contains_key(id), err) {
            (false, None) if v["PoolID"] == json!(id) => {
                model.insert(id.clone(), BTreeSet::new());
            }
            (true, Some(_)) => {}
            (exists, err) => wrong(format!("pool exists: {exists}, answer {v} {err:?}")),
        },
        IpamOp::RequestDefaultPool => match (err, v["PoolID"].as_str()) {
            (None, Some(id)) if id.starts_with(SPACE) && !model.contains_key(id) => {
                model.insert(id.to_owned(), BTreeSet::new());
            }
            (err, _) => wrong(format!(
                "answer {v} {err:?} while holding {:?}",
                model.keys()
            )),
        },
        IpamOp::ReleasePool(id) => match (model.contains_key(id), err) {
            (true, None) => {
                model.remove(id);
            }
            (false, Some(_)) => {}
            (exists, err) => wrong(format!("pool exists: {exists}, {err:?}")),
        },
        IpamOp::RequestAddress(id, wanted) => {
            let held = model.get_mut(id);
            match (held, err) {
                (None, Some(_)) => {}
                (Some(held), None) => {
                    let got = v["Address"].as_str().unwrap_or_default();
                    let bare = got.strip_suffix("/24").unwrap_or("not ip/24").to_owned();
                    let fits = bare.starts_with(&host(id, 0)[..host(id, 0).len() - 1]);
                    if held.contains(&bare) || !fits || wanted.as_ref().is_some_and(|w| *w != bare)
                    {
                        wrong(format!("got {got:?} while holding {held:?}"));
                    } else {
                        held.insert(bare);
                    }
                }
                (Some(held), Some(_)) if wanted.as_ref().is_some_and(|w| held.contains(w)) => {}
                (held, err) => wrong(format!("holding {held:?}, {err:?}")),
            }
        }
        IpamOp::ReleaseAddress(id, a) => match (model.get_mut(id), err) {
            (Some(held), None) if held.contains(a) => {
                held.remove(a);
            }
            (Some(held), Some(_)) if !held.contains(a) => {}
            (None, Some(_)) => {}
            (held, err) => wrong(format!("holding {held:?}, {err:?}")),
        },
    }
}

/// What the plugin's state directory holds, read the way a restart reads it.
fn observe_pools(state: &Path) -> Pools {
    let plugin = drydock_ipam::IpamPlugin::open(drydock_ipam::Config::new(state))
        .expect("the IPAM state opens after a kill");
    plugin
        .snapshot()
        .pools()
        .iter()
        .map(|(id, p)| {
            let held = p
                .held
                .iter()
                .map(|v| {
                    drydock_ipam::net::Addr {
                        family: p.cidr.family(),
                        value: *v,
                    }
                    .to_string()
                })
                .collect();
            (id.clone(), held)
        })
        .collect()
}

/// Whether an unanswered `op` explains the change of pool `id` from `before`
/// to `actual` (or, for a default pool, its appearance).
fn ipam_explains(
    op: &IpamOp,
    id: &str,
    before: Option<&BTreeSet<String>>,
    actual: Option<&BTreeSet<String>>,
) -> bool {
    let empty = BTreeSet::new();
    match op {
        IpamOp::RequestDefaultPool => before.is_none() && actual == Some(&empty),
        _ if op.pool() != Some(id) => false,
        IpamOp::RequestPool(_) => before.is_none() && actual == Some(&empty),
        IpamOp::ReleasePool(_) => actual.is_none(),
        IpamOp::RequestAddress(_, wanted) => match (before, actual) {
            (Some(b), Some(a)) => {
                let added: Vec<_> = a.difference(b).collect();
                a.is_superset(b)
                    && added.len() == 1
                    && wanted.as_ref().is_none_or(|w| w == added[0])
            }
            _ => false,
        },
        IpamOp::ReleaseAddress(_, addr) => match (before, actual) {
            (Some(b), Some(a)) => {
                let mut b = b.clone();
                b.remove(addr);
                b == *a
            }
            _ => false,
        },
    }
}

fn check_pools(model: &Pools, seen: &Pools, doubtful: &[IpamOp], f: &mut Findings, kill: u64) {
    let ids: BTreeSet<&String> = model.keys().chain(seen.keys()).collect();
    for id in ids {
        let (before, actual) = (model.get(id), seen.get(id));
        if before == actual
            || doubtful
                .iter()
                .any(|op| ipam_explains(op, id, before, actual))
        {
            continue;
        }
        let lost = match (before, actual) {
            (Some(_), None) => true,
            (Some(b), Some(a)) => !a.is_superset(b),
            (None, _) => false,
        };
        if lost {
            f.lost += 1;
        } else {
            f.leaked += 1;
        }
        f.details.push(format!(
            "after kill {kill}: pool {id}: model {before:?}, plugin {actual:?}, unanswered {doubtful:?}"
        ));
    }
}

#[test]
fn ipam_plugin_survives_sigkill_at_random_points() {
    let Sizes {
        ops: total,
        kill_every,
        seed,
    } = sizes(0x5eed_0002);
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("run/p.sock");
    let state = tmp.path().join("state");
    let log = tmp.path().join("plugin.log");
    let start = || {
        PluginProc::start(
            "ipam",
            &socket,
            &["--state-dir", state.to_str().unwrap()],
            &log,
        )
    };
    let mut rng = Rng::new(seed);
    let mut plugin = start();
    let mut conns = connect_all(&socket);
    let mut model = Pools::new();
    let mut f = Findings::default();
    let (mut ops, mut kills, mut in_doubt) = (0u64, 0u64, 0u64);
    let started = Instant::now();

    while ops < total {
        // Targets: the explicit pools, the default pools held, and (if few
        // are held) a new default pool — each at most once per round.
        let mut targets: Vec<Option<String>> =
            EXPLICIT_POOLS.iter().map(|c| Some(pool_id(c))).collect();
        let defaults: Vec<&String> = model.keys().filter(|id| id.contains("10.200.")).collect();
        targets.extend(defaults.iter().map(|id| Some((*id).clone())));
        if defaults.len() < MAX_DEFAULT_POOLS {
            targets.push(None);
        }
        let k = 1 + rng.below(CONNS as u64) as usize;
        let mut round = Vec::new();
        for _ in 0..k {
            if targets.is_empty() {
                break;
            }
            let i = rng.below(targets.len() as u64) as usize;
            let target = targets.swap_remove(i);
            // A new default pool may reuse one released in the same round:
            // those two do not commute, so they never share a round.
            match &target {
                None => targets.retain(|t| t.as_ref().is_some_and(|id| !id.contains("10.200."))),
                Some(id) if id.contains("10.200.") => targets.retain(Option::is_some),
                Some(_) => {}
            }
            round.push(random_ipam_op(&mut rng, &model, target.as_deref()));
        }
        for (conn, op) in conns.iter_mut().zip(&round) {
            let (rpc, body) = op.request();
            conn.send(rpc, &body).expect("send");
        }
        ops += round.len() as u64;

        if !rng.chance(round.len() as u64, kill_every) {
            for (conn, op) in conns.iter_mut().zip(&round) {
                let reply = conn
                    .recv()
                    .unwrap_or_else(|e| panic!("{op:?}: no answer ({e}):\n{}", plugin.log_text()));
                settle_ipam(&mut model, op, &reply, &mut f);
            }
            continue;
        }

        std::thread::sleep(kill_delay(&mut rng));
        plugin.kill();
        kills += 1;
        let mut doubtful = Vec::new();
        for (conn, op) in conns.iter_mut().zip(&round) {
            match conn.recv() {
                Ok(reply) => settle_ipam(&mut model, op, &reply, &mut f),
                Err(_) => doubtful.push(op.clone()),
            }
        }
        in_doubt += doubtful.len() as u64;
        let seen = observe_pools(&state);
        check_pools(&model, &seen, &doubtful, &mut f, kills);
        model = seen;
        plugin = start();
        conns = connect_all(&socket);
    }

    drop(conns);
    plugin.kill();
    check_pools(&model, &observe_pools(&state), &[], &mut f, kills + 1);
    // The restarted plugin serves that state: every held address is refused
    // again, every pool is in the way of a new request for it.
    let _plugin = start();
    let mut conn = Conn::connect(&socket).unwrap();
    for (id, held) in &model {
        for a in held {
            let op = IpamOp::RequestAddress(id.clone(), Some(a.clone()));
            let (rpc, body) = op.request();
            let reply = conn.call(rpc, &body).unwrap();
            if reply.error().is_none() {
                f.lost += 1;
                f.details
                    .push(format!("after restart, {a} of {id} was handed out again"));
            }
        }
    }

    figures(&format!(
        "crash ipam: {ops} ops, {kills} kills, {} lost, {} leaked \
         ({in_doubt} unanswered at a kill, {:.1} s, seed {seed:#x})",
        f.lost,
        f.leaked,
        started.elapsed().as_secs_f64()
    ));
    f.assert_clean("ipam crash run", seed);
    assert!(kills > 0 || total < kill_every, "no kill happened");
}

// ---------------------------------------------------------------------------
// Authz plugin: its only state is the audit log (`--audit`), one line per
// decision, written before the decision is answered.

const POLICY: &str = "allow method=HEAD,GET path=/_ping\n\
                      deny path=/containers/create \"no creates here\"\n\
                      default allow\n";

/// A request and whether the policy allows it.
const AUTHZ_REQUESTS: [(&str, &str, bool); 3] = [
    ("HEAD", "/_ping", true),
    ("POST", "/v1.41/containers/create", false),
    ("GET", "/v1.41/info", true),
];

/// Counts the audit log's lines; any line that is not one whole JSON object
/// is torn.
fn audit_lines(path: &Path) -> (u64, u64) {
    let text = std::fs::read(path).unwrap_or_default();
    let mut whole = 0;
    let mut torn = 0;
    for line in text.split_inclusive(|b| *b == b'\n') {
        match serde_json::from_slice::<Value>(line) {
            Ok(v) if v.is_object() && line.ends_with(b"\n") => whole += 1,
            _ => torn += 1,
        }
    }
    (whole, torn)
}

#[test]
fn authz_plugin_audit_log_survives_sigkill_at_random_points() {
    let Sizes {
        ops: total,
        kill_every,
        seed,
    } = sizes(0x5eed_0003);
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("run/p.sock");
    let policy = tmp.path().join("policy");
    let audit = tmp.path().join("audit.jsonl");
    let log = tmp.path().join("plugin.log");
    std::fs::write(&policy, POLICY).unwrap();
    let args = [
        "--policy",
        policy.to_str().unwrap(),
        "--audit",
        audit.to_str().unwrap(),
    ];
    let start = || PluginProc::start("authz", &socket, &args, &log);
    let mut rng = Rng::new(seed);
    let mut plugin = start();
    let mut conns = connect_all(&socket);
    let mut f = Findings::default();
    let (mut ops, mut kills, mut in_doubt, mut answered) = (0u64, 0u64, 0u64, 0u64);
    let mut torn_total = 0;
    let started = Instant::now();

    let settle = |req: &(&str, &str, bool), reply: &Reply, f: &mut Findings| {
        let v = reply.json();
        if reply.status != 200 || v["Allow"] != json!(req.2) {
            f.wrong_answers
                .push(format!("{req:?}: status {} {v}", reply.status));
        }
    };
    while ops < total {
        let k = 1 + rng.below(CONNS as u64) as usize;
        let round: Vec<(&str, &str, bool)> = (0..k).map(|_| *rng.pick(&AUTHZ_REQUESTS)).collect();
        for (conn, (method, uri, _)) in conns.iter_mut().zip(&round) {
            let body = json!({"RequestMethod": method, "RequestUri": uri, "RequestHeaders": {}});
            conn.send("AuthZPlugin.AuthZReq", &serde_json::to_vec(&body).unwrap())
                .expect("send");
        }
        ops += round.len() as u64;
        if !rng.chance(round.len() as u64, kill_every) {
            for (conn, req) in conns.iter_mut().zip(&round) {
                let reply = conn.recv().expect("answer");
                settle(req, &reply, &mut f);
                answered += 1;
            }
            continue;
        }
        std::thread::sleep(kill_delay(&mut rng));
        plugin.kill();
        kills += 1;
        for (conn, req) in conns.iter_mut().zip(&round) {
            match conn.recv() {
                Ok(reply) => {
                    settle(req, &reply, &mut f);
                    answered += 1;
                }
                Err(_) => in_doubt += 1,
            }
        }
        plugin = start();
        conns = connect_all(&socket);
        // Restarting cut any torn line: every line is whole now.
        let (lines, torn) = audit_lines(&audit);
        torn_total += torn;
        if torn > 0 {
            f.details
                .push(format!("after kill {kills}: {torn} torn audit lines"));
        }
        if lines < answered {
            f.lost += answered - lines;
            f.details.push(format!(
                "after kill {kills}: {lines} audit lines for {answered} answered decisions"
            ));
        }
        if lines > ops {
            f.leaked += lines - ops;
            f.details.push(format!(
                "after kill {kills}: {lines} audit lines for {ops} requests sent"
            ));
        }
    }
    drop(conns);
    plugin.kill();
    let (lines, torn) = audit_lines(&audit);
    figures(&format!(
        "crash authz: {ops} ops, {kills} kills, {} lost, {} leaked, {} torn \
         ({in_doubt} unanswered at a kill, {lines} audit lines, {:.1} s, seed {seed:#x})",
        f.lost,
        f.leaked,
        torn_total,
        started.elapsed().as_secs_f64()
    ));
    // The last kill may have torn the final line; the next start cuts it.
    assert!(torn <= 1, "{torn} torn lines at the end");
    assert!(
        lines >= answered,
        "{lines} audit lines for {answered} answers"
    );
    assert_eq!(torn_total, 0, "torn lines survived a restart");
    f.assert_clean("authz crash run", seed);
}
