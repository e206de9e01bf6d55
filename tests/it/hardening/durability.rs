//! `drydock plugin volume --durability buffered`: no fsync, yet a change the
//! plugin acknowledged survives the plugin being killed (the kernel holds
//! it), which is what throw-away scenario plugins rely on.

use super::client::Conn;
use super::proc::{command, PluginProc};

#[test]
fn buffered_changes_survive_sigkill_of_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("p.sock");
    let state = dir.path().join("state");
    let log = dir.path().join("plugin.log");
    let args = [
        "--state-dir",
        state.to_str().unwrap(),
        "--durability",
        "buffered",
    ];
    let plugin = PluginProc::start("volume", &socket, &args, &log);
    let mut conn = Conn::connect(&socket).unwrap();
    for name in ["a", "b"] {
        let body = format!(r#"{{"Name":"{name}","Opts":{{}}}}"#);
        let reply = conn.call("VolumeDriver.Create", body.as_bytes()).unwrap();
        assert_eq!(reply.error(), None, "{}", plugin.log_text());
    }
    drop(conn);
    plugin.kill();

    let plugin = PluginProc::start("volume", &socket, &args, &log);
    let mut conn = Conn::connect(&socket).unwrap();
    let list = conn.call("VolumeDriver.List", b"{}").unwrap().json();
    let names: Vec<&str> = list["Volumes"]
        .as_array()
        .expect("Volumes")
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "{}", plugin.log_text());
}

#[test]
fn an_unknown_durability_is_refused_naming_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("plugin.log");
    let out = command(
        "volume",
        "p",
        &[
            "--state-dir",
            dir.path().to_str().unwrap(),
            "--durability",
            "sometimes",
        ],
        &log,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(
        err.contains("invalid value 'sometimes' for '--durability")
            && err.contains("fsync, buffered"),
        "{err}"
    );
}
