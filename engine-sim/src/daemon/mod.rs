//! The simulated daemon: dockerd 20.10's object model and lifecycles, driving
//! plugins through the [`crate::plugins::registry`].
//!
//! * [`volumes`] — the volume store (names, references, metadata, drivers).
//! * [`containers`] — containers and their mount points: Mount on start,
//!   Unmount on stop, mount IDs, `docker cp`, `--volumes-from`, removal.
//! * [`networks`] — networks, IPAM and remote network drivers: pools at
//!   `network create`, an endpoint and its addresses per running container.
//!
//! * [`errdefs`] — the daemon's errors, classed as dockerd's `errdefs`, each
//!   class with its HTTP status.
//! * [`authz`] — the authorization chain (`--authorization-plugin`), which
//!   the API's middleware calls around every request; [`api_log`] — the
//!   requests of a run, kept on demand for diagrams.
//!
//! The daemon knows nothing of the Engine API's paths and encodings
//! ([`crate::api`]) nor of any client ([`crate::docker_cli`]).
//!
//! Containers run no processes: a container "runs" from start until it is
//! stopped, killed, waited for, or removed with force.

pub mod api_log;
pub mod authz;
pub mod containers;
pub mod errdefs;
pub mod images;
pub mod networks;
pub mod persist;
pub mod volumes;

use crate::clock::Clock;
use crate::plugins::discovery::PluginRoots;
use crate::plugins::registry::Registry;
use crate::trace::Trace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use std::sync::{Arc, Mutex};

pub use containers::{ContainerSpec, ContainerState, ContainerSummary, MountSpec};
pub use errdefs::{EngineError, ErrorKind};
pub use volumes::{VolumeInfo, VolumeStore};

/// How to build an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where plugins are discovered.
    pub roots: PluginRoots,
    /// The clock every wait goes through.
    pub clock: Arc<dyn Clock>,
    /// Seed for generated IDs (container IDs, mount IDs, anonymous volume names),
    /// so a run can be repeated exactly.
    pub seed: u64,
}

impl EngineConfig {
    /// An engine that finds plugin sockets in `dir/run` and spec files in
    /// `dir/etc`, on a virtual clock (as scenario runs use), its IDs drawn
    /// from `seed`.
    pub fn in_dir(dir: &std::path::Path, seed: u64) -> Self {
        EngineConfig {
            roots: PluginRoots {
                sockets_dir: dir.join("run"),
                spec_dirs: vec![dir.join("etc")],
            },
            clock: crate::clock::VirtualClock::new(),
            seed,
        }
    }
}

/// dockerd's rule for list filters (`filters.Args`): the values given for
/// one key are alternatives, different keys must all hold. `matches` says
/// whether one `(key, value)` holds.
pub fn filters_match(filters: &[(String, String)], matches: impl Fn(&str, &str) -> bool) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(k, v)| matches(k, v))
    })
}

/// The simulated dockerd.
#[derive(Debug)]
pub struct Engine {
    registry: Arc<Registry>,
    volumes: VolumeStore,
    containers: containers::Containers,
    /// libnetwork: networks, their pools and endpoints, registered drivers.
    networks: networks::Networks,
    /// IDs and names. ChaCha12 by name, not `StdRng` (rand may change what
    /// that is): a run's IDs must stay the same across dependency updates.
    /// ChaCha12 is what rand 0.8's `StdRng` was, so the IDs did not change.
    rng: Mutex<ChaCha12Rng>,
    authz: authz::AuthzState,
    images: images::Images,
    /// Client requests, kept only when asked (the scenario runner does, for
    /// `--diagram`; engines driven directly, as in benchmarks, do not).
    api_log: Mutex<api_log::ApiLog>,
}

impl Engine {
    /// A fresh daemon with no volumes or containers.
    pub fn new(config: EngineConfig) -> Self {
        let registry = Arc::new(Registry::new(config.roots, config.clock, Trace::new()));
        Engine {
            volumes: VolumeStore::new(registry.clone()),
            networks: networks::Networks::new(&registry),
            registry,
            containers: containers::Containers::default(),
            rng: Mutex::new(ChaCha12Rng::seed_from_u64(config.seed)),
            authz: authz::AuthzState::default(),
            images: images::Images::default(),
            api_log: Mutex::default(),
        }
    }

    /// The plugin registry (to register in-process plugins, read the trace…).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The RPC trace.
    pub fn trace(&self) -> &Trace {
        self.registry.trace()
    }

    /// The volume store.
    pub fn volumes(&self) -> &VolumeStore {
        &self.volumes
    }

    /// A random 64-hex ID as dockerd's `stringid.GenerateRandomID` makes them:
    /// never all digits in its first 12 characters (it would read as a number).
    pub fn random_id(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut rng = self.rng.lock().expect("rng lock");
        loop {
            let bytes: [u8; 32] = rng.gen();
            let mut id = String::with_capacity(64);
            for b in bytes {
                id.push(HEX[usize::from(b >> 4)] as char);
                id.push(HEX[usize::from(b & 0x0f)] as char);
            }
            if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
                return id;
            }
        }
    }

    /// A random docker-style name (`adjective_scientist`).
    pub(crate) fn random_name(&self) -> String {
        const LEFT: &[&str] = &[
            "brave", "calm", "eager", "gentle", "happy", "keen", "lucid", "merry", "nifty",
            "quirky", "stoic", "vivid", "wise", "zen",
        ];
        const RIGHT: &[&str] = &[
            "curie", "darwin", "euler", "hopper", "kepler", "lovelace", "noether", "pasteur",
            "ritchie", "turing", "wozniak", "yonath",
        ];
        let mut rng = self.rng.lock().expect("rng lock");
        format!(
            "{}_{}",
            LEFT[rng.gen_range(0..LEFT.len())],
            RIGHT[rng.gen_range(0..RIGHT.len())]
        )
    }

    /// Stops the daemon as dockerd stops: running containers are stopped
    /// (Unmount); the authz chain is validated again at the next start.
    pub async fn stop_daemon(&self) {
        self.shutdown().await;
        self.stop_authz();
    }

    /// Restarts the daemon: running containers are stopped (Unmount), the new
    /// daemon process has no activated plugins, then the volume store and the
    /// containers' volume references are restored from what dockerd persists.
    ///
    /// The new daemon validates (activates) its authorization plugins.
    pub async fn restart_daemon(&self) -> Result<(), EngineError> {
        self.shutdown().await;
        self.stop_authz();
        self.registry.reset();
        self.volumes.forget_runtime_state();
        self.volumes.restore().await;
        self.networks_restart().await;
        self.restore_containers().await;
        self.restart_policy_containers().await;
        self.start_authz().await
    }
}
