//! Injected I/O errors: what the plugin does when a write or fsync fails.

use crate::util::{hex_id, Harness};
use drydock_volume::{Durability, Fault, WritePoint};
use serde_json::json;

#[tokio::test]
async fn a_failed_journal_sync_stops_all_changes_until_restart() {
    for durability in [Durability::Fsync, Durability::Buffered] {
        let h = Harness::with(|c| {
            c.durability = durability;
            c.fault = Some(Fault::io_error(WritePoint::JournalSynced, 2));
        });
        h.ok("Create", json!({"Name": "v", "Opts": null})).await;
        let a = h.call("Mount", json!({"Name": "v", "ID": "m"})).await;
        assert_eq!(a.status, 500, "{durability:?}");
        let path = h.state_dir().join("journal.log");
        assert_eq!(
            a.err(),
            format!(
                "state writes are disabled after an earlier failure (fdatasync journal {}: \
                 injected fault at JournalSynced); restart the plugin",
                path.display()
            )
        );
        // Reads still work and show only what was durable; changes are refused.
        let status = &h.ok("Get", json!({"Name": "v"})).await["Volume"]["Status"];
        assert_eq!(status["mounts"], json!([]));
        let again = h.call("Create", json!({"Name": "w", "Opts": null})).await;
        assert_eq!((again.status, again.err()), (500, a.err()));

        // After a restart the files decide: the record was written before the
        // sync failed, so here it is back (dropping it would be correct too).
        let h = h.reopen();
        let status = &h.ok("Get", json!({"Name": "v"})).await["Volume"]["Status"];
        assert_eq!(status["mounts"], json!(["m"]), "{durability:?}");
        h.ok("Unmount", json!({"Name": "v", "ID": "m"})).await;
    }
}

#[tokio::test]
async fn a_failed_snapshot_is_retried_later_and_callers_never_notice() {
    let h = Harness::with(|c| {
        c.compact_after = 2;
        c.fault = Some(Fault::io_error(WritePoint::SnapshotSynced, 1));
    });
    for n in 0..6 {
        h.ok("Create", json!({"Name": format!("v{n}"), "Opts": null}))
            .await;
        h.ok("Mount", json!({"Name": format!("v{n}"), "ID": hex_id(n)}))
            .await;
    }
    let list = h.list().await;
    let h = h.reopen();
    assert_eq!(h.list().await, list);
}

#[tokio::test]
async fn a_failed_journal_truncation_stops_all_changes() {
    let h = Harness::with(|c| {
        c.compact_after = 2;
        c.fault = Some(Fault::io_error(WritePoint::JournalTruncated, 1));
    });
    h.ok("Create", json!({"Name": "a", "Opts": null})).await;
    h.ok("Create", json!({"Name": "b", "Opts": null})).await; // answered, then compaction fails
    let a = h.call("Create", json!({"Name": "c", "Opts": null})).await;
    assert_eq!(a.status, 500);
    assert!(a.err().contains("truncate journal"), "{a:?}");
    let h = h.reopen();
    let names: Vec<_> = h
        .list()
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].clone())
        .collect();
    assert_eq!(names, [json!("a"), json!("b")]);
}

#[tokio::test]
async fn a_failed_directory_step_fails_only_that_call() {
    let h = Harness::with(|c| c.fault = Some(Fault::io_error(WritePoint::DirectoryCreated, 1)));
    let a = h.call("Create", json!({"Name": "v", "Opts": null})).await;
    assert_eq!(a.status, 500);
    assert!(a.err().starts_with("prepare volume directory"), "{a:?}");
    assert_eq!(h.list().await, json!([]));
    h.ok("Create", json!({"Name": "v", "Opts": null})).await; // adopts the directory

    let h = Harness::with(|c| c.fault = Some(Fault::io_error(WritePoint::DirectoryTrashed, 1)));
    h.ok("Create", json!({"Name": "v", "Opts": null})).await;
    std::fs::write(h.root().join("v/data"), "kept").unwrap();
    let a = h.call("Remove", json!({"Name": "v"})).await;
    assert_eq!(a.status, 500);
    assert_eq!(
        std::fs::read_to_string(h.root().join("v/data")).unwrap(),
        "kept"
    );
    h.ok("Get", json!({"Name": "v"})).await;
    h.ok("Remove", json!({"Name": "v"})).await;
    assert!(!h.root().join("v").exists());
}
