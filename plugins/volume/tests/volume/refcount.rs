//! Mount reference counting per mount ID (protocol.md §4.5).

use crate::util::{hex_id, Harness};
use serde_json::json;

fn mount(id: &str) -> serde_json::Value {
    json!({"Name": "v", "ID": id})
}

async fn mounts(h: &Harness) -> serde_json::Value {
    h.ok("Get", json!({"Name": "v"})).await["Volume"]["Status"]["mounts"].clone()
}

#[tokio::test]
async fn the_same_id_twice_needs_two_unmounts() {
    // `docker cp` into a running container mounts again with the container's ID.
    let h = Harness::new();
    let id = hex_id(7);
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    h.ok("Mount", mount(&id)).await;
    h.ok("Mount", mount(&id)).await;
    assert_eq!(
        mounts(&h).await,
        json!([id, id]),
        "one entry per outstanding Mount"
    );

    h.ok("Unmount", mount(&id)).await;
    assert_eq!(mounts(&h).await, json!([id]));
    let refused = h.refused("Remove", json!({"Name": "v"})).await;
    assert_eq!(refused, format!("volume v is in use (mount IDs: {id})"));

    h.ok("Unmount", mount(&id)).await;
    assert_eq!(mounts(&h).await, json!([]));
    let refused = h.refused("Unmount", mount(&id)).await;
    assert_eq!(
        refused,
        format!("volume v has no mount with ID {id} (outstanding mount IDs: [])")
    );
    h.ok("Remove", json!({"Name": "v"})).await;
}

#[tokio::test]
async fn ids_are_independent_and_listed_in_first_mount_order() {
    let h = Harness::new();
    let (a, b) = (hex_id(1), hex_id(2));
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    h.ok("Mount", mount(&b)).await;
    h.ok("Mount", mount(&a)).await;
    h.ok("Mount", mount(&b)).await;
    assert_eq!(mounts(&h).await, json!([b, b, a]));

    let refused = h.refused("Remove", json!({"Name": "v"})).await;
    assert_eq!(
        refused,
        format!("volume v is in use (mount IDs: {b}, {b}, {a})")
    );

    h.ok("Unmount", mount(&a)).await;
    let refused = h.refused("Unmount", mount(&a)).await;
    assert_eq!(
        refused,
        format!("volume v has no mount with ID {a} (outstanding mount IDs: [{b}, {b}])")
    );
    h.ok("Unmount", mount(&b)).await;
    h.ok("Unmount", mount(&b)).await;
    h.ok("Remove", json!({"Name": "v"})).await;
}

#[tokio::test]
async fn mount_ids_are_validated() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    for (id, why) in [("", "the mount ID is empty"), ("a\nb", "control character")] {
        let refused = h.refused("Mount", mount(id)).await;
        assert!(
            refused.starts_with("invalid mount ID") && refused.contains(why),
            "{refused}"
        );
    }
    let refused = h.refused("Mount", mount(&"a".repeat(256))).await;
    assert!(refused.contains("256 bytes long"), "{refused}");
    assert_eq!(mounts(&h).await, json!([]));
}

#[tokio::test]
async fn first_mount_provisions_a_missing_directory() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": {"mode": "0700"}}))
        .await;
    let dir = h.root().join("v");
    std::fs::remove_dir(&dir).unwrap(); // e.g. deleted by hand
    h.ok("Mount", mount(&hex_id(1))).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o700, "recreated with the volume's mode");
}
