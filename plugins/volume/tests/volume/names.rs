//! Hostile names: refused with a clear error, and nothing on disk changes.

use crate::util::{hex_id, tree, Harness};
use serde_json::json;

/// (name, what the error must say). One per class of hostile input.
fn hostile() -> Vec<(String, &'static str)> {
    vec![
        ("".into(), "the name is empty"),
        (".".into(), "`.` and `..` are not volume names"),
        ("..".into(), "`.` and `..` are not volume names"),
        ("../escape".into(), "contains `/`"),
        ("a/b".into(), "contains `/`"),
        ("/etc".into(), "contains `/`"),
        ("a\0b".into(), "contains a NUL byte"),
        ("x".repeat(256), "256 bytes long; the limit is 255"),
        (".hidden".into(), "'.' is not allowed at byte 0"),
        ("-rf".into(), "'-' is not allowed at byte 0"),
        ("a b".into(), "' ' is not allowed at byte 1"),
        ("caf\u{e9}".into(), "'é' is not allowed at byte 3"),
        ("a\\b".into(), "'\\\\' is not allowed at byte 1"),
    ]
}

#[tokio::test]
async fn hostile_names_are_refused_by_every_rpc_without_touching_disk() {
    let h = Harness::new();
    // Something outside the root that an escape would reach.
    std::fs::write(h.dir.path().join("escape"), "precious").unwrap();
    let before = tree(h.dir.path());
    for (name, why) in hostile() {
        let named = json!({"Name": name});
        let mount = json!({"Name": name, "ID": hex_id(1)});
        for (method, body) in [
            ("Create", json!({"Name": name, "Opts": null})),
            ("Get", named.clone()),
            ("Path", named.clone()),
            ("Mount", mount.clone()),
            ("Unmount", mount),
            ("Remove", named),
        ] {
            let refused = h.refused(method, body).await;
            assert!(
                refused.starts_with(&format!("invalid volume name {name:?}: ")),
                "{method} {name:?}: {refused}"
            );
            assert!(refused.contains(why), "{method} {name:?}: {refused}");
            assert!(
                refused.contains("[A-Za-z0-9][A-Za-z0-9_.-]*"),
                "the message states the rule: {refused}"
            );
        }
    }
    assert_eq!(tree(h.dir.path()), before, "no file or directory changed");
    assert_eq!(h.list().await, json!([]));
}

#[tokio::test]
async fn dockerd_style_names_are_accepted() {
    let h = Harness::new();
    // Anonymous volumes are 64 hex characters; 255 bytes is the limit.
    for name in [
        hex_id(42),
        "a".into(),
        "x".repeat(255),
        "My_vol.2-x".into(),
        "a..b".into(),
    ] {
        h.ok("Create", json!({"Name": name, "Opts": null})).await;
        h.ok("Mount", json!({"Name": name, "ID": hex_id(1)})).await;
        assert!(h.root().join(&name).is_dir(), "{name}");
    }
}

#[tokio::test]
async fn a_symlink_planted_under_the_root_is_never_followed() {
    let h = Harness::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), "x").unwrap();
    let before = tree(outside.path());

    // Planted before Create.
    std::os::unix::fs::symlink(outside.path(), h.root().join("evil")).unwrap();
    let a = h
        .call("Create", json!({"Name": "evil", "Opts": {"mode": "777"}}))
        .await;
    assert_eq!(a.status, 500);
    assert!(
        a.err()
            .contains("is a symbolic link, not a plain directory"),
        "{a:?}"
    );

    // Planted after Create, before the first Mount.
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    std::fs::remove_dir(h.root().join("v")).unwrap();
    std::os::unix::fs::symlink(outside.path(), h.root().join("v")).unwrap();
    let a = h.call("Mount", json!({"Name": "v", "ID": hex_id(1)})).await;
    assert_eq!(a.status, 500);
    assert!(a.err().contains("is a symbolic link"), "{a:?}");

    // Remove takes the link away, not what it points to.
    h.ok("Remove", json!({"Name": "v"})).await;
    assert!(std::fs::symlink_metadata(h.root().join("v")).is_err());
    let root = h.root();
    let _closed = h.close(); // waits for the trash to be emptied
    assert!(!root.join("v").exists());
    assert_eq!(
        tree(outside.path()),
        before,
        "the link's target is untouched"
    );
}
