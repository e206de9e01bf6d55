//! `drydock plugin authz` as a real process: refused with a bad policy,
//! judging dockerd's requests through the simulated chain over its unix
//! socket, reloading on SIGHUP (keeping the old policy when the new one is
//! invalid), and writing its audit log.

use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions};
use drydock_engine::scenario::parse;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DRYDOCK: &str = env!("CARGO_BIN_EXE_drydock");

#[tokio::test]
async fn an_invalid_policy_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.policy");
    std::fs::write(&policy, "default deny\nallow path=/_ping colour=red\n").unwrap();
    let out = tokio::process::Command::new(DRYDOCK)
        .args(["plugin", "authz", "--name", "g", "--policy"])
        .arg(&policy)
        .arg("--socket")
        .arg(dir.path().join("g.sock"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: unknown condition `colour`"),
        "{stderr}"
    );
    assert!(!dir.path().join("g.sock").exists());
}

/// One plugin RPC over the socket, as raw HTTP/1.1.
async fn rpc(socket: &Path, method: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "POST /AuthZPlugin.{method} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (_, json) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {response}"))
}

async fn wait_for(path: &Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} did not appear", path.display());
}

#[tokio::test]
async fn sighup_reloads_and_an_invalid_reload_keeps_the_old_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.policy");
    let socket = dir.path().join("g.sock");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(&policy, "allow path=/_ping\n").unwrap();
    let mut child = tokio::process::Command::new(DRYDOCK)
        .args(["plugin", "authz", "--name", "g", "--policy"])
        .arg(&policy)
        .arg("--socket")
        .arg(&socket)
        .arg("--audit")
        .arg(&audit)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(&socket).await;
    let ping = serde_json::json!({"RequestMethod": "HEAD", "RequestUri": "/_ping"});
    assert_eq!(rpc(&socket, "AuthZReq", &ping).await["Allow"], true);

    let hup = |pid: u32| super::hardening::proc::signal_pid(pid, "HUP");
    let pid = child.id().unwrap();
    std::fs::write(&policy, "deny path=/_ping \"closed\"\n").unwrap();
    hup(pid);
    let mut verdict = Value::Null;
    for _ in 0..200 {
        verdict = rpc(&socket, "AuthZReq", &ping).await;
        if verdict["Allow"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(verdict["Msg"], "closed");

    // An invalid file: the plugin says why and keeps denying as before.
    std::fs::write(&policy, "deny path=/_ping\nallw\n").unwrap();
    hup(pid);
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("keeping the previous policy") {
        let n = tokio::time::timeout(Duration::from_secs(10), stderr.read(&mut buf))
            .await
            .expect("the reload error is reported")
            .unwrap();
        assert!(n > 0, "stderr closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("line 2"), "{seen}");
    assert_eq!(rpc(&socket, "AuthZReq", &ping).await["Msg"], "closed");

    child.kill().await.unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "allow");
    assert_eq!(lines.last().unwrap()["verdict"], "deny");
}

/// The plugin process behind the engine's chain, found on its socket the
/// way dockerd finds plugins.
#[tokio::test]
async fn the_plugin_process_guards_the_simulated_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let policy: PathBuf = dir.path().join("team.policy");
    std::fs::write(
        &policy,
        "allow method=HEAD,GET\n\
         deny path=/volumes/create body.Driver!=local \"local volumes only\"\n\
         allow path=/volumes/**\n",
    )
    .unwrap();
    let text = format!(
        "# the reference authz plugin as a process\n\
         #@ plugin guard exec -- {DRYDOCK} plugin authz --name {{name}} --policy {} --socket {{socket}}\n\
         #@ authorization-plugin guard\n\
         docker volume create v1\n\
         #> output \"v1\"\n\
         docker volume create -d other v2\n\
         #> error \"authorization denied by plugin guard: local volumes only\"\n\
         docker ps\n\
         #> output ~ \"CONTAINER ID\"\n\
         docker rm nothing\n\
         #> error \"authorization denied by plugin guard: no rule of the authorization policy allows this request\"\n",
        policy.display()
    );
    let scenario = parse("process.scenario", text.as_bytes()).unwrap();
    let report = run_scenario(
        &scenario,
        &RunOptions {
            transport: TransportKind::Unix,
            keep_going: true,
            ..Default::default()
        },
    )
    .await;
    assert!(
        report.passed(),
        "{:?}\n{}",
        report.failures,
        drydock::run::report::text(&report)
    );
}
