//! The volume store: dockerd 20.10's `volume/service` and `volume/drivers`
//! (protocol.md §4.2–4.10), reproduced call for call.
//!
//! Volumes are keyed by **name** across all drivers. For each name the store
//! keeps the cached volume (with its driver), the references (container IDs)
//! and the persisted metadata (`metadata.db`: name → driver, labels, options),
//! which survives a daemon restart. Driver adapters are cached forever once
//! looked up; a plugin's Capabilities answer is cached only on success.

use super::{EngineError, ErrorKind};
use crate::plugins::client::{CallError, CallOptions};
use crate::plugins::registry::{GetError, PluginHandle, Registry};
use drydock_sdk::wire::volume::{
    CapabilitiesResponse, CreateRequest, EmptyRequest, ErrResponse, GetResponse, ListResponse,
    MountRequest, MountpointResponse, NameRequest, Volume as WireVolume,
};
use drydock_sdk::Protocol;
use futures_util::future::join_all;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The volume proxy's timeouts (`volume/drivers/proxy.go`).
const LONG_TIMEOUT: Duration = Duration::from_secs(120);
const SHORT_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the built-in driver.
pub const LOCAL: &str = "local";

/// A volume as the daemon knows it after a lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeInfo {
    /// Volume name (as the driver reported it).
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// Mountpoint as last reported (empty when unknown: dockerd never calls Path).
    pub mountpoint: String,
    /// `CreatedAt` as reported (RFC 3339), if any.
    pub created_at: Option<String>,
    /// `Status` as reported by Get.
    pub status: Option<Map<String, Value>>,
    /// `local` or `global`.
    pub scope: String,
    /// Labels given at creation.
    pub labels: Option<BTreeMap<String, String>>,
    /// Options given at creation.
    pub options: Option<BTreeMap<String, String>>,
}

/// What dockerd persists per volume in `metadata.db`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// Driver name; empty when unknown.
    pub driver: String,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Options.
    pub options: Option<BTreeMap<String, String>>,
}

/// A plugin volume driver (`volumeDriverAdapter`).
#[derive(Debug)]
pub struct PluginDriver {
    handle: Arc<PluginHandle>,
    /// Cached only after a successful Capabilities call.
    scope: Mutex<Option<String>>,
}

/// Either the built-in `local` driver or a plugin.
#[derive(Debug, Clone)]
pub enum Driver {
    /// The built-in driver: no RPCs.
    Local,
    /// A v1 plugin.
    Plugin(Arc<PluginDriver>),
}

/// A driver-level error: either a plugin's answer or a communication failure.
#[derive(Debug, Clone)]
pub struct DriverError {
    /// The text dockerd would show.
    pub text: String,
    /// Whether it is a Go `net.Error` (connection failure or timeout).
    pub network: bool,
    /// Its class: the local driver's validation errors are invalid
    /// parameters (400); everything else a plugin or the local driver says
    /// is a system error (500).
    pub kind: ErrorKind,
}

impl DriverError {
    fn from_call(e: CallError) -> Self {
        DriverError {
            network: e.is_network(),
            text: e.to_string(),
            kind: ErrorKind::System,
        }
    }
    fn plain(text: impl Into<String>) -> Self {
        DriverError {
            text: text.into(),
            network: false,
            kind: ErrorKind::System,
        }
    }
    fn invalid(text: impl Into<String>) -> Self {
        DriverError {
            kind: ErrorKind::InvalidParameter,
            ..Self::plain(text)
        }
    }
}

impl Driver {
    /// The driver's name.
    pub fn name(&self) -> &str {
        match self {
            Driver::Local => LOCAL,
            Driver::Plugin(p) => p.handle.name(),
        }
    }

    /// The driver's scope: Capabilities on first need, cached on success only;
    /// any failure means `local`.
    pub async fn scope(&self) -> String {
        let Driver::Plugin(p) = self else {
            return "local".into();
        };
        if let Some(s) = p.scope.lock().expect("scope lock").clone() {
            return s;
        }
        let result: Result<CapabilitiesResponse, CallError> = p
            .handle
            .client
            .call(
                "VolumeDriver.Capabilities",
                Some(&EmptyRequest {}),
                CallOptions::timeout(SHORT_TIMEOUT),
            )
            .await;
        match result {
            Ok(c) if c.err.is_empty() => {
                let mut scope = c.capabilities.scope.to_lowercase();
                if scope.is_empty() || (scope != "local" && scope != "global") {
                    scope = "local".into();
                }
                *p.scope.lock().expect("scope lock") = Some(scope.clone());
                scope
            }
            _ => "local".into(),
        }
    }

    fn client(&self) -> Option<&crate::plugins::client::PluginClient> {
        match self {
            Driver::Local => None,
            Driver::Plugin(p) => Some(&p.handle.client),
        }
    }

    /// `VolumeDriver.Get` (adapter semantics: an empty answer is "no such volume").
    pub async fn get(&self, name: &str, local: &LocalDriver) -> Result<VolumeInfo, DriverError> {
        let Some(client) = self.client() else {
            return local
                .get(name)
                .ok_or_else(|| DriverError::plain("no such volume"));
        };
        let resp: GetResponse = client
            .call(
                "VolumeDriver.Get",
                Some(&NameRequest { name: name.into() }),
                CallOptions::timeout(SHORT_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        if !resp.err.is_empty() {
            return Err(DriverError::plain(resp.err));
        }
        let vol = resp
            .volume
            .ok_or_else(|| DriverError::plain("no such volume"))?;
        check_created_at(&vol)?;
        Ok(self.info(vol))
    }

    fn info(&self, v: WireVolume) -> VolumeInfo {
        VolumeInfo {
            name: v.name,
            driver: self.name().to_owned(),
            mountpoint: v.mountpoint,
            created_at: v.created_at,
            status: v.status,
            scope: String::new(),
            labels: None,
            options: None,
        }
    }

    /// `VolumeDriver.Create`.
    pub async fn create(
        &self,
        name: &str,
        opts: Option<&BTreeMap<String, String>>,
        local: &LocalDriver,
    ) -> Result<VolumeInfo, DriverError> {
        let Some(client) = self.client() else {
            return local.create(name, opts);
        };
        let resp: ErrResponse = client
            .call(
                "VolumeDriver.Create",
                Some(&CreateRequest {
                    name: name.into(),
                    opts: opts.cloned(),
                }),
                CallOptions::timeout(LONG_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        if !resp.err.is_empty() {
            return Err(DriverError::plain(resp.err));
        }
        Ok(self.info(WireVolume {
            name: name.into(),
            ..Default::default()
        }))
    }

    /// `VolumeDriver.Remove`.
    pub async fn remove(&self, name: &str, local: &LocalDriver) -> Result<(), DriverError> {
        let Some(client) = self.client() else {
            local.remove(name);
            return Ok(());
        };
        let resp: ErrResponse = client
            .call(
                "VolumeDriver.Remove",
                Some(&NameRequest { name: name.into() }),
                CallOptions::timeout(SHORT_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        in_band(resp.err)
    }

    /// `VolumeDriver.Mount`: the host path.
    pub async fn mount(
        &self,
        name: &str,
        id: &str,
        local: &LocalDriver,
    ) -> Result<String, DriverError> {
        let Some(client) = self.client() else {
            return Ok(local.path(name));
        };
        let resp: MountpointResponse = client
            .call(
                "VolumeDriver.Mount",
                Some(&MountRequest {
                    name: name.into(),
                    id: id.into(),
                }),
                CallOptions::timeout(LONG_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        in_band(resp.err).map(|()| resp.mountpoint)
    }

    /// `VolumeDriver.Unmount`.
    pub async fn unmount(&self, name: &str, id: &str) -> Result<(), DriverError> {
        let Some(client) = self.client() else {
            return Ok(());
        };
        let resp: ErrResponse = client
            .call(
                "VolumeDriver.Unmount",
                Some(&MountRequest {
                    name: name.into(),
                    id: id.into(),
                }),
                CallOptions::timeout(SHORT_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        in_band(resp.err)
    }

    /// `VolumeDriver.List`.
    pub async fn list(&self, local: &LocalDriver) -> Result<Vec<VolumeInfo>, DriverError> {
        let Some(client) = self.client() else {
            return Ok(local.list());
        };
        let resp: ListResponse = client
            .call(
                "VolumeDriver.List",
                Some(&EmptyRequest {}),
                CallOptions::timeout(SHORT_TIMEOUT),
            )
            .await
            .map_err(DriverError::from_call)?;
        in_band(resp.err)?;
        let vols = resp.volumes.unwrap_or_default();
        for v in &vols {
            check_created_at(v)?;
        }
        Ok(vols.into_iter().map(|v| self.info(v)).collect())
    }
}

fn in_band(err: String) -> Result<(), DriverError> {
    if err.is_empty() {
        Ok(())
    } else {
        Err(DriverError::plain(err))
    }
}

/// dockerd decodes `CreatedAt` as a Go `time.Time`; anything but RFC 3339 fails
/// the whole response, with Go's parse error.
fn check_created_at(v: &WireVolume) -> Result<(), DriverError> {
    match &v.created_at {
        Some(s)
            if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_err() =>
        {
            Err(DriverError::plain(format!(
                "parsing time \"\\\"{s}\\\"\" as \"\\\"2006-01-02T15:04:05Z07:00\\\"\": cannot parse \"{s}\\\"\" as \"2006\""
            )))
        }
        _ => Ok(()),
    }
}

/// The built-in `local` driver, simulated in memory (it makes no plugin calls).
#[derive(Debug, Default)]
pub struct LocalDriver {
    volumes: Mutex<LocalVolumes>,
}

/// The built-in driver's volumes: name → options.
pub(crate) type LocalVolumes = BTreeMap<String, Option<BTreeMap<String, String>>>;

impl LocalDriver {
    fn path(&self, name: &str) -> String {
        format!("/var/lib/docker/volumes/{name}/_data")
    }
    fn get(&self, name: &str) -> Option<VolumeInfo> {
        self.volumes
            .lock()
            .expect("local lock")
            .contains_key(name)
            .then(|| self.info(name))
    }
    fn info(&self, name: &str) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            driver: LOCAL.into(),
            mountpoint: self.path(name),
            created_at: None,
            status: None,
            scope: "local".into(),
            labels: None,
            options: None,
        }
    }
    fn create(
        &self,
        name: &str,
        opts: Option<&BTreeMap<String, String>>,
    ) -> Result<VolumeInfo, DriverError> {
        // The local driver validates names (volume/local/local_unix.go).
        if name.len() < 2 {
            return Err(DriverError::invalid(
                "volume name is too short, names should be at least two alphanumeric characters",
            ));
        }
        let valid = name.len() >= 2
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(DriverError::invalid(format!(
                "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(o) = opts.filter(|o| !o.is_empty()) {
            let bad: Vec<&String> = o
                .keys()
                .filter(|k| !matches!(k.as_str(), "type" | "device" | "o" | "size"))
                .collect();
            if let Some(k) = bad.first() {
                return Err(DriverError::invalid(format!("invalid option: \"{k}\"")));
            }
        }
        self.volumes
            .lock()
            .expect("local lock")
            .insert(name.into(), opts.cloned());
        Ok(self.info(name))
    }
    fn remove(&self, name: &str) {
        self.volumes.lock().expect("local lock").remove(name);
    }
    fn list(&self) -> Vec<VolumeInfo> {
        let names: Vec<String> = self
            .volumes
            .lock()
            .expect("local lock")
            .keys()
            .cloned()
            .collect();
        names.iter().map(|n| self.info(n)).collect()
    }
}

/// Per-name serialisation (dockerd's `locker`): operations on one volume name
/// never interleave, while different names proceed in parallel and no global
/// lock is held during plugin calls.
#[derive(Debug, Default)]
struct NameLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NameLocks {
    async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().expect("locks");
            match locks.get(name) {
                Some(m) => m.clone(),
                None => locks.entry(name.to_owned()).or_default().clone(),
            }
        };
        m.lock_owned().await
    }
}

#[derive(Debug, Default)]
struct StoreState {
    /// `names`: the cached volumes (name → driver name).
    names: HashMap<String, String>,
    /// `refs`: name → container IDs.
    refs: HashMap<String, BTreeSet<String>>,
    /// `metadata.db`: survives restarts.
    meta: BTreeMap<String, Meta>,
    /// Driver adapters, cached forever.
    drivers: HashMap<String, Driver>,
    /// The mountpoint dockerd's cached volume object knows for volumes this
    /// daemon created: what the driver's Create gave (nothing, for a plugin).
    /// `docker run` reuses that object, so a failed Mount of such a volume
    /// reads `error while mounting volume ''` even though Get reported a
    /// mountpoint (recorded: tests/golden/v-mount-err.jsonl,
    /// tests/golden/faults/f-mount-drop.jsonl).
    created_paths: HashMap<String, String>,
}

/// The daemon's volume service.
#[derive(Debug)]
pub struct VolumeStore {
    registry: Arc<Registry>,
    state: Mutex<StoreState>,
    locks: NameLocks,
    driver_locks: NameLocks,
    /// The built-in driver's volumes (they live as long as the engine).
    pub local: LocalDriver,
}

/// Formats dockerd's `OpErr`: `<op> <name>: <err>[ - [refs]]`.
fn op_err(op: &str, name: &str, err: impl std::fmt::Display) -> String {
    if name.is_empty() {
        format!("{op}: {err}")
    } else {
        format!("{op} {name}: {err}")
    }
}

impl VolumeStore {
    /// An empty store using `registry` for plugin lookups.
    pub fn new(registry: Arc<Registry>) -> Self {
        VolumeStore {
            registry,
            state: Mutex::new(StoreState::default()),
            locks: NameLocks::default(),
            driver_locks: NameLocks::default(),
            local: LocalDriver::default(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.state.lock().expect("volume store lock")
    }

    /// The metadata (for persistence across a simulated restart).
    pub fn metadata(&self) -> BTreeMap<String, Meta> {
        self.st().meta.clone()
    }

    /// The drivers the daemon has looked up so far (`local` always), sorted:
    /// what `docker info` lists as volume plugins.
    pub fn driver_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.st().drivers.keys().cloned().collect();
        if !names.iter().any(|n| n == LOCAL) {
            names.push(LOCAL.to_owned());
        }
        names.sort();
        names
    }

    /// What survives the daemon: the metadata and the built-in driver's volumes.
    pub(crate) fn saved(&self) -> (BTreeMap<String, Meta>, LocalVolumes) {
        let local = self.local.volumes.lock().expect("local lock").clone();
        (self.metadata(), local)
    }

    /// A new daemon's store, holding what [`VolumeStore::saved`] gave.
    pub(crate) fn load(&self, meta: BTreeMap<String, Meta>, local: LocalVolumes) {
        self.st().meta = meta;
        *self.local.volumes.lock().expect("local lock") = local;
    }

    /// Drops everything but the metadata, as a daemon restart does, and forgets
    /// plugin driver adapters (a new daemon process has none).
    pub fn forget_runtime_state(&self) {
        let mut st = self.st();
        st.names.clear();
        st.refs.clear();
        st.drivers.clear();
        st.created_paths.clear();
    }

    /// References (container IDs) of a volume.
    pub fn refs(&self, name: &str) -> Vec<String> {
        self.st()
            .refs
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every volume name the daemon has cached, with its driver.
    pub fn cached(&self) -> BTreeMap<String, String> {
        self.st()
            .names
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `drivers.Store.lookup`: the cached adapter or a plugin lookup
    /// (activation) followed by validation (Capabilities).
    pub async fn driver(&self, name: &str) -> Result<Driver, EngineError> {
        if name == LOCAL {
            return Ok(Driver::Local);
        }
        if name.is_empty() {
            return Err(EngineError::system("driver name cannot be empty"));
        }
        // Cached adapters need no lock (the common case on every operation).
        if let Some(d) = self.st().drivers.get(name).cloned() {
            return Ok(d);
        }
        let _guard = self.driver_locks.lock(name).await;
        if let Some(d) = self.st().drivers.get(name).cloned() {
            return Ok(d);
        }
        let handle = self
            .registry
            .get(name, Protocol::VolumeDriver)
            .await
            .map_err(|e| {
                let kind = match e {
                    GetError::NotFound(_) => ErrorKind::NotFound,
                    GetError::Legacy(_) => ErrorKind::System,
                };
                EngineError::new(kind, format!("error looking up volume plugin {name}: {e}"))
            })?;
        let driver = Driver::Plugin(Arc::new(PluginDriver {
            handle,
            scope: Mutex::new(None),
        }));
        // validateDriver: asks for the scope, which never fails.
        driver.scope().await;
        self.st().drivers.insert(name.to_owned(), driver.clone());
        Ok(driver)
    }

    /// `GetAllDrivers`: local, every cached adapter, then every plugin found by
    /// Scan that implements VolumeDriver (new adapters are *not* validated).
    pub async fn all_drivers(&self) -> Result<Vec<Driver>, EngineError> {
        let handles = self
            .registry
            .get_all(Protocol::VolumeDriver)
            .await
            .map_err(|e| EngineError::system(format!("error listing plugins: {e}")))?;
        let mut st = self.st();
        let mut cached: Vec<(String, Driver)> = st
            .drivers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        cached.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = vec![Driver::Local];
        out.extend(cached.into_iter().map(|(_, d)| d));
        for h in handles {
            if st.drivers.contains_key(h.name()) {
                continue;
            }
            let d = Driver::Plugin(Arc::new(PluginDriver {
                handle: h.clone(),
                scope: Mutex::new(None),
            }));
            st.drivers.insert(h.name().to_owned(), d.clone());
            out.push(d);
        }
        Ok(out)
    }

    fn purge(&self, name: &str) {
        let mut st = self.st();
        st.names.remove(name);
        st.refs.remove(name);
        st.meta.remove(name);
        st.created_paths.remove(name);
    }

    fn set_named(&self, v: &VolumeInfo, reference: Option<&str>) {
        let mut st = self.st();
        st.names.insert(v.name.clone(), v.driver.clone());
        let refs = st.refs.entry(v.name.clone()).or_default();
        if let Some(r) = reference.filter(|r| !r.is_empty()) {
            refs.insert(r.to_owned());
        }
    }

    /// `lookupVolume`: Get on `driver`; a non-network error means "not there".
    async fn lookup_volume(
        &self,
        driver: &str,
        name: &str,
    ) -> Result<Option<VolumeInfo>, EngineError> {
        let failed = |e: &dyn std::fmt::Display| {
            EngineError::system(format!(
                "error while checking if volume \"{name}\" exists in driver \"{driver}\": {e}"
            ))
        };
        let d = self.driver(driver).await.map_err(|e| failed(&e))?;
        match d.get(name, &self.local).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.network => Err(failed(&e.text)),
            Err(e) => {
                tracing::debug!(
                    volume = name,
                    driver,
                    "Error while looking up volume: {}",
                    e.text
                );
                Ok(None)
            }
        }
    }

    /// `getVolume`: by stored driver, or by probing every driver.
    async fn get_volume(&self, name: &str, driver: &str) -> Result<VolumeInfo, EngineError> {
        let mut meta = self.st().meta.get(name).cloned().unwrap_or_default();
        let mut driver = driver.to_owned();
        if !driver.is_empty() {
            if meta.driver.is_empty() {
                meta.driver = driver.clone();
            }
            if driver != meta.driver {
                return Err(EngineError::conflict(
                    "provided volume driver does not match stored driver",
                ));
            }
        }
        if driver.is_empty() {
            driver = meta.driver.clone();
        }
        if driver.is_empty() {
            if let Some(d) = self.st().names.get(name).cloned() {
                meta.driver = d;
                self.st().meta.insert(name.to_owned(), meta.clone());
            }
        }
        if !meta.driver.is_empty() {
            let Some(mut v) = self.lookup_volume(&meta.driver, name).await? else {
                self.purge(name);
                return Err(EngineError::not_found("no such volume"));
            };
            if let Ok(d) = self.driver(&meta.driver).await {
                v.scope = d.scope().await;
            }
            v.labels = meta.labels;
            v.options = meta.options;
            return Ok(v);
        }
        tracing::debug!("Probing all drivers for volume with name: {name}");
        for d in self.all_drivers().await? {
            let Ok(mut v) = d.get(name, &self.local).await else {
                continue;
            };
            meta.driver = v.driver.clone();
            self.st().meta.insert(name.to_owned(), meta.clone());
            v.scope = d.scope().await;
            v.labels = meta.labels;
            v.options = meta.options;
            return Ok(v);
        }
        Err(EngineError::not_found("no such volume"))
    }

    /// `VolumeStore.Get`: look a volume up and add `reference` to it.
    pub async fn get(
        &self,
        name: &str,
        driver: &str,
        reference: Option<&str>,
    ) -> Result<VolumeInfo, EngineError> {
        let _g = self.locks.lock(name).await;
        self.get_locked(name, driver, reference).await
    }

    async fn get_locked(
        &self,
        name: &str,
        driver: &str,
        reference: Option<&str>,
    ) -> Result<VolumeInfo, EngineError> {
        let v = self
            .get_volume(name, driver)
            .await
            .map_err(|e| e.wrap(|m| op_err("get", name, m)))?;
        if !driver.is_empty() && v.driver != driver {
            return Err(EngineError::conflict(op_err(
                "get",
                name,
                "found volume driver does not match passed in driver",
            )));
        }
        self.set_named(&v, reference);
        Ok(v)
    }

    /// `checkConflict`.
    async fn check_conflict(
        &self,
        name: &str,
        driver: &str,
    ) -> Result<Option<VolumeInfo>, EngineError> {
        let cached = self.st().names.get(name).cloned();
        let Some(cached_driver) = cached else {
            return Ok(None);
        };
        let mut conflict = false;
        if !driver.is_empty() {
            // dockerd does not class this lookup's failure here: a 500.
            let vd = self
                .driver(driver)
                .await
                .map_err(|e| EngineError::system(e.message))?;
            conflict = cached_driver != vd.name();
        }
        let exists = self.lookup_volume(&cached_driver, name).await.map_err(|e| {
            EngineError::conflict(format!(
                "found reference to volume '{name}' in driver '{cached_driver}', but got an error while checking the driver: {e}: volume name must be unique"
            ))
        })?;
        if let Some(mut v) = exists {
            if conflict {
                return Err(EngineError::conflict(format!(
                    "driver '{cached_driver}' already has volume '{name}': volume name must be unique"
                )));
            }
            let st = self.st();
            let meta = st.meta.get(name).cloned().unwrap_or_default();
            v.labels = meta.labels;
            v.options = meta.options;
            if let Some(path) = st.created_paths.get(name) {
                v.mountpoint = path.clone();
            }
            return Ok(Some(v));
        }
        if self.st().refs.get(name).is_some_and(|r| !r.is_empty()) {
            return Err(EngineError::conflict(format!(
                "found references to volume '{name}' in driver '{cached_driver}' but the volume was not found in the driver -- you may need to remove containers referencing this volume or force remove the volume to re-create it: volume name must be unique"
            )));
        }
        self.purge(name);
        Ok(None)
    }

    /// `VolumeStore.Create`. `driver` empty means "not specified" (implicit
    /// creation by `docker run -v name:/p`). Returns the volume and whether the
    /// driver's Create was called.
    pub async fn create(
        &self,
        name: &str,
        driver: &str,
        opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
        reference: Option<&str>,
    ) -> Result<(VolumeInfo, bool), EngineError> {
        let _g = self.locks.lock(name).await;
        let fail = |e: EngineError| e.wrap(|m| op_err("create", name, m));
        let existing = self.check_conflict(name, driver).await.map_err(fail)?;
        if let Some(v) = existing {
            self.set_named(&v, reference);
            return Ok((v, false));
        }
        if driver.is_empty() {
            if let Ok(v) = self.get_volume(name, "").await {
                self.set_named(&v, reference);
                return Ok((v, false));
            }
        }
        let driver_name = if driver.is_empty() { LOCAL } else { driver };
        let vd = self.driver(driver_name).await.map_err(fail)?;
        let mut v = match vd.get(name, &self.local).await {
            Ok(v) => v,
            Err(_) => {
                let v = vd
                    .create(name, opts.as_ref(), &self.local)
                    .await
                    .map_err(|e| fail(EngineError::new(e.kind, e.text)))?;
                self.st()
                    .created_paths
                    .insert(name.to_owned(), v.mountpoint.clone());
                v
            }
        };
        {
            let mut st = self.st();
            st.refs.insert(name.to_owned(), BTreeSet::new());
            st.meta.insert(
                name.to_owned(),
                Meta {
                    driver: vd.name().to_owned(),
                    labels: labels.clone(),
                    options: opts.clone(),
                },
            );
        }
        v.scope = vd.scope().await;
        v.labels = labels;
        v.options = opts;
        self.set_named(&v, reference);
        Ok((v, true))
    }

    /// `VolumesService.Remove`: Get, refuse if referenced, Get again, Remove.
    /// With `force` (`PurgeOnError`) a missing volume is success and the daemon
    /// forgets the volume even if the plugin fails (the error is still returned).
    pub async fn remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let v = {
            let _g = self.locks.lock(name).await;
            match self.get_locked(name, "", None).await {
                Ok(v) => v,
                Err(e) if e.kind == ErrorKind::NotFound && force => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        let _g = self.locks.lock(&v.name).await;
        let refs = self.refs(&v.name);
        if !refs.is_empty() {
            return Err(EngineError::conflict(format!(
                "{} - [{}]",
                op_err("remove", &v.name, "volume is in use"),
                refs.join(", ")
            )));
        }
        let v = match self.get_volume(&v.name, &v.driver).await {
            Ok(v) => v,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            // dockerd does not class this one: a 500 whatever the cause.
            Err(e) => return Err(EngineError::system(e.message)),
        };
        let vd = self
            .driver(&v.driver)
            .await
            .map_err(|e| EngineError::system(op_err("remove", &v.driver, e)))?;
        let result = vd.remove(&v.name, &self.local).await;
        if result.is_ok() || force {
            self.purge(&v.name);
        }
        result.map_err(|e| EngineError::system(op_err("remove", &v.name, e.text)))
    }

    /// Drops one reference (no RPC).
    pub fn release(&self, name: &str, reference: &str) {
        if let Some(r) = self.st().refs.get_mut(name) {
            r.remove(reference);
        }
    }

    /// `VolumesService.Mount`: Get, then Mount.
    pub async fn mount(&self, name: &str, driver: &str, id: &str) -> Result<String, EngineError> {
        let v = self.get(name, driver, None).await?;
        let vd = self.driver(&v.driver).await?;
        vd.mount(&v.name, id, &self.local)
            .await
            .map_err(|e| EngineError::system(e.text))
    }

    /// `VolumesService.Unmount`: Get, then Unmount.
    pub async fn unmount(&self, name: &str, driver: &str, id: &str) -> Result<(), EngineError> {
        let v = self.get(name, driver, None).await?;
        let vd = self.driver(&v.driver).await?;
        vd.unmount(&v.name, id)
            .await
            .map_err(|e| EngineError::system(e.text))
    }

    /// `docker volume ls`: List on every driver (all plugins found by Scan are
    /// activated), or only on `only_driver`. Returns the volumes and warnings.
    pub async fn list(
        &self,
        only_driver: Option<&str>,
    ) -> Result<(Vec<VolumeInfo>, Vec<String>), EngineError> {
        let all = self.all_drivers().await?;
        let drivers: Vec<Driver> = all
            .into_iter()
            .filter(|d| only_driver.is_none_or(|o| o == d.name()))
            .collect();
        let lists = join_all(drivers.iter().map(|d| async move {
            match d.list(&self.local).await {
                Ok(vols) => {
                    let mut out = Vec::with_capacity(vols.len());
                    for mut v in vols {
                        // dockerd asks for the scope once per listed volume.
                        v.scope = d.scope().await;
                        out.push(v);
                    }
                    Ok(out)
                }
                Err(e) => Err((d.name().to_owned(), e.text)),
            }
        }))
        .await;
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        for (d, result) in drivers.iter().zip(lists) {
            match result {
                Ok(vols) => {
                    for mut v in vols {
                        let (cached_driver, meta) = {
                            let st = self.st();
                            (
                                st.names.get(&v.name).cloned(),
                                st.meta.get(&v.name).cloned(),
                            )
                        };
                        if cached_driver.as_deref().is_some_and(|c| c != d.name()) {
                            tracing::warn!(
                                "Volume name {} already exists for driver {}, not including volume returned by {}",
                                v.name,
                                cached_driver.unwrap_or_default(),
                                d.name()
                            );
                            continue;
                        }
                        if let Some(m) = meta {
                            v.labels = m.labels;
                            v.options = m.options;
                        }
                        out.push(v);
                    }
                }
                Err((name, e)) => {
                    warnings.push(op_err("list", &name, e));
                    // The daemon's cached volumes of that driver stand in.
                    let cached: Vec<String> = self
                        .st()
                        .names
                        .iter()
                        .filter(|(_, dn)| **dn == name)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for n in cached {
                        out.push(VolumeInfo {
                            name: n,
                            driver: name.clone(),
                            mountpoint: String::new(),
                            created_at: None,
                            status: None,
                            scope: "local".into(),
                            labels: None,
                            options: None,
                        });
                    }
                }
            }
        }
        Ok((out, warnings))
    }

    /// Daemon start: restore every volume in the metadata (Get per volume whose
    /// driver is known; a missing one is forgotten).
    pub async fn restore(&self) {
        let metas: Vec<(String, Meta)> = self.metadata().into_iter().collect();
        for (name, meta) in metas {
            if meta.driver.is_empty() {
                match self.get_volume(&name, "").await {
                    Ok(v) => {
                        self.set_named(&v, None);
                    }
                    Err(e) if e.kind == ErrorKind::NotFound => {
                        self.st().meta.remove(&name);
                    }
                    Err(_) => {}
                }
                continue;
            }
            match self.lookup_volume(&meta.driver, &name).await {
                Ok(Some(v)) => self.set_named(&v, None),
                Ok(None) => {
                    self.st().meta.remove(&name);
                }
                Err(e) => tracing::warn!("Error restoring volume {name}: {e}"),
            }
        }
    }
}
