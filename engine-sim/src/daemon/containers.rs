//! Containers and their volume mount points (`daemon/volumes.go`, `daemon/start.go`,
//! `volume/mounts/mounts.go` Setup/Cleanup; protocol.md §4.4–4.5).
//!
//! Each mount point has an `ID` and an `active` count. Setup (start, `docker cp`)
//! reuses the ID while the mount point is active, so `docker cp` on a running
//! container re-mounts with the **same** ID; otherwise it draws a fresh 64-hex
//! ID. Cleanup unmounts with that ID and clears it when `active` drops to 0. A
//! failed Mount sets no ID, so it is never unmounted.

use super::volumes::VolumeInfo;
use super::{Engine, EngineError, ErrorKind};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A `-v` argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSpec {
    /// Volume name; `None` for an anonymous volume (`-v /path`).
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    /// `:ro`.
    pub read_only: bool,
    /// A `--mount`'s `VolumeOptions.DriverConfig.Name`: the driver of the
    /// volume if the container creates it (else `--volume-driver`'s).
    #[serde(default)]
    pub driver: Option<String>,
    /// Its `DriverConfig.Options`, sent with Create.
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Its `VolumeOptions.Labels`.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// What `docker create`/`docker run` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    /// `--name`.
    pub name: Option<String>,
    /// Image reference.
    pub image: String,
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// `-v` mounts, in flag order.
    pub mounts: Vec<MountSpec>,
    /// `--volume-driver`.
    pub volume_driver: Option<String>,
    /// `--volumes-from` containers.
    pub volumes_from: Vec<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `HostConfig.RestartPolicy`: whether the next daemon starts it again.
    pub restart: Option<RestartPolicy>,
    /// `Labels` (`--label`; compose marks its containers so).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `HostConfig.RestartPolicy` (`Name` and `MaximumRetryCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RestartPolicy {
    /// `no`: never restarted.
    No,
    /// `always`: restarted whenever it stops, and when the daemon starts.
    Always,
    /// `unless-stopped`: like `always`, except after a user stopped it.
    UnlessStopped,
    /// `on-failure`: restarted after a non-zero exit, at most this many
    /// times (0: no limit).
    OnFailure {
        /// `MaximumRetryCount`.
        max_retries: u32,
    },
}

impl RestartPolicy {
    /// The policy `HostConfig.RestartPolicy` names: `None` for no name,
    /// refused (dockerd's words) for a name dockerd does not know.
    pub fn parse(name: &str, max_retries: u32) -> Result<Option<Self>, EngineError> {
        Ok(Some(match name {
            "" => return Ok(None),
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure { max_retries },
            other => {
                return Err(EngineError::invalid(format!(
                    "invalid restart policy '{other}'"
                )))
            }
        }))
    }

    /// Its name in `HostConfig.RestartPolicy`.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure { .. } => "on-failure",
        }
    }

    /// Its `MaximumRetryCount`.
    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        }
    }
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Exited(i32),
}

impl ContainerState {
    /// Its name in the API (`State.Status`, `State` of a listing).
    pub fn name(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited(_) => "exited",
        }
    }
}

/// A mount point of a container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MountPoint {
    /// Volume name.
    name: String,
    /// Driver name.
    driver: String,
    /// The mountpoint known at create time (dockerd's `Source`; empty for a fresh plugin volume).
    source: String,
    /// Whether the user named the volume (`Spec.Source` non-empty).
    named: bool,
    /// Current mount ID, if mounted.
    id: Option<String>,
    /// Number of active users of the mount.
    active: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Container {
    id: String,
    name: String,
    spec: ContainerSpec,
    state: ContainerState,
    /// Destination → mount point (dockerd iterates a map: order is not part of the contract).
    mounts: BTreeMap<String, MountPoint>,
    /// Creation order, for listings.
    seq: u64,
    /// Stopped by `docker stop`/`kill` (an `unless-stopped` container then
    /// stays down across a daemon restart).
    manually_stopped: bool,
    /// A client attached to its output (a foreground `docker run`): its
    /// command then runs to completion as soon as it starts and is waited on.
    attached: bool,
    /// How many times it was started (an attached client's stream ends when
    /// the run it followed ends).
    #[serde(default)]
    starts: u64,
    /// `docker pause`d (a paused container still runs).
    #[serde(default)]
    paused: bool,
    /// When it was created (RFC 3339).
    created: String,
}

/// What `docker inspect` shows of a container (the parts the simulation has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDetails {
    /// Full ID.
    pub id: String,
    /// Name, without the leading `/`.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// What it was created with.
    pub spec: ContainerSpec,
    /// Its volumes, by destination.
    pub mounts: Vec<MountDetails>,
}

/// One volume mount of a container, as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountDetails {
    /// Volume name.
    pub name: String,
    /// Volume driver.
    pub driver: String,
    /// The volume's path on the host, as far as the daemon knows it.
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
}

/// A row of `docker ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Command.
    pub command: String,
    /// State.
    pub state: ContainerState,
    /// Paused (`docker pause`): it still runs.
    pub paused: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time (RFC 3339).
    pub created: String,
}

/// The container table as `--data-root` keeps it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedContainers {
    containers: Vec<Container>,
    seq: u64,
}

/// The container table.
#[derive(Debug, Default)]
pub(crate) struct Containers {
    by_id: Mutex<BTreeMap<String, Container>>,
    seq: Mutex<u64>,
    /// Woken whenever a container starts, stops or goes away (`wait`).
    changed: tokio::sync::Notify,
    /// Whether `wait` on a created container waits for another client to
    /// start it (a served daemon) or reports that it would wait for ever
    /// (one command at a time, as `drydock run` drives the daemon).
    waits_block: std::sync::atomic::AtomicBool,
}

/// daemon/names.go: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (two characters at least).
fn valid_name(bare: &str) -> bool {
    bare.len() >= 2
        && bare
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A signal as `docker kill --signal` names it (`SIGHUP`, `HUP`, `hup`,
/// `1`), as its number; dockerd's words for one it does not know.
pub fn parse_signal(text: &str) -> Result<u32, EngineError> {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    let invalid = || EngineError::invalid(format!("Invalid signal: {text}"));
    if let Ok(n) = text.parse::<u32>() {
        return if n == 0 { Err(invalid()) } else { Ok(n) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| i as u32 + 1)
        .ok_or_else(invalid)
}

impl Engine {
    fn resolve(&self, name_or_id: &str) -> Result<String, EngineError> {
        let table = self.containers.by_id.lock().expect("containers lock");
        let wanted = name_or_id.trim_start_matches('/');
        if let Some(c) = table.values().find(|c| c.id == wanted || c.name == wanted) {
            return Ok(c.id.clone());
        }
        let matches: Vec<&Container> = table
            .values()
            .filter(|c| !wanted.is_empty() && c.id.starts_with(wanted))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(EngineError::not_found(format!(
                "No such container: {name_or_id}"
            ))),
            _ => Err(EngineError::invalid(format!(
                "multiple IDs found with provided prefix: {name_or_id}"
            ))),
        }
    }

    fn with_container<R>(&self, id: &str, f: impl FnOnce(&mut Container) -> R) -> Option<R> {
        self.containers
            .by_id
            .lock()
            .expect("containers lock")
            .get_mut(id)
            .map(f)
    }

    /// The state of a container.
    pub fn container_state(&self, name_or_id: &str) -> Result<ContainerState, EngineError> {
        let id = self.resolve(name_or_id)?;
        Ok(self.with_container(&id, |c| c.state).expect("resolved"))
    }

    /// The name of a container (empty if it is gone).
    pub(crate) fn container_name(&self, id: &str) -> String {
        self.with_container(id, |c| c.name.clone())
            .unwrap_or_default()
    }

    /// The `--network` a container was created with.
    pub(crate) fn containers_spec_network(&self, id: &str) -> Option<String> {
        self.with_container(id, |c| c.spec.network.clone())
            .flatten()
    }

    /// The full ID of a container.
    pub fn container_id(&self, name_or_id: &str) -> Result<String, EngineError> {
        self.resolve(name_or_id)
    }

    /// `docker create`: registers mount points, creating or looking up volumes
    /// (each with the container ID as reference). Returns the container ID.
    pub async fn container_create(&self, spec: ContainerSpec) -> Result<String, EngineError> {
        let Some(image) = self.image(&spec.image) else {
            return Err(EngineError::not_found(format!(
                "No such image: {}",
                super::images::normalize(&spec.image)
            )));
        };
        let paths = super::images::ROOT_PATHS;
        // daemon/create.go mergeAndVerifyConfig, before the name or anything
        // else is looked at: without a command of its own a container takes
        // the image's, and bb:latest (imported from a bare root fs) has none.
        if spec.cmd.is_empty() && self.image_cmd(&image).is_none() {
            return Err(EngineError::invalid("No command specified"));
        }
        let id = self.random_id();
        let name = match &spec.name {
            Some(n) => {
                // daemon/names.go: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (two characters at least).
                let bare = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(bare) {
                    return Err(EngineError::invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let taken = self
                    .containers
                    .by_id
                    .lock()
                    .expect("containers lock")
                    .values()
                    .find(|c| c.name == *n)
                    .map(|c| c.id.clone());
                if let Some(other) = taken {
                    return Err(EngineError::conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                        ),
                    ));
                }
                n.clone()
            }
            None => self.random_name(),
        };
        // dockerd looks the network up at create, but a network it does not
        // find is no error yet (daemon/container_operations.go
        // updateContainerNetworkSettings ignores it): the start fails with
        // `network NAME not found` (recorded: tests/golden/conformance/ipam/run-network.jsonl).
        if let Some(net) = &spec.network {
            match self.network_attach_config(&id, &name, net, spec.ip.as_deref()) {
                Err(e) if e.kind != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let mut mounts: BTreeMap<String, MountPoint> = BTreeMap::new();
        let result = self.register_mounts(&id, &spec, &mut mounts).await;
        if let Err(e) = result {
            // dockerd's cleanupContainer: drop the references taken so far.
            self.networks_forget(&id);
            self.remove_mount_points(&id, &mounts, true).await;
            return Err(e);
        }
        // Copy-up: image content at a volume's destination is copied in with a
        // throwaway mount ID (Get, Mount, Get, Unmount).
        for (dest, mp) in &mounts {
            if paths.contains(&dest.as_str()) {
                let tmp = self.random_id();
                if let Err(e) = self.volumes().mount(&mp.name, &mp.driver, &tmp).await {
                    self.networks_forget(&id);
                    self.remove_mount_points(&id, &mounts, true).await;
                    return Err(EngineError::system(e.message));
                }
                let _ = self.volumes().unmount(&mp.name, &mp.driver, &tmp).await;
            }
        }
        let seq = {
            let mut s = self.containers.seq.lock().expect("seq lock");
            *s += 1;
            *s
        };
        self.containers
            .by_id
            .lock()
            .expect("containers lock")
            .insert(
                id.clone(),
                Container {
                    id: id.clone(),
                    name,
                    spec: ContainerSpec { image, ..spec },
                    state: ContainerState::Created,
                    mounts,
                    seq,
                    manually_stopped: false,
                    attached: false,
                    starts: 0,
                    paused: false,
                    created: super::networks::created_now(),
                },
            );
        Ok(id)
    }

    async fn register_mounts(
        &self,
        id: &str,
        spec: &ContainerSpec,
        mounts: &mut BTreeMap<String, MountPoint>,
    ) -> Result<(), EngineError> {
        // 1. --volumes-from: the source's volumes, each looked up (Get) with our reference.
        for from in &spec.volumes_from {
            let (from_name, _mode) = from.split_once(':').unwrap_or((from, ""));
            let src_id = self.resolve(from_name)?;
            let src_mounts = self
                .with_container(&src_id, |c| c.mounts.clone())
                .unwrap_or_default();
            for (dest, m) in src_mounts {
                let v = self.volumes().get(&m.name, &m.driver, Some(id)).await?;
                mounts.insert(
                    dest,
                    MountPoint {
                        name: v.name,
                        driver: v.driver,
                        source: m.source,
                        named: m.named,
                        id: None,
                        active: 0,
                    },
                );
            }
        }
        let driver = spec.volume_driver.clone().unwrap_or_default();
        // 2. Named volumes (binds), in flag order. A second bind at the same
        //    destination is refused when it is reached (after the first one's
        //    lookup), as recorded: tests/golden/conformance/findings/mount-points.jsonl.
        for m in spec.mounts.iter().filter(|m| m.source.is_some()) {
            if mounts.contains_key(&m.target) {
                return Err(EngineError::invalid(format!(
                    "Duplicate mount point: {}",
                    m.target
                )));
            }
            let name = m.source.as_deref().unwrap_or_default();
            let driver = m.driver.as_deref().unwrap_or(&driver);
            let (v, _) = self
                .volumes()
                .create(
                    name,
                    driver,
                    m.driver_opts.clone(),
                    m.labels.clone(),
                    Some(id),
                )
                .await?;
            mounts.insert(m.target.clone(), mount_point(v, true));
        }
        // 3. Anonymous volumes: a random 64-hex name, unless something is
        //    already mounted at that destination (e.g. by --volumes-from).
        for m in spec.mounts.iter().filter(|m| m.source.is_none()) {
            if mounts.contains_key(&m.target) {
                continue;
            }
            let name = self.random_id();
            let anon_driver = match m.driver.as_deref() {
                Some(d) => d,
                None if driver.is_empty() => "local",
                None => &driver,
            };
            let mut labels = m.labels.clone().unwrap_or_default();
            labels.insert("com.docker.volume.anonymous".to_owned(), String::new());
            let (v, _) = self
                .volumes()
                .create(
                    &name,
                    anon_driver,
                    m.driver_opts.clone(),
                    Some(labels),
                    Some(id),
                )
                .await?;
            mounts.insert(m.target.clone(), mount_point(v, false));
        }
        Ok(())
    }

    /// `MountPoint.Setup` for every mount point: Mount with the existing ID or a
    /// fresh one. On failure, the mounts made so far are cleaned up.
    async fn setup_mounts(&self, id: &str) -> Result<(), EngineError> {
        let dests: Vec<String> = self
            .with_container(id, |c| c.mounts.keys().cloned().collect())
            .unwrap_or_default();
        for dest in dests {
            let Some(mp) = self
                .with_container(id, |c| c.mounts.get(&dest).cloned())
                .flatten()
            else {
                continue;
            };
            let mount_id = mp.id.clone().unwrap_or_else(|| self.random_id());
            match self.volumes().mount(&mp.name, &mp.driver, &mount_id).await {
                Ok(_) => {
                    self.with_container(id, |c| {
                        if let Some(m) = c.mounts.get_mut(&dest) {
                            m.id = Some(mount_id.clone());
                            m.active += 1;
                        }
                    });
                }
                Err(e) => {
                    self.cleanup_mounts(id).await;
                    return Err(EngineError::system(format!(
                        "error while mounting volume '{}': {e}",
                        mp.source
                    )));
                }
            }
        }
        Ok(())
    }

    /// `UnmountVolumes`: Cleanup of every mount point that has an ID.
    async fn cleanup_mounts(&self, id: &str) {
        let mps: Vec<(String, MountPoint)> = self
            .with_container(id, |c| c.mounts.clone().into_iter().collect())
            .unwrap_or_default();
        for (dest, mp) in mps {
            let Some(mount_id) = mp.id.clone() else {
                continue;
            };
            match self
                .volumes()
                .unmount(&mp.name, &mp.driver, &mount_id)
                .await
            {
                Ok(()) => {
                    self.with_container(id, |c| {
                        if let Some(m) = c.mounts.get_mut(&dest) {
                            m.active = m.active.saturating_sub(1);
                            if m.active == 0 {
                                m.id = None;
                            }
                        }
                    });
                }
                Err(e) => tracing::warn!(
                    "cleanup: Failed to umount volumes: error unmounting volume {}: {e}",
                    mp.name
                ),
            }
        }
    }

    /// `docker start`: mounts every volume; the container then runs. A
    /// container started with `--rm` that fails to start is removed with its
    /// anonymous volumes (daemon/start.go's deferred cleanup).
    pub async fn container_start(&self, name_or_id: &str) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        if self.with_container(&id, |c| c.state) == Some(ContainerState::Running) {
            // Starting a running container is a no-op for dockerd.
            return Ok(());
        }
        let result = self.start_mounts_and_networks(&id).await;
        if result.is_err()
            && self
                .with_container(&id, |c| c.spec.auto_remove)
                .unwrap_or(false)
        {
            self.remove_container(&id, true).await;
        }
        result
    }

    async fn start_mounts_and_networks(&self, id: &str) -> Result<(), EngineError> {
        self.setup_mounts(id).await?;
        // initializeNetworking comes after the mounts; a failure unmounts.
        if let Err(e) = self.networks_connect_all(id).await {
            self.cleanup_mounts(id).await;
            return Err(e);
        }
        self.with_container(id, |c| {
            c.state = ContainerState::Running;
            c.manually_stopped = false;
            c.starts += 1;
        });
        self.containers.changed.notify_waiters();
        Ok(())
    }

    /// The container stops (stop, kill, its command finishing): Cleanup
    /// unmounts its volumes; with `--rm` it is then removed with its anonymous volumes.
    async fn exited(&self, id: &str, code: i32) -> Result<(), EngineError> {
        self.with_container(id, |c| {
            c.paused = false;
            c.state = ContainerState::Exited(code);
            c.attached = false;
        });
        self.containers.changed.notify_waiters();
        // daemon.Cleanup releases the network before unmounting volumes.
        self.networks_disconnect_all(id).await;
        self.cleanup_mounts(id).await;
        let auto_remove = self
            .with_container(id, |c| c.spec.auto_remove)
            .unwrap_or(false);
        if auto_remove {
            self.remove_container(id, true).await;
        }
        Ok(())
    }

    /// `docker stop` / `docker kill`: no-op on a stopped container.
    pub async fn container_stop(&self, name_or_id: &str, code: i32) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        if self.with_container(&id, |c| c.state) != Some(ContainerState::Running) {
            return Ok(());
        }
        self.with_container(&id, |c| c.manually_stopped = true);
        self.exited(&id, code).await
    }

    /// `docker kill` of a container that is not running is an error.
    pub async fn container_kill(&self, name_or_id: &str) -> Result<(), EngineError> {
        self.container_signal(name_or_id, 9).await
    }

    /// `docker kill --signal N` (a number; see [`parse_signal`]). The
    /// container's process is its PID 1, which the kernel shields from
    /// every signal it has no handler for: only SIGKILL stops it (recorded:
    /// SIGHUP leaves busybox's `sleep` running). A signal to a paused
    /// container unpauses it.
    pub async fn container_signal(&self, name_or_id: &str, signal: u32) -> Result<(), EngineError> {
        // dockerd words every kill failure "Cannot kill container: NAME: …".
        let id = self
            .resolve(name_or_id)
            .map_err(|e| e.wrap(|m| format!("Cannot kill container: {name_or_id}: {m}")))?;
        if self.with_container(&id, |c| c.state) != Some(ContainerState::Running) {
            return Err(EngineError::conflict(format!(
                "Cannot kill container: {name_or_id}: Container {id} is not running"
            )));
        }
        if signal > 64 {
            return Err(EngineError::system(format!(
                "Cannot kill container: {name_or_id}: The linux daemon does not support signal {signal}"
            )));
        }
        self.with_container(&id, |c| c.paused = false);
        if signal != 9 {
            return Ok(());
        }
        self.with_container(&id, |c| c.manually_stopped = true);
        self.exited(&id, 137).await
    }

    /// `docker pause` (`pause: true`) and `unpause`.
    pub fn container_pause(&self, name_or_id: &str, pause: bool) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        let (state, paused) = self
            .with_container(&id, |c| (c.state, c.paused))
            .expect("resolved");
        match (pause, state, paused) {
            (true, ContainerState::Running, false) => {}
            (true, ContainerState::Running, true) => {
                return Err(EngineError::conflict(format!(
                    "Container {id} is already paused"
                )))
            }
            (true, _, _) => {
                return Err(EngineError::conflict(format!(
                    "Container {id} is not running"
                )))
            }
            (false, _, true) => {}
            (false, _, false) => {
                return Err(EngineError::system(format!("Container {id} is not paused")))
            }
        }
        self.with_container(&id, |c| c.paused = pause);
        Ok(())
    }

    /// `docker rename`.
    pub fn container_rename(&self, name_or_id: &str, new_name: &str) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        let bare = new_name.strip_prefix('/').unwrap_or(new_name);
        let old = self
            .with_container(&id, |c| c.name.clone())
            .expect("resolved");
        if bare.is_empty() || old.is_empty() {
            return Err(EngineError::invalid(
                "Neither old nor new names may be empty",
            ));
        }
        if bare == old {
            return Err(EngineError::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        let allocating = |m: String| format!("Error when allocating new name: {m}");
        if !valid_name(bare) {
            return Err(EngineError::invalid(allocating(format!(
                "Invalid container name (/{bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ))));
        }
        let mut table = self.containers.by_id.lock().expect("containers lock");
        if let Some(other) = table.values().find(|c| c.name == bare) {
            return Err(EngineError::conflict(allocating(format!(
                "Conflict. The container name \"/{bare}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            ))));
        }
        if let Some(c) = table.get_mut(&id) {
            c.name = bare.to_owned();
        }
        Ok(())
    }

    /// `docker update --restart`: the only part of an update the
    /// simulation keeps (resource limits are accepted and have no effect).
    pub fn container_update_restart(
        &self,
        name_or_id: &str,
        restart: Option<RestartPolicy>,
    ) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        if let Some(policy) = restart {
            self.with_container(&id, |c| c.spec.restart = Some(policy));
        }
        Ok(())
    }

    /// `POST /containers/prune`: every container that does not run is
    /// removed (its anonymous volumes kept, as `docker rm` without -v).
    /// Returns the removed IDs.
    pub async fn container_prune(&self) -> Vec<String> {
        let mut stopped: Vec<(u64, String)> = self
            .containers
            .by_id
            .lock()
            .expect("containers lock")
            .values()
            .filter(|c| c.state != ContainerState::Running)
            .map(|c| (c.seq, c.id.clone()))
            .collect();
        stopped.sort();
        let mut removed = Vec::new();
        for (_, id) in stopped.into_iter().rev() {
            self.remove_container(&id, false).await;
            removed.push(id);
        }
        removed
    }

    /// `docker wait`: lets a running container's command finish; returns its
    /// exit code. A created container is waited on until someone starts it
    /// when several clients share the daemon ([`Engine::set_waits_block`]);
    /// otherwise that is reported, as nothing else could ever start it.
    pub async fn container_wait(&self, name_or_id: &str) -> Result<i32, EngineError> {
        let id = self.resolve(name_or_id)?;
        // A wait that came before the start (`docker run`) lets the command
        // finish only for a client attached to its output; a detached run's
        // container keeps running until it is stopped.
        let mut before_start = false;
        loop {
            let changed = self.containers.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.with_container(&id, |c| (c.state, c.attached, c.spec.cmd.clone())) {
                Some((ContainerState::Running, attached, _))
                    if before_start && !attached && self.waits_block() =>
                {
                    changed.await
                }
                Some((ContainerState::Running, _, cmd)) => {
                    let code = exit_code(&cmd);
                    self.exited(&id, code).await?;
                    return Ok(code);
                }
                Some((ContainerState::Exited(code), _, _)) => return Ok(code),
                Some((ContainerState::Created, _, _)) if self.waits_block() => {
                    before_start = true;
                    changed.await
                }
                // dockerd's wait on a created container blocks until it runs and exits.
                Some((ContainerState::Created, _, _)) => {
                    return Err(EngineError::conflict(format!(
                        "container {name_or_id} was never started: dockerd would wait forever here"
                    )))
                }
                // Removed meanwhile (a --rm container whose start failed).
                None => {
                    return Err(EngineError::not_found(format!(
                        "No such container: {name_or_id}"
                    )))
                }
            }
        }
    }

    /// Whether `wait` on a created container waits for another client to
    /// start it (`drydock serve`) instead of reporting that it would wait
    /// for ever (`drydock run`, one command at a time).
    pub fn set_waits_block(&self, block: bool) {
        self.containers
            .waits_block
            .store(block, std::sync::atomic::Ordering::Relaxed);
    }

    fn waits_block(&self) -> bool {
        self.containers
            .waits_block
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `GET /containers/{id}/json`.
    pub fn container_inspect(&self, name_or_id: &str) -> Result<ContainerDetails, EngineError> {
        let id = self.resolve(name_or_id)?;
        self.with_container(&id, |c| ContainerDetails {
            id: c.id.clone(),
            name: c.name.clone(),
            created: c.created.clone(),
            state: c.state,
            spec: c.spec.clone(),
            mounts: c
                .mounts
                .iter()
                .map(|(dest, m)| MountDetails {
                    name: m.name.clone(),
                    driver: m.driver.clone(),
                    source: m.source.clone(),
                    destination: dest.clone(),
                    rw: !c
                        .spec
                        .mounts
                        .iter()
                        .any(|s| s.target == *dest && s.read_only),
                })
                .collect(),
        })
        .ok_or_else(|| EngineError::not_found(format!("No such container: {name_or_id}")))
    }

    /// `attach`: a client follows the container's output (containers run no
    /// processes: there is none to send).
    pub fn container_attach(&self, name_or_id: &str) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        self.with_container(&id, |c| c.attached = true);
        Ok(())
    }

    /// Until an attached client's stream ends: when the container's current
    /// run ends, or (not running now) the next one; or when it is removed.
    pub async fn container_attach_end(&self, id: &str) {
        let attached_at = self.with_container(id, |c| (c.state, c.starts));
        let Some((state, starts)) = attached_at else {
            return;
        };
        // The run the client follows: this one, or the next.
        let follows = if state == ContainerState::Running {
            starts
        } else {
            starts + 1
        };
        loop {
            let changed = self.containers.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.with_container(id, |c| (c.state, c.starts)) {
                None => return,
                Some((ContainerState::Running, _)) => {}
                Some((_, n)) if n >= follows => return,
                Some(_) => {}
            }
            changed.await;
        }
    }

    /// A foreground `docker run`: create, start, let the command finish, and
    /// remove it with `--rm`. Returns the ID and the exit code.
    pub async fn container_run(
        &self,
        spec: ContainerSpec,
        detach: bool,
    ) -> Result<(String, i32), EngineError> {
        let cmd = spec.cmd.clone();
        let id = self.container_create(spec).await?;
        self.container_start(&id).await?;
        if detach {
            return Ok((id, 0));
        }
        let code = exit_code(&cmd);
        self.exited(&id, code).await?;
        Ok((id, code))
    }

    /// `docker restart`: stop (if running), then start with fresh mount IDs.
    pub async fn container_restart(&self, name_or_id: &str) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        if self.with_container(&id, |c| c.state) == Some(ContainerState::Running) {
            self.with_container(&id, |c| c.state = ContainerState::Exited(0));
            self.networks_disconnect_all(&id).await;
            self.cleanup_mounts(&id).await;
        }
        self.container_start(&id).await
    }

    /// `docker rm [-f] [-v]`.
    pub async fn container_rm(
        &self,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        let running = self.with_container(&id, |c| c.state) == Some(ContainerState::Running);
        if running && !force {
            return Err(EngineError::conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                ),
            ));
        }
        if running {
            self.with_container(&id, |c| c.state = ContainerState::Exited(137));
            self.networks_disconnect_all(&id).await;
            self.cleanup_mounts(&id).await;
        }
        self.remove_container(&id, volumes).await;
        Ok(())
    }

    async fn remove_container(&self, id: &str, remove_volumes: bool) {
        let removed = self
            .containers
            .by_id
            .lock()
            .expect("containers lock")
            .remove(id);
        self.containers.changed.notify_waiters();
        self.networks_forget(id);
        if let Some(c) = removed {
            self.remove_mount_points(id, &c.mounts, remove_volumes)
                .await;
        }
    }

    /// `removeMountPoints`: release every reference; with `rm`, remove the
    /// anonymous volumes (in-use errors ignored).
    async fn remove_mount_points(&self, id: &str, mounts: &BTreeMap<String, MountPoint>, rm: bool) {
        for mp in mounts.values() {
            self.volumes().release(&mp.name, id);
            if !rm || mp.named {
                continue;
            }
            if let Err(e) = self.volumes().remove(&mp.name, false).await {
                if e.kind != ErrorKind::Conflict {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    /// `docker cp`: the daemon mounts every volume of the container for the
    /// archive operation and unmounts it after. A running container's mount
    /// points are re-mounted with their **current** IDs. `rounds` is the
    /// number of archive requests the CLI makes (1 from a container; 2 into
    /// one: a stat, then the extraction).
    pub async fn container_cp(&self, name_or_id: &str, rounds: u32) -> Result<(), EngineError> {
        let id = self.resolve(name_or_id)?;
        for _ in 0..rounds {
            self.setup_mounts(&id).await?;
            self.cleanup_mounts(&id).await;
        }
        Ok(())
    }

    /// `docker ps [-a]`, newest first.
    pub fn container_list(&self, all: bool) -> Vec<ContainerSummary> {
        let table = self.containers.by_id.lock().expect("containers lock");
        let mut list: Vec<&Container> = table
            .values()
            .filter(|c| all || c.state == ContainerState::Running)
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.seq));
        list.into_iter()
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                name: c.name.clone(),
                image: c.spec.image.clone(),
                command: c.spec.cmd.join(" "),
                state: c.state,
                paused: c.paused,
                labels: c.spec.labels.clone(),
                created: c.created.clone(),
            })
            .collect()
    }

    /// Daemon shutdown: running containers are stopped (their volumes unmounted).
    pub(crate) async fn shutdown(&self) {
        let running: Vec<String> = self
            .container_list(false)
            .into_iter()
            .rev()
            .map(|c| c.id)
            .collect();
        for id in running {
            self.with_container(&id, |c| c.state = ContainerState::Exited(143));
            self.networks_disconnect_all(&id).await;
            self.cleanup_mounts(&id).await;
        }
    }

    /// Daemon start, after the restore: containers whose restart policy says
    /// so are started again (`always`, or `unless-stopped` unless a user
    /// stopped it), in creation order. Failures are only logged, as dockerd does.
    pub(crate) async fn restart_policy_containers(&self) {
        let mut due: Vec<(u64, String)> = self
            .containers
            .by_id
            .lock()
            .expect("containers lock")
            .values()
            .filter(|c| matches!(c.state, ContainerState::Exited(_)))
            .filter(|c| match c.spec.restart {
                Some(RestartPolicy::Always) => true,
                Some(RestartPolicy::UnlessStopped) => !c.manually_stopped,
                _ => false,
            })
            .map(|c| (c.seq, c.id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            if let Err(e) = self.container_start(&id).await {
                tracing::warn!("failed to restart container {id}: {}", e.message);
            }
        }
    }

    /// The container table as the daemon keeps it on disk.
    pub(crate) fn saved_containers(&self) -> SavedContainers {
        SavedContainers {
            containers: self
                .containers
                .by_id
                .lock()
                .expect("containers lock")
                .values()
                .cloned()
                .collect(),
            seq: *self.containers.seq.lock().expect("seq lock"),
        }
    }

    /// A new daemon's container table, from what the last one kept. A
    /// container that was running (the last daemon died without stopping it)
    /// is loaded as the daemon's stop leaves it, its mounts forgotten.
    pub(crate) fn load_containers(&self, saved: SavedContainers) {
        let mut table = self.containers.by_id.lock().expect("containers lock");
        table.clear();
        for mut c in saved.containers {
            if c.state == ContainerState::Running {
                c.state = ContainerState::Exited(143);
            }
            for mp in c.mounts.values_mut() {
                mp.id = None;
                mp.active = 0;
            }
            table.insert(c.id.clone(), c);
        }
        *self.containers.seq.lock().expect("seq lock") = saved.seq;
    }

    /// Daemon start: each container's mount points look their volume up again
    /// (Get with the container as reference), rebuilding the references.
    pub(crate) async fn restore_containers(&self) {
        let mut all: Vec<(u64, String, Vec<MountPoint>)> = self
            .containers
            .by_id
            .lock()
            .expect("containers lock")
            .values()
            .map(|c| (c.seq, c.id.clone(), c.mounts.values().cloned().collect()))
            .collect();
        all.sort_by_key(|(seq, _, _)| *seq);
        for (_, id, mounts) in all {
            for mp in mounts {
                if let Err(e) = self.volumes().get(&mp.name, &mp.driver, Some(&id)).await {
                    tracing::warn!(
                        "restore: cannot look up volume {} of container {id}: {e}",
                        mp.name
                    );
                }
            }
        }
    }
}

fn mount_point(v: VolumeInfo, named: bool) -> MountPoint {
    MountPoint {
        name: v.name,
        driver: v.driver,
        source: v.mountpoint,
        named,
        id: None,
        active: 0,
    }
}

/// The exit code of a command that "runs": `false` and `exit N` fail, anything
/// else succeeds.
fn exit_code(cmd: &[String]) -> i32 {
    let joined = cmd.join(" ");
    if cmd.first().map(String::as_str) == Some("false") {
        return 1;
    }
    if let Some(rest) = joined.split("exit ").nth(1) {
        if let Ok(n) = rest
            .trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<i32>()
        {
            return n;
        }
    }
    0
}
