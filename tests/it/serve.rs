//! `drydock serve`: the Engine API on a unix socket. Raw HTTP always; the
//! real docker CLI where it is installed, its plugin calls compared with
//! those the scenario runner's CLI model makes for the same commands.

use super::external;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::scenario::{parse, StepKind};
use drydock_volume::{Config, VolumePlugin};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `drydock serve` and the socket it printed.
pub(super) struct Served {
    child: Child,
    pub(super) socket: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `drydock serve` listening on `hosts`, its plugin directories and
/// trace in `dir`; the `DOCKER_HOST` it printed.
fn start_serve(dir: &Path, hosts: &[String]) -> (Child, String) {
    start_serve_with(dir, hosts, &[])
}

/// [`start_serve`] with more options.
fn start_serve_with(dir: &Path, hosts: &[String], options: &[&str]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drydock"));
    cmd.arg("serve").args(options);
    for host in hosts {
        cmd.arg("-H").arg(host);
    }
    let mut child = cmd
        .arg("--plugins-dir")
        .arg(dir.join("run"))
        .arg("--spec-dir")
        .arg(dir.join("etc"))
        .arg("--trace")
        .arg(dir.join("trace.jsonl"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let host = line
        .trim()
        .strip_prefix("export DOCKER_HOST=")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (child, host)
}

pub(super) fn serve(dir: &Path) -> Served {
    let unix = format!("unix://{}", dir.join("d.sock").display());
    let (child, host) = start_serve(dir, &[unix]);
    let socket = host
        .strip_prefix("unix://")
        .unwrap_or_else(|| panic!("not a unix socket: {host}"))
        .into();
    Served { child, socket }
}

/// A child process killed when the test ends, however it ends.
pub(super) struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A reference plugin (`drydock plugin KIND`) named `name`, listening in
/// `dir/run`, its state in `dir/state-NAME`; ready when this returns.
pub(super) fn reference_plugin(dir: &Path, kind: &str, name: &str) -> Reaped {
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let socket = dir.join(format!("run/{name}.sock"));
    let child = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(["plugin", kind, "--name", name, "--state-dir"])
        .arg(dir.join(format!("state-{name}")))
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let plugin = Reaped(child);
    wait_for(&socket);
    plugin
}

/// `drydock serve` with the reference volume plugin `dryvol` in its plugin
/// directory.
fn serve_with_volume_plugin(dir: &Path) -> (Reaped, Served) {
    let plugin = reference_plugin(dir, "volume", "dryvol");
    let served = serve(dir);
    wait_for(&served.socket);
    (plugin, served)
}

/// One raw HTTP/1.1 request (connection closed after it): status line,
/// headers and body as text.
fn raw(socket: &Path, request: &str) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn raw_requests_get_dockerd_s_answers_and_sigterm_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    wait_for(&served.socket);
    let ping = raw(
        &served.socket,
        "HEAD /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(ping.starts_with("HTTP/1.1 200 OK\r\n"), "{ping}");
    assert!(
        ping.to_ascii_lowercase().contains("api-version: 1.41"),
        "{ping}"
    );
    let list = raw(
        &served.socket,
        "GET /v1.41/volumes HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(
        list.ends_with("{\"Volumes\":[],\"Warnings\":null}\n"),
        "{list}"
    );
    let body = "{\"Name\":";
    let bad = raw(
        &served.socket,
        &format!(
            "POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    assert!(bad.ends_with("{\"message\":\"unexpected EOF\"}\n"), "{bad}");

    // SIGTERM: the daemon stops, the socket goes, the trace has every request.
    let mut served = served;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(served.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!served.socket.exists());
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    let requests: Vec<(String, u64)> = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| {
            let api = v.get("api")?;
            Some((api["uri"].as_str()?.to_owned(), api["status"].as_u64()?))
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("/_ping".to_owned(), 200),
            ("/v1.41/volumes".to_owned(), 200),
            ("/v1.41/volumes/create".to_owned(), 400)
        ]
    );
}

/// The commands both clients run.
const COMMANDS: &[&str] = &[
    "docker volume create -d dryvol v1",
    "docker run --rm -v v1:/data bb:latest true",
    "docker run -d --name c1 -v v1:/data bb:latest sleep 30",
    "docker stop c1",
    "docker rm c1",
    "docker volume rm v1",
];

/// `(method, volume name)` of VolumeDriver calls.
type Calls = Vec<(String, String)>;

/// `(method, volume name)` of each VolumeDriver call in trace records.
fn volume_calls(records: impl Iterator<Item = Value>) -> Calls {
    records
        .filter(|r| {
            r["method"]
                .as_str()
                .is_some_and(|m| m.starts_with("VolumeDriver."))
        })
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["request"]["Name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Runs `lines` through the scenario runner's CLI model, in-process, on a
/// daemon in `dir` with the reference volume plugin `dryvol`; `after` sees
/// the daemon after each line. Every line must succeed.
pub(super) fn in_process(dir: &Path, lines: &[&str], mut after: impl FnMut(&Engine)) -> Engine {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = Engine::new(EngineConfig::in_dir(dir, 1));
        let mut config = Config::new(dir.join("state"));
        config.durability = drydock_volume::Durability::Buffered;
        engine
            .registry()
            .register_in_process("dryvol", VolumePlugin::open(config).unwrap().plugin());
        engine.record_api();
        for line in lines {
            let s = parse("t", format!("{line}\n").as_bytes()).unwrap();
            let StepKind::Action(a) = &s.steps[0].kind else {
                unreachable!()
            };
            let out = drydock_engine::docker_cli::docker(&engine, &a.command).await;
            assert_eq!(out.error, None, "{line}");
            after(&engine);
        }
        engine
    })
}

/// The same commands through the scenario runner's CLI model, in-process.
fn in_process_calls(dir: &Path) -> Calls {
    let engine = in_process(dir, COMMANDS, |_| {});
    volume_calls(
        engine
            .trace()
            .snapshot()
            .iter()
            .map(|r| serde_json::json!({"method": r.method, "request": r.request_json()})),
    )
}

#[test]
fn the_docker_cli_drives_a_plugin_through_serve_as_drydock_run_does() {
    let test = "serve::the_docker_cli_drives_a_plugin_through_serve_as_drydock_run_does";
    let Some(docker) = external::require(test, &["docker"], "apt-get install docker.io (the CLI)")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (plugin, served) = serve_with_volume_plugin(dir.path());
    let host = format!("unix://{}", served.socket.display());
    for line in COMMANDS {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = Command::new(&docker)
            .env("DOCKER_HOST", &host)
            .env("DOCKER_CONFIG", dir.path().join("docker-config"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(served);
    drop(plugin);
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    let served_calls = volume_calls(
        trace
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
    );
    let expected = in_process_calls(&dir.path().join("in-process"));
    assert!(!expected.is_empty());
    assert_eq!(served_calls, expected);
}

/// Runs a docker-py `script` (its first argument: the daemon's address)
/// against `drydock serve` with the reference volume plugin `dryvol`: the
/// lines it printed and the VolumeDriver calls made, or `None` when python3
/// or the docker SDK is missing (the test is then skipped).
fn docker_py(test: &str, script: &str) -> Option<(Vec<String>, Calls)> {
    let python = external::require(test, &["python3"], "apt-get install python3")?;
    if !Command::new(&python)
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success())
    {
        external::skip(
            test,
            "the python docker SDK",
            "pip install docker, or apt-get install python3-docker",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (plugin, served) = serve_with_volume_plugin(dir.path());
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(format!("unix://{}", served.socket.display()))
        .output()
        .unwrap();
    drop(served);
    drop(plugin);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    let calls = volume_calls(
        trace
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
    );
    Some((stdout.lines().map(str::to_owned).collect(), calls))
}

#[test]
fn docker_py_manages_a_plugin_s_volumes_through_serve() {
    let script = r#"
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1], version="auto")
assert client.ping()
print(client.version()["ApiVersion"])
volume = client.volumes.create(name="pyv", driver="dryvol", labels={"team": "a"})
print(volume.name, volume.attrs["Driver"], volume.attrs["Labels"])
print([v.name for v in client.volumes.list(filters={"driver": "dryvol"})])
client.volumes.get("pyv").remove()
try:
    client.volumes.get("pyv")
except docker.errors.NotFound as e:
    print("gone:", e.explanation)
"#;
    let Some((lines, calls)) = docker_py(
        "serve::docker_py_manages_a_plugin_s_volumes_through_serve",
        script,
    ) else {
        return;
    };
    assert_eq!(
        lines,
        [
            "1.41",
            "pyv dryvol {'team': 'a'}",
            "['pyv']",
            "gone: get pyv: no such volume",
        ]
    );
    assert!(
        calls.contains(&("VolumeDriver.Create".into(), "pyv".into())),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("VolumeDriver.Remove".into(), "pyv".into())),
        "{calls:?}"
    );
}

#[test]
fn several_listeners_serve_the_same_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let (child, host) = start_serve(
        dir.path(),
        &[
            "tcp://127.0.0.1:0".into(),
            format!("unix://{}", socket.display()),
        ],
    );
    let served = Served {
        child,
        socket: socket.clone(),
    };
    let addr = host
        .strip_prefix("tcp://")
        .unwrap_or_else(|| panic!("the first -H is TCP: {host}"))
        .to_owned();
    wait_for(&socket);
    // A volume made over TCP is listed over the unix socket: one daemon.
    let body = "{\"Name\":\"over-tcp\"}";
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        tcp,
        "POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut created = String::new();
    tcp.read_to_string(&mut created).unwrap();
    assert!(created.starts_with("HTTP/1.1 201 Created\r\n"), "{created}");
    let list = raw(
        &socket,
        "GET /v1.41/volumes HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(list.contains("\"Name\":\"over-tcp\""), "{list}");
    drop(served);
}

#[test]
fn docker_py_runs_a_container_on_a_plugin_s_volume_through_serve() {
    let script = r#"
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1], version="auto")
client.volumes.create(name="pyv", driver="dryvol")
out = client.containers.run("bb:latest", "true", volumes={"pyv": {"bind": "/data", "mode": "rw"}}, remove=True)
print("output:", repr(out))
c = client.containers.run("bb:latest", ["sleep", "30"], detach=True, name="pyc", volumes=["pyv:/data"])
c.reload()
print(c.name, c.status, [(m["Name"], m["Destination"], m["Driver"]) for m in c.attrs["Mounts"]])
c.stop()
c.reload()
print(c.status, c.attrs["State"]["ExitCode"])
c.remove()
print([x.name for x in client.containers.list(all=True)])
# A volume the container creates, its driver and options named by the mount
# (what compose and docker-py's Mount send; checked against a real dockerd
# with the docker CLI's --mount volume-driver=…,volume-opt=…,volume-label=…).
m = docker.types.Mount("/data", "pyv2", driver_config=docker.types.DriverConfig("dryvol", {"mode": "0755"}), labels={"k": "v"})
client.containers.run("bb:latest", "true", mounts=[m], remove=True)
v = client.volumes.get("pyv2")
print(v.attrs["Driver"], v.attrs["Labels"], v.attrs["Options"])
"#;
    let Some((lines, calls)) = docker_py(
        "serve::docker_py_runs_a_container_on_a_plugin_s_volume_through_serve",
        script,
    ) else {
        return;
    };
    assert_eq!(
        lines,
        [
            "output: b''",
            "pyc running [('pyv', '/data', 'dryvol')]",
            "exited 143",
            "[]",
            "dryvol {'k': 'v'} {'mode': '0755'}",
        ]
    );
    // Three containers, each mounted and unmounted once.
    let count = |m: &str| calls.iter().filter(|(method, _)| method == m).count();
    assert_eq!(
        (count("VolumeDriver.Mount"), count("VolumeDriver.Unmount")),
        (3, 3),
        "{calls:?}"
    );
}

/// A POST with a JSON body (connection closed after it).
fn post(socket: &Path, path: &str, body: &str) -> String {
    raw(
        socket,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn get(socket: &Path, path: &str) -> String {
    raw(
        socket,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

/// The VolumeDriver calls in a trace file, as `method name`.
fn traced_volume_calls(trace: &Path) -> Vec<String> {
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| {
            v["method"]
                .as_str()
                .is_some_and(|m| m.starts_with("VolumeDriver."))
        })
        .map(|v| {
            format!(
                "{} {}",
                v["method"].as_str().unwrap(),
                v["request"]["Name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_daemon_started_on_its_data_root_restores_what_the_last_one_left() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data-root");
    let root_arg = root.to_str().unwrap().to_owned();
    let _plugin = reference_plugin(dir.path(), "volume", "dryvol");
    let unix = format!("unix://{}", dir.path().join("d.sock").display());
    let socket = dir.path().join("d.sock");

    // The first daemon: a plugin volume, a container using it, running;
    // then it dies without stopping anything (SIGKILL).
    let (mut first, _) = start_serve_with(
        dir.path(),
        std::slice::from_ref(&unix),
        &["--data-root", &root_arg],
    );
    wait_for(&socket);
    let created = post(
        &socket,
        "/v1.41/volumes/create",
        r#"{"Name":"v1","Driver":"dryvol"}"#,
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let created = post(
        &socket,
        "/v1.41/containers/create?name=c1",
        r#"{"Image":"bb:latest","Cmd":["sleep","9"],"HostConfig":{"Binds":["v1:/data"]}}"#,
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let started = post(&socket, "/v1.41/containers/c1/start", "");
    assert!(started.starts_with("HTTP/1.1 204"), "{started}");
    first.kill().unwrap();
    first.wait().unwrap();
    let _ = std::fs::remove_file(&socket);

    // The second finds them: a Get for the stored volume and one for the
    // container's mount point at start-up, the container stopped.
    let (second, _) = start_serve_with(
        dir.path(),
        std::slice::from_ref(&unix),
        &["--data-root", &root_arg],
    );
    let mut second = Served {
        child: second,
        socket: socket.clone(),
    };
    wait_for(&socket);
    let listed = get(&socket, "/v1.41/containers/json?all=1");
    assert!(listed.contains(r#""Names":["/c1"]"#), "{listed}");
    assert!(listed.contains(r#""State":"exited""#), "{listed}");
    let volume = get(&socket, "/v1.41/volumes/v1");
    assert!(volume.starts_with("HTTP/1.1 200"), "{volume}");
    assert!(volume.contains(r#""Driver":"dryvol""#), "{volume}");
    // (The trace file starts again with each daemon.)
    let calls = traced_volume_calls(&dir.path().join("trace.jsonl"));
    assert_eq!(calls[0], "VolumeDriver.Capabilities ", "{calls:?}");
    assert_eq!(
        calls[1..3],
        ["VolumeDriver.Get v1", "VolumeDriver.Get v1"],
        "restore: a Get per stored volume, then per mount point: {calls:?}"
    );
    // New IDs do not repeat the first daemon's.
    let again = post(
        &socket,
        "/v1.41/containers/create",
        r#"{"Image":"bb:latest","Cmd":["true"]}"#,
    );
    assert!(again.starts_with("HTTP/1.1 201"), "{again}");
    let listed = get(&socket, "/v1.41/containers/json?all=1");
    assert_eq!(listed.matches(r#""Id":"#).count(), 2, "{listed}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(second.child.wait().unwrap().success());

    // A state file that is not one: the daemon does not start, and says
    // which file and where.
    let state = root.join("drydock-state.json");
    let saved = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &saved[..saved.len() / 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(["serve", "-H", &unix, "--data-root", &root_arg])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:1:", state.display())), "{err}");
    assert!(err.contains("not a drydock state file"), "{err}");
}

/// `(plugin, method, request)` of each plugin call, per command of a
/// recording (`{"mark": …}` lines start a command), mount and endpoint IDs
/// masked; per plugin, in the order it was called (which plugin a daemon
/// activates first is not fixed).
type CallsByStep =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>;

fn calls_by_step(
    lines: impl Iterator<Item = Value>,
    mark_of: impl Fn(&Value) -> Option<String>,
) -> CallsByStep {
    let mut out = CallsByStep::new();
    let mut step = String::from("#boot");
    for line in lines {
        if let Some(mark) = mark_of(&line) {
            step = mark;
            continue;
        }
        let (Some(plugin), Some(method)) = (line["plugin"].as_str(), line["method"].as_str())
        else {
            continue;
        };
        let mut request = line["request"].clone();
        if let Some(obj) = request.as_object_mut() {
            for key in ["ID", "EndpointID"] {
                if obj.contains_key(key) {
                    obj.insert(key.into(), Value::from("<id>"));
                }
            }
        }
        out.entry(step.clone())
            .or_default()
            .entry(plugin.to_owned())
            .or_default()
            .push(format!("{method} {request}"));
    }
    out
}

#[test]
fn docker_compose_up_and_down_make_the_plugin_calls_a_real_dockerd_made() {
    let test = "serve::docker_compose_up_and_down_make_the_plugin_calls_a_real_dockerd_made";
    let Some(compose) = external::require(
        test,
        &["docker-compose"],
        "apt-get install docker-compose (or pip install docker-compose)",
    ) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("tests/golden/compose/compose.yml");
    let dir = tempfile::tempdir().unwrap();
    let _plugins = [
        reference_plugin(dir.path(), "volume", "dryvol"),
        reference_plugin(dir.path(), "ipam", "dryipam"),
    ];
    let served = serve(dir.path());
    wait_for(&served.socket);
    let trace = dir.path().join("trace.jsonl");
    let mut marks = Vec::new();
    for step in ["up", "down"] {
        // The trace so far, to tell this command's calls from the last's.
        marks.push((
            std::fs::read_to_string(&trace).unwrap().lines().count(),
            step,
        ));
        let args: &[&str] = if step == "up" {
            &["up", "-d"]
        } else {
            &["down", "-v"]
        };
        let out = Command::new(&compose)
            .args(["-p", "ddc", "-f"])
            .arg(&file)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", served.socket.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker-compose {step}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<Value> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (at, step) in &marks {
            if *at == i {
                lines.push(serde_json::json!({"mark": step}));
            }
        }
        lines.push(serde_json::from_str(line).unwrap());
    }
    let ours = calls_by_step(lines.into_iter(), |v| v["mark"].as_str().map(str::to_owned));
    let recorded =
        std::fs::read_to_string(root.join("tests/golden/compose/real-dockerd.jsonl")).unwrap();
    let real = calls_by_step(
        recorded
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        |v| v["mark"].as_str().map(str::to_owned),
    );
    for step in ["up", "down"] {
        let volume_calls = real
            .get(step)
            .and_then(|p| p.get("dryvol"))
            .map_or(0, Vec::len);
        assert!(
            volume_calls >= 3,
            "the recording has dryvol calls for {step}: {real:?}"
        );
        assert_eq!(
            ours.get(step),
            real.get(step),
            "plugin calls of docker-compose {step}: drydock serve (left) vs the real dockerd recording (right)"
        );
    }
}

/// Sends `bytes` on a fresh connection, closes the writing side, and reads
/// what comes back (within a few seconds): the status line, if any.
fn send_raw(socket: &Path, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn bad_clients_get_clear_answers_and_the_daemon_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    wait_for(&served.socket);
    let socket = &served.socket;
    let created = post(socket, "/v1.41/volumes/create", r#"{"Name":"keep"}"#);
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");

    // A body shorter than announced, the client gone: no answer owed, nothing changes.
    send_raw(
        socket,
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Name\":\"half",
    );
    // A body over drydock's limit: refused with a message saying so.
    let huge = raw(
        socket,
        "POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n",
    );
    assert!(huge.starts_with("HTTP/1.1 400"), "{huge}");
    assert!(
        huge.contains("bodies are read whole, up to 64 MiB"),
        "{huge}"
    );
    // Not HTTP at all.
    assert!(send_raw(socket, b"NOT HTTP\r\n\r\n").starts_with("HTTP/1.1 400"));
    // Endpoints: unknown, wrong method, not simulated.
    assert!(get(socket, "/v1.41/nope").contains("page not found"));
    let wrong = raw(
        socket,
        "PUT /v1.41/volumes HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
    let exec = post(socket, "/v1.41/containers/x/exec", "{}");
    assert!(exec.starts_with("HTTP/1.1 501"), "{exec}");
    assert!(exec.contains("drydock does not simulate exec"), "{exec}");

    // Random damage to valid requests: every connection is answered or
    // closed, and the daemon keeps serving with its state intact.
    let seeds: &[&[u8]] = &[
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"Name\":\"fz1\"}",
        b"POST /v1.41/containers/create?name=fz HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"Image\":\"bb:latest\",\"Cmd\":[\"true\"]}    ",
        b"GET /v1.41/volumes?filters=%7B%22name%22%3A%7B%22k%22%3Atrue%7D%7D HTTP/1.1\r\nHost: d\r\n\r\n",
        b"DELETE /v1.41/containers/fz?force=1 HTTP/1.1\r\nHost: d\r\n\r\n",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let started = Instant::now();
    let (mut answered, mut closed) = (0, 0);
    let rounds = 300;
    for _ in 0..rounds {
        let mut bytes = seeds[(next() % seeds.len() as u64) as usize].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[at] = (next() % 256) as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, (next() % 256) as u8),
            }
        }
        if send_raw(socket, &bytes).starts_with("HTTP/1.1 ") {
            answered += 1;
        } else {
            closed += 1;
        }
    }
    eprintln!(
        "raw HTTP fuzz over the socket: {rounds} damaged requests in {:.2?}: {answered} answered, {closed} closed without an answer",
        started.elapsed()
    );
    let keep = get(socket, "/v1.41/volumes/keep");
    assert!(keep.starts_with("HTTP/1.1 200"), "{keep}");
    let ping = get(socket, "/_ping");
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
}
