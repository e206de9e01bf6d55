//! SIGTERM ends a plugin process even when a handler never yields (issue 22):
//! one that spins on the CPU, one blocked in a synchronous sleep.
//!
//! Each test runs a plugin in a child process — this test binary again,
//! running the same test with `DRYDOCK_SDK_STUCK_CHILD` set — sends it one
//! call that gets stuck, then SIGTERM, and checks that the process exits
//! with `EXIT_ABANDONED` within its 1 s shutdown timeout plus a margin, that
//! the socket file is gone and that the log names the abandoned call.

use drydock_sdk::server::{shutdown_signal, ServeConfig, EXIT_ABANDONED};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::{AuthzPlugin, Plugin, PluginError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set in the child: how its handler gets stuck (`spin` or `sleep`).
const CHILD_MODE: &str = "DRYDOCK_SDK_STUCK_CHILD";
/// Set in the child: where it serves.
const CHILD_SOCKET: &str = "DRYDOCK_SDK_STUCK_SOCKET";
/// The child's shutdown timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How much longer than the timeout the exit may take: generous, since the
/// machine may be busy; what matters is that it comes at all.
const MARGIN: Duration = Duration::from_secs(15);
/// What the handler prints once it is stuck.
const ENTERED: &str = "stuck handler entered";

#[test]
fn sigterm_ends_a_plugin_whose_handler_spins_on_every_worker() {
    stopped_by_sigterm(
        "spin",
        "stuck::sigterm_ends_a_plugin_whose_handler_spins_on_every_worker",
    );
}

#[test]
fn sigterm_ends_a_plugin_whose_handler_blocks_in_a_synchronous_sleep() {
    stopped_by_sigterm(
        "sleep",
        "stuck::sigterm_ends_a_plugin_whose_handler_blocks_in_a_synchronous_sleep",
    );
}

/// A plugin whose AuthZReq never returns.
struct Stuck(&'static str);

impl AuthzPlugin for Stuck {
    async fn authz_req(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        eprintln!("{ENTERED}");
        match self.0 {
            "spin" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            _ => {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(AuthzResponse::allow())
            }
        }
    }

    async fn authz_res(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
}

/// The child: serves until SIGTERM. It never gets past `block_on` on its
/// own — the spinning handler holds the only worker, and a runtime with a
/// sleeping worker cannot be dropped — so the SDK's signal thread must end it.
fn child(mode: &'static str, socket: &Path) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
    // `spin`: one worker, and the handler takes it, so no tokio timer fires.
    // `sleep`: two workers; the server gives up on its own after the timeout
    // and returns, but the runtime then waits for the sleeping worker.
    let runtime = match mode {
        "spin" => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    }
    .enable_all()
    .build()
    .expect("runtime");
    runtime.block_on(async {
        let shutdown = shutdown_signal().expect("signal handlers");
        ServeConfig::default()
            .shutdown_timeout(Some(TIMEOUT))
            .serve_unix(Plugin::new().authz(Stuck(mode)), socket, shutdown)
            .await
            .expect("serve_unix");
        eprintln!("serve_unix returned");
    });
    drop(runtime);
    eprintln!("runtime dropped");
}

fn stopped_by_sigterm(mode: &'static str, test_name: &str) {
    if let Ok(mode) = std::env::var(CHILD_MODE) {
        let socket = PathBuf::from(std::env::var_os(CHILD_SOCKET).expect("socket path"));
        let mode = if mode == "spin" { "spin" } else { "sleep" };
        child(mode, &socket);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("stuck.sock");
    let mut proc = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env(CHILD_SOCKET, &socket)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child plugin");
    let stderr = proc.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let wait_for = |what: &str, log: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let found = line.contains(what);
            log.push(line);
            if found {
                return;
            }
        }
        panic!("the child never printed {what:?}:\n{}", log.join("\n"));
    };
    wait_for("serving plugin on unix socket", &mut log);

    // One call, whose handler gets stuck; the answer never comes.
    let mut conn = UnixStream::connect(&socket).expect("connect");
    conn.write_all(b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: \r\nContent-Length: 2\r\n\r\n{}")
        .expect("send the call");
    wait_for(ENTERED, &mut log);

    let signalled = Instant::now();
    // A system call, not kill(1): a fresh machine may lack procps.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(proc.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    let status = loop {
        if let Some(status) = proc.try_wait().expect("wait for the child") {
            break status;
        }
        if signalled.elapsed() > TIMEOUT + MARGIN {
            let _ = proc.kill();
            let _ = proc.wait();
            panic!(
                "still running {:?} after SIGTERM (shutdown timeout {TIMEOUT:?}):\n{}",
                signalled.elapsed(),
                log.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The rest of the log (the reader ends when the child's stderr closes).
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert_eq!(
        status.code(),
        Some(EXIT_ABANDONED),
        "exit status; log:\n{log}"
    );
    assert!(
        !socket.exists(),
        "the socket file is left behind; log:\n{log}"
    );
    let abandoned = log
        .lines()
        .find(|l| l.contains("abandoning a call"))
        .unwrap_or_else(|| panic!("no abandoned call logged:\n{log}"));
    assert!(
        abandoned.contains("AuthZPlugin.AuthZReq") && abandoned.contains("running_for"),
        "the log line names the call and its running time: {abandoned}"
    );
    assert!(!log.contains("runtime dropped"), "{log}");
}
