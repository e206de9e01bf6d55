//! Starting the plugins a scenario asks for (`#@ plugin NAME KIND|exec …`),
//! each in its own temporary directories so scenarios can run in parallel.
//!
//! A plugin is reached either in-process (no socket: the SDK's request path is
//! called directly) or over a unix socket in the scenario's private plugin
//! directory, exactly where dockerd would look for it.

use anyhow::{bail, Context};
use bytes::Bytes;
use drydock_engine::plugins::registry::Registry;
use drydock_engine::plugins::transport::{
    BoxFuture, InProcess, RawReply, Transport, TransportError,
};
use drydock_engine::scenario::{KeyValue, PluginDirective, PluginLaunch};
use drydock_sdk::Plugin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How runner-started plugins are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// A unix socket per plugin, as with a real dockerd.
    Unix,
    /// No socket: the plugin's handlers are called directly (fast).
    InProcess,
}

/// The scenario's private directories.
#[derive(Debug)]
pub struct Dirs {
    /// Where sockets go (the scenario's `/run/docker/plugins`).
    pub sockets: PathBuf,
    /// Where spec files go (the scenario's `/etc/docker/plugins`).
    pub specs: PathBuf,
    /// Where plugin state and volume roots go.
    pub state: PathBuf,
}

/// An in-process transport whose plugin can be replaced, so that
/// `#@ restart-plugin` works while dockerd keeps its cached client.
#[derive(Debug)]
struct Swappable {
    inner: RwLock<InProcess>,
}

impl Transport for Swappable {
    fn round_trip<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<RawReply, TransportError>> {
        let inner = self.inner.read().expect("transport lock").clone();
        Box::pin(async move { inner.round_trip(method, body).await })
    }
    fn url(&self, method: &str) -> String {
        self.inner.read().expect("transport lock").url(method)
    }
    fn kind(&self) -> &'static str {
        "in-process"
    }
}

/// A plugin the runner started.
enum Running {
    InProcess(Arc<Swappable>),
    Server {
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    },
    Process(tokio::process::Child),
    /// Killed by `#@ fault NAME kill`: nothing runs; a unix plugin's socket
    /// file stays behind, as after SIGKILL.
    Killed,
}

/// The plugins of one scenario run.
pub struct Launcher {
    transport: TransportKind,
    dirs: Dirs,
    plugins: BTreeMap<String, (PluginDirective, Running)>,
    base: Option<PathBuf>,
}

impl Launcher {
    /// A launcher placing plugins in `dirs`.
    pub fn new(transport: TransportKind, dirs: Dirs) -> Self {
        Launcher {
            transport,
            dirs,
            plugins: BTreeMap::new(),
            base: None,
        }
    }

    /// Resolves relative file settings (`policy=`, `audit=`) against `dir`,
    /// the scenario file's directory, so a scenario can name its policy
    /// beside it.
    pub fn base_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.base = dir;
        self
    }

    fn resolve(&self, settings: &[KeyValue]) -> Vec<KeyValue> {
        settings
            .iter()
            .map(|s| match (&self.base, s.key.as_str()) {
                (Some(base), "policy" | "audit") if Path::new(&s.value).is_relative() => KeyValue {
                    key: s.key.clone(),
                    value: base.join(&s.value).display().to_string(),
                },
                _ => s.clone(),
            })
            .collect()
    }

    /// Starts the plugin of a `#@ plugin` directive and makes it discoverable.
    pub async fn start(
        &mut self,
        directive: &PluginDirective,
        registry: &Registry,
    ) -> anyhow::Result<()> {
        if self.plugins.contains_key(&directive.name) {
            bail!(
                "plugin {} is already running in this scenario",
                directive.name
            );
        }
        let running = self.launch(directive, registry).await?;
        self.plugins
            .insert(directive.name.clone(), (directive.clone(), running));
        Ok(())
    }

    async fn launch(&self, d: &PluginDirective, registry: &Registry) -> anyhow::Result<Running> {
        let name = &d.name;
        let state_dir = self.dirs.state.join(name);
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let socket = self.dirs.sockets.join(format!("{name}.sock"));
        match &d.launch {
            PluginLaunch::Builtin { kind, settings } => {
                let plugin = builtin(name, kind, &self.resolve(settings), &state_dir)?;
                match self.transport {
                    TransportKind::InProcess => {
                        let t = Arc::new(Swappable {
                            inner: RwLock::new(InProcess::new(name.as_str(), plugin)),
                        });
                        registry.register_transport(name, t.clone());
                        Ok(Running::InProcess(t))
                    }
                    TransportKind::Unix => {
                        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                        let path = socket.clone();
                        let task = tokio::spawn(async move {
                            let shutdown = async {
                                let _ = stopped.await;
                            };
                            if let Err(e) =
                                drydock_sdk::server::serve_unix(plugin, &path, shutdown).await
                            {
                                tracing::error!("plugin server on {}: {e}", path.display());
                            }
                        });
                        wait_for_socket(&socket, Duration::from_secs(10)).await?;
                        Ok(Running::Server { stop, task })
                    }
                }
            }
            PluginLaunch::Exec { argv } => {
                let subst = |a: &str| {
                    a.replace("{socket}", &socket.display().to_string())
                        .replace("{state_dir}", &state_dir.display().to_string())
                        .replace("{spec_dir}", &self.dirs.specs.display().to_string())
                        .replace("{name}", name)
                };
                let argv: Vec<String> = argv.iter().map(|a| subst(a)).collect();
                let child = tokio::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .kill_on_drop(true)
                    .stdin(std::process::Stdio::null())
                    // Its stdout goes to drydock's stderr: drydock's stdout
                    // carries the report (a JSON or JUnit document).
                    .stdout(stderr_for_child())
                    .spawn()
                    .with_context(|| format!("cannot start plugin {name}: {}", argv.join(" ")))?;
                // The plugin is ready once its socket or spec file exists.
                let spec = self.dirs.specs.join(format!("{name}.spec"));
                let json = self.dirs.specs.join(format!("{name}.json"));
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while !(spec.exists()
                    || json.exists()
                    || (is_socket(&socket)
                        && tokio::net::UnixStream::connect(&socket).await.is_ok()))
                {
                    if tokio::time::Instant::now() > deadline {
                        bail!(
                            "plugin {name} ({}) did not create {} or a spec file in {} within 10 s",
                            argv.join(" "),
                            socket.display(),
                            self.dirs.specs.display()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(Running::Process(child))
            }
        }
    }

    /// Where plugin `name`'s socket is (or would be).
    pub fn socket_path(&self, name: &str) -> PathBuf {
        self.dirs.sockets.join(format!("{name}.sock"))
    }

    /// `#@ fault NAME kill`: stops the plugin as SIGKILL would. A unix
    /// plugin's socket file is left behind with no listener; an in-process
    /// one keeps its (now unanswered) transport. `#@ restart-plugin` starts
    /// it again.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let Some((directive, running)) = self.plugins.remove(name) else {
            bail!("no plugin named {name} was started by this scenario (#@ plugin {name} …)");
        };
        let keep = match running {
            Running::InProcess(t) => Running::InProcess(t),
            Running::Server { stop, task } => {
                let _ = stop.send(());
                let _ = task.await;
                // The graceful stop removed the socket; SIGKILL would not have.
                stale_socket(&self.socket_path(name))?;
                Running::Killed
            }
            Running::Process(mut child) => {
                let _ = child.kill().await;
                Running::Killed
            }
            Running::Killed => Running::Killed,
        };
        self.plugins.insert(name.to_owned(), (directive, keep));
        Ok(())
    }

    /// `#@ fault NAME stale-socket`: a socket file with no listener.
    pub fn stale_socket(&self, name: &str) -> anyhow::Result<()> {
        stale_socket(&self.socket_path(name))
    }

    /// `#@ restart-plugin NAME`: stop the plugin and start it again on the same
    /// state; dockerd's cached client is not told.
    pub async fn restart(&mut self, name: &str, registry: &Registry) -> anyhow::Result<()> {
        let Some((directive, running)) = self.plugins.remove(name) else {
            bail!("no plugin named {name} was started by this scenario (#@ plugin {name} …)");
        };
        match running {
            Running::Killed => {}
            Running::InProcess(t) => {
                let PluginLaunch::Builtin { kind, settings } = &directive.launch else {
                    unreachable!("in-process plugins are built in");
                };
                let plugin = builtin(
                    name,
                    kind,
                    &self.resolve(settings),
                    &self.dirs.state.join(name),
                )?;
                *t.inner.write().expect("transport lock") = InProcess::new(name, plugin);
                self.plugins
                    .insert(name.to_owned(), (directive, Running::InProcess(t)));
                return Ok(());
            }
            Running::Server { stop, task } => {
                let _ = stop.send(());
                let _ = task.await;
            }
            Running::Process(mut child) => {
                let _ = child.kill().await;
            }
        }
        self.start(&directive, registry).await
    }

    /// Stops every plugin.
    pub async fn stop_all(&mut self) {
        for (_, (_, running)) in std::mem::take(&mut self.plugins) {
            match running {
                Running::InProcess(_) => {}
                Running::Server { stop, task } => {
                    let _ = stop.send(());
                    let _ = task.await;
                }
                Running::Process(mut child) => {
                    let _ = child.kill().await;
                }
                Running::Killed => {}
            }
        }
    }
}

/// Leaves a unix socket file at `path` that nobody listens on: connecting
/// to it is refused (`ECONNREFUSED`), as with a crashed plugin's socket.
fn stale_socket(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if is_socket(path) {
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("cannot create the stale socket {}", path.display()))?;
    drop(listener);
    Ok(())
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Waits until the plugin accepts connections: the socket file exists between
/// `bind` and `listen`, so existence alone is not readiness.
async fn wait_for_socket(path: &Path, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if is_socket(path) && tokio::net::UnixStream::connect(path).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "plugin socket {} did not accept connections within {limit:?}",
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The plugin kinds drydock knows by name.
pub const BUILTIN_KINDS: &[&str] = &[
    "volume",
    "authz",
    "ipam",
    "golden-volume",
    "golden-authz",
    "golden-ipam",
    "golden-network",
    "broken-* (test kinds that each break one invariant: testplugins_broken::KINDS)",
];

/// Builds a built-in plugin of `kind` with its `settings`.
pub fn builtin(
    name: &str,
    kind: &str,
    settings: &[KeyValue],
    state_dir: &Path,
) -> anyhow::Result<Plugin> {
    let get = |key: &str| {
        settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.value.clone())
    };
    let allowed: &[&str] = match kind {
        "volume" => &["root", "durability"],
        // `pool=CIDR`, repeatable: the ranges default pools are carved from.
        "ipam" => &["pool"],
        "authz" => &["policy", "audit"],
        "golden-authz" => crate::testplugins::GOLDEN_AUTHZ_SETTINGS,
        _ => &[],
    };
    if let Some(bad) = settings.iter().find(|s| !allowed.contains(&s.key.as_str())) {
        bail!(
            "plugin {name}: unknown setting {:?} for kind {kind} (supported: {})",
            bad.key,
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        );
    }
    match kind {
        "volume" => {
            let config = volume_config(name, state_dir, get("root"), get("durability"))?;
            let plugin = drydock_volume::VolumePlugin::open(config)
                .with_context(|| format!("cannot open volume plugin {name}"))?;
            Ok(plugin.plugin())
        }
        "golden-volume" => Ok(
            Plugin::new().volume(crate::testplugins::GoldenVolume::persistent(
                name,
                state_dir.join("golden-volume.json"),
            )),
        ),
        "ipam" => {
            let mut config = drydock_ipam::Config::new(state_dir.join("state"));
            let ranges: Vec<String> = settings
                .iter()
                .filter(|s| s.key == "pool")
                .map(|s| s.value.clone())
                .collect();
            if !ranges.is_empty() {
                config.ranges = parse_ranges(&ranges).with_context(|| format!("plugin {name}"))?;
            }
            let plugin = drydock_ipam::IpamPlugin::open(config)
                .with_context(|| format!("cannot open ipam plugin {name}"))?;
            Ok(plugin.plugin())
        }
        "golden-ipam" => Ok(Plugin::new().ipam(crate::testplugins_ipam::GoldenIpam::new())),
        "golden-network" => Ok(Plugin::new().network(crate::testplugins_ipam::GoldenNetwork)),
        broken if crate::testplugins_broken::builtin(broken).is_some() => {
            Ok(crate::testplugins_broken::builtin(broken).expect("a broken kind"))
        }
        "authz" => {
            let Some(policy) = get("policy") else {
                bail!("plugin {name}: kind authz needs policy=FILE");
            };
            let mut plugin = drydock_authz::PolicyPlugin::load(&policy)
                .with_context(|| format!("plugin {name}"))?;
            if let Some(audit) = get("audit") {
                plugin = plugin
                    .with_audit(Path::new(&audit))
                    .with_context(|| format!("plugin {name}: cannot open audit log {audit}"))?;
            }
            Ok(Plugin::new().authz(plugin))
        }
        "golden-authz" => Ok(Plugin::new().authz(crate::testplugins::GoldenAuthz::new(
            settings
                .iter()
                .map(|s| (s.key.clone(), s.value.clone()))
                .collect(),
        ))),
        other => bail!(
            "plugin {name}: unknown kind {other:?} (supported: {}; or `exec -- CMD…`)",
            BUILTIN_KINDS.join(", ")
        ),
    }
}

/// Parses `pool=` ranges (CIDR blocks) for the reference IPAM plugin.
pub fn parse_ranges(ranges: &[String]) -> anyhow::Result<Vec<drydock_ipam::net::Cidr>> {
    ranges
        .iter()
        .map(|r| {
            drydock_ipam::net::Cidr::parse(r)
                .with_context(|| format!("pool {r:?} is not a CIDR block such as 10.200.0.0/16"))
        })
        .collect()
}

/// The reference volume plugin's configuration for `#@ plugin NAME volume
/// [root=DIR] [durability=buffered|fsync]`. A scenario's state directory is
/// thrown away after the run, so the default is `buffered`: no fsync, while
/// every change still reaches the kernel before the answer (it survives the
/// plugin being killed, as `#@ fault NAME kill` does). `durability=fsync`
/// measures what `drydock plugin volume` pays by default.
pub fn volume_config(
    name: &str,
    state_dir: &Path,
    root: Option<String>,
    durability: Option<String>,
) -> anyhow::Result<drydock_volume::Config> {
    let mut config = drydock_volume::Config::new(state_dir.join("state"));
    config.root = root
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("volumes"));
    config.durability = match durability.as_deref() {
        None | Some("buffered") => drydock_volume::Durability::Buffered,
        Some("fsync") => drydock_volume::Durability::Fsync,
        Some(other) => bail!(
            "plugin {name}: durability={other:?} is not a durability (supported: buffered, fsync)"
        ),
    };
    Ok(config)
}

/// drydock's stderr, for a child's stdout (or nothing if it cannot be shared).
fn stderr_for_child() -> std::process::Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => std::process::Stdio::from(fd),
        Err(_) => std::process::Stdio::null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_volume::Durability;

    #[test]
    fn scenario_volume_plugins_are_buffered_unless_asked_for_fsync() {
        let dir = Path::new("/tmp/state");
        let config = |d: Option<&str>| volume_config("v", dir, None, d.map(str::to_owned));
        assert_eq!(config(None).unwrap().durability, Durability::Buffered);
        assert_eq!(
            config(Some("buffered")).unwrap().durability,
            Durability::Buffered
        );
        assert_eq!(config(Some("fsync")).unwrap().durability, Durability::Fsync);
        let err = config(Some("never")).unwrap_err().to_string();
        assert_eq!(
            err,
            "plugin v: durability=\"never\" is not a durability (supported: buffered, fsync)"
        );
        assert_eq!(config(None).unwrap().root, dir.join("volumes"));
    }
}
