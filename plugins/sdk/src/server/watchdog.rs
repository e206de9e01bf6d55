//! What ends a plugin process when its handlers will not: a registry of the
//! calls each server is running, the files servers own, and the thread that
//! watches for SIGTERM and SIGINT.
//!
//! Everything here works without the tokio runtime on purpose. A handler that
//! spins or blocks a worker thread (a synchronous `mount`, a hung NFS call, a
//! pathological regex) can occupy every worker; then no timer, no signal
//! stream and no task of that runtime runs again. The signal thread is an
//! ordinary OS thread, so the shutdown deadline still passes and the process
//! still exits.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use slab::Slab;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// After the shutdown timeout, how long the signal thread leaves the server
/// itself to finish (when a worker is free it logs and cleans up on its own,
/// and the process ends normally) before it ends the process.
pub(super) const WATCHDOG_MARGIN: Duration = Duration::from_millis(500);

/// Locks a registry mutex. Nothing panics while holding one (no user code runs
/// under them), but a poisoned lock must not stop the process from exiting.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Servers and their calls.

/// Every server started in this process that may still matter: while it
/// serves, and afterwards for as long as one of its calls is still running.
static SERVERS: Mutex<Vec<Weak<Tracked>>> = Mutex::new(Vec::new());

/// One server, as shutdown sees it.
pub(super) struct Tracked {
    /// Where it listens (socket path or address), for the log.
    label: String,
    /// Its [`ServeConfig`](super::ServeConfig) shutdown timeout.
    timeout: Option<Duration>,
    /// Cleared when `serve` returns (or its future is dropped).
    serving: AtomicBool,
    /// Calls whose handler is running.
    calls: Mutex<Slab<Call>>,
}

struct Call {
    /// The request's URI; its path names the method (`/VolumeDriver.Mount`).
    uri: http::Uri,
    started: Instant,
}

/// A call that was still running when shutdown gave up waiting.
#[derive(Debug)]
pub(super) struct Running {
    /// The method, e.g. `VolumeDriver.Mount`.
    pub method: String,
    /// How long its handler had run.
    pub elapsed: Duration,
}

impl Tracked {
    /// Registers a server that starts serving now.
    pub(super) fn register(label: String, timeout: Option<Duration>) -> Arc<Tracked> {
        let tracked = Arc::new(Tracked {
            label,
            timeout,
            serving: AtomicBool::new(true),
            calls: Mutex::new(Slab::new()),
        });
        let mut servers = lock(&SERVERS);
        servers.retain(|s| s.strong_count() > 0);
        servers.push(Arc::downgrade(&tracked));
        tracked
    }

    /// Where the server listens.
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// Marks the server as no longer serving (its calls may still run).
    pub(super) fn stopped(&self) {
        self.serving.store(false, Ordering::Release);
    }

    /// Records a call whose handler starts now; returns its key.
    pub(super) fn call_started(&self, uri: &http::Uri) -> usize {
        lock(&self.calls).insert(Call {
            uri: uri.clone(),
            started: Instant::now(),
        })
    }

    /// Forgets a call whose handler has finished (or was dropped).
    pub(super) fn call_ended(&self, key: usize) {
        lock(&self.calls).try_remove(key);
    }

    /// The calls running now, longest-running first.
    pub(super) fn running(&self) -> Vec<Running> {
        let now = Instant::now();
        let mut calls: Vec<Running> = lock(&self.calls)
            .iter()
            .map(|(_, c)| Running {
                method: c.uri.path().trim_start_matches('/').to_owned(),
                elapsed: now.saturating_duration_since(c.started),
            })
            .collect();
        calls.sort_by_key(|c| std::cmp::Reverse(c.elapsed));
        calls
    }

    /// Whether the process still depends on this server: it serves, or one
    /// of its calls is running.
    fn busy(&self) -> bool {
        self.serving.load(Ordering::Acquire) || !lock(&self.calls).is_empty()
    }
}

/// The servers the process still depends on.
fn busy_servers() -> Vec<Arc<Tracked>> {
    lock(&SERVERS)
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|s| s.busy())
        .collect()
}

// ---------------------------------------------------------------------------
// Files servers create (unix sockets, `.spec` and `.json` files).

/// Every file a server created and has not removed yet.
static FILES: Mutex<Vec<Weak<OwnedFile>>> = Mutex::new(Vec::new());

/// A file this process created, and how to recognise it.
struct OwnedFile {
    path: PathBuf,
    identity: Identity,
}

/// How to recognise our file: a socket by its inode, a spec file by its text.
pub(super) enum Identity {
    Inode(u64, u64),
    Content(String),
}

impl OwnedFile {
    /// Removes the file unless something else has replaced it meanwhile.
    fn remove(&self) {
        let ours = match &self.identity {
            Identity::Inode(dev, ino) => std::fs::symlink_metadata(&self.path)
                .is_ok_and(|m| m.dev() == *dev && m.ino() == *ino),
            Identity::Content(text) => {
                std::fs::read_to_string(&self.path).is_ok_and(|t| t == *text)
            }
        };
        if ours {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove")
                }
            }
        }
    }
}

/// Removes a file this server created when dropped — on shutdown, and also if
/// the serving future is cancelled — unless something else has replaced it.
/// Until then the file is registered, so that the signal thread can remove it
/// if it has to end the process.
pub(super) struct RemoveOnDrop(Arc<OwnedFile>);

impl RemoveOnDrop {
    pub(super) fn new(path: PathBuf, identity: Identity) -> Self {
        let file = Arc::new(OwnedFile { path, identity });
        let mut files = lock(&FILES);
        files.retain(|f| f.strong_count() > 0);
        files.push(Arc::downgrade(&file));
        RemoveOnDrop(file)
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        self.0.remove();
    }
}

fn remove_all_files() {
    let files: Vec<Arc<OwnedFile>> = lock(&FILES).iter().filter_map(Weak::upgrade).collect();
    for file in files {
        file.remove();
    }
}

// ---------------------------------------------------------------------------
// The signal thread.

/// Set by the signal thread; what every [`shutdown_signal`](super::shutdown_signal)
/// future waits for.
pub(super) struct Signalled {
    fired: AtomicBool,
    notify: Notify,
}

impl Signalled {
    /// Resolves once SIGTERM or SIGINT has arrived.
    pub(super) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a signal in between still wakes us.
            notified.as_mut().enable();
            if self.fired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

static SIGNALLED: OnceLock<Signalled> = OnceLock::new();
static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Starts the signal thread (once per process) and returns what it sets.
pub(super) fn install() -> io::Result<&'static Signalled> {
    let mut installed = lock(&INSTALLED);
    let signalled = SIGNALLED.get_or_init(|| Signalled {
        fired: AtomicBool::new(false),
        notify: Notify::new(),
    });
    if !*installed {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        std::thread::Builder::new()
            .name("drydock-sdk-shutdown".into())
            .spawn(move || {
                let mut received = signals.forever();
                if let Some(signal) = received.next() {
                    shut_down(signalled, signal);
                }
                // Later signals change nothing; keep them from being lost
                // to a default action while the servers finish.
                for _ in received {}
            })?;
        *installed = true;
    }
    Ok(signalled)
}

/// Runs on the signal thread after the first SIGTERM or SIGINT: tells every
/// shutdown future, then — if servers are still running when their shutdown
/// timeout has passed — logs what is abandoned, removes the servers' files
/// and ends the process with [`EXIT_ABANDONED`](super::EXIT_ABANDONED).
fn shut_down(signalled: &Signalled, signal: i32) {
    let name = if signal == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    tracing::info!("{name} received, shutting down");
    signalled.fired.store(true, Ordering::Release);
    signalled.notify.notify_waiters();

    // The bound is the longest timeout among the servers running now; a
    // server configured to wait for ever is taken at its word.
    let servers = busy_servers();
    if servers.is_empty() {
        return;
    }
    let Some(limit) = servers
        .iter()
        .map(|s| s.timeout)
        .try_fold(Duration::ZERO, |max, t| t.map(|t| max.max(t)))
    else {
        tracing::info!(
            "a server has no shutdown timeout; waiting for its calls as long as they take"
        );
        return;
    };
    std::thread::sleep(limit + WATCHDOG_MARGIN);

    let stuck = busy_servers();
    if stuck.is_empty() {
        return; // everything finished; the process is ending by itself
    }
    for server in &stuck {
        for call in server.running() {
            tracing::error!(
                server = server.label(),
                method = call.method,
                running_for = ?call.elapsed,
                "shutdown timeout passed: abandoning a call whose handler is still running"
            );
        }
    }
    remove_all_files();
    tracing::error!(
        timeout = ?limit,
        status = super::EXIT_ABANDONED,
        "{name}: handlers still running after the shutdown timeout; exiting"
    );
    std::process::exit(super::EXIT_ABANDONED);
}
