//! The plugin registry: lazy activation, cached for the engine's lifetime
//! (`pkg/plugins/plugins.go` and the v1 fallback of `plugin/store.go`,
//! protocol.md §2).
//!
//! * `get(name, protocol)`: a cached plugin is returned at once; otherwise it is
//!   discovered (retrying ≈15 s while it cannot be found), stored, and activated
//!   with `POST /Plugin.Activate`. A failed activation removes the entry, so the
//!   next `get` repeats discovery and activation; a successful one is never
//!   repeated, even if the plugin process restarts.
//! * Concurrent getters of one plugin share one activation.
//! * After an activation, the handlers registered for each implemented protocol
//!   run once (libnetwork registers IPAM and network drivers this way).
//! * Plugins may also be registered in-process: they are found before anything
//!   on disk and take part in [`Registry::scan`].
//! * Every plugin's transport is wrapped in the engine's fault layer
//!   ([`crate::plugins::fault`]), which does nothing until a fault is set.

use crate::clock::{backoff, should_abort, Clock};
use crate::plugins::client::{CallError, CallOptions, PluginClient};
use crate::plugins::discovery::{Discovered, DiscoveryError, PluginRoots, SourceKind};
use crate::plugins::fault::{FaultTransport, Faults};
use crate::plugins::transport::{AddressError, Http, InProcess, Transport};
use crate::trace::Trace;
use drydock_sdk::wire::plugin::{ActivateResponse, Protocol};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Where a registered plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Found on disk.
    Disk(Discovered),
    /// Registered in-process (no socket).
    InProcess,
}

impl Origin {
    /// The address dockerd would show for it.
    pub fn addr(&self) -> String {
        match self {
            Origin::Disk(d) => d.addr.clone(),
            Origin::InProcess => "in-process".into(),
        }
    }
}

/// An activated plugin.
#[derive(Debug)]
pub struct PluginHandle {
    /// Where it came from.
    pub origin: Origin,
    /// Its client (shared by every subsystem, as dockerd shares one).
    pub client: PluginClient,
    /// What it announced in `Plugin.Activate`.
    pub manifest: ActivateResponse,
}

impl PluginHandle {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.client.name()
    }
}

/// Errors of [`Registry::get`], worded as dockerd's plugin getter words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// Not found on disk after the retries (API status 404).
    #[error("plugin {0:?} not found")]
    NotFound(String),
    /// Any other failure of the v1 plugin path (API status 500).
    #[error("legacy plugin: {0}")]
    Legacy(String),
}

/// The text of dockerd's `ErrNotImplements`.
pub const NOT_IMPLEMENTS: &str = "Plugin does not implement the requested driver";

/// A callback run once per plugin after its activation, for one protocol.
pub type Handler =
    Arc<dyn Fn(Arc<PluginHandle>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Entry {
    origin: Origin,
    client: PluginClient,
    activation: tokio::sync::OnceCell<Result<Arc<PluginHandle>, CallError>>,
}

/// The engine's plugin registry.
pub struct Registry {
    roots: PluginRoots,
    clock: Arc<dyn Clock>,
    trace: Trace,
    cache: Mutex<HashMap<String, Arc<Entry>>>,
    in_process: Mutex<BTreeMap<String, Arc<dyn Transport>>>,
    handlers: Mutex<HashMap<Protocol, Handler>>,
    /// Injected misbehaviour, applied to every plugin's transport.
    faults: Faults,
    /// Which missing plugins may still appear from outside the engine, so
    /// that a lookup's retries must give them real time (see
    /// [`Registry::set_may_appear`]).
    may_appear: Mutex<Option<MayAppear>>,
}

/// Says whether a plugin that discovery cannot find yet may still appear
/// from outside the engine (a process drydock does not control is yet to
/// create its socket or spec file).
pub type MayAppear = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `roots`, waiting on `clock`, recording RPCs in `trace`.
    pub fn new(roots: PluginRoots, clock: Arc<dyn Clock>, trace: Trace) -> Self {
        Registry {
            faults: Faults::new(clock.clone()),
            roots,
            clock,
            trace,
            cache: Mutex::new(HashMap::new()),
            in_process: Mutex::new(BTreeMap::new()),
            handlers: Mutex::new(HashMap::new()),
            may_appear: Mutex::new(None),
        }
    }

    /// On a virtual clock, a lookup's retries (1, 2, 4, 8 s, as dockerd's
    /// `loadWithRetry`) cost no real time, so a plugin whose socket appears
    /// two seconds later would never be found. For the names `f` accepts, each
    /// retry also waits that long in real time, so such a plugin is found as
    /// dockerd would find it; the rest stay instant. A real clock always waits.
    pub fn set_may_appear(&self, f: MayAppear) {
        *self.may_appear.lock().expect("registry lock") = Some(f);
    }

    fn may_appear(&self, name: &str) -> bool {
        let f = self.may_appear.lock().expect("registry lock").clone();
        f.is_some_and(|f| f(name))
    }

    /// The discovery roots.
    pub fn roots(&self) -> &PluginRoots {
        &self.roots
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The RPC trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The faults injected into every plugin's requests and discovery.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Makes `plugin` reachable in-process under `name`, ahead of the disk.
    pub fn register_in_process(&self, name: &str, plugin: drydock_sdk::Plugin) {
        self.register_transport(name, Arc::new(InProcess::new(name, plugin)));
    }

    /// Makes a custom transport reachable under `name` (used for fault injection
    /// and tests), ahead of the disk.
    pub fn register_transport(&self, name: &str, transport: Arc<dyn Transport>) {
        self.in_process
            .lock()
            .expect("registry lock")
            .insert(name.to_owned(), transport);
    }

    /// Sets the handler run after activation of plugins implementing `protocol`.
    pub fn on_activate(&self, protocol: Protocol, handler: Handler) {
        self.handlers
            .lock()
            .expect("registry lock")
            .insert(protocol, handler);
    }

    /// Forgets every cached plugin, as a daemon restart does.
    pub fn reset(&self) {
        self.cache.lock().expect("registry lock").clear();
    }

    /// Every plugin name discovery can see: in-process ones first, then dockerd's
    /// `Scan` order (sockets, then spec directories). Duplicates are kept.
    pub fn scan(&self) -> Result<Vec<String>, DiscoveryError> {
        let mut names: Vec<String> = self
            .in_process
            .lock()
            .expect("registry lock")
            .keys()
            .cloned()
            .collect();
        names.extend(self.roots.scan()?);
        names.retain(|n| !self.faults.is_hidden(n));
        Ok(names)
    }

    fn locate(&self, name: &str) -> Result<(Origin, Arc<dyn Transport>), LocateError> {
        if self.faults.is_hidden(name) {
            return Err(LocateError::Discovery(DiscoveryError::NotFound(
                name.to_owned(),
            )));
        }
        if let Some(t) = self.in_process.lock().expect("registry lock").get(name) {
            return Ok((Origin::InProcess, t.clone()));
        }
        let found = self.roots.find(name).map_err(LocateError::Discovery)?;
        let transport = Http::for_plugin(&found).map_err(LocateError::Address)?;
        Ok((Origin::Disk(found), Arc::new(transport)))
    }

    /// Finds (retrying like dockerd's `loadWithRetry` when `retry`) and caches an entry.
    async fn load(&self, name: &str, retry: bool) -> Result<Arc<Entry>, GetError> {
        let start = self.clock.elapsed();
        let mut retries = 0;
        let (origin, transport) = loop {
            match self.locate(name) {
                Ok(found) => break found,
                Err(e) => {
                    let wait = backoff(retries);
                    if !retry || should_abort(self.clock.elapsed().saturating_sub(start), wait) {
                        return Err(e.into_get_error(name));
                    }
                    tracing::warn!(
                        "Unable to locate plugin: {name}, retrying in {}s",
                        wait.as_secs()
                    );
                    retries += 1;
                    if self.clock.is_virtual()
                        && !self.faults.is_hidden(name)
                        && self.may_appear(name)
                    {
                        // The plugin's process needs the real time dockerd
                        // would give it; virtual time advances by as much.
                        // (A `#@ fault P late` socket is the engine's own
                        // fiction and appears in virtual time.)
                        tokio::time::sleep(wait).await;
                    }
                    self.clock.sleep(wait).await;
                }
            }
        };
        let transport: Arc<dyn Transport> =
            Arc::new(FaultTransport::new(name, transport, self.faults.clone()));
        let entry = Arc::new(Entry {
            client: PluginClient::new(
                name,
                transport,
                self.clock.clone(),
                Some(self.trace.clone()),
            ),
            origin,
            activation: tokio::sync::OnceCell::new(),
        });
        let mut cache = self.cache.lock().expect("registry lock");
        // Another getter may have stored one meanwhile: share it.
        Ok(cache.entry(name.to_owned()).or_insert(entry).clone())
    }

    async fn activate(&self, name: &str, entry: Arc<Entry>) -> Result<Arc<PluginHandle>, GetError> {
        let result = entry
            .activation
            .get_or_init(|| async {
                let manifest: ActivateResponse = entry
                    .client
                    .call::<(), _>("Plugin.Activate", None, CallOptions::default())
                    .await?;
                let handle = Arc::new(PluginHandle {
                    origin: entry.origin.clone(),
                    client: entry.client.clone(),
                    manifest,
                });
                self.run_handlers(&handle).await;
                Ok(handle)
            })
            .await
            .clone();
        match result {
            Ok(handle) => Ok(handle),
            Err(e) => {
                // Only failed activations are retried: drop the entry.
                let mut cache = self.cache.lock().expect("registry lock");
                if cache.get(name).is_some_and(|cur| Arc::ptr_eq(cur, &entry)) {
                    cache.remove(name);
                }
                Err(GetError::Legacy(e.to_string()))
            }
        }
    }

    async fn run_handlers(&self, handle: &Arc<PluginHandle>) {
        let handlers: Vec<Handler> = {
            let map = self.handlers.lock().expect("registry lock");
            handle
                .manifest
                .implements
                .iter()
                .flatten()
                .filter_map(|s| Protocol::from_implements(s))
                .filter_map(|p| map.get(&p).cloned())
                .collect()
        };
        for handler in handlers {
            handler(handle.clone()).await;
        }
    }

    async fn get_any(&self, name: &str, retry: bool) -> Result<Arc<PluginHandle>, GetError> {
        let cached = self.cache.lock().expect("registry lock").get(name).cloned();
        let entry = match cached {
            Some(e) => e,
            None => self.load(name, retry).await?,
        };
        self.activate(name, entry).await
    }

    /// dockerd's plugin getter for a v1 plugin: the activated plugin `name`
    /// implementing `protocol`.
    pub async fn get(&self, name: &str, protocol: Protocol) -> Result<Arc<PluginHandle>, GetError> {
        let handle = self.get_any(name, true).await?;
        if handle.manifest.implements(protocol) {
            Ok(handle)
        } else {
            Err(GetError::Legacy(NOT_IMPLEMENTS.into()))
        }
    }

    /// Activates `name` without caring what it implements (for listings).
    pub async fn activate_any(&self, name: &str) -> Result<Arc<PluginHandle>, GetError> {
        self.get_any(name, true).await
    }

    /// dockerd's `GetAll(kind)`: scans, activates every plugin found (in
    /// parallel, without discovery retries) and returns those implementing
    /// `protocol`, in scan order. Plugins that fail to activate are skipped.
    pub async fn get_all(&self, protocol: Protocol) -> Result<Vec<Arc<PluginHandle>>, GetError> {
        let names = self.scan().map_err(|e| GetError::Legacy(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<String> = names
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .collect();
        let results =
            futures_util::future::join_all(unique.iter().map(|n| self.get_any(n, false))).await;
        Ok(results
            .into_iter()
            .filter_map(Result::ok)
            .filter(|h| h.manifest.implements(protocol))
            .collect())
    }

    /// The cached (activated) plugins, for listings.
    pub fn cached_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cache
            .lock()
            .expect("registry lock")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}

enum LocateError {
    Discovery(DiscoveryError),
    Address(AddressError),
}

impl LocateError {
    fn into_get_error(self, name: &str) -> GetError {
        match self {
            LocateError::Discovery(e) if e.is_not_found() => GetError::NotFound(name.to_owned()),
            LocateError::Discovery(e) => GetError::Legacy(e.to_string()),
            LocateError::Address(e) => GetError::Legacy(e.to_string()),
        }
    }
}

/// A listing row, or the plugin name and why it could not be resolved.
pub type ListItem = Result<Listing, (String, String)>;

/// A listing row for `drydock discover`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Plugin name.
    pub name: String,
    /// Discovery form.
    pub kind: Option<SourceKind>,
    /// File that matched.
    pub path: Option<std::path::PathBuf>,
    /// Address.
    pub addr: String,
    /// Transport kind (`unix`, `tcp`, `https`, `in-process`), or the address error.
    pub transport: Result<&'static str, String>,
}

impl Registry {
    /// Resolves every scanned name without activating it.
    pub fn list(&self) -> Result<Vec<ListItem>, DiscoveryError> {
        let names = self.scan()?;
        let mut seen = std::collections::HashSet::new();
        Ok(names
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .map(|name| match self.locate(&name) {
                Ok((Origin::InProcess, t)) => Ok(Listing {
                    name,
                    kind: None,
                    path: None,
                    addr: "in-process".into(),
                    transport: Ok(t.kind()),
                }),
                Ok((Origin::Disk(d), t)) => Ok(Listing {
                    name,
                    kind: Some(d.kind),
                    path: Some(d.path),
                    addr: d.addr,
                    transport: Ok(t.kind()),
                }),
                Err(LocateError::Discovery(e)) => Err((name, e.describe())),
                Err(LocateError::Address(e)) => match self.roots.find(&name) {
                    Ok(d) => Ok(Listing {
                        name,
                        kind: Some(d.kind),
                        path: Some(d.path),
                        addr: d.addr,
                        transport: Err(e.to_string()),
                    }),
                    Err(de) => Err((name, de.describe())),
                },
            })
            .collect())
    }
}
