//! The `-o` options: `mode` and `size`, and nothing else.

use crate::util::Harness;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn mode_sets_the_directory_permissions_and_size_is_reported() {
    let h = Harness::new();
    h.ok(
        "Create",
        json!({"Name": "v", "Opts": {"mode": "0710", "size": "1.5g"}}),
    )
    .await;
    let mode = std::fs::metadata(h.root().join("v"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o710);
    let status = &h.ok("Get", json!({"Name": "v"})).await["Volume"]["Status"];
    assert_eq!(
        status,
        &json!({"mounts": [], "options": {"mode": "0710", "size": "1536MiB"}})
    );
}

#[tokio::test]
async fn without_options_the_directory_is_0755_whatever_the_umask() {
    let h = Harness::new();
    h.ok("Create", json!({"Name": "v", "Opts": {}})).await;
    let mode = std::fs::metadata(h.root().join("v"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    let status = &h.ok("Get", json!({"Name": "v"})).await["Volume"]["Status"];
    assert_eq!(
        status,
        &json!({"mounts": []}),
        "no options key without options"
    );
}

#[tokio::test]
async fn unknown_options_and_bad_values_are_refused_clearly() {
    let h = Harness::new();
    let cases = [
        (
            json!({"mod": "700"}),
            r#"volume v: unknown option "mod"; supported options: mode, size"#,
        ),
        (
            json!({"mode": "rwx"}),
            r#"volume v: invalid value "rwx" for option "mode": expected 3 or 4 octal digits such as 0755"#,
        ),
        (
            json!({"mode": "0800"}),
            r#"volume v: invalid value "0800" for option "mode": expected 3 or 4 octal digits such as 0755"#,
        ),
        (
            json!({"size": "10X"}),
            r#"volume v: invalid value "10X" for option "size": expected a number with an optional unit (b, k, m, g, t), such as 10M or 1.5g"#,
        ),
        (
            json!({"size": "0"}),
            r#"volume v: invalid value "0" for option "size": the size must be at least one byte"#,
        ),
    ];
    for (opts, expected) in cases {
        let refused = h
            .refused("Create", json!({"Name": "v", "Opts": opts}))
            .await;
        assert_eq!(refused, expected);
    }
    assert_eq!(h.list().await, json!([]), "nothing was created");
    assert!(!h.root().join("v").exists());
}

#[tokio::test]
async fn create_is_idempotent_unless_the_options_differ() {
    let h = Harness::new();
    let create = |opts| json!({"Name": "v", "Opts": opts});
    h.ok("Create", create(json!({"mode": "700"}))).await;
    // Concurrent creates, dockerd's implicit create (null), docker volume create ({}).
    h.ok("Create", create(json!({"mode": "0700"}))).await;
    h.ok("Create", create(json!(null))).await;
    h.ok("Create", create(json!({}))).await;
    let refused = h.refused("Create", create(json!({"mode": "755"}))).await;
    assert_eq!(
        refused,
        "volume v already exists with mode=0700; it was asked for mode=0755"
    );
    assert_eq!(h.list().await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_existing_directory_is_adopted_and_keeps_its_mode_unless_one_is_given() {
    let h = Harness::new();
    for name in ["kept", "set"] {
        let dir = h.root().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join("data"), name).unwrap();
    }
    h.ok("Create", json!({"Name": "kept", "Opts": null})).await;
    h.ok("Create", json!({"Name": "set", "Opts": {"mode": "0750"}}))
        .await;
    let mode = |name: &str| {
        std::fs::metadata(h.root().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!((mode("kept"), mode("set")), (0o700, 0o750));
    let data = std::fs::read_to_string(h.root().join("kept/data")).unwrap();
    assert_eq!(data, "kept", "contents are adopted as they are");
}
