//! `drydock record` and `drydock replay`. drydock's own engine plays dockerd:
//! it finds the recording proxy in its plugin directory, and each docker
//! command is appended to the commands file before it runs, as the shell
//! function of `drydock record --shell-function` does. The recordings are then
//! replayed against the same plugin (identical) and a changed one (the first
//! differing call reported).

use drydock::record::commands::Commands;
use drydock::record::replay::{load, replay, Launch, ReplayOptions, ReplayReport};
use drydock::record::{bind, serve, Recorder, Upstream};
use drydock::run::launch::{builtin, TransportKind};
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{DockerCommand, StepKind};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Two containers share a volume: the session a broken plugin gets wrong.
const SESSION: &[&str] = &[
    "docker volume create -d p shared",
    "docker run -d --name c1 -v shared:/d bb:latest sleep 1000",
    "docker run -d --name c2 -v shared:/d bb:latest sleep 1000",
    "docker stop c1",
    "docker volume rm shared",
    "docker stop c2",
    "docker rm c1 c2",
    "docker volume rm shared",
];

/// A plugin of a built-in kind served on a unix socket, as the real plugin
/// behind the proxy.
struct Served {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(kind: &str, socket: &Path, state: &Path) -> Served {
        std::fs::create_dir_all(state).unwrap();
        let plugin = builtin("p", kind, &[], state).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.to_owned();
        let task = tokio::spawn(async move {
            drydock_sdk::server::serve_unix(plugin, &path, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        wait_for_socket(socket).await;
        Served {
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = (&mut self.task).await;
    }
}

async fn wait_for_socket(path: &Path) {
    for _ in 0..500 {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on {}", path.display());
}

/// A private directory layout for one recording.
struct Dirs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// dockerd's plugin directory, where the proxy listens.
    plugins: PathBuf,
    /// Where the real plugin listens.
    upstream: PathBuf,
    commands: PathBuf,
    out: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(root.join("specs")).unwrap();
    Dirs {
        upstream: root.join("real-p.sock"),
        commands: root.join("commands"),
        out: root.join("recording.jsonl"),
        plugins,
        root,
        _tmp: tmp,
    }
}

/// The simulated dockerd, looking for plugins where the proxy listens.
fn engine(d: &Dirs) -> Engine {
    Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: d.plugins.clone(),
            spec_dirs: vec![d.root.join("specs")],
        },
        clock: VirtualClock::new(),
        seed: 99,
    })
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A docker command line as the engine takes it.
fn command(line: &str) -> DockerCommand {
    let scenario = drydock_engine::scenario::parse("line", line.as_bytes()).unwrap();
    match &scenario.steps[0].kind {
        StepKind::Action(a) => a.command.clone(),
        StepKind::Directive(_) => panic!("not a docker command: {line}"),
    }
}

/// Runs each command as the shell function would: the line first, then the
/// error output and the status.
async fn drive(engine: &Engine, commands: &Path, lines: &[&str]) {
    for line in lines {
        append(commands, &format!("{line}\n"));
        let outcome = drydock_engine::docker_cli::docker(engine, &command(line)).await;
        let mut tail = String::new();
        if let Some(e) = &outcome.error {
            for l in e.lines() {
                tail.push_str(&format!("#err Error response from daemon: {l}\n"));
            }
        }
        let rc = if outcome.error.is_some() { 125 } else { 0 };
        append(commands, &format!("{tail}#rc {rc}\n"));
    }
}

/// Records `lines` through an in-process proxy in front of a `kind` plugin.
async fn record(kind: &str, lines: &[&str]) -> (Dirs, String) {
    let d = dirs();
    let real = Served::start(kind, &d.upstream, &d.root.join("state")).await;
    let recorder = Recorder::create("p", &d.out)
        .unwrap()
        .with_commands(Commands::open(&d.commands).unwrap());
    let listener = bind(&d.plugins.join("p.sock")).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(serve(
        listener,
        Upstream::parse(d.upstream.to_str().unwrap()).unwrap(),
        Arc::new(recorder),
        async {
            let _ = stopped.await;
        },
    ));
    let engine = engine(&d);
    drive(&engine, &d.commands, lines).await;
    let _ = stop.send(());
    proxy.await.unwrap();
    real.stop().await;
    let text = std::fs::read_to_string(&d.out).unwrap();
    (d, text)
}

fn options(launch: Launch, transport: TransportKind) -> ReplayOptions {
    ReplayOptions {
        plugin: "p".into(),
        launch,
        transport,
        plugins_dir: None,
        spec_dirs: Vec::new(),
        rewrites: Vec::new(),
    }
}

async fn replay_text(text: &str, opts: &ReplayOptions) -> ReplayReport {
    replay(&load(text).unwrap(), opts).await.unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[tokio::test]
async fn a_recorded_session_replays_identically() {
    let (_d, text) = record("golden-volume", SESSION).await;
    let recorded = lines(&text);
    // Every call line carries the command that caused it, its status and timing.
    let calls: Vec<&Value> = recorded
        .iter()
        .filter(|l| l.get("method").is_some())
        .collect();
    assert!(calls.len() > 10, "{text}");
    let mount = calls
        .iter()
        .find(|c| c["method"] == "VolumeDriver.Mount")
        .unwrap();
    assert_eq!(
        mount["command"],
        "docker run -d --name c1 -v shared:/d bb:latest sleep 1000"
    );
    assert_eq!(mount["status"], 200);
    assert_eq!(mount["request"]["Name"], "shared");
    assert!(mount["start"].as_str().unwrap().ends_with('Z'));
    assert!(mount["micros"].as_u64().is_some());
    // The first `volume rm` fails (in use); the outcome line says so.
    let failed = recorded
        .iter()
        .find(|l| l["outcome"]["ok"] == false)
        .unwrap();
    assert_eq!(failed["command"], "docker volume rm shared");
    assert_eq!(failed["step"], 5);

    for transport in [TransportKind::InProcess, TransportKind::Unix] {
        let opts = options(Launch::Kind("golden-volume".into(), Vec::new()), transport);
        let r = replay_text(&text, &opts).await;
        assert_eq!(r.difference, None, "{transport:?}\n{}", r.scenario);
        assert_eq!(r.expected.len(), SESSION.len());
        assert_eq!(r.calls("p"), calls.len());
    }
}

#[tokio::test]
async fn a_changed_plugin_is_reported_at_the_first_differing_call() {
    let (_d, text) = record("golden-volume", SESSION).await;
    // The broken plugin forgets every mount ID at the first Unmount; its
    // volumes live elsewhere, which the rewrite accounts for.
    let mut opts = options(
        Launch::Kind("broken-volume-unmount".into(), Vec::new()),
        TransportKind::InProcess,
    );
    opts.rewrites = vec![("/srv/plugin-data/vols-p".into(), "/srv/broken".into())];
    let r = replay_text(&text, &opts).await;
    let d = r.difference.expect("the broken plugin answers differently");
    // c1's stop already dropped c2's mount: the Get before `volume rm`
    // (step 5) shows no mounts where the real plugin still had c2's.
    assert_eq!(r.expected[d.step].command, "docker volume rm shared");
    assert_eq!(d.step, 4, "{d}");
    assert!(
        d.message
            .starts_with("VolumeDriver.Get response.Volume.Status.mounts: expected [\""),
        "{d}"
    );
    assert!(d.message.ends_with("got []"), "{d}");
    let (recorded, replayed) = &**d.calls.as_ref().unwrap();
    assert_eq!(recorded.method, "VolumeDriver.Get");
    assert_eq!(recorded.request, serde_json::json!({"Name": "shared"}));
    assert_eq!(replayed.request, recorded.request);
    // Without the rewrite the first difference is the first answer with a path.
    opts.rewrites.clear();
    let r = replay_text(&text, &opts).await;
    let d = r.difference.unwrap();
    assert_eq!(d.step, 1, "{d}");
    assert!(d.message.contains("Mountpoint"), "{d}");
    assert!(d.message.contains("/srv/broken/shared"), "{d}");
}

#[tokio::test]
async fn an_upstream_that_is_down_looks_like_a_dead_plugin_and_is_recorded() {
    let d = dirs();
    // Nothing listens upstream.
    let recorder = Arc::new(
        Recorder::create("p", &d.out)
            .unwrap()
            .with_commands(Commands::open(&d.commands).unwrap()),
    );
    let listener = bind(&d.plugins.join("p.sock")).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(serve(
        listener,
        Upstream::parse(d.upstream.to_str().unwrap()).unwrap(),
        recorder,
        async {
            let _ = stopped.await;
        },
    ));
    let engine = engine(&d);
    drive(&engine, &d.commands, &["docker volume create -d p v"]).await;
    let _ = stop.send(());
    proxy.await.unwrap();
    let recorded = lines(&std::fs::read_to_string(&d.out).unwrap());
    let calls: Vec<&Value> = recorded
        .iter()
        .filter(|l| l.get("method").is_some())
        .collect();
    // dockerd retried the activation, as it does for a plugin that is gone,
    // and every attempt is in the recording with the reason.
    assert!(calls.len() > 1, "{recorded:?}");
    for c in &calls {
        assert_eq!(c["method"], "Plugin.Activate");
        assert_eq!(c["status"], Value::Null);
        let e = c["error"].as_str().unwrap();
        assert!(e.contains("is down"), "{e}");
        assert!(e.contains(d.upstream.to_str().unwrap()), "{e}");
    }
    let outcome = recorded
        .iter()
        .find(|l| l.get("outcome").is_some())
        .unwrap();
    assert_eq!(outcome["outcome"]["ok"], false);
    let error = outcome["outcome"]["error"].as_str().unwrap();
    assert!(error.contains("Plugin.Activate"), "{error}");
}

/// `drydock record` as a process, for signals.
struct RecordProcess {
    child: std::process::Child,
}

impl RecordProcess {
    async fn start(d: &Dirs) -> RecordProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
            .args(["record", "--quiet", "--plugin", "p", "--upstream"])
            .arg(&d.upstream)
            .arg("--plugins-dir")
            .arg(&d.plugins)
            .arg("--out")
            .arg(&d.out)
            .arg("--commands")
            .arg(&d.commands)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_socket(&d.plugins.join("p.sock")).await;
        RecordProcess { child }
    }

    fn signal(&self, name: &str) {
        super::hardening::proc::signal_pid(self.child.id(), name);
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status, err)
    }
}

#[tokio::test]
async fn interrupted_or_killed_recordings_are_whole_json_lines() {
    let d = dirs();
    let real = Served::start("golden-volume", &d.upstream, &d.root.join("state")).await;
    let socket = d.plugins.join("p.sock");

    // SIGINT: the socket is removed and the recording is complete.
    let rec = RecordProcess::start(&d).await;
    let dockerd = engine(&d);
    drive(&dockerd, &d.commands, &SESSION[..3]).await;
    rec.signal("INT");
    let (status, stderr) = rec.wait();
    assert!(status.success(), "{stderr}");
    assert!(!socket.exists(), "the proxy's socket is left behind");
    let recorded = lines(&std::fs::read_to_string(&d.out).unwrap());
    assert!(stderr.contains(&format!(
        "{} call(s)",
        recorded
            .iter()
            .filter(|l| l.get("method").is_some())
            .count()
    )));
    let r = replay_text(
        &std::fs::read_to_string(&d.out).unwrap(),
        &options(
            Launch::Kind("golden-volume".into(), Vec::new()),
            TransportKind::InProcess,
        ),
    )
    .await;
    assert_eq!(r.difference, None);

    // SIGKILL while dockerd keeps calling: every line written is whole, and
    // the next recorder replaces the dead one's socket.
    std::fs::write(&d.commands, "").unwrap();
    let rec = RecordProcess::start(&d).await;
    // A command that causes no call is written all the same, without waiting
    // for a call or the end.
    append(&d.commands, "docker ps\n");
    let mut seen = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = std::fs::read_to_string(&d.out)
            .unwrap()
            .contains(r#""command":"docker ps""#);
        if seen {
            break;
        }
    }
    assert!(seen, "the command never reached the recording");
    let busy_engine = engine(&d);
    let busy = tokio::spawn(async move {
        drydock_engine::docker_cli::docker(&busy_engine, &command("docker volume create -d p v"))
            .await;
        let ls = command("docker volume ls");
        for _ in 0..1000 {
            drydock_engine::docker_cli::docker(&busy_engine, &ls).await;
        }
    });
    // Kill it mid-stream, once it has recorded a few calls.
    for _ in 0..1000 {
        let text = std::fs::read_to_string(&d.out).unwrap();
        if text.matches("VolumeDriver.List").count() > 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rec.signal("KILL");
    let _ = rec.wait();
    busy.abort();
    let text = std::fs::read_to_string(&d.out).unwrap();
    assert!(
        text.ends_with('\n'),
        "a line was cut: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let recorded = lines(&text);
    assert!(
        recorded
            .iter()
            .filter(|l| l["method"] == "VolumeDriver.List")
            .count()
            > 5,
        "{text}"
    );
    assert!(socket.exists(), "SIGKILL leaves the socket");
    let rec = RecordProcess::start(&d).await;
    rec.signal("TERM");
    let (status, stderr) = rec.wait();
    assert!(status.success(), "{stderr}");
    real.stop().await;
}

/// Sessions recorded with `drydock record` in front of the reference volume
/// plugin under a real dockerd 20.10 (docs/recording.md), replayed against
/// the same plugin with no Docker: the regression test a user gets.
#[tokio::test]
async fn real_dockerd_recordings_replay_identically_against_the_reference_plugin() {
    // Where the recorded plugin kept its volumes (`--root`).
    const RECORDED_ROOT: &str = "/tmp/rec/vols";
    for (file, commands, handshake_recorded) in [
        ("volume-reference.jsonl", 13, true),
        // Recorded on a dockerd that had activated the plugin already, with
        // `#@ restart-daemon` appended around a sandbox restart.
        ("volume-reference-restart.jsonl", 8, false),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/recordings")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("volumes");
        let mut opts = options(
            Launch::Kind("volume".into(), vec![format!("root={}", root.display())]),
            TransportKind::Unix,
        );
        opts.plugin = "dryvol".into();
        opts.rewrites = vec![(RECORDED_ROOT.into(), root.display().to_string())];
        let r = replay_text(&text, &opts).await;
        assert_eq!(r.difference, None, "{file}");
        assert_eq!(r.expected.len(), commands, "{file}");
        assert_eq!(
            r.notes.is_empty(),
            handshake_recorded,
            "{file}: {:?}",
            r.notes
        );
        // Without the rewrite the volume paths differ: the answers are compared.
        opts.rewrites.clear();
        let d = replay_text(&text, &opts).await.difference.unwrap();
        assert!(d.message.contains("Mountpoint"), "{file}: {d}");
    }
}

/// `drydock replay` as users run it: the verdict on stdout, the exit status.
#[test]
fn the_replay_command_exits_0_when_identical_and_1_at_a_difference() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings/volume-reference.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("volumes").display().to_string();
    let replay = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
            .arg("replay")
            .arg(&file)
            .args(["--plugin", "dryvol"])
            .args(args)
            .output()
            .unwrap()
    };
    let setting = format!("root={root}");
    let rewrite = format!("/tmp/rec/vols={root}");
    let out = replay(&[
        "--kind",
        "volume",
        "--setting",
        &setting,
        "--rewrite",
        &rewrite,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("IDENTICAL: 13 command(s), 41 recorded call(s) to dryvol made again")
    );

    // The recording plugin of tests/golden does not report volume options:
    // the first difference is the Get of the volume created with --opt.
    let golden = "/tmp/rec/vols=/srv/plugin-data/vols-dryvol";
    let out = replay(&["--kind", "golden-volume", "--rewrite", golden]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let verdict: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("DIFFERENT"))
        .collect();
    assert_eq!(
        verdict[..2],
        [
            "DIFFERENT at command 4 of 13: `docker run -d --name reader -v data:/d:ro -v other:/o bb:latest sleep 300`",
            r#"    VolumeDriver.Get response.Volume.Status.options: expected {"size":"10B"}, got null"#,
        ],
        "{stdout}"
    );
    assert!(verdict[2].starts_with(r#"    recorded: dryvol VolumeDriver.Get {"Name":"other"} → "#));
    assert!(verdict[3].starts_with(r#"    replayed: dryvol VolumeDriver.Get {"Name":"other"} → "#));
    let out = replay(&[
        "--kind",
        "golden-volume",
        "--rewrite",
        golden,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["identical"], false);
    assert_eq!(doc["difference"]["step"], 4);
    assert_eq!(
        doc["difference"]["recorded_call"]["request"]["Name"],
        "other"
    );

    // No way to reach the plugin: a usage error, not a verdict.
    let out = replay(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("say how to reach plugin dryvol"));
}

/// Reads one HTTP/1.1 request (head and Content-Length body) from `r`.
async fn read_request(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> Option<String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    Some(head + &String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn calls_pass_through_unchanged_on_one_kept_alive_connection() {
    use tokio::io::{AsyncWriteExt, BufReader};
    let d = dirs();
    // A plugin that answers every call with a 500 text body and a header of
    // its own, and reports what it received on which connection.
    let upstream = tokio::net::UnixListener::bind(&d.upstream).unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    tokio::spawn(async move {
        for conn in 0.. {
            let (stream, _) = upstream.accept().await.unwrap();
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                while let Some(req) = read_request(&mut r).await {
                    seen_tx.send((conn, req)).unwrap();
                    let answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nX-Plugin: yes\r\nContent-Length: 11\r\n\r\nmount fail\n";
                    w.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    let recorder = Arc::new(Recorder::create("p", &d.out).unwrap());
    let socket = d.plugins.join("p.sock");
    let listener = bind(&socket).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(serve(
        listener,
        Upstream::parse(&format!("unix://{}", d.upstream.display())).unwrap(),
        recorder,
        async {
            let _ = stopped.await;
        },
    ));
    // Two calls on one connection, as dockerd's client sends them.
    let (r, mut w) = tokio::net::UnixStream::connect(&socket)
        .await
        .unwrap()
        .into_split();
    let mut r = BufReader::new(r);
    let body = "{\"Name\":\"v\",\"ID\":\"x\"}\n";
    let request = format!("POST /VolumeDriver.Mount HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: {}\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nAccept-Encoding: gzip\r\n\r\n{body}", body.len());
    for _ in 0..2 {
        w.write_all(request.as_bytes()).await.unwrap();
        let answer = read_request(&mut r).await.unwrap();
        let answer = answer.to_ascii_lowercase();
        assert!(
            answer.starts_with("http/1.1 500 internal server error\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("content-type: text/plain; charset=utf-8\r\n"),
            "{answer}"
        );
        assert!(answer.contains("x-plugin: yes\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nmount fail\n"), "{answer}");
    }
    let (c1, first) = seen.recv().await.unwrap();
    let (c2, second) = seen.recv().await.unwrap();
    assert_eq!(c1, c2, "the proxy opened a second upstream connection");
    assert_eq!(first, second);
    // Same request line, headers (hyper writes names in lower case) and body.
    let first = first.to_ascii_lowercase();
    assert!(
        first.starts_with("post /volumedriver.mount http/1.1\r\n"),
        "{first}"
    );
    for header in [
        "host: \r\n",
        "user-agent: go-http-client/1.1\r\n",
        "accept: application/vnd.docker.plugins.v1.2+json\r\n",
        "accept-encoding: gzip\r\n",
        &format!("content-length: {}\r\n", body.len()),
    ] {
        assert!(first.contains(header), "{header:?} missing in {first}");
    }
    assert!(
        first.ends_with(&format!("\r\n\r\n{}", body.to_ascii_lowercase())),
        "{first}"
    );
    drop(w);
    let _ = stop.send(());
    proxy.await.unwrap();
    let recorded = lines(&std::fs::read_to_string(&d.out).unwrap());
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["method"], "VolumeDriver.Mount");
    assert_eq!(
        recorded[0]["request"],
        serde_json::json!({"Name": "v", "ID": "x"})
    );
    assert_eq!(recorded[0]["status"], 500);
    assert_eq!(recorded[0]["response"], "mount fail\n");
    assert_eq!(recorded[0]["step"], Value::Null);
}

/// The shell function of `--shell-function` writes each command so that the
/// scenario parser reads back the same words, then its error output and
/// status.
#[test]
fn the_shell_function_writes_commands_that_parse_back_to_the_same_words() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A stand-in docker: complains on stderr, exits 3.
    let fake = bin.join("docker");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"first line\" >&2\necho \"second: $#\" >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let commands = tmp.path().join("commands");
    let args = [
        "run",
        "--rm",
        "-v",
        "a b:/d",
        "bb:latest",
        "sh",
        "-c",
        "echo it's > /d/$x",
        "",
    ];
    let script = r#"eval "$("$DRYDOCK" record --shell-function --commands "$COMMANDS")"
docker "$@"
echo "status $?""#;
    let out = std::process::Command::new("bash")
        .args(["-c", script, "bash"])
        .args(args)
        .env("DRYDOCK", env!("CARGO_BIN_EXE_drydock"))
        .env("COMMANDS", &commands)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "status 3\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The user still sees the error output.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "first line\nsecond: 9\n"
    );
    let written = std::fs::read_to_string(&commands).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines[1..],
        ["#err first line", "#err second: 9", "#rc 3"],
        "{written}"
    );
    let scenario =
        drydock_engine::scenario::parse("commands", format!("{}\n", lines[0]).as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {}", lines[0]));
    let StepKind::Action(action) = &scenario.steps[0].kind else {
        panic!("not an action: {}", lines[0]);
    };
    let mut expected = vec!["docker"];
    expected.extend(args);
    assert_eq!(action.argv, expected, "{}", lines[0]);
}

#[tokio::test]
async fn a_plugin_on_tcp_is_recorded_as_one_on_a_socket() {
    let d = dirs();
    // The real plugin on TCP, advertised by a spec file dockerd would read.
    let spec_dir = d.root.join("real-specs");
    std::fs::create_dir_all(&spec_dir).unwrap();
    let plugin = builtin("p", "golden-volume", &[], &d.root).unwrap();
    let (stop_real, real_stopped) = tokio::sync::oneshot::channel::<()>();
    let dir = spec_dir.clone();
    let real = tokio::spawn(async move {
        drydock_sdk::server::serve_tcp(
            plugin,
            "127.0.0.1:0".parse().unwrap(),
            Some((&dir, "p")),
            async {
                let _ = real_stopped.await;
            },
        )
        .await
        .unwrap();
    });
    let spec = spec_dir.join("p.spec");
    for _ in 0..500 {
        if spec.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = std::fs::read_to_string(&spec).unwrap();
    assert!(addr.starts_with("tcp://"), "{addr}");
    let recorder = Recorder::create("p", &d.out)
        .unwrap()
        .with_commands(Commands::open(&d.commands).unwrap());
    let listener = bind(&d.plugins.join("p.sock")).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(serve(
        listener,
        Upstream::parse(addr.trim()).unwrap(),
        Arc::new(recorder),
        async {
            let _ = stopped.await;
        },
    ));
    drive(&engine(&d), &d.commands, &SESSION[..2]).await;
    let _ = stop.send(());
    proxy.await.unwrap();
    let _ = stop_real.send(());
    real.await.unwrap();
    let text = std::fs::read_to_string(&d.out).unwrap();
    let r = replay_text(
        &text,
        &options(
            Launch::Kind("golden-volume".into(), Vec::new()),
            TransportKind::InProcess,
        ),
    )
    .await;
    assert_eq!(r.difference, None);
    let calls: Vec<Value> = lines(&text)
        .into_iter()
        .filter(|l| l.get("method").is_some())
        .collect();
    assert!(
        calls.iter().any(|c| c["method"] == "VolumeDriver.Mount"),
        "{text}"
    );
    assert!(calls.iter().all(|c| c["status"] == 200), "{text}");
    assert_eq!(r.calls("p"), calls.len());
}

/// The reference IPAM plugin, on TCP, behind `drydock record` under a real
/// dockerd: pools, gateways, a static address, connect and disconnect.
#[tokio::test]
async fn a_real_dockerd_ipam_recording_replays_identically() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings/ipam-reference.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut opts = options(
        Launch::Kind("ipam".into(), Vec::new()),
        TransportKind::InProcess,
    );
    opts.plugin = "dryipam".into();
    let r = replay_text(&text, &opts).await;
    assert_eq!(r.difference, None, "{}", r.scenario);
    assert_eq!(r.expected.len(), 8);
    let methods: Vec<&str> = r
        .expected
        .iter()
        .flat_map(|s| &s.calls)
        .map(|c| c.method.as_str())
        .collect();
    for m in [
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
        "IpamDriver.ReleaseAddress",
        "IpamDriver.ReleasePool",
    ] {
        assert!(methods.contains(&m), "{m} missing in {methods:?}");
    }
}

/// The reference authz plugin behind `drydock record` under a real dockerd
/// started with `--authorization-plugin`: every API request of four docker
/// commands, one denied at request time, replays identically once the host's
/// details in the Engine API bodies (creation times, data-root paths) are
/// set aside.
#[tokio::test]
async fn a_real_dockerd_authz_recording_replays_identically() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
    let text = std::fs::read_to_string(dir.join("authz-reference.jsonl")).unwrap();
    let policy = dir.join("authz-reference.policy");
    let mut opts = options(
        Launch::Kind("authz".into(), vec![format!("policy={}", policy.display())]),
        TransportKind::InProcess,
    );
    opts.plugin = "dryauthz".into();
    let r = replay_text(&text, &opts).await;
    assert_eq!(r.difference, None, "{}", r.scenario);
    assert!(r.scenario.contains("#@ authorization-plugin dryauthz\n"));
    let denied = &r.expected[1];
    assert_eq!(denied.command, "docker volume create secret");
    assert_eq!(denied.ok, Some(false));
    // A policy that allows everything lets the denied volume through: the
    // replay reports the command that now succeeds.
    let allow_all = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(allow_all.path(), "default allow\n").unwrap();
    opts.launch = Launch::Kind(
        "authz".into(),
        vec![format!("policy={}", allow_all.path().display())],
    );
    let d = replay_text(&text, &opts).await.difference.unwrap();
    assert_eq!(d.step, 1, "{d}");
    assert_eq!(d.message, "expected failure, got success (secret)");
}
