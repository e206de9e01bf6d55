//! `drydock plugin KIND …` as a real child process: start, wait until it
//! accepts connections, kill (SIGKILL) or signal (SIGTERM/SIGINT).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a plugin may take to start listening (a debug build, a busy CI box).
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `drydock plugin` process.
pub struct PluginProc {
    pub child: Child,
    pub socket: PathBuf,
    /// Where its stderr goes, for failure messages.
    pub log: PathBuf,
}

/// The command line of `drydock plugin KIND --name NAME ARGS…`, stderr to `log`.
pub fn command(kind: &str, name: &str, args: &[&str], log: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drydock"));
    cmd.args(["plugin", kind, "--name", name])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("open the plugin log"),
        );
    cmd
}

impl PluginProc {
    /// Starts `drydock plugin KIND --name NAME --socket SOCKET ARGS…` and
    /// waits until the socket accepts connections.
    pub fn start(kind: &str, socket: &Path, args: &[&str], log: &Path) -> PluginProc {
        let mut cmd = command(kind, "p", args, log);
        cmd.arg("--socket").arg(socket);
        let child = cmd.spawn().expect("spawn drydock plugin");
        let mut p = PluginProc {
            child,
            socket: socket.to_owned(),
            log: log.to_owned(),
        };
        p.wait_ready();
        p
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "plugin exited with {status} before listening:\n{}",
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "plugin not listening after {START_LIMIT:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`TERM`, `INT`, …) and waits up to `limit` for the exit.
    pub fn signal_and_wait(mut self, signal: &str, limit: Duration) -> ExitStatus {
        send_signal(&self.child, signal);
        wait_exit(&mut self.child, limit)
    }
}

impl Drop for PluginProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (`"TERM"`, `"KILL"`, `"HUP"`, …) to process `pid`. A
/// system call, not kill(1): a fresh machine may lack procps.
pub fn signal_pid(pid: u32, signal: &str) {
    use nix::sys::signal::{kill, Signal};
    let sig: Signal = format!("SIG{signal}")
        .parse()
        .unwrap_or_else(|_| panic!("no signal named {signal}"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
    kill(pid, sig).unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
}

/// Sends `signal` to `child` (see [`signal_pid`]).
pub fn send_signal(child: &Child, signal: &str) {
    signal_pid(child.id(), signal);
}

/// Waits for `child` to exit, panicking after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for plugin") {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "plugin still running {limit:?} after the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
