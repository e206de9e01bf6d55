//! Load: 16 concurrent keep-alive connections, each making thousands of mixed
//! calls, against each reference plugin served by the SDK's unix-socket
//! server (`ServeConfig::serve_unix`, the path `drydock plugin` uses). Every
//! answer is checked against what the protocol requires — a refusal only
//! where the protocol demands one — and the invariants are checked after the
//! run and again after a restart on the same state.
//!
//! Sizes: `DRYDOCK_LOAD_CONNS` connections (16), `DRYDOCK_LOAD_OPS` calls per
//! connection (see each test's default); `DRYDOCK_HARDEN_SEED`.

use super::client::{Conn, Reply};
use super::{figures, knob, seed, Rng};
use bytes::Bytes;
use drydock_sdk::server::ServeConfig;
use drydock_sdk::Plugin;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A plugin served on a unix socket by the SDK server, on its own runtime.
pub struct Served {
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    pub fn start(plugin: Plugin, socket: &Path) -> Served {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.to_owned();
        let task = rt.spawn(async move {
            ServeConfig::default()
                .serve_unix(plugin, path, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve_unix");
        });
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(started.elapsed().as_secs() < 30, "server did not start");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Served {
            rt,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful shutdown: in-flight calls finish, the socket is removed.
    pub fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        self.rt.block_on(task).expect("server task");
    }
}

/// What the connections saw, merged.
#[derive(Default)]
struct Tally {
    ops: u64,
    /// Refusals the protocol requires, by kind.
    required: BTreeMap<String, u64>,
    /// Anything else: each is a failure.
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        for (k, n) in other.required {
            *self.required.entry(k).or_default() += n;
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    fn required(&mut self, kind: &str) {
        *self.required.entry(kind.to_owned()).or_default() += 1;
    }

    fn error(&mut self, what: String) {
        // Group by the first words so a flood of one bug stays one line.
        let kind: String = what.chars().take(120).collect();
        *self.errors.entry(kind).or_default() += 1;
    }

    fn report(&self, plugin: &str, conns: u64, per_conn: u64, secs: f64) {
        let errors: u64 = self.errors.values().sum();
        figures(&format!(
            "load {plugin}: {conns} conns x {per_conn} ops = {} ops, {errors} errors, \
             required refusals {:?}, {:.0} ops/s ({secs:.1} s)",
            self.ops,
            self.required,
            self.ops as f64 / secs
        ));
        assert!(
            self.errors.is_empty(),
            "load {plugin}: unexpected errors: {:#?}",
            self.errors
        );
    }
}

fn sizes(default_ops: u64) -> (u64, u64) {
    (
        knob("DRYDOCK_LOAD_CONNS", 16).max(1),
        knob("DRYDOCK_LOAD_OPS", default_ops),
    )
}

/// Runs `conns` threads, each with its own connection and generator, calling
/// `step` `per_conn` times; returns the merged tally and the wall time.
fn drive<S: Send + 'static>(
    socket: &Path,
    conns: u64,
    per_conn: u64,
    seed: u64,
    init: impl Fn(u64) -> S,
    step: impl Fn(u64, &mut S, &mut Rng, &mut Conn, &mut Tally) + Send + Sync + 'static,
) -> (Tally, f64, Vec<S>) {
    let step = Arc::new(step);
    let started = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|i| {
            let step = Arc::clone(&step);
            let mut state = init(i);
            let socket = socket.to_owned();
            std::thread::spawn(move || {
                let mut conn = Conn::connect(&socket).expect("connect");
                let mut rng = Rng::new(seed ^ (i + 1).wrapping_mul(0x9e37_79b9));
                let mut tally = Tally::default();
                for _ in 0..per_conn {
                    step(i, &mut state, &mut rng, &mut conn, &mut tally);
                    tally.ops += 1;
                }
                (tally, state)
            })
        })
        .collect();
    let mut total = Tally::default();
    let mut states = Vec::new();
    for h in handles {
        let (tally, state) = h.join().expect("a load connection panicked");
        total.merge(tally);
        states.push(state);
    }
    (total, started.elapsed().as_secs_f64(), states)
}

fn call(conn: &mut Conn, rpc: &str, body: Value) -> Reply {
    conn.call(rpc, &serde_json::to_vec(&body).unwrap())
        .unwrap_or_else(|e| panic!("{rpc}: no answer: {e}"))
}

fn in_process(plugin: &Plugin, rpc: &str, body: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = rt.block_on(plugin.handle(&format!("/{rpc}"), Bytes::from(body.to_owned())));
    serde_json::from_slice(&reply.body).unwrap()
}

// ---------------------------------------------------------------------------

/// Volumes every connection mounts and unmounts with its own mount ID.
const SHARED: [&str; 4] = ["shared0", "shared1", "shared2", "shared3"];

/// One connection's view: its own volumes, and its mounts of the shared ones.
#[derive(Default)]
struct VolClient {
    own: BTreeMap<String, u32>,
    shared_mounts: [u32; SHARED.len()],
}

fn volume_plugin(state: &Path) -> Plugin {
    drydock_volume::VolumePlugin::open(drydock_volume::Config::new(state))
        .expect("open volume plugin")
        .plugin()
}

#[test]
fn volume_plugin_under_16_connections() {
    let (conns, per_conn) = sizes(2_000);
    let seed = seed(0x10ad_0001);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let socket = tmp.path().join("p.sock");
    let served = Served::start(volume_plugin(&state), &socket);
    let mut setup = Conn::connect(&socket).unwrap();
    for name in SHARED {
        let r = call(
            &mut setup,
            "VolumeDriver.Create",
            json!({"Name": name, "Opts": null}),
        );
        assert_eq!(r.error(), None);
    }

    let (mut tally, secs, clients) = drive(
        &socket,
        conns,
        per_conn,
        seed,
        |_| VolClient::default(),
        |i, me, rng, conn, tally| {
            let id = format!("c{i}");
            let check = |r: Reply, ok: bool, what: &str, tally: &mut Tally| match (r.error(), ok) {
                (None, true) => {}
                (Some(_), false) if r.status == 200 => tally.required(what),
                (e, _) => tally.error(format!("{what}: expected ok={ok}, got {} {e:?}", r.status)),
            };
            match rng.below(20) {
                // Mount and unmount shared volumes: per-ID counts under contention.
                0..=5 => {
                    let k = rng.below(SHARED.len() as u64) as usize;
                    let r = call(
                        conn,
                        "VolumeDriver.Mount",
                        json!({"Name": SHARED[k], "ID": id}),
                    );
                    check(r, true, "mount shared", tally);
                    me.shared_mounts[k] += 1;
                }
                6..=10 => {
                    let k = rng.below(SHARED.len() as u64) as usize;
                    let ok = me.shared_mounts[k] > 0;
                    let r = call(
                        conn,
                        "VolumeDriver.Unmount",
                        json!({"Name": SHARED[k], "ID": id}),
                    );
                    check(r, ok, "unmount of an ID with no outstanding mount", tally);
                    if ok {
                        me.shared_mounts[k] -= 1;
                    }
                }
                // Its own volumes: create, mount, remove (refused while mounted).
                11..=12 => {
                    let name = format!("c{i}-v{}", rng.below(8));
                    let r = call(
                        conn,
                        "VolumeDriver.Create",
                        json!({"Name": name, "Opts": {}}),
                    );
                    check(r, true, "create", tally);
                    me.own.entry(name).or_default();
                }
                13..=14 => {
                    let name = format!("c{i}-v{}", rng.below(8));
                    let mounted = me.own.get(&name).copied();
                    let r = call(conn, "VolumeDriver.Remove", json!({"Name": name}));
                    match mounted {
                        Some(0) => {
                            check(r, true, "remove", tally);
                            me.own.remove(&name);
                        }
                        Some(_) => check(r, false, "remove of a volume in use", tally),
                        None => check(r, false, "remove of a missing volume", tally),
                    }
                }
                15 => {
                    let name = format!("c{i}-v{}", rng.below(8));
                    let mounted = me.own.get(&name).copied();
                    let rpc = if mounted.unwrap_or(0) > 0 && rng.chance(1, 2) {
                        "VolumeDriver.Unmount"
                    } else {
                        "VolumeDriver.Mount"
                    };
                    let r = call(conn, rpc, json!({"Name": name, "ID": id}));
                    match (mounted, rpc) {
                        (Some(n), "VolumeDriver.Mount") => {
                            check(r, true, "mount", tally);
                            me.own.insert(name, n + 1);
                        }
                        (Some(n), _) => {
                            check(r, true, "unmount", tally);
                            me.own.insert(name, n - 1);
                        }
                        (None, _) => check(r, false, "mount of a missing volume", tally),
                    }
                }
                // Reads: Get must show this ID as often as it has mounted.
                16..=18 => {
                    let k = rng.below(SHARED.len() as u64) as usize;
                    let r = call(conn, "VolumeDriver.Get", json!({"Name": SHARED[k]}));
                    let mine = r.json()["Volume"]["Status"]["mounts"]
                        .as_array()
                        .map(|m| m.iter().filter(|x| **x == json!(id)).count());
                    if mine != Some(me.shared_mounts[k] as usize) {
                        tally.error(format!(
                            "Get: {mine:?} mounts of {id}, expected {}",
                            me.shared_mounts[k]
                        ));
                    }
                }
                _ => {
                    let r = call(
                        conn,
                        "VolumeDriver.Path",
                        json!({"Name": SHARED[rng.below(4) as usize]}),
                    );
                    check(r, true, "path", tally);
                }
            }
        },
    );

    // Invariants: per-ID counts of the shared volumes and every connection's
    // own volumes are exactly what the connections did — now and after a restart.
    let expected = |clients: &[VolClient]| {
        let mut want: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for (k, name) in SHARED.iter().enumerate() {
            let m = want.entry(name.to_string()).or_default();
            for (i, c) in clients.iter().enumerate() {
                if c.shared_mounts[k] > 0 {
                    m.insert(format!("c{i}"), c.shared_mounts[k]);
                }
            }
        }
        for (i, c) in clients.iter().enumerate() {
            for (name, n) in &c.own {
                let m = want.entry(name.clone()).or_default();
                if *n > 0 {
                    m.insert(format!("c{i}"), *n);
                }
            }
        }
        want
    };
    let observe = |list: &Value| -> BTreeMap<String, BTreeMap<String, u32>> {
        let mut seen = BTreeMap::new();
        for v in list["Volumes"].as_array().unwrap() {
            let m: &mut BTreeMap<String, u32> = seen
                .entry(v["Name"].as_str().unwrap().to_owned())
                .or_default();
            for id in v["Status"]["mounts"].as_array().unwrap() {
                *m.entry(id.as_str().unwrap().to_owned()).or_default() += 1;
            }
        }
        seen
    };
    let want = expected(&clients);
    let live = call(&mut setup, "VolumeDriver.List", json!({})).json();
    if observe(&live) != want {
        tally.error("state after the run differs from what the connections did".into());
    }
    drop(setup);
    served.stop();
    let reopened = volume_plugin(&state);
    let after = in_process(&reopened, "VolumeDriver.List", "{}");
    if observe(&after) != want {
        tally.error("state after a restart differs from what the connections did".into());
    }
    tally.report("volume", conns, per_conn, secs);
}

// ---------------------------------------------------------------------------

/// The pool every connection takes addresses from (a /16: room for all).
const SHARED_POOL: &str = "10.210.0.0/16";

/// One connection's view: addresses it holds in the shared pool, and its own
/// pool (explicit, `10.220.N.0/24`) with the addresses held there.
#[derive(Default)]
struct IpamClient {
    shared: BTreeSet<String>,
    own: Option<BTreeSet<String>>,
}

fn ipam_plugin(state: &Path) -> Plugin {
    drydock_ipam::IpamPlugin::open(drydock_ipam::Config::new(state))
        .expect("open ipam plugin")
        .plugin()
}

fn bare(answer: &Reply) -> Option<String> {
    answer.json()["Address"]
        .as_str()
        .and_then(|a| a.split_once('/'))
        .map(|(ip, _)| ip.to_owned())
}

#[test]
fn ipam_plugin_under_16_connections() {
    let (conns, per_conn) = sizes(500);
    let seed = seed(0x10ad_0002);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let socket = tmp.path().join("p.sock");
    let served = Served::start(ipam_plugin(&state), &socket);
    let mut setup = Conn::connect(&socket).unwrap();
    let shared_id = format!("drydock-local/{SHARED_POOL}");
    let r = call(
        &mut setup,
        "IpamDriver.RequestPool",
        json!({"AddressSpace": "drydock-local", "Pool": SHARED_POOL, "SubPool": "", "Options": {}, "V6": false}),
    );
    assert_eq!(r.error(), None);
    // Every address any connection holds, to catch one handed out twice.
    let everyone: Arc<Mutex<HashSet<String>>> = Arc::default();
    let all = Arc::clone(&everyone);
    let sid = shared_id.clone();

    let (mut tally, secs, clients) = drive(
        &socket,
        conns,
        per_conn,
        seed,
        |_| IpamClient::default(),
        move |i, me, rng, conn, tally| {
            let own_cidr = format!("10.220.{i}.0/24");
            let own_id = format!("drydock-local/{own_cidr}");
            let got = |r: &Reply, what: &str, held: &mut BTreeSet<String>, tally: &mut Tally| match (
                r.error(),
                bare(r),
            ) {
                (None, Some(a)) => {
                    let fresh = all.lock().unwrap().insert(a.clone());
                    if !held.insert(a.clone()) || !fresh {
                        tally.error(format!("{what}: {a} handed out twice"));
                    }
                }
                (e, _) => tally.error(format!("{what}: {} {e:?}", r.status)),
            };
            match rng.below(20) {
                0..=7 if me.shared.len() < 64 => {
                    let r = call(
                        conn,
                        "IpamDriver.RequestAddress",
                        json!({"PoolID": sid, "Address": "", "Options": null}),
                    );
                    got(&r, "request shared", &mut me.shared, tally);
                }
                0..=11 if !me.shared.is_empty() => {
                    let a = me
                        .shared
                        .iter()
                        .nth(rng.below(me.shared.len() as u64) as usize)
                        .unwrap()
                        .clone();
                    // Forget it first: once released, another connection may get it.
                    all.lock().unwrap().remove(&a);
                    let r = call(
                        conn,
                        "IpamDriver.ReleaseAddress",
                        json!({"PoolID": sid, "Address": a}),
                    );
                    match r.error() {
                        None => {
                            me.shared.remove(&a);
                        }
                        e => {
                            all.lock().unwrap().insert(a);
                            tally.error(format!("release shared: {e:?}"));
                        }
                    }
                }
                12 => {
                    // Releasing an address not held: refused, as the protocol requires.
                    let r = call(
                        conn,
                        "IpamDriver.ReleaseAddress",
                        json!({"PoolID": own_id, "Address": format!("10.220.{i}.250")}),
                    );
                    match r.error() {
                        Some(_) if r.status == 200 => {
                            tally.required("release of an address not held")
                        }
                        e => tally.error(format!("release not held: {} {e:?}", r.status)),
                    }
                }
                13..=14 => {
                    let r = call(
                        conn,
                        "IpamDriver.RequestPool",
                        json!({"AddressSpace": "drydock-local", "Pool": own_cidr, "SubPool": "", "Options": {}, "V6": false}),
                    );
                    match (&me.own, r.error()) {
                        (None, None) => me.own = Some(BTreeSet::new()),
                        (Some(_), Some(_)) if r.status == 200 => tally.required("pool overlaps"),
                        (own, e) => tally
                            .error(format!("request own pool (held: {}): {e:?}", own.is_some())),
                    }
                }
                15 => {
                    // The pool's addresses are unique only while it exists.
                    if let Some(held) = &me.own {
                        let mut all = all.lock().unwrap();
                        for a in held {
                            all.remove(a);
                        }
                    }
                    let r = call(conn, "IpamDriver.ReleasePool", json!({"PoolID": own_id}));
                    match (me.own.take(), r.error()) {
                        (Some(_), None) => {}
                        (None, Some(_)) if r.status == 200 => tally.required("unknown pool"),
                        (own, e) => tally
                            .error(format!("release own pool (held: {}): {e:?}", own.is_some())),
                    }
                }
                16..=18 => match &mut me.own {
                    Some(held) if held.len() < 32 => {
                        let r = call(
                            conn,
                            "IpamDriver.RequestAddress",
                            json!({"PoolID": own_id, "Address": "", "Options": null}),
                        );
                        got(&r, "request own", held, tally);
                    }
                    _ => {
                        let r = call(conn, "IpamDriver.GetDefaultAddressSpaces", json!({}));
                        if r.error().is_some() {
                            tally.error("address spaces".into());
                        }
                    }
                },
                _ => {
                    let r = call(conn, "IpamDriver.GetCapabilities", json!({}));
                    if r.error().is_some() {
                        tally.error("capabilities".into());
                    }
                }
            }
        },
    );

    // Invariants: what the state holds is exactly what the connections hold,
    // now and after a restart (the state file, reloaded).
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    want.insert(shared_id.clone(), BTreeSet::new());
    for (i, c) in clients.iter().enumerate() {
        want.get_mut(&shared_id)
            .unwrap()
            .extend(c.shared.iter().cloned());
        if let Some(own) = &c.own {
            want.insert(format!("drydock-local/10.220.{i}.0/24"), own.clone());
        }
    }
    drop(setup);
    served.stop();
    let held = |state: &Path| -> BTreeMap<String, BTreeSet<String>> {
        let p = drydock_ipam::IpamPlugin::open(drydock_ipam::Config::new(state)).unwrap();
        p.snapshot()
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
    };
    if held(&state) != want {
        tally.error("state after a restart differs from what the connections hold".into());
    }
    let total: usize = want.values().map(BTreeSet::len).sum();
    if total != everyone.lock().unwrap().len() {
        tally.error("addresses held differ from the union of the connections'".into());
    }
    tally.report("ipam", conns, per_conn, secs);
}

// ---------------------------------------------------------------------------

const POLICY: &str = "allow method=HEAD,GET path=/_ping\n\
                      deny path=/containers/create body.HostConfig.Privileged=true \"no privileged\"\n\
                      allow method=GET\n\
                      deny on=response path=/volumes status=200 \"no listings\"\n\
                      default allow\n";

#[test]
fn authz_plugin_under_16_connections() {
    let (conns, per_conn) = sizes(3_000);
    let seed = seed(0x10ad_0003);
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("p.sock");
    let policy = tmp.path().join("policy");
    let audit = tmp.path().join("audit.jsonl");
    std::fs::write(&policy, POLICY).unwrap();
    let authz = drydock_authz::PolicyPlugin::load(&policy)
        .unwrap()
        .with_audit(&audit)
        .unwrap();
    let served = Served::start(Plugin::new().authz(authz), &socket);
    // The body as dockerd sends it: base64 in `RequestBody`, via the SDK's wire type.
    let b64 = |v: Value| {
        let req = drydock_sdk::wire::authz::AuthzRequest {
            request_body: Some(v.to_string().into_bytes()),
            ..Default::default()
        };
        let wire: Value = serde_json::from_slice(&drydock_sdk::wire::encode_go(&req)).unwrap();
        wire["RequestBody"].clone()
    };
    let privileged = b64(json!({"Image": "x", "HostConfig": {"Privileged": true}}));
    let plain = b64(json!({"Image": "x", "HostConfig": {"Privileged": false}}));

    let (tally, secs, _) = drive(
        &socket,
        conns,
        per_conn,
        seed,
        |_| (),
        move |_, _, rng, conn, tally| {
            let (rpc, body, allow) = match rng.below(6) {
                0 => (
                    "AuthZPlugin.AuthZReq",
                    json!({"RequestMethod": "HEAD", "RequestUri": "/_ping"}),
                    true,
                ),
                1 => (
                    "AuthZPlugin.AuthZReq",
                    json!({"RequestMethod": "POST", "RequestUri": "/v1.41/containers/create", "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": privileged}),
                    false,
                ),
                2 => (
                    "AuthZPlugin.AuthZReq",
                    json!({"RequestMethod": "POST", "RequestUri": "/v1.41/containers/create", "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": plain}),
                    true,
                ),
                3 => (
                    "AuthZPlugin.AuthZRes",
                    json!({"RequestMethod": "GET", "RequestUri": "/v1.41/volumes", "ResponseStatusCode": 200}),
                    false,
                ),
                4 => (
                    "AuthZPlugin.AuthZRes",
                    json!({"RequestMethod": "GET", "RequestUri": "/v1.41/info", "ResponseStatusCode": 200}),
                    true,
                ),
                _ => (
                    "AuthZPlugin.AuthZReq",
                    json!({"RequestMethod": "GET", "RequestUri": "/v1.41/containers/json?all=1"}),
                    true,
                ),
            };
            let r = call(conn, rpc, body);
            let v = r.json();
            if r.status != 200 || v["Allow"] != json!(allow) {
                tally.error(format!("{rpc}: status {} {v}", r.status));
            } else if !allow {
                tally.required("denied by policy");
            }
        },
    );
    served.stop();
    // One audit line per decision, none torn.
    let text = std::fs::read_to_string(&audit).unwrap();
    let lines = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok())
        .count() as u64;
    let mut tally = tally;
    if lines != tally.ops || text.lines().count() as u64 != tally.ops {
        tally.error(format!("{lines} audit lines for {} decisions", tally.ops));
    }
    tally.report("authz", conns, per_conn, secs);
}
