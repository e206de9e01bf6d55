//! `drydock bench` as a user runs it: against the three reference plugins,
//! against a plugin started from a command line and one found by discovery.
//! Assertions are about the report's format and counts, never about timing.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const DRYDOCK: &str = env!("CARGO_BIN_EXE_drydock");

fn bench(args: &[&str]) -> Output {
    let out = Command::new(DRYDOCK)
        .arg("bench")
        .args(["--warmup", "0"])
        .args(args)
        .output()
        .expect("drydock runs");
    assert!(
        out.status.success(),
        "drydock bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 report")
}

/// The table's rows by method: the cells after the method name.
fn rows(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .skip_while(|l| !l.starts_with("METHOD"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let mut cells = l.split_whitespace().map(str::to_owned);
            (cells.next().unwrap(), cells.collect())
        })
        .collect()
}

#[test]
fn volume_plugin_text_report_has_a_row_per_default_method() {
    let text = stdout(&bench(&["--builtin", "volume", "--requests", "40"]));
    let header = text.lines().find(|l| l.starts_with("METHOD")).unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["METHOD", "REQUESTS", "ERRORS", "REQ/S", "MIN", "P50", "P90", "P99", "P99.9", "MAX"]
    );
    let rows = rows(&text);
    let methods: Vec<&str> = rows.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "VolumeDriver.Get",
            "VolumeDriver.List",
            "VolumeDriver.Capabilities",
            "VolumeDriver.Mount+Unmount"
        ]
    );
    for (method, cells) in &rows {
        assert_eq!(cells.len(), 9, "{method}: {cells:?}");
        assert_eq!(cells[0], "40", "{method} requests");
        assert_eq!(cells[1], "0", "{method} errors");
        for latency in &cells[3..] {
            assert!(
                latency.ends_with("µs") || latency.ends_with("ms"),
                "{latency}"
            );
        }
    }
    assert!(!text.contains("errors:"), "{text}");
    assert!(!text.contains("warning:"), "set-up not undone: {text}");
}

#[test]
fn ipam_plugin_json_report_has_every_field() {
    let out = bench(&[
        "--builtin",
        "ipam",
        "--requests",
        "30",
        "--concurrency",
        "3",
        "--connections",
        "2",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["plugin"], "drydock-bench");
    assert_eq!(report["concurrency"], 3);
    assert_eq!(report["connections"], 2);
    assert!(report["address"].as_str().unwrap().starts_with("unix://"));
    let methods = report["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "IpamDriver.GetCapabilities",
            "IpamDriver.GetDefaultAddressSpaces",
            "IpamDriver.RequestAddress+ReleaseAddress"
        ]
    );
    for m in methods {
        assert_eq!(m["requests"], 30, "{m}");
        assert_eq!(m["errors"], 0, "{m}");
        assert!(m["throughput_rps"].as_f64().unwrap() > 0.0);
        let l = &m["latency_us"];
        let get = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} in {l}"));
        assert!(get("min") > 0.0);
        assert!(get("min") <= get("p50"));
        assert!(get("p50") <= get("p90"));
        assert!(get("p90") <= get("p99"));
        assert!(get("p99") <= get("p99_9"));
        assert!(get("p99_9") <= get("max"));
        assert!(get("mean") > 0.0);
    }
    assert_eq!(report["warnings"], serde_json::json!([]));
}

#[test]
fn authz_plugin_histogram_is_an_svg_naming_methods_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("latency.svg");
    let text = stdout(&bench(&[
        "--builtin",
        "authz",
        "--requests",
        "200",
        "--histogram",
        svg.to_str().unwrap(),
    ]));
    let methods: Vec<String> = rows(&text).into_iter().map(|(m, _)| m).collect();
    assert_eq!(methods, ["AuthZPlugin.AuthZReq", "AuthZPlugin.AuthZRes"]);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg"), "{}", &plot[..80.min(plot.len())]);
    for label in [
        "AuthZPlugin.AuthZReq",
        "AuthZPlugin.AuthZRes",
        "percentile",
        "90%",
        "99%",
        "latency (µs, log scale)",
    ] {
        assert!(plot.contains(label), "{label} missing from the plot");
    }
}

#[test]
fn a_plugin_started_from_a_command_line_is_benchmarked() {
    let text = stdout(&bench(&[
        "--plugin",
        "cmdvol",
        "--method",
        "VolumeDriver.Get",
        "--requests",
        "25",
        "--exec",
        "--",
        DRYDOCK,
        "plugin",
        "volume",
        "--name",
        "{name}",
        "--socket",
        "{socket}",
        "--state-dir",
        "{state_dir}",
    ]));
    assert!(text.starts_with("plugin cmdvol at unix://"), "{text}");
    let rows = rows(&text);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "VolumeDriver.Get");
    assert_eq!(rows[0].1[0], "25");
    assert_eq!(rows[0].1[1], "0");
}

#[test]
fn a_plugin_is_found_in_the_plugins_dir_like_dockerd_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("run");
    std::fs::create_dir_all(&sockets).unwrap();
    let socket = sockets.join("found.sock");
    let mut plugin = Command::new(DRYDOCK)
        .args(["plugin", "volume", "--name", "found", "--socket"])
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .spawn()
        .unwrap();
    wait_for(&socket);
    let out = bench(&[
        "--plugin",
        "found",
        "--plugins-dir",
        sockets.to_str().unwrap(),
        "--method",
        "VolumeDriver.Capabilities",
        "--requests",
        "10",
        "--format",
        "json",
    ]);
    let _ = plugin.kill();
    let _ = plugin.wait();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["address"],
        format!("unix://{}", socket.display()).as_str()
    );
    assert_eq!(report["methods"][0]["requests"], 10);
}

fn wait_for(socket: &Path) {
    // The plugin process creates its socket when it is ready; poll the file
    // system (a real process, so tokio's paused time cannot help).
    for _ in 0..1000 {
        if socket.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never appeared", socket.display());
}

#[test]
fn plugin_errors_are_counted_by_kind_with_examples() {
    let out = bench(&[
        "--builtin",
        "volume",
        "--method",
        "VolumeDriver.Nope",
        "--method",
        "VolumeDriver.Remove",
        "--method",
        "VolumeDriver.Get",
        "--requests",
        "15",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &report["methods"];
    // An RPC the plugin does not implement: an HTTP error status.
    assert_eq!(m[0]["requests"], 15);
    assert_eq!(m[0]["errors"], 15);
    assert_eq!(m[0]["errors_by_kind"][0]["kind"], "http 404");
    assert_eq!(m[0]["errors_by_kind"][0]["count"], 15);
    assert!(m[0]["errors_by_kind"][0]["example"]
        .as_str()
        .unwrap()
        .starts_with("VolumeDriver.Nope: "));
    // Remove without a name: the plugin answers 200 with an in-band Err.
    assert_eq!(m[1]["errors"], 15);
    assert_eq!(m[1]["errors_by_kind"][0]["kind"], "in-band Err");
    // The run goes on after failing methods.
    assert_eq!(m[2]["method"], "VolumeDriver.Get");
    assert_eq!(m[2]["errors"], 0);

    let text = stdout(&bench(&[
        "--builtin",
        "volume",
        "--method",
        "VolumeDriver.Nope",
        "--requests",
        "5",
    ]));
    assert!(
        text.contains("errors:\n  VolumeDriver.Nope: 5 × http 404 (e.g. VolumeDriver.Nope: "),
        "{text}"
    );
}

#[test]
fn a_reference_plugin_can_be_benchmarked_in_process() {
    let out = bench(&[
        "--builtin",
        "volume",
        "--in-process",
        "--method",
        "VolumeDriver.Get",
        "--requests",
        "5",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["address"], "in-process");
    assert_eq!(report["methods"][0]["requests"], 5);
    assert_eq!(report["methods"][0]["errors"], 0);
}

/// What [`Picky`] was asked: method, volume name, and Create's options.
type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Option<Opts>)>>>;
type Opts = std::collections::BTreeMap<String, String>;

/// A volume plugin that, like the go-plugins-helpers example, cannot create a
/// volume whose directory was not prepared beforehand: its Create fails
/// unless `Opts` has `prepared=yes`. The volume `ready` exists from the
/// start. It records every call it gets.
struct Picky {
    calls: Calls,
    volumes: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Picky {
    fn note(&self, method: &str, name: &str, opts: Option<Opts>) {
        let call = (method.to_owned(), name.to_owned(), opts);
        self.calls.lock().unwrap().push(call);
    }
    fn known(&self, name: &str) -> Result<String, drydock_sdk::PluginError> {
        if self.volumes.lock().unwrap().contains(name) {
            Ok(format!("/srv/picky/{name}"))
        } else {
            Err(drydock_sdk::PluginError::new(format!(
                "no such volume: {name}"
            )))
        }
    }
}

mod picky_impl {
    use super::Picky;
    use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
    use drydock_sdk::{PluginError, VolumeDriver};

    impl VolumeDriver for Picky {
        async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
            self.note("Create", &req.name, req.opts.clone());
            let prepared = req.opts.as_ref().and_then(|o| o.get("prepared"));
            if prepared.map(String::as_str) != Some("yes") {
                return Err(PluginError::new(format!(
                    "lstat /srv/picky/{}: no such file or directory",
                    req.name
                )));
            }
            self.volumes.lock().unwrap().insert(req.name);
            Ok(())
        }
        async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
            self.note("Remove", &req.name, None);
            self.known(&req.name)?;
            self.volumes.lock().unwrap().remove(&req.name);
            Ok(())
        }
        async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
            self.note("Mount", &req.name, None);
            self.known(&req.name)
        }
        async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
            self.note("Path", &req.name, None);
            self.known(&req.name)
        }
        async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
            self.note("Unmount", &req.name, None);
            self.known(&req.name).map(drop)
        }
        async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
            self.note("Get", &req.name, None);
            Ok(Volume {
                mountpoint: self.known(&req.name)?,
                name: req.name,
                ..Volume::default()
            })
        }
        async fn list(&self) -> Result<Vec<Volume>, PluginError> {
            self.note("List", "", None);
            let names = self.volumes.lock().unwrap().clone();
            Ok(names
                .into_iter()
                .map(|name| Volume {
                    name,
                    ..Volume::default()
                })
                .collect())
        }
    }
}

/// [`Picky`] served on `DIR/picky.sock` from its own thread until dropped.
struct PickyServer {
    dir: tempfile::TempDir,
    calls: Calls,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PickyServer {
    fn start() -> PickyServer {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("picky.sock");
        let calls = Calls::default();
        let picky = Picky {
            calls: calls.clone(),
            volumes: std::sync::Mutex::new(["ready".to_owned()].into()),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let plugin = drydock_sdk::Plugin::new().volume(picky);
            rt.block_on(drydock_sdk::server::serve_unix(plugin, &path, async {
                let _ = stopped.await;
            }))
            .unwrap();
        });
        wait_for(&socket);
        PickyServer {
            dir,
            calls,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `drydock bench --plugin picky` with `args`, against this plugin.
    fn bench(&self, args: &[&str]) -> Output {
        let dir = self.dir.path().to_str().unwrap();
        bench(&[&["--plugin", "picky", "--plugins-dir", dir][..], args].concat())
    }

    /// The methods the plugin was called with, in order.
    fn methods(&self) -> Vec<String> {
        let calls = self.calls.lock().unwrap();
        calls.iter().map(|c| c.0.clone()).collect()
    }
}

impl Drop for PickyServer {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.thread.take().unwrap().join();
    }
}

#[test]
fn a_plugin_that_refuses_create_is_measured_on_an_existing_volume() {
    let picky = PickyServer::start();
    let out = picky.bench(&[
        "--volume",
        "ready",
        "--method",
        "VolumeDriver.Get",
        "--method",
        "VolumeDriver.Path",
        "--method",
        "VolumeDriver.Mount+Unmount",
        "--method",
        "VolumeDriver.List",
        "--requests",
        "7",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in report["methods"].as_array().unwrap() {
        assert_eq!(m["requests"], 7, "{m}");
        assert_eq!(m["errors"], 0, "{m}");
    }
    assert_eq!(report["warnings"], serde_json::json!([]));
    let methods = picky.methods();
    assert!(
        !methods.iter().any(|m| m == "Create" || m == "Remove"),
        "{methods:?}"
    );
    let count = |m: &str| methods.iter().filter(|c| *c == m).count();
    // One Get checks the volume exists; then 7 measured of each.
    assert_eq!(count("Get"), 8, "{methods:?}");
    assert_eq!(count("Path"), 7);
    assert_eq!(count("Mount"), 7);
    assert_eq!(count("Unmount"), 7);
    assert_eq!(count("List"), 7);
    let calls = picky.calls.lock().unwrap();
    assert!(
        calls
            .iter()
            .filter(|c| c.0 != "List")
            .all(|c| c.1 == "ready"),
        "{calls:?}"
    );
}

#[test]
fn a_volume_that_does_not_exist_is_one_setup_error() {
    let picky = PickyServer::start();
    let out = picky.bench(&[
        "--volume",
        "missing",
        "--method",
        "VolumeDriver.Get",
        "--method",
        "VolumeDriver.Mount+Unmount",
        "--requests",
        "3",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in report["methods"].as_array().unwrap() {
        assert_eq!(m["requests"], 0, "{m}");
        assert_eq!(m["errors_by_kind"][0]["kind"], "setup", "{m}");
        let example = m["errors_by_kind"][0]["example"].as_str().unwrap();
        assert!(
            example.contains("--volume missing: VolumeDriver.Get: no such volume: missing"),
            "{example}"
        );
    }
    assert_eq!(picky.methods(), ["Get"], "asked once, never created");
}

#[test]
fn create_opts_reach_the_plugins_create_and_the_volume_is_removed_after() {
    let picky = PickyServer::start();
    let out = picky.bench(&[
        "--create-opt",
        "prepared=yes",
        "--create-opt",
        "mode=a=b",
        "--method",
        "VolumeDriver.Get",
        "--requests",
        "4",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["methods"][0]["errors"], 0, "{report}");
    assert_eq!(report["methods"][0]["requests"], 4);
    let calls = picky.calls.lock().unwrap().clone();
    let create: Vec<_> = calls.iter().filter(|c| c.0 == "Create").collect();
    assert_eq!(create.len(), 1, "{calls:?}");
    let opts: Opts = [("prepared", "yes"), ("mode", "a=b")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    assert_eq!(create[0].2.as_ref(), Some(&opts));
    let removed: Vec<_> = calls.iter().filter(|c| c.0 == "Remove").collect();
    assert_eq!(removed.len(), 1, "{calls:?}");
    assert_eq!(removed[0].1, create[0].1, "the created volume is removed");
}

#[test]
fn a_create_refused_at_setup_says_what_to_try() {
    let picky = PickyServer::start();
    let text = stdout(&picky.bench(&["--requests", "3"]));
    // Get and Mount+Unmount need a volume; List and Capabilities still run.
    let rows = rows(&text);
    let requests: Vec<(&str, &str)> = rows
        .iter()
        .map(|(m, cells)| (m.as_str(), cells[0].as_str()))
        .collect();
    assert_eq!(
        requests,
        [
            ("VolumeDriver.Get", "0"),
            ("VolumeDriver.List", "3"),
            ("VolumeDriver.Capabilities", "3"),
            ("VolumeDriver.Mount+Unmount", "0"),
        ]
    );
    assert!(
        text.contains("VolumeDriver.Get: 1 × setup (e.g. VolumeDriver.Create: lstat /srv/picky/"),
        "{text}"
    );
    for hint in ["--create-opt K=V", "--volume NAME"] {
        assert!(text.contains(hint), "no {hint} hint in:\n{text}");
    }
    // The refusal is remembered: Create is asked once, not once per method.
    let methods = picky.methods();
    assert_eq!(
        methods.iter().filter(|m| *m == "Create").count(),
        1,
        "{methods:?}"
    );
}
