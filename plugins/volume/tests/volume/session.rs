//! A whole dockerd session, exchange by exchange, shaped after the golden
//! recording `s-volume.jsonl`: create, ls, inspect, `run --rm -v`, a container
//! with two volumes, `volume rm` while in use, and cleanup.

use crate::util::{hex_id, Harness, CREATED_AT};
use serde_json::{json, Value};

/// Runs `script` (method, request, expected status, expected body) and
/// compares every answer in full. `$ROOT` in expected strings is the root.
async fn check(h: &Harness, script: &[(&str, Value, u16, Value)]) {
    let root = h.root().display().to_string();
    for (i, (method, request, status, expected)) in script.iter().enumerate() {
        let expected: Value =
            serde_json::from_str(&expected.to_string().replace("$ROOT", &root)).unwrap();
        let got = h.call(method, request.clone()).await;
        assert_eq!(
            (got.status, &got.body),
            (*status, &expected),
            "step {i}: {method} {request}"
        );
    }
}

fn volume(name: &str, mounts: &[&str]) -> Value {
    json!({
        "Name": name,
        "Mountpoint": format!("$ROOT/{name}"),
        "CreatedAt": CREATED_AT,
        "Status": {"mounts": mounts},
    })
}

#[tokio::test]
async fn golden_shaped_session() {
    let h = Harness::new();
    let (run_id, a, b) = (hex_id(1), hex_id(2), hex_id(3));
    let (v1, v2) = (json!({"Name": "v1"}), json!({"Name": "v2"}));
    let mount = |name: &str, id: &str| json!({"Name": name, "ID": id});
    check(
        &h,
        &[
            // docker volume create -d P v1
            (
                "Capabilities",
                json!({}),
                200,
                json!({"Capabilities": {"Scope": "local"}}),
            ),
            ("Get", v1.clone(), 200, json!({"Err": "no such volume: v1"})),
            (
                "Create",
                json!({"Name": "v1", "Opts": null}),
                200,
                json!({}),
            ),
            // docker volume ls / inspect
            (
                "List",
                json!({}),
                200,
                json!({"Volumes": [volume("v1", &[])]}),
            ),
            ("Get", v1.clone(), 200, json!({"Volume": volume("v1", &[])})),
            // docker run --rm -v v1:/data
            ("Get", v1.clone(), 200, json!({"Volume": volume("v1", &[])})),
            (
                "Mount",
                mount("v1", &run_id),
                200,
                json!({"Mountpoint": "$ROOT/v1"}),
            ),
            (
                "Get",
                v1.clone(),
                200,
                json!({"Volume": volume("v1", &[&run_id])}),
            ),
            ("Unmount", mount("v1", &run_id), 200, json!({})),
            // docker create -v v1:/a -v v2:/b; docker start
            ("Get", v2.clone(), 200, json!({"Err": "no such volume: v2"})),
            (
                "Create",
                json!({"Name": "v2", "Opts": null}),
                200,
                json!({}),
            ),
            (
                "Mount",
                mount("v1", &a),
                200,
                json!({"Mountpoint": "$ROOT/v1"}),
            ),
            (
                "Mount",
                mount("v2", &b),
                200,
                json!({"Mountpoint": "$ROOT/v2"}),
            ),
            // docker volume rm v1 while c1 runs (dockerd itself refuses first
            // when it holds a reference; this is the plugin's own check)
            (
                "Remove",
                v1.clone(),
                200,
                json!({"Err": format!("volume v1 is in use (mount IDs: {a})")}),
            ),
            // c1 exits, then volume rm v1 v2
            ("Unmount", mount("v2", &b), 200, json!({})),
            ("Unmount", mount("v1", &a), 200, json!({})),
            ("Remove", v1.clone(), 200, json!({})),
            ("Remove", v2.clone(), 200, json!({})),
            ("List", json!({}), 200, json!({"Volumes": []})),
            (
                "Path",
                v1.clone(),
                200,
                json!({"Err": "no such volume: v1"}),
            ),
            (
                "Mount",
                mount("v1", &a),
                200,
                json!({"Err": "no such volume: v1"}),
            ),
            (
                "Unmount",
                mount("v1", &a),
                200,
                json!({"Err": "no such volume: v1"}),
            ),
            (
                "Remove",
                v1.clone(),
                200,
                json!({"Err": "no such volume: v1"}),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn path_answers_the_mountpoint_mounted_or_not() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": {}})).await;
    let path = h.ok("Path", json!({"Name": "v"})).await;
    assert_eq!(path["Mountpoint"], h.mountpoint("v"));
}

#[tokio::test]
async fn remove_deletes_the_directory_and_its_contents() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    let mp = h.ok("Mount", json!({"Name": "v", "ID": hex_id(1)})).await["Mountpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::create_dir(format!("{mp}/sub")).unwrap();
    std::fs::write(format!("{mp}/sub/file"), "data").unwrap();
    h.ok("Unmount", json!({"Name": "v", "ID": hex_id(1)})).await;
    h.ok("Remove", json!({"Name": "v"})).await;
    assert!(
        !std::path::Path::new(&mp).exists(),
        "gone as soon as Remove answers"
    );

    // Deletion of the trashed copy finishes by the time the plugin is dropped.
    let root = h.root();
    let _closed = h.close();
    let trash = root.join(drydock_volume::files::TRASH);
    let left = std::fs::read_dir(&trash).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "trash is empty");
}

#[tokio::test]
async fn created_at_is_rfc3339_utc_whole_seconds() {
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    // The system clock: whatever the time, Go's time.Time decoder must accept it.
    let h = Harness::with(|c| c.clock = drydock_volume::Clock::system());
    let before = OffsetDateTime::now_utc().unix_timestamp();
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    let after = OffsetDateTime::now_utc().unix_timestamp();
    let got = h.ok("Get", json!({"Name": "v"})).await["Volume"]["CreatedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed = OffsetDateTime::parse(&got, &Rfc3339).unwrap();
    assert!((before..=after).contains(&parsed.unix_timestamp()), "{got}");
    assert!(
        got.ends_with('Z') && got.len() == 20,
        "UTC, no fraction: {got}"
    );

    // A clock in another offset, with a fraction: reported in UTC, truncated.
    let h = Harness::with(|c| {
        c.clock =
            drydock_volume::Clock::fixed(time::macros::datetime!(2026-11-22 05:03:39.999 +02:00))
    });
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    let got = h.ok("Get", json!({"Name": "v"})).await;
    assert_eq!(got["Volume"]["CreatedAt"], CREATED_AT);
}
